/*
 * device_flow_http.c - the HTTP adapter of the device login flow: the OAuth
 * endpoints a TV talks to (RFC 8628 and RFC 6749: form bodies in, JSON and
 * OAuth error objects out) and the member API that approves a code.
 *
 * OAuth errors are {error, error_description} as application/json, never
 * problem documents, with Cache-Control: no-store and Pragma: no-cache on
 * every response of these endpoints.  Status 400, except invalid_client:
 * 401 with WWW-Authenticate: Basic realm="hearth" (RFC 6749 section 5.2
 * allows 401 for it and requires it when the client used the
 * Authorization header; one answer for both keeps clients simple).
 * Clients are public: they send client_id in the body, or in HTTP Basic
 * with an empty password, which some OAuth libraries do by default.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "accounts/accounts.h"
#include "auth/auth_int.h"
#include "core/clock.h"
#include "core/jsonv.h"
#include "server/http.h"

#define GRANT_DEVICE_CODE "urn:ietf:params:oauth:grant-type:device_code"
#define SCOPE "hearth"

/* ---- OAuth client identification ---- */

static void oauth_error(struct http_req *req, int status, const char *error, const char *desc)
{
	http_reply_oauth_error(req, status, error, desc);
}

/* The client_id of HTTP Basic credentials "client_id:" (empty password);
 * false with a reply when the header is unusable. */
static bool basic_client_or_reply(struct http_req *req, const char *h, char *out, size_t cap)
{
	unsigned char raw[256];
	size_t len = 0;
	bool basic = strncasecmp(h, "Basic ", 6) == 0;
	const char *p = basic ? h + 6 : "";
	while (*p == ' ')
		p++;
	if (!basic || sodium_base642bin(raw, sizeof raw - 1, p, strlen(p), NULL, &len, NULL,
					sodium_base64_VARIANT_ORIGINAL) != 0) {
		oauth_error(req, 401, "invalid_client",
			    "Only HTTP Basic with the client_id and an empty password is understood");
		return false;
	}
	raw[len] = '\0';
	unsigned char *colon = memchr(raw, ':', len);
	if (!colon || colon[1] != '\0') {
		oauth_error(req, 401, "invalid_client", "Clients here are public: send no client secret");
		return false;
	}
	*colon = '\0';
	snprintf(out, cap, "%s", (const char *)raw);
	return true;
}

/* Identify the client and check it may use `grant`: false after replying.
 * `required`: the request must name a client (device flow); otherwise a
 * request without one is allowed and *found is false. */
static bool client_or_reply(struct http_req *req, struct db *db, unsigned grant, bool required,
			    struct auth_oauth_client *cl, bool *found)
{
	char from_header[AUTH_CLIENT_ID_MAX * 2 + 2] = "";
	const char *h = http_header(req, "Authorization");
	const char *id = http_form(req, "client_id");
	*found = false;
	if (h && !basic_client_or_reply(req, h, from_header, sizeof from_header))
		return false;
	if (h) {
		if (id && strcmp(id, from_header) != 0) {
			oauth_error(req, 400, "invalid_request",
				    "client_id in the body differs from the Authorization header");
			return false;
		}
		id = from_header;
	}
	if (!id || !id[0]) {
		if (!required)
			return true;
		oauth_error(req, 400, "invalid_request", "client_id is required");
		return false;
	}
	enum err e = auth_oauth_client_get(db, id, cl);
	if (e == ERR_NOT_FOUND || (e == ERR_OK && !cl->active)) {
		oauth_error(req, 401, "invalid_client", "Unknown or disabled client");
		return false;
	}
	if (e != ERR_OK) {
		http_reply_problem(req, e, NULL);
		return false;
	}
	if (!(cl->grants & grant)) {
		oauth_error(req, 400, "unauthorized_client", "This client may not use this grant type");
		return false;
	}
	*found = true;
	return true;
}

/* scope is optional; when given, every space-separated value must be "hearth". */
static bool scope_ok(const char *s)
{
	if (!s)
		return true;
	bool any = false;
	const char *p = s;
	while (*p) {
		if (*p == ' ') {
			p++;
			continue;
		}
		size_t n = strcspn(p, " ");
		if (n != strlen(SCOPE) || memcmp(p, SCOPE, n) != 0)
			return false;
		any = true;
		p += n;
	}
	return any;
}

