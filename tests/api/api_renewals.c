/*
 * API tests of renewals against a real hearthd: the test clock drives the
 * billing run (POST /test/v1/clock runs what became due before it
 * answers), so a year of renewals, a declined card through dunning and
 * back, a price increase with notice (and consent in Germany), account
 * credit and refunds are walked through over HTTP; the staff routes are
 * checked for roles, reasons, limits, audit rows, bad input and
 * Idempotency-Key; and the hearthctl commands run against the server.
 *
 * One server for the suite: its clock only moves forward, so every case
 * computes its times from its own subscription.  Member access tokens live
 * 15 minutes and staff tokens 8 hours, so both sign in again after the
 * clock moves.  Bad-input tests assert status, code and that nothing
 * changed (the database, read directly).
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "billing/billing.h"
#include "core/clock.h"
#include "core/ids.h"
#include "tests/api/harness.h"

#define PASSWORD "correct horse battery staple"
#define STAFF_PASSWORD "staff password for tests"
#define DAY INT64_C(86400)

static struct api_server srv;

struct staff {
	char email[96];
	char token[1024];
};

static struct staff admin, supervisor, agent;

static const char *const ctl_env[] = {"HEARTH_PWHASH_OPSLIMIT=1", "HEARTH_PWHASH_MEMLIMIT=8192", NULL};

struct member {
	char id[64];
	char email[96];
	char token[1024];
};

static void copy(char *dst, size_t cap, const char *src)
{
	ck_assert_ptr_nonnull(src);
	ck_assert_uint_lt(strlen(src), cap);
	memcpy(dst, src, strlen(src) + 1);
}

static void staff_signin(struct staff *s)
{
	struct api_resp *r = api_json(&srv, "POST", "/admin/v1/sessions", NULL,
				      json_pack("{s:s, s:s}", "email", s->email, "password", STAFF_PASSWORD));
	ck_assert_status(r, 201);
	copy(s->token, sizeof s->token, api_str(r, "access_token"));
	api_resp_free(r);
}

/* A staff request with a reason (NULL: none) and optionally an Idempotency-Key. */
static struct api_resp *staff_req(const char *method, const char *path, const struct staff *s, json_t *body,
				  const char *reason, const char *idem_key)
{
	char why[600], key[200];
	const char *headers[3] = {NULL, NULL, NULL};
	int n = 0;
	if (reason) {
		snprintf(why, sizeof why, "X-Hearth-Reason: %s", reason);
		headers[n++] = why;
	}
	if (idem_key) {
		snprintf(key, sizeof key, "Idempotency-Key: %s", idem_key);
		headers[n++] = key;
	}
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	struct api_resp *r = api_request(&srv, method, path, s->token, text ? "application/json" : NULL, text,
					 headers);
	free(text);
	return r;
}

static void add_staff(struct staff *s, const char *email, const char *role)
{
	memset(s, 0, sizeof *s);
	copy(s->email, sizeof s->email, email);
	struct api_resp *r = staff_req("POST", "/admin/v1/staff", &admin,
				       json_pack("{s:s, s:s, s:s, s:s}", "email", email, "role", role, "name", role,
						 "password", STAFF_PASSWORD),
				       "fixture", NULL);
	ck_assert_status(r, 201);
	api_resp_free(r);
	staff_signin(s);
}

static void start(void)
{
	ck_assert_int_ge(sodium_init(), 0);
	api_start(&srv, NULL);
	const char *argv[] = {"staff", "create", "--email", "admin@staff.test", "--role", "admin",
			      "--db", srv.db_path, "--name", "First Admin", "--password-stdin", NULL};
	char *out = NULL, *err = NULL;
	int rc = api_ctl(&srv, argv, ctl_env, STAFF_PASSWORD "\n", &out, &err);
	ck_assert_msg(rc == 0, "staff create: %s%s", out, err);
	free(out);
	free(err);
	memset(&admin, 0, sizeof admin);
	copy(admin.email, sizeof admin.email, "admin@staff.test");
	staff_signin(&admin);
	add_staff(&supervisor, "super@staff.test", "supervisor");
	add_staff(&agent, "agent@staff.test", "agent");
}

static void stop(void) { ck_assert_int_eq(api_stop(&srv), 0); }

