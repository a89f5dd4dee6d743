/*
 * API tests of billing against a real hearthd: plans in local currencies,
 * payment methods, subscribing with the sandbox cards, upgrades with exact
 * prorated invoices, scheduled downgrades, cancel and resume, declines,
 * idempotent subscribes, invoices and receipts, entitlements, and
 * `hearthctl catalog show`.
 *
 * Members sign up through POST /v1/accounts (the accounts area) and use its
 * access token.  Each test uses its own email addresses.  The "journey"
 * case runs on a server of its own, so that its clock starts at
 * API_CLOCK_START (2027-01-15T08:00:00Z) whatever the other cases did: the
 * first period is then 31 days, and the prorated amounts are the worked
 * examples of docs/billing.md.  Bad-input tests assert the status, the code
 * and, through the database, that nothing changed.
 */
#include <stdlib.h>
#include <string.h>

#include "tests/api/harness.h"

#define PASSWORD "correct horse battery staple"
#define DAY 86400

static struct api_server srv;
static struct api_server *cur = &srv;

static void start(void) { api_start(&srv, NULL); }
static void stop(void) { ck_assert_int_eq(api_stop(&srv), 0); }

static struct api_server journey_srv;
static void journey_start(void)
{
	api_start(&journey_srv, NULL);
	cur = &journey_srv;
}
static void journey_stop(void)
{
	ck_assert_int_eq(api_stop(&journey_srv), 0);
	cur = &srv;
}

/* ---- helpers ---- */

struct member {
	char id[64];
	char email[96];
	char token[1024];
};

static void member_new(const char *email, const char *country, struct member *m)
{
	struct api_resp *r = api_json(cur, "POST", "/v1/accounts", NULL,
				      json_pack("{s:s, s:s, s:s}", "email", email, "password", PASSWORD,
						"country", country));
	ck_assert_status(r, 201);
	snprintf(m->id, sizeof m->id, "%s",
		 json_string_value(json_object_get(json_object_get(r->json, "account"), "id")));
	snprintf(m->token, sizeof m->token, "%s", api_str(r, "access_token"));
	snprintf(m->email, sizeof m->email, "%s", email);
	api_resp_free(r);
}

/* Sign in again: access tokens live 15 minutes, and tests move the clock by days. */
static void sign_in_again(struct member *m)
{
	struct api_resp *r = api_json(cur, "POST", "/v1/sessions", NULL,
				      json_pack("{s:s, s:s, s:{s:s, s:s}}", "email", m->email, "password",
						PASSWORD, "device", "name", "Phone", "type", "phone"));
	ck_assert_status(r, 201);
	snprintf(m->token, sizeof m->token, "%s", api_str(r, "access_token"));
	api_resp_free(r);
}

/* Attach a sandbox card; its id goes to `pm_id` (may be NULL). */
static void card(const struct member *m, const char *token, char *pm_id)
{
	struct api_resp *r = api_json(cur, "POST", "/v1/payment-methods", m->token, json_pack("{s:s}", "token", token));
	ck_assert_status(r, 201);
	if (pm_id)
		snprintf(pm_id, 64, "%s", api_str(r, "id"));
	api_resp_free(r);
}

static struct api_resp *subscribe(const struct member *m, const char *plan)
{
	return api_json(cur, "POST", "/v1/subscription", m->token, json_pack("{s:s}", "plan", plan));
}

static struct api_resp *patch_plan(const struct member *m, const char *plan)
{
	return api_json(cur, "PATCH", "/v1/subscription", m->token, json_pack("{s:s}", "plan", plan));
}

static struct api_resp *post_empty(const char *path, const struct member *m)
{
	return api_request(cur, "POST", path, m->token, NULL, NULL, NULL);
}

static int64_t money_at(json_t *obj, const char *key)
{
	json_t *m = json_object_get(obj, key);
	ck_assert_msg(json_is_object(m), "no money %s", key);
	return json_integer_value(json_object_get(m, "amount"));
}

static const char *str_at(json_t *obj, const char *key) { return json_string_value(json_object_get(obj, key)); }

static int64_t count_for(const char *sql, const struct member *m) { return api_db_int(cur, sql, m->id); }

/* The plan with `code` in a GET /v1/plans document. */
static json_t *plan_in(json_t *doc, const char *code)
{
	json_t *data = json_object_get(doc, "data");
	for (size_t i = 0; i < json_array_size(data); i++)
		if (strcmp(str_at(json_array_get(data, i), "code"), code) == 0)
			return json_array_get(data, i);
	return NULL;
}

/* ---- plans ---- */

