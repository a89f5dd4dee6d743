/*
 * Subscription add-ons: how many extra-member slots a subscription pays
 * for.  The quantity is billed at each renewal at the catalog's add-on
 * price then in force (renewal.c); changing it takes effect at the next
 * renewal, without proration.
 */
#include <stdio.h>
#include <string.h>

#include "billing/renewal_int.h"
#include "core/clock.h"
#include "core/events.h"

struct addon_ctx {
	const char *account_id;
	int64_t quantity;
};

static enum err addon_tx(struct db *db, void *arg)
{
	struct addon_ctx *c = arg;
	struct bill_subscription s;
	struct db_stmt *st = NULL;
	int64_t now = clock_now();
	enum err e = bill_subscription_get(db, c->account_id, &s);
	if (e != ERR_OK)
		return e;
	if (s.state == BILL_ENDED)
		return ERR_NOT_FOUND;
	if (s.state != BILL_ACTIVE)
		return ERR_INVALID_STATE;
	if (c->quantity < 0 || c->quantity > s.plan.extra_member_slots)
		return ERR_INVALID_PARAMETER;
	e = db_prepare(db,
		       "INSERT INTO subscription_addons (subscription_id, addon, quantity, updated_at)"
		       " VALUES (?1, 'extra_member', ?2, ?3) ON CONFLICT (subscription_id, addon)"
		       " DO UPDATE SET quantity = ?2, updated_at = ?3",
		       &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, s.id);
	db_bind_int64(st, 2, c->quantity);
	db_bind_int64(st, 3, now);
	e = db_step_done(st);
	db_done(st);
	if (e == ERR_OK)
		e = events_emit(db, "subscription.updated", s.id,
				json_pack("{s:s, s:s, s:s, s:I}", "account", s.account_id, "change",
					  "addon_quantity", "addon", "extra_member", "quantity",
					  (json_int_t)c->quantity));
	return e;
}

enum err bill_addon_set_quantity(struct db *db, const char *account_id, int64_t quantity)
{
	struct addon_ctx c = {account_id, quantity};
	return db_transaction(db, addon_tx, &c);
}
