/*
 * Subscriptions: the state machine, subscribing with a first charge, plan
 * changes with proration, cancellation and resumption, and entitlements.
 *
 * Every change runs in one transaction with its invoice, payment attempt
 * and events.  The provider is called inside that transaction: the sandbox
 * answers in-process, and the attempt id is the charge's idempotency key.
 * A transaction retried after SQLITE_BUSY makes a fresh attempt id, which
 * is harmless for the sandbox (it moves no money); a real provider adapter
 * must charge outside the write transaction in two steps (record the
 * attempt as pending, charge, record the outcome) - docs/billing.md,
 * "Payment provider".
 */
#include <stdio.h>
#include <string.h>

#include "billing/billing_int.h"
#include "core/clock.h"
#include "core/events.h"

/* ---- the state machine ---- */

static const char *const state_names[BILL_STATE_COUNT] = {"active", "past_due", "on_hold",
							  "canceled", "ended"};

static const char *const event_names[BILL_EVENT_COUNT] = {
	"cancel", "resume", "change_plan", "renew", "renewal_failed", "retry_failed",
	"payment_recovered", "retries_exhausted", "expire", "hold_expired", "end_now",
};

#define NO (-1)
#define A BILL_ACTIVE
#define PD BILL_PAST_DUE
#define OH BILL_ON_HOLD
#define CA BILL_CANCELED
#define EN BILL_ENDED

/*
 * The one table of allowed transitions: row = current state, column =
 * event, cell = next state or NO.  docs/billing.md draws it as a diagram;
 * tests/test_billing.c checks every cell.  A subscription is born active
 * (its first charge succeeded) and never leaves `ended`.
 */
static const signed char transitions[BILL_STATE_COUNT][BILL_EVENT_COUNT] = {
	/*            cancel resume change renew renewal_failed retry_failed recovered exhausted expire hold_expired end_now */
	[BILL_ACTIVE]   = {CA, NO, A,  A,  PD, NO, NO, NO, NO, NO, EN},
	[BILL_PAST_DUE] = {EN, NO, NO, NO, NO, PD, A,  OH, NO, NO, EN},
	[BILL_ON_HOLD]  = {EN, NO, NO, NO, NO, OH, A,  NO, NO, EN, EN},
	[BILL_CANCELED] = {NO, A,  NO, NO, NO, NO, NO, NO, EN, NO, EN},
	[BILL_ENDED]    = {NO, NO, NO, NO, NO, NO, NO, NO, NO, NO, NO},
};

#undef A
#undef PD
#undef OH
#undef CA
#undef EN

const char *bill_state_name(enum bill_state s)
{
	return (unsigned)s < BILL_STATE_COUNT ? state_names[s] : "";
}

int bill_state_parse(const char *s)
{
	for (int i = 0; i < BILL_STATE_COUNT; i++)
		if (strcmp(state_names[i], s) == 0)
			return i;
	return -1;
}

const char *bill_event_name(enum bill_event ev)
{
	return (unsigned)ev < BILL_EVENT_COUNT ? event_names[ev] : "";
}

enum err bill_transition(enum bill_state from, enum bill_event ev, enum bill_state *to)
{
	if ((unsigned)from >= BILL_STATE_COUNT || (unsigned)ev >= BILL_EVENT_COUNT)
		return ERR_INVALID_STATE;
	signed char next = transitions[from][ev];
	if (next == NO)
		return ERR_INVALID_STATE;
	*to = (enum bill_state)next;
	return ERR_OK;
}

/* ---- reading ---- */

#define SUB_COLUMNS                                                                           \
	"s.id, s.account_id, s.state, s.plan_code, s.catalog_version, s.country, s.currency,"  \
	" s.amount, s.tax_inclusive, s.tax_rate_bps, s.tax_name, s.billing_anchor,"            \
	" s.period_index, s.current_period_start, s.current_period_end,"                       \
	" s.cancel_at_period_end, s.canceled_at, s.ended_at, s.scheduled_plan_code,"           \
	" s.created_at,"                                                                       \
	" (SELECT i.id FROM invoices i WHERE i.subscription_id = s.id"                         \
	"   ORDER BY i.created_at DESC, i.number DESC LIMIT 1)"

