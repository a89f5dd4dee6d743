/*
 * Account credit: a balance per account and currency that pays invoices
 * before the card is charged, and the ledger that explains every change of
 * it (a grant by staff, an amount applied to an invoice).
 *
 * The balance row and its ledger row are written in the same transaction;
 * the CHECK (balance >= 0) makes an overdraft impossible even if two
 * writers raced (they cannot: write transactions are serialized).
 */
#include <stdio.h>
#include <string.h>

#include "accounts/accounts.h"
#include "billing/renewal_int.h"
#include "core/clock.h"
#include "core/events.h"

static enum err ledger_row(struct db *db, const char *account_id, const char *currency, int64_t amount,
			   int64_t balance_after, const char *kind, const char *invoice_id,
			   const char *reason, const char *created_by, int64_t now, char *id_out)
{
	struct db_stmt *st = NULL;
	char id[IDS_MAX];
	enum err e = ids_new("crl_", id, sizeof id);
	if (e != ERR_OK)
		return e;
	e = db_prepare(db,
		       "INSERT INTO credit_ledger (id, account_id, currency, amount, balance_after, kind,"
		       " invoice_id, reason, created_by, created_at)"
		       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
		       &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, id);
	db_bind_text(st, 2, account_id);
	db_bind_text(st, 3, currency);
	db_bind_int64(st, 4, amount);
	db_bind_int64(st, 5, balance_after);
	db_bind_text(st, 6, kind);
	db_bind_text(st, 7, invoice_id);
	db_bind_text(st, 8, reason);
	db_bind_text(st, 9, created_by);
	db_bind_int64(st, 10, now);
	e = db_step_done(st);
	db_done(st);
	if (e == ERR_OK && id_out)
		memcpy(id_out, id, sizeof id);
	return e;
}

enum err credit_take(struct db *db, const char *account_id, const char *currency, int64_t amount,
		     const char *invoice_id, int64_t now)
{
	struct db_stmt *st = NULL;
	int64_t after = 0;
	char id[IDS_MAX];
	enum err e = db_prepare(db,
				"UPDATE credit_balances SET balance = balance - ?3, updated_at = ?4"
				" WHERE account_id = ?1 AND currency = ?2 AND balance >= ?3 RETURNING balance",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, account_id);
	db_bind_text(st, 2, currency);
	db_bind_int64(st, 3, amount);
	db_bind_int64(st, 4, now);
	e = db_step_row(st);
	if (e == ERR_OK)
		after = db_column_int64(st, 0);
	db_done(st);
	if (e == ERR_NOT_FOUND)
		return ERR_INTERNAL; /* the caller read a balance that is not there */
	if (e == ERR_OK)
		e = ledger_row(db, account_id, currency, -amount, after, "applied", invoice_id, NULL,
			       "billing", now, id);
	if (e == ERR_OK)
		e = events_emit(db, "credit.applied", id,
				json_pack("{s:s, s:s, s:I, s:s, s:I}", "account", account_id, "invoice", invoice_id,
					  "amount", (json_int_t)amount, "currency", currency, "balance",
					  (json_int_t)after));
	return e;
}

struct grant_ctx {
	const char *account_id;
	const struct money *amount;
	const struct bill_actor *actor;
	struct bill_credit_balance *out;
};

static enum err grant_tx(struct db *db, void *arg)
{
	struct grant_ctx *c = arg;
	struct acct_account acct;
	struct db_stmt *st = NULL;
	int64_t now = clock_now(), after = 0;
	char id[IDS_MAX];
	enum err e = acct_get(db, c->account_id, &acct);
	if (e != ERR_OK)
		return e;
	e = db_prepare(db,
		       "INSERT INTO credit_balances (account_id, currency, balance, updated_at)"
		       " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (account_id, currency)"
		       " DO UPDATE SET balance = credit_balances.balance + ?3, updated_at = ?4"
		       " RETURNING balance",
		       &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, c->account_id);
	db_bind_text(st, 2, c->amount->currency);
	db_bind_int64(st, 3, c->amount->amount);
	db_bind_int64(st, 4, now);
	e = db_step_row(st);
	if (e == ERR_OK)
		after = db_column_int64(st, 0);
	db_done(st);
	const char *by = c->actor && c->actor->id ? c->actor->id : "tool";
	const char *reason = c->actor ? c->actor->reason : NULL;
	if (e == ERR_OK)
		e = ledger_row(db, c->account_id, c->amount->currency, c->amount->amount, after, "grant", NULL,
			       reason, by, now, id);
	if (e == ERR_OK)
		e = events_emit(db, "credit.granted", id,
				json_pack("{s:s, s:I, s:s, s:I, s:s}", "account", c->account_id, "amount",
					  (json_int_t)c->amount->amount, "currency", c->amount->currency,
					  "balance", (json_int_t)after, "by", by));
	if (e == ERR_OK && c->actor && c->actor->audit)
		e = c->actor->audit(db, c->actor, "credit.grant", "account", c->account_id,
				    json_pack("{s:I, s:s}", "balance", (json_int_t)(after - c->amount->amount),
					      "currency", c->amount->currency),
				    json_pack("{s:I, s:s, s:s}", "balance", (json_int_t)after, "currency",
					      c->amount->currency, "ledger_entry", id));
	if (e == ERR_OK) {
		money_init(&c->out->balance, after, c->amount->currency);
		c->out->updated_at = now;
	}
	return e;
}