/* Optional device text: 1 to 64 characters of UTF-8 without control characters. */
static bool device_text_ok(const char *s)
{
	return !s || auth_text_ok(s, AUTH_DEVICE_TEXT_MAX);
}

/* ---- POST /oauth/device_authorization (RFC 8628 section 3.1) ---- */

/* An authorization waiting for its commit (the connection is suspended). */
struct pending_grant {
	struct http_req *req;
	struct auth_device_grant g;
	/* The answer, made on the request thread before the write was queued
	 * (grant_ready), for the user code it names: the writer thread only
	 * hands it over. */
	char *body;
	char body_user_code[AUTH_USER_CODE_LEN + 2];
};

/* True when `s` can stand in a JSON string as it is: printable ASCII
 * without a quote or a backslash. */
static bool json_plain(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p >= 0x7f || *p == '"' || *p == '\\')
			return false;
	return true;
}

/* The answer to an authorization, as jansson's JSON_COMPACT would write it.
 * The codes are plain by construction; the configured verification URI
 * nearly always is, and otherwise jansson escapes it.  Caller frees. */
static char *grant_json(const struct auth_device_grant *g)
{
	const char *uri = auth_settings.verification_uri;
	char complete[700];
	snprintf(complete, sizeof complete, "%s%cuser_code=%s", uri, strchr(uri, '?') ? '&' : '?',
		 g->user_code);
	if (json_plain(uri) && json_plain(g->device_code) && json_plain(g->user_code)) {
		size_t cap = strlen(complete) * 2 + strlen(g->device_code) + 256;
		char *text = malloc(cap);
		int n = text ? snprintf(text, cap,
					"{\"device_code\":\"%s\",\"user_code\":\"%s\",\"verification_uri\":\"%s\","
					"\"verification_uri_complete\":\"%s\",\"expires_in\":%lld,\"interval\":%lld}",
					g->device_code, g->user_code, uri, complete, (long long)g->expires_in,
					(long long)g->interval)
			     : -1;
		if (n > 0 && (size_t)n < cap)
			return text;
		free(text);
		return NULL;
	}
	json_t *doc = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "device_code", g->device_code, "user_code",
				g->user_code, "verification_uri", uri, "verification_uri_complete", complete,
				"expires_in", (json_int_t)g->expires_in, "interval", (json_int_t)g->interval);
	char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	return text;
}

static void grant_ready(void *arg, const struct auth_device_grant *g)
{
	struct pending_grant *p = arg;
	p->body = grant_json(g);
	snprintf(p->body_user_code, sizeof p->body_user_code, "%s", g->user_code);
}

static void grant_committed(void *arg, enum err e)
{
	struct pending_grant *p = arg;
	struct http_req *req = p->req;
	if (e != ERR_OK) {
		http_reply_problem(req, e, NULL);
	} else {
		/* A taken user code was replaced in the transaction: answer anew. */
		if (p->body && strcmp(p->body_user_code, p->g.user_code) != 0) {
			sodium_memzero(p->body, strlen(p->body));
			free(p->body);
			p->body = NULL;
		}
		if (!p->body)
			p->body = grant_json(&p->g);
		if (p->body)
			http_reply_raw(req, 200, "application/json", p->body, strlen(p->body));
		else
			http_reply_problem(req, ERR_NOMEM, NULL);
	}
	if (p->body) {
		sodium_memzero(p->body, strlen(p->body));
		free(p->body);
	}
	sodium_memzero(&p->g, sizeof p->g);
	free(p);
	http_deferred_done(req);
}

