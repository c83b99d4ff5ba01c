-- Photo evidence: which documents reference which photos (by sha256), and
-- which photos have arrived. "Evidence incomplete" is a reference without a
-- photo row.

-- doc_photos is maintained by the sync engine: every present element of a
-- TypeSHA256 set field of a document (a hazard's photos, an inspection
-- item's photos...) has a row. Rows are never removed when an element is
-- removed from the set (evidence once referenced stays readable by the area
-- that referenced it); live = 0 marks a removed reference.
CREATE TABLE doc_photos (
    sha256     TEXT NOT NULL CHECK (length(sha256) = 64),
    collection TEXT NOT NULL,
    doc_id     TEXT NOT NULL,
    field      TEXT NOT NULL,
    area_path  TEXT NOT NULL,
    live       INTEGER NOT NULL DEFAULT 1,
    added_seq  INTEGER NOT NULL,
    PRIMARY KEY (sha256, collection, doc_id, field)
) WITHOUT ROWID, STRICT;
CREATE INDEX doc_photos_doc ON doc_photos(collection, doc_id);
CREATE INDEX doc_photos_area ON doc_photos(area_path);