enum err bill_credit_grant(struct db *db, const char *account_id, const struct money *amount,
			   const struct bill_actor *actor, struct bill_credit_balance *out)
{
	const struct money_currency *cur = NULL;
	if (money_currency_find(amount->currency, &cur) != ERR_OK)
		return ERR_UNKNOWN_CURRENCY;
	if (amount->amount <= 0)
		return ERR_INVALID_AMOUNT;
	struct grant_ctx c = {account_id, amount, actor, out};
	return db_transaction(db, grant_tx, &c);
}

enum err bill_credit_balances(struct db *db, const char *account_id, struct bill_credit_balance *out,
			      size_t cap, size_t *n)
{
	struct db_stmt *st = NULL;
	*n = 0;
	enum err e = db_prepare(db, "SELECT currency, balance, updated_at FROM credit_balances"
				    " WHERE account_id = ?1 ORDER BY currency", &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, account_id);
	bool row = false;
	while (*n < cap && (e = db_step(st, &row)) == ERR_OK && row) {
		e = money_init(&out[*n].balance, db_column_int64(st, 1), db_column_text(st, 0));
		if (e != ERR_OK)
			break;
		out[*n].updated_at = db_column_int64(st, 2);
		(*n)++;
	}
	db_done(st);
	return e;
}

/* ---- what a supervisor may give back without an admin ---- */

#define LIMITS_MAX 32
#define LIMITS_DEFAULT                                                                           \
	"USD 50.00,CAD 70.00,MXN 1000,BRL 250.00,GBP 40.00,EUR 50.00,INR 4000,JPY 7500,KRW 70000," \
	"AUD 75.00,KWD 15.000"

static struct money limits[LIMITS_MAX];
static size_t nlimits;
static bool limits_set;

enum err bill_staff_limits_configure(const char *list)
{
	struct money parsed[LIMITS_MAX] = {{0, ""}};
	size_t n = 0;
	const char *p = list;
	while (*p) {
		char item[48], cur[4], amount[40];
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len == 0 || len >= sizeof item || n >= LIMITS_MAX)
			return ERR_INVALID_PARAMETER;
		memcpy(item, p, len);
		item[len] = '\0';
		const char *sp = strchr(item, ' ');
		if (!sp || sp - item != 3 || strlen(sp + 1) == 0 || strlen(sp + 1) >= sizeof amount)
			return ERR_INVALID_PARAMETER;
		memcpy(cur, item, 3);
		cur[3] = '\0';
		snprintf(amount, sizeof amount, "%s", sp + 1);
		if (money_parse(amount, cur, &parsed[n]) != ERR_OK || parsed[n].amount < 0)
			return ERR_INVALID_PARAMETER;
		n++;
		p += len;
		if (*p == ',') {
			p++;
			if (!*p)
				return ERR_INVALID_PARAMETER;
		}
	}
	memcpy(limits, parsed, n * sizeof parsed[0]);
	nlimits = n;
	limits_set = true;
	return ERR_OK;
}

enum err bill_staff_limit(const char *currency, struct money *limit)
{
	if (!limits_set && bill_staff_limits_configure(LIMITS_DEFAULT) != ERR_OK)
		return ERR_INTERNAL;
	for (size_t i = 0; i < nlimits; i++)
		if (strcmp(limits[i].currency, currency) == 0) {
			*limit = limits[i];
			return ERR_OK;
		}
	return ERR_NOT_FOUND;
}
