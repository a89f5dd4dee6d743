/*
 * billing.h - the billing area's contract: the catalog of plans and
 * regional prices, payment methods, subscriptions with plan changes and
 * proration, invoices, payments and entitlements.
 *
 * Every function here is domain code over a database handle: no HTTP.
 * Functions that change state run one write transaction each (db_transaction)
 * and write their events in it; functions that only read do not need one.
 * The HTTP adapter is billing/billing_http.c; the rules are written out, with
 * worked examples the tests check, in docs/billing.md.
 *
 * What stays true:
 *  - Money is integer minor units (core/money.h); no floating point anywhere
 *    under billing/ (scripts/lint-money).  Every proration and tax amount is
 *    rounded once, half away from zero, by money_scale() or the tax helpers.
 *  - An account has at most one subscription that is not `ended`.
 *  - A subscription's state changes only along the rows of the transition
 *    table (bill_transition); anything else is ERR_INVALID_STATE.
 *  - An invoice gets its number when it is finalized, from a per-year counter
 *    incremented in the same transaction: committed numbers are 1..N per year
 *    with no gap and no duplicate, void invoices included.
 *  - At most one plan-period invoice exists per (subscription, period start):
 *    the key a billing run renews by, exactly once.
 *  - Every charge attempt is a payment_attempts row, successful or not.
 */
#ifndef HEARTH_BILLING_BILLING_H
#define HEARTH_BILLING_BILLING_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/db.h"
#include "core/errors.h"
#include "core/ids.h"
#include "core/money.h"

#define BILL_CODE_MAX 32	/* plan code: [a-z0-9_], 1..32 bytes */
#define BILL_NAME_MAX 64	/* plan name */
#define BILL_TAX_NAME_MAX 24	/* "VAT", "sales tax", "consumption tax" */
#define BILL_PLANS_MAX 16	/* plans in one catalog */
#define BILL_COUNTRIES_MAX 250	/* countries in one catalog */
#define BILL_PAYMENT_METHODS_MAX 10 /* attached payment methods per account */
#define BILL_FAILURE_CODE_MAX 32

/* Device types a plan may play on, as bits. */
enum bill_device {
	BILL_DEVICE_TV = 1u << 0,
	BILL_DEVICE_WEB = 1u << 1,
	BILL_DEVICE_PHONE = 1u << 2,
	BILL_DEVICE_TABLET = 1u << 3,
	BILL_DEVICE_CONSOLE = 1u << 4,
};
#define BILL_DEVICE_COUNT 5

/* The name of device bit number `i` (0..BILL_DEVICE_COUNT-1): "tv", "web"... */
const char *bill_device_name(int i);

/* ---- catalog ---------------------------------------------------------------- */

struct bill_plan {
	char code[BILL_CODE_MAX + 1];
	char name[BILL_NAME_MAX + 1];
	int max_streams;		/* concurrent streams */
	char resolution[4];		/* SD, HD, FHD or UHD */
	int download_devices;
	int extra_member_slots;
	bool has_ads;
	unsigned device_types;		/* enum bill_device bits */
};

/* A price per monthly period and how tax applies to it. */
struct bill_price {
	struct money amount;
	bool tax_inclusive;		/* the amount contains the tax (VAT style) */
	int32_t tax_rate_bps;		/* 2000 = 20 % */
	char tax_name[BILL_TAX_NAME_MAX + 1];
	int64_t effective_from;
};

/* A plan as sold in one country. */
struct bill_offer {
	struct bill_plan plan;
	struct bill_price price;
	bool has_extra_member_price;	/* the plan has slots and the country prices them */
	struct money extra_member_price;
};

struct bill_offers {
	int64_t catalog_version;
	char country[3];
	size_t count;
	struct bill_offer items[BILL_PLANS_MAX];	/* in catalog order */
};

struct bill_country {
	char code[3];
	char currency[4];
};

/*
 * Validate the catalog JSON `json_text` (format: docs/billing.md, "The
 * catalog format") and store it as a new catalog version, which becomes the
 * current one.  Importing a document identical to the current version stores
 * nothing and gives that version back (so a retried import is harmless).
 *   source   "default" or "import", recorded with the version.
 *   errors   on ERR_VALIDATION receives a new array (caller owns) of
 *            {field, code, message}, one per bad field, `field` being the
 *            path in the document ("countries.JP.prices.premium"); NULL on
 *            success.  May be NULL when the caller does not want them.
 *   version  receives the version number on success.
 *   created  (may be NULL) true when a new version was stored.
 * Returns ERR_OK, ERR_VALIDATION, or a database error.
 */
