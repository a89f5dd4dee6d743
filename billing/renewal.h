/*
 * renewal.h - the renewals part of the billing area's contract: the billing
 * run, retries and dunning, scheduled price changes, account credit,
 * refunds and subscription add-ons (issue 7).  billing.h is the rest.
 *
 * Domain code over a database handle, no HTTP.  Each function that changes
 * state runs its own write transaction(s) and writes its events (and the
 * notifications it owes) in them.  The rules, with the state diagram and
 * timings, are in docs/billing.md ("Renewals" onwards).
 *
 * What stays true:
 *  - A period is billed at most once: the renewal of (subscription, period
 *    start) inserts its invoice under the unique index of 0005 inside the
 *    transaction that charges it and advances the subscription, after
 *    re-reading the subscription under the write lock.  A rerun after a
 *    crash, or two runs at once, find the period already renewed.
 *  - A charge's idempotency key at the provider is derived from
 *    (subscription, period start, attempt ordinal), never random, so a
 *    renewal rolled back after the provider was called asks the provider
 *    with the same key when it is redone.
 *  - Scheduled work (renewals, retries, hold expiries) is computed from the
 *    time it fell due, not from when a run reached it: a late run, or the
 *    test clock jumping ahead, gives the same schedule as a punctual one.
 *  - An account's credit balance never goes below zero and every change of
 *    it is one credit_ledger row.
 *  - A refund never exceeds what the provider charged for the invoice less
 *    what was refunded before.
 */
#ifndef HEARTH_BILLING_RENEWAL_H
#define HEARTH_BILLING_RENEWAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "billing/billing.h"

/* ---- staff actions ------------------------------------------------------------ */

/*
 * Who does a staff action and how it is audited.  The admin HTTP adapter
 * fills `audit` with a function that writes the audit row (admin_audit);
 * the domain calls it inside the action's transaction, so the change and
 * its audit row commit together.  `audit` may be NULL (tests, tools).
 */
struct bill_actor {
	const char *id;			/* staff id, or "tool", "scheduler" */
	const char *reason;		/* why (X-Hearth-Reason); may be NULL */
	enum err (*audit)(struct db *db, const struct bill_actor *a, const char *action,
			  const char *target_type, const char *target_id, json_t *before,
			  json_t *after);	/* before/after are stolen */
	void *ctx;
};

/* ---- dunning settings ---------------------------------------------------------- */

#define BILL_RETRIES_MAX 16

struct bill_dunning_settings {
	int nretries;				/* 0..BILL_RETRIES_MAX */
	int64_t retry_after_s[BILL_RETRIES_MAX]; /* seconds after the failed renewal, increasing */
	int64_t hold_s;				/* on hold this long, then ended */
};

/* Retries after 1, 3, 5 and 7 days; ended after 30 days on hold. */
void bill_dunning_defaults(struct bill_dunning_settings *s);

/* Parse a retry schedule in days after the failed renewal ("1,3,5,7"; ""
 * for none): strictly increasing whole days from 1 to 60, at most
 * BILL_RETRIES_MAX.  Returns ERR_OK or ERR_INVALID_PARAMETER (s unchanged). */
enum err bill_dunning_parse_days(const char *csv, struct bill_dunning_settings *s);

/* Make `s` the process's schedule (copied).  Call at start, before runs. */
void bill_dunning_configure(const struct bill_dunning_settings *s);

/* The schedule in force. */
void bill_dunning_current(struct bill_dunning_settings *out);

/* The dunning state of a subscription, for GET /v1/subscription. */
struct bill_dunning {
	int failed_payments;		/* charges failed since the last paid period */
	int64_t since;			/* due time of the failed renewal; 0 when none */
	int64_t next_retry_at;		/* 0 when no retry is scheduled */
	bool next_retry_charges;	/* false after a hard decline: the step only counts down */
	int64_t on_hold_since;		/* 0 unless on_hold */
	int64_t ends_at;		/* on_hold: when the subscription ends; else 0 */
	char open_invoice_id[IDS_MAX];	/* the unpaid invoice, "" when none */
};

/* The dunning state of `subscription_id` (zeroes when it is not in dunning). */
enum err bill_dunning_get(struct db *db, const char *subscription_id, struct bill_dunning *out);