static enum err read_sub(struct db *db, struct db_stmt *st, struct bill_subscription *out)
{
	memset(out, 0, sizeof *out);
	snprintf(out->id, sizeof out->id, "%s", db_column_text(st, 0));
	snprintf(out->account_id, sizeof out->account_id, "%s", db_column_text(st, 1));
	int state = bill_state_parse(db_column_text(st, 2));
	if (state < 0)
		return ERR_INTERNAL;
	out->state = (enum bill_state)state;
	snprintf(out->plan.code, sizeof out->plan.code, "%s", db_column_text(st, 3));
	out->catalog_version = db_column_int64(st, 4);
	snprintf(out->country, sizeof out->country, "%s", db_column_text(st, 5));
	enum err e = money_init(&out->price.amount, db_column_int64(st, 7), db_column_text(st, 6));
	if (e != ERR_OK)
		return e;
	out->price.tax_inclusive = db_column_int64(st, 8) != 0;
	out->price.tax_rate_bps = (int32_t)db_column_int64(st, 9);
	snprintf(out->price.tax_name, sizeof out->price.tax_name, "%s", db_column_text(st, 10));
	out->billing_anchor = db_column_int64(st, 11);
	out->period_index = db_column_int64(st, 12);
	out->current_period_start = db_column_int64(st, 13);
	out->current_period_end = db_column_int64(st, 14);
	out->cancel_at_period_end = db_column_int64(st, 15) != 0;
	out->canceled_at = db_column_int64(st, 16);
	out->ended_at = db_column_int64(st, 17);
	if (!db_column_is_null(st, 18)) {
		out->has_scheduled_change = true;
		snprintf(out->scheduled_plan_code, sizeof out->scheduled_plan_code, "%s",
			 db_column_text(st, 18));
		out->scheduled_change_at = out->current_period_end;
	}
	out->created_at = db_column_int64(st, 19);
	if (!db_column_is_null(st, 20))
		snprintf(out->latest_invoice_id, sizeof out->latest_invoice_id, "%s", db_column_text(st, 20));
	(void)db;
	return ERR_OK;
}

/* Fill what comes from the catalog: the plan's features and the price the
 * scheduled plan has today. */
static enum err complete_sub(struct db *db, struct bill_subscription *s)
{
	char code[BILL_CODE_MAX + 1];
	snprintf(code, sizeof code, "%s", s->plan.code);
	enum err e = cat_plan_get(db, s->catalog_version, code, &s->plan);
	if (e != ERR_OK)
		return e == ERR_NOT_FOUND ? ERR_INTERNAL : e;
	if (s->has_scheduled_change) {
		struct bill_offer offer;
		int64_t version = 0;
		if (cat_offer(db, s->country, s->scheduled_plan_code, clock_now(), &offer, &version) == ERR_OK)
			s->scheduled_price = offer.price.amount;
		else
			money_init(&s->scheduled_price, 0, s->price.amount.currency);
	}
	return ERR_OK;
}

/* The live subscription (not ended) of `account_id`, or when `any` the most
 * recent ended one too. */
static enum err load_sub(struct db *db, const char *account_id, bool any, struct bill_subscription *out)
{
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db,
				any ? "SELECT " SUB_COLUMNS " FROM subscriptions s WHERE s.account_id = ?1"
				      " ORDER BY CASE WHEN s.state = 'ended' THEN 1 ELSE 0 END, s.created_at DESC"
				      " LIMIT 1"
				    : "SELECT " SUB_COLUMNS " FROM subscriptions s"
				      " WHERE s.account_id = ?1 AND s.state <> 'ended'",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, account_id);
	e = db_step_row(st);
	if (e == ERR_OK)
		e = read_sub(db, st, out);
	db_done(st);
	if (e == ERR_OK)
		e = complete_sub(db, out);
	return e;
}

enum err bill_subscription_get(struct db *db, const char *account_id, struct bill_subscription *out)
{
	return load_sub(db, account_id, true, out);
}

static json_t *sub_event_payload(const struct bill_subscription *s)
{
	return json_pack("{s:s, s:s, s:s, s:I, s:s}", "account", s->account_id, "state",
			 bill_state_name(s->state), "plan", s->plan.code, "amount",
			 (json_int_t)s->price.amount.amount, "currency", s->price.amount.currency);
}