enum err bill_catalog_import(struct db *db, const char *json_text, const char *source,
			     json_t **errors, int64_t *version, bool *created);

/* Load the embedded default catalog (data/catalog.json) when the database
 * has no catalog yet; do nothing otherwise.  Called by hearthd after
 * migrations.  *version (may be NULL) receives the current version. */
enum err bill_catalog_ensure(struct db *db, int64_t *version);

/* The plans sold in `country` (upper-case alpha-2) at time `at`, from the
 * current catalog.  ERR_COUNTRY_NOT_SUPPORTED when nothing is sold there;
 * ERR_NOT_FOUND when there is no catalog at all. */
enum err bill_offers_for_country(struct db *db, const char *country, int64_t at,
				 struct bill_offers *out);

/* A number that changes whenever this process imports a new catalog
 * version, so a reader may keep what it derived from the catalog while the
 * number stays the same. */
uint64_t bill_catalog_generation(void);

/* The first time after `at` at which a price of `country` in catalog
 * `version` takes effect (a later effective_from), or INT64_MAX. */
enum err bill_offers_next_change(struct db *db, const char *country, int64_t version, int64_t at,
				 int64_t *next);

/* The countries of the current catalog in code order: at most `cap` into
 * `out`, *n gets how many.  */
enum err bill_catalog_countries(struct db *db, struct bill_country *out, size_t cap, size_t *n);

/* ---- payment methods ------------------------------------------------------- */

struct bill_payment_method {
	char id[IDS_MAX];		/* pm_... */
	char brand[16];
	char last4[5];
	int exp_month;
	int exp_year;
	bool is_default;
	int64_t created_at;
};

/* Attach the provider token `token` to `account_id`.  The first method of an
 * account becomes its default.  ERR_NOT_FOUND when the provider does not know
 * the token; ERR_CONFLICT at BILL_PAYMENT_METHODS_MAX methods. */
enum err bill_pm_attach(struct db *db, const char *account_id, const char *token,
			struct bill_payment_method *out);

/* The account's attached methods, oldest first: at most `cap`, *n gets how many. */
enum err bill_pm_list(struct db *db, const char *account_id, struct bill_payment_method *out,
		      size_t cap, size_t *n);

/* Make `pm_id` the account's default; ERR_NOT_FOUND when it is not one of
 * the account's attached methods. */
enum err bill_pm_set_default(struct db *db, const char *account_id, const char *pm_id,
			     struct bill_payment_method *out);

/* Detach `pm_id`.  When it was the default, the most recently attached other
 * method becomes the default.  ERR_NOT_FOUND when not attached to the
 * account; ERR_INVALID_STATE when it is the last method and the account has
 * a subscription that is not ended (it must stay chargeable). */
enum err bill_pm_remove(struct db *db, const char *account_id, const char *pm_id);

/* ---- subscriptions ---------------------------------------------------------- */

enum bill_state { BILL_ACTIVE, BILL_PAST_DUE, BILL_ON_HOLD, BILL_CANCELED, BILL_ENDED };
#define BILL_STATE_COUNT 5

/* What may happen to a subscription.  The transition table (subscription.c)
 * says, for each state, which of these are allowed and where they lead. */
enum bill_event {
	BILL_EV_CANCEL,			/* member cancels */
	BILL_EV_RESUME,			/* member withdraws a cancellation */
	BILL_EV_CHANGE_PLAN,		/* upgrade now, or schedule/withdraw a downgrade */
	BILL_EV_RENEW,			/* period ended, renewal paid (issue 7) */
	BILL_EV_RENEWAL_FAILED,		/* period ended, renewal charge failed */
	BILL_EV_RETRY_FAILED,		/* a dunning retry failed, retries remain */
	BILL_EV_PAYMENT_RECOVERED,	/* a retry or a new payment method paid */
	BILL_EV_RETRIES_EXHAUSTED,	/* the last retry failed: access stops */
	BILL_EV_EXPIRE,			/* a canceled subscription reached its period end */
	BILL_EV_HOLD_EXPIRED,		/* on hold for too long */
	BILL_EV_END_NOW,		/* ended at once (staff, account erasure) */
};
#define BILL_EVENT_COUNT 11

/* "active", "past_due", ...; and the reverse (-1 when unknown). */
const char *bill_state_name(enum bill_state s);
int bill_state_parse(const char *s);
/* "cancel", "resume", ... */
const char *bill_event_name(enum bill_event ev);

