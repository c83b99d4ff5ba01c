-- Refresh token lineage, for the lost-reply grace of a refresh (see
-- sqlite.RefreshReplayGrace and docs/PROTOCOL.md section 2): a token
-- records the token whose use issued it, so a replay of the parent can
-- tell whether its successor was ever used. Tokens issued at login, and
-- those issued before this migration, have no parent.
ALTER TABLE refresh_tokens ADD COLUMN parent BLOB;
CREATE INDEX refresh_tokens_parent ON refresh_tokens(parent) WHERE parent IS NOT NULL;
