#include "server/server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/db.h"
#include "core/ids.h"
#include "core/jsonv.h"
#include "core/log.h"
#include "server/server_int.h"

#define MAX_PROXIES 32
#define MAX_HEADERS 12
#define MAX_FORM 16

struct header {
	char *name, *value;
	bool is_literal; /* name and value are string literals, not copies to free */
};

struct http_req {
	struct MHD_Connection *conn;
	struct server *srv;
	int64_t start_us;
	char method[16];
	char *path;
	char request_id[72];
	struct netaddr client;
	char client_ip[NETADDR_STRLEN];
	char reply_code[48];	/* the error's code (problem `code`, OAuth `error`) for the access log */
	/* body */
	char *body;
	size_t body_len, body_cap;
	int body_too_large;
	json_t *json;
	int nform;
	char *form_names[MAX_FORM], *form_values[MAX_FORM];
	/* routing */
	struct route_match match;
	const struct route *route;
	struct http_auth auth;
	/* reply */
	int replied;
	int status;
	char *resp_body;
	size_t resp_len;
	const char *content_type;
	int nheaders;
	struct header headers[MAX_HEADERS];
	/* offload */
	int offloaded;	      /* handed to the slow-work pool, or deferred */
	int deferred;	      /* the handler replies later (http_defer) */
	atomic_int offload_done;
	struct http_req *next_job;
};

struct server {
	struct MHD_Daemon *d;
	const struct config *cfg;
	struct cidr proxies[MAX_PROXIES];
	int nproxies;
	/* slow-work pool */
	pthread_t *workers;
	int nworkers;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct http_req *head, *tail;
	int stopping;
};

static http_authenticator authenticator;
static const struct config *global_cfg;
static server_clock_hook clock_hooks[8];
static int nclock_hooks;

void http_set_authenticator(http_authenticator fn) { authenticator = fn; }

void server_on_clock_moved(server_clock_hook fn)
{
	if (nclock_hooks < 8)
		clock_hooks[nclock_hooks++] = fn;
}

bool http_test_mode(void) { return global_cfg && global_cfg->test_mode; }

/* ---- request accessors ---- */

const char *http_method(const struct http_req *r) { return r->method; }
const char *http_path(const struct http_req *r) { return r->path; }
const char *http_route_pattern(const struct http_req *r)
{
	return r->route ? r->route->pattern : "";
}

const char *http_param(const struct http_req *r, const char *name)
{
	size_t n = strlen(name);
	for (int i = 0; i < r->match.nparams; i++)
		if (strncmp(r->match.names[i], name, n) == 0 && r->match.names[i][n] == '}')
			return r->match.values[i];
	return NULL;
}

