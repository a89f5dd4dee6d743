/*
 * The billing run: find what fell due, and in batches of transactions renew
 * subscriptions (with their scheduled changes, invoice, account credit and
 * charge), end canceled ones, and hand past-due and on-hold ones to dunning.
 *
 * Exactly once.  A batch runs in one write transaction (BEGIN IMMEDIATE):
 * it reads its subscriptions under the write lock, so another run (another
 * thread or process) waits for it and then reads them renewed, with their
 * next period end.  Each renewal inserts its invoice under the unique index
 * on (subscription, period start) and updates the subscription only where
 * its period end is still the one it read, so even a rerun that somehow read
 * stale data cannot bill a period twice.  A crash before the commit leaves
 * nothing behind; the charge was made inside the transaction with an
 * idempotency key derived from (subscription, period, attempt), so redoing
 * the renewal asks the provider the same question again (docs/billing.md,
 * "Exactly once").
 *
 * An unexpected error in one subscription's step rolls back that
 * subscription only (the batch is redone with a savepoint per step), is
 * logged and counted, and the run goes on.  Work lists are walked in (due time, id) order with keyset
 * pagination; a subscription whose next step is also due by `until` is
 * met again later in the same walk or in the next round, so a run that
 * starts after months of downtime (or a test clock jump) catches up period
 * by period.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "billing/renewal_int.h"
#include "core/clock.h"
#include "core/events.h"
#include "core/log.h"
#include "core/procid.h"

static bill_run_fault_fn fault_fn;
static void *fault_ctx;

void bill_run_set_fault(bill_run_fault_fn fn, void *ctx)
{
	fault_fn = fn;
	fault_ctx = ctx;
}

/* ---- reading what is due ---- */

#define DUE_COLUMNS                                                                             \
	"s.id, s.account_id, s.state, s.plan_code, s.catalog_version, s.country, s.currency,"    \
	" s.amount, s.tax_inclusive, s.tax_rate_bps, s.tax_name, s.billing_anchor,"              \
	" s.period_index, s.current_period_start, s.current_period_end,"                         \
	" s.cancel_at_period_end, s.scheduled_plan_code, s.failed_payments, s.next_retry_at,"    \
	" s.on_hold_since, s.dunning_since, s.dunning_hard, pm.id, pm.provider,"                 \
	" pm.provider_token, cb.balance"

#define DUE_FROM                                                                                \
	" FROM subscriptions s"                                                                  \
	" LEFT JOIN payment_methods pm ON pm.account_id = s.account_id AND pm.is_default = 1"    \
	"   AND pm.removed_at IS NULL"                                                           \
	" LEFT JOIN credit_balances cb ON cb.account_id = s.account_id"                          \
	"   AND cb.currency = s.currency"

static void copy_text(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

static enum err read_due(struct db_stmt *st, struct due_sub *r)
{
	memset(r, 0, sizeof *r);
	copy_text(r->id, sizeof r->id, db_column_text(st, 0));
	copy_text(r->account_id, sizeof r->account_id, db_column_text(st, 1));
	int state = bill_state_parse(db_column_text(st, 2));
	if (state < 0)
		return ERR_INTERNAL;
	r->state = (enum bill_state)state;
	copy_text(r->plan_code, sizeof r->plan_code, db_column_text(st, 3));
	r->catalog_version = db_column_int64(st, 4);
	copy_text(r->country, sizeof r->country, db_column_text(st, 5));
	enum err e = money_init(&r->price.amount, db_column_int64(st, 7), db_column_text(st, 6));
	if (e != ERR_OK)
		return e;
	r->price.tax_inclusive = db_column_int64(st, 8) != 0;
	r->price.tax_rate_bps = (int32_t)db_column_int64(st, 9);
	copy_text(r->price.tax_name, sizeof r->price.tax_name, db_column_text(st, 10));
	r->anchor = db_column_int64(st, 11);
	r->period_index = db_column_int64(st, 12);
	r->period_start = db_column_int64(st, 13);
	r->period_end = db_column_int64(st, 14);
	r->cancel_at_period_end = db_column_int64(st, 15) != 0;
	if (!db_column_is_null(st, 16)) {
		r->has_scheduled = true;
		copy_text(r->scheduled_plan, sizeof r->scheduled_plan, db_column_text(st, 16));
	}
	r->failed_payments = (int)db_column_int64(st, 17);
	r->next_retry_at = db_column_int64(st, 18);
	r->on_hold_since = db_column_int64(st, 19);
	r->dunning_since = db_column_int64(st, 20);
	r->dunning_hard = db_column_int64(st, 21) != 0;
	if (!db_column_is_null(st, 22)) {
		r->has_pm = true;
		copy_text(r->pm.id, sizeof r->pm.id, db_column_text(st, 22));
		copy_text(r->pm.provider, sizeof r->pm.provider, db_column_text(st, 23));
		copy_text(r->pm.token, sizeof r->pm.token, db_column_text(st, 24));
	}
	r->credit_balance = db_column_int64(st, 25);
	return ERR_OK;
}

enum err ren_load_live(struct db *db, const char *account_id, struct due_sub *out)
{
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db, "SELECT " DUE_COLUMNS DUE_FROM
				    " WHERE s.account_id = ?1 AND s.state <> 'ended'", &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, account_id);
	e = db_step_row(st);
	if (e == ERR_OK)
		e = read_due(st, out);
	db_done(st);
	return e;
}

/* The three work lists.  Each WHERE repeats its partial index's condition
 * (schema/0006_renewals.sql) word for word so the planner can use it. */
enum list { L_RENEW, L_RETRY, L_HOLD, L_COUNT };