static void device_authorization(struct http_req *req)
{
	struct auth_oauth_client cl;
	bool found = false;
	struct db *db = db_thread();
	if (!db) {
		http_reply_problem(req, ERR_DB, NULL);
		return;
	}
	if (!client_or_reply(req, db, AUTH_GRANT_DEVICE_CODE, true, &cl, &found))
		return;
	const char *scope = http_form(req, "scope");
	if (!scope_ok(scope)) {
		oauth_error(req, 400, "invalid_scope", "The only scope is \"hearth\"");
		return;
	}
	const char *name = http_form(req, "device_name");
	const char *model = http_form(req, "device_model");
	const char *ref = http_form(req, "device_id");
	if (!device_text_ok(name) || !device_text_ok(model) || !device_text_ok(ref)) {
		oauth_error(req, 400, "invalid_request",
			    "device_name, device_model and device_id are 1 to 64 characters without control characters");
		return;
	}
	struct pending_grant *p = calloc(1, sizeof *p);
	if (!p) {
		http_reply_problem(req, ERR_NOMEM, NULL);
		return;
	}
	p->req = req;
	struct auth_device_request in = {cl.id, SCOPE, name, model, ref, http_client_addr(req)};
	/* Suspend first: the writer may answer before this function returns. */
	http_defer(req);
	bool pending = false;
	enum err e = auth_device_authorize_async(db, &in, &p->g, grant_ready, grant_committed, p, &pending);
	if (!pending)
		grant_committed(p, e);
}

/* ---- POST /oauth/token ---- */

static void reply_tokens(struct http_req *req, struct auth_tokens *t)
{
	http_reply_json(req, 200,
			json_pack("{s:s, s:s, s:I, s:s, s:s}", "access_token", t->access_token,
				  "token_type", "Bearer", "expires_in", (json_int_t)t->expires_in,
				  "refresh_token", t->refresh_token, "scope", SCOPE));
	sodium_memzero(t, sizeof *t);
}

/* The answer to a poll; `t` holds the tokens of AUTH_POLL_TOKENS (NULL otherwise). */
static void reply_poll(struct http_req *req, enum auth_poll result, struct auth_tokens *t)
{
	switch (result) {
	case AUTH_POLL_TOKENS:
		if (!t) /* only the exchange has tokens to give */
			break;
		reply_tokens(req, t);
		return;
	case AUTH_POLL_PENDING:
		oauth_error(req, 400, "authorization_pending", "The member has not approved the code yet");
		return;
	case AUTH_POLL_SLOW_DOWN:
		oauth_error(req, 400, "slow_down",
			    "Polled sooner than the interval; wait 5 seconds longer from now on");
		return;
	case AUTH_POLL_DENIED:
		oauth_error(req, 400, "access_denied", "The member denied the request, or the code was locked");
		return;
	case AUTH_POLL_EXPIRED:
		oauth_error(req, 400, "expired_token", "The device code expired; start again");
		return;
	case AUTH_POLL_INVALID:
		break;
	}
	oauth_error(req, 400, "invalid_grant", "The device code is unknown, already used or not this client's");
}

/* A token request waiting for its commit (the connection is suspended). */
struct pending_tokens {
	struct http_req *req;
	enum auth_poll result;	/* the device_code grant's answer */
	struct auth_tokens t;
};

/* A pending_tokens for `req`, whose connection is then suspended (the
 * writer may answer before the handler returns); NULL after replying. */
static struct pending_tokens *defer_tokens_or_reply(struct http_req *req)
{
	struct pending_tokens *p = calloc(1, sizeof *p);
	if (!p) {
		http_reply_problem(req, ERR_NOMEM, NULL);
		return NULL;
	}
	p->req = req;
	http_defer(req);
	return p;
}

static void exchange_committed(void *arg, enum err e)
{
	struct pending_tokens *p = arg;
	struct http_req *req = p->req;
	if (e != ERR_OK)
		http_reply_problem(req, e, NULL);
	else
		reply_poll(req, p->result, &p->t);
	sodium_memzero(&p->t, sizeof p->t);
	free(p);
	http_deferred_done(req);
}

