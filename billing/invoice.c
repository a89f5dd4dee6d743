/*
 * Invoices: building one in memory, writing and finalizing it with a
 * gapless number, charging it, and showing it (JSON and an HTML receipt).
 *
 * Numbers: finalization increments the counter row of the current year
 * (invoice_counters) in the same transaction that marks the invoice open.
 * SQLite serializes write transactions and PostgreSQL locks the counter row
 * on update, so two finalizations never read the same value, and a rolled
 * back one gives its number back: committed numbers run 1..N per year with
 * no gap.  A void invoice keeps its number (accounting needs the trail).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "billing/billing_int.h"
#include "core/clock.h"
#include "core/events.h"

void inv_draft_init(struct inv_draft *d, const char *account_id, const char *billing_reason,
		    const char *plan_code, const struct bill_price *price, int64_t period_start,
		    int64_t period_end)
{
	memset(d, 0, sizeof *d);
	snprintf(d->account_id, sizeof d->account_id, "%s", account_id);
	d->billing_reason = billing_reason;
	snprintf(d->plan_code, sizeof d->plan_code, "%s", plan_code);
	memcpy(d->currency, price->amount.currency, sizeof d->currency);
	d->credit_applied.amount = 0;
	memcpy(d->credit_applied.currency, price->amount.currency, sizeof d->credit_applied.currency);
	d->tax_inclusive = price->tax_inclusive;
	d->tax_rate_bps = price->tax_rate_bps;
	snprintf(d->tax_name, sizeof d->tax_name, "%s", price->tax_name);
	d->period_start = period_start;
	d->period_end = period_end;
}

enum err inv_add_line(struct inv_draft *d, enum bill_line_kind kind, const char *description,
		      const char *plan_code, const struct money *amount, const struct bill_price *rule,
		      int64_t period_start, int64_t period_end)
{
	if (d->nlines >= INV_LINES_MAX)
		return ERR_INTERNAL;
	if (strcmp(amount->currency, d->currency) != 0)
		return ERR_CURRENCY_MISMATCH;
	struct inv_line *l = &d->lines[d->nlines++];
	memset(l, 0, sizeof *l);
	l->kind = kind;
	snprintf(l->description, sizeof l->description, "%s", description);
	snprintf(l->plan_code, sizeof l->plan_code, "%s", plan_code ? plan_code : "");
	l->amount = *amount;
	l->tax_inclusive = rule->tax_inclusive;
	l->tax_rate_bps = rule->tax_rate_bps;
	l->period_start = period_start;
	l->period_end = period_end;
	return ERR_OK;
}

enum err inv_total(struct inv_draft *d)
{
	struct money added;
	enum err e = money_init(&d->subtotal, 0, d->currency);
	if (e != ERR_OK)
		return e;
	d->tax = d->subtotal;
	added = d->subtotal;
	bool any_exclusive = false;
	size_t n = d->nlines;
	for (size_t i = 0; i < n && e == ERR_OK; i++) {
		struct inv_line *l = &d->lines[i];
		if (l->kind == BILL_LINE_TAX)
			continue;
		e = bill_line_tax(&l->amount, l->tax_inclusive, l->tax_rate_bps, &l->tax);
		if (e == ERR_OK)
			e = money_add(&d->subtotal, &l->amount, &d->subtotal);
		if (e == ERR_OK)
			e = money_add(&d->tax, &l->tax, &d->tax);
		if (e == ERR_OK && !l->tax_inclusive) {
			any_exclusive = true;
			e = money_add(&added, &l->tax, &added);
		}
	}
	if (e == ERR_OK)
		e = money_add(&d->subtotal, &added, &d->total);
	if (e == ERR_OK && any_exclusive) {
		/* Tax added on top is a line of its own, so the lines sum to the total. */
		char desc[INV_DESCRIPTION_MAX], note[64];
		struct bill_price rule;
		memset(&rule, 0, sizeof rule);
		rule.tax_inclusive = false;
		static const char plus[] = "plus ";
		if (bill_tax_note(false, d->tax_rate_bps, d->tax_name, note, sizeof note) != ERR_OK)
			snprintf(note, sizeof note, "tax");
		/* "plus sales tax 8.25%" -> "sales tax 8.25%" */
		const char *text = strncmp(note, plus, sizeof plus - 1) == 0 ? note + sizeof plus - 1 : note;
		snprintf(desc, sizeof desc, "%s", text);
		e = inv_add_line(d, BILL_LINE_TAX, desc, NULL, &added, &rule, d->period_start, d->period_end);
	}
	return e;
}

