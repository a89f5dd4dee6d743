/*
 * Refunds: give back all or part of what a paid invoice charged, through
 * the provider that charged it, recorded as a credit note.
 *
 * A credit note has its own gapless number per year (HEA-CN-2027-000001)
 * from a counter incremented in the same transaction, like invoices.  Its
 * tax is the invoice's tax in proportion, rounded once by the one rounding
 * rule: tax x refund / total.  What account credit paid of an invoice is not
 * refundable to a card (staff grant it back as credit instead).
 *
 * The sandbox refunds inside the transaction; a real provider needs the
 * same two steps as a charge (docs/billing.md, "Payment provider").
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "billing/renewal_int.h"
#include "core/clock.h"
#include "core/events.h"

struct refund_ctx {
	const char *invoice_id;
	const char *account_id;
	const struct money *amount;
	const struct bill_actor *actor;
	struct bill_refund *out;
};

static enum err refund_tx(struct db *db, void *arg)
{
	struct refund_ctx *c = arg;
	struct bill_refund *o = c->out;
	struct inv_draft d;
	struct db_stmt *st = NULL;
	char status[16], attempt_id[IDS_MAX], provider_ref[64], provider[16];
	int64_t charged = 0, refunded = 0, now = clock_now();
	const struct bill_provider *prov = bill_provider();
	enum err e = inv_load(db, c->invoice_id, &d, status, sizeof status);
	if (e != ERR_OK)
		return e;
	if (c->account_id && strcmp(c->account_id, d.account_id) != 0)
		return ERR_NOT_FOUND;
	if (strcmp(status, "paid") != 0)
		return ERR_INVOICE_NOT_PAID;
	e = db_prepare(db,
		       "SELECT a.id, a.provider_ref, a.amount, a.provider, i.amount_refunded"
		       " FROM payment_attempts a JOIN invoices i ON i.id = a.invoice_id"
		       " WHERE a.invoice_id = ?1 AND a.status = 'succeeded'"
		       " ORDER BY a.created_at DESC, a.id LIMIT 1",
		       &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, d.id);
	e = db_step_row(st);
	if (e == ERR_OK) {
		snprintf(attempt_id, sizeof attempt_id, "%s", db_column_text(st, 0));
		snprintf(provider_ref, sizeof provider_ref, "%s", db_column_text(st, 1) ? db_column_text(st, 1) : "");
		charged = db_column_int64(st, 2);
		snprintf(provider, sizeof provider, "%s", db_column_text(st, 3));
		refunded = db_column_int64(st, 4);
	}
	db_done(st);
	if (e == ERR_NOT_FOUND) /* paid entirely by credit or free: nothing went through a card */
		return ERR_REFUND_TOO_LARGE;
	if (e != ERR_OK)
		return e;
	int64_t left = charged - refunded;
	struct money amount;
	if (c->amount) {
		if (strcmp(c->amount->currency, d.currency) != 0)
			return ERR_CURRENCY_MISMATCH;
		amount = *c->amount;
	} else {
		e = money_init(&amount, left, d.currency);
		if (e != ERR_OK)
			return e;
	}
	if (amount.amount <= 0 && c->amount)
		return ERR_INVALID_AMOUNT;
	if (amount.amount <= 0 || amount.amount > left)
		return ERR_REFUND_TOO_LARGE;

	memset(o, 0, sizeof *o);
	e = prov->refund(prov->ctx, provider_ref, &amount, o->provider_ref, sizeof o->provider_ref);
	if (e != ERR_OK)
		return e;
	e = ids_new("cn_", o->credit_note_id, sizeof o->credit_note_id);
	if (e == ERR_OK)
		e = inv_next_number(db, INV_SERIES_CREDIT_NOTE, now, o->number, sizeof o->number);
	if (e == ERR_OK)
		e = money_scale(&d.tax, amount.amount, d.total.amount, &o->tax);
	if (e != ERR_OK)
		return e;
	snprintf(o->invoice_id, sizeof o->invoice_id, "%s", d.id);
	o->amount = amount;
	e = money_init(&o->refunded_total, refunded + amount.amount, d.currency);
	if (e != ERR_OK)
		return e;
	const char *by = c->actor && c->actor->id ? c->actor->id : "tool";
	const char *reason = c->actor ? c->actor->reason : NULL;
	st = NULL;
	e = db_prepare(db,
		       "INSERT INTO credit_notes (id, number, invoice_id, account_id, currency, amount, tax,"
		       " payment_attempt_id, provider, provider_ref, reason, created_by, created_at)"
		       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
		       &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, o->credit_note_id);
	db_bind_text(st, 2, o->number);
	db_bind_text(st, 3, d.id);
	db_bind_text(st, 4, d.account_id);
	db_bind_text(st, 5, d.currency);
	db_bind_int64(st, 6, amount.amount);
	db_bind_int64(st, 7, o->tax.amount);
	db_bind_text(st, 8, attempt_id);
	db_bind_text(st, 9, provider);
	db_bind_text(st, 10, o->provider_ref);
	db_bind_text(st, 11, reason);
	db_bind_text(st, 12, by);
	db_bind_int64(st, 13, now);
	e = db_step_done(st);
	db_done(st);
	if (e != ERR_OK)
		return e;
	st = NULL;
	e = db_prepare(db, "UPDATE invoices SET amount_refunded = amount_refunded + ?2 WHERE id = ?1", &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, d.id);
	db_bind_int64(st, 2, amount.amount);
	e = db_step_done(st);
	db_done(st);
	if (e == ERR_OK)
		e = events_emit(db, "refund.created", o->credit_note_id,
				json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:I, s:s}", "account", d.account_id,
					  "invoice", d.id, "number", o->number, "amount", (json_int_t)amount.amount,
					  "tax", (json_int_t)o->tax.amount, "currency", d.currency,
					  "refunded_total", (json_int_t)o->refunded_total.amount, "by", by));
	if (e == ERR_OK && c->actor && c->actor->audit)
		e = c->actor->audit(db, c->actor, "invoice.refund", "invoice", d.id,
				    json_pack("{s:I}", "amount_refunded", (json_int_t)refunded),
				    json_pack("{s:I, s:s, s:s}", "amount_refunded",
					      (json_int_t)o->refunded_total.amount, "credit_note", o->credit_note_id,
					      "number", o->number));
	if (e == ERR_OK) {
		e = bill_notify(db, d.account_id, "refund_issued",
			       json_pack("{s:s, s:s, s:s, s:{s:I, s:s}}", "invoice", d.id, "invoice_number",
					 d.number, "credit_note", o->number, "amount", "amount",
					 (json_int_t)amount.amount, "currency", d.currency));
	}
	return e;
}

