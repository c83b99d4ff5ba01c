-- The sync engine: the operation log, merged documents, scopes for pulls,
-- rejected operations, conflicts, and each device's sync status.

-- Each device's exactly-once counter and its last outbox report.
ALTER TABLE devices ADD COLUMN last_seq INTEGER NOT NULL DEFAULT 0;   -- highest op counter received (accepted or rejected)
ALTER TABLE devices ADD COLUMN last_sync_at INTEGER;                  -- unix ms of the last push or pull
ALTER TABLE devices ADD COLUMN outbox_pending INTEGER NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN outbox_oldest_ms INTEGER NOT NULL DEFAULT 0; -- age of the oldest pending op, ms
ALTER TABLE devices ADD COLUMN app_version TEXT NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN clock_offset_ms INTEGER NOT NULL DEFAULT 0; -- device clock minus server clock at last push

-- Every accepted operation, in the order the server applied it. seq is the
-- trusted order and the pull cursor; it never goes backwards (AUTOINCREMENT
-- never reuses a value). chain is sha256(previous chain || seq || body): an
-- append-only hash chain over the log, so an export can be checked untampered.
CREATE TABLE ops (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    device      TEXT NOT NULL,
    dev_seq     INTEGER NOT NULL,
    user_id     INTEGER NOT NULL REFERENCES users(id),
    collection  TEXT NOT NULL,
    doc_id      TEXT NOT NULL,
    area_id     TEXT NOT NULL REFERENCES areas(id),
    hlc         TEXT NOT NULL,          -- as applied (the server's, if clamped)
    device_hlc  TEXT,                   -- the device's own stamp when it was clamped
    body        TEXT NOT NULL,          -- the operation JSON as applied
    op_hash     BLOB NOT NULL,          -- sha256 of the op as the device sent it: tells a replay from a reused counter
    received_at INTEGER NOT NULL,
    chain       BLOB NOT NULL,
    UNIQUE (device, dev_seq)
) STRICT;
CREATE INDEX ops_doc ON ops(collection, doc_id, seq);

-- Pull scopes: one row per (area that may read the op, seq). An op on a doc
-- in grid G gets rows for G and each ancestor, so "changes in my area since
-- cursor" is one index range whatever the caller's level. Ops on broadcast
-- collections (warnings) also get a row "^<area>" read by users below it.
CREATE TABLE op_scopes (
    scope TEXT NOT NULL,
    seq   INTEGER NOT NULL REFERENCES ops(seq),
    PRIMARY KEY (scope, seq)
) WITHOUT ROWID, STRICT;

-- The merged state of every document (a syncproto.DocState as JSON).
CREATE TABLE docs (
    collection  TEXT NOT NULL,
    id          TEXT NOT NULL,
    area_id     TEXT NOT NULL REFERENCES areas(id),
    area_path   TEXT NOT NULL,
    state       TEXT NOT NULL,
    deleted     INTEGER NOT NULL DEFAULT 0,
    created_seq INTEGER NOT NULL,
    updated_seq INTEGER NOT NULL,
    PRIMARY KEY (collection, id)
) WITHOUT ROWID, STRICT;
CREATE INDEX docs_area ON docs(area_path, collection, id);

-- Refused operations are kept, never dropped: the device shows them to its
-- user and the station sees them. The verdict is replayed for a resent op.
CREATE TABLE rejected_ops (
    device      TEXT NOT NULL,
    dev_seq     INTEGER NOT NULL,
    user_id     INTEGER NOT NULL REFERENCES users(id),
    area_id     TEXT NOT NULL REFERENCES areas(id),   -- the pushing user's area
    collection  TEXT NOT NULL,
    doc_id      TEXT NOT NULL,
    code        TEXT NOT NULL,
    reason      TEXT NOT NULL,
    body        TEXT NOT NULL,
    op_hash     BLOB NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (device, dev_seq)
) WITHOUT ROWID, STRICT;
CREATE INDEX rejected_ops_area ON rejected_ops(area_id, received_at);

-- Concurrent writes to one field: the losing value is kept for the station.
CREATE TABLE conflicts (
    id          INTEGER PRIMARY KEY,
    seq         INTEGER NOT NULL REFERENCES ops(seq),   -- the op whose arrival met the conflict
    collection  TEXT NOT NULL,
    doc_id      TEXT NOT NULL,
    area_id     TEXT NOT NULL REFERENCES areas(id),
    area_path   TEXT NOT NULL,
    field       TEXT NOT NULL,
    winner      TEXT NOT NULL,          -- syncproto.Reg JSON
    loser       TEXT NOT NULL,          -- syncproto.Reg JSON
    created_at  INTEGER NOT NULL,
    resolved_at INTEGER,
    resolved_by INTEGER REFERENCES users(id)
) STRICT;
CREATE INDEX conflicts_doc ON conflicts(collection, doc_id);
CREATE INDEX conflicts_open ON conflicts(area_path) WHERE resolved_at IS NULL;

-- The server's hybrid logical clock survives restarts, so it never goes back.
CREATE TABLE server_clock (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    hlc TEXT NOT NULL
) STRICT;