/* The two gapless yearly series: SQL text is fixed per series, never built. */
static const struct {
	const char *sql;
	const char *prefix;
} series_table[] = {
	[INV_SERIES_INVOICE] = {"INSERT INTO invoice_counters (year, last_value) VALUES (?1, 1)"
				" ON CONFLICT (year) DO UPDATE SET last_value = invoice_counters.last_value + 1"
				" RETURNING last_value",
				"HEA"},
	[INV_SERIES_CREDIT_NOTE] = {"INSERT INTO credit_note_counters (year, last_value) VALUES (?1, 1)"
				    " ON CONFLICT (year) DO UPDATE SET last_value = credit_note_counters.last_value + 1"
				    " RETURNING last_value",
				    "HEA-CN"},
};

enum err inv_next_number(struct db *db, enum inv_series series, int64_t now, char *out, size_t cap)
{
	struct db_stmt *st = NULL;
	int64_t y, m, day;
	bill_civil_date(now, &y, &m, &day);
	enum err e = db_prepare(db, series_table[series].sql, &st);
	if (e != ERR_OK)
		return e;
	db_bind_int64(st, 1, y);
	e = db_step_row(st);
	if (e == ERR_OK) {
		int n = snprintf(out, cap, "%s-%04" PRId64 "-%06" PRId64, series_table[series].prefix, y,
				 db_column_int64(st, 0));
		if (n < 0 || (size_t)n >= cap)
			e = ERR_BUFFER_TOO_SMALL;
	}
	db_done(st);
	return e;
}

enum err inv_insert_finalized(struct db *db, struct inv_draft *d, int64_t now)
{
	struct db_stmt *st = NULL;
	enum err e = ERR_OK;
	if (!d->id[0] && (e = ids_new("inv_", d->id, sizeof d->id)) != ERR_OK)
		return e;
	/* The number is taken first and the row written open at once: inside
	 * one transaction that is the same as writing a draft and finalizing it,
	 * with one write fewer (the billing run writes a million of these). */
	e = inv_next_number(db, INV_SERIES_INVOICE, now, d->number, sizeof d->number);
	if (e != ERR_OK)
		return e;
	e = db_prepare(db,
		       "INSERT INTO invoices (id, account_id, subscription_id, number, billing_reason, status,"
		       " currency, tax_inclusive, tax_rate_bps, tax_name, subtotal, tax, total, period_start,"
		       " period_end, plan_code, created_at, finalized_at, credit_applied)"
		       " VALUES (?1, ?2, ?3, ?4, ?5, 'open', ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,"
		       " ?16, ?17)",
		       &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, d->id);
	db_bind_text(st, 2, d->account_id);
	db_bind_text(st, 3, d->subscription_id[0] ? d->subscription_id : NULL);
	db_bind_text(st, 4, d->number);
	db_bind_text(st, 5, d->billing_reason);
	db_bind_text(st, 6, d->currency);
	db_bind_int64(st, 7, d->tax_inclusive);
	db_bind_int64(st, 8, d->tax_rate_bps);
	db_bind_text(st, 9, d->tax_name);
	db_bind_int64(st, 10, d->subtotal.amount);
	db_bind_int64(st, 11, d->tax.amount);
	db_bind_int64(st, 12, d->total.amount);
	db_bind_int64(st, 13, d->period_start);
	db_bind_int64(st, 14, d->period_end);
	db_bind_text(st, 15, d->plan_code);
	db_bind_int64(st, 16, now);
	db_bind_int64(st, 17, d->credit_applied.amount);
	e = db_step_done(st);
	db_done(st);
	for (size_t i = 0; i < d->nlines && e == ERR_OK; i++) {
		const struct inv_line *l = &d->lines[i];
		st = NULL;
		e = db_prepare(db,
			       "INSERT INTO invoice_lines (invoice_id, position, kind, description, plan_code,"
			       " amount, tax_amount, period_start, period_end)"
			       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
			       &st);
		if (e != ERR_OK)
			break;
		db_bind_text(st, 1, d->id);
		db_bind_int64(st, 2, (int64_t)i + 1);
		db_bind_text(st, 3, bill_line_kind_name(l->kind));
		db_bind_text(st, 4, l->description);
		db_bind_text(st, 5, l->plan_code[0] ? l->plan_code : NULL);
		db_bind_int64(st, 6, l->amount.amount);
		db_bind_int64(st, 7, l->kind == BILL_LINE_TAX ? 0 : l->tax.amount);
		db_bind_int64(st, 8, l->period_start);
		db_bind_int64(st, 9, l->period_end);
		e = db_step_done(st);
		db_done(st);
	}
	if (e == ERR_OK) {
		const struct events_field f[] = {{"account", d->account_id, 0}, {"number", d->number, 0},
						 {"billing_reason", d->billing_reason, 0},
						 {"total", NULL, d->total.amount}, {"currency", d->currency, 0}};
		e = events_emit_flat(db, "invoice.finalized", d->id, f, sizeof f / sizeof f[0]);
	}
	return e;
}

