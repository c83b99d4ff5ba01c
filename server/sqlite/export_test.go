package sqlite

import (
	"context"
	"testing"

	"github.com/gridsync/gridsync/syncproto"
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

// Pull is PullPage with every op decoded (tests only).
func (s *SyncService) Pull(ctx context.Context, cur string, limit int) (*syncproto.PullResponse, error) {
	page, err := s.PullPage(ctx, cur, limit)
	if err != nil {
		return nil, err
	}
	return page.Decode()
}

// CountRows counts the rows of a table (tests only).
func CountRows(ctx context.Context, db *DB, table string) (int, error) {
	var n int
	err := db.read.QueryRowContext(ctx, `SELECT count(*) FROM `+table).Scan(&n)
	return n, err
}

// RechainFromV1 rewrites the audit chain as a database that was upgraded
// to chain version 2 after op upTo would hold it: version-1 links up to
// upTo, version-2 links after (tests only; no sync service may be open).
func RechainFromV1(tb testing.TB, db *DB, upTo int64) {
	tb.Helper()
	ctx := context.Background()
	if _, err := db.write.ExecContext(ctx, `UPDATE chain_versions SET from_seq = ? WHERE version = 2`, upTo+1); err != nil {
		tb.Fatal(err)
	}
	rows, err := db.write.QueryContext(ctx, chainQuery)
	if err != nil {
		tb.Fatal(err)
	}
	var links []chainLink
	for rows.Next() {
		var e ChainEntry
		var chain []byte
		if err := rows.Scan(&e.Seq, &e.Device, &e.DevSeq, &e.User, &e.Collection, &e.Doc, &e.Area, &e.ReceivedAt, &e.Op, &chain); err != nil {
			tb.Fatal(err)
		}
		e.Version = 2
		if e.Seq <= upTo {
			e.Version = 1
		}
		links = append(links, e.link())
	}
	if err := rows.Close(); err != nil {
		tb.Fatal(err)
	}
	var head []byte
	for _, l := range links {
		head = chainNext(head, l)
		if _, err := db.write.ExecContext(ctx, `UPDATE ops SET chain = ? WHERE seq = ?`, head, l.seq); err != nil {
			tb.Fatal(err)
		}
	}
}

// Exec runs a statement on the write connection (tests only).
func Exec(tb testing.TB, db *DB, query string, args ...any) {
	tb.Helper()
	if _, err := db.write.ExecContext(context.Background(), query, args...); err != nil {
		tb.Fatal(err)
	}
}
