-- Playback speed (issue 8 benchmark): less work per stream start in the
-- two tables every start writes.  Owner: households/.  Why and the figures:
-- docs/households.md ("Cost on the request path").
--
-- CHECK constraints name their allowed values with OR, not IN.  SQLite
-- evaluates a CHECK "x IN (three or more constants)" by building a
-- temporary index of the list on every INSERT and every UPDATE of the
-- column (about 1.7 us each here), and every start runs three such
-- statements on the one writer thread all starts wait for.  The OR form
-- accepts and rejects exactly the same values (NULL included).  SQLite
-- cannot change a table's CHECK in place, so both tables are rebuilt
-- (same columns, rows and indexes).  The indexes are the ones 0008 and
-- 0011 made, in the same order: without statistics SQLite breaks ties
-- between indexes by their order, and a partial live-slot index tried
-- here lost to stream_slots_account and made a start scan every slot the
-- account ever had.

CREATE TABLE stream_slots_rebuilt (
    id           TEXT PRIMARY KEY,                    -- str_...
    account_id   TEXT NOT NULL,
    device_id    TEXT NOT NULL,
    profile_id   TEXT NOT NULL,
    network      TEXT NOT NULL,
    decision_id  TEXT NOT NULL,
    started_at   INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    ended_at     INTEGER,
    end_reason   TEXT CHECK (end_reason = 'stopped' OR end_reason = 'heartbeat_timeout'
                             OR end_reason = 'replaced' OR end_reason = 'revoked')
);
INSERT INTO stream_slots_rebuilt (id, account_id, device_id, profile_id, network, decision_id,
                                  started_at, heartbeat_at, expires_at, ended_at, end_reason)
SELECT id, account_id, device_id, profile_id, network, decision_id,
       started_at, heartbeat_at, expires_at, ended_at, end_reason FROM stream_slots;
DROP TABLE stream_slots;
ALTER TABLE stream_slots_rebuilt RENAME TO stream_slots;
CREATE INDEX stream_slots_live ON stream_slots (account_id, ended_at, expires_at);
CREATE INDEX stream_slots_account ON stream_slots (account_id, started_at);
CREATE INDEX stream_slots_started ON stream_slots (started_at);

CREATE TABLE playback_decisions_rebuilt (
    id           TEXT PRIMARY KEY,                    -- dec_...
    account_id   TEXT NOT NULL,
    device_id    TEXT NOT NULL,
    profile_id   TEXT,
    network      TEXT,
    outcome      TEXT NOT NULL CHECK (outcome = 'allowed' OR outcome = 'stream_limit_reached'
                     OR outcome = 'verification_required' OR outcome = 'travel_limit_reached'
                     OR outcome = 'payment_required' OR outcome = 'plan_not_available_on_device'
                     OR outcome = 'profile_not_allowed'),
    enforced     INTEGER NOT NULL CHECK (enforced IN (0, 1)), -- 0: enforcement off, recorded only
    reasons      TEXT NOT NULL,                       -- JSON array of reason codes
    inputs       TEXT NOT NULL,                       -- JSON object
    slot_id      TEXT,
    challenge_id TEXT,
    created_at   INTEGER NOT NULL
);
INSERT INTO playback_decisions_rebuilt (id, account_id, device_id, profile_id, network, outcome,
                                        enforced, reasons, inputs, slot_id, challenge_id, created_at)
SELECT id, account_id, device_id, profile_id, network, outcome,
       enforced, reasons, inputs, slot_id, challenge_id, created_at FROM playback_decisions;
DROP TABLE playback_decisions;
ALTER TABLE playback_decisions_rebuilt RENAME TO playback_decisions;
CREATE INDEX playback_decisions_account ON playback_decisions (account_id, created_at);
CREATE INDEX playback_decisions_created ON playback_decisions (created_at);