int64_t inv_amount_due(const struct inv_draft *d)
{
	return d->total.amount - d->credit_applied.amount;
}

static enum err mark_paid(struct db *db, struct inv_draft *d, int64_t now)
{
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db, "UPDATE invoices SET status = 'paid', paid_at = ?1"
				    " WHERE id = ?2 AND status = 'open'", &st);
	if (e != ERR_OK)
		return e;
	db_bind_int64(st, 1, now);
	db_bind_text(st, 2, d->id);
	e = db_step_done(st);
	db_done(st);
	if (e == ERR_OK) {
		const struct events_field f[] = {{"account", d->account_id, 0}, {"number", d->number, 0},
						 {"total", NULL, d->total.amount}, {"currency", d->currency, 0}};
		e = events_emit_flat(db, "invoice.paid", d->id, f, sizeof f / sizeof f[0]);
	}
	return e;
}

static enum err attempts_with(struct db *db, const char *pm_id, int64_t *n)
{
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db, "SELECT COUNT(*) FROM payment_attempts WHERE payment_method_id = ?1", &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, pm_id);
	e = db_step_row(st);
	if (e == ERR_OK)
		*n = db_column_int64(st, 0);
	db_done(st);
	return e;
}

enum err inv_charge(struct db *db, struct inv_draft *d, const struct pm_row *pm, int64_t now,
		    struct bill_payment_outcome *out)
{
	struct db_stmt *st = NULL;
	struct bill_charge_result res;
	const struct bill_provider *prov = bill_provider();
	memset(out, 0, sizeof *out);
	snprintf(out->invoice_id, sizeof out->invoice_id, "%s", d->id);
	struct money due = d->total;
	due.amount = inv_amount_due(d);
	if (due.amount <= 0) {
		out->succeeded = true;
		return mark_paid(db, d, now);
	}
	int64_t prior = 0;
	enum err e = attempts_with(db, pm->id, &prior);
	if (e == ERR_OK)
		e = ids_new("pay_", out->attempt_id, sizeof out->attempt_id);
	if (e != ERR_OK)
		return e;
	struct bill_charge_request req = {pm->token, due, d->charge_key[0] ? d->charge_key : out->attempt_id,
					  prior};
	e = prov->charge(prov->ctx, &req, &res);
	if (e != ERR_OK)
		return e;
	out->attempted = true;
	out->succeeded = res.succeeded;
	out->hard_decline = !res.succeeded && res.hard_decline;
	snprintf(out->failure_code, sizeof out->failure_code, "%s", res.succeeded ? "" : res.failure_code);
	e = db_prepare(db,
		       "INSERT INTO payment_attempts (id, invoice_id, account_id, payment_method_id, amount,"
		       " currency, provider, provider_ref, status, failure_code, hard_decline, created_at)"
		       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
		       &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, out->attempt_id);
	db_bind_text(st, 2, d->id);
	db_bind_text(st, 3, d->account_id);
	db_bind_text(st, 4, pm->id);
	db_bind_int64(st, 5, due.amount);
	db_bind_text(st, 6, d->currency);
	db_bind_text(st, 7, prov->name);
	db_bind_text(st, 8, res.provider_ref);
	db_bind_text(st, 9, res.succeeded ? "succeeded" : "failed");
	db_bind_text(st, 10, res.succeeded ? NULL : out->failure_code);
	db_bind_int64(st, 11, out->hard_decline);
	db_bind_int64(st, 12, now);
	e = db_step_done(st);
	db_done(st);
	if (e != ERR_OK)
		return e;
	if (res.succeeded) {
		const struct events_field f[] = {{"account", d->account_id, 0}, {"invoice", d->id, 0},
						 {"amount", NULL, due.amount}, {"currency", d->currency, 0}};
		e = events_emit_flat(db, "payment.succeeded", out->attempt_id, f, sizeof f / sizeof f[0]);
		if (e == ERR_OK)
			e = mark_paid(db, d, now);
		return e;
	}
	return events_emit(db, "payment.failed", out->attempt_id,
			   json_pack("{s:s, s:s, s:I, s:s, s:s, s:b}", "account", d->account_id, "invoice",
				     d->id, "amount", (json_int_t)due.amount, "currency", d->currency,
				     "failure_code", out->failure_code, "hard_decline", out->hard_decline));
}