const char *http_query(const struct http_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *http_header(const struct http_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *http_form(const struct http_req *r, const char *name)
{
	for (int i = 0; i < r->nform; i++)
		if (strcmp(r->form_names[i], name) == 0)
			return r->form_values[i];
	return NULL;
}

const char *http_body(const struct http_req *r, size_t *len)
{
	*len = r->body_len;
	return r->body ? r->body : "";
}

json_t *http_json(const struct http_req *r) { return r->json; }
const char *http_request_id(const struct http_req *r) { return r->request_id; }
const struct netaddr *http_client_addr(const struct http_req *r) { return &r->client; }
/* The text form is made on first use: most routes never ask for it, and
 * inet_ntop() on every request was a measurable share of /healthz. */
const char *http_client_ip(struct http_req *r)
{
	if (!r->client_ip[0])
		netaddr_format(&r->client, r->client_ip, sizeof r->client_ip);
	return r->client_ip;
}
const struct http_auth *http_auth(const struct http_req *r) { return &r->auth; }

/* ---- replies ---- */

static void set_reply(struct http_req *r, int status, const char *ctype, char *body, size_t len)
{
	if (r->replied) {
		log_error("http.double_reply", "route=%s", http_route_pattern(r));
		free(body);
		return;
	}
	r->replied = 1;
	r->status = status;
	r->content_type = ctype;
	r->resp_body = body;
	r->resp_len = len;
}

void http_reply_json(struct http_req *r, int status, json_t *body)
{
	char *text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (!text) {
		http_reply_problem(r, ERR_NOMEM, NULL);
		return;
	}
	set_reply(r, status, "application/json", text, strlen(text));
}

void http_reply_raw(struct http_req *r, int status, const char *ctype, const char *body, size_t len)
{
	char *copy = malloc(len + 1);
	if (!copy) {
		http_reply_problem(r, ERR_NOMEM, NULL);
		return;
	}
	memcpy(copy, body, len);
	copy[len] = '\0';
	set_reply(r, status, ctype, copy, len);
}

void http_reply_empty(struct http_req *r, int status) { set_reply(r, status, NULL, NULL, 0); }

/* True when the reply already carries header `name` (an area may set its
 * own challenge, e.g. an OAuth error). */
static bool has_reply_header(const struct http_req *r, const char *name)
{
	for (int i = 0; i < r->nheaders; i++)
		if (r->headers[i].name && strcasecmp(r->headers[i].name, name) == 0)
			return true;
	return false;
}

void http_reply_problem_ext(struct http_req *r, enum err e, const char *detail, json_t *extra)
{
	int status = err_status(e);
	char type[96];
	snprintf(type, sizeof type, "urn:hearth:problem:%s", err_code(e));
	if (status >= 500) {
		if (detail)
			log_error("http.internal_error", "error=%s detail=\"%s\"", err_name(e), detail);
		detail = "Something went wrong on our side. Retry later, and quote the request id if it persists.";
	}
	json_t *doc = json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:s}", "type", type, "title",
				err_title(e), "status", status, "detail", detail ? detail : err_title(e),
				"code", err_code(e), "instance", r->path ? r->path : "",
				"request_id", r->request_id);
	if (extra) {
		json_object_update(doc, extra);
		json_decref(extra);
	}
	char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	snprintf(r->reply_code, sizeof r->reply_code, "%s", err_code(e));
	if (!text) {
		static const char fallback[] = "{\"status\":500,\"code\":\"internal_error\"}";
		text = strdup(fallback);
		status = 500;
		snprintf(r->reply_code, sizeof r->reply_code, "%s", "internal_error");
	}
	if (status == 401 && !has_reply_header(r, "WWW-Authenticate"))
		http_add_header(r, "WWW-Authenticate", "Bearer");
	set_reply(r, status, "application/problem+json", text, text ? strlen(text) : 0);
}

void http_reply_problem(struct http_req *r, enum err e, const char *detail)
{
	http_reply_problem_ext(r, e, detail, NULL);
}

/* True when `s` goes into a JSON string as it is (no quote, backslash or
 * control character to escape). */
static bool json_plain(const char *s)
{
	for (; *s; s++)
		if (*s == '"' || *s == '\\' || (unsigned char)*s < 0x20)
			return false;
	return true;
}

void http_reply_oauth_error(struct http_req *r, int status, const char *error,
			    const char *description)
{
	const char *desc = description ? description : error;
	char *text = NULL;
	/* Every poll of a pending device code ends here: the handlers' own
	 * strings need no escaping, so format them without building a JSON
	 * tree (the same bytes as json_dumps, JSON_COMPACT). */
	if (json_plain(error) && json_plain(desc)) {
		size_t cap = strlen(error) + strlen(desc) + sizeof "{\"error\":\"\",\"error_description\":\"\"}";
		text = malloc(cap);
		if (text && snprintf(text, cap, "{\"error\":\"%s\",\"error_description\":\"%s\"}", error,
				     desc) >= (int)cap) {
			free(text);
			text = NULL;
		}
	} else {
		json_t *doc = json_pack("{s:s, s:s}", "error", error, "error_description", desc);
		text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
		json_decref(doc);
	}
	if (!text) {
		http_reply_problem(r, ERR_NOMEM, NULL);
		return;
	}
	if (!has_reply_header(r, "Cache-Control"))
		http_add_header(r, "Cache-Control", "no-store");
	if (!has_reply_header(r, "Pragma"))
		http_add_header(r, "Pragma", "no-cache");
	if (status == 401 && !has_reply_header(r, "WWW-Authenticate"))
		http_add_header(r, "WWW-Authenticate", "Basic realm=\"hearth\"");
	if (json_plain(error))
		snprintf(r->reply_code, sizeof r->reply_code, "%s", error);
	set_reply(r, status, "application/json", text, strlen(text));
}