/* Move the clock (running what fell due) and sign everyone in again. */
static void advance(int64_t seconds)
{
	api_advance(&srv, seconds);
	staff_signin(&admin);
	staff_signin(&supervisor);
	staff_signin(&agent);
}

/* Staff tokens live 8 hours of test clock; an earlier case may have moved it. */
static void fresh_staff(void)
{
	staff_signin(&admin);
	staff_signin(&supervisor);
	staff_signin(&agent);
}

static int64_t server_now(void)
{
	struct api_resp *r = api_get(&srv, "/test/v1/clock", NULL);
	ck_assert_status(r, 200);
	int64_t t = json_integer_value(json_object_get(r->json, "now_unix"));
	api_resp_free(r);
	return t;
}

/* Move the clock to `t` (forward only). */
static void advance_to(int64_t t)
{
	int64_t now = server_now();
	ck_assert_int_ge(t, now);
	advance(t - now);
}

static void member_new(const char *country, struct member *m)
{
	char tag[IDS_MAX];
	memset(m, 0, sizeof *m);
	ids_new("", tag, sizeof tag);
	snprintf(m->email, sizeof m->email, "r.%.12s@example.com", tag);
	struct api_resp *r = api_json(&srv, "POST", "/v1/accounts", NULL,
				      json_pack("{s:s, s:s, s:s}", "email", m->email, "password", PASSWORD, "country",
						country));
	ck_assert_status(r, 201);
	copy(m->id, sizeof m->id, json_string_value(json_object_get(json_object_get(r->json, "account"), "id")));
	copy(m->token, sizeof m->token, api_str(r, "access_token"));
	api_resp_free(r);
}

static void sign_in_again(struct member *m)
{
	struct api_resp *r = api_json(&srv, "POST", "/v1/sessions", NULL,
				      json_pack("{s:s, s:s, s:{s:s, s:s}}", "email", m->email, "password", PASSWORD,
						"device", "name", "Phone", "type", "phone"));
	ck_assert_status(r, 201);
	copy(m->token, sizeof m->token, api_str(r, "access_token"));
	api_resp_free(r);
}

static void card(const struct member *m, const char *token)
{
	struct api_resp *r = api_json(&srv, "POST", "/v1/payment-methods", m->token, json_pack("{s:s}", "token", token));
	ck_assert_status(r, 201);
	api_resp_free(r);
}

/* A member of `country` subscribed to `plan` with a visa card; returns the
 * subscription document (caller frees). */
static json_t *subscribed(const char *country, const char *plan, struct member *m)
{
	member_new(country, m);
	card(m, "pm_card_visa");
	struct api_resp *r = api_json(&srv, "POST", "/v1/subscription", m->token, json_pack("{s:s}", "plan", plan));
	ck_assert_status(r, 201);
	json_t *doc = json_incref(r->json);
	api_resp_free(r);
	return doc;
}

static json_t *get_sub(struct member *m)
{
	sign_in_again(m);
	struct api_resp *r = api_get(&srv, "/v1/subscription", m->token);
	ck_assert_status(r, 200);
	json_t *doc = json_incref(r->json);
	api_resp_free(r);
	return doc;
}

static int64_t time_of(json_t *obj, const char *key)
{
	int64_t t = 0;
	const char *s = json_string_value(json_object_get(obj, key));
	ck_assert_msg(s && clock_parse(s, &t) == ERR_OK, "no time %s", key);
	return t;
}

static int64_t period_end(json_t *sub) { return time_of(json_object_get(sub, "current_period"), "end"); }

static const char *state_of(json_t *sub) { return json_string_value(json_object_get(sub, "state")); }

static int64_t db_int(const char *sql, const char *arg) { return api_db_int(&srv, sql, arg); }

static int64_t audit_rows(void) { return db_int("SELECT COUNT(*) FROM audit_log", NULL); }

/* ---- a year ---- */

/* Twelve monthly renewals of a JP member, each charged ¥1,590 on the
 * anchor day, invoices listed newest first with numbers that only grow. */
