/*
 * billing_section.c - the billing part of the staff account tools, read
 * through billing/billing.h: the subscription, recent invoices and the
 * payment methods on the account page, and all of them in a data export.
 *
 * Erasure keeps invoices (tax law) and they hold no personal data: amounts,
 * periods and the plan, tied to the account id only; card details are
 * erased.  Search finds an account by an invoice number.
 */
#include <stdio.h>
#include <string.h>

#include "admin/admin_int.h"
#include "billing/billing.h"
#include "core/clock.h"

#define SHOW_INVOICES 5
#define EXPORT_PAGE 100

static json_t *money_json(const struct money *m)
{
	return json_pack("{s:I, s:s}", "amount", (json_int_t)m->amount, "currency", m->currency);
}

static enum err subscription_json(struct db *db, const char *account_id, json_t **out)
{
	struct bill_subscription s;
	char start[32], end[32], created[32];
	enum err e = bill_subscription_get(db, account_id, &s);
	if (e == ERR_NOT_FOUND) {
		*out = json_null();
		return ERR_OK;
	}
	if (e != ERR_OK)
		return e;
	*out = json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:s, s:s, s:b, s:s?, s:s}", "id", s.id, "state",
			 bill_state_name(s.state), "plan_code", s.plan.code, "plan_name", s.plan.name,
			 "price", money_json(&s.price.amount), "country", s.country,
			 "current_period_start", clock_format(s.current_period_start, start, sizeof start),
			 "current_period_end", clock_format(s.current_period_end, end, sizeof end),
			 "cancel_at_period_end", s.cancel_at_period_end, "scheduled_plan_code",
			 s.has_scheduled_change ? s.scheduled_plan_code : NULL, "created_at",
			 clock_format(s.created_at, created, sizeof created));
	return *out ? ERR_OK : ERR_NOMEM;
}

static enum err payment_methods_json(struct db *db, const char *account_id, json_t **out)
{
	struct bill_payment_method pm[16];
	size_t n = 0;
	char at[32];
	enum err e = bill_pm_list(db, account_id, pm, sizeof pm / sizeof pm[0], &n);
	if (e != ERR_OK)
		return e;
	json_t *arr = json_array();
	for (size_t i = 0; arr && i < n; i++)
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:i, s:i, s:b, s:s}", "id", pm[i].id,
						     "brand", pm[i].brand, "last4", pm[i].last4, "exp_month",
						     pm[i].exp_month, "exp_year", pm[i].exp_year, "is_default",
						     pm[i].is_default, "created_at",
						     clock_format(pm[i].created_at, at, sizeof at)));
	*out = arr;
	return arr ? ERR_OK : ERR_NOMEM;
}

static enum err show_subscription(struct db *db, const char *account_id, json_t **out)
{
	return subscription_json(db, account_id, out);
}

static enum err show_invoices(struct db *db, const char *account_id, json_t **out)
{
	bool more = false;
	return bill_invoice_list(db, account_id, SHOW_INVOICES, NULL, out, &more);
}

static enum err show_payment_methods(struct db *db, const char *account_id, json_t **out)
{
	return payment_methods_json(db, account_id, out);
}

/* Every invoice of the account, newest first. */
static enum err all_invoices(struct db *db, const char *account_id, json_t **out)
{
	json_t *all = json_array();
	char after[IDS_MAX] = "";
	bool more = true;
	enum err e = ERR_OK;
	while (e == ERR_OK && more) {
		json_t *page = NULL;
		e = bill_invoice_list(db, account_id, EXPORT_PAGE, after[0] ? after : NULL, &page, &more);
		if (e != ERR_OK)
			break;
		size_t n = json_array_size(page);
		if (n > 0)
			snprintf(after, sizeof after, "%s",
				 json_string_value(json_object_get(json_array_get(page, n - 1), "id")));
		json_array_extend(all, page);
		json_decref(page);
		if (n == 0)
			more = false;
	}
	if (e != ERR_OK) {
		json_decref(all);
		return e;
	}
	*out = all;
	return ERR_OK;
}

static enum err export_billing(struct db *db, const char *account_id, json_t **out)
{
	json_t *sub = NULL, *pms = NULL, *invoices = NULL;
	enum err e = subscription_json(db, account_id, &sub);
	if (e == ERR_OK)
		e = payment_methods_json(db, account_id, &pms);
	if (e == ERR_OK)
		e = all_invoices(db, account_id, &invoices);
	if (e != ERR_OK) {
		json_decref(sub);
		json_decref(pms);
		return e;
	}
	*out = json_pack("{s:o, s:o, s:o}", "subscription", sub, "payment_methods", pms, "invoices", invoices);
	return *out ? ERR_OK : ERR_NOMEM;
}

static enum err search_invoice_number(struct db *db, const char *query, char *account_id)
{
	/* Invoice numbers are upper case ("HEA-2027-000123"); staff may type them in any case. */
	char number[64];
	size_t n = strlen(query);
	if (n == 0 || n >= sizeof number)
		return ERR_NOT_FOUND;
	for (size_t i = 0; i <= n; i++)
		number[i] = (query[i] >= 'a' && query[i] <= 'z') ? (char)(query[i] - 'a' + 'A') : query[i];
	return bill_account_by_invoice_number(db, number, account_id);
}

static const struct admin_account_section sections[] = {
	{"subscription", show_subscription, NULL, NULL, NULL},
	{"invoices", show_invoices, NULL, NULL, search_invoice_number},
	{"payment_methods", show_payment_methods, NULL, bill_erase_payment_methods, NULL},
	/* One export member for all of billing; erasure keeps invoices. */
	{"billing", NULL, export_billing, NULL, NULL},
};

void admin_billing_sections_register(void)
{
	for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++)
		admin_account_section_add(&sections[i]);
}
