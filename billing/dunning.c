/*
 * Dunning: what happens after a renewal charge fails.
 *
 *   active --renewal declined--> past_due (access continues)
 *   past_due: retries at dunning_since + retry_after[i] (default 1, 3, 5, 7 days)
 *     a retry pays                 -> active (same period, nothing lost)
 *     a retry fails, more remain   -> past_due, next retry scheduled
 *     the last retry fails         -> on_hold (playback stops, invoice uncollectible)
 *   on_hold for hold_s (default 30 days) -> ended
 *   a payment method added or made default: charged at once
 *     past_due: the open invoice;  on_hold: a new period from now
 *
 * A hard decline (expired card, invalid method) is not retried on the same
 * card: the scheduled steps still come, but only count down to on_hold, so
 * the member has the same grace period to give a new card.  The member is
 * told at the first failure (payment_failed) and when one step is left
 * before access stops (access_ending_soon), then when it stopped
 * (subscription_on_hold) and when the subscription ended.
 *
 * Every time in the schedule is computed from dunning_since, the due time
 * of the failed renewal, never from when a run got to it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "billing/renewal_int.h"
#include "core/clock.h"
#include "core/events.h"
#include "core/log.h"

/* ---- settings ---- */

static struct bill_dunning_settings settings = {4, {1 * DAY_S, 3 * DAY_S, 5 * DAY_S, 7 * DAY_S}, 30 * DAY_S};

void bill_dunning_defaults(struct bill_dunning_settings *s)
{
	memset(s, 0, sizeof *s);
	s->nretries = 4;
	s->retry_after_s[0] = 1 * DAY_S;
	s->retry_after_s[1] = 3 * DAY_S;
	s->retry_after_s[2] = 5 * DAY_S;
	s->retry_after_s[3] = 7 * DAY_S;
	s->hold_s = 30 * DAY_S;
}

enum err bill_dunning_parse_days(const char *csv, struct bill_dunning_settings *s)
{
	struct bill_dunning_settings t = *s;
	const char *p = csv;
	t.nretries = 0;
	while (*p) {
		int64_t v = 0;
		int digits = 0;
		while (*p >= '0' && *p <= '9' && digits < 4) {
			v = v * 10 + (*p - '0');
			p++;
			digits++;
		}
		if (digits == 0 || v < 1 || v > 60 || t.nretries >= BILL_RETRIES_MAX)
			return ERR_INVALID_PARAMETER;
		if (t.nretries > 0 && v * DAY_S <= t.retry_after_s[t.nretries - 1])
			return ERR_INVALID_PARAMETER;
		t.retry_after_s[t.nretries++] = v * DAY_S;
		if (*p == ',')
			p++;
		else if (*p)
			return ERR_INVALID_PARAMETER;
		if (*p == '\0' && p > csv && p[-1] == ',')
			return ERR_INVALID_PARAMETER;
	}
	*s = t;
	return ERR_OK;
}

void bill_dunning_configure(const struct bill_dunning_settings *s) { settings = *s; }

void bill_dunning_current(struct bill_dunning_settings *out) { *out = settings; }

/* ---- reading ---- */

/* The unpaid plan-period invoice of (subscription, period start): its id
 * when open, "" otherwise. */
static enum err open_invoice(struct db *db, const char *sub_id, int64_t period_start, char *id)
{
	struct db_stmt *st = NULL;
	id[0] = '\0';
	enum err e = db_prepare(db,
				"SELECT id, status FROM invoices WHERE subscription_id = ?1 AND period_start = ?2"
				" AND billing_reason IN ('subscription_create', 'subscription_cycle')",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, sub_id);
	db_bind_int64(st, 2, period_start);
	e = db_step_row(st);
	if (e == ERR_OK && strcmp(db_column_text(st, 1), "open") == 0)
		snprintf(id, IDS_MAX, "%s", db_column_text(st, 0));
	db_done(st);
	return e == ERR_NOT_FOUND ? ERR_OK : e;
}