START_TEST(plans_are_listed_in_local_currency)
{
	static const struct {
		const char *country, *currency, *premium_display, *tax_note;
		int64_t premium;
		size_t plans;
	} rows[] = {
		{"JP", "JPY", "¥2,290", "includes consumption tax 10%", 2290, 4},
		{"KW", "KWD", "KWD 3.750", "no tax", 3750, 4},
		{"US", "USD", "$24.99", "plus sales tax 8.25%", 2499, 3},
		{"gb", "GBP", "£18.99", "includes VAT 20%", 1899, 3}, /* lower case is accepted */
		{"IN", "INR", "₹649", "includes GST 18%", 64900, 5},
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		char path[64];
		snprintf(path, sizeof path, "/v1/plans?country=%s", rows[i].country);
		struct api_resp *r = api_get(cur, path, NULL);
		ck_assert_status(r, 200);
		ck_assert_str_eq(api_str(r, "currency"), rows[i].currency);
		ck_assert_int_eq(json_array_size(json_object_get(r->json, "data")), rows[i].plans);
		json_t *p = plan_in(r->json, "premium");
		ck_assert_ptr_nonnull(p);
		ck_assert_int_eq(money_at(p, "price"), rows[i].premium);
		ck_assert_str_eq(str_at(json_object_get(p, "price"), "currency"), rows[i].currency);
		ck_assert_str_eq(str_at(p, "display_price"), rows[i].premium_display);
		ck_assert_str_eq(str_at(json_object_get(p, "tax"), "note"), rows[i].tax_note);
		json_t *f = json_object_get(p, "features");
		ck_assert_int_eq(json_integer_value(json_object_get(f, "max_streams")), 4);
		ck_assert_str_eq(str_at(f, "resolution"), "UHD");
		ck_assert_int_eq(json_integer_value(json_object_get(f, "extra_member_slots")), 2);
		ck_assert(json_is_object(json_object_get(p, "extra_member_price")));
		/* Ad plans offer no extra member. */
		json_t *ads = plan_in(r->json, "standard_with_ads");
		ck_assert(json_is_true(json_object_get(json_object_get(ads, "features"), "ads")));
		ck_assert(json_is_null(json_object_get(ads, "extra_member_price")));
		api_resp_free(r);
	}
	/* Mobile is sold in India only, for phones and tablets. */
	struct api_resp *r = api_get(cur, "/v1/plans?country=IN", NULL);
	json_t *mobile = plan_in(r->json, "mobile");
	ck_assert_ptr_nonnull(mobile);
	json_t *devs = json_object_get(json_object_get(mobile, "features"), "device_types");
	ck_assert_int_eq(json_array_size(devs), 2);
	api_resp_free(r);
	r = api_get(cur, "/v1/plans?country=US", NULL);
	ck_assert_ptr_null(plan_in(r->json, "mobile"));
	api_resp_free(r);
}
END_TEST

START_TEST(plans_default_to_the_members_country)
{
	struct member m;
	member_new("plans-kw@example.com", "KW", &m);
	struct api_resp *r = api_get(cur, "/v1/plans", m.token);
	ck_assert_status(r, 200);
	ck_assert_str_eq(api_str(r, "country"), "KW");
	ck_assert_str_eq(api_str(r, "currency"), "KWD");
	api_resp_free(r);
	/* An explicit country wins. */
	r = api_get(cur, "/v1/plans?country=JP", m.token);
	ck_assert_str_eq(api_str(r, "currency"), "JPY");
	api_resp_free(r);
}
END_TEST

START_TEST(plans_refuse_bad_countries)
{
	struct api_resp *r = api_get(cur, "/v1/plans", NULL);
	ck_assert_problem(r, 400, "invalid_parameter");
	api_resp_free(r);
	static const char *const bad[] = {"/v1/plans?country=JPN", "/v1/plans?country=J1", "/v1/plans?country=",
					  "/v1/plans?country=%C3%A9x"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		r = api_get(cur, bad[i], NULL);
		ck_assert_problem(r, 400, "invalid_parameter");
		api_resp_free(r);
	}
	/* Well formed, but nothing is sold there. */
	r = api_get(cur, "/v1/plans?country=ZZ", NULL);
	ck_assert_problem(r, 422, "country_not_supported");
	api_resp_free(r);
	/* A bad token is refused, not ignored. */
	r = api_get(cur, "/v1/plans?country=US", "v4.public.garbage");
	ck_assert_int_eq(r->status, 401);
	api_resp_free(r);
	r = api_get(cur, "/v1/plans/countries", NULL);
	ck_assert_status(r, 200);
	ck_assert_int_eq(json_array_size(json_object_get(r->json, "data")), 13);
	api_resp_free(r);
}
END_TEST

/* ---- payment methods ---- */

START_TEST(payment_methods_lifecycle)
{
	struct member m, other;
	char visa[64], mc[64];
	member_new("pm-life@example.com", "US", &m);
	member_new("pm-other@example.com", "US", &other);
	struct api_resp *r = api_json(cur, "POST", "/v1/payment-methods", m.token, json_pack("{s:s}", "token", "pm_card_visa"));
	ck_assert_status(r, 201);
	ck_assert_str_eq(api_str(r, "brand"), "visa");
	ck_assert_str_eq(api_str(r, "last4"), "4242");
	ck_assert(json_is_true(json_object_get(r->json, "is_default")));
	snprintf(visa, sizeof visa, "%s", api_str(r, "id"));
	api_resp_free(r);
	card(&m, "pm_card_mastercard", mc);
	r = api_get(cur, "/v1/payment-methods", m.token);
	ck_assert_status(r, 200);
	ck_assert_int_eq(json_array_size(json_object_get(r->json, "data")), 2);
	api_resp_free(r);

	char path[128];
	snprintf(path, sizeof path, "/v1/payment-methods/%s/default", mc);
	r = post_empty(path, &m);
	ck_assert_status(r, 200);
	ck_assert(json_is_true(json_object_get(r->json, "is_default")));
	api_resp_free(r);
	/* Someone else's method is not found, and stays as it is. */
	r = post_empty(path, &other);
	ck_assert_problem(r, 404, "not_found");
	api_resp_free(r);
	snprintf(path, sizeof path, "/v1/payment-methods/%s", visa);
	r = api_request(cur, "DELETE", path, other.token, NULL, NULL, NULL);
	ck_assert_problem(r, 404, "not_found");
	api_resp_free(r);
	r = api_request(cur, "DELETE", path, m.token, NULL, NULL, NULL);
	ck_assert_status(r, 204);
	api_resp_free(r);
	r = api_request(cur, "DELETE", path, m.token, NULL, NULL, NULL);
	ck_assert_problem(r, 404, "not_found");
	api_resp_free(r);
	r = api_request(cur, "DELETE", "/v1/payment-methods/not-an-id", m.token, NULL, NULL, NULL);
	ck_assert_problem(r, 404, "not_found");
	api_resp_free(r);
	ck_assert_int_eq(count_for("SELECT COUNT(*) FROM payment_methods WHERE account_id = ?1 AND removed_at IS NULL", &m), 1);
	ck_assert_int_eq(count_for("SELECT COUNT(*) FROM events WHERE type = 'payment_method.removed'"
				   " AND payload LIKE '%' || ?1 || '%'", &m), 1);
}
END_TEST