enum err inv_finalize_and_charge(struct db *db, struct inv_draft *d, const struct pm_row *pm, int64_t now,
				 struct bill_payment_outcome *pay, bool *declined)
{
	*declined = false;
	enum err e = inv_total(d);
	if (e == ERR_OK)
		e = inv_insert_finalized(db, d, now);
	if (e == ERR_OK)
		e = inv_charge(db, d, pm, now, pay);
	if (e != ERR_OK || pay->succeeded)
		return e;
	*declined = true;
	return inv_void(db, d->id, now);
}

enum err inv_void(struct db *db, const char *invoice_id, int64_t now)
{
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db, "UPDATE invoices SET status = 'void', voided_at = ?1"
				    " WHERE id = ?2 AND status = 'open'", &st);
	if (e != ERR_OK)
		return e;
	db_bind_int64(st, 1, now);
	db_bind_text(st, 2, invoice_id);
	e = db_step_done(st);
	db_done(st);
	if (e == ERR_OK)
		e = events_emit(db, "invoice.voided", invoice_id, NULL);
	return e;
}

enum err inv_set_subscription(struct db *db, const char *invoice_id, const char *subscription_id)
{
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db, "UPDATE invoices SET subscription_id = ?1 WHERE id = ?2", &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, subscription_id);
	db_bind_text(st, 2, invoice_id);
	e = db_step_done(st);
	db_done(st);
	return e;
}

enum err inv_load(struct db *db, const char *invoice_id, struct inv_draft *d, char *status,
		  size_t status_cap)
{
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db,
				"SELECT id, account_id, subscription_id, billing_reason, currency, tax_inclusive,"
				" tax_rate_bps, tax_name, subtotal, tax, total, period_start, period_end, plan_code,"
				" number, credit_applied, status FROM invoices WHERE id = ?1",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, invoice_id);
	e = db_step_row(st);
	if (e == ERR_OK) {
		static const char *const reasons[] = {"subscription_create", "subscription_cycle",
						      "subscription_update"};
		memset(d, 0, sizeof *d);
		snprintf(d->id, sizeof d->id, "%s", db_column_text(st, 0));
		snprintf(d->account_id, sizeof d->account_id, "%s", db_column_text(st, 1));
		if (!db_column_is_null(st, 2))
			snprintf(d->subscription_id, sizeof d->subscription_id, "%s", db_column_text(st, 2));
		d->billing_reason = reasons[0];
		for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
			if (strcmp(reasons[i], db_column_text(st, 3)) == 0)
				d->billing_reason = reasons[i];
		snprintf(d->currency, sizeof d->currency, "%s", db_column_text(st, 4));
		d->tax_inclusive = db_column_int64(st, 5) != 0;
		d->tax_rate_bps = (int32_t)db_column_int64(st, 6);
		snprintf(d->tax_name, sizeof d->tax_name, "%s", db_column_text(st, 7));
		e = money_init(&d->subtotal, db_column_int64(st, 8), d->currency);
		if (e == ERR_OK)
			e = money_init(&d->tax, db_column_int64(st, 9), d->currency);
		if (e == ERR_OK)
			e = money_init(&d->total, db_column_int64(st, 10), d->currency);
		if (e == ERR_OK)
			e = money_init(&d->credit_applied, db_column_int64(st, 15), d->currency);
		d->period_start = db_column_int64(st, 11);
		d->period_end = db_column_int64(st, 12);
		snprintf(d->plan_code, sizeof d->plan_code, "%s", db_column_text(st, 13));
		if (!db_column_is_null(st, 14))
			snprintf(d->number, sizeof d->number, "%s", db_column_text(st, 14));
		if (status)
			snprintf(status, status_cap, "%s", db_column_text(st, 16));
	}
	db_done(st);
	return e;
}

