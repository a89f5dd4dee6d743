/*
 * The billing HTTP adapter: parse and validate requests, call the billing
 * domain, write JSON.  Shapes and every status are in docs/api/billing.yaml.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accounts/accounts.h"
#include "billing/billing.h"
#include "billing/billing_int.h"
#include "billing/renewal.h"
#include "core/clock.h"
#include "core/jsonv.h"
#include "server/http.h"

/* ---- JSON shapes ---- */

static json_t *money_json(const struct money *m)
{
	return json_pack("{s:I, s:s}", "amount", (json_int_t)m->amount, "currency", m->currency);
}

static json_t *display_json(const struct money *m)
{
	char buf[MONEY_FORMAT_MAX];
	return money_format(m, buf, sizeof buf) == ERR_OK ? json_string(buf) : json_null();
}

static json_t *devices_json(unsigned bits)
{
	json_t *a = json_array();
	for (int i = 0; i < BILL_DEVICE_COUNT; i++)
		if (bits & (1u << i))
			json_array_append_new(a, json_string(bill_device_name(i)));
	return a;
}

static json_t *features_json(const struct bill_plan *p)
{
	return json_pack("{s:i, s:s, s:i, s:i, s:b, s:o}", "max_streams", p->max_streams, "resolution",
			 p->resolution, "download_devices", p->download_devices, "extra_member_slots",
			 p->extra_member_slots, "ads", p->has_ads, "device_types", devices_json(p->device_types));
}

static json_t *tax_json(const struct bill_price *p)
{
	char note[64];
	if (bill_tax_note(p->tax_inclusive, p->tax_rate_bps, p->tax_name, note, sizeof note) != ERR_OK)
		note[0] = '\0';
	return json_pack("{s:b, s:i, s:s, s:s}", "inclusive", p->tax_inclusive, "rate_bps",
			 (int)p->tax_rate_bps, "name", p->tax_name, "note", note);
}

static json_t *offer_json(const struct bill_offer *o)
{
	json_t *em = json_null();
	if (o->has_extra_member_price)
		em = json_pack("{s:I, s:s, s:o}", "amount", (json_int_t)o->extra_member_price.amount,
			       "currency", o->extra_member_price.currency, "display",
			       display_json(&o->extra_member_price));
	return json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:o}", "code", o->plan.code, "name", o->plan.name,
			 "features", features_json(&o->plan), "price", money_json(&o->price.amount),
			 "display_price", display_json(&o->price.amount), "tax", tax_json(&o->price),
			 "extra_member_price", em);
}

static json_t *entitlements_json(const struct bill_entitlements *e)
{
	return json_pack("{s:b, s:o, s:o, s:o, s:i, s:o, s:i, s:b, s:i, s:o}", "playback_allowed",
			 e->playback_allowed, "reason", e->reason[0] ? json_string(e->reason) : json_null(),
			 "plan", e->plan_code[0] ? json_string(e->plan_code) : json_null(), "state",
			 e->plan_code[0] ? json_string(bill_state_name(e->state)) : json_null(),
			 "max_streams", e->max_streams, "resolution",
			 e->resolution[0] ? json_string(e->resolution) : json_null(), "download_devices",
			 e->download_devices, "ads", e->has_ads, "extra_member_slots", e->extra_member_slots,
			 "device_types", devices_json(e->device_types));
}

static json_t *pending_price_json(const struct bill_pending_price *p)
{
	if (!p->has)
		return json_null();
	return json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:b, s:b}", "id", p->id, "price",
			 money_json(&p->amount), "display_price", display_json(&p->amount), "effective_at",
			 clock_json_or_null(p->effective_at), "applies_at", clock_json_or_null(p->applies_at), "notified_at",
			 clock_json_or_null(p->notified_at), "consent_required", p->consent_required, "accepted",
			 p->accepted);
}

/* What renewals add to the subscription document (issue 7): a pending
 * price change and the dunning state. */
