/*
 * server_int.h - what the files of server/ share and nobody else sees.
 */
#ifndef HEARTH_SERVER_INT_H
#define HEARTH_SERVER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/http.h"

#define ROUTE_MAX 256
#define ROUTE_PARAMS_MAX 4

struct route {
	const char *method;
	const char *pattern;
	http_handler fn;
	unsigned flags;
	int role;
	size_t literal_len;	/* bytes of `pattern` before its first '{' (all: no parameters) */
};

struct route_match {
	int index;			/* into the route table, -1 when none */
	int nparams;
	const char *names[ROUTE_PARAMS_MAX];
	char *values[ROUTE_PARAMS_MAX]; /* owned by the caller (free) */
	char allow[96];			/* methods of the path, for 405 */
};

/* The registered routes. */
const struct route *router_get(int index);
int router_count(void);

/* Match `method` and `path`.  Returns 0 with m->index set, 404 when no route
 * has the path, 405 when only other methods do (m->allow lists them). */
int router_match(const char *method, const char *path, struct route_match *m);
void route_match_release(struct route_match *m);

/* Decode an application/x-www-form-urlencoded body of `len` bytes
 * (server/form.c).  '+' is a space and %XX a byte.  These fail: %00 or a
 * raw NUL byte, a malformed escape, a pair without '=', a repeated name
 * (RFC 6749 3.1) and more than `max` pairs.  Empty pairs ("a=1&&b=2") are
 * skipped.  On success names[0..*n) and values[0..*n) are malloc'd strings
 * the caller frees with form_release(); on failure nothing is left
 * allocated and *n is 0.  `body` may be NULL when `len` is 0. */
bool form_parse(const char *body, size_t len, char **names, char **values, int max, int *n);

/* Free the `*n` pairs of a form_parse() result and set *n to 0. */
void form_release(char **names, char **values, int *n);

/* The value of the hex digit `c` (0-9, a-f, A-F), or -1 for any other
 * character (form.c: the %XX escapes of form bodies and of the request
 * path and query). */
int form_hex_digit(char c);

/* Metrics: index ROUTE_MAX counts requests that matched no route. */
void metrics_record(int route_index, int status, int64_t duration_us);
void metrics_connection_opened(void);
void metrics_connection_closed(void);
void metrics_inflight(int delta);
int64_t metrics_inflight_now(void);

/* Render the Prometheus text exposition; caller frees. */
char *metrics_render(size_t *len);

/* Idempotency-Key handling (server/idempotency.c).  begin: true when the
 * handler should run (no key, or the key was claimed); false when a reply
 * (replay, conflict, bad key) was already made.  After a claim the caller
 * arms db_defer_commit() on this thread and runs the handler there; finish
 * (same thread) then stores the reply of the claimed key in the handler's
 * still-open transaction and commits both, or after a 5xx commits the
 * handler's writes alone and releases the key.  It returns ERR_OK when the
 * reply stands, else the error that kept nothing: the caller then replaces
 * the reply with that problem. */
bool idempotency_begin(struct http_req *r);
enum err idempotency_finish(struct http_req *r, int status, const char *content_type, const char *body,
			    size_t len);

/* Test mode (POST /test/v1/faults): make the next stored reply fail its
 * commit (the request answers 500 and keeps nothing) or exit the process
 * between writing the reply and the commit, as a SIGKILL there would. */
enum idempotency_fault { IDEMPOTENCY_FAULT_NONE, IDEMPOTENCY_FAULT_FAIL, IDEMPOTENCY_FAULT_CRASH };
void idempotency_set_fault(enum idempotency_fault f);

/* Run the hooks of server_on_clock_moved(). */
void server_run_clock_hooks(void);


#endif