enum err inv_mark_uncollectible(struct db *db, const char *invoice_id, int64_t now)
{
	struct db_stmt *st = NULL;
	(void)now;
	enum err e = db_prepare(db, "UPDATE invoices SET status = 'uncollectible'"
				    " WHERE id = ?1 AND status = 'open'", &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, invoice_id);
	e = db_step_done(st);
	db_done(st);
	if (e == ERR_OK)
		e = events_emit(db, "invoice.marked_uncollectible", invoice_id, NULL);
	return e;
}

enum err inv_void_open_of_subscription(struct db *db, const char *subscription_id, int64_t now)
{
	struct db_stmt *st = NULL;
	char ids[8][IDS_MAX];
	size_t n = 0;
	enum err e = db_prepare(db,
				"SELECT id FROM invoices WHERE subscription_id = ?1 AND status = 'open'"
				" AND billing_reason IN ('subscription_create', 'subscription_cycle')",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, subscription_id);
	bool row = false;
	while ((e = db_step(st, &row)) == ERR_OK && row && n < sizeof ids / sizeof ids[0])
		snprintf(ids[n++], IDS_MAX, "%s", db_column_text(st, 0));
	db_done(st);
	for (size_t i = 0; i < n && e == ERR_OK; i++)
		e = inv_void(db, ids[i], now);
	return e;
}

/* ---- reading ---- */

static json_t *money_json(int64_t amount, const char *currency)
{
	return json_pack("{s:I, s:s}", "amount", (json_int_t)amount, "currency", currency);
}

static json_t *period_json(int64_t start, int64_t end)
{
	return json_pack("{s:o, s:o}", "start", clock_json_or_null(start), "end", clock_json_or_null(end));
}

static enum err invoice_lines_json(struct db *db, const char *id, const char *currency, json_t *arr)
{
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db, "SELECT kind, description, plan_code, amount, tax_amount, period_start,"
				    " period_end FROM invoice_lines WHERE invoice_id = ?1 ORDER BY position", &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, id);
	bool row = false;
	while ((e = db_step(st, &row)) == ERR_OK && row) {
		const char *plan = db_column_text(st, 2);
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s?, s:o, s:o, s:o}", "kind",
						     db_column_text(st, 0), "description",
						     db_column_text(st, 1), "plan", plan, "amount",
						     money_json(db_column_int64(st, 3), currency), "tax",
						     money_json(db_column_int64(st, 4), currency), "period",
						     period_json(db_column_int64(st, 5), db_column_int64(st, 6))));
	}
	db_done(st);
	return e;
}

static enum err invoice_attempts_json(struct db *db, const char *id, json_t *arr)
{
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db, "SELECT a.id, a.amount, a.currency, a.status, a.failure_code, a.hard_decline,"
				    " a.created_at, a.payment_method_id, a.provider FROM payment_attempts a"
				    " WHERE a.invoice_id = ?1 ORDER BY a.created_at, a.id", &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, id);
	bool row = false;
	while ((e = db_step(st, &row)) == ERR_OK && row) {
		const char *fc = db_column_text(st, 4);
		json_array_append_new(arr, json_pack("{s:s, s:o, s:s, s:s?, s:b, s:o, s:s, s:s}", "id",
						     db_column_text(st, 0), "amount",
						     money_json(db_column_int64(st, 1), db_column_text(st, 2)),
						     "status", db_column_text(st, 3), "failure_code", fc,
						     "hard_decline", (int)db_column_int64(st, 5), "created_at",
						     clock_json_or_null(db_column_int64(st, 6)), "payment_method",
						     db_column_text(st, 7), "provider", db_column_text(st, 8)));
	}
	db_done(st);
	return e;
}