START_TEST(payment_method_bad_input_changes_nothing)
{
	struct member m;
	member_new("pm-bad@example.com", "US", &m);
	static const struct {
		const char *body, *field, *code;
	} rows[] = {
		{"{\"token\":\"pm_card_unknown\"}", "token", "unknown_token"},
		{"{\"token\":\"4242424242424242\"}", "token", "unknown_token"},
		{"{}", "token", "required"},
		{"{\"token\":42}", "token", "wrong_type"},
		{"{\"token\":\"\"}", "token", "too_short"},
		{"{\"token\":\"pm_card_visa\",\"number\":\"4242424242424242\"}", "number", "unknown_field"},
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		struct api_resp *r = api_request(cur, "POST", "/v1/payment-methods", m.token, "application/json",
						 rows[i].body, NULL);
		ck_assert_problem(r, 422, "validation_failed");
		json_t *e0 = json_array_get(json_object_get(r->json, "errors"), 0);
		ck_assert_str_eq(str_at(e0, "field"), rows[i].field);
		ck_assert_str_eq(str_at(e0, "code"), rows[i].code);
		api_resp_free(r);
	}
	struct api_resp *r = api_json(cur, "POST", "/v1/payment-methods", NULL, json_pack("{s:s}", "token", "pm_card_visa"));
	ck_assert_problem(r, 401, "unauthenticated");
	api_resp_free(r);
	ck_assert_int_eq(count_for("SELECT COUNT(*) FROM payment_methods WHERE account_id = ?1", &m), 0);
}
END_TEST

/* ---- the journey: JP, KW and US members, on a server of their own ---- */

struct journey_row {
	const char *email, *country, *currency;
	int64_t first_total;
	int64_t credit, charge, subtotal, tax, total;
	size_t upgrade_lines;
};

/* Subscribed 2027-01-15T08:00Z to Standard; upgraded to Premium ten days
 * later, with 21 of the period's 31 days left (docs/billing.md, "Worked
 * examples").  US: 17.99 + 8.25 % = 19.47 first; credit -12.19, charge
 * 16.93, tax 1.40 - 1.01 = 0.39, total 5.13.  JP: ¥1,590; -¥1,077,
 * +¥1,551, total ¥474 (¥43 consumption tax included).  KW: KWD 2.500;
 * -1.694, +2.540, total KWD 0.846. */
static const struct journey_row journey_rows[] = {
	{"journey-jp@example.com", "JP", "JPY", 1590, -1077, 1551, 474, 43, 474, 2},
	{"journey-kw@example.com", "KW", "KWD", 2500, -1694, 2540, 846, 0, 846, 2},
	{"journey-us@example.com", "US", "USD", 1947, -1219, 1693, 474, 39, 513, 3},
};

