/*
 * addons.c - priced extras on a subscription (today the extra-member slot).
 *
 * Buying one charges the rest of the current period at once, prorated like
 * an upgrade (docs/billing.md, "Proration"): price x remaining / period
 * seconds, rounded once by money_scale().  The price, with its tax rule, is
 * a snapshot of the catalog's add-on price for the subscription's country
 * and plan tier, and the renewal run bills that snapshot for every period
 * the add-on runs at the start of (bill_addon_renewal_lines).  Removing one
 * sets its end to the current period end: the paid time is used up, and
 * the next renewal no longer bills it.
 */
#include <stdio.h>
#include <string.h>

#include "billing/billing_int.h"
#include "core/clock.h"
#include "core/events.h"

static void copy_text(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

/* The catalog's price of `addon` for the plan tier of `sub` at `at`. */
static enum err addon_price(struct db *db, const struct bill_subscription *sub, const char *addon,
			    int64_t at, struct money *price, bool *inclusive, int32_t *bps)
{
	struct db_stmt *st = NULL;
	int64_t version = 0;
	if (sub->plan.extra_member_slots <= 0)
		return ERR_EXTRA_MEMBERS_NOT_IN_PLAN;
	enum err e = cat_current_version(db, &version);
	if (e == ERR_OK)
		e = db_prepare(db,
			       "SELECT currency, amount, tax_inclusive, tax_rate_bps FROM addon_prices"
			       " WHERE catalog_version = ?1 AND addon = ?2 AND country = ?3 AND tier = ?4"
			       " AND effective_from <= ?5 ORDER BY effective_from DESC LIMIT 1",
			       &st);
	if (e != ERR_OK)
		return e;
	db_bind_int64(st, 1, version);
	db_bind_text(st, 2, addon);
	db_bind_text(st, 3, sub->country);
	db_bind_text(st, 4, sub->plan.has_ads ? "ads" : "ad_free");
	db_bind_int64(st, 5, at);
	e = db_step_row(st);
	if (e == ERR_OK) {
		e = money_init(price, db_column_int64(st, 1), db_column_text(st, 0));
		*inclusive = db_column_int64(st, 2) != 0;
		*bps = (int32_t)db_column_int64(st, 3);
	}
	db_done(st);
	if (e == ERR_NOT_FOUND)
		return ERR_EXTRA_MEMBERS_NOT_IN_PLAN;
	if (e == ERR_OK && strcmp(price->currency, sub->price.amount.currency) != 0)
		return ERR_CURRENCY_MISMATCH;
	return e;
}

enum err bill_addon_add(struct db *db, const char *account_id, const char *addon,
			const char *reference, struct bill_addon *out, struct bill_payment_outcome *pay)
{
	struct bill_subscription sub;
	struct bill_price rule;
	struct pm_row pm;
	struct inv_draft d;
	struct money due;
	struct db_stmt *st = NULL;
	char desc[INV_DESCRIPTION_MAX], from[24], to[24];
	int64_t now = clock_now();
	memset(out, 0, sizeof *out);
	memset(pay, 0, sizeof *pay);
	if (strcmp(addon, "extra_member") != 0)
		return ERR_INTERNAL;
	enum err e = bill_subscription_get(db, account_id, &sub);
	if (e != ERR_OK)
		return e;
	if (sub.state != BILL_ACTIVE)
		return ERR_INVALID_STATE;
	rule = sub.price;
	e = addon_price(db, &sub, addon, now, &rule.amount, &rule.tax_inclusive, &rule.tax_rate_bps);
	if (e == ERR_OK)
		e = pm_default_row(db, account_id, &pm);
	if (e == ERR_NOT_FOUND)
		return ERR_PAYMENT_REQUIRED;
	if (e != ERR_OK)
		return e;
	int64_t start = now < sub.current_period_start ? sub.current_period_start : now;
	int64_t end = sub.current_period_end;
	if (end <= start)
		return ERR_INVALID_STATE;
	e = money_scale(&rule.amount, end - start, end - sub.current_period_start, &due);
	if (e != ERR_OK)
		return e;
	inv_draft_init(&d, account_id, "subscription_update", sub.plan.code, &sub.price, start, end);
	snprintf(d.subscription_id, sizeof d.subscription_id, "%s", sub.id);
	bill_date_text(start, from, sizeof from);
	bill_date_text(end, to, sizeof to);
	snprintf(desc, sizeof desc, "Extra member, %s - %s (prorated)", from, to);
	e = inv_add_line(&d, BILL_LINE_ADDON, desc, sub.plan.code, &due, &rule, start, end);
	bool declined = false;
	if (e == ERR_OK)
		e = inv_finalize_and_charge(db, &d, &pm, now, pay, &declined);
	if (e != ERR_OK)
		return e;
	if (declined)
		return ERR_PAYMENT_FAILED;
	e = ids_new("add_", out->id, sizeof out->id);
	if (e == ERR_OK)
		e = db_prepare(db,
			       "INSERT INTO subscription_addons (id, account_id, subscription_id, addon, reference,"
			       " currency, amount, tax_inclusive, tax_rate_bps, invoice_id, started_at, created_at)"
			       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11)",
			       &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, out->id);
	db_bind_text(st, 2, account_id);
	db_bind_text(st, 3, sub.id);
	db_bind_text(st, 4, addon);
	db_bind_text(st, 5, reference);
	db_bind_text(st, 6, rule.amount.currency);
	db_bind_int64(st, 7, rule.amount.amount);
	db_bind_int64(st, 8, rule.tax_inclusive);
	db_bind_int64(st, 9, rule.tax_rate_bps);
	db_bind_text(st, 10, d.id);
	db_bind_int64(st, 11, now);
	e = db_step_done(st);
	db_done(st);
	if (e != ERR_OK)
		return e;
	copy_text(out->subscription_id, sizeof out->subscription_id, sub.id);
	copy_text(out->addon, sizeof out->addon, addon);
	copy_text(out->reference, sizeof out->reference, reference);
	out->price = rule.amount;
	out->tax_inclusive = rule.tax_inclusive;
	out->tax_rate_bps = rule.tax_rate_bps;
	copy_text(out->invoice_id, sizeof out->invoice_id, d.id);
	out->started_at = now;
	return events_emit(db, "addon.added", out->id,
			   json_pack("{s:s, s:s, s:s, s:s?, s:I, s:s, s:s}", "account", account_id,
				     "subscription", sub.id, "addon", addon, "reference", reference,
				     "amount", (json_int_t)rule.amount.amount, "currency",
				     rule.amount.currency, "invoice", d.id));
}