/* What a member is told of their subscription (docs/billing.md,
 * "Notifications"): the confirmation of what they agreed to pay, and of
 * every change they made to it, with the plan, its price per period and
 * when it renews or ends; `extra` (stolen, may be NULL) adds the change's
 * own fields. */
static enum err notify_subscription(struct db *db, const struct bill_subscription *s,
				    const char *template_name, json_t *extra)
{
	json_t *p = json_pack("{s:s, s:s, s:o, s:o}", "plan", s->plan.code, "plan_name", s->plan.name,
			      "price", bill_money_json(s->price.amount.amount, s->price.amount.currency),
			      "period_end", clock_json(s->current_period_end));
	if (p && extra)
		json_object_update(p, extra);
	json_decref(extra);
	return p ? bill_notify(db, s->account_id, template_name, p) : ERR_NOMEM;
}

/* The invoice a change was charged on, for a notice: id, number, total. */
static json_t *invoice_json(const struct inv_draft *d)
{
	return json_pack("{s:s, s:s, s:o}", "invoice", d->id, "invoice_number", d->number, "total",
			 bill_money_json(d->total.amount, d->total.currency));
}

/* The description of a plan line: "Standard, 15 Jan 2027 - 15 Feb 2027". */
static void plan_line_text(char *buf, size_t cap, const char *prefix, const char *name, int64_t from,
			   int64_t to)
{
	char a[24], b[24];
	bill_date_text(from, a, sizeof a);
	bill_date_text(to, b, sizeof b);
	snprintf(buf, cap, "%s%s, %s - %s", prefix, name, a, b);
}

enum err sub_account_has(struct db *db, const char *account_id, enum sub_filter which, bool *yes)
{
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db,
				which == SUB_LIVE ? "SELECT 1 FROM subscriptions WHERE account_id = ?1 AND state <> 'ended'"
						  : "SELECT 1 FROM subscriptions WHERE account_id = ?1"
						    " AND state IN ('past_due', 'on_hold')",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, account_id);
	e = db_step_row(st);
	db_done(st);
	*yes = e == ERR_OK;
	return e == ERR_NOT_FOUND ? ERR_OK : e;
}

/* The payment method a call charges: the one named, or the default. */
static enum err choose_pm(struct db *db, const char *account_id, const char *pm_id, struct pm_row *pm)
{
	if (pm_id)
		return pm_row_get(db, account_id, pm_id, pm);
	enum err e = pm_default_row(db, account_id, pm);
	return e == ERR_NOT_FOUND ? ERR_PAYMENT_REQUIRED : e;
}

/* ---- subscribe ---- */

struct subscribe_ctx {
	const struct bill_subscribe_params *p;
	struct bill_subscription *out;
	struct bill_payment_outcome *pay;
	bool declined;
};

static enum err subscribe_tx(struct db *db, void *arg)
{
	struct subscribe_ctx *c = arg;
	const struct bill_subscribe_params *p = c->p;
	struct db_stmt *st = NULL;
	struct bill_offer offer;
	struct pm_row pm;
	struct inv_draft d;
	int64_t version = 0, now = clock_now(), start, end;
	char sub_id[IDS_MAX], desc[INV_DESCRIPTION_MAX];
	c->declined = false;
	memset(c->pay, 0, sizeof *c->pay);

	bool live = false;
	enum err e = sub_account_has(db, p->account_id, SUB_LIVE, &live);
	if (e != ERR_OK)
		return e;
	if (live)
		return ERR_SUBSCRIPTION_EXISTS;
	e = cat_offer(db, p->country, p->plan_code, now, &offer, &version);
	if (e == ERR_OK)
		e = choose_pm(db, p->account_id, p->payment_method_id, &pm);
	if (e != ERR_OK)
		return e;

	bill_period_bounds(now, 0, &start, &end);
	inv_draft_init(&d, p->account_id, "subscription_create", offer.plan.code, &offer.price, start, end);
	plan_line_text(desc, sizeof desc, "", offer.plan.name, start, end);
	e = inv_add_line(&d, BILL_LINE_PLAN, desc, offer.plan.code, &offer.price.amount, &offer.price,
			 start, end);
	if (e == ERR_OK)
		e = inv_finalize_and_charge(db, &d, &pm, now, c->pay, &c->declined);
	/* Declined: no subscription is made; commit the voided invoice. */
	if (e != ERR_OK || c->declined)
		return e;