START_TEST(journey_subscribe_upgrade_downgrade_cancel)
{
	struct member m[3];
	for (int i = 0; i < 3; i++) {
		const struct journey_row *row = &journey_rows[i];
		member_new(row->email, row->country, &m[i]);
		/* The member sees plans in their currency. */
		struct api_resp *r = api_get(cur, "/v1/plans", m[i].token);
		ck_assert_str_eq(api_str(r, "currency"), row->currency);
		api_resp_free(r);
		card(&m[i], "pm_card_visa", NULL);
		r = subscribe(&m[i], "standard");
		ck_assert_status(r, 201);
		ck_assert_str_eq(api_str(r, "state"), "active");
		ck_assert_str_eq(str_at(json_object_get(r->json, "current_period"), "start"), "2027-01-15T08:00:00Z");
		ck_assert_str_eq(str_at(json_object_get(r->json, "current_period"), "end"), "2027-02-15T08:00:00Z");
		json_t *inv = json_object_get(r->json, "latest_invoice");
		ck_assert_str_eq(str_at(inv, "status"), "paid");
		ck_assert_int_eq(money_at(inv, "total"), row->first_total);
		ck_assert_str_eq(str_at(inv, "currency"), row->currency);
		ck_assert(json_is_true(json_object_get(json_object_get(r->json, "entitlements"), "playback_allowed")));
		api_resp_free(r);
	}
	/* Invoice numbers run 1, 2, 3 in the order of finalization. */
	struct api_resp *r = api_get(cur, "/v1/invoices", m[2].token);
	ck_assert_str_eq(str_at(json_array_get(json_object_get(r->json, "data"), 0), "number"), "HEA-2027-000003");
	api_resp_free(r);

	api_advance(cur, 10 * DAY);
	for (int i = 0; i < 3; i++) {
		const struct journey_row *row = &journey_rows[i];
		sign_in_again(&m[i]);
		r = patch_plan(&m[i], "premium");
		ck_assert_status(r, 200);
		ck_assert_str_eq(api_str(r, "change"), "upgraded");
		ck_assert_str_eq(str_at(json_object_get(r->json, "plan"), "code"), "premium");
		json_t *inv = json_object_get(r->json, "latest_invoice");
		ck_assert_str_eq(str_at(inv, "billing_reason"), "subscription_update");
		ck_assert_str_eq(str_at(json_object_get(inv, "period"), "start"), "2027-01-25T08:00:00Z");
		json_t *lines = json_object_get(inv, "lines");
		ck_assert_int_eq(json_array_size(lines), row->upgrade_lines);
		ck_assert_str_eq(str_at(json_array_get(lines, 0), "kind"), "proration_credit");
		ck_assert_int_eq(money_at(json_array_get(lines, 0), "amount"), row->credit);
		ck_assert_str_eq(str_at(json_array_get(lines, 1), "kind"), "proration_charge");
		ck_assert_int_eq(money_at(json_array_get(lines, 1), "amount"), row->charge);
		ck_assert_int_eq(money_at(inv, "subtotal"), row->subtotal);
		ck_assert_int_eq(money_at(inv, "tax"), row->tax);
		ck_assert_int_eq(money_at(inv, "total"), row->total);
		json_t *att = json_array_get(json_object_get(inv, "payment_attempts"), 0);
		ck_assert_str_eq(str_at(att, "status"), "succeeded");
		ck_assert_int_eq(money_at(att, "amount"), row->total);
		api_resp_free(r);
		/* Entitlements follow the upgrade at once. */
		r = api_get(cur, "/v1/me/entitlements", m[i].token);
		ck_assert_int_eq(json_integer_value(json_object_get(r->json, "max_streams")), 4);
		ck_assert_str_eq(api_str(r, "resolution"), "UHD");
		api_resp_free(r);
	}
	/* The US invoice list: newest first, and its receipt prints. */
	r = api_get(cur, "/v1/invoices?limit=1", m[2].token);
	ck_assert_status(r, 200);
	ck_assert(json_is_true(json_object_get(r->json, "has_more")));
	json_t *newest = json_array_get(json_object_get(r->json, "data"), 0);
	ck_assert_int_eq(money_at(newest, "total"), 513);
	char path[128], id[64];
	snprintf(id, sizeof id, "%s", str_at(newest, "id"));
	api_resp_free(r);
	snprintf(path, sizeof path, "/v1/invoices?limit=1&starting_after=%s", id);
	r = api_get(cur, path, m[2].token);
	ck_assert(!json_is_true(json_object_get(r->json, "has_more")));
	ck_assert_int_eq(money_at(json_array_get(json_object_get(r->json, "data"), 0), "total"), 1947);
	api_resp_free(r);
	snprintf(path, sizeof path, "/v1/invoices/%s/receipt", id);
	r = api_get(cur, path, m[2].token);
	ck_assert_status(r, 200);
	char ct[64];
	ck_assert_str_eq(api_header(r, "Content-Type", ct, sizeof ct), "text/html; charset=utf-8");
	ck_assert_ptr_nonnull(strstr(r->body, "$5.13"));
	ck_assert_ptr_nonnull(strstr(r->body, "Unused time on Standard"));
	api_resp_free(r);
	/* Someone else's invoice does not exist for you. */
	snprintf(path, sizeof path, "/v1/invoices/%s", id);
	r = api_get(cur, path, m[0].token);
	ck_assert_problem(r, 404, "not_found");
	api_resp_free(r);

	/* Downgrade: scheduled for the period end, then withdrawn by PATCHing back. */
	struct member *jp = &m[0];
	r = patch_plan(jp, "standard");
	ck_assert_status(r, 200);
	ck_assert_str_eq(api_str(r, "change"), "scheduled");
	ck_assert_str_eq(str_at(json_object_get(r->json, "plan"), "code"), "premium");
	json_t *sched = json_object_get(r->json, "scheduled_change");
	ck_assert_str_eq(str_at(sched, "plan"), "standard");
	ck_assert_str_eq(str_at(sched, "effective_at"), "2027-02-15T08:00:00Z");
	ck_assert_int_eq(money_at(sched, "price"), 1590);
	ck_assert_ptr_null(json_object_get(r->json, "latest_invoice"));
	api_resp_free(r);
	r = api_get(cur, "/v1/subscription", jp->token);
	ck_assert_str_eq(str_at(json_object_get(r->json, "scheduled_change"), "plan"), "standard");
	api_resp_free(r);
	r = patch_plan(jp, "premium");
	ck_assert_str_eq(api_str(r, "change"), "withdrawn");
	ck_assert(json_is_null(json_object_get(r->json, "scheduled_change")));
	api_resp_free(r);
	/* ... or by DELETE /v1/subscription/scheduled-change. */
	r = patch_plan(jp, "basic");
	ck_assert_str_eq(api_str(r, "change"), "scheduled");
	api_resp_free(r);
	r = api_request(cur, "DELETE", "/v1/subscription/scheduled-change", jp->token, NULL, NULL, NULL);
	ck_assert_status(r, 200);
	ck_assert(json_is_null(json_object_get(r->json, "scheduled_change")));
	api_resp_free(r);
	r = api_request(cur, "DELETE", "/v1/subscription/scheduled-change", jp->token, NULL, NULL, NULL);
	ck_assert_problem(r, 404, "not_found");
	api_resp_free(r);
	ck_assert_int_eq(count_for("SELECT COUNT(*) FROM invoices WHERE account_id = ?1", jp), 2);

	/* Cancel at period end, still watching; resume. */
	r = post_empty("/v1/subscription/cancel", jp);
	ck_assert_status(r, 200);
	ck_assert_str_eq(api_str(r, "state"), "canceled");
	ck_assert(json_is_true(json_object_get(r->json, "cancel_at_period_end")));
	api_resp_free(r);
	r = api_get(cur, "/v1/me/entitlements", jp->token);
	ck_assert(json_is_true(json_object_get(r->json, "playback_allowed")));
	api_resp_free(r);
	r = post_empty("/v1/subscription/cancel", jp);
	ck_assert_problem(r, 409, "invalid_state");
	api_resp_free(r);
	r = patch_plan(jp, "basic");
	ck_assert_problem(r, 409, "invalid_state");
	api_resp_free(r);
	r = post_empty("/v1/subscription/resume", jp);
	ck_assert_status(r, 200);
	ck_assert_str_eq(api_str(r, "state"), "active");
	api_resp_free(r);
	r = post_empty("/v1/subscription/resume", jp);
	ck_assert_problem(r, 409, "invalid_state");
	api_resp_free(r);
	ck_assert_int_eq(count_for("SELECT COUNT(*) FROM events WHERE subject IN"
				   " (SELECT id FROM subscriptions WHERE account_id = ?1)", jp), 8);

	/* Each member was told what they agreed to pay and what each change did
	 * (docs/billing.md, "Notifications"), with the invoice's exact total. */
	for (int i = 0; i < 3; i++) {
		const struct journey_row *row = &journey_rows[i];
		char sql[512];
		snprintf(sql, sizeof sql,
			 "SELECT COUNT(*) FROM notifications WHERE account_id = ?1 AND template = 'subscription_started'"
			 " AND channel = 'email' AND recipient = '%s'"
			 " AND json_extract(payload, '$.plan') = 'standard'"
			 " AND json_extract(payload, '$.price.currency') = '%s'"
			 " AND json_extract(payload, '$.total.amount') = %lld"
			 " AND json_extract(payload, '$.total.currency') = '%s'"
			 " AND json_extract(payload, '$.invoice_number') = 'HEA-2027-00000%d'"
			 " AND json_extract(payload, '$.period_end') = '2027-02-15T08:00:00Z'",
			 row->email, row->currency, (long long)row->first_total, row->currency, i + 1);
		ck_assert_int_eq(count_for(sql, &m[i]), 1);
		snprintf(sql, sizeof sql,
			 "SELECT COUNT(*) FROM notifications WHERE account_id = ?1 AND template = 'plan_changed'"
			 " AND json_extract(payload, '$.plan') = 'premium'"
			 " AND json_extract(payload, '$.from_plan') = 'standard'"
			 " AND json_extract(payload, '$.total.amount') = %lld"
			 " AND json_extract(payload, '$.effective_at') = '2027-01-25T08:00:00Z'",
			 (long long)row->total);
		ck_assert_int_eq(count_for(sql, &m[i]), 1);
	}
	/* The US price per period is before its sales tax; the total is after. */
	ck_assert_int_eq(count_for("SELECT COUNT(*) FROM notifications WHERE account_id = ?1"
				   " AND template = 'subscription_started' AND json_extract(payload, '$.price.amount') = 1799",
				   &m[2]),
			 1);
	ck_assert_int_eq(count_for("SELECT COUNT(*) FROM notifications WHERE account_id = ?1"
				   " AND template = 'plan_change_scheduled'"
				   " AND json_extract(payload, '$.plan') = 'premium'"
				   " AND json_extract(payload, '$.effective_at') = '2027-02-15T08:00:00Z'"
				   " AND json_extract(payload, '$.to_plan') IN ('standard', 'basic')", jp), 2);
	ck_assert_int_eq(count_for("SELECT COUNT(*) FROM notifications WHERE account_id = ?1"
				   " AND template = 'plan_change_scheduled' AND json_extract(payload, '$.to_plan') = 'standard'"
				   " AND json_extract(payload, '$.to_price.amount') = 1590", jp), 1);
	ck_assert_int_eq(count_for("SELECT COUNT(*) FROM notifications WHERE account_id = ?1"
				   " AND template = 'subscription_canceled'"
				   " AND json_extract(payload, '$.access_ends_at') = '2027-02-15T08:00:00Z'"
				   " AND json_extract(payload, '$.ended_now') = 0", jp), 1);
	ck_assert_int_eq(count_for("SELECT COUNT(*) FROM notifications WHERE account_id = ?1"
				   " AND template = 'subscription_resumed' AND json_extract(payload, '$.plan') = 'premium'",
				   jp), 1);
	/* Refused requests (a second cancel, a plan change while canceled, a
	 * second resume) and withdrawals told nobody anything. */
	ck_assert_int_eq(count_for("SELECT COUNT(*) FROM notifications WHERE account_id = ?1"
				   " AND template IN ('subscription_started', 'plan_changed', 'plan_change_scheduled',"
				   " 'subscription_canceled', 'subscription_resumed')", jp), 6);
}
END_TEST