enum err bill_dunning_get(struct db *db, const char *subscription_id, struct bill_dunning *out)
{
	struct db_stmt *st = NULL;
	memset(out, 0, sizeof *out);
	enum err e = db_prepare(db,
				"SELECT state, failed_payments, dunning_since, next_retry_at, dunning_hard,"
				" on_hold_since, current_period_start FROM subscriptions WHERE id = ?1",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, subscription_id);
	e = db_step_row(st);
	char state[16] = "";
	int64_t period_start = 0;
	if (e == ERR_OK) {
		snprintf(state, sizeof state, "%s", db_column_text(st, 0));
		out->failed_payments = (int)db_column_int64(st, 1);
		out->since = db_column_int64(st, 2);
		out->next_retry_at = db_column_int64(st, 3);
		out->next_retry_charges = db_column_int64(st, 4) == 0;
		out->on_hold_since = db_column_int64(st, 5);
		period_start = db_column_int64(st, 6);
	}
	db_done(st);
	if (e != ERR_OK)
		return e;
	if (strcmp(state, "past_due") == 0)
		e = open_invoice(db, subscription_id, period_start, out->open_invoice_id);
	if (strcmp(state, "on_hold") == 0)
		out->ends_at = out->on_hold_since + settings.hold_s;
	if (out->next_retry_at == 0)
		out->next_retry_charges = false;
	return e;
}

static int64_t attempts_on(struct db *db, const char *invoice_id)
{
	struct db_stmt *st = NULL;
	int64_t n = 0;
	if (db_prepare(db, "SELECT COUNT(*) FROM payment_attempts WHERE invoice_id = ?1", &st) != ERR_OK)
		return 0;
	db_bind_text(st, 1, invoice_id);
	if (db_step_row(st) == ERR_OK)
		n = db_column_int64(st, 0);
	db_done(st);
	return n;
}

/* Charge the open invoice `d` of subscription `r` with its default method
 * (the provider key counts the invoice's earlier attempts). */
static enum err charge_open(struct db *db, const struct due_sub *r, struct inv_draft *d, int64_t now,
			    struct bill_payment_outcome *pay)
{
	memset(pay, 0, sizeof *pay);
	snprintf(pay->invoice_id, sizeof pay->invoice_id, "%s", d->id);
	if (!r->has_pm && inv_amount_due(d) > 0) {
		snprintf(pay->failure_code, sizeof pay->failure_code, "no_payment_method");
		pay->hard_decline = true;
		return ERR_OK;
	}
	ren_charge_key(d->charge_key, sizeof d->charge_key, r->id, d->period_start, attempts_on(db, d->id));
	return inv_charge(db, d, r->has_pm ? &r->pm : NULL, now, pay);
}

/* ---- entering dunning ---- */

/* After the failure number `failed` (1 = the renewal itself) of dunning
 * that began at `since`: the next scheduled step, or 0 when none is left. */
static int64_t next_step_at(int64_t since, int failed)
{
	int i = failed - 1; /* the retry that comes next */
	return i < settings.nretries ? since + settings.retry_after_s[i] : 0;
}

/* One scheduled step is left before access stops: tell the member. */
static enum err maybe_warn(struct db *db, const struct due_sub *r, int failed, int64_t since,
			   const char *invoice_id)
{
	if (failed != settings.nretries)
		return ERR_OK;
	int64_t last = since + settings.retry_after_s[settings.nretries - 1];
	return bill_notify(db, r->account_id, "access_ending_soon",
			  json_pack("{s:s, s:s, s:o}", "plan", r->plan_code, "invoice", invoice_id,
				    "access_stops_at", clock_json(last)));
}