	e = ids_new("sub_", sub_id, sizeof sub_id);
	if (e != ERR_OK)
		return e;
	st = NULL;
	e = db_prepare(db,
		       "INSERT INTO subscriptions (id, account_id, state, plan_code, catalog_version, country,"
		       " currency, amount, tax_inclusive, tax_rate_bps, tax_name, billing_anchor, period_index,"
		       " current_period_start, current_period_end, created_at, updated_at)"
		       " VALUES (?1, ?2, 'active', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 0, ?12, ?13, ?11, ?11)",
		       &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, sub_id);
	db_bind_text(st, 2, p->account_id);
	db_bind_text(st, 3, offer.plan.code);
	db_bind_int64(st, 4, version);
	db_bind_text(st, 5, p->country);
	db_bind_text(st, 6, offer.price.amount.currency);
	db_bind_int64(st, 7, offer.price.amount.amount);
	db_bind_int64(st, 8, offer.price.tax_inclusive);
	db_bind_int64(st, 9, offer.price.tax_rate_bps);
	db_bind_text(st, 10, offer.price.tax_name);
	db_bind_int64(st, 11, now);
	db_bind_int64(st, 12, start);
	db_bind_int64(st, 13, end);
	e = db_step_done(st);
	db_done(st);
	/* The unique index on live subscriptions is the last word on a race. */
	if (e == ERR_CONFLICT)
		return ERR_SUBSCRIPTION_EXISTS;
	if (e == ERR_OK)
		e = inv_set_subscription(db, d.id, sub_id);
	if (e == ERR_OK && p->payment_method_id)
		e = pm_make_default(db, p->account_id, pm.id);
	if (e == ERR_OK)
		e = load_sub(db, p->account_id, false, c->out);
	if (e == ERR_OK) {
		json_t *payload = sub_event_payload(c->out);
		json_object_set_new(payload, "invoice", json_string(d.id));
		e = events_emit(db, "subscription.created", sub_id, payload);
	}
	if (e == ERR_OK)
		e = notify_subscription(db, c->out, "subscription_started", invoice_json(&d));
	return e;
}

enum err bill_subscribe(struct db *db, const struct bill_subscribe_params *p,
			struct bill_subscription *out, struct bill_payment_outcome *pay)
{
	struct subscribe_ctx c = {p, out, pay, false};
	enum err e = db_transaction(db, subscribe_tx, &c);
	if (e == ERR_OK && c.declined)
		return ERR_PAYMENT_FAILED;
	return e;
}

/* ---- plan changes ---- */

static enum err update_schedule(struct db *db, const struct bill_subscription *s, const char *code,
				int64_t now)
{
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db, "UPDATE subscriptions SET scheduled_plan_code = ?1, scheduled_at = ?2,"
				    " updated_at = ?3 WHERE id = ?4", &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, code);
	if (code)
		db_bind_int64(st, 2, now);
	else
		db_bind_null(st, 2);
	db_bind_int64(st, 3, now);
	db_bind_text(st, 4, s->id);
	e = db_step_done(st);
	db_done(st);
	return e;
}

struct change_ctx {
	const char *account_id;
	const char *plan_code;
	struct bill_subscription *out;
	enum bill_change_kind *kind;
	struct bill_payment_outcome *pay;
	bool declined;
};

/* Apply an upgrade now: proration credit and charge on one invoice,
 * charged at once; the subscription moves to the new plan and price only
 * when the charge succeeds. */
