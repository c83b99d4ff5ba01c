package client

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/gridsync/gridsync/syncproto"
)

// schemaVersion is the local file's layout version (PRAGMA user_version):
// the number of steps in layoutSteps.
const schemaVersion = len(layoutSteps) - 1

// layoutSteps are the layout of the device's file, one step per version:
// a new file gets all of them, a file of an older SDK the ones it lacks, in
// one transaction on Open. A step is never edited once released (files in
// the field were made by it); a change of layout is a new step. STRICT
// tables, so a bug that writes the wrong type fails instead of corrupting
// the file.
var layoutSteps = [...]string{1: layoutV1, 2: layoutV2, 3: layoutV3}

// layoutV1 is the replica, the outbox and the rejected ops.
const layoutV1 = `
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID, STRICT;

-- The confirmed replica: document states as the server has them.
CREATE TABLE docs (
    collection TEXT NOT NULL,
    id         TEXT NOT NULL,
    state      TEXT NOT NULL,   -- syncproto.DocState JSON
    PRIMARY KEY (collection, id)
) WITHOUT ROWID, STRICT;

-- Pages of a snapshot in progress; they replace docs in one transaction
-- when the last page has arrived.
CREATE TABLE snapshot_docs (
    collection TEXT NOT NULL,
    id         TEXT NOT NULL,
    state      TEXT NOT NULL,
    PRIMARY KEY (collection, id)
) WITHOUT ROWID, STRICT;

-- This device's ops. server_seq is NULL while the op waits for a verdict;
-- once accepted it holds the op's place in the server's log, and the row
-- stays until a pull has brought the op into docs.
CREATE TABLE outbox (
    seq        INTEGER PRIMARY KEY,   -- the op's Seq
    ord        INTEGER NOT NULL,      -- creation order; kept when the op is renumbered
    collection TEXT NOT NULL,
    doc_id     TEXT NOT NULL,
    priority   INTEGER NOT NULL,      -- Collection.Priority, higher syncs first
    op         TEXT NOT NULL,         -- syncproto.Op JSON
    created_at INTEGER NOT NULL,      -- device time, unix ms
    server_seq INTEGER
) STRICT;
CREATE INDEX outbox_doc ON outbox(collection, doc_id);
CREATE INDEX outbox_pending ON outbox(ord) WHERE server_seq IS NULL;
CREATE INDEX outbox_accepted ON outbox(server_seq) WHERE server_seq IS NOT NULL;

-- Ops the server refused, kept for the user.
CREATE TABLE rejected (
    id          INTEGER PRIMARY KEY,
    seq         INTEGER NOT NULL,
    collection  TEXT NOT NULL,
    doc_id      TEXT NOT NULL,
    code        TEXT NOT NULL,
    reason      TEXT NOT NULL,
    op          TEXT NOT NULL,
    created_at  INTEGER NOT NULL,     -- when the op was made, device time
    rejected_at INTEGER NOT NULL      -- when the verdict arrived, device time
) STRICT;
`

// layoutV2 adds the photo queue: photos attached on this device (a local
// copy in <file>.photos/<sha256> until the server has stored the photo, and
// where its tus upload stands) and the ops that put each photo into a
// document (a photo uploads once one of them is accepted).
const layoutV2 = `
CREATE TABLE photos (
    sha256      TEXT PRIMARY KEY,
    size        INTEGER NOT NULL,
    mime        TEXT NOT NULL,
    filename    TEXT NOT NULL,             -- the source file's base name, sent for the server's logs
    state       TEXT NOT NULL,             -- Photo* state constants
    upload_url  TEXT NOT NULL DEFAULT '',  -- the tus upload, committed before any byte is sent
    uploaded    INTEGER NOT NULL DEFAULT 0, -- bytes the server confirmed (Upload-Offset)
    attempts    INTEGER NOT NULL DEFAULT 0, -- failures since the last progress
    next_try_ms INTEGER NOT NULL DEFAULT 0, -- no upload before then (backoff), device time
    error_code  TEXT NOT NULL DEFAULT '',
    last_error  TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    stored_at   INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID, STRICT;

CREATE TABLE photo_refs (
    sha256     TEXT NOT NULL,
    seq        INTEGER NOT NULL,   -- the op's seq; follows a renumbering
    collection TEXT NOT NULL,
    doc_id     TEXT NOT NULL,
    field      TEXT NOT NULL,
    priority   INTEGER NOT NULL,   -- the collection's: incident photos upload first
    state      TEXT NOT NULL,      -- pending, accepted or rejected, with the op's verdict
    PRIMARY KEY (sha256, seq)
) WITHOUT ROWID, STRICT;
CREATE INDEX photo_refs_seq ON photo_refs(seq);
`

// layoutV3 adds the lists a device needs offline (lists.go): the checklist
// templates and the task list of the user's area, as last fetched.
const layoutV3 = `
CREATE TABLE checklists (
    kind    TEXT NOT NULL,
    version INTEGER NOT NULL,
    body    TEXT NOT NULL,   -- Checklist JSON
    PRIMARY KEY (kind, version)
) WITHOUT ROWID, STRICT;

CREATE TABLE tasks (
    site_id TEXT PRIMARY KEY,
    body    TEXT NOT NULL    -- Task JSON, as the server computed it
) WITHOUT ROWID, STRICT;
`

// Meta keys.
const (
	metaDevice       = "device_id"
	metaNextSeq      = "next_seq"
	metaClock        = "clock"           // HLC wire form
	metaClockOffset  = "clock_offset_ms" // correction of a wrong physical clock
	metaCursor       = "cursor"
	metaAccess       = "access_token"
	metaAccessExpiry = "access_expires_ms"
	metaRefresh      = "refresh_token"
	metaUser         = "user" // User JSON
	metaSnapActive   = "snapshot_active"
	metaSnapNext     = "snapshot_next"
	metaSnapCursor   = "snapshot_cursor"
	metaSnapBound    = "snapshot_bound"
	metaListsFetched = "lists_fetched_ms" // device time of the last RefreshLists
)