static enum err go_on_hold(struct db *db, const struct due_sub *r, const char *invoice_id, int failed,
			   int64_t since, int64_t at, int64_t now, struct ren_counts *counts)
{
	struct ren_state s = {.state = BILL_ON_HOLD, .failed_payments = failed, .dunning_since = since,
			      .on_hold_since = at};
	enum bill_state next;
	enum err e = bill_transition(BILL_PAST_DUE, BILL_EV_RETRIES_EXHAUSTED, &next);
	if (e == ERR_OK)
		e = ren_set_state(db, r->id, &s, now);
	if (e == ERR_OK && invoice_id[0])
		e = inv_mark_uncollectible(db, invoice_id, now);
	if (e == ERR_OK)
		e = events_emit(db, "subscription.on_hold", r->id,
				json_pack("{s:s, s:s, s:i, s:o, s:o}", "account", r->account_id, "invoice",
					  invoice_id, "failed_payments", failed, "on_hold_since", clock_json(at),
					  "ends_at", clock_json(at + settings.hold_s)));
	if (e == ERR_OK)
		e = bill_notify(db, r->account_id, "subscription_on_hold",
			       json_pack("{s:s, s:s, s:o}", "plan", r->plan_code, "reason", "payment_required",
					 "ends_at", clock_json(at + settings.hold_s)));
	(void)counts;
	return e;
}

enum err dun_renewal_failed(struct db *db, const struct due_sub *r, const struct inv_draft *d,
			    const struct bill_payment_outcome *pay, int64_t due, int64_t now,
			    struct ren_counts *counts)
{
	enum bill_state next;
	enum err e = bill_transition(BILL_ACTIVE, BILL_EV_RENEWAL_FAILED, &next);
	if (e != ERR_OK)
		return e;
	counts->failed++;
	int64_t retry = next_step_at(due, 1);
	struct ren_state s = {.state = BILL_PAST_DUE, .failed_payments = 1, .next_retry_at = retry,
			      .dunning_since = due, .dunning_hard = pay->hard_decline};
	e = ren_set_state(db, r->id, &s, now);
	if (e == ERR_OK)
		e = events_emit(db, "subscription.past_due", r->id,
				json_pack("{s:s, s:s, s:s, s:b, s:o}", "account", r->account_id, "invoice", d->id,
					  "failure_code", pay->failure_code, "hard_decline", pay->hard_decline,
					  "next_retry_at", retry ? clock_json(retry) : json_null()));
	if (e == ERR_OK)
		e = bill_notify(db, r->account_id, "payment_failed",
			       json_pack("{s:s, s:s, s:s?, s:o, s:s, s:b, s:o}", "plan", r->plan_code, "invoice",
					 d->id, "number", d->number[0] ? d->number : NULL, "amount",
					 bill_money_json(inv_amount_due(d), d->currency), "failure_code",
					 pay->failure_code, "hard_decline", pay->hard_decline, "next_retry_at",
					 retry ? clock_json(retry) : json_null()));
	if (e != ERR_OK)
		return e;
	if (retry == 0) /* no retries configured: access stops at once */
		return go_on_hold(db, r, d->id, 1, due, due, now, counts);
	return maybe_warn(db, r, 1, due, d->id);
}

/* ---- a scheduled retry ---- */

static enum err recovered(struct db *db, const struct due_sub *r, const char *invoice_id, int64_t now,
			  const char *how)
{
	struct ren_state s = {.state = BILL_ACTIVE};
	enum bill_state next;
	enum err e = bill_transition(r->state, BILL_EV_PAYMENT_RECOVERED, &next);
	if (e == ERR_OK)
		e = ren_set_state(db, r->id, &s, now);
	if (e == ERR_OK)
		e = events_emit(db, "subscription.recovered", r->id,
				json_pack("{s:s, s:s, s:s, s:i}", "account", r->account_id, "invoice", invoice_id,
					  "via", how, "failed_payments", r->failed_payments));
	return e;
}