/* The server's own answer to a bad body: a problem document, or on OAuth
 * endpoints an OAuth invalid_request (RFC 6749 section 5.2 says 400). */
static void reply_body_error(struct http_req *r, unsigned flags, enum err e, const char *detail)
{
	if (flags & HTTP_OAUTH_ERRORS)
		http_reply_oauth_error(r, 400, "invalid_request", detail);
	else
		http_reply_problem(r, e, detail);
}

void http_reply_invalid(struct http_req *r, json_t *errors)
{
	size_t n = json_array_size(errors);
	char detail[256];
	const char *first = n ? json_string_value(json_object_get(json_array_get(errors, 0), "field")) : "";
	const char *msg = n ? json_string_value(json_object_get(json_array_get(errors, 0), "message")) : "";
	if (n == 1)
		snprintf(detail, sizeof detail, "%s: %s", first && first[0] ? first : "body", msg ? msg : "");
	else
		snprintf(detail, sizeof detail, "%zu fields are invalid; see errors", n);
	http_reply_problem_ext(r, ERR_VALIDATION, detail, json_pack("{s:o}", "errors", errors));
}

struct db *http_db_or_reply(struct http_req *r)
{
	struct db *db = db_thread();
	if (!db)
		http_reply_problem(r, ERR_DB, "no database connection");
	return db;
}

bool http_valid_or_reply(struct http_req *r, struct jv *v)
{
	bool ok = jv_ok(v);
	if (!ok)
		http_reply_invalid(r, jv_take_errors(v));
	jv_release(v);
	return ok;
}

struct db *http_valid_db_or_reply(struct http_req *r, struct jv *v)
{
	return http_valid_or_reply(r, v) ? http_db_or_reply(r) : NULL;
}

void http_add_header(struct http_req *r, const char *name, const char *value)
{
	if (r->nheaders >= MAX_HEADERS)
		return;
	r->headers[r->nheaders].name = strdup(name);
	r->headers[r->nheaders].value = strdup(value);
	r->headers[r->nheaders].is_literal = false;
	r->nheaders++;
}

/* A header whose name and value are string literals: not copied (the
 * server's own headers on every HTTP_NO_STORE answer). */
static void add_literal_header(struct http_req *r, const char *name, const char *value)
{
	if (r->nheaders >= MAX_HEADERS)
		return;
	union {
		const char *c;
		char *v;
	} n = {name}, v = {value}; /* never written nor freed: is_literal */
	r->headers[r->nheaders].name = n.v;
	r->headers[r->nheaders].value = v.v;
	r->headers[r->nheaders].is_literal = true;
	r->nheaders++;
}

bool http_page_params_or_reply(struct http_req *r, int64_t *limit, const char **starting_after)
{
	const char *l = http_query(r, "limit");
	*limit = 20;
	*starting_after = http_query(r, "starting_after");
	if (l) {
		char *end = NULL;
		long long v = strtoll(l, &end, 10);
		if (!*l || *end || v < 1 || v > 100) {
			http_reply_problem(r, ERR_INVALID_PARAMETER, "limit must be a whole number from 1 to 100");
			return false;
		}
		*limit = v;
	}
	if (*starting_after && (!**starting_after || strlen(*starting_after) > 64)) {
		http_reply_problem(r, ERR_INVALID_PARAMETER, "starting_after must be an id");
		return false;
	}
	return true;
}

/* ---- request lifecycle ---- */

