-- Renewals (issue 7): billing runs, dunning, scheduled price changes,
-- account credit and refunds as credit notes.  (Add-ons on a subscription
-- are 0008's subscription_addons, billed at renewal by billing/addons.c.)
-- Owner: billing/.  The rules are in docs/billing.md ("Renewals" onwards).
--
-- Money columns are integers in the currency's minor units next to an
-- ISO 4217 code; times are epoch seconds (UTC), as in 0005.

-- ---- dunning --------------------------------------------------------------
-- 0005 already has failed_payments, next_retry_at and on_hold_since.
-- dunning_since: the due time of the renewal whose charge failed (the
-- unpaid period's start); every retry is scheduled from it.
-- dunning_hard: the last failure was a hard decline, so scheduled retries
-- do not charge the same method again (they only count down to on_hold).
ALTER TABLE subscriptions ADD COLUMN dunning_since INTEGER;
ALTER TABLE subscriptions ADD COLUMN dunning_hard INTEGER NOT NULL DEFAULT 0
    CHECK (dunning_hard IN (0, 1));

-- The billing run's three work lists, each in the order the run walks it
-- (keyset pagination on (time, id)).  The WHERE clauses are repeated
-- verbatim by billing/renewal.c so the planner can use these partial indexes.
CREATE INDEX subscriptions_renewal_due ON subscriptions (current_period_end, id)
    WHERE state IN ('active', 'canceled');
CREATE INDEX subscriptions_retry_due ON subscriptions (next_retry_at, id)
    WHERE state = 'past_due';
CREATE INDEX subscriptions_hold_due ON subscriptions (on_hold_since, id)
    WHERE state = 'on_hold';
-- These replace 0005's subscriptions_due (current_period_end of every live
-- subscription), which nothing else reads: one index fewer to maintain on
-- each of the million updates of a billing run.
DROP INDEX subscriptions_due;
-- Who a price change of (plan, country) must be told about.
CREATE INDEX subscriptions_plan_country ON subscriptions (plan_code, country, id)
    WHERE state <> 'ended';

-- ---- invoices: credit applied, refunds -------------------------------------
-- What a charge takes from the card is total - credit_applied (account
-- credit pays first).  amount_refunded sums the invoice's credit notes.
ALTER TABLE invoices ADD COLUMN credit_applied INTEGER NOT NULL DEFAULT 0
    CHECK (credit_applied >= 0);
ALTER TABLE invoices ADD COLUMN amount_refunded INTEGER NOT NULL DEFAULT 0
    CHECK (amount_refunded >= 0);

-- ---- billing runs ------------------------------------------------------------
-- One row per run: who started it, up to what time it renews, and its
-- progress, updated in the same transaction as each batch it commits.
CREATE TABLE billing_runs (
    id          TEXT PRIMARY KEY,                       -- brun_...
    started_by  TEXT NOT NULL,                          -- 'scheduler', 'clock', 'tool' or a staff id
    until_at    INTEGER NOT NULL,                       -- renews what fell due at or before this time
    status      TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    total       INTEGER NOT NULL DEFAULT 0,             -- work found due (grows when a step makes more due)
    processed   INTEGER NOT NULL DEFAULT 0,             -- steps taken (renewals, retries, expiries)
    renewed     INTEGER NOT NULL DEFAULT 0,             -- renewals paid
    failed      INTEGER NOT NULL DEFAULT 0,             -- charges declined (renewals and retries)
    recovered   INTEGER NOT NULL DEFAULT 0,             -- retries that paid
    ended       INTEGER NOT NULL DEFAULT 0,             -- subscriptions ended (canceled, hold expired, consent missing)
    errors      INTEGER NOT NULL DEFAULT 0,             -- steps rolled back by an unexpected error (logged)
    error       TEXT,                                   -- why a failed run stopped
    created_at  INTEGER NOT NULL,
    started_at  INTEGER,
    finished_at INTEGER
);
CREATE INDEX billing_runs_status ON billing_runs (status, created_at);

-- ---- price changes -------------------------------------------------------------
-- A scheduled price point for (plan, country).  New subscribers pay it from
-- effective_at (a price_points row with that effective_from is written with
-- it, and carried into later catalog versions); an existing subscriber from
-- the first renewal at or after max(effective_at, notified + notice_days,
-- effective_at + grandfather_months).
CREATE TABLE price_changes (
    id                 TEXT PRIMARY KEY,                -- prc_...
    plan_code          TEXT NOT NULL,
    country            TEXT NOT NULL,
    currency           TEXT NOT NULL,
    amount             INTEGER NOT NULL CHECK (amount >= 0),
    effective_at       INTEGER NOT NULL,
    notice_days        INTEGER NOT NULL CHECK (notice_days >= 0),
    grandfather_months INTEGER NOT NULL DEFAULT 0 CHECK (grandfather_months >= 0),
    created_by         TEXT NOT NULL,
    created_at         INTEGER NOT NULL,
    UNIQUE (plan_code, country, effective_at)
);

-- When each subscriber was told about a price change (a notification was
-- queued in the same transaction), and in consent countries when they
-- accepted it.  applied_at: the renewal that first charged it.
CREATE TABLE price_change_notices (
    subscription_id TEXT NOT NULL REFERENCES subscriptions (id),
    price_change_id TEXT NOT NULL REFERENCES price_changes (id),
    notified_at     INTEGER NOT NULL,
    accepted_at     INTEGER,
    applied_at      INTEGER,
    PRIMARY KEY (subscription_id, price_change_id)
);

-- Per-country settings of a catalog version (data/catalog.json
-- countries.XX.price_change_policy): 'notify' (default) or 'consent'.
CREATE TABLE country_policies (
    catalog_version     INTEGER NOT NULL REFERENCES catalog_versions (version),
    country             TEXT NOT NULL,
    price_change_policy TEXT NOT NULL CHECK (price_change_policy IN ('notify', 'consent')),
    PRIMARY KEY (catalog_version, country)
);

-- ---- account credit --------------------------------------------------------------
-- The balance per account and currency, and the ledger that explains it:
-- every change of a balance is one ledger row in the same transaction.
CREATE TABLE credit_balances (
    account_id TEXT NOT NULL REFERENCES accounts (id),
    currency   TEXT NOT NULL,
    balance    INTEGER NOT NULL CHECK (balance >= 0),
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, currency)
);

