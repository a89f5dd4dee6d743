/*
 * billing_int.h - what the files of billing/ share and nobody else sees:
 * catalog lookups, payment-method rows, and the invoice builder that
 * subscriptions (and later the billing run) use inside their transactions.
 *
 * Every function here that writes runs inside its caller's transaction.
 */
#ifndef HEARTH_BILLING_INT_H
#define HEARTH_BILLING_INT_H

#include "billing/billing.h"
#include "billing/provider.h"

/* ---- catalog (catalog.c) ---- */

/* The current catalog version; ERR_NOT_FOUND when none was ever loaded. */
enum err cat_current_version(struct db *db, int64_t *version);

/* Plan `code` of catalog `version`; ERR_NOT_FOUND when absent. */
enum err cat_plan_get(struct db *db, int64_t version, const char *code, struct bill_plan *out);

/* Plan `code` as sold in `country` at `at` in the current catalog.
 * ERR_COUNTRY_NOT_SUPPORTED when the country has no prices at all,
 * ERR_UNKNOWN_PLAN when the catalog has no such plan,
 * ERR_PLAN_NOT_AVAILABLE_IN_REGION when it is not priced in the country. */
enum err cat_offer(struct db *db, const char *country, const char *code, int64_t at,
		   struct bill_offer *offer, int64_t *version);

/* Device-type bits from "tv,web,phone" and back. */
unsigned cat_devices_parse(const char *csv);
void cat_devices_format(unsigned bits, char *buf, size_t cap);

/* ---- payment methods (payment_methods.c) ---- */

struct pm_row {
	char id[IDS_MAX];
	char provider[16];
	char token[64];
};

/* The account's default method (ERR_NOT_FOUND: none), or the attached
 * method `pm_id` (ERR_NOT_FOUND: not the account's). */
enum err pm_default_row(struct db *db, const char *account_id, struct pm_row *out);
enum err pm_row_get(struct db *db, const char *account_id, const char *pm_id, struct pm_row *out);

/* Make `pm_id` the default of `account_id` (inside the caller's transaction). */
enum err pm_make_default(struct db *db, const char *account_id, const char *pm_id);

/* ---- subscriptions (subscription.c) ---- */

/* Which subscriptions sub_account_has() looks for. */
enum sub_filter {
	SUB_LIVE,		/* any state but ended */
	SUB_AWAITING_PAYMENT,	/* past_due or on_hold */
};

/* Set *yes to whether `account_id` has a subscription that `which` names. */
enum err sub_account_has(struct db *db, const char *account_id, enum sub_filter which, bool *yes);

/* ---- invoices (invoice.c) ---- */

#define INV_LINES_MAX 8
#define INV_DESCRIPTION_MAX 160

struct inv_line {
	enum bill_line_kind kind;
	char description[INV_DESCRIPTION_MAX];
	char plan_code[BILL_CODE_MAX + 1];
	struct money amount;
	struct money tax;	/* computed by inv_total() */
	bool tax_inclusive;	/* the rule this line is taxed by */
	int32_t tax_rate_bps;
	int64_t period_start;
	int64_t period_end;
};

struct inv_draft {
	char id[IDS_MAX];
	char account_id[IDS_MAX];
	char subscription_id[IDS_MAX];	/* "" when none (yet) */
	const char *billing_reason;	/* "subscription_create", ... */
	char plan_code[BILL_CODE_MAX + 1];
	char currency[4];
	bool tax_inclusive;
	int32_t tax_rate_bps;
	char tax_name[BILL_TAX_NAME_MAX + 1];
	int64_t period_start;
	int64_t period_end;
	size_t nlines;
	struct inv_line lines[INV_LINES_MAX];
	struct money subtotal, tax, total;
	struct money credit_applied;	/* account credit paying part of total (renewals); 0 */
	char charge_key[64];		/* the provider's idempotency key; "" = the attempt id */
	char number[32];		/* set by inv_insert_finalized() */
};

/* Start a draft in memory (nothing is written). */
void inv_draft_init(struct inv_draft *d, const char *account_id, const char *billing_reason,
		    const char *plan_code, const struct bill_price *price, int64_t period_start,
		    int64_t period_end);

/* Add a line taxed by `price`'s rule.  ERR_INTERNAL when full. */
enum err inv_add_line(struct inv_draft *d, enum bill_line_kind kind, const char *description,
		      const char *plan_code, const struct money *amount, const struct bill_price *rule,
		      int64_t period_start, int64_t period_end);

/* Compute each line's tax, the subtotal, tax and total (docs/billing.md,
 * "Tax"); an exclusive invoice gets a `tax` line with the tax added. */
enum err inv_total(struct inv_draft *d);

/* Finalize the draft: take the next number of the year of `now` from
 * invoice_counters and write the invoice, open, with its lines (a draft is
 * never visible: it exists only inside this transaction); emit
 * invoice.finalized.  Assigns d->id when empty and d->number. */
enum err inv_insert_finalized(struct db *db, struct inv_draft *d, int64_t now);