/* The state `ev` leads to from `from`: ERR_OK with *to set, or
 * ERR_INVALID_STATE when the table has no such row. */
enum err bill_transition(enum bill_state from, enum bill_event ev, enum bill_state *to);

struct bill_subscription {
	char id[IDS_MAX];		/* sub_... */
	char account_id[IDS_MAX];
	enum bill_state state;
	struct bill_plan plan;		/* features, from the subscription's catalog version */
	int64_t catalog_version;
	char country[3];
	struct bill_price price;	/* the snapshot the member pays per period */
	int64_t billing_anchor;
	int64_t period_index;
	int64_t current_period_start;
	int64_t current_period_end;
	bool cancel_at_period_end;
	int64_t canceled_at;		/* 0 when not canceled */
	int64_t ended_at;		/* 0 when not ended */
	bool has_scheduled_change;
	char scheduled_plan_code[BILL_CODE_MAX + 1];
	struct money scheduled_price;	/* what the scheduled plan costs now */
	int64_t scheduled_change_at;	/* = current_period_end */
	char latest_invoice_id[IDS_MAX];
	int64_t created_at;
};

/* The outcome of a charge attempt made by a call. */
struct bill_payment_outcome {
	bool attempted;			/* a charge was tried (false: nothing to charge) */
	bool succeeded;
	char invoice_id[IDS_MAX];	/* the invoice made by the call, "" if none */
	char attempt_id[IDS_MAX];	/* pay_..., "" if no attempt */
	char failure_code[BILL_FAILURE_CODE_MAX]; /* "card_declined", ... */
	bool hard_decline;
};

struct bill_subscribe_params {
	const char *account_id;
	const char *country;		/* the account's country: prices come from it */
	const char *plan_code;
	const char *payment_method_id;	/* NULL: the account's default */
};

/*
 * Subscribe `p->account_id` to `p->plan_code` at today's price in
 * `p->country`: the first invoice is finalized and charged at once.
 * The period is monthly, anchored at now (docs/billing.md, "Periods").
 *   out  the new subscription on ERR_OK.
 *   pay  what happened to the charge (always filled when an invoice was made).
 * Returns ERR_OK (active); ERR_PAYMENT_FAILED when the charge was declined:
 * the invoice is void, the attempt recorded, and no subscription exists;
 * ERR_UNKNOWN_PLAN; ERR_PLAN_NOT_AVAILABLE_IN_REGION;
 * ERR_COUNTRY_NOT_SUPPORTED; ERR_SUBSCRIPTION_EXISTS when a subscription that
 * is not ended exists; ERR_NOT_FOUND when `payment_method_id` is not one of
 * the account's; ERR_PAYMENT_REQUIRED when the account has no payment method.
 */
enum err bill_subscribe(struct db *db, const struct bill_subscribe_params *p,
			struct bill_subscription *out, struct bill_payment_outcome *pay);

/* The account's subscription that is not ended, else its most recent ended
 * one; ERR_NOT_FOUND when it never had one. */
enum err bill_subscription_get(struct db *db, const char *account_id, struct bill_subscription *out);

/* What bill_change_plan() did. */
enum bill_change_kind {
	BILL_CHANGE_NONE,		/* already on that plan, nothing scheduled */
	BILL_CHANGE_UPGRADED,		/* applied now, prorated invoice charged */
	BILL_CHANGE_SCHEDULED,		/* downgrade at period end */
	BILL_CHANGE_WITHDRAWN,		/* back to the current plan: schedule removed */
};

/*
 * Change the plan of the account's active subscription.  A plan whose price
 * is higher than the current one (same country, so same currency and the
 * same period: a higher price per day) is an upgrade: it applies now, with
 * a proration credit for the unused time of the old price and a proration
 * charge for the rest of the period at the new price, on one invoice charged
 * at once.  Any other plan (cheaper or the same price) is scheduled for the
 * end of the period.  The current plan withdraws a scheduled change.
 *   kind  what was done.   pay  the charge of an upgrade.
 * Returns ERR_OK; ERR_NOT_FOUND (no subscription); ERR_INVALID_STATE
 * (not active); ERR_UNKNOWN_PLAN; ERR_PLAN_NOT_AVAILABLE_IN_REGION;
 * ERR_PAYMENT_FAILED (upgrade declined: invoice void, nothing changed);
 * ERR_PAYMENT_REQUIRED (no payment method).
 */
enum err bill_change_plan(struct db *db, const char *account_id, const char *plan_code,
			  struct bill_subscription *out, enum bill_change_kind *kind,
			  struct bill_payment_outcome *pay);