static enum err upgrade(struct db *db, struct change_ctx *c, const struct bill_subscription *s,
			const struct bill_offer *offer, int64_t version, int64_t now)
{
	struct bill_proration pr;
	struct inv_draft d;
	struct pm_row pm;
	struct db_stmt *st = NULL;
	char desc[INV_DESCRIPTION_MAX], from[24];
	int64_t at = now < s->current_period_start ? s->current_period_start : now;
	if (at > s->current_period_end)
		at = s->current_period_end;
	enum err e = choose_pm(db, s->account_id, NULL, &pm);
	if (e == ERR_OK)
		e = bill_prorate(&s->price.amount, &offer->price.amount, s->current_period_start,
				 s->current_period_end, at, &pr);
	if (e != ERR_OK)
		return e;
	inv_draft_init(&d, s->account_id, "subscription_update", offer->plan.code, &offer->price, at,
		       s->current_period_end);
	snprintf(d.subscription_id, sizeof d.subscription_id, "%s", s->id);
	bill_date_text(at, from, sizeof from);
	snprintf(desc, sizeof desc, "Unused time on %s after %s", s->plan.name, from);
	e = inv_add_line(&d, BILL_LINE_PRORATION_CREDIT, desc, s->plan.code, &pr.credit, &s->price, at,
			 s->current_period_end);
	if (e == ERR_OK) {
		snprintf(desc, sizeof desc, "Remaining time on %s after %s", offer->plan.name, from);
		e = inv_add_line(&d, BILL_LINE_PRORATION_CHARGE, desc, offer->plan.code, &pr.charge,
				 &offer->price, at, s->current_period_end);
	}
	if (e == ERR_OK)
		e = inv_finalize_and_charge(db, &d, &pm, now, c->pay, &c->declined);
	if (e != ERR_OK || c->declined)
		return e;
	e = db_prepare(db,
		       "UPDATE subscriptions SET plan_code = ?1, catalog_version = ?2, currency = ?3, amount = ?4,"
		       " tax_inclusive = ?5, tax_rate_bps = ?6, tax_name = ?7, scheduled_plan_code = NULL,"
		       " scheduled_at = NULL, updated_at = ?8 WHERE id = ?9",
		       &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, offer->plan.code);
	db_bind_int64(st, 2, version);
	db_bind_text(st, 3, offer->price.amount.currency);
	db_bind_int64(st, 4, offer->price.amount.amount);
	db_bind_int64(st, 5, offer->price.tax_inclusive);
	db_bind_int64(st, 6, offer->price.tax_rate_bps);
	db_bind_text(st, 7, offer->price.tax_name);
	db_bind_int64(st, 8, now);
	db_bind_text(st, 9, s->id);
	e = db_step_done(st);
	db_done(st);
	if (e == ERR_OK) {
		*c->kind = BILL_CHANGE_UPGRADED;
		e = events_emit(db, "subscription.updated", s->id,
				json_pack("{s:s, s:s, s:s, s:s, s:s}", "account", s->account_id, "change",
					  "upgraded", "from", s->plan.code, "to", offer->plan.code,
					  "invoice", d.id));
	}
	if (e == ERR_OK) {
		struct bill_subscription now_on = *s;
		now_on.plan = offer->plan;
		now_on.price = offer->price;
		json_t *extra = invoice_json(&d);
		json_object_set_new(extra, "from_plan", json_string(s->plan.code));
		json_object_set_new(extra, "effective_at", clock_json(at));
		e = notify_subscription(db, &now_on, "plan_changed", extra);
	}
	return e;
}

static enum err change_tx(struct db *db, void *arg)
{
	struct change_ctx *c = arg;
	struct bill_subscription s;
	struct bill_offer offer;
	enum bill_state next;
	int64_t version = 0, now = clock_now();
	c->declined = false;
	*c->kind = BILL_CHANGE_NONE;
	memset(c->pay, 0, sizeof *c->pay);
	enum err e = load_sub(db, c->account_id, false, &s);
	if (e != ERR_OK)
		return e;
	e = bill_transition(s.state, BILL_EV_CHANGE_PLAN, &next);
	if (e == ERR_OK)
		e = cat_offer(db, s.country, c->plan_code, now, &offer, &version);
	if (e != ERR_OK)
		return e;
	if (strcmp(offer.plan.code, s.plan.code) == 0) {
		if (s.has_scheduled_change) {
			e = update_schedule(db, &s, NULL, now);
			if (e == ERR_OK)
				e = events_emit(db, "subscription.updated", s.id,
						json_pack("{s:s, s:s, s:s}", "account", s.account_id, "change",
							  "scheduled_change_withdrawn", "withdrawn",
							  s.scheduled_plan_code));
			*c->kind = BILL_CHANGE_WITHDRAWN;
		}
	} else if (strcmp(offer.price.amount.currency, s.price.amount.currency) == 0 &&
		   offer.price.amount.amount > s.price.amount.amount) {
		e = upgrade(db, c, &s, &offer, version, now);
	} else {
		e = update_schedule(db, &s, offer.plan.code, now);
		if (e == ERR_OK) {
			char at[32];
			e = events_emit(db, "subscription.updated", s.id,
					json_pack("{s:s, s:s, s:s, s:s, s:s}", "account", s.account_id, "change",
						  "downgrade_scheduled", "from", s.plan.code, "to",
						  offer.plan.code, "effective_at",
						  clock_format(s.current_period_end, at, sizeof at)));
		}
		if (e == ERR_OK)
			e = notify_subscription(
				db, &s, "plan_change_scheduled",
				json_pack("{s:s, s:s, s:o, s:o}", "to_plan", offer.plan.code, "to_plan_name",
					  offer.plan.name, "to_price",
					  bill_money_json(offer.price.amount.amount, offer.price.amount.currency),
					  "effective_at", clock_json(s.current_period_end)));
		*c->kind = BILL_CHANGE_SCHEDULED;
	}
	if (e == ERR_OK)
		e = load_sub(db, c->account_id, false, c->out);
	return e;
}