static const char *const list_select[L_COUNT] = {
	"SELECT " DUE_COLUMNS DUE_FROM " WHERE s.state IN ('active', 'canceled')"
	" AND (s.current_period_end, s.id) > (?1, ?2) AND s.current_period_end <= ?3"
	" ORDER BY s.current_period_end, s.id LIMIT ?4",
	"SELECT " DUE_COLUMNS DUE_FROM " WHERE s.state = 'past_due'"
	" AND (s.next_retry_at, s.id) > (?1, ?2) AND s.next_retry_at <= ?3"
	" ORDER BY s.next_retry_at, s.id LIMIT ?4",
	"SELECT " DUE_COLUMNS DUE_FROM " WHERE s.state = 'on_hold'"
	" AND (s.on_hold_since, s.id) > (?1, ?2) AND s.on_hold_since <= ?3"
	" ORDER BY s.on_hold_since, s.id LIMIT ?4",
};

static const char *const list_count[L_COUNT] = {
	"SELECT COUNT(*) FROM subscriptions s WHERE s.state IN ('active', 'canceled')"
	" AND s.current_period_end <= ?1",
	"SELECT COUNT(*) FROM subscriptions s WHERE s.state = 'past_due' AND s.next_retry_at <= ?1",
	"SELECT COUNT(*) FROM subscriptions s WHERE s.state = 'on_hold' AND s.on_hold_since <= ?1",
};

/* The time a row is due in list `l`: its keyset position. */
static int64_t due_time(enum list l, const struct due_sub *r)
{
	switch (l) {
	case L_RENEW:
		return r->period_end;
	case L_RETRY:
		return r->next_retry_at;
	case L_HOLD:
	case L_COUNT:
		break;
	}
	return r->on_hold_since;
}

/* ---- small shared pieces ---- */

void ren_charge_key(char *buf, size_t cap, const char *sub_id, int64_t period_start, int64_t ordinal)
{
	int n = snprintf(buf, cap, "%s:%" PRId64 ":%" PRId64, sub_id, period_start, ordinal);
	if (n < 0 || (size_t)n >= cap)
		buf[0] = '\0'; /* falls back to the attempt id: never a shared key */
}

static void bind_time_or_null(struct db_stmt *st, int idx, int64_t t)
{
	if (t)
		db_bind_int64(st, idx, t);
	else
		db_bind_null(st, idx);
}

enum err ren_set_state(struct db *db, const char *sub_id, const struct ren_state *s, int64_t now)
{
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db,
				"UPDATE subscriptions SET state = ?2, failed_payments = ?3, next_retry_at = ?4,"
				" dunning_since = ?5, dunning_hard = ?6, on_hold_since = ?7, ended_at = ?8,"
				" cancel_at_period_end = CASE WHEN ?2 = 'ended' THEN 0 ELSE cancel_at_period_end END,"
				" updated_at = ?9 WHERE id = ?1",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, sub_id);
	db_bind_text(st, 2, bill_state_name(s->state));
	db_bind_int64(st, 3, s->failed_payments);
	bind_time_or_null(st, 4, s->next_retry_at);
	bind_time_or_null(st, 5, s->dunning_since);
	db_bind_int64(st, 6, s->dunning_hard);
	bind_time_or_null(st, 7, s->on_hold_since);
	bind_time_or_null(st, 8, s->ended_at);
	db_bind_int64(st, 9, now);
	e = db_step_done(st);
	db_done(st);
	return e;
}

/* ---- the run's context ---- */

#define PLAN_CACHE 32

struct plan_name {
	int64_t version;
	char code[BILL_CODE_MAX + 1];
	char name[BILL_NAME_MAX + 1];
};

struct run_ctx {
	struct db *db;
	struct bill_run_stats stats;
	int batch;
	bill_run_progress_fn progress;
	void *progress_ctx;
	bool (*should_stop)(void);
	struct due_sub *rows;		/* batch buffer */
	struct plan_name plans[PLAN_CACHE];
	size_t nplans;
	/* Subscriptions whose step failed in this run: not tried again by a
	 * later round (they stay due for the next run). */
	char (*errored)[IDS_MAX];
	size_t nerrored;
};

#define ERRORED_MAX 1024

static bool has_errored(const struct run_ctx *c, const char *id)
{
	for (size_t i = 0; i < c->nerrored; i++)
		if (strcmp(c->errored[i], id) == 0)
			return true;
	return false;
}

/* The display name of plan `code` in catalog `version`, cached per run. */
static enum err plan_name(struct run_ctx *c, int64_t version, const char *code, const char **name)
{
	for (size_t i = 0; i < c->nplans; i++)
		if (c->plans[i].version == version && strcmp(c->plans[i].code, code) == 0) {
			*name = c->plans[i].name;
			return ERR_OK;
		}
	struct bill_plan p;
	enum err e = cat_plan_get(c->db, version, code, &p);
	if (e != ERR_OK)
		return e == ERR_NOT_FOUND ? ERR_INTERNAL : e;
	struct plan_name *slot = &c->plans[c->nplans < PLAN_CACHE ? c->nplans++ : PLAN_CACHE - 1];
	slot->version = version;
	copy_text(slot->code, sizeof slot->code, p.code);
	copy_text(slot->name, sizeof slot->name, p.name);
	*name = slot->name;
	return ERR_OK;
}

/* ---- one renewal ---- */

