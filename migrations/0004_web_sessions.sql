-- Sessions of the station dashboard (server/web). The browser holds only a
-- random id in an httpOnly cookie; the server keeps its sha256, the user and
-- the browser's device (each browser is a device of the sync protocol, so
-- the dashboard's actions are ops with their own counter and audit trail),
-- and the CSRF token every form must carry. A session ends at expires_at,
-- at logout, or when its device is revoked or its user disabled.
CREATE TABLE web_sessions (
    id_hash    BLOB PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id),
    device_id  TEXT NOT NULL REFERENCES devices(id),
    csrf       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID, STRICT;
CREATE INDEX web_sessions_expires ON web_sessions(expires_at);