static void token_device_code(struct http_req *req, struct db *db)
{
	struct auth_oauth_client cl;
	bool found = false;
	enum auth_poll result = AUTH_POLL_INVALID;
	if (!client_or_reply(req, db, AUTH_GRANT_DEVICE_CODE, true, &cl, &found))
		return;
	const char *code = http_form(req, "device_code");
	if (!code || !code[0]) {
		oauth_error(req, 400, "invalid_request", "device_code is required");
		return;
	}
	/* Every answer but the exchange of an approved code is a read. */
	enum err e = auth_device_poll_check(db, cl.id, code, &result);
	if (e != ERR_OK) {
		http_reply_problem(req, e, NULL);
		return;
	}
	if (result != AUTH_POLL_TOKENS) {
		reply_poll(req, result, NULL);
		return;
	}
	struct pending_tokens *p = defer_tokens_or_reply(req);
	if (!p)
		return;
	bool pending = false;
	e = auth_device_exchange_async(db, cl.id, code, http_client_addr(req), &p->result, &p->t,
				       exchange_committed, p, &pending);
	if (!pending)
		exchange_committed(p, e);
}

static void refresh_committed(void *arg, enum err e)
{
	struct pending_tokens *p = arg;
	struct http_req *req = p->req;
	if (e == ERR_REFRESH_TOKEN_INVALID)
		oauth_error(req, 400, "invalid_grant",
			    "The refresh token is unknown, expired, already used, its sign-in ended,"
			    " or it was issued to another client");
	else if (e == ERR_REFRESH_TOKEN_REUSED)
		oauth_error(req, 400, "invalid_grant",
			    "This refresh token was already exchanged; the sign-in was revoked");
	else if (e != ERR_OK)
		http_reply_problem(req, e, NULL);
	else
		reply_tokens(req, &p->t);
	sodium_memzero(&p->t, sizeof p->t);
	free(p);
	http_deferred_done(req);
}

static void token_refresh(struct http_req *req, struct db *db)
{
	struct auth_oauth_client cl;
	bool found = false;
	if (!client_or_reply(req, db, AUTH_GRANT_REFRESH_TOKEN, false, &cl, &found))
		return;
	const char *refresh = http_form(req, "refresh_token");
	if (!refresh || !refresh[0]) {
		oauth_error(req, 400, "invalid_request", "refresh_token is required");
		return;
	}
	const char *scope = http_form(req, "scope");
	if (!scope_ok(scope)) {
		oauth_error(req, 400, "invalid_scope", "The only scope is \"hearth\"");
		return;
	}
	struct pending_tokens *p = defer_tokens_or_reply(req);
	if (!p)
		return;
	bool pending = false;
	enum err e = auth_refresh_async(db, refresh, found ? cl.id : NULL, http_client_addr(req), &p->t,
					refresh_committed, p, &pending);
	if (!pending)
		refresh_committed(p, e);
}

static void token(struct http_req *req)
{
	struct db *db = db_thread();
	if (!db) {
		http_reply_problem(req, ERR_DB, NULL);
		return;
	}
	const char *grant = http_form(req, "grant_type");
	if (!grant || !grant[0])
		oauth_error(req, 400, "invalid_request", "grant_type is required");
	else if (strcmp(grant, GRANT_DEVICE_CODE) == 0)
		token_device_code(req, db);
	else if (strcmp(grant, "refresh_token") == 0)
		token_refresh(req, db);
	else
		oauth_error(req, 400, "unsupported_grant_type",
			    "grant_type is " GRANT_DEVICE_CODE " or refresh_token");
}

/* ---- the member API: /v1/device-codes/{user_code} ---- */

static json_t *opt_str(const char *s) { return s && s[0] ? json_string(s) : json_null(); }

static json_t *pending_json(const struct auth_device_pending *p, const char *status)
{
	return json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:o, s:o, s:o}, s:o, s:o, s:o}", "user_code",
			 p->user_code, "status", status, "client", "id", p->client_id, "name",
			 p->client_name, "device", "type", p->device_type, "name",
			 opt_str(p->device_name), "model", opt_str(p->device_model), "device_id",
			 opt_str(p->device_ref), "network", opt_str(p->network), "requested_at",
			 clock_json(p->requested_at), "expires_at", clock_json(p->expires_at));
}

void auth_reply_user_code_throttled(struct http_req *req, int64_t retry_after)
{
	char secs[24];
	if (retry_after < 1)
		retry_after = 1;
	snprintf(secs, sizeof secs, "%lld", (long long)retry_after);
	http_add_header(req, "Retry-After", secs);
	http_reply_problem_ext(req, ERR_TOO_MANY_ATTEMPTS, "Too many wrong codes; wait before trying again",
			       json_pack("{s:I}", "retry_after", (json_int_t)retry_after));
}