static enum err end_subscription(struct db *db, const struct due_sub *r, int64_t ended_at,
				 const char *reason, int64_t now, struct ren_counts *counts)
{
	struct ren_state s = {.state = BILL_ENDED, .ended_at = ended_at};
	enum bill_state next;
	enum err e = bill_transition(r->state, r->state == BILL_CANCELED ? BILL_EV_EXPIRE : BILL_EV_END_NOW,
				     &next);
	if (e == ERR_OK)
		e = ren_set_state(db, r->id, &s, now);
	if (e == ERR_OK)
		e = events_emit(db, "subscription.ended", r->id,
				json_pack("{s:s, s:s, s:s, s:o}", "account", r->account_id, "from",
					  bill_state_name(r->state), "reason", reason, "ended_at",
					  clock_json(ended_at)));
	if (e == ERR_OK)
		counts->ended++;
	return e;
}

/* The add-ons that run into the new period (billing/addons.c: each at the
 * price it was bought at), as lines of the renewal invoice. */
static enum err addon_lines(struct db *db, struct inv_draft *d, const struct due_sub *r,
			    const char *plan_code, const struct bill_price *price, int64_t start, int64_t end)
{
	struct bill_subscription s;
	memset(&s, 0, sizeof s);
	copy_text(s.id, sizeof s.id, r->id);
	copy_text(s.account_id, sizeof s.account_id, r->account_id);
	copy_text(s.plan.code, sizeof s.plan.code, plan_code);
	copy_text(s.country, sizeof s.country, r->country);
	s.price = *price;
	return bill_addon_renewal_lines(db, &s, d, start, end);
}

static enum err renew_one(struct run_ctx *c, const struct due_sub *r, int64_t now,
			  struct pc_cache *pcs, struct ren_counts *counts)
{
	struct db *db = c->db;
	struct db_stmt *st = NULL;
	struct inv_draft d;
	struct bill_payment_outcome pay;
	enum bill_state next;
	const int64_t due = r->period_end;
	char desc[INV_DESCRIPTION_MAX], a[24], b[24];
	const char *change = NULL, *name = NULL;
	char pc_id[IDS_MAX] = "";

	if (r->state == BILL_CANCELED || r->cancel_at_period_end)
		return end_subscription(db, r, due, "canceled", now, counts);
	enum err e = bill_transition(r->state, BILL_EV_RENEW, &next);
	if (e != ERR_OK)
		return e;

	/* The next period, from the anchor (never from the previous period). */
	int64_t n = r->period_index + 1, start, end;
	bill_period_bounds(r->anchor, n, &start, &end);
	if (start != due) {
		log_warn("billing.period_mismatch", "subscription=%s period_end=%" PRId64 " computed=%" PRId64,
			 r->id, due, start);
		start = due;
	}

	/* What the next period costs: a scheduled downgrade at today's catalog
	 * price, else the snapshot, possibly moved by a price change. */
	struct bill_price price = r->price;
	char plan_code[BILL_CODE_MAX + 1];
	int64_t version = r->catalog_version;
	copy_text(plan_code, sizeof plan_code, r->plan_code);
	if (r->has_scheduled) {
		struct bill_offer offer;
		int64_t v = 0;
		e = cat_offer(db, r->country, r->scheduled_plan, due, &offer, &v);
		if (e == ERR_OK) {
			price = offer.price;
			version = v;
			copy_text(plan_code, sizeof plan_code, offer.plan.code);
			change = "downgraded";
		} else if (e == ERR_UNKNOWN_PLAN || e == ERR_PLAN_NOT_AVAILABLE_IN_REGION ||
			   e == ERR_COUNTRY_NOT_SUPPORTED) {
			/* The plan stopped being sold: the member keeps the current one. */
			log_warn("billing.scheduled_plan_gone", "subscription=%s plan=%s", r->id, r->scheduled_plan);
			change = "scheduled_change_dropped";
		} else {
			return e;
		}
	} else {
		struct pc_decision dec;
		e = pc_decide(db, pcs, r, due, now, &dec);
		if (e != ERR_OK)
			return e;
		if (dec.end_for_consent) {
			e = end_subscription(db, r, due, "price_change_not_accepted", now, counts);
			if (e == ERR_OK)
				e = bill_notify(db, r->account_id, "subscription_ended",
					       json_pack("{s:s, s:s, s:o}", "reason", "price_change_not_accepted",
							 "plan", r->plan_code, "ended_at", clock_json(due)));
			return e;
		}
		if (dec.apply) {
			price.amount.amount = dec.amount;
			change = "price_changed";
			copy_text(pc_id, sizeof pc_id, dec.pc_id);
		}
	}
	e = plan_name(c, version, plan_code, &name);
	if (e != ERR_OK)
		return e;

	inv_draft_init(&d, r->account_id, "subscription_cycle", plan_code, &price, start, end);
	copy_text(d.subscription_id, sizeof d.subscription_id, r->id);
	bill_date_text(start, a, sizeof a);
	bill_date_text(end, b, sizeof b);
	snprintf(desc, sizeof desc, "%s, %s - %s", name, a, b);
	e = inv_add_line(&d, BILL_LINE_PLAN, desc, plan_code, &price.amount, &price, start, end);
	if (e == ERR_OK)
		e = addon_lines(db, &d, r, plan_code, &price, start, end);
	if (e == ERR_OK)
		e = inv_total(&d);
	if (e != ERR_OK)
		return e;
	/* Account credit pays first. */
	if (r->credit_balance > 0 && d.total.amount > 0)
		d.credit_applied.amount = r->credit_balance < d.total.amount ? r->credit_balance : d.total.amount;
	e = inv_insert_finalized(db, &d, now);
	if (e == ERR_CONFLICT) {
		/* The unique index says this period was billed: never twice. */
		log_error("billing.period_already_billed", "subscription=%s period_start=%" PRId64, r->id, start);
		return ERR_CONFLICT;
	}
	if (e == ERR_OK && d.credit_applied.amount > 0)
		e = credit_take(db, r->account_id, d.currency, d.credit_applied.amount, d.id, now);
	if (e != ERR_OK)
		return e;

