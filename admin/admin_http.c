/*
 * admin_http.c - the HTTP adapter of the staff area: staff sign-in and
 * sign-out, whoami, staff management, the audit log, the events feed,
 * notifications and the role table.  Account tools are in
 * account_tools_http.c.  Every route is registered through admin_route(),
 * so its role is in the role table and checked before the handler runs.
 */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin_int.h"
#include "core/clock.h"
#include "core/events.h"
#include "core/jsonv.h"
#include "core/notify.h"

#define PASSWORD_FIELD_MAX 1024
#define EVENTS_LIMIT_DEFAULT 100
#define EVENTS_LIMIT_MAX 1000

/* ---- small helpers ---- */

/* Parse a whole, non-negative decimal; false when it is not one. */
static bool parse_count(const char *s, int64_t max, int64_t *out)
{
	char *end = NULL;
	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		return false;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end || v < 0 || v > max)
		return false;
	*out = v;
	return true;
}

static void reply_throttled(struct http_req *req, int64_t retry_after)
{
	char secs[24];
	snprintf(secs, sizeof secs, "%lld", (long long)(retry_after < 1 ? 1 : retry_after));
	http_add_header(req, "Retry-After", secs);
	http_reply_problem_ext(req, ERR_TOO_MANY_ATTEMPTS, "Too many failed sign-ins; wait and retry",
			       json_pack("{s:I}", "retry_after", (json_int_t)(retry_after < 1 ? 1 : retry_after)));
}

static void reply_list(struct http_req *req, json_t *rows, bool has_more)
{
	http_reply_json(req, 200, json_pack("{s:o, s:b}", "data", rows, "has_more", has_more));
}

/* ---- sessions ---- */

/* POST /admin/v1/sessions {email, password} */
static void session_create(struct http_req *req, const struct admin_ctx *ctx)
{
	static const char *const allowed[] = {"email", "password", NULL};
	struct jv v;
	const char *email = NULL, *password = NULL;
	struct admin_signin s;
	int64_t retry_after = 0;
	(void)ctx;
	jv_init(&v, http_json(req));
	jv_reject_unknown(&v, allowed);
	jv_string(&v, "email", JV_REQUIRED, 1, ADMIN_EMAIL_MAX + 64, &email);
	jv_string(&v, "password", JV_REQUIRED, 1, PASSWORD_FIELD_MAX, &password);
	if (!http_valid_or_reply(req, &v))
		return;
	enum err e = admin_signin(db_thread(), email, password, http_client_addr(req), &s, &retry_after);
	if (e == ERR_TOO_MANY_ATTEMPTS)
		reply_throttled(req, retry_after);
	else if (e == ERR_FORBIDDEN)
		http_reply_problem(req, e, "This staff account is disabled");
	else if (e != ERR_OK)
		http_reply_problem(req, e, NULL);
	else
		http_reply_json(req, 201,
				json_pack("{s:s, s:s, s:I, s:s, s:o}", "access_token", s.access_token,
					  "token_type", "Bearer", "expires_in", (json_int_t)s.expires_in,
					  "session_id", s.session_id, "staff", admin_staff_json(&s.staff)));
	sodium_memzero(s.access_token, sizeof s.access_token);
}

/* DELETE /admin/v1/sessions/current */
static void session_delete(struct http_req *req, const struct admin_ctx *ctx)
{
	enum err e = admin_signout(db_thread(), ctx->staff_id, http_auth(req)->session_id);
	if (e != ERR_OK)
		http_reply_problem(req, e == ERR_NOT_FOUND ? ERR_INVALID_TOKEN : e, NULL);
	else
		http_reply_empty(req, 204);
}

/* GET /admin/v1/me */
static void me(struct http_req *req, const struct admin_ctx *ctx)
{
	struct admin_staff s = {0};
	char exp[32];
	enum err e = admin_staff_get(db_thread(), ctx->staff_id, &s);
	if (e != ERR_OK) {
		http_reply_problem(req, e == ERR_NOT_FOUND ? ERR_INVALID_TOKEN : e, NULL);
		return;
	}
	json_t *o = admin_staff_json(&s);
	json_object_set_new(o, "session",
			    json_pack("{s:s, s:s}", "id", http_auth(req)->session_id, "expires_at",
				      clock_format(http_auth(req)->expires_at, exp, sizeof exp)));
	http_reply_json(req, 200, o);
}

