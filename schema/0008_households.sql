-- Households (issue 8): device sightings, the household and its TVs,
-- verification challenges, travel access, stream slots, playback decisions
-- and extra members.  Owner: households/, except subscription_addons, which
-- billing/ owns (billing/addons.c) and households reaches only through
-- billing/billing.h.  Rules and defaults: docs/households.md.

-- Where each device was seen: one row per device, network (an IP prefix,
-- never a full address) and UTC day, written in batches from the counters
-- each hearthd keeps in memory (households/sightings.c), never one write
-- per request.
CREATE TABLE device_sightings (
    device_id  TEXT NOT NULL,                         -- dev_...
    account_id TEXT NOT NULL,                         -- acc_... the device signed in to
    network    TEXT NOT NULL,                         -- '203.0.113.0/24', '2001:db8:1200::/56'
    day        INTEGER NOT NULL,                      -- UTC day number: epoch seconds / 86400
    requests   INTEGER NOT NULL CHECK (requests >= 1),
    first_at   INTEGER NOT NULL,                      -- first request of the day from there
    last_at    INTEGER NOT NULL,                      -- last request of the day from there
    PRIMARY KEY (device_id, network, day)
);
CREATE INDEX device_sightings_account ON device_sightings (account_id, last_at);

-- One household per account.  'proposed': the first TV's network, taken
-- as the household until the owner confirms one; 'set': confirmed with a
-- code sent to the owner.  `network` is where it was proposed or set; the
-- networks in use are derived from it and from where household TVs were
-- seen since `set_at` (docs/households.md, "The household").
CREATE TABLE households (
    account_id   TEXT PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,                -- hh_...
    status       TEXT NOT NULL CHECK (status IN ('proposed', 'set')),
    network      TEXT NOT NULL,
    device_id    TEXT NOT NULL,                       -- the TV that proposed or set it
    set_at       INTEGER NOT NULL,                    -- start of the current household (move resets it)
    confirmed_at INTEGER,
    updated_at   INTEGER NOT NULL
);

-- The household's TVs: the one that proposed or set it, and every TV seen
-- on a household network since (written by the sightings flush).  A move
-- or a reset empties the list: the household starts afresh.
CREATE TABLE household_tvs (
    account_id TEXT NOT NULL,
    device_id  TEXT NOT NULL,
    joined_at  INTEGER NOT NULL,
    PRIMARY KEY (account_id, device_id)
);

-- Every set and move of a household, for the move limit and for staff.
CREATE TABLE household_moves (
    id           TEXT PRIMARY KEY,                    -- hhm_...
    account_id   TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('proposed', 'set', 'moved', 'reset')),
    from_network TEXT,
    to_network   TEXT,
    device_id    TEXT,
    actor        TEXT NOT NULL,                       -- 'member', 'system' or a staff id
    created_at   INTEGER NOT NULL
);
CREATE INDEX household_moves_account ON household_moves (account_id, created_at);

-- A code sent to the owner: to set or move the household from a TV
-- ('household'), or to give a device travel access ('travel').  Only the
-- keyed hash of the code is stored.
CREATE TABLE household_challenges (
    id           TEXT PRIMARY KEY,                    -- vch_...
    account_id   TEXT NOT NULL,
    device_id    TEXT NOT NULL,                       -- the device that asked
    kind         TEXT NOT NULL CHECK (kind IN ('household', 'travel')),
    network      TEXT NOT NULL,                       -- the device's network when asked
    code_hash    TEXT NOT NULL,
    channel      TEXT NOT NULL CHECK (channel IN ('email', 'sms')),
    destination  TEXT NOT NULL,                       -- masked: 'o***@example.com'
    attempts     INTEGER NOT NULL DEFAULT 0,          -- wrong codes entered
    sends        INTEGER NOT NULL DEFAULT 1,          -- codes sent (first + resends)
    last_sent_at INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    confirmed_at INTEGER
);
CREATE INDEX household_challenges_device ON household_challenges (device_id, created_at);
CREATE INDEX household_challenges_account ON household_challenges (account_id, created_at);