	memset(&pay, 0, sizeof pay);
	snprintf(pay.invoice_id, sizeof pay.invoice_id, "%s", d.id);
	if (r->has_pm) {
		ren_charge_key(d.charge_key, sizeof d.charge_key, r->id, start, 0);
		e = inv_charge(db, &d, &r->pm, now, &pay);
	} else if (inv_amount_due(&d) <= 0) {
		e = inv_charge(db, &d, NULL, now, &pay); /* paid by credit: no card needed */
	} else {
		snprintf(pay.failure_code, sizeof pay.failure_code, "no_payment_method");
		pay.hard_decline = true;
	}
	if (e != ERR_OK)
		return e;

	/* Advance the period.  Only the columns that change are written, so
	 * the indexes on plan, state and dunning columns are left alone on the
	 * common path; the guard on the old period end makes a stale read
	 * update nothing instead of billing twice. */
	bool repriced = change != NULL;
	if (repriced)
		e = db_prepare(db,
			       "UPDATE subscriptions SET period_index = ?2, current_period_start = ?3,"
			       " current_period_end = ?4, updated_at = ?5, plan_code = ?7, catalog_version = ?8,"
			       " amount = ?9, tax_inclusive = ?10, tax_rate_bps = ?11, tax_name = ?12,"
			       " scheduled_plan_code = NULL, scheduled_at = NULL"
			       " WHERE id = ?1 AND current_period_end = ?6 AND state = 'active'",
			       &st);
	else
		e = db_prepare(db,
			       "UPDATE subscriptions SET period_index = ?2, current_period_start = ?3,"
			       " current_period_end = ?4, updated_at = ?5"
			       " WHERE id = ?1 AND current_period_end = ?6 AND state = 'active'",
			       &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, r->id);
	db_bind_int64(st, 2, n);
	db_bind_int64(st, 3, start);
	db_bind_int64(st, 4, end);
	db_bind_int64(st, 5, now);
	db_bind_int64(st, 6, due);
	if (repriced) {
		db_bind_text(st, 7, plan_code);
		db_bind_int64(st, 8, version);
		db_bind_int64(st, 9, price.amount.amount);
		db_bind_int64(st, 10, price.tax_inclusive);
		db_bind_int64(st, 11, price.tax_rate_bps);
		db_bind_text(st, 12, price.tax_name);
	}
	e = db_step_done(st);
	db_done(st);
	if (e == ERR_OK && db_changes(db) != 1)
		e = ERR_CONFLICT;
	if (e != ERR_OK)
		return e;

	if (!pay.succeeded)
		return dun_renewal_failed(db, r, &d, &pay, due, now, counts);

	struct events_field f[9] = {{"account", r->account_id, 0}, {"invoice", d.id, 0},
				    {"plan", plan_code, 0},	  {"period_start", NULL, start},
				    {"total", NULL, d.total.amount}, {"currency", d.currency, 0},
				    {"period_index", NULL, n}};
	size_t nf = 7;
	if (change)
		f[nf++] = (struct events_field){"change", change, 0};
	if (pc_id[0])
		f[nf++] = (struct events_field){"price_change", pc_id, 0};
	e = events_emit_flat(db, "subscription.renewed", r->id, f, nf);
	if (e == ERR_OK)
		counts->renewed++;
	return e;
}

/* ---- batches ---- */

struct batch_ctx {
	struct run_ctx *run;
	enum list list;
	int64_t until;			/* the list's bound */
	int64_t cur_t;			/* keyset position (in) */
	char cur_id[IDS_MAX];
	int64_t next_t;			/* keyset position after the batch (out) */
	char next_id[IDS_MAX];
	size_t nrows;			/* rows taken (out) */
	struct ren_counts counts;	/* out */
	bool careful;			/* a savepoint around each step (in) */
	size_t errored_before;		/* run's errored count when the batch began */
	bool needs_care;		/* a step failed without one: redo carefully (out) */
};

static enum err step_one(struct batch_ctx *b, const struct due_sub *r, int64_t now, struct pc_cache *pcs)
{
	struct db *db = b->run->db;
	switch (b->list) {
	case L_RENEW:
		return renew_one(b->run, r, now, pcs, &b->counts);
	case L_RETRY:
		return dun_retry_step(db, r, now, &b->counts);
	case L_HOLD:
	case L_COUNT:
		break;
	}
	return dun_hold_expired_step(db, r, now, &b->counts);
}

static enum err record_progress(struct db *db, const char *run_id, int64_t total,
				const struct ren_counts *k)
{
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db,
				"UPDATE billing_runs SET total = ?2, processed = processed + ?3,"
				" renewed = renewed + ?4, failed = failed + ?5, recovered = recovered + ?6,"
				" ended = ended + ?7, errors = errors + ?8 WHERE id = ?1",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, run_id);
	db_bind_int64(st, 2, total);
	db_bind_int64(st, 3, k->processed);
	db_bind_int64(st, 4, k->renewed);
	db_bind_int64(st, 5, k->failed);
	db_bind_int64(st, 6, k->recovered);
	db_bind_int64(st, 7, k->ended);
	db_bind_int64(st, 8, k->errors);
	e = db_step_done(st);
	db_done(st);
	return e;
}