enum err dun_retry_step(struct db *db, const struct due_sub *r, int64_t now, struct ren_counts *counts)
{
	struct inv_draft d;
	struct bill_payment_outcome pay;
	char inv_id[IDS_MAX], status[16];
	const int64_t at = r->next_retry_at;
	enum err e = open_invoice(db, r->id, r->period_start, inv_id);
	if (e != ERR_OK)
		return e;
	if (!inv_id[0]) {
		/* Nothing is owed any more (paid another way): back to active. */
		log_warn("billing.dunning_without_invoice", "subscription=%s", r->id);
		return recovered(db, r, "", now, "none_owed");
	}
	e = inv_load(db, inv_id, &d, status, sizeof status);
	if (e != ERR_OK)
		return e;
	memset(&pay, 0, sizeof pay);
	bool charged = !r->dunning_hard;
	if (charged) {
		e = charge_open(db, r, &d, now, &pay);
		if (e != ERR_OK)
			return e;
		if (pay.succeeded) {
			counts->recovered++;
			return recovered(db, r, d.id, now, "retry");
		}
	}
	counts->failed += charged;
	int failed = r->failed_payments + 1;
	int64_t since = r->dunning_since ? r->dunning_since : r->period_start;
	int64_t next = next_step_at(since, failed);
	if (next == 0)
		return go_on_hold(db, r, d.id, failed, since, at, now, counts);
	struct ren_state s = {.state = BILL_PAST_DUE, .failed_payments = failed, .next_retry_at = next,
			      .dunning_since = since,
			      .dunning_hard = charged ? pay.hard_decline : r->dunning_hard};
	enum bill_state to;
	e = bill_transition(BILL_PAST_DUE, BILL_EV_RETRY_FAILED, &to);
	if (e == ERR_OK)
		e = ren_set_state(db, r->id, &s, now);
	if (e == ERR_OK)
		e = events_emit(db, "subscription.retry_failed", r->id,
				json_pack("{s:s, s:s, s:b, s:s, s:i, s:o}", "account", r->account_id, "invoice",
					  d.id, "charged", charged, "failure_code",
					  charged ? pay.failure_code : "hard_decline_not_retried", "failed_payments",
					  failed, "next_retry_at", clock_json(next)));
	if (e == ERR_OK)
		e = maybe_warn(db, r, failed, since, d.id);
	return e;
}

enum err dun_hold_expired_step(struct db *db, const struct due_sub *r, int64_t now,
			       struct ren_counts *counts)
{
	enum bill_state next;
	int64_t ended_at = r->on_hold_since + settings.hold_s;
	struct ren_state s = {.state = BILL_ENDED, .failed_payments = r->failed_payments, .ended_at = ended_at};
	enum err e = bill_transition(BILL_ON_HOLD, BILL_EV_HOLD_EXPIRED, &next);
	if (e == ERR_OK)
		e = inv_void_open_of_subscription(db, r->id, now);
	if (e == ERR_OK)
		e = ren_set_state(db, r->id, &s, now);
	if (e == ERR_OK)
		e = events_emit(db, "subscription.ended", r->id,
				json_pack("{s:s, s:s, s:s, s:o}", "account", r->account_id, "from", "on_hold",
					  "reason", "hold_expired", "ended_at", clock_json(ended_at)));
	if (e == ERR_OK)
		e = bill_notify(db, r->account_id, "subscription_ended",
			       json_pack("{s:s, s:s, s:o}", "reason", "payment_required", "plan", r->plan_code,
					 "ended_at", clock_json(ended_at)));
	if (e == ERR_OK)
		counts->ended++;
	return e;
}

/* ---- a new payment method: retry at once ---- */

/* on_hold: a new period from now.  An open invoice for a period starting
 * now (an earlier attempt this very second) is charged again; older open
 * ones (failed recoveries) are voided first. */
