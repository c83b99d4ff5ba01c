-- Areas, users, devices and refresh tokens: who may do what, and where.

-- The administrative tree county (县/区) → township (乡镇/街道) → village (村/社区)
-- → grid (网格). path is the chain of ids from the county down, "/"-separated
-- and "/"-terminated ("/330399/330399101/"), so "area A covers area B" is the
-- index-backed test  B.path LIKE A.path || '%'.
CREATE TABLE areas (
    id     TEXT PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 64),
    parent TEXT REFERENCES areas(id),
    level  TEXT NOT NULL CHECK (level IN ('county', 'township', 'village', 'grid')),
    name   TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    path   TEXT NOT NULL UNIQUE
) STRICT;
CREATE INDEX areas_parent ON areas(parent);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE CHECK (length(username) BETWEEN 1 AND 64),
    name          TEXT NOT NULL,
    phone         TEXT NOT NULL DEFAULT '',
    role          TEXT NOT NULL CHECK (role IN ('grid_worker', 'village_officer', 'station_staff', 'enforcement_officer', 'county_admin')),
    area_id       TEXT NOT NULL REFERENCES areas(id),
    password_hash TEXT NOT NULL,
    disabled_at   INTEGER,            -- unix ms; a disabled user cannot log in or refresh
    created_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX users_area ON users(area_id);

-- A device is one app installation for one user; the phone makes its id once.
CREATE TABLE devices (
    id            TEXT PRIMARY KEY CHECK (length(id) BETWEEN 8 AND 64),
    user_id       INTEGER NOT NULL REFERENCES users(id),
    created_at    INTEGER NOT NULL,
    last_login_at INTEGER NOT NULL,
    revoked_at    INTEGER            -- lost phone: every token of the device is refused
) STRICT;
CREATE INDEX devices_user ON devices(user_id);

-- Refresh tokens are stored as sha256 hashes. Every token belongs to a family
-- (one login on one device); using a token marks it used and issues its child.
-- Presenting a used token again is theft or a replayed backup: the whole
-- family is revoked.
CREATE TABLE refresh_tokens (
    hash       BLOB PRIMARY KEY,
    family     TEXT NOT NULL,
    device_id  TEXT NOT NULL REFERENCES devices(id),
    user_id    INTEGER NOT NULL REFERENCES users(id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER,
    revoked_at INTEGER
) WITHOUT ROWID, STRICT;
CREATE INDEX refresh_tokens_family ON refresh_tokens(family);
CREATE INDEX refresh_tokens_device ON refresh_tokens(device_id);

-- Checklist templates per site kind (检查清单), versioned: an inspection
-- records the version it used, so old devices keep syncing after an update.
CREATE TABLE checklists (
    kind       TEXT NOT NULL,
    version    INTEGER NOT NULL CHECK (version >= 1),
    title      TEXT NOT NULL,
    items      TEXT NOT NULL CHECK (json_valid(items)),  -- [{"code","text","severity","basis"}]
    created_at INTEGER NOT NULL,
    PRIMARY KEY (kind, version)
) STRICT;

-- County policy: check frequency per risk level, hazard deadlines... as JSON.
CREATE TABLE policies (
    area_id    TEXT PRIMARY KEY REFERENCES areas(id),
    body       TEXT NOT NULL CHECK (json_valid(body)),
    updated_at INTEGER NOT NULL
) STRICT;
