-- Idempotency keys: the first response to a POST that creates or charges,
-- kept 24 hours so a retried request replays it instead of acting twice.
CREATE TABLE idempotency_keys (
    principal    TEXT NOT NULL,          -- account or staff id; '-' for anonymous requests
    key          TEXT NOT NULL,          -- the client's Idempotency-Key
    fingerprint  TEXT NOT NULL,          -- hex BLAKE2b of method, path and body
    state        TEXT NOT NULL CHECK (state IN ('in_progress', 'done')),
    status       INTEGER,
    content_type TEXT,
    body         TEXT,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    PRIMARY KEY (principal, key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
