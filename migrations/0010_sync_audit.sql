-- The sync engine, second round: the audit chain commits to who, where and
-- when; every op keeps the clock offset of the push that brought it; each
-- device has a gap-free watermark; conflicts are stored once per key.

-- Audit chain versions: version 1 hashed (previous chain, seq, op body);
-- version 2 also hashes the pushing user, the document's area and the
-- server's receive time, so an export cannot be altered in who, where or
-- when. Each version applies from from_seq on; ops logged before this
-- migration keep their version-1 values and still verify.
CREATE TABLE chain_versions (
    version  INTEGER PRIMARY KEY,
    from_seq INTEGER NOT NULL
) STRICT;
INSERT INTO chain_versions (version, from_seq) VALUES (1, 1);
INSERT INTO chain_versions (version, from_seq) SELECT 2, COALESCE(max(seq), 0) + 1 FROM ops;

-- Trusted time, per push: the pushing device's clock minus the server's
-- at the push that delivered the op (0 when the push did not say), so any
-- device time in the op can be corrected later.
ALTER TABLE ops ADD COLUMN clock_offset_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rejected_ops ADD COLUMN clock_offset_ms INTEGER NOT NULL DEFAULT 0;

-- acked_seq: every seq 1..acked_seq of the device has a verdict (accepted
-- or rejected). last_seq is the highest seq received; seqs between the two
-- without a verdict are the device's gap (ops sent out of order, or lost).
-- 0 for devices that pushed before this migration: the next push walks it
-- up.
ALTER TABLE devices ADD COLUMN acked_seq INTEGER NOT NULL DEFAULT 0;

-- A conflict is identified by (document, field, winner stamp, loser stamp).
DELETE FROM conflicts WHERE id NOT IN (
    SELECT min(id) FROM conflicts
    GROUP BY collection, doc_id, field, json_extract(winner, '$.s'), json_extract(loser, '$.s'));
CREATE UNIQUE INDEX conflicts_key ON conflicts(collection, doc_id, field, json_extract(winner, '$.s'), json_extract(loser, '$.s'));