enum err bill_invoice_json(struct db *db, const char *account_id, const char *invoice_id,
			   json_t **out)
{
	struct db_stmt *st = NULL;
	json_t *inv = NULL, *lines = NULL, *attempts = NULL;
	char id[IDS_MAX], currency[4];
	enum err e = db_prepare(db,
				"SELECT id, number, status, billing_reason, subscription_id, currency, tax_inclusive,"
				" tax_rate_bps, tax_name, subtotal, tax, total, period_start, period_end, plan_code,"
				" created_at, finalized_at, paid_at, voided_at, credit_applied, amount_refunded"
				" FROM invoices WHERE id = ?1 AND account_id = ?2",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, invoice_id);
	db_bind_text(st, 2, account_id);
	e = db_step_row(st);
	if (e != ERR_OK)
		goto out;
	snprintf(id, sizeof id, "%s", db_column_text(st, 0));
	snprintf(currency, sizeof currency, "%s", db_column_text(st, 5));
	char note[64];
	if (bill_tax_note(db_column_int64(st, 6) != 0, (int32_t)db_column_int64(st, 7),
			  db_column_text(st, 8), note, sizeof note) != ERR_OK)
		note[0] = '\0';
	lines = json_array();
	attempts = json_array();
	inv = json_pack("{s:s, s:s?, s:s, s:s, s:s?, s:s, s:s, s:o, s:o, s:o, s:{s:b, s:i, s:s, s:s},"
			" s:o, s:o, s:o, s:o, s:o}",
			"id", id, "number", db_column_text(st, 1), "status", db_column_text(st, 2),
			"billing_reason", db_column_text(st, 3), "subscription_id", db_column_text(st, 4),
			"currency", currency, "plan", db_column_text(st, 14),
			"subtotal", money_json(db_column_int64(st, 9), currency),
			"tax", money_json(db_column_int64(st, 10), currency),
			"total", money_json(db_column_int64(st, 11), currency),
			"tax_rule", "inclusive", (int)db_column_int64(st, 6), "rate_bps",
			(int)db_column_int64(st, 7), "name", db_column_text(st, 8), "note", note,
			"period", period_json(db_column_int64(st, 12), db_column_int64(st, 13)),
			"created_at", clock_json_or_null(db_column_int64(st, 15)),
			"finalized_at", clock_json_or_null(db_column_int64(st, 16)),
			"paid_at", clock_json_or_null(db_column_int64(st, 17)),
			"voided_at", clock_json_or_null(db_column_int64(st, 18)));
	if (inv) {
		/* Account credit pays first; the card pays the rest (issue 7). */
		int64_t credit = db_column_int64(st, 19);
		json_object_set_new(inv, "credit_applied", money_json(credit, currency));
		json_object_set_new(inv, "amount_due",
				    money_json(db_column_int64(st, 11) - credit, currency));
		json_object_set_new(inv, "amount_refunded", money_json(db_column_int64(st, 20), currency));
	}
	db_done(st);
	st = NULL;
	if (!inv || !lines || !attempts) {
		e = ERR_NOMEM;
		goto out;
	}
	e = invoice_lines_json(db, id, currency, lines);
	if (e == ERR_OK)
		e = invoice_attempts_json(db, id, attempts);
	if (e == ERR_OK) {
		json_t *notes = NULL;
		e = inv_credit_notes_json(db, id, &notes);
		if (e == ERR_OK)
			json_object_set_new(inv, "credit_notes", notes);
	}
	if (e != ERR_OK)
		goto out;
	json_object_set_new(inv, "lines", lines);
	json_object_set_new(inv, "payment_attempts", attempts);
	lines = attempts = NULL;
	*out = inv;
	inv = NULL;
out:
	db_done(st);
	json_decref(inv);
	json_decref(lines);
	json_decref(attempts);
	return e;
}