/*
 * Charge the account's default payment method at once for a subscription
 * in dunning (called after a payment method was attached or made the
 * default).  past_due: the open invoice is charged; paid -> active.
 * on_hold: a new period starts now (a new billing anchor: the member never
 * pays for days without access) and its invoice is charged; paid -> active.
 * Any other state: nothing (*pay says attempted = false).
 * Returns ERR_OK whether or not the charge succeeded (see *pay), or a
 * database error.
 */
enum err bill_dunning_retry_now(struct db *db, const char *account_id,
				struct bill_payment_outcome *pay);

/* ---- the billing run ---------------------------------------------------------------- */

/* A run is queued (staff asked), running, then succeeded or failed; or
 * interrupted when the process running it died before it finished (marked
 * by the next process to start: bill_run_mark_interrupted). */
enum bill_run_status {
	BILL_RUN_QUEUED,
	BILL_RUN_RUNNING,
	BILL_RUN_SUCCEEDED,
	BILL_RUN_FAILED,
	BILL_RUN_INTERRUPTED
};

/* "queued", "running", "succeeded", "failed", "interrupted". */
const char *bill_run_status_name(enum bill_run_status s);

struct bill_run_stats {
	char id[IDS_MAX];		/* brun_... */
	char started_by[IDS_MAX];
	enum bill_run_status status;
	int64_t until;
	int64_t total;			/* work found due; grows when a step makes more due */
	int64_t processed;		/* steps taken */
	int64_t renewed;		/* renewals paid */
	int64_t failed;			/* charges declined */
	int64_t recovered;		/* retries that paid */
	int64_t ended;			/* subscriptions ended */
	int64_t errors;			/* steps rolled back by an unexpected error */
	char error[96];			/* why a failed run stopped */
	int64_t created_at, started_at, finished_at;
};

/* Called after every committed batch (and once at the end) with the
 * progress so far; runs on the run's thread. */
typedef void (*bill_run_progress_fn)(const struct bill_run_stats *s, void *ctx);

struct bill_run_options {
	const char *started_by;		/* "scheduler", "clock", "tool" or a staff id */
	int64_t until;			/* renew what fell due at or before; 0 = now */
	int batch_size;			/* subscriptions per transaction; 0 = BILL_RUN_BATCH_DEFAULT */
	bill_run_progress_fn progress;	/* may be NULL */
	void *progress_ctx;
	bool (*should_stop)(void);	/* asked between batches; true stops the run
					 * (recorded failed: "stopped"); may be NULL */
};

#define BILL_RUN_BATCH_DEFAULT 500
#define BILL_RUN_BATCH_MAX 20000

/*
 * Run the billing run now: record it in billing_runs, then, in batches of
 * transactions, renew every active subscription whose period ended at or
 * before `until` (applying a scheduled downgrade, a price change and
 * add-ons; invoice, account credit, charge, next period, events,
 * notifications), end canceled ones at their period end, retry past-due
 * charges whose retry time came, put on hold those whose retries ran out,
 * and end those on hold too long.  A subscription whose next step also
 * falls due by `until` (the test clock jumped months) is taken again in the
 * next round, so the run stops only when nothing is due.
 *   out  the run's final figures (may be NULL).
 * Returns ERR_OK (per-subscription errors are counted in `errors`, logged
 * and leave that subscription untouched), or the error that stopped the run
 * (the run is then recorded as failed; what committed stays).
 */
enum err bill_run(struct db *db, const struct bill_run_options *o, struct bill_run_stats *out);

/* How many subscriptions a run up to `until` would find due now (renewals,
 * payment retries, holds that end): 0 means a run would do nothing, so the
 * scheduler does not start one (and records no empty run). */
enum err bill_run_due_count(struct db *db, int64_t until, int64_t *due);

/* Record a run to be executed later by the scheduler thread (a staff
 * request): status queued, started_by = actor->id, audited through
 * `actor` in the same transaction.  `until` 0 means "now" when it starts. */
enum err bill_run_queue(struct db *db, const struct bill_actor *actor, int64_t until,
			struct bill_run_stats *out);

/* The most recent runs, newest first: at most `cap` into `out`, *n how many. */
enum err bill_run_list(struct db *db, struct bill_run_stats *out, size_t cap, size_t *n);

/* Execute the oldest queued run, if any: *found says whether there was one.
 * `should_stop` as in bill_run_options (may be NULL). */
enum err bill_run_execute_queued(struct db *db, int batch_size, bool (*should_stop)(void), bool *found,
				 struct bill_run_stats *out);

