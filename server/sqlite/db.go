// Package sqlite implements the gridsync services on SQLite through
// modernc.org/sqlite (pure Go, no cgo). It is the only package that imports
// the driver.
//
// The database runs in WAL mode with foreign keys on, a busy timeout and
// synchronous=FULL (a commit that returned is on disk: the sync protocol
// acknowledges pushes only after that). SQLite has one writer, so DB keeps
// two pools: one connection for writes (transactions begin IMMEDIATE, so a
// writer never fails half-way on a lock upgrade) and several for reads.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path"
	"runtime"
	"sort"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/gridsync/gridsync/migrations"
)

// BusyTimeout is how long a connection waits for a lock before SQLITE_BUSY.
const BusyTimeout = 5 * time.Second

// DB is an open gridsync database.
type DB struct {
	write *sql.DB
	read  *sql.DB
	// Now is the clock of every timestamp the database layer writes; tests
	// replace it.
	Now func() time.Time
}

// Open opens (creating if needed) the database file at path and applies
// pending migrations.
func Open(ctx context.Context, path string) (*DB, error) {
	db := &DB{Now: time.Now}
	var err error
	if db.write, err = sql.Open("sqlite", dsn(path, true)); err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.write.SetMaxOpenConns(1)
	if db.read, err = sql.Open("sqlite", dsn(path, false)); err != nil {
		db.write.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.read.SetMaxOpenConns(max(4, runtime.NumCPU()))
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func dsn(path string, writer bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", BusyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(FULL)")
	// Savepoints (one per push in a group commit) keep their sub-journal
	// in memory instead of a temp file.
	q.Add("_pragma", "temp_store(MEMORY)")
	// 64 MiB of page cache per connection (SQLite's default is 2 MiB): the
	// upper levels of the op log's and scopes' B-trees stay in memory as
	// the log grows to millions of ops.
	q.Add("_pragma", "cache_size(-65536)")
	if writer {
		q.Set("_txlock", "immediate")
	} else {
		q.Add("_pragma", "query_only(1)")
	}
	return "file:" + path + "?" + q.Encode()
}

// Close checkpoints the WAL into the main file and closes both pools, so a
// clean shutdown leaves a single self-contained database file.
func (db *DB) Close() error {
	var errs []error
	if db.read != nil {
		errs = append(errs, db.read.Close())
	}
	if db.write != nil {
		if _, err := db.write.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			errs = append(errs, fmt.Errorf("checkpoint: %w", err))
		}
		errs = append(errs, db.write.Close())
	}
	return errors.Join(errs...)
}

// Ping checks that the database answers a read and accepts a write lock;
// /readyz uses it.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	if err := db.read.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		return fmt.Errorf("read: %w", err)
	}
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return tx.Rollback()
}

// IntegrityCheck runs PRAGMA integrity_check and returns its verdict ("ok").
func (db *DB) IntegrityCheck(ctx context.Context) (string, error) {
	var res string
	err := db.read.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&res)
	return res, err
}

// Tx is a write transaction; it records the time it began so that every row
// it writes carries the same timestamp. Its Exec and QueryRow methods prepare
// each distinct statement once per transaction: parsing SQL is most of the
// cost of a small statement, and a group commit runs the same few
// statements for every operation. (Statements cannot be prepared on the
// pool ahead of time: the write pool's single connection is held by the
// transaction.)
type Tx struct {
	*sql.Tx
	now   time.Time
	stmts map[string]*sql.Stmt
}

func (tx *Tx) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := tx.stmts[query]; ok {
		return st, nil
	}
	st, err := tx.Tx.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	tx.stmts[query] = st
	return st, nil
}

// ExecContext runs query in the transaction as a prepared statement.
func (tx *Tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := tx.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// QueryRowContext runs query in the transaction as a prepared statement.
func (tx *Tx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := tx.stmt(ctx, query)
	if err != nil {
		// Let the error surface from Scan, as database/sql does.
		return tx.Tx.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// beginTx starts a write transaction. Service methods run in exactly one:
// beginTx, defer tx.Rollback(), helpers taking tx, tx.Commit().
func (db *DB) beginTx(ctx context.Context) (*Tx, error) {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	return &Tx{Tx: tx, now: db.Now(), stmts: map[string]*sql.Stmt{}}, nil
}

// migrate applies every migrations/*.sql not yet recorded, each in its own
// transaction together with its record, in file-name order.
func (db *DB) migrate(ctx context.Context) error {
	if _, err := db.write.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT`); err != nil {
		return fmt.Errorf("migrations table: %w", err)
	}
	names, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		if err := db.migrateFile(ctx, name); err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
	}
	return nil
}

func (db *DB) migrateFile(ctx context.Context, name string) error {
	tx, err := db.beginTx(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE name = ?`, name).Scan(&n); err != nil {
		return err
	} else if n > 0 {
		return nil
	}
	body, err := fs.ReadFile(migrations.FS, path.Clean(name))
	if err != nil {
		return err
	}
	if strings.TrimSpace(string(body)) == "" {
		return errors.New("empty migration")
	}
	if _, err := tx.ExecContext(ctx, string(body)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)`, name, ms(tx.now)); err != nil {
		return err
	}
	return tx.Commit()
}

// ms is the unix-millisecond form every timestamp column uses.
func ms(t time.Time) int64 { return t.UnixMilli() }

// fromMS converts a unix-millisecond column back to time.
func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }
