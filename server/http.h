/*
 * http.h - what an area's HTTP adapter sees of a request and its reply.
 *
 * Areas register handlers with http_route() and read the request through
 * the accessors below; they never see libmicrohttpd.  The server has already
 * applied the limits (body size, content type), parsed the JSON body of
 * routes that take one, resolved the client IP (trusted proxies) and, for
 * routes that need it, authenticated the bearer token before a handler runs.
 *
 * A handler replies exactly once, with one of the http_reply_*() functions;
 * a handler that returns without replying is a bug and is answered 500.
 * Every error reply is an RFC 9457 problem document with a stable `code`.
 */
#ifndef HEARTH_SERVER_HTTP_H
#define HEARTH_SERVER_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/errors.h"
#include "core/netaddr.h"

struct http_req;

typedef void (*http_handler)(struct http_req *req);

enum http_route_flags {
	HTTP_JSON_BODY = 1u << 0,	/* body must be a JSON object (415/400 otherwise) */
	HTTP_FORM_BODY = 1u << 1,	/* body is application/x-www-form-urlencoded */
	HTTP_AUTH_MEMBER = 1u << 2,	/* a member access token is required */
	HTTP_AUTH_STAFF = 1u << 3,	/* a staff token is required (see `role`) */
	HTTP_AUTH_OPTIONAL = 1u << 4,	/* a member token is read when present */
	HTTP_OFFLOAD = 1u << 5,		/* run on the bounded slow-work pool (password hashing) */
	HTTP_TEST_ONLY = 1u << 6,	/* exists only in test mode */
	HTTP_NO_STORE = 1u << 7,	/* reply with Cache-Control: no-store */
	HTTP_IDEMPOTENT = 1u << 8,	/* honour Idempotency-Key (POSTs that create or charge); with a
					 * key, the handler's writes stay uncommitted until its reply is
					 * stored with them (server/idempotency.c): reply on the
					 * handler's thread, and do nothing slow after the first write */
	HTTP_OAUTH_ERRORS = 1u << 9,	/* OAuth endpoints: the server's own 400/413/415 answers
					 * are OAuth error objects (see http_reply_oauth_error) */
};

/* What authentication found; kind is HTTP_PRINCIPAL_NONE without a token. */
enum http_principal { HTTP_PRINCIPAL_NONE, HTTP_PRINCIPAL_MEMBER, HTTP_PRINCIPAL_STAFF };

struct http_auth {
	enum http_principal kind;
	char subject[48];	/* account id (member) or staff id */
	char session_id[48];	/* the sign-in (member) */
	char device_id[48];	/* the device (member), may be empty */
	char token_id[48];	/* jti */
	int role;		/* staff role rank (admin area's numbering) */
	int64_t expires_at;
};

/* Register a route.  `pattern` is a path with `{name}` segments
 * ("/v1/profiles/{id}").  `role` is the minimum staff role rank for
 * HTTP_AUTH_STAFF routes (ignored otherwise).  Call before server_start();
 * registering the same method and pattern twice aborts (a bug). */
void http_route(const char *method, const char *pattern, http_handler fn, unsigned flags,
		int role);

/* The authenticator the server calls for authenticated routes.  It reads the
 * Authorization header and fills `auth`, or returns the error to answer
 * (ERR_UNAUTHENTICATED, ERR_INVALID_TOKEN, ERR_FORBIDDEN_ROLE...). */
typedef enum err (*http_authenticator)(struct http_req *req, unsigned flags, int role,
				       struct http_auth *auth);
void http_set_authenticator(http_authenticator fn);

/* Request accessors.  Strings are owned by the request and live until the
 * reply is sent. */
const char *http_method(const struct http_req *req);
const char *http_path(const struct http_req *req);
const char *http_route_pattern(const struct http_req *req);
const char *http_param(const struct http_req *req, const char *name);	/* path {name} */
const char *http_query(const struct http_req *req, const char *name);	/* ?name= */
const char *http_header(const struct http_req *req, const char *name);
const char *http_form(const struct http_req *req, const char *name);	/* form field */
const char *http_body(const struct http_req *req, size_t *len);
json_t *http_json(const struct http_req *req);	/* parsed body (borrowed) or NULL */
const char *http_request_id(const struct http_req *req);
const struct netaddr *http_client_addr(const struct http_req *req);
const char *http_client_ip(struct http_req *req);	/* formatted on first use */
const struct http_auth *http_auth(const struct http_req *req);
bool http_test_mode(void);

/* Replies.  `body` references are stolen. */
void http_reply_json(struct http_req *req, int status, json_t *body);
void http_reply_raw(struct http_req *req, int status, const char *content_type, const char *body,
		    size_t len);
void http_reply_empty(struct http_req *req, int status);

/* A problem document for `e` with `detail` (may be NULL: the title is used).
 * Internal errors (5xx) never show their detail to the client; it is logged. */
void http_reply_problem(struct http_req *req, enum err e, const char *detail);

/* 422 validation_failed with `errors` ([{field, code, message}], stolen). */
void http_reply_invalid(struct http_req *req, json_t *errors);

/* What nearly every handler does before its work (defined with the
 * replies, in server.c).  http_db_or_reply: the thread's database
 * connection, or NULL after replying 503 (ERR_DB).  http_valid_or_reply
 * ends the reading of a body through core/jsonv: `v` is released, and it
 * is false after replying 422 validation_failed with every field error.
 * http_valid_db_or_reply: both, NULL after replying. */
struct db;
struct jv;
struct db *http_db_or_reply(struct http_req *req);
bool http_valid_or_reply(struct http_req *req, struct jv *v);
struct db *http_valid_db_or_reply(struct http_req *req, struct jv *v);

/* A problem with extra members merged into the document (stolen). */
void http_reply_problem_ext(struct http_req *req, enum err e, const char *detail, json_t *extra);

/* An OAuth error response (RFC 6749 section 5.2): `status` with the JSON
 * object {"error": `error`, "error_description": `description`} as
 * application/json, and Cache-Control: no-store and Pragma: no-cache.  A
 * 401 carries WWW-Authenticate: Basic realm="hearth" unless the handler set
 * its own challenge.  The server uses it for the body errors (wrong content
 * type, malformed form, too large: 400 invalid_request) of HTTP_OAUTH_ERRORS
 * routes. */
void http_reply_oauth_error(struct http_req *req, int status, const char *error,
			    const char *description);
/* Reply later, from another thread, without holding a server thread while
 * waiting (the households area waits for a batched commit this way).  The
 * handler calls http_defer() before handing `req` on and returns without
 * replying; the connection is suspended.  Whoever holds `req` then replies
 * with one http_reply_*() call and calls http_deferred_done(), after which
 * `req` must not be touched.  Not for HTTP_IDEMPOTENT or HTTP_OFFLOAD routes. */
void http_defer(struct http_req *req);
void http_deferred_done(struct http_req *req);

/* Add a response header (copied).  Call before the reply. */
void http_add_header(struct http_req *req, const char *name, const char *value);

/* Forget the stored Idempotency-Key replies of principal `id` and every
 * stored reply whose body mentions `id` (an account id), so that a privacy
 * erasure leaves no copy of the member's data in the replay cache.  Runs on
 * `db` inside the caller's transaction. */
struct db;
enum err http_idempotency_forget(struct db *db, const char *id);

/* Parse ?limit= (default 20, 1..100) and ?starting_after=; on bad input
 * replies 400 and returns false. */
bool http_page_params_or_reply(struct http_req *req, int64_t *limit, const char **starting_after);

#endif