START_TEST(a_year_of_renewals_through_the_test_clock)
{
	fresh_staff();
	struct member m = {0};
	json_t *sub = subscribed("JP", "standard", &m);
	int64_t anchor = time_of(sub, "billing_anchor");
	json_decref(sub);
	for (int k = 1; k <= 12; k++) {
		int64_t due = db_int("SELECT current_period_end FROM subscriptions WHERE account_id = ?1", m.id);
		advance_to(due);
		ck_assert_int_eq(db_int("SELECT period_index FROM subscriptions WHERE account_id = ?1", m.id), k);
	}
	sign_in_again(&m);
	struct api_resp *r = api_get(&srv, "/v1/invoices?limit=100", m.token);
	ck_assert_status(r, 200);
	json_t *data = json_object_get(r->json, "data");
	ck_assert_int_eq(json_array_size(data), 13);
	for (size_t i = 0; i < 13; i++) {
		json_t *inv = json_array_get(data, i);
		ck_assert_str_eq(json_string_value(json_object_get(inv, "status")), "paid");
		ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(inv, "total"), "amount")), 1590);
		ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(inv, "tax"), "amount")), 145);
		ck_assert_str_eq(json_string_value(json_object_get(inv, "billing_reason")),
				 i == 12 ? "subscription_create" : "subscription_cycle");
		if (i > 0) /* newest first: numbers grow with time (a new year restarts them) */
			ck_assert_int_ne(strcmp(json_string_value(json_object_get(inv, "number")),
						json_string_value(json_object_get(json_array_get(data, i - 1), "number"))),
					 0);
	}
	api_resp_free(r);
	json_t *now = get_sub(&m);
	ck_assert_str_eq(state_of(now), "active");
	ck_assert_int_eq(time_of(json_object_get(now, "current_period"), "start"), bill_add_months(anchor, 12));
	json_decref(now);
}
END_TEST

/* ---- dunning ---- */

START_TEST(declined_renewal_to_on_hold_and_back_with_a_new_card)
{
	fresh_staff();
	struct member m = {0};
	json_t *sub = subscribed("US", "standard", &m);
	int64_t due = period_end(sub);
	json_decref(sub);
	card(&m, "pm_card_declined");
	/* Make the declined card the default. */
	char pm[64];
	snprintf(pm, sizeof pm, "%s", "");
	{
		struct api_resp *r = api_get(&srv, "/v1/payment-methods", m.token);
		ck_assert_status(r, 200);
		json_t *data = json_object_get(r->json, "data");
		copy(pm, sizeof pm, json_string_value(json_object_get(json_array_get(data, 1), "id")));
		api_resp_free(r);
		char path[128];
		snprintf(path, sizeof path, "/v1/payment-methods/%s/default", pm);
		r = api_request(&srv, "POST", path, m.token, NULL, NULL, NULL);
		ck_assert_status(r, 200);
		api_resp_free(r);
	}
	advance_to(due);
	json_t *s = get_sub(&m);
	ck_assert_str_eq(state_of(s), "past_due");
	json_t *d = json_object_get(s, "dunning");
	ck_assert_int_eq(json_integer_value(json_object_get(d, "failed_payments")), 1);
	ck_assert_int_eq(time_of(d, "next_retry_at"), due + DAY);
	ck_assert(json_is_true(json_object_get(json_object_get(s, "entitlements"), "playback_allowed")));
	json_decref(s);
	ck_assert_int_eq(db_int("SELECT COUNT(*) FROM notifications WHERE account_id = ?1 AND template = 'payment_failed'",
				m.id), 1);
	advance_to(due + 1 * DAY);
	advance_to(due + 3 * DAY);
	advance_to(due + 5 * DAY);
	ck_assert_int_eq(db_int("SELECT COUNT(*) FROM notifications WHERE account_id = ?1"
				" AND template = 'access_ending_soon'", m.id), 1);
	advance_to(due + 7 * DAY);
	s = get_sub(&m);
	ck_assert_str_eq(state_of(s), "on_hold");
	json_t *ent = json_object_get(s, "entitlements");
	ck_assert(json_is_false(json_object_get(ent, "playback_allowed")));
	ck_assert_str_eq(json_string_value(json_object_get(ent, "reason")), "payment_required");
	ck_assert_int_eq(time_of(json_object_get(s, "dunning"), "ends_at"), due + 37 * DAY);
	json_decref(s);
	/* A working card: charged at once, playback back, a new anchor. */
	advance_to(due + 9 * DAY);
	sign_in_again(&m);
	card(&m, "pm_card_visa");
	s = get_sub(&m);
	ck_assert_str_eq(state_of(s), "active");
	ck_assert(json_is_null(json_object_get(s, "dunning")));
	ck_assert_int_eq(time_of(s, "billing_anchor"), due + 9 * DAY);
	ck_assert(json_is_true(json_object_get(json_object_get(s, "entitlements"), "playback_allowed")));
	json_decref(s);
	ck_assert_int_eq(db_int("SELECT COUNT(*) FROM invoices WHERE account_id = ?1 AND status = 'uncollectible'", m.id), 1);
}
END_TEST