/* ---- declines ---- */

START_TEST(declined_first_charge_is_402_and_no_subscription)
{
	static const struct {
		const char *email, *token, *code;
		bool hard;
	} rows[] = {
		{"decline-generic@example.com", "pm_card_declined", "card_declined", false},
		{"decline-funds@example.com", "pm_card_insufficient_funds", "insufficient_funds", false},
		{"decline-expired@example.com", "pm_card_expired", "expired_card", true},
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		struct member m;
		member_new(rows[i].email, "US", &m);
		card(&m, rows[i].token, NULL);
		struct api_resp *r = subscribe(&m, "standard");
		ck_assert_problem(r, 402, "payment_failed");
		ck_assert_str_eq(api_str(r, "decline_code"), rows[i].code);
		ck_assert(json_is_true(json_object_get(r->json, "hard_decline")) == rows[i].hard);
		api_resp_free(r);
		r = api_get(cur, "/v1/subscription", m.token);
		ck_assert_problem(r, 404, "not_found");
		api_resp_free(r);
		ck_assert_int_eq(count_for("SELECT COUNT(*) FROM subscriptions WHERE account_id = ?1", &m), 0);
		ck_assert_int_eq(count_for("SELECT COUNT(*) FROM invoices WHERE account_id = ?1 AND status = 'void'", &m), 1);
		ck_assert_int_eq(count_for("SELECT COUNT(*) FROM payment_attempts WHERE account_id = ?1 AND status = 'failed'", &m), 1);
		ck_assert_int_eq(count_for("SELECT COUNT(*) FROM notifications WHERE account_id = ?1"
					   " AND template = 'subscription_started'", &m), 0);
		r = api_get(cur, "/v1/me/entitlements", m.token);
		ck_assert(!json_is_true(json_object_get(r->json, "playback_allowed")));
		ck_assert_str_eq(api_str(r, "reason"), "no_subscription");
		api_resp_free(r);
	}
	/* The processing-error card fails once, then works. */
	struct member m;
	member_new("decline-processing@example.com", "US", &m);
	card(&m, "pm_card_processing_error", NULL);
	struct api_resp *r = subscribe(&m, "standard");
	ck_assert_problem(r, 402, "payment_failed");
	ck_assert_str_eq(api_str(r, "decline_code"), "processing_error");
	api_resp_free(r);
	r = subscribe(&m, "standard");
	ck_assert_status(r, 201);
	api_resp_free(r);
}
END_TEST