/* At start: mark every run still 'running' whose process is certainly dead
 * (core/procid.h; a run from before migration 0009 has no runner and counts
 * as dead) as 'interrupted', with finished_at now, an error saying why and
 * a billing_run.interrupted event, in one transaction.  What such a run
 * committed stays; the next run renews the rest (runs are exactly once per
 * period).  A run of a live process, or of one on another host, is left
 * alone.  *marked (may be NULL) receives how many were marked. */
enum err bill_run_mark_interrupted(struct db *db, int64_t *marked);

/* The run `id`: ERR_OK or ERR_NOT_FOUND. */
enum err bill_run_get(struct db *db, const char *id, struct bill_run_stats *out);

/* Runs as JSON (the API shape BillingRun). */
json_t *bill_run_json(const struct bill_run_stats *s);

/*
 * Test hook: called in the middle of every renewal, after the provider was
 * charged and before the transaction commits; a non-OK return makes the
 * batch's transaction roll back as if the process had died there.  NULL to
 * remove.  Only tests set it.
 */
typedef enum err (*bill_run_fault_fn)(const char *subscription_id, void *ctx);
void bill_run_set_fault(bill_run_fault_fn fn, void *ctx);

/* ---- the scheduler (hearthd) -------------------------------------------------------- */

/*
 * Start the billing thread: it executes queued runs at once (bill_run_kick)
 * and, when `interval_s` > 0, starts a run every `interval_s` seconds; and
 * register the test-clock hook that runs what became due when the test
 * clock moves (synchronously, before POST /test/v1/clock answers).  The
 * thread uses its own connection from db_thread().
 */
enum err bill_scheduler_start(int64_t interval_s, int batch_size, int64_t cache_mb);

/* The pragmas the billing thread gives its connection: a page cache of
 * `cache_mb` MiB and checkpoints every 20000 WAL pages instead of 1000, so
 * a large run rewrites each database page less often.  The benchmark gives
 * the same to the run and to its floor.  Writes at most `cap` bytes. */
void bill_run_pragmas(int64_t cache_mb, char *buf, size_t cap);

/* Wake the billing thread (a run was queued). */
void bill_scheduler_kick(void);

/* Stop the thread, waiting for a run in progress to finish its batch. */
void bill_scheduler_stop(void);

/* ---- price changes ---------------------------------------------------------------- */

#define BILL_NOTICE_DAYS_DEFAULT 30

struct bill_price_change_params {
	const char *plan_code;
	const char *country;
	const struct money *amount;	/* in the country's currency */
	int64_t effective_at;		/* new subscribers pay it from then */
	int64_t notice_days;		/* 0..365 */
	int64_t grandfather_months;	/* 0..120: existing subscribers keep their price so long */
};

struct bill_price_change {
	char id[IDS_MAX];		/* prc_... */
	char plan_code[BILL_CODE_MAX + 1];
	char country[3];
	struct money amount;
	int64_t effective_at;
	int64_t notice_days;
	int64_t grandfather_months;
	char created_by[IDS_MAX];
	int64_t created_at;
	int64_t notified;		/* subscribers told when it was scheduled */
};

/*
 * Schedule a price change: store it and its price point (new subscribers
 * pay it from `effective_at`), then tell every live subscriber of the plan
 * in the country who pays another amount (a price_change_notice
 * notification each, in batches of transactions).  Audited through `actor`.
 * Returns ERR_OK; ERR_UNKNOWN_PLAN; ERR_PLAN_NOT_AVAILABLE_IN_REGION;
 * ERR_COUNTRY_NOT_SUPPORTED; ERR_CURRENCY_MISMATCH (not the country's
 * currency); ERR_INVALID_PARAMETER (effective time in the past, notice or
 * grandfathering out of range); ERR_CONFLICT (a change of that plan and
 * country at that time exists).
 */
enum err bill_price_change_schedule(struct db *db, const struct bill_price_change_params *p,
				    const struct bill_actor *actor, struct bill_price_change *out);

/* A price change waiting for a subscriber. */
struct bill_pending_price {
	bool has;
	char id[IDS_MAX];
	struct money amount;		/* what the member will pay */
	int64_t effective_at;		/* new subscribers pay it from */
	int64_t notified_at;		/* 0: not told yet (told at the next renewal) */
	int64_t applies_at;		/* the renewal that first charges it */
	bool consent_required;		/* consent country and a higher price */
	bool accepted;
};

