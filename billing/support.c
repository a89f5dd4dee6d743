/*
 * support.c - what the support-staff tools need from billing's tables:
 * finding an account by an invoice or credit-note number, and erasing the
 * card details of a member whose data is erased.
 */
#include <stdio.h>
#include <string.h>

#include "billing/billing.h"
#include "core/clock.h"
#include "core/events.h"

enum err bill_account_by_invoice_number(struct db *db, const char *number, char *account_id)
{
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db, "SELECT account_id FROM invoices WHERE number = ?1", &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, number);
	e = db_step_row(st);
	if (e == ERR_OK)
		snprintf(account_id, IDS_MAX, "%s", db_column_text(st, 0));
	db_done(st);
	return e;
}

enum err bill_erase_payment_methods(struct db *db, const char *account_id)
{
	struct db_stmt *st = NULL;
	/* The rows stay (old payment attempts refer to them) but say nothing
	 * about the card any more, and none can be charged again. */
	enum err e = db_prepare(db,
				"UPDATE payment_methods SET provider_token = 'erased', brand = 'erased',"
				" last4 = '', exp_month = 0, exp_year = 0, is_default = 0,"
				" removed_at = COALESCE(removed_at, ?2) WHERE account_id = ?1",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, account_id);
	db_bind_int64(st, 2, clock_now());
	e = db_step_done(st);
	int64_t n = e == ERR_OK ? db_changes(db) : 0;
	db_done(st);
	if (e == ERR_OK && n > 0)
		e = events_emit(db, "payment_method.erased", account_id,
				json_pack("{s:I}", "count", (json_int_t)n));
	return e;
}