START_TEST(declined_upgrade_changes_nothing)
{
	struct member m;
	char bad[64];
	member_new("upgrade-declined@example.com", "US", &m);
	card(&m, "pm_card_visa", NULL);
	struct api_resp *r = subscribe(&m, "standard");
	ck_assert_status(r, 201);
	api_resp_free(r);
	card(&m, "pm_card_insufficient_funds", bad);
	char path[128];
	snprintf(path, sizeof path, "/v1/payment-methods/%s/default", bad);
	r = post_empty(path, &m);
	api_resp_free(r);
	r = patch_plan(&m, "premium");
	ck_assert_problem(r, 402, "payment_failed");
	ck_assert_str_eq(api_str(r, "decline_code"), "insufficient_funds");
	api_resp_free(r);
	r = api_get(cur, "/v1/subscription", m.token);
	ck_assert_str_eq(str_at(json_object_get(r->json, "plan"), "code"), "standard");
	ck_assert_int_eq(money_at(r->json, "price"), 1799);
	api_resp_free(r);
}
END_TEST

/* ---- idempotency ---- */

START_TEST(subscribe_replays_with_the_same_idempotency_key)
{
	struct member m;
	member_new("idem@example.com", "JP", &m);
	card(&m, "pm_card_visa", NULL);
	static const char *const key[] = {"Idempotency-Key: sub-attempt-1", NULL};
	static const char body[] = "{\"plan\":\"standard\"}";
	struct api_resp *a = api_request(cur, "POST", "/v1/subscription", m.token, "application/json", body, key);
	ck_assert_status(a, 201);
	struct api_resp *b = api_request(cur, "POST", "/v1/subscription", m.token, "application/json", body, key);
	ck_assert_status(b, 201);
	char replayed[16];
	ck_assert_str_eq(api_header(b, "Idempotent-Replayed", replayed, sizeof replayed), "true");
	ck_assert_str_eq(api_str(a, "id"), api_str(b, "id"));
	ck_assert_str_eq(a->body, b->body);
	api_resp_free(a);
	api_resp_free(b);
	ck_assert_int_eq(count_for("SELECT COUNT(*) FROM invoices WHERE account_id = ?1", &m), 1);
	ck_assert_int_eq(count_for("SELECT COUNT(*) FROM payment_attempts WHERE account_id = ?1", &m), 1);
	/* The same key with another body is refused. */
	struct api_resp *c = api_request(cur, "POST", "/v1/subscription", m.token, "application/json",
					 "{\"plan\":\"premium\"}", key);
	ck_assert_problem(c, 409, "idempotency_key_reused");
	api_resp_free(c);
	/* Without a key, a second subscribe is a conflict, not a second charge. */
	c = subscribe(&m, "standard");
	ck_assert_problem(c, 409, "subscription_exists");
	api_resp_free(c);
	ck_assert_int_eq(count_for("SELECT COUNT(*) FROM payment_attempts WHERE account_id = ?1", &m), 1);
}
END_TEST