/* Invoices are listed newest first by (created_at, number): numbers grow
 * with finalization, so invoices made in the same second keep their order. */
enum err bill_invoice_list(struct db *db, const char *account_id, int64_t limit,
			   const char *starting_after, json_t **out, bool *has_more)
{
	struct db_stmt *st = NULL;
	json_t *arr = NULL;
	int64_t after_created = 0;
	char after_number[32] = "";
	enum err e = ERR_OK;
	if (starting_after) {
		e = db_prepare(db, "SELECT created_at, number FROM invoices WHERE id = ?1 AND account_id = ?2", &st);
		if (e != ERR_OK)
			return e;
		db_bind_text(st, 1, starting_after);
		db_bind_text(st, 2, account_id);
		e = db_step_row(st);
		if (e == ERR_OK) {
			after_created = db_column_int64(st, 0);
			snprintf(after_number, sizeof after_number, "%s", db_column_text(st, 1));
		}
		db_done(st);
		st = NULL;
		if (e != ERR_OK)
			return e;
	}
	/* limit + 1 ids: the extra one only tells whether more follow. */
	char (*ids)[IDS_MAX] = calloc((size_t)limit + 1, sizeof *ids);
	size_t n = 0;
	if (!ids)
		return ERR_NOMEM;
	e = db_prepare(db,
		       "SELECT id FROM invoices WHERE account_id = ?1 AND number IS NOT NULL"
		       " AND (?2 = 0 OR created_at < ?3 OR (created_at = ?3 AND number < ?4))"
		       " ORDER BY created_at DESC, number DESC LIMIT ?5",
		       &st);
	if (e != ERR_OK)
		goto out;
	db_bind_text(st, 1, account_id);
	db_bind_int64(st, 2, starting_after ? 1 : 0);
	db_bind_int64(st, 3, after_created);
	db_bind_text(st, 4, after_number);
	db_bind_int64(st, 5, limit + 1);
	bool row = false;
	while ((e = db_step(st, &row)) == ERR_OK && row && n < (size_t)limit + 1)
		snprintf(ids[n++], IDS_MAX, "%s", db_column_text(st, 0));
	db_done(st);
	st = NULL;
	if (e != ERR_OK)
		goto out;
	*has_more = n > (size_t)limit;
	if (*has_more)
		n = (size_t)limit;
	arr = json_array();
	for (size_t i = 0; i < n && e == ERR_OK; i++) {
		json_t *inv = NULL;
		e = bill_invoice_json(db, account_id, ids[i], &inv);
		if (e == ERR_OK)
			json_array_append_new(arr, inv);
	}
	if (e == ERR_OK) {
		*out = arr;
		arr = NULL;
	}
out:
	db_done(st);
	json_decref(arr);
	free(ids);
	return e;
}

/* ---- the HTML receipt ---- */

struct html {
	char *buf;
	size_t len, cap;
	bool failed;
};

static void put(struct html *h, const char *s, size_t n)
{
	if (h->failed)
		return;
	if (h->len + n + 1 > h->cap) {
		size_t cap = h->cap ? h->cap : 4096;
		while (h->len + n + 1 > cap)
			cap *= 2;
		char *nb = realloc(h->buf, cap);
		if (!nb) {
			h->failed = true;
			return;
		}
		h->buf = nb;
		h->cap = cap;
	}
	memcpy(h->buf + h->len, s, n);
	h->len += n;
	h->buf[h->len] = '\0';
}

static void puts_raw(struct html *h, const char *s) { put(h, s, strlen(s)); }

/* Text made safe for HTML element content and quoted attributes. */
static void puts_esc(struct html *h, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&': puts_raw(h, "&amp;"); break;
		case '<': puts_raw(h, "&lt;"); break;
		case '>': puts_raw(h, "&gt;"); break;
		case '"': puts_raw(h, "&quot;"); break;
		case '\'': puts_raw(h, "&#39;"); break;
		default: put(h, s, 1); break;
		}
	}
}

