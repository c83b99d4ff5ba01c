-- Photo uploads, hardened (issue 4 audit).

-- The Upload-Metadata header exactly as the device sent it: a tus HEAD
-- answers it back, and stock clients compare it.
ALTER TABLE uploads ADD COLUMN metadata TEXT NOT NULL DEFAULT '';

-- A POST that lost its reply is sent again: the same user, device, photo
-- and length find the upload they already have instead of a new one.
CREATE INDEX uploads_reuse ON uploads(user_id, device_id, sha256);

-- Who proved possession of a photo's bytes: every user whose upload of it
-- was verified (not only the first, whose row is photos.uploader). A
-- reference makes a photo readable in its area only if one of them has an
-- area covering the referencing document; knowing a hash is not enough
-- (docs/PROTOCOL-photos.md section 3).
CREATE TABLE photo_uploaders (
    sha256  TEXT NOT NULL REFERENCES photos(sha256),
    user_id INTEGER NOT NULL REFERENCES users(id),
    PRIMARY KEY (sha256, user_id)
) WITHOUT ROWID, STRICT;
INSERT OR IGNORE INTO photo_uploaders (sha256, user_id) SELECT sha256, uploader FROM photos;
INSERT OR IGNORE INTO photo_uploaders (sha256, user_id)
    SELECT u.sha256, u.user_id FROM uploads u JOIN photos p ON p.sha256 = u.sha256 WHERE u.state = 'stored';