enum err bill_change_plan(struct db *db, const char *account_id, const char *plan_code,
			  struct bill_subscription *out, enum bill_change_kind *kind,
			  struct bill_payment_outcome *pay)
{
	struct change_ctx c = {account_id, plan_code, out, kind, pay, false};
	enum err e = db_transaction(db, change_tx, &c);
	if (e == ERR_OK && c.declined)
		return ERR_PAYMENT_FAILED;
	return e;
}

struct simple_ctx {
	const char *account_id;
	struct bill_subscription *out;
};

static enum err withdraw_tx(struct db *db, void *arg)
{
	struct simple_ctx *c = arg;
	struct bill_subscription s;
	enum bill_state next;
	enum err e = load_sub(db, c->account_id, false, &s);
	if (e != ERR_OK)
		return e;
	if (!s.has_scheduled_change)
		return ERR_NOT_FOUND;
	e = bill_transition(s.state, BILL_EV_CHANGE_PLAN, &next);
	if (e == ERR_OK)
		e = update_schedule(db, &s, NULL, clock_now());
	if (e == ERR_OK)
		e = events_emit(db, "subscription.updated", s.id,
				json_pack("{s:s, s:s, s:s}", "account", s.account_id, "change",
					  "scheduled_change_withdrawn", "withdrawn", s.scheduled_plan_code));
	if (e == ERR_OK)
		e = load_sub(db, c->account_id, false, c->out);
	return e;
}

enum err bill_cancel_scheduled_change(struct db *db, const char *account_id,
				      struct bill_subscription *out)
{
	struct simple_ctx c = {account_id, out};
	return db_transaction(db, withdraw_tx, &c);
}

/* ---- cancel and resume ---- */

/* The latest subscription, live or not, so that acting on an ended one is
 * a state error rather than "not found". */
static enum err load_latest(struct db *db, const char *account_id, struct bill_subscription *s)
{
	return load_sub(db, account_id, true, s);
}

static enum err cancel_tx(struct db *db, void *arg)
{
	struct simple_ctx *c = arg;
	struct bill_subscription s;
	struct db_stmt *st = NULL;
	enum bill_state next;
	int64_t now = clock_now();
	enum err e = load_latest(db, c->account_id, &s);
	if (e == ERR_OK)
		e = bill_transition(s.state, BILL_EV_CANCEL, &next);
	if (e != ERR_OK)
		return e;
	e = db_prepare(db,
		       "UPDATE subscriptions SET state = ?1, cancel_at_period_end = ?2, canceled_at = ?3,"
		       " ended_at = ?4, scheduled_plan_code = NULL, scheduled_at = NULL, updated_at = ?3"
		       " WHERE id = ?5",
		       &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, bill_state_name(next));
	db_bind_int64(st, 2, next == BILL_CANCELED);
	db_bind_int64(st, 3, now);
	if (next == BILL_ENDED)
		db_bind_int64(st, 4, now);
	else
		db_bind_null(st, 4);
	db_bind_text(st, 5, s.id);
	e = db_step_done(st);
	db_done(st);
	/* Ending in dunning: the unpaid invoice will never be paid. */
	if (e == ERR_OK && next == BILL_ENDED)
		e = inv_void_open_of_subscription(db, s.id, now);
	if (e == ERR_OK) {
		char at[32];
		int64_t ends = next == BILL_ENDED ? now : s.current_period_end;
		e = events_emit(db, "subscription.canceled", s.id,
				json_pack("{s:s, s:s, s:s, s:s}", "account", s.account_id, "from",
					  bill_state_name(s.state), "state", bill_state_name(next),
					  "ends_at", clock_format(ends, at, sizeof at)));
		if (e == ERR_OK)
			e = notify_subscription(db, &s, "subscription_canceled",
						json_pack("{s:o, s:b}", "access_ends_at", clock_json(ends),
							  "ended_now", next == BILL_ENDED));
	}
	if (e == ERR_OK)
		e = load_latest(db, c->account_id, c->out);
	return e;
}

