-- Support staff, their sign-ins, and the append-only audit log.
-- Owner: admin/.  Staff are not members: their own table, their own
-- sign-ins, their own token audience (hearth:admin).

CREATE TABLE staff (
    id             TEXT PRIMARY KEY,                  -- stf_...
    email          TEXT NOT NULL,                     -- as given (trimmed)
    email_norm     TEXT NOT NULL UNIQUE,              -- lowercased: the identity
    name           TEXT NOT NULL DEFAULT '',
    password_hash  TEXT NOT NULL,                     -- Argon2id string (crypto_pwhash_str)
    role           TEXT NOT NULL CHECK (role IN ('agent', 'supervisor', 'admin')),
    active         INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    disabled_at    INTEGER,
    last_signin_at INTEGER
);
CREATE INDEX staff_role ON staff (role, active);

CREATE TABLE staff_sessions (
    id            TEXT PRIMARY KEY,                   -- sts_...: one staff sign-in
    staff_id      TEXT NOT NULL REFERENCES staff (id),
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,                   -- fixed: the staff token lifetime
    revoked_at    INTEGER,
    revoke_reason TEXT                                -- sign_out, staff_disabled, role_changed
);
CREATE INDEX staff_sessions_staff ON staff_sessions (staff_id, created_at);

-- One row per change a member of staff made, written in the same
-- transaction as the change.  before_json and after_json hold the changed fields
-- only, and never a member's personal data (so erasure never has to touch
-- this table).  staff_id is 'bootstrap' for rows written by
-- `hearthctl staff create --force` on the server host.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY,                  -- log position, increases with every row
    staff_id    TEXT NOT NULL,
    action      TEXT NOT NULL,                        -- 'account.lock', 'staff.create', ...
    target_type TEXT NOT NULL,                        -- 'account', 'staff', 'notification', ...
    target_id   TEXT NOT NULL,
    reason      TEXT NOT NULL,                        -- X-Hearth-Reason, 1..500 bytes
    request_id  TEXT,
    before_json TEXT,                                 -- JSON object or NULL
    after_json  TEXT,                                 -- JSON object or NULL
    created_at  INTEGER NOT NULL
);
CREATE INDEX audit_log_target ON audit_log (target_id, id);
CREATE INDEX audit_log_staff ON audit_log (staff_id, id);
CREATE INDEX audit_log_time ON audit_log (created_at, id);

-- Append-only: the database itself refuses to change or remove a row.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