static void renewal_fields(struct db *db, const struct bill_subscription *s, json_t *doc)
{
	struct bill_pending_price pp = {0};
	struct bill_dunning d;
	if (bill_pending_price_change(db, s, &pp) != ERR_OK)
		pp.has = false;
	json_object_set_new(doc, "pending_price_change", pending_price_json(&pp));
	if (bill_dunning_get(db, s->id, &d) != ERR_OK || (s->state != BILL_PAST_DUE && s->state != BILL_ON_HOLD)) {
		json_object_set_new(doc, "dunning", json_null());
		return;
	}
	json_object_set_new(doc, "dunning",
			    json_pack("{s:i, s:o, s:o, s:b, s:o, s:o, s:o}", "failed_payments", d.failed_payments,
				      "since", clock_json_or_null(d.since), "next_retry_at", clock_json_or_null(d.next_retry_at),
				      "next_retry_charges", d.next_retry_charges, "on_hold_since",
				      clock_json_or_null(d.on_hold_since), "ends_at", clock_json_or_null(d.ends_at),
				      "open_invoice_id",
				      d.open_invoice_id[0] ? json_string(d.open_invoice_id) : json_null()));
}

static json_t *subscription_json(struct db *db, const struct bill_subscription *s)
{
	struct bill_entitlements ent;
	json_t *sched = json_null();
	if (s->has_scheduled_change)
		sched = json_pack("{s:s, s:o, s:o}", "plan", s->scheduled_plan_code, "price",
				  money_json(&s->scheduled_price), "effective_at",
				  clock_json_or_null(s->scheduled_change_at));
	json_t *doc = json_pack(
		"{s:s, s:s, s:s, s:{s:s, s:s, s:o}, s:o, s:o, s:o, s:{s:o, s:o}, s:o, s:b, s:o, s:o, s:o,"
		" s:o, s:o}",
		"id", s->id, "state", bill_state_name(s->state), "country", s->country, "plan", "code",
		s->plan.code, "name", s->plan.name, "features", features_json(&s->plan), "price",
		money_json(&s->price.amount), "display_price", display_json(&s->price.amount), "tax",
		tax_json(&s->price), "current_period", "start", clock_json_or_null(s->current_period_start), "end",
		clock_json_or_null(s->current_period_end), "billing_anchor", clock_json_or_null(s->billing_anchor),
		"cancel_at_period_end", s->cancel_at_period_end, "canceled_at", clock_json_or_null(s->canceled_at),
		"ended_at", clock_json_or_null(s->ended_at), "scheduled_change", sched, "latest_invoice_id",
		s->latest_invoice_id[0] ? json_string(s->latest_invoice_id) : json_null(), "created_at",
		clock_json_or_null(s->created_at));
	if (doc && bill_entitlements(db, s->account_id, &ent) == ERR_OK)
		json_object_set_new(doc, "entitlements", entitlements_json(&ent));
	if (doc)
		renewal_fields(db, s, doc);
	return doc;
}

static json_t *pm_json(const struct bill_payment_method *pm)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:b, s:o}", "id", pm->id, "type", "card", "brand",
			 pm->brand, "last4", pm->last4, "exp_month", pm->exp_month, "exp_year", pm->exp_year,
			 "is_default", pm->is_default, "created_at", clock_json_or_null(pm->created_at));
}

/* ---- helpers ---- */

static void reply_field_error(struct http_req *req, const char *field, const char *code, const char *msg)
{
	json_t *errors = json_pack("[{s:s, s:s, s:s}]", "field", field, "code", code, "message", msg);
	http_reply_invalid(req, errors);
}