static enum err batch_tx(struct db *db, void *arg)
{
	struct batch_ctx *b = arg;
	struct run_ctx *c = b->run;
	struct db_stmt *st = NULL;
	struct pc_cache pcs = {0, NULL};
	int64_t now = clock_now();
	memset(&b->counts, 0, sizeof b->counts);
	b->nrows = 0;
	b->needs_care = false;
	b->errored_before = c->nerrored;
	b->next_t = b->cur_t;
	copy_text(b->next_id, sizeof b->next_id, b->cur_id);

	enum err e = db_prepare(db, list_select[b->list], &st);
	if (e != ERR_OK)
		return e;
	db_bind_int64(st, 1, b->cur_t);
	db_bind_text(st, 2, b->cur_id);
	db_bind_int64(st, 3, b->until);
	db_bind_int64(st, 4, c->batch);
	bool row = false;
	while (b->nrows < (size_t)c->batch && (e = db_step(st, &row)) == ERR_OK && row) {
		e = read_due(st, &c->rows[b->nrows]);
		if (e != ERR_OK)
			break;
		b->nrows++;
	}
	db_done(st);
	if (e != ERR_OK || b->nrows == 0)
		return e;
	if (b->list == L_RENEW && (e = pc_cache_load(db, &pcs)) != ERR_OK)
		return e;

	/* Steps run without savepoints first: a savepoint copies every page a
	 * step touches into a statement journal, a cost paid a million times
	 * for an error that almost never comes.  When a step does fail, the
	 * batch is rolled back and done again with a savepoint around each
	 * step, so only the failing subscription is left out. */
	for (size_t i = 0; i < b->nrows && e == ERR_OK; i++) {
		const struct due_sub *r = &c->rows[i];
		b->next_t = due_time(b->list, r);
		copy_text(b->next_id, sizeof b->next_id, r->id);
		if (c->nerrored && has_errored(c, r->id))
			continue;
		if (b->careful && (e = db_run(db, "SAVEPOINT renewal_step")) != ERR_OK)
			break;
		enum err se = step_one(b, r, now, &pcs);
		if (se != ERR_OK && !b->careful) {
			b->needs_care = true;
			e = se;
			break;
		}
		if (se == ERR_OK && fault_fn) {
			/* A test's simulated crash: the charge was made, the commit
			 * never happens. */
			e = fault_fn(r->id, fault_ctx);
			if (e != ERR_OK)
				break;
		}
		if (se == ERR_OK) {
			if (b->careful)
				e = db_run(db, "RELEASE renewal_step");
		} else {
			char q[96];
			log_error("billing.step_failed", "run=%s subscription=%s list=%d error=%s", c->stats.id,
				  log_quote(r->id, q, sizeof q), (int)b->list, err_name(se));
			e = db_run(db, "ROLLBACK TO renewal_step");
			if (e == ERR_OK)
				e = db_run(db, "RELEASE renewal_step");
			b->counts.errors++;
			if (c->errored && c->nerrored < ERRORED_MAX)
				copy_text(c->errored[c->nerrored++], IDS_MAX, r->id);
		}
		b->counts.processed++;
	}
	pc_cache_release(&pcs);
	if (e != ERR_OK) {
		c->nerrored = b->errored_before; /* the batch rolls back: so do its errors */
		return e;
	}
	int64_t total = c->stats.total > c->stats.processed + b->counts.processed
				? c->stats.total
				: c->stats.processed + b->counts.processed;
	return record_progress(db, c->stats.id, total, &b->counts);
}

static void add_counts(struct bill_run_stats *s, const struct ren_counts *k)
{
	s->processed += k->processed;
	s->renewed += k->renewed;
	s->failed += k->failed;
	s->recovered += k->recovered;
	s->ended += k->ended;
	s->errors += k->errors;
	if (s->total < s->processed)
		s->total = s->processed;
}

static enum err count_due(struct db *db, enum list l, int64_t until, int64_t *n)
{
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db, list_count[l], &st);
	if (e != ERR_OK)
		return e;
	db_bind_int64(st, 1, until);
	e = db_step_row(st);
	if (e == ERR_OK)
		*n = db_column_int64(st, 0);
	db_done(st);
	return e;
}

/* Walk list `l` once from the start; *steps gets how many steps it took. */
static enum err walk_list(struct run_ctx *c, enum list l, int64_t until, int64_t *steps)
{
	struct batch_ctx b;
	memset(&b, 0, sizeof b);
	b.run = c;
	b.list = l;
	b.until = until;
	b.cur_t = INT64_MIN;
	*steps = 0;
	for (;;) {
		enum err e = db_transaction(c->db, batch_tx, &b);
		if (e != ERR_OK && b.needs_care && !b.careful) {
			b.careful = true; /* the same batch again, one savepoint per step */
			e = db_transaction(c->db, batch_tx, &b);
		}
		b.careful = false;
		if (e != ERR_OK)
			return e;
		if (b.nrows == 0)
			return ERR_OK;
		add_counts(&c->stats, &b.counts);
		*steps += b.counts.processed;
		b.cur_t = b.next_t;
		copy_text(b.cur_id, sizeof b.cur_id, b.next_id);
		if (c->progress)
			c->progress(&c->stats, c->progress_ctx);
		if (c->should_stop && c->should_stop())
			return ERR_INVALID_STATE;
	}
}

/* How many subscriptions the three lists hold due by `until` (the hold list
 * by until less the hold period): what a run's first round counts. */
