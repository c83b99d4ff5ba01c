// Package migrations holds the ordered SQL migrations of the gridsync server
// database. Files are named NNNN_name.sql; each runs in its own transaction
// and is recorded in schema_migrations (see server/sqlite). The files live at
// the repository root so a reader finds the schema without opening Go code;
// this tiny package exists only because go:embed cannot reach "..".
package migrations

import "embed"

// FS holds every *.sql migration, applied in lexical order.
//
//go:embed *.sql
var FS embed.FS