/* What a charge of `d` takes from the card: total - credit_applied. */
int64_t inv_amount_due(const struct inv_draft *d);

/* Charge an open invoice's amount due with `pm`, record the attempt, and on
 * success mark it paid (invoice.paid, payment.succeeded); on a decline emit
 * payment.failed and leave it open.  An amount due of zero or less is
 * marked paid with no attempt.  The provider's idempotency key is
 * d->charge_key when set.  `out` says what happened. */
enum err inv_charge(struct db *db, struct inv_draft *d, const struct pm_row *pm, int64_t now,
		    struct bill_payment_outcome *out);

/* Total the draft `d`, finalize it and charge it at once with `pm`: what
 * a purchase made now (subscribe, upgrade, add-on) does.  On a decline the
 * invoice is voided (it keeps its number, the attempt stays) and *declined
 * is set: the caller commits that record and changes nothing else.
 * `pay` says what the charge did. */
enum err inv_finalize_and_charge(struct db *db, struct inv_draft *d, const struct pm_row *pm, int64_t now,
				 struct bill_payment_outcome *pay, bool *declined);

/* Load the stored invoice `invoice_id` into `d` far enough to charge or
 * refund it (id, account, subscription, reason, currency, tax rule, period,
 * totals, credit applied, number; no lines).  *status receives its status
 * ("open", "paid"...; cap 16).  ERR_NOT_FOUND when absent. */
enum err inv_load(struct db *db, const char *invoice_id, struct inv_draft *d, char *status,
		  size_t status_cap);

/* Mark an open invoice uncollectible (dunning ran out): event
 * invoice.marked_uncollectible. */
enum err inv_mark_uncollectible(struct db *db, const char *invoice_id, int64_t now);

/* Void every open plan-period invoice of a subscription that ends (the
 * unpaid renewal of a past_due one, a failed recovery of an on_hold one). */
enum err inv_void_open_of_subscription(struct db *db, const char *subscription_id, int64_t now);

/* Void an open invoice (invoice.voided). */
enum err inv_void(struct db *db, const char *invoice_id, int64_t now);

/* The gapless yearly number series: invoices (HEA-2027-000001) and credit
 * notes (HEA-CN-2027-000001), each counted per calendar year. */
enum inv_series { INV_SERIES_INVOICE, INV_SERIES_CREDIT_NOTE };

/* Take the next number of `series` for the year of `now` (UTC) into `out`
 * (`cap` bytes) by incrementing that year's counter; runs inside the
 * caller's transaction, so a rolled-back caller leaves no gap.
 * ERR_BUFFER_TOO_SMALL when the number does not fit. */
enum err inv_next_number(struct db *db, enum inv_series series, int64_t now, char *out, size_t cap);

/* ---- notices.c ---- */

/* Queue notification `template_name` to the account's email, in the
 * caller's transaction (payload stolen).  An account that no longer exists
 * gets none. */
enum err bill_notify(struct db *db, const char *account_id, const char *template_name, json_t *payload);

/* A payload's money: {amount, currency} (its times: clock_json). */
json_t *bill_money_json(int64_t amount, const char *currency);

/* Record the subscription an invoice belongs to. */
enum err inv_set_subscription(struct db *db, const char *invoice_id, const char *subscription_id);

/* ---- refunds (refunds.c) ---- */

/* The credit notes of an invoice, oldest first, as a new JSON array
 * ({id, number, amount, tax, reason, created_at}). */
enum err inv_credit_notes_json(struct db *db, const char *invoice_id, json_t **out);
/* ---- add-ons (addons.c) ---- */

/* For the renewal run: add one `addon` line per add-on of subscription `sub`
 * that runs at `period_start` (ends_at unset or later) to the renewal draft
 * `d`, at the add-on's snapshot price for the whole period. */
enum err bill_addon_renewal_lines(struct db *db, const struct bill_subscription *sub,
				  struct inv_draft *d, int64_t period_start, int64_t period_end);

/* The UTC calendar date of `t`. */
void bill_civil_date(int64_t t, int64_t *y, int64_t *m, int64_t *d);

/* Human text of a time's date: "15 Jan 2027". */
void bill_date_text(int64_t t, char *buf, size_t cap);

/* ---- request bodies (billing_http.c) ----
 *
 * The checks the HTTP adapter makes on a JSON body before anything touches
 * the database, callable without a request so that the fuzz targets run
 * exactly them (fuzz/fuzz_billing_body.c).  Each reads `v` (jv_init'd by
 * the caller on the request's JSON object), records every field error in it
 * (unknown fields included), and sets its outputs, which borrow from the
 * JSON, only to valid values. */

struct jv;

/* POST /v1/payment-methods {token}. */
void bill_payment_method_parse(struct jv *v, const char **token);

/* POST /v1/subscription {plan, payment_method}. */
void bill_subscribe_parse(struct jv *v, const char **plan, const char **payment_method);

/* PATCH /v1/subscription {plan}. */
void bill_plan_change_parse(struct jv *v, const char **plan);

#endif