/* A new request id: "req_" and 26 base32 digits holding 128 random bits
 * (ids_new() alike, without its time prefix: a request id orders nothing).  ids_new() makes one getrandom(2) system call
 * per id (~0.35 us here, the largest single cost hearthd adds to a
 * /healthz request).  Here each thread keeps a 4 KiB pool: one fresh 256-bit
 * seed from the kernel, expanded with ChaCha20, serves 256 ids.  A request
 * id is a correlation handle sent to the client, not a secret. */
static void request_id_new(char out[static 4 + 26 + 1])
{
	static const char alphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";
	static _Thread_local unsigned char pool[4096];
	static _Thread_local size_t used = sizeof pool;
	if (used + 16 > sizeof pool) {
		unsigned char seed[randombytes_SEEDBYTES];
		randombytes_buf(seed, sizeof seed);
		randombytes_buf_deterministic(pool, sizeof pool, seed);
		sodium_memzero(seed, sizeof seed);
		used = 0;
	}
	const unsigned char *raw = pool + used;
	used += 16;
	memcpy(out, "req_", 4);
	unsigned acc = 0, bits = 0;
	size_t o = 4;
	for (size_t i = 0; i < 16; i++) {
		acc = (acc << 8) | raw[i];
		bits += 8;
		while (bits >= 5) {
			out[o++] = alphabet[(acc >> (bits - 5)) & 31];
			bits -= 5;
		}
	}
	out[o++] = alphabet[(acc << (5 - bits)) & 31];
	out[o] = '\0';
}

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void req_free(struct http_req *r)
{
	free(r->path);
	free(r->body);
	json_decref(r->json);
	form_release(r->form_names, r->form_values, &r->nform);
	route_match_release(&r->match);
	free(r->resp_body);
	for (int i = 0; i < r->nheaders; i++) {
		if (r->headers[i].is_literal)
			continue;
		free(r->headers[i].name);
		free(r->headers[i].value);
	}
	free(r);
}

static bool sane_request_id(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.' || c == ':'))
			return false;
	}
	return true;
}

/* The client address: the socket peer, or, when the peer is a trusted proxy,
 * the right-most X-Forwarded-For entry that is not itself a trusted proxy. */
static void resolve_client(struct http_req *r)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	memset(&r->client, 0, sizeof r->client);
	if (ci && ci->client_addr) {
		const struct sockaddr *sa = ci->client_addr;
		if (sa->sa_family == AF_INET) {
			r->client.family = 4;
			memcpy(r->client.bytes, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
		} else if (sa->sa_family == AF_INET6) {
			char tmp[NETADDR_STRLEN];
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, tmp,
				  sizeof tmp);
			netaddr_parse(tmp, &r->client);
		}
	}
	struct server *s = r->srv;
	for (int hop = 0; hop < 16; hop++) {
		bool trusted = false;
		for (int i = 0; i < s->nproxies && !trusted; i++)
			trusted = cidr_contains(&s->proxies[i], &r->client);
		if (!trusted)
			break;
		const char *xff = http_header(r, "X-Forwarded-For");
		if (!xff)
			break;
		/* Take the entry hop+1 from the right. */
		size_t len = strlen(xff);
		const char *end = xff + len;
		const char *start = end; // NOLINT(clang-analyzer-deadcode.DeadStores): set so no path reads it unset
		int skip = hop;
		for (;;) {
			const char *comma = end;
			while (comma > xff && comma[-1] != ',')
				comma--;
			start = comma;
			if (skip-- == 0)
				break;
			if (comma == xff) {
				start = NULL;
				break;
			}
			end = comma - 1;
		}
		if (!start)
			break;
		while (start < end && (*start == ' ' || *start == '\t'))
			start++;
		while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		char item[NETADDR_STRLEN];
		size_t n = (size_t)(end - start);
		struct netaddr next;
		if (n == 0 || n >= sizeof item)
			break;
		memcpy(item, start, n);
		item[n] = '\0';
		if (netaddr_parse(item, &next) != 0)
			break;
		r->client = next;
	}
}

