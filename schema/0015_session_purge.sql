-- Expired sign-ins and refresh tokens are deleted (auth/sessions.c,
-- auth_sessions_purge): every refresh adds a refresh_tokens row (the
-- rotated ones are kept for reuse detection while they could still be
-- presented), so without a purge both tables grow for ever.  These indexes
-- find the expired rows without reading the tables; their keys grow with
-- time, so inserts append to them.
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);
CREATE INDEX sessions_expires ON sessions (expires_at);
