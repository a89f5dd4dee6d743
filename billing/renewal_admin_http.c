/*
 * renewal_admin_http.c - billing's staff routes under /admin/v1, registered
 * through the admin area's route table (admin_route: role checked, reason
 * required on changes) and audited through a bill_actor whose audit
 * function writes the admin audit row inside the domain's transaction.
 *
 *   POST /admin/v1/billing-runs             admin       start a run (queued for the billing thread)
 *   GET  /admin/v1/billing-runs             agent       recent runs
 *   GET  /admin/v1/billing-runs/{id}        agent       a run's progress
 *   POST /admin/v1/prices                   admin       schedule a price change
 *   GET  /admin/v1/invoices/{id}            agent       an invoice with its attempts and credit notes
 *   POST /admin/v1/invoices/{id}/refunds    supervisor  refund (supervisors up to their limit)
 *   POST /admin/v1/accounts/{id}/credits    supervisor  grant credit (the same limit)
 *   GET  /admin/v1/accounts/{id}/credits    agent       credit balances
 *   POST /admin/v1/catalog                  admin       import a catalog document
 *
 * Shapes, statuses and codes: docs/api/renewals.yaml.
 */
#include <stdio.h>
#include <string.h>

#include "admin/admin.h"
#include "billing/renewal.h"
#include "core/clock.h"
#include "core/jsonv.h"

static enum err audit_row(struct db *db, const struct bill_actor *a, const char *action,
			  const char *target_type, const char *target_id, json_t *before, json_t *after)
{
	return admin_audit(db, a->id, action, target_type, target_id, a->reason, before, after);
}

static struct bill_actor actor_of(const struct admin_ctx *ctx)
{
	struct bill_actor a = {ctx->staff_id, ctx->reason, audit_row, NULL};
	return a;
}

static json_t *money_json(const struct money *m)
{
	char buf[MONEY_FORMAT_MAX];
	return json_pack("{s:I, s:s, s:s}", "amount", (json_int_t)m->amount, "currency", m->currency, "display",
			 money_format(m, buf, sizeof buf) == ERR_OK ? buf : "");
}

/*
 * The request's JSON object.  These routes are registered without
 * HTTP_JSON_BODY so that the admin checks (role, then X-Hearth-Reason) come
 * first, as on every admin route; the body rules are then the server's:
 * 415 when it is not application/json, 400 invalid_json when it does not
 * parse to an object.  An empty body is {} unless `required`.  Returns a
 * new reference, or NULL after replying.
 */
static json_t *body_or_reply(struct http_req *req, bool required)
{
	size_t len = 0;
	const char *body = http_body(req, &len);
	if (!body || len == 0) {
		if (!required)
			return json_object();
		http_reply_problem(req, ERR_INVALID_JSON, "This request needs a JSON body");
		return NULL;
	}
	const char *ct = http_header(req, "Content-Type");
	if (!ct || strncmp(ct, "application/json", 16) != 0 || (ct[16] && ct[16] != ';' && ct[16] != ' ')) {
		http_reply_problem(req, ERR_UNSUPPORTED_MEDIA_TYPE, "Send the body as application/json");
		return NULL;
	}
	json_error_t jerr;
	json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(doc)) {
		json_decref(doc);
		http_reply_problem(req, ERR_INVALID_JSON, "The body must be a JSON object");
		return NULL;
	}
	return doc;
}

/* A money object {amount, currency} at `field`; errors go to `v`. */
static bool read_money(struct jv *v, json_t *obj, const char *field, enum jv_need need, struct money *out)
{
	json_t *m = json_object_get(obj, field);
	if (!m || json_is_null(m)) {
		if (need == JV_REQUIRED)
			jv_error(v, field, "required", "This field is required");
		return false;
	}
	json_t *amount = json_object_get(m, "amount"), *cur = json_object_get(m, "currency");
	if (!json_is_object(m) || !json_is_integer(amount) || !json_is_string(cur) || json_object_size(m) != 2) {
		jv_error(v, field, "wrong_type", "Must be {\"amount\": minor units, \"currency\": \"USD\"}");
		return false;
	}
	if (money_init(out, json_integer_value(amount), json_string_value(cur)) != ERR_OK) {
		jv_error(v, field, "unknown_currency", "Not a supported ISO 4217 currency");
		return false;
	}
	return true;
}