/* Withdraw a scheduled downgrade.  ERR_NOT_FOUND when there is no
 * subscription or nothing scheduled; ERR_INVALID_STATE when not active. */
enum err bill_cancel_scheduled_change(struct db *db, const char *account_id,
				      struct bill_subscription *out);

/* Cancel: an active subscription stays usable until its period end and is
 * then ended (state canceled); a past_due or on_hold one ends now (nothing
 * paid is left to use).  A scheduled downgrade is dropped.
 * ERR_NOT_FOUND or ERR_INVALID_STATE. */
enum err bill_cancel(struct db *db, const char *account_id, struct bill_subscription *out);

/* Resume a canceled subscription before its period ends: back to active.
 * ERR_NOT_FOUND or ERR_INVALID_STATE (not canceled, or the period is over). */
enum err bill_resume(struct db *db, const char *account_id, struct bill_subscription *out);

/* ---- entitlements ---------------------------------------------------------- */

struct bill_entitlements {
	bool playback_allowed;
	char reason[32];		/* why not: "no_subscription", "payment_required",
					 * "subscription_ended"; "" when allowed */
	char plan_code[BILL_CODE_MAX + 1]; /* "" without a subscription */
	enum bill_state state;		/* meaningful when plan_code is set */
	int max_streams;
	char resolution[4];		/* "" without a plan */
	int download_devices;
	bool has_ads;
	int extra_member_slots;
	unsigned device_types;		/* enum bill_device bits */
};

/* What `account_id` may do now.  Playback is allowed when the subscription
 * is active or past_due (grace while dunning retries), or canceled before its
 * period end; not when on_hold ("payment_required"), ended or canceled past
 * its period end ("subscription_ended") or without a subscription
 * ("no_subscription").  Features are zero when playback is not allowed. */
enum err bill_entitlements(struct db *db, const char *account_id, struct bill_entitlements *out);

/* ---- invoices ---------------------------------------------------------------- */

enum bill_line_kind {
	BILL_LINE_PLAN,
	BILL_LINE_ADDON,
	BILL_LINE_PRORATION_CREDIT,
	BILL_LINE_PRORATION_CHARGE,
	BILL_LINE_TAX,
};

/* "plan", "addon", "proration_credit", "proration_charge", "tax". */
const char *bill_line_kind_name(enum bill_line_kind k);

/*
 * An invoice as JSON, in the shape of the API (docs/api/billing.yaml,
 * schema Invoice), with its lines and payment attempts.  *out is a new
 * reference.  ERR_NOT_FOUND unless the invoice belongs to `account_id`.
 */
enum err bill_invoice_json(struct db *db, const char *account_id, const char *invoice_id,
			   json_t **out);

/* A page of the account's invoices, newest first, as an array of Invoice
 * JSON objects (*out, new reference) of at most `limit`, after the invoice
 * `starting_after` (NULL: from the newest).  *has_more tells whether more
 * follow.  ERR_NOT_FOUND when `starting_after` is not one of the account's. */
enum err bill_invoice_list(struct db *db, const char *account_id, int64_t limit,
			   const char *starting_after, json_t **out, bool *has_more);

/* A printable HTML receipt of the invoice (every text escaped); *html is
 * malloc'ed (caller frees), *len its length.  ERR_NOT_FOUND as above. */
enum err bill_invoice_receipt_html(struct db *db, const char *account_id, const char *invoice_id,
				   char **html, size_t *len);

/* ---- add-ons (addons.c) ----------------------------------------------------- */

/* An add-on on a subscription: today only "extra_member" (the extra-member
 * slot of docs/households.md), priced per country and plan tier (ads or
 * ad-free) by the catalog.  Its price is a snapshot taken when it was bought. */
struct bill_addon {
	char id[IDS_MAX];		/* add_... */
	char subscription_id[IDS_MAX];
	char addon[16];			/* "extra_member" */
	char reference[IDS_MAX];	/* what it pays for, e.g. xm_... */
	struct money price;		/* per period */
	bool tax_inclusive;
	int32_t tax_rate_bps;
	char invoice_id[IDS_MAX];	/* the prorated first charge */
	int64_t started_at;
	int64_t ends_at;		/* 0 while it renews */
};

