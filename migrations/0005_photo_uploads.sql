-- Photo evidence arriving: resumable uploads (tus) and the photos stored.
-- (0003 holds doc_photos, the references from documents.)

-- A photo is stored when its bytes are in the blob store under
-- "sha256/<hex>", byte for byte as uploaded. A row here means exactly that;
-- doc_photos rows without one are the missing evidence. Capture metadata
-- comes from the photo's EXIF block, read once on arrival.
CREATE TABLE photos (
    sha256      TEXT PRIMARY KEY CHECK (length(sha256) = 64),
    size        INTEGER NOT NULL CHECK (size > 0),
    mime        TEXT NOT NULL,
    uploader    INTEGER NOT NULL REFERENCES users(id),
    device_id   TEXT NOT NULL,
    uploaded_at INTEGER NOT NULL,         -- unix ms, server time
    taken_at    INTEGER,                  -- unix ms: EXIF DateTimeOriginal
    lat         REAL,                     -- EXIF GPS, WGS-84 degrees
    lng         REAL,
    orientation INTEGER NOT NULL DEFAULT 0,
    thumb       INTEGER NOT NULL DEFAULT 0  -- 0 not made yet, 1 stored as "thumb/<hex>", -1 cannot be made (HEIC)
) WITHOUT ROWID, STRICT;
CREATE INDEX photos_thumb_pending ON photos(sha256) WHERE thumb = 0;

-- One resumable upload. Bytes go to DATA/uploads/<id>.part, fsynced before
-- offset advances, so a dropped connection or a restart resumes at offset.
-- state: open (bytes arriving) → complete (every byte in, hash and type
-- verified; waiting for the blob store) → stored (a photos row exists).
-- A stored row is kept until expires_at so a device that lost the last
-- reply still learns (HEAD) that the upload is done.
CREATE TABLE uploads (
    id           TEXT PRIMARY KEY CHECK (length(id) = 32),
    user_id      INTEGER NOT NULL REFERENCES users(id),
    device_id    TEXT NOT NULL,
    sha256       TEXT NOT NULL CHECK (length(sha256) = 64),
    length       INTEGER NOT NULL CHECK (length > 0),
    offset       INTEGER NOT NULL DEFAULT 0 CHECK (offset BETWEEN 0 AND length),
    filename     TEXT NOT NULL DEFAULT '',
    doc          TEXT NOT NULL DEFAULT '',
    state        TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'complete', 'stored')),
    mime         TEXT NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    completed_at INTEGER
) WITHOUT ROWID, STRICT;
CREATE INDEX uploads_user ON uploads(user_id, state);
CREATE INDEX uploads_pending ON uploads(state, offset) WHERE state != 'stored';
CREATE INDEX uploads_sha ON uploads(sha256);

-- The photos a device should still upload: references added by its ops.
CREATE INDEX doc_photos_added ON doc_photos(added_seq);