/* The body {amount} of a refund (optional: all that is left) or a credit
 * grant (required, and so is the body): a positive money object into
 * *amount, *has_amount when given.  Replies and returns false when the body
 * or the amount is not acceptable. */
static bool amount_body_or_reply(struct http_req *req, enum jv_need need, struct money *amount,
				 bool *has_amount)
{
	static const char *const allowed[] = {"amount", NULL};
	struct jv v;
	json_t *body = body_or_reply(req, need == JV_REQUIRED);
	if (!body)
		return false;
	jv_init(&v, body);
	jv_reject_unknown(&v, allowed);
	*has_amount = read_money(&v, body, "amount", need, amount);
	if (*has_amount && amount->amount <= 0)
		jv_error(&v, "amount", "invalid_amount", "Must be more than zero");
	bool ok = http_valid_or_reply(req, &v);
	json_decref(body);
	return ok;
}

/* Supervisors act up to their allowance in the currency; admins without
 * limit.  Replies 403 and returns false when over it. */
static bool within_limit_or_reply(struct http_req *req, const struct admin_ctx *ctx, const struct money *m)
{
	struct money limit;
	char a[MONEY_FORMAT_MAX], detail[200];
	if (ctx->role >= ADMIN_ROLE_ADMIN)
		return true;
	enum err e = bill_staff_limit(m->currency, &limit);
	if (e == ERR_OK && m->amount <= limit.amount)
		return true;
	if (e == ERR_OK && money_format(&limit, a, sizeof a) == ERR_OK)
		snprintf(detail, sizeof detail, "A supervisor may give back at most %s at once; ask an admin", a);
	else
		snprintf(detail, sizeof detail, "A supervisor may not give back %s; ask an admin", m->currency);
	http_reply_problem(req, ERR_FORBIDDEN_ROLE, detail);
	return false;
}

/* ---- billing runs ---- */

/* POST /admin/v1/billing-runs {until?} */
static void run_start(struct http_req *req, const struct admin_ctx *ctx)
{
	static const char *const allowed[] = {"until", NULL};
	struct jv v;
	const char *until_text = NULL;
	int64_t until = 0;
	json_t *body = body_or_reply(req, false);
	if (!body)
		return;
	jv_init(&v, body);
	jv_reject_unknown(&v, allowed);
	if (jv_string(&v, "until", JV_OPTIONAL, 1, 40, &until_text) && clock_parse(until_text, &until) != ERR_OK)
		jv_error(&v, "until", "invalid_time", "Must be an RFC 3339 time");
	if (jv_ok(&v) && until_text && until > clock_now())
		jv_error(&v, "until", "in_the_future", "A run renews only what is already due");
	bool ok = http_valid_or_reply(req, &v);
	json_decref(body);
	if (!ok)
		return;
	struct bill_actor a = actor_of(ctx);
	struct bill_run_stats s;
	enum err e = bill_run_queue(db_thread(), &a, until, &s);
	if (e != ERR_OK) {
		http_reply_problem(req, e, NULL);
		return;
	}
	bill_scheduler_kick();
	char loc[96];
	snprintf(loc, sizeof loc, "/admin/v1/billing-runs/%s", s.id);
	http_add_header(req, "Location", loc);
	http_reply_json(req, 202, bill_run_json(&s));
}

/* GET /admin/v1/billing-runs/{id} */
static void run_get(struct http_req *req, const struct admin_ctx *ctx)
{
	struct bill_run_stats s;
	const char *id = http_param(req, "id");
	(void)ctx;
	if (!id || !ids_valid("brun_", id)) {
		http_reply_problem(req, ERR_NOT_FOUND, "No billing run has this id");
		return;
	}
	enum err e = bill_run_get(db_thread(), id, &s);
	if (e == ERR_NOT_FOUND)
		http_reply_problem(req, e, "No billing run has this id");
	else if (e != ERR_OK)
		http_reply_problem(req, e, NULL);
	else
		http_reply_json(req, 200, bill_run_json(&s));
}