enum err bill_refund_create(struct db *db, const char *invoice_id, const char *account_id,
			    const struct money *amount, const struct bill_actor *actor,
			    struct bill_refund *out)
{
	struct refund_ctx c = {invoice_id, account_id, amount, actor, out};
	return db_transaction(db, refund_tx, &c);
}

enum err inv_credit_notes_json(struct db *db, const char *invoice_id, json_t **out)
{
	struct db_stmt *st = NULL;
	json_t *arr = json_array();
	if (!arr)
		return ERR_NOMEM;
	enum err e = db_prepare(db, "SELECT id, number, amount, tax, currency, reason, created_at"
				    " FROM credit_notes WHERE invoice_id = ?1 ORDER BY created_at, number", &st);
	if (e != ERR_OK) {
		json_decref(arr);
		return e;
	}
	db_bind_text(st, 1, invoice_id);
	bool row = false;
	while ((e = db_step(st, &row)) == ERR_OK && row) {
		char t[32];
		const char *cur = db_column_text(st, 4);
		json_array_append_new(arr, json_pack("{s:s, s:s, s:{s:I, s:s}, s:{s:I, s:s}, s:s?, s:s}", "id",
						     db_column_text(st, 0), "number", db_column_text(st, 1),
						     "amount", "amount", (json_int_t)db_column_int64(st, 2),
						     "currency", cur, "tax", "amount",
						     (json_int_t)db_column_int64(st, 3), "currency", cur, "reason",
						     db_column_text(st, 5), "created_at",
						     clock_format(db_column_int64(st, 6), t, sizeof t)));
	}
	db_done(st);
	if (e != ERR_OK) {
		json_decref(arr);
		return e;
	}
	*out = arr;
	return ERR_OK;
}

enum err bill_refundable(struct db *db, const char *invoice_id, struct money *left)
{
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db,
				"SELECT i.currency, COALESCE((SELECT SUM(a.amount) FROM payment_attempts a"
				"   WHERE a.invoice_id = i.id AND a.status = 'succeeded'), 0) - i.amount_refunded"
				" FROM invoices i WHERE i.id = ?1",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, invoice_id);
	e = db_step_row(st);
	if (e == ERR_OK)
		e = money_init(left, db_column_int64(st, 1), db_column_text(st, 0));
	db_done(st);
	return e;
}

enum err bill_invoice_json_staff(struct db *db, const char *invoice_id, json_t **out)
{
	struct inv_draft d;
	enum err e = inv_load(db, invoice_id, &d, NULL, 0);
	if (e == ERR_OK)
		e = bill_invoice_json(db, d.account_id, invoice_id, out);
	if (e == ERR_OK)
		json_object_set_new(*out, "account_id", json_string(d.account_id));
	return e;
}
