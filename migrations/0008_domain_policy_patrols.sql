-- The inspection domain, second part (docs/DOMAIN.md).

-- Every change of a policy through the API (PUT/DELETE /v1/policy): who
-- changed which area's policy to what, kept for the paper trail because a
-- policy moves deadlines. body is the policy as stored; NULL means the
-- area's own policy was removed (the area then follows the one above it).
CREATE TABLE policy_changes (
    id         INTEGER PRIMARY KEY,
    area_id    TEXT NOT NULL REFERENCES areas(id),
    body       TEXT CHECK (body IS NULL OR json_valid(body)),
    user_id    INTEGER NOT NULL REFERENCES users(id),
    changed_at INTEGER NOT NULL               -- unix ms, server time
) STRICT;
CREATE INDEX policy_changes_area ON policy_changes(area_id, changed_at);

-- The clock offset of the device that wrote a patrol's or check-in's time
-- field (device minus server at the push), so the night-window and session
-- checks compare times on the server's clock. Written when the op that
-- sets the field wins it; device_ms is the value it set.
CREATE TABLE device_times (
    collection      TEXT NOT NULL,
    doc_id          TEXT NOT NULL,
    field           TEXT NOT NULL,
    device_ms       INTEGER NOT NULL,
    clock_offset_ms INTEGER NOT NULL,
    PRIMARY KEY (collection, doc_id, field)
) WITHOUT ROWID, STRICT;
