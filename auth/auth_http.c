/*
 * auth_http.c - the auth area's HTTP adapter: the authenticator every
 * protected route goes through, token refresh, the sign-ins of the member,
 * and the published public keys.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/auth_int.h"
#include "core/clock.h"
#include "core/jsonv.h"
#include "core/log.h"
#include "server/http.h"
#include "server/server.h"

#define REFRESH_FIELD_MAX 1024 /* room for a mistaken access token: it gets 401, not 422 */

static auth_staff_resolver staff_resolver;

void auth_set_staff_resolver(auth_staff_resolver fn) { staff_resolver = fn; }

static auth_request_observer request_observer;

void auth_set_request_observer(auth_request_observer fn) { request_observer = fn; }

/* ---- authentication ---- */

/* Copy an id claim (at most cap - 1 bytes kept): four per request, so
 * not through snprintf. */
static void copy_id(char *dst, size_t cap, const char *src)
{
	size_t n = src ? strnlen(src, cap - 1) : 0;
	if (n)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

static enum err authenticate(struct http_req *req, unsigned flags, int role, struct http_auth *auth)
{
	struct auth_claims c;
	memset(auth, 0, sizeof *auth);
	const char *h = http_header(req, "Authorization");
	/* No credentials, or credentials of another scheme: not authenticated
	 * (optional routes then go on anonymously).  A Bearer credential that
	 * does not verify is always an error. */
	if (!h || strncasecmp(h, "Bearer", 6) != 0 || (h[6] != ' ' && h[6] != '\0'))
		return ERR_UNAUTHENTICATED;
	const char *token = h + 6;
	while (*token == ' ')
		token++;
	bool staff = (flags & HTTP_AUTH_STAFF) != 0;
	enum err e = auth_token_verify(token, strlen(token), staff ? AUTH_AUD_STAFF : AUTH_AUD_MEMBER, &c);
	if (e != ERR_OK)
		return e == ERR_NOMEM ? e : ERR_INVALID_TOKEN;
	struct db *db = db_thread();
	if (!db)
		return ERR_DB;
	if (staff) {
		int rank = 0;
		if (!staff_resolver)
			return ERR_INVALID_TOKEN;
		e = staff_resolver(db, c.sub, c.sid, &rank);
		if (e != ERR_OK)
			return e;
		if (rank < role)
			return ERR_FORBIDDEN_ROLE;
		auth->kind = HTTP_PRINCIPAL_STAFF;
		auth->role = rank;
	} else {
		e = auth_session_check(db, c.sub, c.sid, http_client_addr(req));
		if (e != ERR_OK)
			return e;
		auth->kind = HTTP_PRINCIPAL_MEMBER;
	}
	copy_id(auth->subject, sizeof auth->subject, c.sub);
	copy_id(auth->session_id, sizeof auth->session_id, c.sid);
	copy_id(auth->device_id, sizeof auth->device_id, c.dev);
	copy_id(auth->token_id, sizeof auth->token_id, c.jti);
	auth->expires_at = c.exp;
	if (request_observer && auth->kind == HTTP_PRINCIPAL_MEMBER && auth->device_id[0])
		request_observer(auth->subject, auth->device_id, http_client_addr(req));
	return ERR_OK;
}

/* ---- POST /v1/tokens/refresh ---- */

/* A refresh waiting for its commit: every device refreshes every few
 * minutes, the busiest write there is, so it goes through the group-commit
 * writer (core/batch.h) on a suspended connection, as /oauth/token's
 * refresh grant does, and no server thread waits for the disk. */
struct pending_refresh {
	struct http_req *req;
	struct auth_tokens t;
};

static void refresh_committed(void *arg, enum err e)
{
	struct pending_refresh *p = arg;
	struct http_req *req = p->req;
	if (e == ERR_REFRESH_TOKEN_INVALID)
		http_reply_problem(req, e, "The refresh token is unknown, expired, already used or its sign-in ended");
	else if (e == ERR_REFRESH_TOKEN_REUSED)
		http_reply_problem(req, e, "This refresh token was already exchanged; the sign-in was revoked. Sign in again");
	else if (e != ERR_OK)
		http_reply_problem(req, e, NULL);
	else
		http_reply_json(req, 200,
				json_pack("{s:s, s:s, s:s, s:I}", "access_token", p->t.access_token,
					  "refresh_token", p->t.refresh_token, "token_type", "Bearer",
					  "expires_in", (json_int_t)p->t.expires_in));
	sodium_memzero(&p->t, sizeof p->t);
	free(p);
	http_deferred_done(req);
}

static void tokens_refresh(struct http_req *req)
{
	static const char *const allowed[] = {"refresh_token", NULL};
	struct jv v;
	const char *refresh = NULL;
	jv_init(&v, http_json(req));
	jv_reject_unknown(&v, allowed);
	jv_string(&v, "refresh_token", JV_REQUIRED, 1, REFRESH_FIELD_MAX, &refresh);
	if (!http_valid_or_reply(req, &v))
		return;
	struct db *db = db_thread();
	struct pending_refresh *p = db ? calloc(1, sizeof *p) : NULL;
	if (!p) {
		http_reply_problem(req, db ? ERR_NOMEM : ERR_DB, NULL);
		return;
	}
	p->req = req;
	http_defer(req); /* the writer may answer before this returns */
	bool pending = false;
	enum err e = auth_refresh_async(db, refresh, NULL, http_client_addr(req), &p->t, refresh_committed, p,
					&pending);
	if (!pending)
		refresh_committed(p, e);
}

/* ---- sign-ins ---- */

static json_t *session_json(const struct auth_session_row *r, const char *current_sid)
{
	json_t *device = json_null();
	if (r->device_id[0])
		device = json_pack("{s:s, s:s, s:s, s:o}", "id", r->device_id, "name", r->device_name,
				   "type", r->device_type, "model",
				   r->device_model[0] ? json_string(r->device_model) : json_null());
	return json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:b}", "id", r->id, "device", device,
			 "created_at", clock_json(r->created_at), "last_used_at",
			 clock_json(r->last_used_at), "expires_at", clock_json(r->expires_at),
			 "last_network", r->last_network[0] ? json_string(r->last_network) : json_null(),
			 "current", strcmp(r->id, current_sid) == 0);
}

