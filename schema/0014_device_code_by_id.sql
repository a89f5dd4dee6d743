-- Device codes carry the id of their row: a new device_code is the 29
-- characters of its `dva_` id (time-ordered, core/ids.c) followed by 43 of
-- base64url (256 random bits), so a poll finds the row by its primary key
-- and compares the keyed hash of the whole code in constant time.  The
-- UNIQUE index on device_code_hash goes: its keys were random, so every
-- authorization dirtied its own 4 KiB leaf of it (a page of WAL, written
-- again by the checkpoint) that no other authorization of its group commit
-- shared.  Why and the figures: docs/device-login.md ("Benchmarks").
-- Owner: auth/.
--
-- SQLite cannot drop a column's UNIQUE constraint, so the table is rebuilt.
-- Codes issued before this migration (43 characters, no id) keep working
-- until they expire: their hash is copied to legacy_code_hash, whose
-- partial index holds only those rows (new rows leave it NULL and never
-- touch the index).
CREATE TABLE device_authorizations_0013 (
    id                  TEXT PRIMARY KEY,             -- dva_...; its 29 characters begin the device_code
    device_code_hash    TEXT NOT NULL,                -- hex keyed BLAKE2b of the whole device_code
    legacy_code_hash    TEXT,                         -- the same, for codes issued before 0013 (else NULL)
    user_code           TEXT NOT NULL,                -- normalised: 8 letters of BCDFGHJKLMNPQRSTVWXZ
    client_id           TEXT NOT NULL REFERENCES oauth_clients (id),
    scope               TEXT NOT NULL,
    device_name         TEXT,                         -- as the device described itself
    device_model        TEXT,
    device_ref          TEXT,                         -- the device's own identifier (device_id), shown only
    network             TEXT,                         -- prefix of the requesting address, never the address
    status              TEXT NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'approved', 'denied', 'locked')),
    created_at          INTEGER NOT NULL,
    expires_at          INTEGER NOT NULL,
    interval_s          INTEGER NOT NULL,             -- the interval given out
    last_poll_at        INTEGER,                      -- unused since polls are paced in memory
    failures            INTEGER NOT NULL DEFAULT 0,   -- wrong confirmations; locked at the limit
    account_id          TEXT,                         -- who approved or denied
    profile_id          TEXT,
    decided_at          INTEGER,
    web_confirm_hash    TEXT,                         -- the web page's confirm step (hashed token)
    web_account_id      TEXT,
    web_confirm_expires INTEGER
);

INSERT INTO device_authorizations_0013 (id, device_code_hash, legacy_code_hash, user_code, client_id,
    scope, device_name, device_model, device_ref, network, status, created_at, expires_at,
    interval_s, last_poll_at, failures, account_id, profile_id, decided_at, web_confirm_hash,
    web_account_id, web_confirm_expires)
SELECT id, device_code_hash, device_code_hash, user_code, client_id, scope, device_name,
    device_model, device_ref, network, status, created_at, expires_at, interval_s, last_poll_at,
    failures, account_id, profile_id, decided_at, web_confirm_hash, web_account_id,
    web_confirm_expires
  FROM device_authorizations;

DROP TABLE device_authorizations;
ALTER TABLE device_authorizations_0013 RENAME TO device_authorizations;

-- Members type the user code: its index stays (random keys, but 8 bytes
-- and a rowid per entry, the smallest a lookup by code can have).
CREATE UNIQUE INDEX device_authorizations_user_code ON device_authorizations (user_code);
CREATE INDEX device_authorizations_expiry ON device_authorizations (expires_at);
CREATE UNIQUE INDEX device_authorizations_legacy_code ON device_authorizations (legacy_code_hash)
    WHERE legacy_code_hash IS NOT NULL;