/* The price change waiting for `s` (has = false when none). */
enum err bill_pending_price_change(struct db *db, const struct bill_subscription *s,
				   struct bill_pending_price *out);

/* The member accepts the pending price change.  ERR_NOT_FOUND without a live
 * subscription or with no change pending; ERR_OK otherwise (accepting
 * twice is harmless). */
enum err bill_price_change_accept(struct db *db, const char *account_id,
				  struct bill_pending_price *out);

/* The price-change policy of `country` in the current catalog: true for
 * "consent", false for "notify" (also when the country has no setting). */
enum err bill_country_requires_consent(struct db *db, const char *country, bool *consent);

/* ---- account credit ---------------------------------------------------------------- */

#define BILL_CURRENCIES_MAX 16

struct bill_credit_balance {
	struct money balance;
	int64_t updated_at;
};

/* Grant `amount` (> 0) of account credit.  Audited through `actor`.
 * *out receives the new balance of that currency.  ERR_NOT_FOUND when the
 * account does not exist; ERR_INVALID_AMOUNT when amount <= 0. */
enum err bill_credit_grant(struct db *db, const char *account_id, const struct money *amount,
			   const struct bill_actor *actor, struct bill_credit_balance *out);

/* The account's balances (non-zero and zero) in currency order. */
enum err bill_credit_balances(struct db *db, const char *account_id, struct bill_credit_balance *out,
			      size_t cap, size_t *n);

/* ---- refunds ------------------------------------------------------------------------ */

struct bill_refund {
	char credit_note_id[IDS_MAX];	/* cn_... */
	char number[32];		/* HEA-CN-2027-000001 */
	char invoice_id[IDS_MAX];
	struct money amount;
	struct money tax;		/* the tax part of amount */
	struct money refunded_total;	/* of the invoice, this refund included */
	char provider_ref[64];
};

/*
 * Refund `amount` (NULL: everything still refundable) of the paid invoice
 * `invoice_id` through the provider that charged it, and record a credit
 * note.  `account_id` may be NULL (staff) or must own the invoice.
 * Returns ERR_OK; ERR_NOT_FOUND; ERR_INVOICE_NOT_PAID; ERR_REFUND_TOO_LARGE
 * (more than remains refundable, or nothing remains); ERR_INVALID_AMOUNT
 * (<= 0); ERR_CURRENCY_MISMATCH.
 */
enum err bill_refund_create(struct db *db, const char *invoice_id, const char *account_id,
			    const struct money *amount, const struct bill_actor *actor,
			    struct bill_refund *out);

/* What a refund of invoice `invoice_id` could still give back (what the
 * card paid less what was refunded).  ERR_NOT_FOUND when absent. */
enum err bill_refundable(struct db *db, const char *invoice_id, struct money *left);

/* Invoice `invoice_id` of any account as JSON (the staff view; the member
 * view is bill_invoice_json).  ERR_NOT_FOUND when absent. */
enum err bill_invoice_json_staff(struct db *db, const char *invoice_id, json_t **out);

/* ---- catalog import by staff ---------------------------------------------------------- */

/* bill_catalog_import() (billing.h) with the import audited through `actor`
 * in its transaction (an import that stores nothing writes no audit row);
 * `source` as there. */
enum err bill_catalog_import_as(struct db *db, const char *json_text, const struct bill_actor *actor,
				json_t **errors, int64_t *version, bool *created, const char *source);

/* ---- staff money limits ------------------------------------------------------------- */

/* Parse the most a supervisor may refund or grant in one action, per
 * currency ("USD 50.00,JPY 7500,KWD 15.000"; money_parse amounts).  A
 * currency not listed has no supervisor allowance (admins only).
 * ERR_INVALID_PARAMETER on a bad list. */
enum err bill_staff_limits_configure(const char *list);

/* The supervisor allowance in `currency`: ERR_OK with *limit, or
 * ERR_NOT_FOUND when the currency has none. */
enum err bill_staff_limit(const char *currency, struct money *limit);

/* ---- HTTP ------------------------------------------------------------------------------ */

/* Register the staff routes of billing under /admin/v1 (billing runs,
 * price changes, refunds, credit, catalog import).  Call after
 * admin_http_register(). */
void billing_admin_http_register(void);

#endif