CREATE TABLE credit_ledger (
    id            TEXT PRIMARY KEY,                     -- crl_...
    account_id    TEXT NOT NULL REFERENCES accounts (id),
    currency      TEXT NOT NULL,
    amount        INTEGER NOT NULL,                     -- + granted, - applied to an invoice
    balance_after INTEGER NOT NULL CHECK (balance_after >= 0),
    kind          TEXT NOT NULL CHECK (kind IN ('grant', 'applied')),
    invoice_id    TEXT REFERENCES invoices (id),        -- the invoice credit was applied to
    reason        TEXT,
    created_by    TEXT NOT NULL,                        -- staff id, 'billing_run', ...
    created_at    INTEGER NOT NULL
);
CREATE INDEX credit_ledger_account ON credit_ledger (account_id, created_at);

-- ---- refunds: credit notes ---------------------------------------------------------
-- A refund of (part of) what a paid invoice charged, made through the
-- provider and recorded as a credit note with its own gapless number.
CREATE TABLE credit_notes (
    id                 TEXT PRIMARY KEY,                -- cn_...
    number             TEXT NOT NULL UNIQUE,            -- 'HEA-CN-2027-000001'
    invoice_id         TEXT NOT NULL REFERENCES invoices (id),
    account_id         TEXT NOT NULL REFERENCES accounts (id),
    currency           TEXT NOT NULL,
    amount             INTEGER NOT NULL CHECK (amount > 0),
    tax                INTEGER NOT NULL,                -- the tax part of amount (proportional)
    payment_attempt_id TEXT NOT NULL REFERENCES payment_attempts (id),
    provider           TEXT NOT NULL,
    provider_ref       TEXT NOT NULL,                   -- the provider's refund id
    reason             TEXT,
    created_by         TEXT NOT NULL,
    created_at         INTEGER NOT NULL
);
CREATE INDEX credit_notes_invoice ON credit_notes (invoice_id, created_at);

CREATE TABLE credit_note_counters (
    year       INTEGER PRIMARY KEY,
    last_value INTEGER NOT NULL
);
