-- Foundation: the migration ledger and the events table.
-- Every state change in Hearth writes one `events` row in the same
-- transaction as the change: it is the audit trail and the change feed that
-- other services read (GET /admin/v1/events?after=).

CREATE TABLE schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at INTEGER NOT NULL
);

CREATE TABLE events (
    id         INTEGER PRIMARY KEY,      -- feed position, increases with every event
    type       TEXT NOT NULL,            -- 'account.created', 'invoice.paid', ...
    subject    TEXT NOT NULL,            -- the id of what changed ('acc_...')
    payload    TEXT NOT NULL,            -- JSON object
    request_id TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX events_subject ON events (subject, id);
CREATE INDEX events_type ON events (type, id);