-- Temporary access for a device away from home.
CREATE TABLE travel_grants (
    id           TEXT PRIMARY KEY,                    -- trv_...
    account_id   TEXT NOT NULL,
    device_id    TEXT NOT NULL,
    source       TEXT NOT NULL CHECK (source IN ('verification', 'staff')),
    challenge_id TEXT,                                -- the confirmed challenge (verification)
    granted_by   TEXT,                                -- staff id (staff)
    granted_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);
CREATE INDEX travel_grants_device ON travel_grants (device_id, granted_at);

-- Stream slots: a slot is live while ended_at is NULL and expires_at (the
-- last heartbeat plus the heartbeat timeout) is in the future.  Counting
-- and inserting happen in one BEGIN IMMEDIATE transaction, so a plan's
-- stream cap holds under concurrent starts.
CREATE TABLE stream_slots (
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
    end_reason   TEXT CHECK (end_reason IN ('stopped', 'heartbeat_timeout', 'replaced', 'revoked'))
);
-- (account_id, ended_at, ...): "ended_at IS NULL" is an equality on the
-- index, so counting and freeing live slots reads live rows only, however
-- many ended ones an account has.
CREATE INDEX stream_slots_live ON stream_slots (account_id, ended_at, expires_at);
CREATE INDEX stream_slots_account ON stream_slots (account_id, started_at);

-- Every playback decision with its reasons and the inputs it was made
-- from, so it can be explained later to the member and to staff.
CREATE TABLE playback_decisions (
    id           TEXT PRIMARY KEY,                    -- dec_...
    account_id   TEXT NOT NULL,
    device_id    TEXT NOT NULL,
    profile_id   TEXT,
    network      TEXT,
    outcome      TEXT NOT NULL CHECK (outcome IN ('allowed', 'stream_limit_reached',
                     'verification_required', 'travel_limit_reached', 'payment_required',
                     'plan_not_available_on_device', 'profile_not_allowed')),
    enforced     INTEGER NOT NULL CHECK (enforced IN (0, 1)), -- 0: enforcement off, recorded only
    reasons      TEXT NOT NULL,                       -- JSON array of reason codes
    inputs       TEXT NOT NULL,                       -- JSON object
    slot_id      TEXT,
    challenge_id TEXT,
    created_at   INTEGER NOT NULL
);
CREATE INDEX playback_decisions_account ON playback_decisions (account_id, created_at);

-- Extra members: a paid slot of the owner's plan, an invitation to an
-- email address, and the extra member's own account once accepted.
CREATE TABLE extra_members (
    id                TEXT PRIMARY KEY,               -- xm_...
    owner_account_id  TEXT NOT NULL,
    email             TEXT NOT NULL,                  -- as invited
    email_norm        TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('invited', 'active', 'removed')),
    invite_hash       TEXT NOT NULL UNIQUE,           -- keyed hash of the invitation token
    invite_expires_at INTEGER NOT NULL,
    member_account_id TEXT UNIQUE,                    -- set on acceptance
    addon_id          TEXT NOT NULL,                  -- billing's add-on (subscription_addons.id)
    created_at        INTEGER NOT NULL,
    accepted_at       INTEGER,
    removed_at        INTEGER,
    ends_at           INTEGER                         -- access ends (period end after removal)
);
CREATE INDEX extra_members_owner ON extra_members (owner_account_id, created_at);

-- Billing's add-ons (owner: billing/addons.c): a priced extra on a
-- subscription, charged prorated when bought, renewed with the
-- subscription, ended at a period end.
CREATE TABLE subscription_addons (
    id              TEXT PRIMARY KEY,                 -- add_...
    account_id      TEXT NOT NULL,
    subscription_id TEXT NOT NULL,
    addon           TEXT NOT NULL CHECK (addon IN ('extra_member')),
    reference       TEXT,                             -- what it pays for (xm_...)
    currency        TEXT NOT NULL,
    amount          INTEGER NOT NULL CHECK (amount >= 0), -- per period, snapshot at purchase
    tax_inclusive   INTEGER NOT NULL CHECK (tax_inclusive IN (0, 1)),
    tax_rate_bps    INTEGER NOT NULL,
    invoice_id      TEXT NOT NULL,                    -- the prorated first charge
    started_at      INTEGER NOT NULL,
    ends_at         INTEGER,                          -- set on removal: the period end
    created_at      INTEGER NOT NULL
);
CREATE INDEX subscription_addons_subscription ON subscription_addons (subscription_id, started_at);
