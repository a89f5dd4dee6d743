-- The device login flow (RFC 8628): registered OAuth clients and the
-- pending device authorizations.
-- Owner: auth/ (oauth_clients, device_authorizations), like devices.

CREATE TABLE oauth_clients (
    id          TEXT PRIMARY KEY,                     -- the client_id, e.g. 'hearth-tv-demo'
    name        TEXT NOT NULL,                        -- shown to the member: 'Hearth TV (demo)'
    device_type TEXT NOT NULL CHECK (device_type IN ('tv', 'phone', 'tablet', 'web', 'console')),
    grant_types TEXT NOT NULL,                        -- space-separated: 'device_code refresh_token'
    active      INTEGER NOT NULL DEFAULT 1,
    created_at  INTEGER NOT NULL,
    disabled_at INTEGER
);

-- The client for trying the flow (README, docs/device-login.md).
INSERT INTO oauth_clients (id, name, device_type, grant_types, active, created_at)
VALUES ('hearth-tv-demo', 'Hearth TV (demo)', 'tv', 'device_code refresh_token', 1, 0);

CREATE TABLE device_authorizations (
    id                  TEXT PRIMARY KEY,             -- dva_...
    device_code_hash    TEXT NOT NULL UNIQUE,         -- hex keyed BLAKE2b of the device_code
    user_code           TEXT NOT NULL UNIQUE,         -- normalised: 8 letters of BCDFGHJKLMNPQRSTVWXZ
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
    interval_s          INTEGER NOT NULL,             -- grows by 5 on each slow_down
    last_poll_at        INTEGER,
    failures            INTEGER NOT NULL DEFAULT 0,   -- wrong confirmations; locked at the limit
    account_id          TEXT,                         -- who approved or denied
    profile_id          TEXT,
    decided_at          INTEGER,
    web_confirm_hash    TEXT,                         -- the web page's confirm step (hashed token)
    web_account_id      TEXT,
    web_confirm_expires INTEGER
);
CREATE INDEX device_authorizations_expiry ON device_authorizations (expires_at);