/* ---- bad input ---- */

START_TEST(subscribe_bad_input_changes_nothing)
{
	struct member m, other;
	char other_pm[64];
	member_new("sub-bad@example.com", "US", &m);
	member_new("sub-bad-other@example.com", "US", &other);
	card(&other, "pm_card_visa", other_pm);
	/* No payment method yet. */
	struct api_resp *r = subscribe(&m, "standard");
	ck_assert_problem(r, 402, "payment_required");
	api_resp_free(r);
	card(&m, "pm_card_visa", NULL);
	static const struct {
		const char *body;
		int status;
		const char *code, *field, *field_code;
	} rows[] = {
		{"{}", 422, "validation_failed", "plan", "required"},
		{"{\"plan\":5}", 422, "validation_failed", "plan", "wrong_type"},
		{"{\"plan\":\"standard\",\"coupon\":\"FREE\"}", 422, "validation_failed", "coupon", "unknown_field"},
		{"{\"plan\":\"standard\",\"payment_method\":\"pm_nope\"}", 422, "validation_failed", "payment_method", "not_found"},
		{"{\"plan\":\"gold\"}", 422, "unknown_plan", NULL, NULL},
		{"{\"plan\":\"mobile\"}", 422, "plan_not_available_in_region", NULL, NULL},
		{"{\"plan\":\"basic\"}", 422, "plan_not_available_in_region", NULL, NULL},
		{"{\"plan\":\"standard\"", 400, "invalid_json", NULL, NULL},
		{"[\"standard\"]", 400, "invalid_json", NULL, NULL},
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		r = api_request(cur, "POST", "/v1/subscription", m.token, "application/json", rows[i].body, NULL);
		ck_assert_problem(r, rows[i].status, rows[i].code);
		if (rows[i].field) {
			json_t *e0 = json_array_get(json_object_get(r->json, "errors"), 0);
			ck_assert_str_eq(str_at(e0, "field"), rows[i].field);
			ck_assert_str_eq(str_at(e0, "code"), rows[i].field_code);
		}
		api_resp_free(r);
	}
	/* Another member's payment method. */
	char body[160];
	snprintf(body, sizeof body, "{\"plan\":\"standard\",\"payment_method\":\"%s\"}", other_pm);
	r = api_request(cur, "POST", "/v1/subscription", m.token, "application/json", body, NULL);
	ck_assert_problem(r, 422, "validation_failed");
	api_resp_free(r);
	r = api_request(cur, "POST", "/v1/subscription", m.token, "text/plain", "plan=standard", NULL);
	ck_assert_problem(r, 415, "unsupported_media_type");
	api_resp_free(r);
	ck_assert_int_eq(count_for("SELECT COUNT(*) FROM subscriptions WHERE account_id = ?1", &m), 0);
	ck_assert_int_eq(count_for("SELECT COUNT(*) FROM invoices WHERE account_id = ?1", &m), 0);
	ck_assert_int_eq(count_for("SELECT COUNT(*) FROM payment_attempts WHERE account_id = ?1", &m), 0);

	/* Without a subscription there is nothing to change, cancel or resume. */
	r = patch_plan(&m, "premium");
	ck_assert_problem(r, 404, "not_found");
	api_resp_free(r);
	r = post_empty("/v1/subscription/cancel", &m);
	ck_assert_problem(r, 404, "not_found");
	api_resp_free(r);
	r = post_empty("/v1/subscription/resume", &m);
	ck_assert_problem(r, 404, "not_found");
	api_resp_free(r);
	r = api_get(cur, "/v1/subscription", NULL);
	ck_assert_problem(r, 401, "unauthenticated");
	api_resp_free(r);
}
END_TEST

START_TEST(plan_change_bad_input_changes_nothing)
{
	struct member m;
	member_new("patch-bad@example.com", "US", &m);
	card(&m, "pm_card_visa", NULL);
	struct api_resp *r = subscribe(&m, "standard");
	api_resp_free(r);
	int64_t events = api_db_int(cur, "SELECT COUNT(*) FROM events", NULL);
	static const struct {
		const char *body;
		int status;
		const char *code;
	} rows[] = {
		{"{}", 422, "validation_failed"},
		{"{\"plan\":\"premium\",\"at\":\"now\"}", 422, "validation_failed"},
		{"{\"plan\":\"gold\"}", 422, "unknown_plan"},
		{"{\"plan\":\"mobile\"}", 422, "plan_not_available_in_region"},
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		r = api_request(cur, "PATCH", "/v1/subscription", m.token, "application/json", rows[i].body, NULL);
		ck_assert_problem(r, rows[i].status, rows[i].code);
		api_resp_free(r);
	}
	ck_assert_int_eq(api_db_int(cur, "SELECT COUNT(*) FROM events", NULL), events);
	r = api_get(cur, "/v1/subscription", m.token);
	ck_assert_str_eq(str_at(json_object_get(r->json, "plan"), "code"), "standard");
	api_resp_free(r);
}
END_TEST

