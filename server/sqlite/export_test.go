package sqlite

import (
	"context"
	"testing"
)

// Pragma reads a PRAGMA on the write connection (tests only).
func Pragma(tb testing.TB, db *DB, name string) string {
	tb.Helper()
	var v string
	if err := db.write.QueryRow(`PRAGMA ` + name).Scan(&v); err != nil {
		tb.Fatal(err)
	}
	return v
}

// CountRows counts the rows of a table (tests only).
func CountRows(ctx context.Context, db *DB, table string) (int, error) {
	var n int
	err := db.read.QueryRowContext(ctx, `SELECT count(*) FROM `+table).Scan(&n)
	return n, err
}
