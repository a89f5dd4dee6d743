-- Billing: the catalog (plans and regional prices), payment methods,
-- subscriptions, invoices and payment attempts.
-- Owner: billing/.  Other areas read billing only through billing/billing.h.
--
-- Money columns are integers in the currency's minor units next to an
-- ISO 4217 code (core/money.h).  Times are epoch seconds (UTC).

-- One row per imported catalog: the JSON as given, so any version can be
-- shown or re-imported exactly.  The current catalog is the highest version.
CREATE TABLE catalog_versions (
    version     INTEGER PRIMARY KEY,                  -- 1, 2, 3...
    source      TEXT NOT NULL,                        -- 'default' (first start) or 'import'
    checksum    TEXT NOT NULL,                        -- hex BLAKE2b-256 of the document
    document    TEXT NOT NULL,                        -- the catalog JSON as imported
    created_at  INTEGER NOT NULL
);

CREATE TABLE plans (
    catalog_version    INTEGER NOT NULL REFERENCES catalog_versions (version),
    code               TEXT NOT NULL,                 -- 'standard_with_ads', 'premium', ...
    name               TEXT NOT NULL,
    position           INTEGER NOT NULL,              -- display order, cheapest first
    max_streams        INTEGER NOT NULL CHECK (max_streams >= 1),
    resolution         TEXT NOT NULL CHECK (resolution IN ('SD', 'HD', 'FHD', 'UHD')),
    download_devices   INTEGER NOT NULL CHECK (download_devices >= 0),
    extra_member_slots INTEGER NOT NULL CHECK (extra_member_slots >= 0),
    has_ads            INTEGER NOT NULL CHECK (has_ads IN (0, 1)),
    device_types       TEXT NOT NULL,                 -- comma-separated: 'tv,web,phone,tablet,console'
    PRIMARY KEY (catalog_version, code)
);

-- A plan is sold in a country exactly when it has a price point there.
-- New price points with a later effective_from (issue 7: scheduled price
-- changes) sit next to the old ones; the price at time t is the one with
-- the greatest effective_from <= t.
CREATE TABLE price_points (
    catalog_version INTEGER NOT NULL,
    plan_code       TEXT NOT NULL,
    country         TEXT NOT NULL,                    -- ISO 3166-1 alpha-2
    currency        TEXT NOT NULL,                    -- ISO 4217
    amount          INTEGER NOT NULL CHECK (amount >= 0),
    tax_inclusive   INTEGER NOT NULL CHECK (tax_inclusive IN (0, 1)),
    tax_rate_bps    INTEGER NOT NULL CHECK (tax_rate_bps BETWEEN 0 AND 10000),
    tax_name        TEXT NOT NULL,                    -- 'VAT', 'GST', 'sales tax', ...
    effective_from  INTEGER NOT NULL,
    PRIMARY KEY (catalog_version, plan_code, country, effective_from),
    FOREIGN KEY (catalog_version, plan_code) REFERENCES plans (catalog_version, code)
);
CREATE INDEX price_points_country ON price_points (catalog_version, country);

-- The extra-member add-on, per country and tier: 'ads' for ad-supported
-- plans, 'ad_free' for ad-free ones.
CREATE TABLE addon_prices (
    catalog_version INTEGER NOT NULL REFERENCES catalog_versions (version),
    addon           TEXT NOT NULL CHECK (addon IN ('extra_member')),
    country         TEXT NOT NULL,
    tier            TEXT NOT NULL CHECK (tier IN ('ads', 'ad_free')),
    currency        TEXT NOT NULL,
    amount          INTEGER NOT NULL CHECK (amount >= 0),
    tax_inclusive   INTEGER NOT NULL CHECK (tax_inclusive IN (0, 1)),
    tax_rate_bps    INTEGER NOT NULL CHECK (tax_rate_bps BETWEEN 0 AND 10000),
    effective_from  INTEGER NOT NULL,
    PRIMARY KEY (catalog_version, addon, country, tier, effective_from)
);

-- Tokenized payment methods only: the provider's token and what the
-- provider says about the card.  Never a card number.
CREATE TABLE payment_methods (
    id             TEXT PRIMARY KEY,                  -- pm_...
    account_id     TEXT NOT NULL REFERENCES accounts (id),
    seq            INTEGER NOT NULL,                  -- 1, 2, ... per account: attach order
    provider       TEXT NOT NULL,                     -- 'sandbox'
    provider_token TEXT NOT NULL,                     -- the provider's reusable token
    brand          TEXT NOT NULL,                     -- 'visa', 'mastercard'
    last4          TEXT NOT NULL,
    exp_month      INTEGER NOT NULL,
    exp_year       INTEGER NOT NULL,
    is_default     INTEGER NOT NULL DEFAULT 0 CHECK (is_default IN (0, 1)),
    created_at     INTEGER NOT NULL,
    removed_at     INTEGER                            -- detached; kept for old attempts
);
CREATE UNIQUE INDEX payment_methods_account ON payment_methods (account_id, seq);
CREATE UNIQUE INDEX payment_methods_one_default ON payment_methods (account_id)
    WHERE is_default = 1 AND removed_at IS NULL;