/* ---- price changes ---- */

START_TEST(price_change_with_notice_and_consent)
{
	fresh_staff();
	struct member us = {0}, de = {0}, de2 = {0};
	json_t *s1 = subscribed("US", "premium", &us);
	json_t *s2 = subscribed("DE", "premium", &de);
	json_t *s3 = subscribed("DE", "premium", &de2);
	json_decref(s1);
	json_decref(s2);
	json_decref(s3);
	char eff[32];
	clock_format(server_now(), eff, sizeof eff);
	int64_t audits = audit_rows();
	struct api_resp *r = staff_req("POST", "/admin/v1/prices", &admin,
				       json_pack("{s:s, s:s, s:{s:i, s:s}, s:s, s:i}", "plan", "premium", "country", "US",
						 "price", "amount", 2699, "currency", "USD", "effective_at", eff,
						 "notice_days", 30),
				       "2027 price review", NULL);
	ck_assert_status(r, 201);
	ck_assert_int_ge(json_integer_value(json_object_get(r->json, "notified")), 1);
	api_resp_free(r);
	ck_assert_int_eq(audit_rows(), audits + 1);
	ck_assert_int_eq(db_int("SELECT COUNT(*) FROM audit_log WHERE action = 'price_change.schedule'", NULL), 1);
	r = staff_req("POST", "/admin/v1/prices", &admin,
		      json_pack("{s:s, s:s, s:{s:i, s:s}, s:s}", "plan", "premium", "country", "DE", "price", "amount",
				2199, "currency", "EUR", "effective_at", eff),
		      "2027 price review", NULL);
	ck_assert_status(r, 201);
	api_resp_free(r);

	json_t *s = get_sub(&us);
	json_t *pp = json_object_get(s, "pending_price_change");
	ck_assert(json_is_object(pp));
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(pp, "price"), "amount")), 2699);
	ck_assert(json_is_false(json_object_get(pp, "consent_required")));
	int64_t applies = time_of(pp, "applies_at");
	ck_assert_int_ge(applies, server_now() + 30 * DAY);
	json_decref(s);
	s = get_sub(&de);
	pp = json_object_get(s, "pending_price_change");
	ck_assert(json_is_true(json_object_get(pp, "consent_required")));
	ck_assert(json_is_false(json_object_get(pp, "accepted")));
	json_decref(s);
	/* de2 accepts; de does not; a member with nothing pending gets 404. */
	sign_in_again(&de2);
	r = api_request(&srv, "POST", "/v1/subscription/price-change/accept", de2.token, NULL, NULL, NULL);
	ck_assert_status(r, 200);
	ck_assert(json_is_true(json_object_get(json_object_get(r->json, "pending_price_change"), "accepted")));
	api_resp_free(r);
	struct member none = {0};
	json_t *s4 = subscribed("JP", "basic", &none);
	json_decref(s4);
	r = api_request(&srv, "POST", "/v1/subscription/price-change/accept", none.token, NULL, NULL, NULL);
	ck_assert_problem(r, 404, "not_found");
	api_resp_free(r);

	advance_to(applies);
	ck_assert_int_eq(db_int("SELECT amount FROM subscriptions WHERE account_id = ?1", us.id), 2699);
	ck_assert_str_eq(state_of(s = get_sub(&de)), "ended");
	json_decref(s);
	ck_assert_int_eq(db_int("SELECT amount FROM subscriptions WHERE account_id = ?1", de2.id), 2199);
	ck_assert_int_eq(db_int("SELECT COUNT(*) FROM notifications WHERE account_id = ?1"
				" AND template = 'price_change_notice'", us.id), 1);
}
END_TEST

