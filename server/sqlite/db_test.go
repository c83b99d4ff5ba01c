package sqlite_test

import (
	"context"
	"io"
	"io/fs"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/gridsync/gridsync/fixtures"
	"github.com/gridsync/gridsync/migrations"
	"github.com/gridsync/gridsync/server/sqlite"
	"github.com/gridsync/gridsync/syncproto"
)

// MustOpenDB opens a fresh database file in a temp folder, closed at cleanup.
func MustOpenDB(tb testing.TB) *sqlite.DB {
	tb.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "gridsync.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Error(err)
		}
	})
	return db
}

// MustDemoDB opens a fresh database with the demo county imported.
func MustDemoDB(tb testing.TB) *sqlite.DB {
	tb.Helper()
	db := MustOpenDB(tb)
	d, err := fixtures.DemoCounty()
	if err != nil {
		tb.Fatal(err)
	}
	// The import's sync service is closed before the test starts its own:
	// one writer per database.
	sync, err := sqlite.NewSyncService(context.Background(), db, syncproto.DefaultSchema(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		tb.Fatal(err)
	}
	defer sync.Close()
	if _, err := sqlite.NewImportService(db, sync).Import(context.Background(), d); err != nil {
		tb.Fatal(err)
	}
	return db
}

func TestMigrate(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "gridsync.db")
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := db.IntegrityCheck(ctx); err != nil || res != "ok" {
		t.Fatalf("integrity_check: got %q, %v; want ok", res, err)
	}
	files, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	n := migrationCount(t, db)
	if n != len(files) || n == 0 {
		t.Fatalf("got %d migrations recorded, want one per embedded file (%d)", n, len(files))
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	t.Run("ReopenIsNoop", func(t *testing.T) {
		db, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if got := migrationCount(t, db); got != n {
			t.Fatalf("got %d migrations after reopen, want %d", got, n)
		}
		if res, _ := db.IntegrityCheck(ctx); res != "ok" {
			t.Fatalf("integrity_check after reopen: %q", res)
		}
	})
	t.Run("Pragmas", func(t *testing.T) {
		db := MustOpenDB(t)
		for pragma, want := range map[string]string{"journal_mode": "wal", "foreign_keys": "1", "busy_timeout": "5000", "synchronous": "2"} {
			if got := sqlite.Pragma(t, db, pragma); got != want {
				t.Errorf("PRAGMA %s: got %q, want %q", pragma, got, want)
			}
		}
	})
}

func migrationCount(t *testing.T, db *sqlite.DB) int {
	t.Helper()
	n, err := sqlite.CountRows(context.Background(), db, "schema_migrations")
	if err != nil {
		t.Fatal(err)
	}
	return n
}