void auth_reply_member_page(struct http_req *req, auth_page_fill fill, const char *foreign_cursor)
{
	int64_t limit = 0;
	const char *after = NULL;
	bool has_more = false;
	if (!http_page_params_or_reply(req, &limit, &after))
		return;
	struct db *db = db_thread();
	json_t *data = json_array();
	enum err e = db ? fill(db, http_auth(req), limit, after, data, &has_more) : ERR_DB;
	if (e != ERR_OK) {
		json_decref(data);
		http_reply_problem(req, e, e == ERR_INVALID_PARAMETER ? foreign_cursor : NULL);
		return;
	}
	http_reply_json(req, 200, json_pack("{s:o, s:b}", "data", data, "has_more", has_more));
}

static enum err sessions_page(struct db *db, const struct http_auth *a, int64_t limit,
			      const char *after, json_t *data, bool *has_more)
{
	struct auth_session_row *rows = NULL;
	size_t n = 0;
	enum err e = auth_sessions_list(db, a->subject, limit, after, &rows, &n, has_more);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(data, session_json(&rows[i], a->session_id));
	free(rows);
	return e;
}

static void sessions_list(struct http_req *req)
{
	auth_reply_member_page(req, sessions_page, "starting_after is not one of your sign-ins");
}

static void revoke_one_or_reply(struct http_req *req, const char *session_id)
{
	const struct http_auth *a = http_auth(req);
	struct db *db = db_thread();
	enum err e = db ? auth_session_revoke(db, a->subject, session_id, "sign_out") : ERR_DB;
	if (e == ERR_NOT_FOUND) {
		http_reply_problem(req, e, "You have no live sign-in with this id");
		return;
	}
	if (e != ERR_OK) {
		http_reply_problem(req, e, NULL);
		return;
	}
	http_reply_empty(req, 204);
}

static void sessions_delete_current(struct http_req *req)
{
	revoke_one_or_reply(req, http_auth(req)->session_id);
}

static void sessions_delete(struct http_req *req) { revoke_one_or_reply(req, http_param(req, "id")); }

static void sessions_revoke_all(struct http_req *req)
{
	const struct http_auth *a = http_auth(req);
	int64_t n = 0;
	struct db *db = db_thread();
	enum err e = db ? auth_sessions_revoke_all(db, a->subject, "revoke_all", &n) : ERR_DB;
	if (e != ERR_OK) {
		http_reply_problem(req, e, NULL);
		return;
	}
	http_reply_json(req, 200, json_pack("{s:I}", "revoked", (json_int_t)n));
}

/* ---- GET /.well-known/paseto-keys ---- */

static void well_known_keys(struct http_req *req)
{
	http_add_header(req, "Cache-Control", "public, max-age=300");
	http_reply_json(req, 200, json_pack("{s:o}", "keys", auth_keyset_public_json()));
}

/* When the test clock moves, look at the key file at once, so tests see a
 * rotation without waiting for the once-a-second check, and write the
 * recorded last uses, so tests see them without waiting for the writer. */
static void on_clock_moved(void)
{
	auth_keyset_check_reload(true);
	struct db *db = db_thread();
	if (db)
		auth_last_use_flush(db, NULL);
}

void auth_http_register(void)
{
	http_set_authenticator(authenticate);
	server_on_clock_moved(on_clock_moved);
	http_route("POST", "/v1/tokens/refresh", tokens_refresh, HTTP_JSON_BODY | HTTP_NO_STORE, 0);
	http_route("GET", "/v1/sessions", sessions_list, HTTP_AUTH_MEMBER | HTTP_NO_STORE, 0);
	/* Before /v1/sessions/{id}: the router takes the first match. */
	http_route("DELETE", "/v1/sessions/current", sessions_delete_current, HTTP_AUTH_MEMBER, 0);
	http_route("POST", "/v1/sessions/revoke-all", sessions_revoke_all, HTTP_AUTH_MEMBER, 0);
	http_route("DELETE", "/v1/sessions/{id}", sessions_delete, HTTP_AUTH_MEMBER, 0);
	http_route("GET", "/.well-known/paseto-keys", well_known_keys, 0, 0);
	auth_device_flow_http_register();
}