START_TEST(price_change_bad_input_changes_nothing)
{
	fresh_staff();
	char eff[32], past[32];
	clock_format(server_now() + DAY, eff, sizeof eff);
	clock_format(server_now() - DAY, past, sizeof past);
	int64_t changes = db_int("SELECT COUNT(*) FROM price_changes", NULL), audits = audit_rows();
	static const struct {
		const char *body;
		int status;
		const char *code, *field;
	} rows[] = {
		{"{\"plan\":\"gold\",\"country\":\"US\",\"price\":{\"amount\":1,\"currency\":\"USD\"},\"effective_at\":\"E\"}",
		 422, "unknown_plan", NULL},
		{"{\"plan\":\"basic\",\"country\":\"US\",\"price\":{\"amount\":1,\"currency\":\"USD\"},\"effective_at\":\"E\"}",
		 422, "plan_not_available_in_region", NULL},
		{"{\"plan\":\"standard\",\"country\":\"US\",\"price\":{\"amount\":1,\"currency\":\"EUR\"},\"effective_at\":\"E\"}",
		 422, "currency_mismatch", NULL},
		{"{\"plan\":\"standard\",\"country\":\"US\",\"price\":{\"amount\":1,\"currency\":\"USD\"},\"effective_at\":\"P\"}",
		 422, "validation_failed", "effective_at"},
		{"{\"plan\":\"standard\",\"country\":\"us\",\"price\":{\"amount\":1,\"currency\":\"USD\"},\"effective_at\":\"E\"}",
		 422, "validation_failed", "country"},
		{"{\"plan\":\"standard\",\"country\":\"US\",\"price\":{\"amount\":-1,\"currency\":\"USD\"},\"effective_at\":\"E\"}",
		 422, "validation_failed", "price"},
		{"{\"plan\":\"standard\",\"country\":\"US\",\"price\":\"19.99\",\"effective_at\":\"E\"}", 422,
		 "validation_failed", "price"},
		{"{\"plan\":\"standard\",\"country\":\"US\",\"price\":{\"amount\":1,\"currency\":\"USD\"},\"effective_at\":\"E\","
		 "\"notice_days\":400}", 422, "validation_failed", "notice_days"},
		{"{\"plan\":\"standard\",\"country\":\"US\",\"price\":{\"amount\":1,\"currency\":\"USD\"},\"effective_at\":\"E\","
		 "\"colour\":1}", 422, "validation_failed", "colour"},
		{"{\"plan\":", 400, "invalid_json", NULL},
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		char body[512];
		size_t o = 0;
		for (const char *p = rows[i].body; *p && o + 32 < sizeof body; p++) {
			if (p[0] == '"' && (p[1] == 'E' || p[1] == 'P') && p[2] == '"') {
				o += (size_t)snprintf(body + o, sizeof body - o, "\"%s\"", p[1] == 'E' ? eff : past);
				p += 2;
			} else {
				body[o++] = *p;
			}
		}
		body[o] = '\0';
		const char *headers[] = {"X-Hearth-Reason: test", NULL};
		struct api_resp *r = api_request(&srv, "POST", "/admin/v1/prices", admin.token, "application/json",
						 body, headers);
		ck_assert_problem(r, rows[i].status, rows[i].code);
		if (rows[i].field) {
			json_t *e0 = json_array_get(json_object_get(r->json, "errors"), 0);
			ck_assert_str_eq(json_string_value(json_object_get(e0, "field")), rows[i].field);
		}
		api_resp_free(r);
	}
	/* A supervisor may not; without a reason nobody may. */
	struct api_resp *r = staff_req("POST", "/admin/v1/prices", &supervisor,
				       json_pack("{s:s, s:s, s:{s:i, s:s}, s:s}", "plan", "standard", "country", "US",
						 "price", "amount", 1999, "currency", "USD", "effective_at", eff),
				       "test", NULL);
	ck_assert_problem(r, 403, "forbidden_role");
	api_resp_free(r);
	r = staff_req("POST", "/admin/v1/prices", &admin,
		      json_pack("{s:s, s:s, s:{s:i, s:s}, s:s}", "plan", "standard", "country", "US", "price", "amount",
				1999, "currency", "USD", "effective_at", eff),
		      NULL, NULL);
	ck_assert_problem(r, 400, "reason_required");
	api_resp_free(r);
	ck_assert_int_eq(db_int("SELECT COUNT(*) FROM price_changes", NULL), changes);
	ck_assert_int_eq(audit_rows(), audits);
}
END_TEST

/* ---- credit and refunds ---- */