static enum err due_total(struct db *db, int64_t until, int64_t *due)
{
	struct bill_dunning_settings ds;
	bill_dunning_current(&ds);
	const int64_t bounds[L_COUNT] = {until, until, until - ds.hold_s};
	*due = 0;
	for (int l = 0; l < L_COUNT; l++) {
		int64_t n = 0;
		enum err e = count_due(db, (enum list)l, bounds[l], &n);
		if (e != ERR_OK)
			return e;
		*due += n;
	}
	return ERR_OK;
}

enum err bill_run_due_count(struct db *db, int64_t until, int64_t *due) { return due_total(db, until, due); }

/* Rounds of the three lists until nothing is due, or a round moved nothing
 * on (what is left failed with errors, which leave it due).  A step can make
 * another list's work due (a renewal fails: its first retry is due by
 * `until` after a clock jump; a retry pays: the next renewal is due), which
 * the next round takes. */
static enum err run_rounds(struct run_ctx *c)
{
	struct bill_dunning_settings ds;
	bill_dunning_current(&ds);
	const int64_t until = c->stats.until;
	const int64_t bounds[L_COUNT] = {until, until, until - ds.hold_s};
	for (;;) {
		int64_t due = 0, steps = 0, errors_before = c->stats.errors;
		enum err de = due_total(c->db, until, &due);
		if (de != ERR_OK)
			return de;
		due -= (int64_t)c->nerrored; /* those wait for the next run */
		if (due <= 0)
			return ERR_OK;
		if (c->stats.total < c->stats.processed + due)
			c->stats.total = c->stats.processed + due;
		for (int l = 0; l < L_COUNT; l++) {
			int64_t s = 0;
			enum err e = walk_list(c, (enum list)l, bounds[l], &s);
			if (e != ERR_OK)
				return e;
			steps += s;
		}
		if (steps - (c->stats.errors - errors_before) <= 0)
			return ERR_OK;
	}
}

/* ---- billing_runs rows ---- */

static const char *const status_names[] = {"queued", "running", "succeeded", "failed", "interrupted"};

const char *bill_run_status_name(enum bill_run_status s)
{
	return (unsigned)s < sizeof status_names / sizeof status_names[0] ? status_names[s] : "";
}

static enum bill_run_status status_parse(const char *s)
{
	for (size_t i = 0; s && i < sizeof status_names / sizeof status_names[0]; i++)
		if (strcmp(status_names[i], s) == 0)
			return (enum bill_run_status)i;
	return BILL_RUN_FAILED;
}

#define RUN_COLUMNS                                                                       \
	"id, started_by, status, until_at, total, processed, renewed, failed, recovered, ended," \
	" errors, error, created_at, started_at, finished_at"

static void read_run(struct db_stmt *st, struct bill_run_stats *s)
{
	memset(s, 0, sizeof *s);
	copy_text(s->id, sizeof s->id, db_column_text(st, 0));
	copy_text(s->started_by, sizeof s->started_by, db_column_text(st, 1));
	s->status = status_parse(db_column_text(st, 2));
	s->until = db_column_int64(st, 3);
	s->total = db_column_int64(st, 4);
	s->processed = db_column_int64(st, 5);
	s->renewed = db_column_int64(st, 6);
	s->failed = db_column_int64(st, 7);
	s->recovered = db_column_int64(st, 8);
	s->ended = db_column_int64(st, 9);
	s->errors = db_column_int64(st, 10);
	copy_text(s->error, sizeof s->error, db_column_text(st, 11));
	s->created_at = db_column_int64(st, 12);
	s->started_at = db_column_int64(st, 13);
	s->finished_at = db_column_int64(st, 14);
}

enum err bill_run_get(struct db *db, const char *id, struct bill_run_stats *out)
{
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db, "SELECT " RUN_COLUMNS " FROM billing_runs WHERE id = ?1", &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, id);
	e = db_step_row(st);
	if (e == ERR_OK)
		read_run(st, out);
	db_done(st);
	return e;
}

struct insert_run_ctx {
	struct bill_run_stats *s;
	const struct bill_actor *actor;		/* staff request: audited */
};

static enum err insert_run_tx(struct db *db, void *arg)
{
	struct insert_run_ctx *c = arg;
	struct bill_run_stats *s = c->s;
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db,
				"INSERT INTO billing_runs (id, started_by, until_at, status, created_at, started_at, runner)"
				" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, s->id);
	db_bind_text(st, 2, s->started_by);
	db_bind_int64(st, 3, s->until);
	db_bind_text(st, 4, bill_run_status_name(s->status));
	db_bind_int64(st, 5, s->created_at);
	bind_time_or_null(st, 6, s->started_at);
	db_bind_text(st, 7, s->status == BILL_RUN_RUNNING ? procid_self() : NULL);
	e = db_step_done(st);
	db_done(st);
	if (e == ERR_OK)
		e = events_emit(db, s->status == BILL_RUN_QUEUED ? "billing_run.queued" : "billing_run.started",
				s->id, json_pack("{s:s, s:o}", "started_by", s->started_by, "until",
						 s->until ? clock_json(s->until) : json_null()));
	if (e == ERR_OK && c->actor && c->actor->audit)
		e = c->actor->audit(db, c->actor, "billing_run.start", "billing_run", s->id, NULL,
				    json_pack("{s:s, s:o}", "status", bill_run_status_name(s->status), "until",
					      s->until ? clock_json(s->until) : json_null()));
	return e;
}