/* Throttle gate before a code is looked at: false after replying. */
static bool may_try_code_or_reply(struct http_req *req, struct db *db)
{
	int64_t retry_after = 0;
	enum err e = auth_user_code_throttle_check(db, http_auth(req)->subject, http_client_addr(req),
						   &retry_after);
	if (e == ERR_TOO_MANY_ATTEMPTS) {
		auth_reply_user_code_throttled(req, retry_after);
		return false;
	}
	if (e != ERR_OK) {
		http_reply_problem(req, e, NULL);
		return false;
	}
	return true;
}

/* A code that matched nothing: count it, then answer 404. */
static void reply_unknown_code(struct http_req *req, struct db *db)
{
	enum err e = auth_user_code_throttle_fail(db, http_auth(req)->subject, http_client_addr(req));
	if (e != ERR_OK) {
		http_reply_problem(req, e, NULL);
		return;
	}
	http_reply_problem(req, ERR_USER_CODE_INVALID,
			   "No pending request has this code: it is mistyped, expired, used or locked");
}

static void device_code_get(struct http_req *req)
{
	struct auth_device_pending p;
	struct db *db = db_thread();
	if (!db) {
		http_reply_problem(req, ERR_DB, NULL);
		return;
	}
	if (!may_try_code_or_reply(req, db))
		return;
	enum err e = auth_device_pending_get(db, http_param(req, "user_code"), &p);
	if (e == ERR_NOT_FOUND)
		reply_unknown_code(req, db);
	else if (e != ERR_OK)
		http_reply_problem(req, e, NULL);
	else
		http_reply_json(req, 200, pending_json(&p, "pending"));
}

static void decide(struct http_req *req, bool approve)
{
	struct auth_device_pending p;
	const char *profile = NULL;
	struct db *db = db_thread();
	if (!db) {
		http_reply_problem(req, ERR_DB, NULL);
		return;
	}
	if (approve) {
		static const char *const allowed[] = {"profile_id", NULL};
		struct jv v;
		jv_init(&v, http_json(req));
		jv_reject_unknown(&v, allowed);
		if (jv_string(&v, "profile_id", JV_OPTIONAL, 1, IDS_MAX, &profile) &&
		    (!ids_valid("prf_", profile) ||
		     acct_profile_check(db, http_auth(req)->subject, profile) != ERR_OK))
			jv_error(&v, "profile_id", "not_found", "Must be one of your profiles");
		if (!http_valid_or_reply(req, &v))
			return;
	}
	if (!may_try_code_or_reply(req, db))
		return;
	enum err e = auth_device_decide(db, http_param(req, "user_code"), http_auth(req)->subject, profile,
					approve, &p);
	if (e == ERR_NOT_FOUND)
		reply_unknown_code(req, db);
	else if (e != ERR_OK)
		http_reply_problem(req, e, NULL);
	else
		http_reply_json(req, 200, pending_json(&p, approve ? "approved" : "denied"));
}

static void device_code_approve(struct http_req *req) { decide(req, true); }
static void device_code_deny(struct http_req *req) { decide(req, false); }

void auth_device_flow_http_register(void)
{
	unsigned oauth = HTTP_FORM_BODY | HTTP_NO_STORE | HTTP_OAUTH_ERRORS;
	http_route("POST", "/oauth/device_authorization", device_authorization, oauth, 0);
	http_route("POST", "/oauth/token", token, oauth, 0);
	http_route("GET", "/v1/device-codes/{user_code}", device_code_get, HTTP_AUTH_MEMBER | HTTP_NO_STORE, 0);
	http_route("POST", "/v1/device-codes/{user_code}/approve", device_code_approve,
		   HTTP_AUTH_MEMBER | HTTP_JSON_BODY | HTTP_NO_STORE, 0);
	http_route("POST", "/v1/device-codes/{user_code}/deny", device_code_deny,
		   HTTP_AUTH_MEMBER | HTTP_NO_STORE, 0);
	auth_device_page_register();
	auth_devices_http_register();
}