START_TEST(credit_pays_the_next_renewal_and_refunds_make_credit_notes)
{
	fresh_staff();
	struct member m = {0};
	json_t *sub = subscribed("US", "standard", &m);
	char inv[64];
	copy(inv, sizeof inv, json_string_value(json_object_get(sub, "latest_invoice_id")));
	int64_t due = period_end(sub);
	json_decref(sub);
	char path[160];
	snprintf(path, sizeof path, "/admin/v1/accounts/%s/credits", m.id);
	/* Bad grants change nothing. */
	int64_t ledger = db_int("SELECT COUNT(*) FROM credit_ledger", NULL);
	struct api_resp *r = staff_req("POST", path, &supervisor, json_pack("{s:{s:i, s:s}}", "amount", "amount", 0,
									  "currency", "USD"), "goodwill", NULL);
	ck_assert_problem(r, 422, "validation_failed");
	api_resp_free(r);
	r = staff_req("POST", path, &supervisor, json_pack("{s:{s:i, s:s}}", "amount", "amount", 100, "currency", "XXX"),
		      "goodwill", NULL);
	ck_assert_problem(r, 422, "validation_failed");
	api_resp_free(r);
	r = staff_req("POST", path, &supervisor, json_pack("{s:{s:i, s:s}}", "amount", "amount", 5001, "currency", "USD"),
		      "goodwill", NULL);
	ck_assert_problem(r, 403, "forbidden_role"); /* over the supervisor's USD 50.00 */
	api_resp_free(r);
	r = staff_req("POST", path, &agent, json_pack("{s:{s:i, s:s}}", "amount", "amount", 100, "currency", "USD"),
		      "goodwill", NULL);
	ck_assert_problem(r, 403, "forbidden_role");
	api_resp_free(r);
	ck_assert_int_eq(db_int("SELECT COUNT(*) FROM credit_ledger", NULL), ledger);
	/* $5.00 by a supervisor, audited. */
	int64_t audits = audit_rows();
	r = staff_req("POST", path, &supervisor, json_pack("{s:{s:i, s:s}}", "amount", "amount", 500, "currency", "USD"),
		      "goodwill, ticket 7781", NULL);
	ck_assert_status(r, 201);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(r->json, "balance"), "amount")), 500);
	api_resp_free(r);
	ck_assert_int_eq(audit_rows(), audits + 1);
	advance_to(due);
	ck_assert_int_eq(db_int("SELECT credit_applied FROM invoices WHERE account_id = ?1"
				" AND billing_reason = 'subscription_cycle'", m.id), 500);
	ck_assert_int_eq(db_int("SELECT a.amount FROM payment_attempts a JOIN invoices i ON i.id = a.invoice_id"
				" WHERE i.account_id = ?1 AND i.billing_reason = 'subscription_cycle'", m.id), 1447);

	/* Refunds of the first invoice ($19.47): $5.00 by a supervisor with an
	 * Idempotency-Key (replayed, then refused with another body), the rest
	 * by an admin. */
	snprintf(path, sizeof path, "/admin/v1/invoices/%s/refunds", inv);
	r = staff_req("POST", path, &supervisor, json_pack("{s:{s:i, s:s}}", "amount", "amount", 500, "currency", "USD"),
		      "outage", "refund-1");
	ck_assert_status(r, 201);
	char number[40];
	copy(number, sizeof number, api_str(r, "number"));
	ck_assert_int_eq(strncmp(number, "HEA-CN-20", 9), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(r->json, "tax"), "amount")), 38);
	api_resp_free(r);
	r = staff_req("POST", path, &supervisor, json_pack("{s:{s:i, s:s}}", "amount", "amount", 500, "currency", "USD"),
		      "outage", "refund-1");
	ck_assert_status(r, 201); /* the first reply, replayed */
	ck_assert_str_eq(api_str(r, "number"), number);
	api_resp_free(r);
	r = staff_req("POST", path, &supervisor, json_pack("{s:{s:i, s:s}}", "amount", "amount", 600, "currency", "USD"),
		      "outage", "refund-1");
	ck_assert_problem(r, 409, "idempotency_key_reused");
	api_resp_free(r);
	ck_assert_int_eq(db_int("SELECT COUNT(*) FROM credit_notes WHERE invoice_id = ?1", inv), 1);
	r = staff_req("POST", path, &admin, json_pack("{s:{s:i, s:s}}", "amount", "amount", 2000, "currency", "USD"),
		      "outage", NULL);
	ck_assert_problem(r, 422, "refund_exceeds_refundable");
	api_resp_free(r);
	r = staff_req("POST", path, &admin, json_object(), "outage", NULL);
	ck_assert_status(r, 201);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(r->json, "amount"), "amount")), 1447);
	api_resp_free(r);
	sign_in_again(&m);
	char ipath[160];
	snprintf(ipath, sizeof ipath, "/v1/invoices/%s", inv);
	r = api_get(&srv, ipath, m.token);
	ck_assert_status(r, 200);
	ck_assert_int_eq(json_array_size(json_object_get(r->json, "credit_notes")), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(r->json, "amount_refunded"), "amount")), 1947);
	api_resp_free(r);
	r = staff_req("POST", "/admin/v1/invoices/inv_0000000000000000000000000000/refunds", &admin, json_object(),
		      "outage", NULL);
	ck_assert_problem(r, 404, "not_found");
	api_resp_free(r);
}
END_TEST