/* GET /admin/v1/billing-runs */
static void run_list(struct http_req *req, const struct admin_ctx *ctx)
{
	struct bill_run_stats runs[20];
	size_t n = 0;
	(void)ctx;
	enum err e = bill_run_list(db_thread(), runs, 20, &n);
	if (e != ERR_OK) {
		http_reply_problem(req, e, NULL);
		return;
	}
	json_t *data = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(data, bill_run_json(&runs[i]));
	http_reply_json(req, 200, json_pack("{s:o, s:b}", "data", data, "has_more", 0));
}

/* ---- price changes ---- */

/* POST /admin/v1/prices {plan, country, price, effective_at, notice_days?, grandfather_months?} */
static void price_schedule(struct http_req *req, const struct admin_ctx *ctx)
{
	static const char *const allowed[] = {"plan", "country", "price", "effective_at", "notice_days",
					      "grandfather_months", NULL};
	struct jv v;
	const char *plan = NULL, *country = NULL, *eff = NULL;
	int64_t notice = BILL_NOTICE_DAYS_DEFAULT, grandfather = 0, effective = 0;
	struct money price;
	json_t *body = body_or_reply(req, true);
	if (!body)
		return;
	jv_init(&v, body);
	jv_reject_unknown(&v, allowed);
	jv_string(&v, "plan", JV_REQUIRED, 1, BILL_CODE_MAX, &plan);
	if (jv_string(&v, "country", JV_REQUIRED, 2, 2, &country) &&
	    !(country[0] >= 'A' && country[0] <= 'Z' && country[1] >= 'A' && country[1] <= 'Z'))
		jv_error(&v, "country", "invalid_country", "Two upper-case letters (ISO 3166-1 alpha-2)");
	if (read_money(&v, body, "price", JV_REQUIRED, &price) && price.amount < 0)
		jv_error(&v, "price", "negative_amount", "Must not be negative");
	if (jv_string(&v, "effective_at", JV_REQUIRED, 1, 40, &eff)) {
		if (clock_parse(eff, &effective) != ERR_OK)
			jv_error(&v, "effective_at", "invalid_time", "Must be an RFC 3339 time");
		else if (effective < clock_now())
			jv_error(&v, "effective_at", "in_the_past", "A price change takes effect now or later");
	}
	jv_int(&v, "notice_days", JV_OPTIONAL, 0, 365, &notice);
	jv_int(&v, "grandfather_months", JV_OPTIONAL, 0, 120, &grandfather);
	if (!http_valid_or_reply(req, &v)) {
		json_decref(body);
		return;
	}
	struct bill_actor a = actor_of(ctx);
	struct bill_price_change pc;
	struct bill_price_change_params p = {plan, country, &price, effective, notice, grandfather};
	enum err e = bill_price_change_schedule(db_thread(), &p, &a, &pc);
	char detail[160];
	switch (e) {
	case ERR_OK:
		http_reply_json(req, 201,
				json_pack("{s:s, s:s, s:s, s:o, s:o, s:I, s:I, s:s, s:o, s:I}", "id", pc.id, "plan",
					  pc.plan_code, "country", pc.country, "price", money_json(&pc.amount),
					  "effective_at", clock_json_or_null(pc.effective_at), "notice_days",
					  (json_int_t)pc.notice_days, "grandfather_months",
					  (json_int_t)pc.grandfather_months, "created_by", pc.created_by,
					  "created_at", clock_json_or_null(pc.created_at), "notified", (json_int_t)pc.notified));
		break;
	case ERR_UNKNOWN_PLAN:
		snprintf(detail, sizeof detail, "No plan is called %s", plan);
		http_reply_problem(req, e, detail);
		break;
	case ERR_PLAN_NOT_AVAILABLE_IN_REGION:
	case ERR_COUNTRY_NOT_SUPPORTED:
		snprintf(detail, sizeof detail, "%s is not sold in %s", plan, country);
		http_reply_problem(req, e, detail);
		break;
	case ERR_CURRENCY_MISMATCH:
		http_reply_problem(req, e, "The price must be in the country's currency");
		break;
	case ERR_CONFLICT:
		http_reply_problem(req, e, "A price change of this plan and country at this time exists");
		break;
	default:
		http_reply_problem(req, e, NULL);
		break;
	}
	json_decref(body);
}