/* ---- staff management ---- */

static const char *const role_choices[] = {"agent", "supervisor", "admin", NULL};

static void reply_staff(struct http_req *req, int status, const struct admin_staff *s)
{
	http_reply_json(req, status, admin_staff_json(s));
}

void admin_staff_create_parse(struct jv *v, struct admin_staff_form *f)
{
	static const char *const allowed[] = {"email", "name", "role", "password", NULL};
	memset(f, 0, sizeof *f);
	f->name = "";
	jv_reject_unknown(v, allowed);
	if (jv_string(v, "email", JV_REQUIRED, 1, ADMIN_EMAIL_MAX, &f->email_in) &&
	    !admin_email_parse(f->email_in, f->email, f->norm))
		jv_error(v, "email", "invalid_format", "Must be an email address");
	jv_string(v, "name", JV_OPTIONAL, 0, ADMIN_NAME_MAX, &f->name);
	jv_enum(v, "role", JV_REQUIRED, role_choices, &f->role);
	jv_string(v, "password", JV_REQUIRED, 1, PASSWORD_FIELD_MAX, &f->password);
}

/* POST /admin/v1/staff {email, name, role, password} */
static void staff_create(struct http_req *req, const struct admin_ctx *ctx)
{
	struct jv v;
	struct admin_staff_form f;
	const char *weak = NULL;
	char hash[AUTH_PWHASH_MAX];
	struct admin_staff out = {0};
	jv_init(&v, http_json(req));
	admin_staff_create_parse(&v, &f);
	const char *name = f.name, *role = f.role, *password = f.password, *addr = f.email;
	if (!http_valid_or_reply(req, &v))
		return;
	if (auth_password_policy(password, addr, &weak) != ERR_OK) {
		http_reply_problem_ext(req, ERR_WEAK_PASSWORD, "Choose a stronger password",
				       json_pack("{s:[{s:s, s:s, s:s}]}", "errors", "field", "password",
						 "code", weak ? weak : "weak", "message",
						 "Choose a stronger password"));
		return;
	}
	enum err e = auth_password_hash(password, hash);
	if (e == ERR_OK) {
		struct admin_staff_new in = {addr, name ? name : "", admin_role_parse(role), hash};
		e = admin_staff_create(db_thread(), ctx->staff_id, ctx->reason, &in, &out);
	}
	sodium_memzero(hash, sizeof hash);
	if (e != ERR_OK)
		http_reply_problem(req, e, e == ERR_EMAIL_TAKEN ? "A staff member has this email" : NULL);
	else
		reply_staff(req, 201, &out);
}

/* GET /admin/v1/staff */
static void staff_list(struct http_req *req, const struct admin_ctx *ctx)
{
	int64_t limit;
	const char *after;
	json_t *rows = NULL;
	bool more = false;
	(void)ctx;
	if (!http_page_params_or_reply(req, &limit, &after))
		return;
	enum err e = admin_staff_list(db_thread(), limit, after, &rows, &more);
	if (e != ERR_OK)
		http_reply_problem(req, e, e == ERR_INVALID_PARAMETER ? "starting_after is not a staff id" : NULL);
	else
		reply_list(req, rows, more);
}

/* POST /admin/v1/staff/{id}/disable */
static void staff_disable(struct http_req *req, const struct admin_ctx *ctx)
{
	struct admin_staff out = {0};
	enum err e = admin_staff_disable(db_thread(), ctx->staff_id, ctx->reason, http_param(req, "id"), &out);
	if (e == ERR_INVALID_STATE)
		http_reply_problem(req, e, "You cannot disable yourself or the last active admin");
	else if (e != ERR_OK)
		http_reply_problem(req, e, e == ERR_NOT_FOUND ? "No staff member has this id" : NULL);
	else
		reply_staff(req, 200, &out);
}