static enum err recover_from_hold(struct db *db, const struct due_sub *r, int64_t now,
				  struct bill_payment_outcome *pay)
{
	struct db_stmt *st = NULL;
	struct inv_draft d;
	struct bill_plan plan;
	char inv_id[IDS_MAX], desc[INV_DESCRIPTION_MAX], a[24], b[24], status[16];
	int64_t start, end;
	bill_period_bounds(now, 0, &start, &end);
	enum err e = open_invoice(db, r->id, start, inv_id);
	if (e != ERR_OK)
		return e;
	if (inv_id[0]) {
		e = inv_load(db, inv_id, &d, status, sizeof status);
	} else {
		e = inv_void_open_of_subscription(db, r->id, now);
		if (e == ERR_OK)
			e = cat_plan_get(db, r->catalog_version, r->plan_code, &plan);
		if (e != ERR_OK)
			return e == ERR_NOT_FOUND ? ERR_INTERNAL : e;
		inv_draft_init(&d, r->account_id, "subscription_cycle", r->plan_code, &r->price, start, end);
		snprintf(d.subscription_id, sizeof d.subscription_id, "%s", r->id);
		bill_date_text(start, a, sizeof a);
		bill_date_text(end, b, sizeof b);
		snprintf(desc, sizeof desc, "%s, %s - %s", plan.name, a, b);
		e = inv_add_line(&d, BILL_LINE_PLAN, desc, r->plan_code, &r->price.amount, &r->price, start, end);
		if (e == ERR_OK)
			e = inv_total(&d);
		if (e == ERR_OK && r->credit_balance > 0 && d.total.amount > 0)
			d.credit_applied.amount = r->credit_balance < d.total.amount ? r->credit_balance
										  : d.total.amount;
		if (e == ERR_OK)
			e = inv_insert_finalized(db, &d, now);
		if (e == ERR_OK && d.credit_applied.amount > 0)
			e = credit_take(db, r->account_id, d.currency, d.credit_applied.amount, d.id, now);
	}
	if (e == ERR_OK)
		e = charge_open(db, r, &d, now, pay);
	if (e != ERR_OK || !pay->succeeded)
		return e; /* stays on hold; the open invoice is retried or voided later */
	e = db_prepare(db,
		       "UPDATE subscriptions SET state = 'active', billing_anchor = ?2, period_index = 0,"
		       " current_period_start = ?3, current_period_end = ?4, failed_payments = 0,"
		       " next_retry_at = NULL, dunning_since = NULL, dunning_hard = 0, on_hold_since = NULL,"
		       " scheduled_plan_code = NULL, scheduled_at = NULL, updated_at = ?2"
		       " WHERE id = ?1 AND state = 'on_hold'",
		       &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, r->id);
	db_bind_int64(st, 2, now);
	db_bind_int64(st, 3, start);
	db_bind_int64(st, 4, end);
	e = db_step_done(st);
	db_done(st);
	if (e == ERR_OK)
		e = events_emit(db, "subscription.recovered", r->id,
				json_pack("{s:s, s:s, s:s, s:i, s:o}", "account", r->account_id, "invoice", d.id,
					  "via", "payment_method", "failed_payments", r->failed_payments,
					  "new_billing_anchor", clock_json(now)));
	return e;
}

struct retry_now_ctx {
	const char *account_id;
	struct bill_payment_outcome *pay;
};

static enum err retry_now_tx(struct db *db, void *arg)
{
	struct retry_now_ctx *c = arg;
	struct due_sub r;
	struct inv_draft d;
	char inv_id[IDS_MAX], status[16];
	int64_t now = clock_now();
	memset(c->pay, 0, sizeof *c->pay);
	enum err e = ren_load_live(db, c->account_id, &r);
	if (e == ERR_NOT_FOUND)
		return ERR_OK;
	if (e != ERR_OK)
		return e;
	if (r.state == BILL_ON_HOLD)
		return recover_from_hold(db, &r, now, c->pay);
	if (r.state != BILL_PAST_DUE)
		return ERR_OK;
	e = open_invoice(db, r.id, r.period_start, inv_id);
	if (e != ERR_OK || !inv_id[0])
		return e;
	e = inv_load(db, inv_id, &d, status, sizeof status);
	if (e == ERR_OK)
		e = charge_open(db, &r, &d, now, c->pay);
	if (e != ERR_OK)
		return e;
	if (c->pay->succeeded)
		return recovered(db, &r, d.id, now, "payment_method");
	/* Still past_due: the schedule goes on; whether its steps charge
	 * depends on how this card was declined. */
	struct db_stmt *st = NULL;
	e = db_prepare(db, "UPDATE subscriptions SET dunning_hard = ?2, updated_at = ?3 WHERE id = ?1", &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, r.id);
	db_bind_int64(st, 2, c->pay->hard_decline);
	db_bind_int64(st, 3, now);
	e = db_step_done(st);
	db_done(st);
	return e;
}

enum err bill_dunning_retry_now(struct db *db, const char *account_id, struct bill_payment_outcome *pay)
{
	struct retry_now_ctx c = {account_id, pay};
	return db_transaction(db, retry_now_tx, &c);
}
