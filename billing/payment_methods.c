/*
 * Payment methods: provider tokens attached to an account, one of them the
 * default that subscriptions charge.  Only the token and what the provider
 * says about it (brand, last four, expiry) are stored; a detached method
 * keeps its row (removed_at) so old payment attempts still point at it.
 */
#include <stdio.h>
#include <string.h>

#include "billing/billing_int.h"
#include "billing/renewal.h"
#include "core/clock.h"
#include "core/events.h"
#include "core/log.h"

#define PM_COLUMNS "id, brand, last4, exp_month, exp_year, is_default, created_at"

static void read_pm(struct db_stmt *st, struct bill_payment_method *out)
{
	memset(out, 0, sizeof *out);
	snprintf(out->id, sizeof out->id, "%s", db_column_text(st, 0));
	snprintf(out->brand, sizeof out->brand, "%s", db_column_text(st, 1));
	snprintf(out->last4, sizeof out->last4, "%s", db_column_text(st, 2));
	out->exp_month = (int)db_column_int64(st, 3);
	out->exp_year = (int)db_column_int64(st, 4);
	out->is_default = db_column_int64(st, 5) != 0;
	out->created_at = db_column_int64(st, 6);
}

static enum err pm_get(struct db *db, const char *account_id, const char *pm_id,
		       struct bill_payment_method *out)
{
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db, "SELECT " PM_COLUMNS " FROM payment_methods"
				    " WHERE id = ?1 AND account_id = ?2 AND removed_at IS NULL", &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, pm_id);
	db_bind_text(st, 2, account_id);
	e = db_step_row(st);
	if (e == ERR_OK)
		read_pm(st, out);
	db_done(st);
	return e;
}

static enum err count_attached(struct db *db, const char *account_id, int64_t *n)
{
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db, "SELECT COUNT(*) FROM payment_methods"
				    " WHERE account_id = ?1 AND removed_at IS NULL", &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, account_id);
	e = db_step_row(st);
	if (e == ERR_OK)
		*n = db_column_int64(st, 0);
	db_done(st);
	return e;
}

struct attach_ctx {
	const char *account_id;
	const char *token;
	const struct bill_card_info *card;
	struct bill_payment_method *out;
};

static enum err attach_tx(struct db *db, void *arg)
{
	struct attach_ctx *c = arg;
	struct db_stmt *st = NULL;
	int64_t n = 0, now = clock_now();
	char id[IDS_MAX];
	enum err e = count_attached(db, c->account_id, &n);
	if (e != ERR_OK)
		return e;
	if (n >= BILL_PAYMENT_METHODS_MAX)
		return ERR_CONFLICT;
	/* A subscription waiting for a payment (past_due or on_hold) makes the
	 * new card the default, and it is charged. */
	bool dunning = false;
	e = sub_account_has(db, c->account_id, SUB_AWAITING_PAYMENT, &dunning);
	if (e == ERR_OK && dunning && n > 0) {
		/* Clear the old default first (one default per account). */
		st = NULL;
		e = db_prepare(db, "UPDATE payment_methods SET is_default = 0"
				   " WHERE account_id = ?1 AND is_default = 1", &st);
		if (e == ERR_OK) {
			db_bind_text(st, 1, c->account_id);
			e = db_step_done(st);
		}
		db_done(st);
		st = NULL;
	}
	if (e == ERR_OK)
		e = ids_new("pm_", id, sizeof id);
	if (e != ERR_OK)
		return e;
	e = db_prepare(db,
		       "INSERT INTO payment_methods (id, account_id, seq, provider, provider_token, brand, last4,"
		       " exp_month, exp_year, is_default, created_at)"
		       " VALUES (?1, ?2, (SELECT COALESCE(MAX(seq), 0) + 1 FROM payment_methods WHERE account_id = ?2),"
		       " ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
		       &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, id);
	db_bind_text(st, 2, c->account_id);
	db_bind_text(st, 3, bill_provider()->name);
	db_bind_text(st, 4, c->token);
	db_bind_text(st, 5, c->card->brand);
	db_bind_text(st, 6, c->card->last4);
	db_bind_int64(st, 7, c->card->exp_month);
	db_bind_int64(st, 8, c->card->exp_year);
	db_bind_int64(st, 9, n == 0 || dunning);
	db_bind_int64(st, 10, now);
	e = db_step_done(st);
	db_done(st);
	if (e == ERR_OK)
		e = events_emit(db, "payment_method.attached", id,
				/* No card digits in the feed: events outlive a member's erasure. */
				json_pack("{s:s, s:s, s:b}", "account", c->account_id, "brand",
					  c->card->brand, "is_default", n == 0 || dunning));
	if (e == ERR_OK)
		e = pm_get(db, c->account_id, id, c->out);
	return e;
}

