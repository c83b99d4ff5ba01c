-- The inspection domain's own tables (docs/DOMAIN.md). Documents stay in
-- docs; these hold what the server derives or imports beside them.

-- Checks made before the county started using gridsync (its paper ledger,
-- 纸质台账): the last check date per site, from the import's
-- last_checked_days_ago / last_checked_at. The due/overdue views take the
-- later of this and the latest inspection document. It is not synced:
-- devices get due dates through GET /v1/tasks.
CREATE TABLE site_check_history (
    site_id    TEXT PRIMARY KEY,
    checked_at INTEGER NOT NULL,          -- unix ms
    source     TEXT NOT NULL              -- "import"
) WITHOUT ROWID, STRICT;

-- Incident quick reports (30分钟以内上报): how long each took from
-- occurrence to the server, recorded when the creating op is accepted.
-- occurred_at and reported_at are the device's clock, corrected by the
-- pushing device's clock offset (device minus server) to server time.
CREATE TABLE incident_reports (
    doc_id          TEXT PRIMARY KEY,
    area_path       TEXT NOT NULL,
    seq             INTEGER NOT NULL REFERENCES ops(seq),
    occurred_at     INTEGER NOT NULL,     -- device time, as reported
    reported_at     INTEGER,              -- device time, as reported
    received_at     INTEGER NOT NULL,     -- server time
    clock_offset_ms INTEGER NOT NULL,     -- device minus server at the push
    delay_ms        INTEGER NOT NULL,     -- received_at - (occurred_at - clock_offset_ms)
    limit_ms        INTEGER NOT NULL,     -- the county's limit when it arrived
    late            INTEGER NOT NULL      -- delay_ms > limit_ms
) WITHOUT ROWID, STRICT;
CREATE INDEX incident_reports_area ON incident_reports(area_path, received_at);