/*
 * Buy add-on `addon` for the active subscription of `account_id`, in the
 * CALLER'S transaction (so what it pays for is written with it): an invoice
 * (billing reason subscription_update) with one `addon` line for the rest of
 * the current period, the price scaled by remaining / period seconds with
 * money_scale(), finalized and charged at once to the default payment
 * method.  The add-on then renews with the subscription (see
 * bill_addon_renewal_lines in billing_int.h) until bill_addon_remove().
 *   reference  what it pays for (stored, may be NULL).
 *   out        the add-on on ERR_OK.   pay  the charge.
 * Returns ERR_OK; ERR_NOT_FOUND (no subscription); ERR_INVALID_STATE (not
 * active); ERR_EXTRA_MEMBERS_NOT_IN_PLAN (the plan has no slots, or the
 * country no add-on price); ERR_PAYMENT_REQUIRED (no payment method);
 * ERR_PAYMENT_FAILED when the charge was declined: the void invoice and the
 * attempt are written and should be committed (return ERR_OK from the
 * transaction function and report the decline after it).
 */
enum err bill_addon_add(struct db *db, const char *account_id, const char *addon,
			const char *reference, struct bill_addon *out, struct bill_payment_outcome *pay);

/* End add-on `addon_id` of `account_id` at the end of the current period
 * (paid time is not refunded), in the caller's transaction; *ends_at gets
 * the end.  ERR_NOT_FOUND when it is not the account's; an add-on already
 * ending keeps its end. */
enum err bill_addon_remove(struct db *db, const char *account_id, const char *addon_id,
			   int64_t *ends_at);

/* Add-on `addon_id` of `account_id`: ERR_OK or ERR_NOT_FOUND. */
enum err bill_addon_get(struct db *db, const char *account_id, const char *addon_id,
			struct bill_addon *out);

/* ---- periods and proration (pure) ---------------------------------------- */

/*
 * `t` moved by `months` calendar months, keeping the time of day and the
 * day of month of `anchor_day_from`; when the target month is shorter, the
 * last day of that month.  bill_add_months(Jan 31, 1) is Feb 28 (or 29),
 * bill_add_months(Jan 31, 2) is Mar 31: every period is computed from the
 * anchor, never from the previous period, so a short month never shortens
 * the ones after it.
 */
int64_t bill_add_months(int64_t anchor, int64_t months);

/* Period `n` (0 = the first) of a subscription anchored at `anchor`:
 * [bill_add_months(anchor, n), bill_add_months(anchor, n + 1)). */
void bill_period_bounds(int64_t anchor, int64_t n, int64_t *start, int64_t *end);

struct bill_proration {
	int64_t remaining;		/* seconds from `at` to the period end */
	int64_t period_seconds;
	struct money credit;		/* -(old * remaining / period), <= 0 */
	struct money charge;		/* new * remaining / period, >= 0 */
};

/* The proration of a change at `at` in the period [start, end): `at` is
 * clamped to the period.  Each amount is rounded by money_scale().
 * ERR_CURRENCY_MISMATCH; ERR_INTERNAL when end <= start. */
enum err bill_prorate(const struct money *old_price, const struct money *new_price, int64_t start,
		      int64_t end, int64_t at, struct bill_proration *out);

/* The tax of one invoice line of `amount` under `price`'s tax rule: the tax
 * contained when inclusive, the tax to add when exclusive. */
enum err bill_line_tax(const struct money *amount, bool tax_inclusive, int32_t tax_rate_bps,
		       struct money *tax);

/* A tax note for display: "includes VAT 20%", "plus sales tax 8.25%",
 * "no tax" (rate 0).  Returns ERR_BUFFER_TOO_SMALL when it does not fit. */
enum err bill_tax_note(bool inclusive, int32_t bps, const char *tax_name, char *buf, size_t cap);

/* ---- HTTP ---------------------------------------------------------------- */

/* Register the billing routes (/v1/plans, /v1/payment-methods,
 * /v1/subscription, /v1/me/entitlements, /v1/invoices). */
void billing_http_register(void);

/* ---- support-staff tools (support.c) ---- */

/* The account an invoice number ("HEA-2027-000123") belongs to: ERR_OK with
 * `account_id` (IDS_MAX bytes), or ERR_NOT_FOUND. */
enum err bill_account_by_invoice_number(struct db *db, const char *number, char *account_id);

/* Erase the card details of every payment method of `account_id` (brand,
 * last four digits, expiry, provider token) and detach them, for a member's
 * erasure; the rows stay because old payment attempts refer to them.  A live
 * subscription can then no longer be charged and ends through dunning.
 * Inside the caller's transaction. */
enum err bill_erase_payment_methods(struct db *db, const char *account_id);

#endif