-- One live subscription per account (every state but 'ended').
-- The price is a snapshot taken when the plan was chosen, so a catalog
-- change never alters what a member pays until a renewal applies it.
-- Periods are monthly from billing_anchor: period n runs from
-- anchor + n months to anchor + n+1 months (docs/billing.md, "Periods").
CREATE TABLE subscriptions (
    id                   TEXT PRIMARY KEY,            -- sub_...
    account_id           TEXT NOT NULL REFERENCES accounts (id),
    state                TEXT NOT NULL
                         CHECK (state IN ('active', 'past_due', 'on_hold', 'canceled', 'ended')),
    plan_code            TEXT NOT NULL,
    catalog_version      INTEGER NOT NULL REFERENCES catalog_versions (version),
    country              TEXT NOT NULL,
    currency             TEXT NOT NULL,
    amount               INTEGER NOT NULL,            -- price per period, minor units
    tax_inclusive        INTEGER NOT NULL CHECK (tax_inclusive IN (0, 1)),
    tax_rate_bps         INTEGER NOT NULL,
    tax_name             TEXT NOT NULL,
    billing_anchor       INTEGER NOT NULL,            -- subscribe time: the day of month and time of day of every period start
    period_index         INTEGER NOT NULL,            -- n of the current period
    current_period_start INTEGER NOT NULL,
    current_period_end   INTEGER NOT NULL,
    cancel_at_period_end INTEGER NOT NULL DEFAULT 0 CHECK (cancel_at_period_end IN (0, 1)),
    canceled_at          INTEGER,
    ended_at             INTEGER,
    scheduled_plan_code  TEXT,                        -- a downgrade taking effect at current_period_end
    scheduled_at         INTEGER,                     -- when it was asked for
    -- Dunning (issue 7): how many renewal charges failed in a row, when
    -- the next retry is due, since when access is on hold.
    failed_payments      INTEGER NOT NULL DEFAULT 0,
    next_retry_at        INTEGER,
    on_hold_since        INTEGER,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL
);
CREATE UNIQUE INDEX subscriptions_one_live ON subscriptions (account_id) WHERE state <> 'ended';
CREATE INDEX subscriptions_account ON subscriptions (account_id, created_at);
-- The billing run's work list: subscriptions whose period has ended.
CREATE INDEX subscriptions_due ON subscriptions (current_period_end) WHERE state <> 'ended';

-- Gapless invoice numbers: one counter row per year, incremented in the
-- same transaction that finalizes the invoice, so a rolled-back
-- finalization gives its number back and committed numbers have no holes.
CREATE TABLE invoice_counters (
    year       INTEGER PRIMARY KEY,
    last_value INTEGER NOT NULL
);

CREATE TABLE invoices (
    id              TEXT PRIMARY KEY,                 -- inv_...
    account_id      TEXT NOT NULL REFERENCES accounts (id),
    subscription_id TEXT REFERENCES subscriptions (id), -- NULL when the first charge failed (no subscription was made)
    number          TEXT UNIQUE,                      -- 'HEA-2027-000123', assigned at finalization; NULL while draft
    billing_reason  TEXT NOT NULL
                    CHECK (billing_reason IN ('subscription_create', 'subscription_cycle', 'subscription_update')),
    status          TEXT NOT NULL CHECK (status IN ('draft', 'open', 'paid', 'void', 'uncollectible')),
    currency        TEXT NOT NULL,
    tax_inclusive   INTEGER NOT NULL CHECK (tax_inclusive IN (0, 1)),
    tax_rate_bps    INTEGER NOT NULL,
    tax_name        TEXT NOT NULL,
    subtotal        INTEGER NOT NULL,                 -- sum of the non-tax lines
    tax             INTEGER NOT NULL,                 -- contained (inclusive) or added (exclusive)
    total           INTEGER NOT NULL,                 -- what is charged
    period_start    INTEGER NOT NULL,
    period_end      INTEGER NOT NULL,
    plan_code       TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    finalized_at    INTEGER,
    paid_at         INTEGER,
    voided_at       INTEGER
);
CREATE INDEX invoices_account ON invoices (account_id, created_at, id);
-- Renewal key (issue 7): at most one plan-period invoice per subscription
-- and period, so a billing run that reruns after a crash, or two runs at
-- once, can never bill a period twice.
CREATE UNIQUE INDEX invoices_one_per_period ON invoices (subscription_id, period_start)
    WHERE billing_reason IN ('subscription_create', 'subscription_cycle');

CREATE TABLE invoice_lines (
    invoice_id   TEXT NOT NULL REFERENCES invoices (id),
    position     INTEGER NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('plan', 'addon', 'proration_credit', 'proration_charge', 'tax')),
    description  TEXT NOT NULL,
    plan_code    TEXT,
    amount       INTEGER NOT NULL,                    -- minor units; negative for credits
    tax_amount   INTEGER NOT NULL DEFAULT 0,          -- this line's tax (contained or added)
    period_start INTEGER NOT NULL,
    period_end   INTEGER NOT NULL,
    PRIMARY KEY (invoice_id, position)
);

-- Every charge attempt, successful or not.
CREATE TABLE payment_attempts (
    id                TEXT PRIMARY KEY,               -- pay_...
    invoice_id        TEXT NOT NULL REFERENCES invoices (id),
    account_id        TEXT NOT NULL REFERENCES accounts (id),
    payment_method_id TEXT NOT NULL REFERENCES payment_methods (id),
    amount            INTEGER NOT NULL,
    currency          TEXT NOT NULL,
    provider          TEXT NOT NULL,
    provider_ref      TEXT,                           -- the provider's charge id
    status            TEXT NOT NULL CHECK (status IN ('succeeded', 'failed')),
    failure_code      TEXT,                           -- 'card_declined', 'insufficient_funds', ...
    hard_decline      INTEGER NOT NULL DEFAULT 0 CHECK (hard_decline IN (0, 1)),
    created_at        INTEGER NOT NULL
);
CREATE INDEX payment_attempts_invoice ON payment_attempts (invoice_id, created_at);
CREATE INDEX payment_attempts_method ON payment_attempts (payment_method_id);