// dsn builds the modernc.org/sqlite data source name. synchronous=FULL: a
// commit that returned is on disk, which the outbox promises the user.
func dsn(path string, writer bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	if writer {
		q.Set("_txlock", "immediate")
	} else {
		q.Add("_pragma", "query_only(1)")
	}
	return "file:" + path + "?" + q.Encode()
}

// openDB opens the writer (one connection) and reader pools and creates or
// checks the layout.
func openDB(path string) (w, r *sql.DB, err error) {
	if w, err = sql.Open("sqlite", dsn(path, true)); err != nil {
		return nil, nil, err
	}
	w.SetMaxOpenConns(1)
	ctx := context.Background()
	var version int
	if err := w.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil {
		w.Close()
		return nil, nil, fmt.Errorf("open %s: %w", path, err)
	}
	if version > schemaVersion || version < 0 {
		w.Close()
		return nil, nil, fmt.Errorf("open %s: file layout %d is newer than this SDK's %d", path, version, schemaVersion)
	}
	if version < schemaVersion {
		if err := upgradeLayout(ctx, w, version); err != nil {
			w.Close()
			return nil, nil, fmt.Errorf("upgrade %s from layout %d to %d: %w", path, version, schemaVersion, err)
		}
	}
	if r, err = sql.Open("sqlite", dsn(path, false)); err != nil {
		w.Close()
		return nil, nil, err
	}
	r.SetMaxOpenConns(2)
	return w, r, nil
}

// upgradeLayout applies the layout steps after version (0: a new file) and
// records the new version, all in one transaction: a crash leaves the file
// as it was.
func upgradeLayout(ctx context.Context, w *sql.DB, version int) error {
	tx, err := w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for v := version + 1; v <= schemaVersion; v++ {
		if _, err := tx.ExecContext(ctx, layoutSteps[v]); err != nil {
			return fmt.Errorf("layout %d: %w", v, err)
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, schemaVersion)); err != nil {
		return err
	}
	return tx.Commit()
}

// queryer is what both *sql.DB and *sql.Tx offer.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// getMeta returns a meta value, "" if unset.
func getMeta(q queryer, key string) (string, error) {
	var v string
	err := q.QueryRowContext(context.Background(), `SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read %s: %w", key, err)
	}
	return v, nil
}

// setMeta sets a meta value; "" deletes it.
func setMeta(q queryer, key, value string) error {
	var err error
	if value == "" {
		_, err = q.ExecContext(context.Background(), `DELETE FROM meta WHERE key = ?`, key)
	} else {
		_, err = q.ExecContext(context.Background(), `INSERT INTO meta (key, value) VALUES (?, ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	return nil
}

func getMetaInt(q queryer, key string) (int64, error) {
	v, err := getMeta(q, key)
	if err != nil || v == "" {
		return 0, err
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("meta %s: %w", key, err)
	}
	return n, nil
}

func setMetaInt(q queryer, key string, n int64) error {
	return setMeta(q, key, strconv.FormatInt(n, 10))
}

// loadState returns a document's state from table (docs or snapshot_docs),
// and whether it exists.
func loadState(q queryer, table, collection, id string) (syncproto.DocState, bool, error) {
	var raw string
	err := q.QueryRowContext(context.Background(), `SELECT state FROM `+table+` WHERE collection = ? AND id = ?`, collection, id).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return syncproto.DocState{}, false, nil
	}
	if err != nil {
		return syncproto.DocState{}, false, fmt.Errorf("load %s/%s: %w", collection, id, err)
	}
	var s syncproto.DocState
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		return syncproto.DocState{}, false, fmt.Errorf("decode %s/%s: %w", collection, id, err)
	}
	return s, true, nil
}

func saveState(q queryer, table string, s syncproto.DocState) error {
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encode %s/%s: %w", s.Collection, s.ID, err)
	}
	_, err = q.ExecContext(context.Background(), `INSERT INTO `+table+` (collection, id, state) VALUES (?, ?, ?)
		ON CONFLICT (collection, id) DO UPDATE SET state = excluded.state`, s.Collection, s.ID, string(b))
	if err != nil {
		return fmt.Errorf("save %s/%s: %w", s.Collection, s.ID, err)
	}
	return nil
}

// outboxRow is one row of the outbox.
type outboxRow struct {
	op        syncproto.Op
	ord       int64
	priority  int
	createdAt int64
	serverSeq int64 // 0 while pending
}

func scanOutbox(rows *sql.Rows) ([]outboxRow, error) {
	defer rows.Close()
	var out []outboxRow
	for rows.Next() {
		var r outboxRow
		var raw string
		var server sql.NullInt64
		if err := rows.Scan(&raw, &r.ord, &r.priority, &r.createdAt, &server); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(raw), &r.op); err != nil {
			return nil, fmt.Errorf("decode outbox op: %w", err)
		}
		r.serverSeq = server.Int64
		out = append(out, r)
	}
	return out, rows.Err()
}

const outboxColumns = `op, ord, priority, created_at, server_seq`

// updateOp rewrites an outbox row's op (after a re-stamp or renumbering).
func updateOp(q queryer, oldSeq uint64, op *syncproto.Op) error {
	b, err := json.Marshal(op)
	if err != nil {
		return err
	}
	_, err = q.ExecContext(context.Background(), `UPDATE outbox SET seq = ?, op = ? WHERE seq = ?`, op.Seq, string(b), oldSeq)
	return err
}