/* The signed-in member's country; replies and returns false on failure. */
static bool member_country_or_reply(struct http_req *req, struct db *db, char *country)
{
	struct acct_account acct;
	enum err e = acct_get(db, http_auth(req)->subject, &acct);
	if (e != ERR_OK) {
		http_reply_problem(req, e, e == ERR_NOT_FOUND ? "The account no longer exists" : NULL);
		return false;
	}
	snprintf(country, 3, "%s", acct.country);
	return true;
}

static void reply_payment_failed(struct http_req *req, const struct bill_payment_outcome *pay)
{
	char detail[160];
	snprintf(detail, sizeof detail, "The card was declined (%s)%s", pay->failure_code,
		 pay->hard_decline ? "; use another payment method" : "");
	http_reply_problem_ext(req, ERR_PAYMENT_FAILED, detail,
			       json_pack("{s:s, s:b, s:s, s:s}", "decline_code", pay->failure_code,
					 "hard_decline", pay->hard_decline, "invoice", pay->invoice_id,
					 "payment_attempt", pay->attempt_id));
}

/* The subscription document plus the invoice an action produced. */
static void reply_subscription(struct http_req *req, struct db *db, int status,
			       const struct bill_subscription *s, const char *invoice_id,
			       const char *change)
{
	json_t *doc = subscription_json(db, s);
	if (!doc) {
		http_reply_problem(req, ERR_NOMEM, NULL);
		return;
	}
	if (change)
		json_object_set_new(doc, "change", json_string(change));
	if (invoice_id && invoice_id[0]) {
		json_t *inv = NULL;
		enum err e = bill_invoice_json(db, s->account_id, invoice_id, &inv);
		if (e != ERR_OK) {
			json_decref(doc);
			http_reply_problem(req, e, "invoice lookup failed");
			return;
		}
		json_object_set_new(doc, "latest_invoice", inv);
	}
	http_reply_json(req, status, doc);
}

/* ---- plans ---- */