/* Parse the form body; a repeated parameter is an error (RFC 6749 3.1). */
static bool parse_form(struct http_req *r)
{
	return form_parse(r->body, r->body_len, r->form_names, r->form_values, MAX_FORM, &r->nform);
}

static bool content_type_is(const struct http_req *r, const char *want)
{
	const char *ct = http_header(r, "Content-Type");
	size_t n = strlen(want);
	if (!ct || strncasecmp(ct, want, n) != 0)
		return false;
	return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

/* Take back the handler's reply and the headers it added after the first
 * `nheaders`, and answer problem `e` instead (its commit failed). */
static void replace_with_problem(struct http_req *r, int nheaders, enum err e)
{
	free(r->resp_body);
	r->resp_body = NULL;
	r->resp_len = 0;
	r->replied = 0;
	for (int i = nheaders; i < r->nheaders; i++) {
		free(r->headers[i].name);
		free(r->headers[i].value);
		r->headers[i].name = r->headers[i].value = NULL;
	}
	r->nheaders = nheaders;
	http_reply_problem(r, e, "the request's changes could not be committed");
}

static void run_handler(struct http_req *r)
{
	log_set_request_id(r->request_id);
	bool idem = (r->route->flags & HTTP_IDEMPOTENT) && http_header(r, "Idempotency-Key");
	if (idem && !idempotency_begin(r)) {
		log_set_request_id(NULL);
		return;
	}
	/* The handler's writes stay uncommitted until its reply is stored with
	 * them (server/idempotency.c), so both run here, on one thread: the
	 * slow-work pool's for HTTP_OFFLOAD routes. */
	int nheaders = r->nheaders;
	if (idem)
		db_defer_commit();
	r->route->fn(r);
	if (r->deferred && idem) {
		/* http.h: no http_defer() on these routes (the reply comes from
		 * another thread, after this one must commit).  Commit, keep no
		 * reply, and say so. */
		log_error("http.idempotent_deferred", "route=%s", r->route->pattern);
		idem = false;
		if (db_deferred_commit(db_thread()) != ERR_OK)
			log_error("http.idempotent_deferred_commit_failed", "route=%s", r->route->pattern);
	}
	if (!r->replied && !r->deferred) {
		log_error("http.no_reply", "route=%s", r->route->pattern);
		http_reply_problem(r, ERR_INTERNAL, NULL);
	}
	if (idem) {
		enum err e = idempotency_finish(r, r->status, r->content_type, r->resp_body, r->resp_len);
		if (e != ERR_OK)
			replace_with_problem(r, nheaders, e);
	}
	log_set_request_id(NULL);
}

static void offload(struct http_req *r);

/* Everything between "the body is complete" and "the handler runs". */
static void dispatch(struct http_req *r)
{
	int rc = router_match(r->method, r->path, &r->match);
	if (rc == 0) {
		r->route = router_get(r->match.index);
		if ((r->route->flags & HTTP_TEST_ONLY) && !http_test_mode()) {
			r->route = NULL;
			rc = 404;
		}
	}
	if (rc == 404) {
		http_reply_problem(r, ERR_ROUTE_NOT_FOUND, "There is no route at this path");
		return;
	}
	if (rc == 405) {
		http_add_header(r, "Allow", r->match.allow);
		http_reply_problem(r, ERR_METHOD_NOT_ALLOWED, "See the Allow header for the methods of this route");
		return;
	}
	unsigned flags = r->route->flags;
	if (r->body_too_large) {
		reply_body_error(r, flags, ERR_BODY_TOO_LARGE, "The request body is larger than the server accepts");
		return;
	}
	if (flags & HTTP_JSON_BODY) {
		if (!content_type_is(r, "application/json")) {
			http_reply_problem(r, ERR_UNSUPPORTED_MEDIA_TYPE, "Send the body as application/json");
			return;
		}
		json_error_t jerr;
		r->json = json_loadb(r->body ? r->body : "", r->body_len, JSON_REJECT_DUPLICATES, &jerr);
		if (!r->json) {
			char detail[200];
			snprintf(detail, sizeof detail, "Line %d, column %d: %s", jerr.line, jerr.column,
				 jerr.text);
			http_reply_problem(r, ERR_INVALID_JSON, detail);
			return;
		}
		if (!json_is_object(r->json)) {
			http_reply_problem(r, ERR_INVALID_JSON, "The body must be a JSON object");
			return;
		}
	} else if (flags & HTTP_FORM_BODY) {
		if (!content_type_is(r, "application/x-www-form-urlencoded")) {
			reply_body_error(r, flags, ERR_UNSUPPORTED_MEDIA_TYPE,
					 "Send the body as application/x-www-form-urlencoded");
			return;
		}
		if (!parse_form(r)) {
			reply_body_error(r, flags, ERR_INVALID_REQUEST,
					 "The form body is malformed or repeats a parameter");
			return;
		}
	}
	if (flags & HTTP_NO_STORE) {
		add_literal_header(r, "Cache-Control", "no-store");
		add_literal_header(r, "Pragma", "no-cache");
	}
	if (flags & (HTTP_AUTH_MEMBER | HTTP_AUTH_STAFF | HTTP_AUTH_OPTIONAL)) {
		enum err e = authenticator ? authenticator(r, flags, r->route->role, &r->auth)
					   : ERR_UNAUTHENTICATED;
		if (e != ERR_OK && !((flags & HTTP_AUTH_OPTIONAL) && e == ERR_UNAUTHENTICATED)) {
			http_reply_problem(r, e, NULL);
			return;
		}
	}
	if (flags & HTTP_OFFLOAD) {
		offload(r);
		return;
	}
	run_handler(r);
}

static enum MHD_Result queue_reply(struct http_req *r)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(
		r->resp_len, r->resp_body ? r->resp_body : (void *)"", r->resp_body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	r->resp_body = NULL; /* now owned by the response */
	if (r->content_type)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
	MHD_add_response_header(resp, "X-Request-Id", r->request_id);
	for (int i = 0; i < r->nheaders; i++)
		if (r->headers[i].name && r->headers[i].value)
			MHD_add_response_header(resp, r->headers[i].name, r->headers[i].value);
	enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_size, void **con_cls)
{
	struct server *s = cls;
	struct http_req *r = *con_cls;
	(void)version;
	if (!r) {
		r = calloc(1, sizeof *r);
		if (!r)
			return MHD_NO;
		r->conn = conn;
		r->srv = s;
		r->start_us = now_us();
		memcpy(r->method, method, strnlen(method, sizeof r->method - 1)); /* r is zeroed */
		r->path = strdup(url);
		if (!r->path) {
			free(r);
			return MHD_NO;
		}
		const char *rid = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
		if (sane_request_id(rid))
			snprintf(r->request_id, sizeof r->request_id, "%s", rid);
		else
			request_id_new(r->request_id);
		resolve_client(r);
		*con_cls = r;
		metrics_inflight(1);
		const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
		if (cl) {
			char *end = NULL;
			unsigned long long v = strtoull(cl, &end, 10);
			if (*end || v > (unsigned long long)s->cfg->body_limit)
				r->body_too_large = 1;
		}
		if (r->body_too_large) {
			/* Answer (413, or 404/405 for no route) before the body:
			 * libmicrohttpd then reads none of it and closes the
			 * connection after the reply, instead of reading and
			 * dropping up to the declared length first. */
			dispatch(r);
			return queue_reply(r);
		}
		return MHD_YES;
	}
	if (r->offloaded) {
		/* Resumed after the slow-work pool finished the handler. */
		return queue_reply(r);
	}
	if (r->replied) {
		/* Answered before the body (above); nothing more to read. */
		*upload_size = 0;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		if (!r->body_too_large) {
			size_t need = r->body_len + *upload_size;
			if (need > (size_t)s->cfg->body_limit) {
				r->body_too_large = 1;
			} else {
				if (need + 1 > r->body_cap) {
					size_t cap = r->body_cap ? r->body_cap : 1024;
					while (cap < need + 1)
						cap *= 2;
					char *nb = realloc(r->body, cap);
					if (!nb)
						return MHD_NO;
					r->body = nb;
					r->body_cap = cap;
				}
				memcpy(r->body + r->body_len, upload_data, *upload_size);
				r->body_len = need;
				r->body[r->body_len] = '\0';
			}
		}
		*upload_size = 0;
		return MHD_YES;
	}
	dispatch(r);
	if (r->offloaded)
		return MHD_YES;
	return queue_reply(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct http_req *r = *con_cls;
	(void)cls;
	(void)conn;
	if (!r)
		return;
	int64_t dur = now_us() - r->start_us;
	int status = r->replied ? r->status : 0;
	metrics_record(r->route ? r->match.index : -1, status, dur);
	log_set_request_id(r->request_id);
	log_info("http.access", "method=%s route=%s status=%d%s%s duration_ms=%lld.%03lld%s", r->method,
		 r->route ? r->route->pattern : "unmatched", status, r->reply_code[0] ? " code=" : "",
		 r->reply_code, (long long)(dur / 1000), (long long)(dur % 1000),
		 toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " aborted=true");
	log_set_request_id(NULL);
	metrics_inflight(-1);
	req_free(r);
	*con_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
			  enum MHD_ConnectionNotificationCode code)
{
	(void)cls;
	(void)conn;
	(void)socket_ctx;
	if (code == MHD_CONNECTION_NOTIFY_STARTED)
		metrics_connection_opened();
	else
		metrics_connection_closed();
}

/* ---- deferred replies (http.h: http_defer) ---- */

void http_defer(struct http_req *r)
{
	/* Like an offloaded request: on_request answers MHD_YES now and sends
	 * the reply when the connection is resumed. */
	r->deferred = 1;
	r->offloaded = 1;
	MHD_suspend_connection(r->conn);
}

void http_deferred_done(struct http_req *r) { MHD_resume_connection(r->conn); }

/* ---- slow-work pool: bounded password hashing without stalling the
 * libmicrohttpd threads.  The connection is suspended, a pool thread runs
 * the handler, and the connection is resumed to send the reply. ---- */

static void offload(struct http_req *r)
{
	struct server *s = r->srv;
	r->offloaded = 1;
	MHD_suspend_connection(r->conn);
	pthread_mutex_lock(&s->lock);
	r->next_job = NULL;
	if (s->tail)
		s->tail->next_job = r;
	else
		s->head = r;
	s->tail = r;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

static void *worker_main(void *arg)
{
	struct server *s = arg;
	for (;;) {
		pthread_mutex_lock(&s->lock);
		while (!s->head && !s->stopping)
			pthread_cond_wait(&s->cond, &s->lock);
		struct http_req *r = s->head;
		if (!r) {
			pthread_mutex_unlock(&s->lock);
			return NULL;
		}
		s->head = r->next_job;
		if (!s->head)
			s->tail = NULL;
		pthread_mutex_unlock(&s->lock);
		run_handler(r);
		MHD_resume_connection(r->conn);
	}
}

/* ---- lifecycle ---- */

/* libmicrohttpd's unescaping of the path and the query arguments (%XX to
 * the byte; anything else as it is), except that %00 stays as the three
 * characters: decoded, the NUL byte would end the C string the router and
 * http_query() see, so "/healthz%00.css" was answered as "/healthz" and
 * "?country=US%00junk" read as "US".  Kept literal, such a path matches no
 * route and such a value fails its own validation. */
static size_t unescape_keep_nul(void *cls, struct MHD_Connection *conn, char *s)
{
	(void)cls;
	(void)conn;
	char *w = s;
	const char *r = s;
	while (*r) {
		int hi = r[0] == '%' ? form_hex_digit(r[1]) : -1;
		int lo = hi >= 0 ? form_hex_digit(r[2]) : -1;
		if (lo >= 0 && (hi | lo) != 0) {
			*w++ = (char)(hi * 16 + lo);
			r += 3;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
	return (size_t)(w - s);
}

static int parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[NETADDR_STRLEN];
	const char *colon = strrchr(listen, ':');
	if (!colon)
		return -1;
	size_t hlen = (size_t)(colon - listen);
	if (hlen >= sizeof host)
		return -1;
	memcpy(host, listen, hlen);
	host[hlen] = '\0';
	char *end = NULL;
	long port = strtol(colon + 1, &end, 10);
	if (*end || port < 0 || port > 65535)
		return -1;
	char *h = host;
	if (h[0] == '[' && hlen >= 2 && h[hlen - 1] == ']') {
		h[hlen - 1] = '\0';
		h++;
	}
	memset(ss, 0, sizeof *ss);
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, h, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		*len = sizeof *in4;
		return 4;
	}
	if (inet_pton(AF_INET6, h, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*len = sizeof *in6;
		return 6;
	}
	return -1;
}

enum err server_start(const struct config *cfg, struct server **out, uint16_t *port)
{
	struct server *s = calloc(1, sizeof *s);
	struct sockaddr_storage ss;
	socklen_t sslen;
	if (!s)
		return ERR_NOMEM;
	global_cfg = cfg;
	s->cfg = cfg;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	s->nproxies = cidr_parse_list(cfg->trusted_proxies, s->proxies, MAX_PROXIES);
	int fam = parse_listen(cfg->listen, &ss, &sslen);
	if (s->nproxies < 0 || fam < 0) {
		log_error("server.bad_config", "listen=%s trusted_proxies=%s", cfg->listen,
			  cfg->trusted_proxies);
		free(s);
		return ERR_INVALID_PARAMETER;
	}
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	if (cores < 1)
		cores = 1;
	unsigned threads = cfg->threads > 0 ? (unsigned)cfg->threads : (unsigned)(cores * 2 < 4 ? 4 : cores * 2);
	s->nworkers = cfg->hash_concurrency > 0 ? (int)cfg->hash_concurrency : (int)cores;
	s->workers = calloc((size_t)s->nworkers, sizeof *s->workers);
	for (int i = 0; s->workers && i < s->nworkers; i++)
		pthread_create(&s->workers[i], NULL, worker_main, s);
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME;
	if (fam == 6)
		flags |= MHD_USE_IPv6;
	s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
				MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				MHD_OPTION_THREAD_POOL_SIZE, threads,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
				MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)cfg->max_connections_per_ip,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->connection_timeout_s,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
				MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
				MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
				MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
				MHD_OPTION_UNESCAPE_CALLBACK, unescape_keep_nul, NULL,
				MHD_OPTION_END);
	if (!s->d) {
		log_error("server.start_failed", "listen=%s", cfg->listen);
		server_shutdown(s, 0);
		return ERR_IO;
	}
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	*port = di ? di->port : 0;
	log_info("server.started", "listen=%s port=%u threads=%u slow_workers=%d", cfg->listen,
		 (unsigned)*port, threads, s->nworkers);
	*out = s;
	return ERR_OK;
}

void server_shutdown(struct server *s, int64_t grace_ms)
{
	if (!s)
		return;
	if (s->d) {
		MHD_quiesce_daemon(s->d);
		int64_t deadline = clock_mono_ms() + grace_ms;
		while (metrics_inflight_now() > 0 && clock_mono_ms() < deadline) {
			struct timespec ts = {0, 10 * 1000000L};
			nanosleep(&ts, NULL);
		}
		log_info("server.draining_done", "in_flight=%lld", (long long)metrics_inflight_now());
	}
	pthread_mutex_lock(&s->lock);
	s->stopping = 1;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	for (int i = 0; s->workers && i < s->nworkers; i++)
		pthread_join(s->workers[i], NULL);
	if (s->d)
		MHD_stop_daemon(s->d);
	free(s->workers);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
	free(s);
}


void server_run_clock_hooks(void)
{
	for (int i = 0; i < nclock_hooks; i++)
		clock_hooks[i]();
}
