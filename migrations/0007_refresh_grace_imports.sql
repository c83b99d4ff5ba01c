-- Refresh token lineage, for the lost-reply grace of a refresh (see
-- sqlite.RefreshReplayGrace and docs/PROTOCOL.md section 2): a token
-- records the token whose use issued it, so a replay of the parent can
-- tell whether its successor was ever used. Tokens issued at login, and
-- those issued before this migration, have no parent.
ALTER TABLE refresh_tokens ADD COLUMN parent BLOB;
CREATE INDEX refresh_tokens_parent ON refresh_tokens(parent) WHERE parent IS NOT NULL;

-- One row per county data set imported (gridsyncd import, the demo county).
-- Areas, users, checklists and policy are written in one transaction with
-- this row; the sites follow as operations of the import device, numbered
-- from first_seq, and completed_at is set with the last of them. An import
-- interrupted in between resumes when the same data set (dataset_sha256)
-- is imported again: the device's last_seq tells which sites are in.
CREATE TABLE imports (
    county         TEXT PRIMARY KEY REFERENCES areas(id),
    dataset_sha256 BLOB NOT NULL,
    device         TEXT NOT NULL,
    first_seq      INTEGER NOT NULL CHECK (first_seq >= 1),
    started_at     INTEGER NOT NULL,
    completed_at   INTEGER
) STRICT;

-- Counties imported before imports were recorded count as complete: that
-- is how the loader treated them.
INSERT INTO imports (county, dataset_sha256, device, first_seq, started_at, completed_at)
SELECT id, zeroblob(32), 'import-' || id, 1, CAST(unixepoch('subsec') * 1000 AS INTEGER), CAST(unixepoch('subsec') * 1000 AS INTEGER)
FROM areas WHERE level = 'county';
