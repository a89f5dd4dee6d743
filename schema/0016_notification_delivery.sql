-- Notifications are delivered by hearthd (core/notify.c, notify_deliver):
-- a deliverer claims queued rows in one transaction ('sending', with the
-- time and the process), sends them outside any transaction, then records
-- each outcome.  A failed send is queued again after a growing delay, up to
-- a number of attempts, then 'failed'; a claim older than the claim timeout
-- (its process died between the claim and the record) is taken again, so
-- delivery is at least once and several hearthd never send one row twice
-- while both live.  SQLite cannot widen a CHECK, so the table is rebuilt.
-- Owner: core/.
CREATE TABLE notifications_0016 (
    id              TEXT PRIMARY KEY,                      -- ntf_...
    account_id      TEXT,
    channel         TEXT NOT NULL CHECK (channel = 'email' OR channel = 'sms'),
    recipient       TEXT NOT NULL,
    template        TEXT NOT NULL,                         -- 'password_reset', 'welcome', ...
    payload         TEXT NOT NULL,                         -- JSON object
    status          TEXT NOT NULL DEFAULT 'queued'
                    CHECK (status = 'queued' OR status = 'sending' OR status = 'sent' OR status = 'failed'),
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER,
    attempts        INTEGER NOT NULL DEFAULT 0,            -- sends tried
    next_attempt_at INTEGER,                               -- queued again: not before this
    claimed_at      INTEGER,                               -- 'sending' since
    claimed_by      TEXT,                                  -- the claiming process (core/procid.h)
    last_error      TEXT                                   -- the sender's last failure, for staff
);

INSERT INTO notifications_0016 (id, account_id, channel, recipient, template, payload, status,
    created_at, sent_at)
SELECT id, account_id, channel, recipient, template, payload, status, created_at, sent_at
  FROM notifications;

DROP TABLE notifications;
ALTER TABLE notifications_0016 RENAME TO notifications;

CREATE INDEX notifications_recipient ON notifications (recipient, created_at);
CREATE INDEX notifications_status ON notifications (status, created_at);
CREATE INDEX notifications_account ON notifications (account_id, created_at);