enum err bill_cancel(struct db *db, const char *account_id, struct bill_subscription *out)
{
	struct simple_ctx c = {account_id, out};
	return db_transaction(db, cancel_tx, &c);
}

static enum err resume_tx(struct db *db, void *arg)
{
	struct simple_ctx *c = arg;
	struct bill_subscription s;
	struct db_stmt *st = NULL;
	enum bill_state next;
	int64_t now = clock_now();
	enum err e = load_latest(db, c->account_id, &s);
	if (e == ERR_OK)
		e = bill_transition(s.state, BILL_EV_RESUME, &next);
	if (e != ERR_OK)
		return e;
	/* After the period end the subscription is over, even if the billing
	 * run has not marked it ended yet. */
	if (now >= s.current_period_end)
		return ERR_INVALID_STATE;
	e = db_prepare(db,
		       "UPDATE subscriptions SET state = ?1, cancel_at_period_end = 0, canceled_at = NULL,"
		       " updated_at = ?2 WHERE id = ?3",
		       &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, bill_state_name(next));
	db_bind_int64(st, 2, now);
	db_bind_text(st, 3, s.id);
	e = db_step_done(st);
	db_done(st);
	if (e == ERR_OK)
		e = events_emit(db, "subscription.resumed", s.id,
				json_pack("{s:s, s:s}", "account", s.account_id, "plan", s.plan.code));
	if (e == ERR_OK)
		e = notify_subscription(db, &s, "subscription_resumed", NULL);
	if (e == ERR_OK)
		e = load_latest(db, c->account_id, c->out);
	return e;
}

enum err bill_resume(struct db *db, const char *account_id, struct bill_subscription *out)
{
	struct simple_ctx c = {account_id, out};
	return db_transaction(db, resume_tx, &c);
}

/* ---- entitlements ---- */

enum err bill_entitlements(struct db *db, const char *account_id, struct bill_entitlements *out)
{
	struct bill_subscription s;
	memset(out, 0, sizeof *out);
	enum err e = load_sub(db, account_id, true, &s);
	if (e == ERR_NOT_FOUND) {
		snprintf(out->reason, sizeof out->reason, "no_subscription");
		return ERR_OK;
	}
	if (e != ERR_OK)
		return e;
	snprintf(out->plan_code, sizeof out->plan_code, "%s", s.plan.code);
	out->state = s.state;
	const char *reason = NULL;
	switch (s.state) {
	case BILL_ACTIVE:
	case BILL_PAST_DUE:
		break;
	case BILL_CANCELED:
		if (clock_now() >= s.current_period_end)
			reason = "subscription_ended";
		break;
	case BILL_ON_HOLD:
		reason = "payment_required";
		break;
	case BILL_ENDED:
		reason = "subscription_ended";
		break;
	}
	if (reason) {
		snprintf(out->reason, sizeof out->reason, "%s", reason);
		return ERR_OK;
	}
	out->playback_allowed = true;
	out->max_streams = s.plan.max_streams;
	snprintf(out->resolution, sizeof out->resolution, "%s", s.plan.resolution);
	out->download_devices = s.plan.download_devices;
	out->has_ads = s.plan.has_ads;
	out->extra_member_slots = s.plan.extra_member_slots;
	out->device_types = s.plan.device_types;
	return ERR_OK;
}
