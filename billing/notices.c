/*
 * notices.c - what billing tells members, and the pieces of its payloads.
 *
 * Every notification billing queues goes through bill_notify(), inside the
 * transaction of the change it tells of (core/notify.h): the member hears
 * of a change exactly when it committed.  The templates and their payloads
 * are listed in docs/billing.md ("Notifications").
 */
#include "billing/billing_int.h"

#include "accounts/accounts.h"
#include "core/clock.h"
#include "core/notify.h"

enum err bill_notify(struct db *db, const char *account_id, const char *template_name, json_t *payload)
{
	struct acct_account acct;
	enum err e = acct_get(db, account_id, &acct);
	if (e != ERR_OK) {
		json_decref(payload);
		return e == ERR_NOT_FOUND ? ERR_OK : e;
	}
	return notify_queue(db, account_id, NOTIFY_EMAIL, acct.email, template_name, payload, NULL);
}

json_t *bill_money_json(int64_t amount, const char *currency)
{
	return json_pack("{s:I, s:s}", "amount", (json_int_t)amount, "currency", currency);
}