/* ---- refunds and credit ---- */

/* POST /admin/v1/invoices/{id}/refunds {amount?} */
static void refund_create(struct http_req *req, const struct admin_ctx *ctx)
{
	struct money amount;
	bool has_amount = false;
	const char *id = http_param(req, "id");
	if (!amount_body_or_reply(req, JV_OPTIONAL, &amount, &has_amount))
		return;
	if (!id || !ids_valid("inv_", id)) {
		http_reply_problem(req, ERR_NOT_FOUND, "No invoice has this id");
		return;
	}
	struct db *db = db_thread();
	/* The limit applies to what would be refunded: the amount, or all that
	 * is left when none is given. */
	if (ctx->role < ADMIN_ROLE_ADMIN) {
		struct money whole;
		if (!has_amount) {
			enum err le = bill_refundable(db, id, &whole);
			if (le != ERR_OK) {
				http_reply_problem(req, le, le == ERR_NOT_FOUND ? "No invoice has this id" : NULL);
				return;
			}
		}
		if (!within_limit_or_reply(req, ctx, has_amount ? &amount : &whole))
			return;
	}
	struct bill_actor a = actor_of(ctx);
	struct bill_refund r = {0};
	enum err e = bill_refund_create(db, id, NULL, has_amount ? &amount : NULL, &a, &r);
	switch (e) {
	case ERR_OK:
		http_reply_json(req, 201,
				json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:s}", "id", r.credit_note_id, "number",
					  r.number, "invoice", r.invoice_id, "amount", money_json(&r.amount), "tax",
					  money_json(&r.tax), "refunded_total", money_json(&r.refunded_total),
					  "provider_ref", r.provider_ref));
		break;
	case ERR_NOT_FOUND:
		http_reply_problem(req, e, "No invoice has this id");
		break;
	case ERR_INVOICE_NOT_PAID:
		http_reply_problem(req, e, "Only a paid invoice can be refunded");
		break;
	case ERR_REFUND_TOO_LARGE:
		http_reply_problem(req, e, "That is more than what the card paid and was not refunded yet");
		break;
	case ERR_CURRENCY_MISMATCH:
		http_reply_problem(req, e, "The amount must be in the invoice's currency");
		break;
	default:
		http_reply_problem(req, e, NULL);
		break;
	}
}

static json_t *balances_json(const struct bill_credit_balance *b, size_t n)
{
	json_t *data = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(data, json_pack("{s:o, s:o}", "balance", money_json(&b[i].balance),
						      "updated_at", clock_json_or_null(b[i].updated_at)));
	return data;
}

/* POST /admin/v1/accounts/{id}/credits {amount} */
static void credit_grant(struct http_req *req, const struct admin_ctx *ctx)
{
	struct money amount;
	bool has_amount = false;
	if (!amount_body_or_reply(req, JV_REQUIRED, &amount, &has_amount))
		return;
	if (!within_limit_or_reply(req, ctx, &amount))
		return;
	struct bill_actor a = actor_of(ctx);
	struct bill_credit_balance bal;
	const char *id = http_param(req, "id");
	enum err e = id && ids_valid("acc_", id) ? bill_credit_grant(db_thread(), id, &amount, &a, &bal)
						   : ERR_NOT_FOUND;
	if (e == ERR_NOT_FOUND)
		http_reply_problem(req, e, "No account has this id");
	else if (e != ERR_OK)
		http_reply_problem(req, e, NULL);
	else
		http_reply_json(req, 201, json_pack("{s:s, s:o, s:o}", "account_id", id, "granted",
						    money_json(&amount), "balance", money_json(&bal.balance)));
}