static void puts_money(struct html *h, json_t *m)
{
	struct money x;
	char buf[MONEY_FORMAT_MAX];
	if (money_init(&x, json_integer_value(json_object_get(m, "amount")),
		       json_string_value(json_object_get(m, "currency"))) != ERR_OK ||
	    money_format(&x, buf, sizeof buf) != ERR_OK)
		snprintf(buf, sizeof buf, "?");
	puts_esc(h, buf);
}

static void puts_date(struct html *h, json_t *t)
{
	int64_t v = 0;
	char buf[32];
	if (json_is_string(t) && clock_parse(json_string_value(t), &v) == ERR_OK) {
		bill_date_text(v, buf, sizeof buf);
		puts_esc(h, buf);
	}
}

enum err bill_invoice_receipt_html(struct db *db, const char *account_id, const char *invoice_id,
				   char **html, size_t *len)
{
	json_t *inv = NULL;
	struct html h = {NULL, 0, 0, false};
	enum err e = bill_invoice_json(db, account_id, invoice_id, &inv);
	if (e != ERR_OK)
		return e;
	const char *number = json_string_value(json_object_get(inv, "number"));
	puts_raw(&h, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Hearth receipt ");
	puts_esc(&h, number ? number : "");
	puts_raw(&h, "</title>\n<style>body{font-family:sans-serif;max-width:40em;margin:2em auto}"
		     "table{width:100%;border-collapse:collapse}td,th{padding:.3em;border-bottom:1px solid #ccc;text-align:left}"
		     "td.amount,th.amount{text-align:right}@media print{a{display:none}}</style>\n</head>\n<body>\n");
	puts_raw(&h, "<h1>Hearth</h1>\n<p>Receipt <strong>");
	puts_esc(&h, number ? number : "");
	puts_raw(&h, "</strong> &middot; status ");
	puts_esc(&h, json_string_value(json_object_get(inv, "status")));
	puts_raw(&h, "</p>\n<p>Period ");
	puts_date(&h, json_object_get(json_object_get(inv, "period"), "start"));
	puts_raw(&h, " &ndash; ");
	puts_date(&h, json_object_get(json_object_get(inv, "period"), "end"));
	puts_raw(&h, "<br>Issued ");
	puts_date(&h, json_object_get(inv, "finalized_at"));
	json_t *paid = json_object_get(inv, "paid_at");
	if (json_is_string(paid)) {
		puts_raw(&h, "<br>Paid ");
		puts_date(&h, paid);
	}
	puts_raw(&h, "</p>\n<table>\n<tr><th>Description</th><th class=\"amount\">Amount</th></tr>\n");
	json_t *lines = json_object_get(inv, "lines");
	for (size_t i = 0; i < json_array_size(lines); i++) {
		json_t *line = json_array_get(lines, i);
		puts_raw(&h, "<tr><td>");
		puts_esc(&h, json_string_value(json_object_get(line, "description")));
		puts_raw(&h, "</td><td class=\"amount\">");
		puts_money(&h, json_object_get(line, "amount"));
		puts_raw(&h, "</td></tr>\n");
	}
	puts_raw(&h, "<tr><th>Total</th><th class=\"amount\">");
	puts_money(&h, json_object_get(inv, "total"));
	puts_raw(&h, "</th></tr>\n</table>\n<p>");
	json_t *rule = json_object_get(inv, "tax_rule");
	if (json_is_true(json_object_get(rule, "inclusive"))) {
		puts_raw(&h, "Prices include ");
		puts_esc(&h, json_string_value(json_object_get(rule, "name")));
		puts_raw(&h, ": ");
		puts_money(&h, json_object_get(inv, "tax"));
	} else {
		puts_raw(&h, "Tax added: ");
		puts_money(&h, json_object_get(inv, "tax"));
	}
	puts_raw(&h, " (");
	puts_esc(&h, json_string_value(json_object_get(rule, "note")));
	puts_raw(&h, ")</p>\n</body>\n</html>\n");
	json_decref(inv);
	if (h.failed) {
		free(h.buf);
		return ERR_NOMEM;
	}
	*html = h.buf;
	*len = h.len;
	return ERR_OK;
}