static bool is_ascii_letter(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

/* GET /v1/plans?country=XX is the same bytes for everyone until the catalog
 * changes (an import here bumps bill_catalog_generation) or a scheduled
 * price takes effect, so each thread keeps the body it last rendered per
 * country.  An import by another process sharing the database is seen
 * within PLANS_CACHE_MS. */
#define PLANS_CACHE_SLOTS 32
#define PLANS_CACHE_MS 1000

struct plans_cache_entry {
	char country[3];
	uint64_t generation;	/* 0: empty */
	int64_t until;		/* clock_now() at which a price changes */
	int64_t filled_ms;	/* clock_mono_ms() */
	char *body;
	size_t len;
};

/* Each thread's cache, freed when the thread ends (pthread key destructor). */
static _Thread_local struct plans_cache_entry *plans_cache;
static pthread_key_t plans_cache_key;
static pthread_once_t plans_cache_once = PTHREAD_ONCE_INIT;

static void plans_cache_free(void *p)
{
	struct plans_cache_entry *c = p;
	for (size_t i = 0; i < PLANS_CACHE_SLOTS; i++)
		free(c[i].body);
	free(c);
}

static void plans_cache_make_key(void) { pthread_key_create(&plans_cache_key, plans_cache_free); }

/* This thread's entry for `country`, or NULL when there is no memory. */
static struct plans_cache_entry *plans_slot(const char country[3])
{
	if (!plans_cache) {
		pthread_once(&plans_cache_once, plans_cache_make_key);
		plans_cache = calloc(PLANS_CACHE_SLOTS, sizeof *plans_cache);
		if (!plans_cache)
			return NULL;
		pthread_setspecific(plans_cache_key, plans_cache);
	}
	return &plans_cache[((unsigned)(unsigned char)country[0] * 31u + (unsigned char)country[1]) %
			    PLANS_CACHE_SLOTS];
}

static bool plans_cached_reply(struct http_req *req, const char country[3])
{
	struct plans_cache_entry *c = plans_slot(country);
	if (!c || !c->generation || c->generation != bill_catalog_generation() ||
	    memcmp(c->country, country, 3) != 0 || clock_now() >= c->until ||
	    clock_mono_ms() - c->filled_ms >= PLANS_CACHE_MS)
		return false;
	http_reply_raw(req, 200, "application/json", c->body, c->len);
	return true;
}

static void plans_cache_fill(struct db *db, const char country[3], uint64_t generation,
			     int64_t version, int64_t now, json_t *body)
{
	struct plans_cache_entry *c = plans_slot(country);
	int64_t next = INT64_MAX;
	if (!c)
		return;
	char *text = json_dumps(body, JSON_COMPACT);
	if (!text || bill_offers_next_change(db, country, version, now, &next) != ERR_OK) {
		free(text);
		return;
	}
	free(c->body);
	memcpy(c->country, country, 3);
	c->generation = generation;
	c->until = next;
	c->filled_ms = clock_mono_ms();
	c->body = text;
	c->len = strlen(text);
}

static void plans_list(struct http_req *req)
{
	struct db *db = http_db_or_reply(req);
	char country[3] = "";
	if (!db)
		return;
	const char *q = http_query(req, "country");
	if (q) {
		if (strlen(q) != 2 || !is_ascii_letter(q[0]) || !is_ascii_letter(q[1])) {
			http_reply_problem(req, ERR_INVALID_PARAMETER,
					   "country must be an ISO 3166-1 alpha-2 code such as US");
			return;
		}
		country[0] = (char)toupper((unsigned char)q[0]);
		country[1] = (char)toupper((unsigned char)q[1]);
	} else if (http_auth(req)->kind == HTTP_PRINCIPAL_MEMBER) {
		if (!member_country_or_reply(req, db, country))
			return;
	} else {
		http_reply_problem(req, ERR_INVALID_PARAMETER, "Give ?country= or sign in");
		return;
	}
	if (plans_cached_reply(req, country))
		return;
	uint64_t generation = bill_catalog_generation(); /* before the read: an import during it refills */
	int64_t now = clock_now();
	struct bill_offers offers;
	enum err e = bill_offers_for_country(db, country, now, &offers);
	if (e == ERR_COUNTRY_NOT_SUPPORTED) {
		char detail[96];
		snprintf(detail, sizeof detail, "No plans are sold in %s", country);
		http_reply_problem(req, e, detail);
		return;
	}
	if (e != ERR_OK) {
		http_reply_problem(req, e, "offers lookup failed");
		return;
	}
	json_t *data = json_array();
	for (size_t i = 0; i < offers.count; i++)
		json_array_append_new(data, offer_json(&offers.items[i]));
	json_t *body = json_pack("{s:s, s:s, s:I, s:o}", "country", country, "currency",
				 offers.items[0].price.amount.currency, "catalog_version",
				 (json_int_t)offers.catalog_version, "data", data);
	plans_cache_fill(db, country, generation, offers.catalog_version, now, body);
	http_reply_json(req, 200, body);
}

static void plans_countries(struct http_req *req)
{
	struct db *db = http_db_or_reply(req);
	struct bill_country *list = NULL;
	size_t n = 0;
	if (!db)
		return;
	list = calloc(BILL_COUNTRIES_MAX, sizeof *list);
	if (!list) {
		http_reply_problem(req, ERR_NOMEM, NULL);
		return;
	}
	enum err e = bill_catalog_countries(db, list, BILL_COUNTRIES_MAX, &n);
	if (e != ERR_OK) {
		free(list);
		http_reply_problem(req, e, "countries lookup failed");
		return;
	}
	json_t *data = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(data, json_pack("{s:s, s:s}", "country", list[i].code, "currency",
						      list[i].currency));
	free(list);
	http_reply_json(req, 200, json_pack("{s:o, s:b}", "data", data, "has_more", 0));
}

/* ---- payment methods ---- */

void bill_payment_method_parse(struct jv *v, const char **token)
{
	static const char *const allowed[] = {"token", NULL};
	jv_reject_unknown(v, allowed);
	jv_string(v, "token", JV_REQUIRED, 1, 64, token);
}

static void pm_create(struct http_req *req)
{
	struct db *db = http_db_or_reply(req);
	struct jv v;
	const char *token = NULL;
	if (!db)
		return;
	jv_init(&v, http_json(req));
	bill_payment_method_parse(&v, &token);
	if (!http_valid_or_reply(req, &v))
		return;
	struct bill_payment_method pm = {0};
	enum err e = bill_pm_attach(db, http_auth(req)->subject, token, &pm);
	if (e == ERR_NOT_FOUND)
		reply_field_error(req, "token", "unknown_token", "The payment provider does not know this token");
	else if (e == ERR_CONFLICT)
		http_reply_problem(req, e, "An account can have at most 10 payment methods; remove one first");
	else if (e != ERR_OK)
		http_reply_problem(req, e, "attach failed");
	else
		http_reply_json(req, 201, pm_json(&pm));
}

static void pm_list(struct http_req *req)
{
	struct db *db = http_db_or_reply(req);
	struct bill_payment_method list[BILL_PAYMENT_METHODS_MAX];
	size_t n = 0;
	if (!db)
		return;
	enum err e = bill_pm_list(db, http_auth(req)->subject, list, BILL_PAYMENT_METHODS_MAX, &n);
	if (e != ERR_OK) {
		http_reply_problem(req, e, "list failed");
		return;
	}
	json_t *data = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(data, pm_json(&list[i]));
	http_reply_json(req, 200, json_pack("{s:o, s:b}", "data", data, "has_more", 0));
}

static const char *pm_param_or_reply(struct http_req *req)
{
	const char *id = http_param(req, "id");
	if (!id || !ids_valid("pm_", id)) {
		http_reply_problem(req, ERR_NOT_FOUND, "No such payment method");
		return NULL;
	}
	return id;
}

static void pm_default(struct http_req *req)
{
	struct db *db = http_db_or_reply(req);
	const char *id = db ? pm_param_or_reply(req) : NULL;
	struct bill_payment_method pm = {0};
	if (!id)
		return;
	enum err e = bill_pm_set_default(db, http_auth(req)->subject, id, &pm);
	if (e != ERR_OK)
		http_reply_problem(req, e, e == ERR_NOT_FOUND ? "No such payment method" : "update failed");
	else
		http_reply_json(req, 200, pm_json(&pm));
}

static void pm_delete(struct http_req *req)
{
	struct db *db = http_db_or_reply(req);
	const char *id = db ? pm_param_or_reply(req) : NULL;
	if (!id)
		return;
	enum err e = bill_pm_remove(db, http_auth(req)->subject, id);
	if (e == ERR_OK)
		http_reply_empty(req, 204);
	else if (e == ERR_NOT_FOUND)
		http_reply_problem(req, e, "No such payment method");
	else if (e == ERR_INVALID_STATE)
		http_reply_problem(req, e, "This is the last payment method of a subscription; add another first");
	else
		http_reply_problem(req, e, "remove failed");
}

/* ---- subscriptions ---- */

static void plan_error_reply(struct http_req *req, enum err e, const char *plan, const char *country)
{
	char detail[160];
	switch (e) {
	case ERR_UNKNOWN_PLAN:
		snprintf(detail, sizeof detail, "No plan is called %s", plan);
		break;
	case ERR_PLAN_NOT_AVAILABLE_IN_REGION:
		snprintf(detail, sizeof detail, "%s is not sold in %s", plan, country);
		break;
	case ERR_COUNTRY_NOT_SUPPORTED:
		snprintf(detail, sizeof detail, "No plans are sold in %s", country);
		break;
	default:
		snprintf(detail, sizeof detail, "plan change failed");
		break;
	}
	http_reply_problem(req, e, detail);
}

void bill_subscribe_parse(struct jv *v, const char **plan, const char **pm)
{
	static const char *const allowed[] = {"plan", "payment_method", NULL};
	jv_reject_unknown(v, allowed);
	jv_string(v, "plan", JV_REQUIRED, 1, BILL_CODE_MAX, plan);
	if (jv_string(v, "payment_method", JV_OPTIONAL, 1, IDS_MAX - 1, pm) && !ids_valid("pm_", *pm)) {
		jv_error(v, "payment_method", "not_found", "No such payment method");
		*pm = NULL;
	}
}

static void sub_create(struct http_req *req)
{
	struct db *db = http_db_or_reply(req);
	struct jv v;
	const char *plan = NULL, *pm = NULL;
	char country[3];
	if (!db)
		return;
	jv_init(&v, http_json(req));
	bill_subscribe_parse(&v, &plan, &pm);
	if (!http_valid_or_reply(req, &v) || !member_country_or_reply(req, db, country))
		return;
	struct bill_subscribe_params p = {http_auth(req)->subject, country, plan, pm};
	struct bill_subscription sub = {0};
	struct bill_payment_outcome pay = {0};
	enum err e = bill_subscribe(db, &p, &sub, &pay);
	switch (e) {
	case ERR_OK:
		reply_subscription(req, db, 201, &sub, pay.invoice_id, NULL);
		break;
	case ERR_PAYMENT_FAILED:
		reply_payment_failed(req, &pay);
		break;
	case ERR_NOT_FOUND:
		reply_field_error(req, "payment_method", "not_found", "No such payment method");
		break;
	case ERR_PAYMENT_REQUIRED:
		http_reply_problem(req, e, "Attach a payment method first (POST /v1/payment-methods)");
		break;
	case ERR_SUBSCRIPTION_EXISTS:
		http_reply_problem(req, e, "Change the plan with PATCH /v1/subscription instead");
		break;
	case ERR_UNKNOWN_PLAN:
	case ERR_PLAN_NOT_AVAILABLE_IN_REGION:
	case ERR_COUNTRY_NOT_SUPPORTED:
		plan_error_reply(req, e, plan, country);
		break;
	default:
		http_reply_problem(req, e, "subscribe failed");
		break;
	}
}

static void sub_get(struct http_req *req)
{
	struct db *db = http_db_or_reply(req);
	struct bill_subscription sub = {0};
	if (!db)
		return;
	enum err e = bill_subscription_get(db, http_auth(req)->subject, &sub);
	if (e != ERR_OK)
		http_reply_problem(req, e, e == ERR_NOT_FOUND ? "The account has no subscription" : "lookup failed");
	else
		reply_subscription(req, db, 200, &sub, NULL, NULL);
}

void bill_plan_change_parse(struct jv *v, const char **plan)
{
	static const char *const allowed[] = {"plan", NULL};
	jv_reject_unknown(v, allowed);
	jv_string(v, "plan", JV_REQUIRED, 1, BILL_CODE_MAX, plan);
}

static void sub_patch(struct http_req *req)
{
	static const char *const change_names[] = {"none", "upgraded", "scheduled", "withdrawn"};
	struct db *db = http_db_or_reply(req);
	struct jv v;
	const char *plan = NULL;
	if (!db)
		return;
	jv_init(&v, http_json(req));
	bill_plan_change_parse(&v, &plan);
	if (!http_valid_or_reply(req, &v))
		return;
	struct bill_subscription sub = {0};
	struct bill_payment_outcome pay = {0};
	enum bill_change_kind kind = BILL_CHANGE_NONE;
	enum err e = bill_change_plan(db, http_auth(req)->subject, plan, &sub, &kind, &pay);
	switch (e) {
	case ERR_OK:
		reply_subscription(req, db, 200, &sub, kind == BILL_CHANGE_UPGRADED ? pay.invoice_id : NULL,
				   change_names[kind]);
		break;
	case ERR_PAYMENT_FAILED:
		reply_payment_failed(req, &pay);
		break;
	case ERR_NOT_FOUND:
		http_reply_problem(req, e, "The account has no subscription");
		break;
	case ERR_INVALID_STATE:
		http_reply_problem(req, e, "The plan can be changed only while the subscription is active");
		break;
	case ERR_PAYMENT_REQUIRED:
		http_reply_problem(req, e, "Attach a payment method first");
		break;
	case ERR_UNKNOWN_PLAN:
	case ERR_PLAN_NOT_AVAILABLE_IN_REGION:
	case ERR_COUNTRY_NOT_SUPPORTED:
		plan_error_reply(req, e, plan, "your country");
		break;
	default:
		http_reply_problem(req, e, "plan change failed");
		break;
	}
}

static void sub_withdraw(struct http_req *req)
{
	struct db *db = http_db_or_reply(req);
	struct bill_subscription sub = {0};
	if (!db)
		return;
	enum err e = bill_cancel_scheduled_change(db, http_auth(req)->subject, &sub);
	if (e == ERR_OK)
		reply_subscription(req, db, 200, &sub, NULL, "withdrawn");
	else if (e == ERR_NOT_FOUND)
		http_reply_problem(req, e, "No plan change is scheduled");
	else if (e == ERR_INVALID_STATE)
		http_reply_problem(req, e, "The subscription is not active");
	else
		http_reply_problem(req, e, "withdraw failed");
}

static void sub_cancel_or_resume(struct http_req *req, bool cancel)
{
	struct db *db = http_db_or_reply(req);
	struct bill_subscription sub = {0};
	if (!db)
		return;
	enum err e = cancel ? bill_cancel(db, http_auth(req)->subject, &sub)
			    : bill_resume(db, http_auth(req)->subject, &sub);
	if (e == ERR_OK)
		reply_subscription(req, db, 200, &sub, NULL, NULL);
	else if (e == ERR_NOT_FOUND)
		http_reply_problem(req, e, "The account has no subscription");
	else if (e == ERR_INVALID_STATE)
		http_reply_problem(req, e, cancel ? "The subscription is already canceled or ended"
						  : "Only a canceled subscription can be resumed, before its period ends");
	else
		http_reply_problem(req, e, cancel ? "cancel failed" : "resume failed");
}

/* POST /v1/subscription/price-change/accept */
static void sub_accept_price(struct http_req *req)
{
	struct db *db = http_db_or_reply(req);
	struct bill_pending_price pp = {0};
	struct bill_subscription sub = {0};
	if (!db)
		return;
	enum err e = bill_price_change_accept(db, http_auth(req)->subject, &pp);
	if (e == ERR_OK)
		e = bill_subscription_get(db, http_auth(req)->subject, &sub);
	if (e == ERR_OK)
		reply_subscription(req, db, 200, &sub, NULL, "price_change_accepted");
	else if (e == ERR_NOT_FOUND)
		http_reply_problem(req, e, "No price change is waiting for this subscription");
	else
		http_reply_problem(req, e, "accept failed");
}

static void sub_cancel(struct http_req *req) { sub_cancel_or_resume(req, true); }
static void sub_resume(struct http_req *req) { sub_cancel_or_resume(req, false); }

static void me_entitlements(struct http_req *req)
{
	struct db *db = http_db_or_reply(req);
	struct bill_entitlements ent;
	if (!db)
		return;
	enum err e = bill_entitlements(db, http_auth(req)->subject, &ent);
	if (e != ERR_OK)
		http_reply_problem(req, e, "entitlements lookup failed");
	else
		http_reply_json(req, 200, entitlements_json(&ent));
}

/* ---- invoices ---- */

static const char *invoice_param_or_reply(struct http_req *req)
{
	const char *id = http_param(req, "id");
	if (!id || !ids_valid("inv_", id)) {
		http_reply_problem(req, ERR_NOT_FOUND, "No such invoice");
		return NULL;
	}
	return id;
}

static void invoices_list(struct http_req *req)
{
	struct db *db = http_db_or_reply(req);
	int64_t limit = 20;
	const char *after = NULL;
	if (!db || !http_page_params_or_reply(req, &limit, &after))
		return;
	json_t *data = NULL;
	bool more = false;
	enum err e = bill_invoice_list(db, http_auth(req)->subject, limit, after, &data, &more);
	if (e == ERR_NOT_FOUND)
		http_reply_problem(req, ERR_INVALID_PARAMETER, "starting_after is not one of your invoices");
	else if (e != ERR_OK)
		http_reply_problem(req, e, "list failed");
	else
		http_reply_json(req, 200, json_pack("{s:o, s:b}", "data", data, "has_more", more));
}

static void invoice_get(struct http_req *req)
{
	struct db *db = http_db_or_reply(req);
	const char *id = db ? invoice_param_or_reply(req) : NULL;
	json_t *inv = NULL;
	if (!id)
		return;
	enum err e = bill_invoice_json(db, http_auth(req)->subject, id, &inv);
	if (e != ERR_OK)
		http_reply_problem(req, e, e == ERR_NOT_FOUND ? "No such invoice" : "lookup failed");
	else
		http_reply_json(req, 200, inv);
}

static void invoice_receipt(struct http_req *req)
{
	struct db *db = http_db_or_reply(req);
	const char *id = db ? invoice_param_or_reply(req) : NULL;
	char *html = NULL;
	size_t len = 0;
	if (!id)
		return;
	enum err e = bill_invoice_receipt_html(db, http_auth(req)->subject, id, &html, &len);
	if (e != ERR_OK) {
		http_reply_problem(req, e, e == ERR_NOT_FOUND ? "No such invoice" : "receipt failed");
		return;
	}
	http_reply_raw(req, 200, "text/html; charset=utf-8", html, len);
	free(html);
}

void billing_http_register(void)
{
	const unsigned member = HTTP_AUTH_MEMBER | HTTP_NO_STORE;
	http_route("GET", "/v1/plans", plans_list, HTTP_AUTH_OPTIONAL, 0);
	http_route("GET", "/v1/plans/countries", plans_countries, 0, 0);
	http_route("POST", "/v1/payment-methods", pm_create, member | HTTP_JSON_BODY | HTTP_IDEMPOTENT, 0);
	http_route("GET", "/v1/payment-methods", pm_list, member, 0);
	http_route("POST", "/v1/payment-methods/{id}/default", pm_default, member, 0);
	http_route("DELETE", "/v1/payment-methods/{id}", pm_delete, member, 0);
	http_route("POST", "/v1/subscription", sub_create, member | HTTP_JSON_BODY | HTTP_IDEMPOTENT, 0);
	http_route("GET", "/v1/subscription", sub_get, member, 0);
	/* An upgrade charges, so a retried PATCH must not charge twice either. */
	http_route("PATCH", "/v1/subscription", sub_patch, member | HTTP_JSON_BODY | HTTP_IDEMPOTENT, 0);
	http_route("DELETE", "/v1/subscription/scheduled-change", sub_withdraw, member, 0);
	http_route("POST", "/v1/subscription/cancel", sub_cancel, member, 0);
	http_route("POST", "/v1/subscription/resume", sub_resume, member, 0);
	http_route("POST", "/v1/subscription/price-change/accept", sub_accept_price, member, 0);
	http_route("GET", "/v1/me/entitlements", me_entitlements, member, 0);
	http_route("GET", "/v1/invoices", invoices_list, member, 0);
	http_route("GET", "/v1/invoices/{id}", invoice_get, member, 0);
	http_route("GET", "/v1/invoices/{id}/receipt", invoice_receipt, member, 0);
}