START_TEST(invoice_routes_refuse_bad_ids_and_pages)
{
	struct member m;
	member_new("inv-bad@example.com", "US", &m);
	struct api_resp *r = api_get(cur, "/v1/invoices", m.token);
	ck_assert_status(r, 200);
	ck_assert_int_eq(json_array_size(json_object_get(r->json, "data")), 0);
	ck_assert(!json_is_true(json_object_get(r->json, "has_more")));
	api_resp_free(r);
	static const char *const bad[] = {"/v1/invoices?limit=0", "/v1/invoices?limit=101", "/v1/invoices?limit=x",
					  "/v1/invoices?starting_after=inv_00000000000000000000000000000"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		r = api_get(cur, bad[i], m.token);
		ck_assert_problem(r, 400, "invalid_parameter");
		api_resp_free(r);
	}
	static const char *const missing[] = {"/v1/invoices/inv_00000000000000000000000000000", "/v1/invoices/nope",
					      "/v1/invoices/inv_00000000000000000000000000000/receipt"};
	for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++) {
		r = api_get(cur, missing[i], m.token);
		ck_assert_problem(r, 404, "not_found");
		api_resp_free(r);
	}
}
END_TEST

/* ---- hearthctl catalog show ---- */

START_TEST(hearthctl_catalog_show)
{
	static const char *const jp[] = {"catalog", "show", "--country", "JP", NULL};
	char *out = NULL, *err = NULL;
	ck_assert_int_eq(api_ctl(cur, jp, NULL, NULL, &out, &err), 0);
	ck_assert_ptr_nonnull(strstr(out, "JP (JPY)"));
	ck_assert_ptr_nonnull(strstr(out, "premium"));
	ck_assert_ptr_nonnull(strstr(out, "¥2,290"));
	ck_assert_ptr_nonnull(strstr(out, "includes consumption tax 10%"));
	free(out);
	free(err);
	static const char *const kw_json[] = {"catalog", "show", "--country", "KW", "--json", NULL};
	ck_assert_int_eq(api_ctl(cur, kw_json, NULL, NULL, &out, &err), 0);
	json_t *doc = json_loads(out, 0, NULL);
	ck_assert_ptr_nonnull(doc);
	ck_assert_str_eq(str_at(doc, "currency"), "KWD");
	json_decref(doc);
	free(out);
	free(err);
	static const char *const all[] = {"catalog", "show", NULL};
	ck_assert_int_eq(api_ctl(cur, all, NULL, NULL, &out, &err), 0);
	ck_assert_ptr_nonnull(strstr(out, "US (USD)"));
	ck_assert_ptr_nonnull(strstr(out, "KW (KWD)"));
	ck_assert_ptr_nonnull(strstr(out, "IN (INR)"));
	free(out);
	free(err);
	static const char *const unsold[] = {"catalog", "show", "--country", "ZZ", NULL};
	ck_assert_int_eq(api_ctl(cur, unsold, NULL, NULL, &out, &err), 3);
	ck_assert_ptr_nonnull(strstr(err, "ZZ"));
	free(out);
	free(err);
	static const char *const bad[] = {"catalog", "show", "--country", "Japan", NULL};
	ck_assert_int_eq(api_ctl(cur, bad, NULL, NULL, &out, &err), 2);
	free(out);
	free(err);
	static const char *const env[] = {"HEARTH_URL=http://127.0.0.1:1", NULL};
	ck_assert_int_eq(api_ctl(cur, jp, env, NULL, &out, &err), 1);
	free(out);
	free(err);
}
END_TEST

static Suite *billing_suite(void)
{
	Suite *s = suite_create("api_billing");
	TCase *tc = tcase_create("billing");
	tcase_add_unchecked_fixture(tc, start, stop);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, plans_are_listed_in_local_currency);
	tcase_add_test(tc, plans_default_to_the_members_country);
	tcase_add_test(tc, plans_refuse_bad_countries);
	tcase_add_test(tc, payment_methods_lifecycle);
	tcase_add_test(tc, payment_method_bad_input_changes_nothing);
	tcase_add_test(tc, declined_first_charge_is_402_and_no_subscription);
	tcase_add_test(tc, declined_upgrade_changes_nothing);
	tcase_add_test(tc, subscribe_replays_with_the_same_idempotency_key);
	tcase_add_test(tc, subscribe_bad_input_changes_nothing);
	tcase_add_test(tc, plan_change_bad_input_changes_nothing);
	tcase_add_test(tc, invoice_routes_refuse_bad_ids_and_pages);
	tcase_add_test(tc, hearthctl_catalog_show);
	suite_add_tcase(s, tc);
	TCase *journey = tcase_create("journey");
	tcase_add_unchecked_fixture(journey, journey_start, journey_stop);
	tcase_set_timeout(journey, 120);
	tcase_add_test(journey, journey_subscribe_upgrade_downgrade_cancel);
	suite_add_tcase(s, journey);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(billing_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0;
}
