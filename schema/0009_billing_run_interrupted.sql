-- A billing run left 'running' by a process that died (SIGKILL, power loss)
-- is marked 'interrupted' by the next hearthd to start (billing/renewal.c,
-- bill_run_mark_interrupted).  To tell a dead process's run from one another
-- live process is running, a run in status 'running' records who runs it:
-- `runner`, the process identity of core/procid.h.  SQLite cannot change a
-- CHECK constraint in place, so the table is rebuilt (nothing references it).
CREATE TABLE billing_runs_new (
    id          TEXT PRIMARY KEY,                       -- brun_...
    started_by  TEXT NOT NULL,                          -- 'scheduler', 'clock', 'tool' or a staff id
    until_at    INTEGER NOT NULL,                       -- renews what fell due at or before this time
    status      TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'interrupted')),
    total       INTEGER NOT NULL DEFAULT 0,             -- work found due (grows when a step makes more due)
    processed   INTEGER NOT NULL DEFAULT 0,             -- steps taken (renewals, retries, expiries)
    renewed     INTEGER NOT NULL DEFAULT 0,             -- renewals paid
    failed      INTEGER NOT NULL DEFAULT 0,             -- charges declined (renewals and retries)
    recovered   INTEGER NOT NULL DEFAULT 0,             -- retries that paid
    ended       INTEGER NOT NULL DEFAULT 0,             -- subscriptions ended (canceled, hold expired, consent missing)
    errors      INTEGER NOT NULL DEFAULT 0,             -- steps rolled back by an unexpected error (logged)
    error       TEXT,                                   -- why a failed or interrupted run stopped
    created_at  INTEGER NOT NULL,
    started_at  INTEGER,
    finished_at INTEGER,
    runner      TEXT                                    -- process running it (core/procid.h); NULL before 0009
);
INSERT INTO billing_runs_new (id, started_by, until_at, status, total, processed, renewed, failed, recovered,
                              ended, errors, error, created_at, started_at, finished_at)
    SELECT id, started_by, until_at, status, total, processed, renewed, failed, recovered,
           ended, errors, error, created_at, started_at, finished_at FROM billing_runs;
DROP TABLE billing_runs;
ALTER TABLE billing_runs_new RENAME TO billing_runs;
CREATE INDEX billing_runs_status ON billing_runs (status, created_at);