/* ---- staff runs and hearthctl ---- */

static int ctl(const char *const *argv, const struct staff *s, char **out, char **err)
{
	char tok[1100];
	snprintf(tok, sizeof tok, "HEARTH_TOKEN=%s", s->token);
	const char *env[] = {tok, "NO_COLOR=1", NULL};
	return api_ctl(&srv, argv, env, NULL, out, err);
}

START_TEST(hearthctl_billing_run_prices_refunds_credits_catalog)
{
	fresh_staff();
	struct member m = {0};
	json_t *sub = subscribed("KW", "standard", &m);
	char inv[64];
	copy(inv, sizeof inv, json_string_value(json_object_get(sub, "latest_invoice_id")));
	json_decref(sub);
	char *out = NULL, *err = NULL;

	/* billing run: queued for the billing thread, followed to the end. */
	const char *run[] = {"billing", "run", "--reason", "catch up", NULL};
	int rc = ctl(run, &admin, &out, &err);
	ck_assert_msg(rc == 0, "billing run: %s%s", out, err);
	ck_assert_ptr_nonnull(strstr(out, "succeeded"));
	free(out);
	free(err);
	const char *run_json[] = {"billing", "run", "--json", "--reason", "catch up", NULL};
	rc = ctl(run_json, &admin, &out, &err);
	ck_assert_int_eq(rc, 0);
	json_t *doc = json_loads(out, 0, NULL);
	ck_assert_ptr_nonnull(doc);
	ck_assert_str_eq(json_string_value(json_object_get(doc, "status")), "succeeded");
	ck_assert_int_eq(json_integer_value(json_object_get(doc, "errors")), 0);
	json_decref(doc);
	free(out);
	free(err);
	rc = ctl(run, &supervisor, &out, &err);
	ck_assert_int_eq(rc, 4); /* forbidden */
	free(out);
	free(err);

	/* prices schedule: the amount in the country's currency (KWD, fils). */
	char eff[32];
	clock_format(server_now() + 10 * DAY, eff, sizeof eff);
	const char *prices[] = {"prices", "schedule", "--plan", "standard", "--country", "KW", "--amount", "2.750",
				"--effective", eff, "--notice-days", "45", "--reason", "review", NULL};
	rc = ctl(prices, &admin, &out, &err);
	ck_assert_msg(rc == 0, "prices schedule: %s%s", out, err);
	ck_assert_ptr_nonnull(strstr(out, "KWD 2.750"));
	free(out);
	free(err);
	ck_assert_int_eq(db_int("SELECT amount FROM price_changes WHERE country = 'KW'", NULL), 2750);
	const char *bad_amount[] = {"prices", "schedule", "--plan", "standard", "--country", "KW", "--amount", "2.7505",
				    "--effective", eff, "--reason", "review", NULL};
	rc = ctl(bad_amount, &admin, &out, &err);
	ck_assert_int_eq(rc, 2);
	free(out);
	free(err);

	/* credits grant and refunds create. */
	const char *grant[] = {"credits", "grant", m.id, "--amount", "1.000", "--currency", "KWD", "--reason", "sorry",
			       NULL};
	rc = ctl(grant, &supervisor, &out, &err);
	ck_assert_msg(rc == 0, "credits grant: %s%s", out, err);
	ck_assert_msg(strstr(out, "Granted KWD 1 ") != NULL, "credits grant said: %s", out); /* money_format drops .000 */
	free(out);
	free(err);
	const char *refund[] = {"refunds", "create", inv, "--amount", "0.500", "--reason", "outage", NULL};
	rc = ctl(refund, &supervisor, &out, &err);
	ck_assert_msg(rc == 0, "refunds create: %s%s", out, err);
	ck_assert_ptr_nonnull(strstr(out, "KWD 0.500"));
	free(out);
	free(err);
	ck_assert_int_eq(db_int("SELECT amount_refunded FROM invoices WHERE id = ?1", inv), 500);

	/* catalog import: a new version, then the same file again is no change. */
	char path[256];
	snprintf(path, sizeof path, "%s/catalog.json", srv.dir);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("{\"plans\": [{\"code\": \"standard\", \"name\": \"Standard\", \"max_streams\": 2, \"resolution\": \"FHD\","
	      " \"download_devices\": 2, \"extra_member_slots\": 0, \"ads\": false, \"device_types\": [\"tv\"]}],"
	      " \"countries\": {\"KW\": {\"currency\": \"KWD\", \"tax\": {\"inclusive\": true, \"rate_bps\": 0,"
	      " \"name\": \"VAT\"}, \"prices\": {\"standard\": \"2.600\"}, \"price_change_policy\": \"consent\"}}}",
	      f);
	fclose(f);
	const char *import[] = {"catalog", "import", path, "--reason", "new catalog", NULL};
	rc = ctl(import, &admin, &out, &err);
	ck_assert_msg(rc == 0, "catalog import: %s%s", out, err);
	ck_assert_ptr_nonnull(strstr(out, "version 2"));
	free(out);
	free(err);
	rc = ctl(import, &admin, &out, &err);
	ck_assert_int_eq(rc, 0);
	ck_assert_ptr_nonnull(strstr(out, "nothing changed"));
	free(out);
	free(err);
	ck_assert_int_eq(db_int("SELECT COUNT(*) FROM audit_log WHERE action = 'catalog.import'", NULL), 1);
	/* The scheduled KW change outlives the import. */
	ck_assert_int_eq(db_int("SELECT COUNT(*) FROM price_points WHERE catalog_version = 2 AND amount = 2750", NULL), 1);
}
END_TEST

