-- Members, profiles, devices, sign-ins, refresh tokens, password resets,
-- throttling and notifications.
-- Owners: accounts/ owns accounts, profiles and password_resets; auth/ owns
-- devices, sessions and refresh_tokens; core/ owns throttle and notifications.

CREATE TABLE accounts (
    id                  TEXT PRIMARY KEY,            -- acc_...
    email               TEXT NOT NULL,               -- as given (trimmed)
    email_norm          TEXT NOT NULL UNIQUE,        -- lowercased: the identity
    password_hash       TEXT NOT NULL,               -- Argon2id string (crypto_pwhash_str)
    country             TEXT NOT NULL,               -- ISO 3166-1 alpha-2
    name                TEXT,
    phone               TEXT,
    language            TEXT NOT NULL DEFAULT 'en',
    status              TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'locked', 'erased')),
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    password_changed_at INTEGER NOT NULL
);
CREATE INDEX accounts_phone ON accounts (phone);

CREATE TABLE profiles (
    id         TEXT PRIMARY KEY,                      -- prf_...
    account_id TEXT NOT NULL REFERENCES accounts (id),
    name       TEXT NOT NULL,
    name_norm  TEXT NOT NULL,                         -- lowercased, for uniqueness
    is_owner   INTEGER NOT NULL DEFAULT 0,
    kids       INTEGER NOT NULL DEFAULT 0,
    language   TEXT NOT NULL DEFAULT 'en',
    pin_hash   TEXT,                                  -- Argon2id of the 4-digit PIN, or NULL
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (account_id, name_norm)
);
CREATE INDEX profiles_account ON profiles (account_id, created_at);

CREATE TABLE devices (
    id              TEXT PRIMARY KEY,                 -- dev_...
    account_id      TEXT NOT NULL REFERENCES accounts (id),
    type            TEXT NOT NULL CHECK (type IN ('tv', 'phone', 'tablet', 'web', 'console')),
    name            TEXT NOT NULL,
    model           TEXT,
    client_id       TEXT,                             -- OAuth client (device flow), or NULL
    first_seen_at   INTEGER NOT NULL,
    last_seen_at    INTEGER NOT NULL,
    last_network    TEXT,                             -- IP prefix, never a full address
    last_profile_id TEXT,
    revoked_at      INTEGER
);
CREATE INDEX devices_account ON devices (account_id, last_seen_at);

CREATE TABLE sessions (
    id            TEXT PRIMARY KEY,                   -- ses_...: one sign-in
    account_id    TEXT NOT NULL REFERENCES accounts (id),
    device_id     TEXT REFERENCES devices (id),
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER NOT NULL,
    last_network  TEXT,
    expires_at    INTEGER NOT NULL,                   -- sliding: refresh extends it
    revoked_at    INTEGER,
    revoke_reason TEXT                                -- sign_out, revoke_all, password_changed, refresh_reuse, ...
);
CREATE INDEX sessions_account ON sessions (account_id, created_at);

CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,                      -- hex keyed BLAKE2b of the token
    session_id TEXT NOT NULL REFERENCES sessions (id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    rotated_at INTEGER                                -- set when exchanged; reuse after that revokes the session
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

CREATE TABLE password_resets (
    token_hash TEXT PRIMARY KEY,                      -- hex keyed BLAKE2b of the emailed token
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE INDEX password_resets_account ON password_resets (account_id);

CREATE TABLE throttle (
    key             TEXT PRIMARY KEY,                 -- 'signin:acct:acc_...', 'signin:ip:203.0.113.0/24', ...
    failures        INTEGER NOT NULL,
    window_start    INTEGER NOT NULL,
    blocked_until   INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE notifications (
    id         TEXT PRIMARY KEY,                      -- ntf_...
    account_id TEXT,
    channel    TEXT NOT NULL CHECK (channel IN ('email', 'sms')),
    recipient  TEXT NOT NULL,
    template   TEXT NOT NULL,                         -- 'password_reset', 'welcome', ...
    payload    TEXT NOT NULL,                         -- JSON object
    status     TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sent', 'failed')),
    created_at INTEGER NOT NULL,
    sent_at    INTEGER
);
CREATE INDEX notifications_recipient ON notifications (recipient, created_at);
CREATE INDEX notifications_status ON notifications (status, created_at);
CREATE INDEX notifications_account ON notifications (account_id, created_at);