static enum err finish_run_tx(struct db *db, void *arg)
{
	struct insert_run_ctx *c = arg;
	struct bill_run_stats *s = c->s;
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db,
				"UPDATE billing_runs SET status = ?2, error = ?3, finished_at = ?4, total = ?5,"
				" processed = ?6, renewed = ?7, failed = ?8, recovered = ?9, ended = ?10,"
				" errors = ?11, started_at = COALESCE(started_at, ?4), until_at = ?12 WHERE id = ?1",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, s->id);
	db_bind_text(st, 2, bill_run_status_name(s->status));
	db_bind_text(st, 3, s->error[0] ? s->error : NULL);
	db_bind_int64(st, 4, s->finished_at);
	db_bind_int64(st, 5, s->total);
	db_bind_int64(st, 6, s->processed);
	db_bind_int64(st, 7, s->renewed);
	db_bind_int64(st, 8, s->failed);
	db_bind_int64(st, 9, s->recovered);
	db_bind_int64(st, 10, s->ended);
	db_bind_int64(st, 11, s->errors);
	db_bind_int64(st, 12, s->until);
	e = db_step_done(st);
	db_done(st);
	if (e == ERR_OK)
		e = events_emit(db, "billing_run.finished", s->id,
				json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "status",
					  bill_run_status_name(s->status), "processed", (json_int_t)s->processed,
					  "renewed", (json_int_t)s->renewed, "failed", (json_int_t)s->failed,
					  "recovered", (json_int_t)s->recovered, "ended", (json_int_t)s->ended,
					  "errors", (json_int_t)s->errors));
	return e;
}

/* Execute the run whose row `c->stats` describes (status running). */
static enum err execute(struct run_ctx *c)
{
	struct insert_run_ctx ic = {&c->stats, NULL};
	if (c->batch <= 0)
		c->batch = BILL_RUN_BATCH_DEFAULT;
	if (c->batch > BILL_RUN_BATCH_MAX)
		c->batch = BILL_RUN_BATCH_MAX;
	c->rows = calloc((size_t)c->batch, sizeof *c->rows);
	c->errored = calloc(ERRORED_MAX, sizeof *c->errored);
	int64_t t0 = clock_mono_ms();
	log_info("billing.run_started", "run=%s started_by=%s until=%" PRId64, c->stats.id,
		 c->stats.started_by, c->stats.until);
	enum err e = c->rows && c->errored ? run_rounds(c) : ERR_NOMEM;
	free(c->rows);
	free(c->errored);
	c->rows = NULL;
	c->errored = NULL;
	c->stats.status = e == ERR_OK ? BILL_RUN_SUCCEEDED : BILL_RUN_FAILED;
	if (e == ERR_INVALID_STATE)
		snprintf(c->stats.error, sizeof c->stats.error, "stopped");
	else if (e != ERR_OK)
		snprintf(c->stats.error, sizeof c->stats.error, "%s", err_name(e));
	c->stats.finished_at = clock_now();
	enum err fe = db_transaction(c->db, finish_run_tx, &ic);
	int64_t ms = clock_mono_ms() - t0;
	log_info("billing.run_finished",
		 "run=%s status=%s processed=%" PRId64 " renewed=%" PRId64 " failed=%" PRId64
		 " recovered=%" PRId64 " ended=%" PRId64 " errors=%" PRId64 " ms=%" PRId64,
		 c->stats.id, bill_run_status_name(c->stats.status), c->stats.processed, c->stats.renewed,
		 c->stats.failed, c->stats.recovered, c->stats.ended, c->stats.errors, ms);
	if (c->progress)
		c->progress(&c->stats, c->progress_ctx);
	return e != ERR_OK ? e : fe;
}

enum err bill_run(struct db *db, const struct bill_run_options *o, struct bill_run_stats *out)
{
	struct run_ctx *c = calloc(1, sizeof *c);
	if (!c)
		return ERR_NOMEM;
	c->db = db;
	c->batch = o->batch_size;
	c->progress = o->progress;
	c->progress_ctx = o->progress_ctx;
	c->should_stop = o->should_stop;
	int64_t now = clock_now();
	enum err e = ids_new("brun_", c->stats.id, sizeof c->stats.id);
	copy_text(c->stats.started_by, sizeof c->stats.started_by, o->started_by ? o->started_by : "tool");
	c->stats.status = BILL_RUN_RUNNING;
	c->stats.until = o->until ? o->until : now;
	c->stats.created_at = c->stats.started_at = now;
	struct insert_run_ctx ic = {&c->stats, NULL};
	if (e == ERR_OK)
		e = db_transaction(db, insert_run_tx, &ic);
	if (e == ERR_OK)
		e = execute(c);
	if (out)
		*out = c->stats;
	free(c);
	return e;
}

enum err bill_run_queue(struct db *db, const struct bill_actor *actor, int64_t until,
			struct bill_run_stats *out)
{
	struct bill_run_stats s;
	memset(&s, 0, sizeof s);
	enum err e = ids_new("brun_", s.id, sizeof s.id);
	copy_text(s.started_by, sizeof s.started_by, actor && actor->id ? actor->id : "tool");
	s.status = BILL_RUN_QUEUED;
	s.until = until;
	s.created_at = clock_now();
	struct insert_run_ctx ic = {&s, actor};
	if (e == ERR_OK)
		e = db_transaction(db, insert_run_tx, &ic);
	if (e == ERR_OK && out)
		*out = s;
	return e;
}

struct claim_ctx {
	struct bill_run_stats *s;
	bool found;
};