/* A new default payment method: a subscription in dunning is charged at
 * once (docs/billing.md, "Dunning").  Its outcome is the subscription's
 * business, not the attach's: the method stays attached either way. */
static void retry_dunning(struct db *db, const char *account_id)
{
	struct bill_payment_outcome pay = {0};
	enum err e = bill_dunning_retry_now(db, account_id, &pay);
	if (e != ERR_OK)
		log_error("billing.dunning_retry_failed", "error=%s", err_name(e));
}

enum err bill_pm_attach(struct db *db, const char *account_id, const char *token,
			struct bill_payment_method *out)
{
	struct bill_card_info card;
	const struct bill_provider *p = bill_provider();
	enum err e = p->describe(p->ctx, token, &card);
	if (e != ERR_OK)
		return e;
	struct attach_ctx c = {account_id, token, &card, out};
	e = db_transaction(db, attach_tx, &c);
	if (e == ERR_OK && out->is_default)
		retry_dunning(db, account_id);
	return e;
}

enum err bill_pm_list(struct db *db, const char *account_id, struct bill_payment_method *out,
		      size_t cap, size_t *n)
{
	struct db_stmt *st = NULL;
	*n = 0;
	enum err e = db_prepare(db, "SELECT " PM_COLUMNS " FROM payment_methods"
				    " WHERE account_id = ?1 AND removed_at IS NULL ORDER BY seq", &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, account_id);
	bool row = false;
	while ((e = db_step(st, &row)) == ERR_OK && row && *n < cap)
		read_pm(st, &out[(*n)++]);
	db_done(st);
	return e;
}

enum err pm_make_default(struct db *db, const char *account_id, const char *pm_id)
{
	struct db_stmt *st = NULL;
	/* Clear first: the partial unique index allows one default at a time. */
	enum err e = db_prepare(db, "UPDATE payment_methods SET is_default = 0"
				    " WHERE account_id = ?1 AND is_default = 1 AND id <> ?2", &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, account_id);
	db_bind_text(st, 2, pm_id);
	e = db_step_done(st);
	db_done(st);
	if (e != ERR_OK)
		return e;
	st = NULL;
	e = db_prepare(db, "UPDATE payment_methods SET is_default = 1"
			   " WHERE id = ?1 AND account_id = ?2 AND removed_at IS NULL", &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, pm_id);
	db_bind_text(st, 2, account_id);
	e = db_step_done(st);
	db_done(st);
	return e;
}

struct default_ctx {
	const char *account_id;
	const char *pm_id;
	struct bill_payment_method *out;
};

static enum err set_default_tx(struct db *db, void *arg)
{
	struct default_ctx *c = arg;
	struct bill_payment_method pm;
	enum err e = pm_get(db, c->account_id, c->pm_id, &pm);
	if (e != ERR_OK)
		return e;
	if (!pm.is_default) {
		e = pm_make_default(db, c->account_id, c->pm_id);
		if (e == ERR_OK)
			e = events_emit(db, "payment_method.default_changed", c->pm_id,
					json_pack("{s:s}", "account", c->account_id));
	}
	if (e == ERR_OK)
		e = pm_get(db, c->account_id, c->pm_id, c->out);
	return e;
}