/* PATCH /admin/v1/staff/{id} {role} */
static void staff_update(struct http_req *req, const struct admin_ctx *ctx)
{
	static const char *const allowed[] = {"role", NULL};
	struct jv v;
	const char *role = NULL;
	struct admin_staff out = {0};
	jv_init(&v, http_json(req));
	jv_reject_unknown(&v, allowed);
	jv_enum(&v, "role", JV_REQUIRED, role_choices, &role);
	if (!http_valid_or_reply(req, &v))
		return;
	enum err e = admin_staff_set_role(db_thread(), ctx->staff_id, ctx->reason, http_param(req, "id"),
					  admin_role_parse(role), &out);
	if (e == ERR_INVALID_STATE)
		http_reply_problem(req, e, "That would leave Hearth without an active admin");
	else if (e != ERR_OK)
		http_reply_problem(req, e, e == ERR_NOT_FOUND ? "No staff member has this id" : NULL);
	else
		reply_staff(req, 200, &out);
}

/* ---- audit ---- */

/* GET /admin/v1/audit?target=&staff=&since=&limit=&starting_after= */
static void audit_list(struct http_req *req, const struct admin_ctx *ctx)
{
	struct admin_audit_filter f = {http_query(req, "target"), http_query(req, "staff"), 0, 0, 20};
	const char *after = NULL, *since = http_query(req, "since");
	json_t *rows = NULL;
	bool more = false;
	(void)ctx;
	if (!http_page_params_or_reply(req, &f.limit, &after))
		return;
	if (after && (!parse_count(after, INT64_MAX, &f.before_id) || f.before_id == 0)) {
		http_reply_problem(req, ERR_INVALID_PARAMETER, "starting_after must be an audit row id");
		return;
	}
	if (since && clock_parse(since, &f.since) != ERR_OK) {
		http_reply_problem(req, ERR_INVALID_PARAMETER, "since must be an RFC 3339 time");
		return;
	}
	if ((f.target_id && !*f.target_id) || (f.staff_id && !*f.staff_id)) {
		http_reply_problem(req, ERR_INVALID_PARAMETER, "target and staff must not be empty");
		return;
	}
	enum err e = admin_audit_list(db_thread(), &f, &rows, &more);
	if (e != ERR_OK)
		http_reply_problem(req, e, NULL);
	else
		reply_list(req, rows, more);
}

/* ---- events ---- */

/* GET /admin/v1/events?after=&type=&limit= */
static void events_feed(struct http_req *req, const struct admin_ctx *ctx)
{
	int64_t after = 0, limit = EVENTS_LIMIT_DEFAULT, next = 0;
	const char *a = http_query(req, "after"), *l = http_query(req, "limit");
	const char *type = http_query(req, "type");
	json_t *rows = NULL;
	(void)ctx;
	if (a && !parse_count(a, INT64_MAX, &after)) {
		http_reply_problem(req, ERR_INVALID_PARAMETER, "after must be an event id (a whole number)");
		return;
	}
	if (l && (!parse_count(l, EVENTS_LIMIT_MAX, &limit) || limit == 0)) {
		http_reply_problem(req, ERR_INVALID_PARAMETER, "limit must be a whole number from 1 to 1000");
		return;
	}
	if (type && (!*type || strlen(type) > 100)) {
		http_reply_problem(req, ERR_INVALID_PARAMETER, "type must be 1 to 100 characters");
		return;
	}
	enum err e = events_list(db_thread(), after, type, limit, &rows, &next);
	if (e != ERR_OK) {
		http_reply_problem(req, e, NULL);
		return;
	}
	bool more = (int64_t)json_array_size(rows) == limit;
	http_reply_json(req, 200, json_pack("{s:o, s:I, s:b}", "data", rows, "next_after",
					    (json_int_t)next, "has_more", more));
}

/* ---- notifications ---- */

/* GET /admin/v1/notifications?to=ADDRESS */
static void notifications_list(struct http_req *req, const struct admin_ctx *ctx)
{
	int64_t limit;
	const char *after, *to = http_query(req, "to");
	json_t *rows = NULL;
	bool more = false;
	(void)ctx;
	if (!http_page_params_or_reply(req, &limit, &after))
		return;
	if (!to || !*to || strlen(to) > 320) {
		http_reply_problem(req, ERR_INVALID_PARAMETER, "to must be the email address or phone number");
		return;
	}
	enum err e = notify_list_to(db_thread(), to, limit, after, &rows, &more);
	if (e != ERR_OK)
		http_reply_problem(req, e,
				   e == ERR_INVALID_PARAMETER ? "starting_after is not a notification to this address" : NULL);
	else
		reply_list(req, rows, more);
}

struct resend_tx {
	const struct admin_ctx *ctx;
	const char *id;
	char new_id[IDS_MAX];
};