#define ADDON_COLUMNS                                                                   \
	"id, subscription_id, addon, reference, currency, amount, tax_inclusive, tax_rate_bps," \
	" invoice_id, started_at, ends_at"

static enum err read_addon(struct db_stmt *st, struct bill_addon *out)
{
	memset(out, 0, sizeof *out);
	copy_text(out->id, sizeof out->id, db_column_text(st, 0));
	copy_text(out->subscription_id, sizeof out->subscription_id, db_column_text(st, 1));
	copy_text(out->addon, sizeof out->addon, db_column_text(st, 2));
	copy_text(out->reference, sizeof out->reference, db_column_text(st, 3));
	enum err e = money_init(&out->price, db_column_int64(st, 5), db_column_text(st, 4));
	out->tax_inclusive = db_column_int64(st, 6) != 0;
	out->tax_rate_bps = (int32_t)db_column_int64(st, 7);
	copy_text(out->invoice_id, sizeof out->invoice_id, db_column_text(st, 8));
	out->started_at = db_column_int64(st, 9);
	out->ends_at = db_column_is_null(st, 10) ? 0 : db_column_int64(st, 10);
	return e;
}

enum err bill_addon_get(struct db *db, const char *account_id, const char *addon_id,
			struct bill_addon *out)
{
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db,
				"SELECT " ADDON_COLUMNS " FROM subscription_addons WHERE id = ?1 AND account_id = ?2",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, addon_id);
	db_bind_text(st, 2, account_id);
	e = db_step_row(st);
	if (e == ERR_OK)
		e = read_addon(st, out);
	db_done(st);
	return e;
}

enum err bill_addon_remove(struct db *db, const char *account_id, const char *addon_id,
			   int64_t *ends_at)
{
	struct bill_addon a;
	struct bill_subscription sub;
	struct db_stmt *st = NULL;
	*ends_at = 0;
	enum err e = bill_addon_get(db, account_id, addon_id, &a);
	if (e != ERR_OK)
		return e;
	if (a.ends_at) {
		*ends_at = a.ends_at;
		return ERR_OK;
	}
	e = bill_subscription_get(db, account_id, &sub);
	if (e != ERR_OK)
		return e;
	/* A subscription that ended took its add-ons with it. */
	int64_t end = sub.state == BILL_ENDED && sub.ended_at ? sub.ended_at : sub.current_period_end;
	if (strcmp(sub.id, a.subscription_id) != 0)
		end = clock_now();
	e = db_prepare(db, "UPDATE subscription_addons SET ends_at = ?2 WHERE id = ?1", &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, addon_id);
	db_bind_int64(st, 2, end);
	e = db_step_done(st);
	db_done(st);
	if (e == ERR_OK)
		e = events_emit(db, "addon.removed", addon_id,
				json_pack("{s:s, s:s, s:I}", "account", account_id, "addon", a.addon,
					  "ends_at", (json_int_t)end));
	if (e == ERR_OK)
		*ends_at = end;
	return e;
}

enum err bill_addon_renewal_lines(struct db *db, const struct bill_subscription *sub,
				  struct inv_draft *d, int64_t period_start, int64_t period_end)
{
	struct db_stmt *st = NULL;
	struct bill_addon a;
	char desc[INV_DESCRIPTION_MAX], from[24], to[24];
	enum err e = db_prepare(db,
				"SELECT " ADDON_COLUMNS " FROM subscription_addons WHERE subscription_id = ?1"
				" AND started_at < ?2 AND (ends_at IS NULL OR ends_at > ?2)"
				" ORDER BY started_at, id",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, sub->id);
	db_bind_int64(st, 2, period_start);
	bill_date_text(period_start, from, sizeof from);
	bill_date_text(period_end, to, sizeof to);
	snprintf(desc, sizeof desc, "Extra member, %s - %s", from, to);
	for (;;) {
		bool row = false;
		e = db_step(st, &row);
		if (e != ERR_OK || !row)
			break;
		e = read_addon(st, &a);
		if (e != ERR_OK)
			break;
		struct bill_price rule = sub->price;
		rule.amount = a.price;
		rule.tax_inclusive = a.tax_inclusive;
		rule.tax_rate_bps = a.tax_rate_bps;
		e = inv_add_line(d, BILL_LINE_ADDON, desc, sub->plan.code, &a.price, &rule, period_start,
				 period_end);
		if (e != ERR_OK)
			break;
	}
	db_done(st);
	return e;
}