START_TEST(billing_run_routes_refuse_bad_input)
{
	fresh_staff();
	char future[32];
	clock_format(server_now() + DAY, future, sizeof future);
	int64_t runs = db_int("SELECT COUNT(*) FROM billing_runs", NULL);
	struct api_resp *r = staff_req("POST", "/admin/v1/billing-runs", &admin, json_pack("{s:s}", "until", future),
				       "test", NULL);
	ck_assert_problem(r, 422, "validation_failed");
	api_resp_free(r);
	r = staff_req("POST", "/admin/v1/billing-runs", &admin, json_pack("{s:s}", "until", "tomorrow"), "test", NULL);
	ck_assert_problem(r, 422, "validation_failed");
	api_resp_free(r);
	r = staff_req("POST", "/admin/v1/billing-runs", &admin, json_pack("{s:i}", "batch", 1), "test", NULL);
	ck_assert_problem(r, 422, "validation_failed");
	api_resp_free(r);
	ck_assert_int_eq(db_int("SELECT COUNT(*) FROM billing_runs", NULL), runs);
	r = api_get(&srv, "/admin/v1/billing-runs/brun_0000000000000000000000000000", agent.token);
	ck_assert_problem(r, 404, "not_found");
	api_resp_free(r);
	r = api_get(&srv, "/admin/v1/billing-runs", agent.token);
	ck_assert_status(r, 200);
	api_resp_free(r);
}
END_TEST

static Suite *renewals_suite(void)
{
	Suite *s = suite_create("api_renewals");
	TCase *tc = tcase_create("renewals");
	tcase_add_unchecked_fixture(tc, start, stop);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, a_year_of_renewals_through_the_test_clock);
	tcase_add_test(tc, declined_renewal_to_on_hold_and_back_with_a_new_card);
	tcase_add_test(tc, price_change_with_notice_and_consent);
	tcase_add_test(tc, price_change_bad_input_changes_nothing);
	tcase_add_test(tc, credit_pays_the_next_renewal_and_refunds_make_credit_notes);
	tcase_add_test(tc, hearthctl_billing_run_prices_refunds_credits_catalog);
	tcase_add_test(tc, billing_run_routes_refuse_bad_input);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(renewals_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0;
}