enum err bill_pm_set_default(struct db *db, const char *account_id, const char *pm_id,
			     struct bill_payment_method *out)
{
	struct default_ctx c = {account_id, pm_id, out};
	enum err e = db_transaction(db, set_default_tx, &c);
	if (e == ERR_OK)
		retry_dunning(db, account_id);
	return e;
}

static enum err remove_tx(struct db *db, void *arg)
{
	struct default_ctx *c = arg;
	struct bill_payment_method pm;
	struct db_stmt *st = NULL;
	int64_t n = 0;
	bool live = false;
	enum err e = pm_get(db, c->account_id, c->pm_id, &pm);
	if (e == ERR_OK)
		e = count_attached(db, c->account_id, &n);
	if (e == ERR_OK)
		e = sub_account_has(db, c->account_id, SUB_LIVE, &live);
	if (e != ERR_OK)
		return e;
	if (n == 1 && live)
		return ERR_INVALID_STATE;
	e = db_prepare(db, "UPDATE payment_methods SET removed_at = ?1, is_default = 0 WHERE id = ?2", &st);
	if (e != ERR_OK)
		return e;
	db_bind_int64(st, 1, clock_now());
	db_bind_text(st, 2, c->pm_id);
	e = db_step_done(st);
	db_done(st);
	if (e != ERR_OK)
		return e;
	char next[IDS_MAX] = "";
	if (pm.is_default) {
		st = NULL;
		e = db_prepare(db, "SELECT id FROM payment_methods WHERE account_id = ?1 AND removed_at IS NULL"
				   " ORDER BY seq DESC LIMIT 1", &st);
		if (e != ERR_OK)
			return e;
		db_bind_text(st, 1, c->account_id);
		e = db_step_row(st);
		if (e == ERR_OK)
			snprintf(next, sizeof next, "%s", db_column_text(st, 0));
		db_done(st);
		if (e == ERR_OK)
			e = pm_make_default(db, c->account_id, next);
		else if (e == ERR_NOT_FOUND)
			e = ERR_OK;
	}
	if (e == ERR_OK)
		e = events_emit(db, "payment_method.removed", c->pm_id,
				json_pack("{s:s, s:s?}", "account", c->account_id, "new_default",
					  next[0] ? next : NULL));
	return e;
}

enum err bill_pm_remove(struct db *db, const char *account_id, const char *pm_id)
{
	struct default_ctx c = {account_id, pm_id, NULL};
	return db_transaction(db, remove_tx, &c);
}

static enum err read_row(struct db *db, const char *sql, const char *a, const char *b,
			 struct pm_row *out)
{
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db, sql, &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, a);
	if (b)
		db_bind_text(st, 2, b);
	e = db_step_row(st);
	if (e == ERR_OK) {
		snprintf(out->id, sizeof out->id, "%s", db_column_text(st, 0));
		snprintf(out->provider, sizeof out->provider, "%s", db_column_text(st, 1));
		snprintf(out->token, sizeof out->token, "%s", db_column_text(st, 2));
	}
	db_done(st);
	return e;
}

enum err pm_default_row(struct db *db, const char *account_id, struct pm_row *out)
{
	return read_row(db, "SELECT id, provider, provider_token FROM payment_methods"
			    " WHERE account_id = ?1 AND is_default = 1 AND removed_at IS NULL",
			account_id, NULL, out);
}

enum err pm_row_get(struct db *db, const char *account_id, const char *pm_id, struct pm_row *out)
{
	return read_row(db, "SELECT id, provider, provider_token FROM payment_methods"
			    " WHERE account_id = ?1 AND id = ?2 AND removed_at IS NULL",
			account_id, pm_id, out);
}