/* GET /admin/v1/accounts/{id}/credits */
static void credit_list(struct http_req *req, const struct admin_ctx *ctx)
{
	struct bill_credit_balance b[BILL_CURRENCIES_MAX];
	size_t n = 0;
	const char *id = http_param(req, "id");
	(void)ctx;
	enum err e = bill_credit_balances(db_thread(), id, b, BILL_CURRENCIES_MAX, &n);
	if (e != ERR_OK)
		http_reply_problem(req, e, NULL);
	else
		http_reply_json(req, 200, json_pack("{s:s, s:o, s:b}", "account_id", id, "data",
						    balances_json(b, n), "has_more", 0));
}

/* GET /admin/v1/invoices/{id} */
static void invoice_get(struct http_req *req, const struct admin_ctx *ctx)
{
	json_t *doc = NULL;
	const char *id = http_param(req, "id");
	(void)ctx;
	enum err e = id && ids_valid("inv_", id) ? bill_invoice_json_staff(db_thread(), id, &doc) : ERR_NOT_FOUND;
	if (e == ERR_NOT_FOUND)
		http_reply_problem(req, e, "No invoice has this id");
	else if (e != ERR_OK)
		http_reply_problem(req, e, NULL);
	else
		http_reply_json(req, 200, doc);
}

/* ---- catalog ---- */

/* POST /admin/v1/catalog: the body is the catalog document itself. */
static void catalog_import(struct http_req *req, const struct admin_ctx *ctx)
{
	size_t len = 0;
	const char *body = http_body(req, &len);
	json_t *errors = NULL;
	int64_t version = 0;
	bool created = false;
	json_t *doc = body_or_reply(req, true); /* the media type and a first parse */
	if (!doc)
		return;
	json_decref(doc);
	if (strlen(body) != len) {
		http_reply_problem(req, ERR_INVALID_JSON, "The body must be a catalog JSON document");
		return;
	}
	struct bill_actor a = actor_of(ctx);
	enum err e = bill_catalog_import_as(db_thread(), body, &a, &errors, &version, &created, "import");
	if (e == ERR_VALIDATION) {
		http_reply_invalid(req, errors);
		return;
	}
	json_decref(errors);
	if (e != ERR_OK)
		http_reply_problem(req, e, NULL);
	else
		http_reply_json(req, created ? 201 : 200, json_pack("{s:I, s:b}", "version", (json_int_t)version,
								    "created", created));
}

void billing_admin_http_register(void)
{
	admin_route("POST", "/admin/v1/billing-runs", run_start, HTTP_IDEMPOTENT,
		    ADMIN_ROLE_ADMIN, ADMIN_CHANGE);
	admin_route("GET", "/admin/v1/billing-runs", run_list, 0, ADMIN_ROLE_AGENT, ADMIN_READ);
	admin_route("GET", "/admin/v1/billing-runs/{id}", run_get, 0, ADMIN_ROLE_AGENT, ADMIN_READ);
	admin_route("POST", "/admin/v1/prices", price_schedule, HTTP_IDEMPOTENT,
		    ADMIN_ROLE_ADMIN, ADMIN_CHANGE);
	admin_route("GET", "/admin/v1/invoices/{id}", invoice_get, 0, ADMIN_ROLE_AGENT, ADMIN_READ);
	admin_route("POST", "/admin/v1/invoices/{id}/refunds", refund_create, HTTP_IDEMPOTENT,
		    ADMIN_ROLE_SUPERVISOR, ADMIN_CHANGE);
	admin_route("POST", "/admin/v1/accounts/{id}/credits", credit_grant, HTTP_IDEMPOTENT,
		    ADMIN_ROLE_SUPERVISOR, ADMIN_CHANGE);
	admin_route("GET", "/admin/v1/accounts/{id}/credits", credit_list, 0, ADMIN_ROLE_AGENT, ADMIN_READ);
	admin_route("POST", "/admin/v1/catalog", catalog_import, HTTP_IDEMPOTENT,
		    ADMIN_ROLE_ADMIN, ADMIN_CHANGE);
}