static enum err claim_tx(struct db *db, void *arg)
{
	struct claim_ctx *c = arg;
	struct db_stmt *st = NULL;
	int64_t now = clock_now();
	c->found = false;
	enum err e = db_prepare(db,
				"UPDATE billing_runs SET status = 'running', started_at = ?1, runner = ?2,"
				" until_at = CASE WHEN until_at = 0 THEN ?1 ELSE until_at END"
				" WHERE id = (SELECT id FROM billing_runs WHERE status = 'queued'"
				"   ORDER BY created_at, id LIMIT 1) AND status = 'queued'"
				" RETURNING " RUN_COLUMNS,
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_int64(st, 1, now);
	db_bind_text(st, 2, procid_self());
	e = db_step_row(st);
	if (e == ERR_OK) {
		read_run(st, c->s);
		c->found = true;
	}
	db_done(st);
	if (e == ERR_NOT_FOUND)
		return ERR_OK;
	if (e == ERR_OK)
		e = events_emit(db, "billing_run.started", c->s->id,
				json_pack("{s:s, s:o}", "started_by", c->s->started_by, "until",
					  clock_json(c->s->until)));
	return e;
}

enum err bill_run_execute_queued(struct db *db, int batch_size, bool (*should_stop)(void), bool *found,
				 struct bill_run_stats *out)
{
	struct run_ctx *c = calloc(1, sizeof *c);
	if (!c)
		return ERR_NOMEM;
	struct claim_ctx cc = {&c->stats, false};
	enum err e = db_transaction(db, claim_tx, &cc);
	*found = e == ERR_OK && cc.found;
	if (*found) {
		c->db = db;
		c->batch = batch_size;
		c->should_stop = should_stop;
		e = execute(c);
		if (out)
			*out = c->stats;
	}
	free(c);
	return e;
}

struct interrupt_ctx {
	int64_t now;
	int64_t marked;
};

/* Mark run `id` (read as running) interrupted, with its event. */
static enum err interrupt_one(struct db *db, const char *id, int64_t now)
{
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db,
				"UPDATE billing_runs SET status = 'interrupted', finished_at = ?2, error = ?3"
				" WHERE id = ?1 AND status = 'running' RETURNING processed, renewed",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, id);
	db_bind_int64(st, 2, now);
	db_bind_text(st, 3, "interrupted: the process running it stopped");
	e = db_step_row(st);
	json_int_t processed = e == ERR_OK ? (json_int_t)db_column_int64(st, 0) : 0;
	json_int_t renewed = e == ERR_OK ? (json_int_t)db_column_int64(st, 1) : 0;
	db_done(st);
	if (e != ERR_OK)
		return e;
	log_warn("billing.run_interrupted", "run=%s processed=%lld renewed=%lld", id, (long long)processed,
		 (long long)renewed);
	return events_emit(db, "billing_run.interrupted", id,
			   json_pack("{s:I, s:I}", "processed", processed, "renewed", renewed));
}

static enum err interrupt_tx(struct db *db, void *arg)
{
	struct interrupt_ctx *c = arg;
	struct db_stmt *st = NULL;
	char (*dead)[IDS_MAX] = NULL;
	size_t n = 0, cap = 0;
	c->marked = 0;
	enum err e = db_prepare(db, "SELECT id, runner FROM billing_runs WHERE status = 'running'", &st);
	if (e != ERR_OK)
		return e;
	bool row = false;
	while ((e = db_step(st, &row)) == ERR_OK && row) {
		const char *runner = db_column_text(st, 1);
		if (runner && procid_check(runner) != PROCID_DEAD)
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			char (*grown)[IDS_MAX] = realloc(dead, ncap * sizeof *dead);
			if (!grown) {
				e = ERR_NOMEM;
				break;
			}
			dead = grown;
			cap = ncap;
		}
		copy_text(dead[n++], IDS_MAX, db_column_text(st, 0));
	}
	db_done(st);
	for (size_t i = 0; i < n && e == ERR_OK; i++) {
		e = interrupt_one(db, dead[i], c->now);
		c->marked += e == ERR_OK;
	}
	free(dead);
	return e;
}

enum err bill_run_mark_interrupted(struct db *db, int64_t *marked)
{
	struct interrupt_ctx c = {clock_now(), 0};
	enum err e = db_transaction(db, interrupt_tx, &c);
	if (marked)
		*marked = e == ERR_OK ? c.marked : 0;
	return e;
}

enum err bill_run_list(struct db *db, struct bill_run_stats *out, size_t cap, size_t *n)
{
	struct db_stmt *st = NULL;
	*n = 0;
	enum err e = db_prepare(db, "SELECT " RUN_COLUMNS " FROM billing_runs"
				    " ORDER BY created_at DESC, id DESC LIMIT ?1", &st);
	if (e != ERR_OK)
		return e;
	db_bind_int64(st, 1, (int64_t)cap);
	bool row = false;
	while (*n < cap && (e = db_step(st, &row)) == ERR_OK && row)
		read_run(st, &out[(*n)++]);
	db_done(st);
	return e;
}

json_t *bill_run_json(const struct bill_run_stats *s)
{
	json_t *doc = json_pack("{s:s, s:s, s:s, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "id", s->id,
				"started_by", s->started_by, "status", bill_run_status_name(s->status), "until",
				s->until ? clock_json(s->until) : json_null(), "total", (json_int_t)s->total, "processed",
				(json_int_t)s->processed, "renewed", (json_int_t)s->renewed, "failed",
				(json_int_t)s->failed, "recovered", (json_int_t)s->recovered, "ended",
				(json_int_t)s->ended, "errors", (json_int_t)s->errors, "created_at",
				clock_json(s->created_at));
	if (!doc)
		return NULL;
	json_object_set_new(doc, "started_at", s->started_at ? clock_json(s->started_at) : json_null());
	json_object_set_new(doc, "finished_at", s->finished_at ? clock_json(s->finished_at) : json_null());
	json_object_set_new(doc, "error", s->error[0] ? json_string(s->error) : json_null());
	return doc;
}