static enum err resend_fn(struct db *db, void *arg)
{
	struct resend_tx *r = arg;
	enum err e = notify_resend(db, r->id, r->new_id);
	if (e == ERR_OK)
		e = admin_audit(db, r->ctx->staff_id, "notification.resend", "notification", r->id,
				r->ctx->reason, NULL, json_pack("{s:s}", "new_notification_id", r->new_id));
	return e;
}

/* POST /admin/v1/notifications/{id}/resend */
static void notification_resend(struct http_req *req, const struct admin_ctx *ctx)
{
	struct resend_tx r = {ctx, http_param(req, "id"), ""};
	enum err e = db_transaction(db_thread(), resend_fn, &r);
	if (e == ERR_NOT_FOUND)
		http_reply_problem(req, e, "No notification has this id");
	else if (e == ERR_INVALID_STATE)
		http_reply_problem(req, e, "The recipient was erased; there is nobody to send it to");
	else if (e != ERR_OK)
		http_reply_problem(req, e, NULL);
	else
		http_reply_json(req, 201, json_pack("{s:s, s:s}", "id", r.new_id, "resent_from", r.id));
}

/* ---- the role table ---- */

/* GET /admin/v1/roles */
static void roles(struct http_req *req, const struct admin_ctx *ctx)
{
	json_t *routes = json_array(), *names = json_array();
	(void)ctx;
	for (int r = ADMIN_ROLE_AGENT; r <= ADMIN_ROLE_ADMIN; r++)
		json_array_append_new(names, json_pack("{s:s, s:i}", "name", admin_role_name(r), "rank", r));
	for (size_t i = 0; i < admin_route_count(); i++) {
		const struct admin_route_info *ri = admin_route_at(i);
		json_array_append_new(routes, json_pack("{s:s, s:s, s:s, s:b}", "method", ri->method, "path",
							ri->pattern, "role", admin_role_name(ri->min_role),
							"change", ri->kind == ADMIN_CHANGE));
	}
	http_reply_json(req, 200, json_pack("{s:o, s:o}", "roles", names, "routes", routes));
}

void admin_http_register(void)
{
	auth_set_staff_resolver(admin_resolve_staff);
	admin_route("POST", "/admin/v1/sessions", session_create,
		    HTTP_JSON_BODY | HTTP_OFFLOAD | HTTP_NO_STORE, ADMIN_ROLE_NONE, ADMIN_READ);
	admin_route("DELETE", "/admin/v1/sessions/current", session_delete, 0, ADMIN_ROLE_AGENT,
		    ADMIN_READ);
	admin_route("GET", "/admin/v1/me", me, 0, ADMIN_ROLE_AGENT, ADMIN_READ);
	admin_route("GET", "/admin/v1/roles", roles, 0, ADMIN_ROLE_AGENT, ADMIN_READ);
	admin_route("POST", "/admin/v1/staff", staff_create,
		    HTTP_JSON_BODY | HTTP_OFFLOAD | HTTP_IDEMPOTENT, ADMIN_ROLE_ADMIN, ADMIN_CHANGE);
	admin_route("GET", "/admin/v1/staff", staff_list, 0, ADMIN_ROLE_ADMIN, ADMIN_READ);
	admin_route("POST", "/admin/v1/staff/{id}/disable", staff_disable, 0, ADMIN_ROLE_ADMIN,
		    ADMIN_CHANGE);
	admin_route("PATCH", "/admin/v1/staff/{id}", staff_update, HTTP_JSON_BODY, ADMIN_ROLE_ADMIN,
		    ADMIN_CHANGE);
	admin_route("GET", "/admin/v1/audit", audit_list, 0, ADMIN_ROLE_AGENT, ADMIN_READ);
	admin_route("GET", "/admin/v1/events", events_feed, 0, ADMIN_ROLE_AGENT, ADMIN_READ);
	admin_route("GET", "/admin/v1/notifications", notifications_list, 0, ADMIN_ROLE_AGENT,
		    ADMIN_READ);
	admin_route("POST", "/admin/v1/notifications/{id}/resend", notification_resend, 0,
		    ADMIN_ROLE_AGENT, ADMIN_CHANGE);
	admin_accounts_http_register();
	admin_clients_http_register();
	admin_billing_sections_register();
}
