/*
 * The routes every hearthd has: liveness, readiness, metrics, and in test
 * mode the settable clock.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/db.h"
#include "core/events.h"
#include "core/ids.h"
#include "core/jsonv.h"
#include "server/server.h"
#include "server/server_int.h"

static void healthz(struct http_req *req)
{
	static const char body[] = "{\"status\":\"ok\"}";
	http_reply_raw(req, 200, "application/json", body, sizeof body - 1);
}

static void readyz(struct http_req *req)
{
	struct db *db = db_thread();
	struct db_stmt *st = NULL;
	enum err e = db ? db_prepare(db, "SELECT 1", &st) : ERR_DB;
	if (e == ERR_OK)
		e = db_step_row(st);
	db_done(st);
	if (e != ERR_OK) {
		http_reply_json(req, 503, json_pack("{s:s, s:s}", "status", "unavailable", "database", "down"));
		return;
	}
	http_reply_json(req, 200, json_pack("{s:s, s:s}", "status", "ok", "database", "up"));
}

static void metrics(struct http_req *req)
{
	size_t len = 0;
	char *text = metrics_render(&len);
	if (!text) {
		http_reply_problem(req, ERR_NOMEM, NULL);
		return;
	}
	http_reply_raw(req, 200, "text/plain; version=0.0.4", text, len);
	free(text);
}

static json_t *clock_doc(void)
{
	char now[32];
	return json_pack("{s:s, s:I}", "now", clock_format(clock_now(), now, sizeof now), "now_unix",
			 (json_int_t)clock_now());
}

static void test_clock_get(struct http_req *req) { http_reply_json(req, 200, clock_doc()); }

/* POST /test/v1/clock {advance_seconds} or {to: RFC 3339}: moves the test
 * clock forward and runs what became due (renewals, retries...). */
static void test_clock_move(struct http_req *req)
{
	static const char *const allowed[] = {"advance_seconds", "to", NULL};
	struct jv v;
	int64_t secs = 0;
	const char *to = NULL;
	jv_init(&v, http_json(req));
	jv_reject_unknown(&v, allowed);
	bool has_secs = jv_int(&v, "advance_seconds", JV_OPTIONAL, 0, 100LL * 366 * 86400, &secs);
	bool has_to = jv_string(&v, "to", JV_OPTIONAL, 1, 40, &to);
	if (jv_ok(&v) && has_secs == has_to)
		jv_error(&v, "", "one_of", "Give exactly one of advance_seconds or to");
	int64_t target = 0;
	if (jv_ok(&v) && has_to && clock_parse(to, &target) != ERR_OK)
		jv_error(&v, "to", "invalid_time", "Must be an RFC 3339 time");
	if (!jv_ok(&v)) {
		http_reply_invalid(req, jv_take_errors(&v));
		jv_release(&v);
		return;
	}
	jv_release(&v);
	enum err e = has_secs ? clock_advance(secs) : clock_set(target);
	if (e != ERR_OK) {
		http_reply_problem(req, ERR_INVALID_STATE, "The test clock only moves forward");
		return;
	}
	server_run_clock_hooks();
	http_reply_json(req, 200, clock_doc());
}

/* POST /test/v1/sleep {ms}: a request that takes a while, so tests can
 * prove that shutdown lets in-flight requests finish. */
static void test_sleep(struct http_req *req)
{
	static const char *const allowed[] = {"ms", NULL};
	struct jv v;
	int64_t ms = 0;
	jv_init(&v, http_json(req));
	jv_reject_unknown(&v, allowed);
	jv_int(&v, "ms", JV_REQUIRED, 0, 10000, &ms);
	if (!jv_ok(&v)) {
		http_reply_invalid(req, jv_take_errors(&v));
		jv_release(&v);
		return;
	}
	jv_release(&v);
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
	http_reply_json(req, 200, json_pack("{s:I}", "slept_ms", (json_int_t)ms));
}

struct thing_ctx {
	const char *label;
	char id[IDS_MAX];
};

static enum err create_thing(struct db *db, void *arg)
{
	struct thing_ctx *c = arg;
	enum err e = ids_new("tst_", c->id, sizeof c->id);
	if (e != ERR_OK)
		return e;
	return events_emit(db, "test.thing_created", c->id, json_pack("{s:s}", "label", c->label));
}

/* POST /test/v1/things {label}: creates something observable (an event
 * row), so tests can prove that an idempotent replay did not create it twice. */
static void test_create_thing(struct http_req *req)
{
	static const char *const allowed[] = {"label", NULL};
	struct jv v;
	struct thing_ctx c = {NULL, {0}};
	jv_init(&v, http_json(req));
	jv_reject_unknown(&v, allowed);
	jv_string(&v, "label", JV_REQUIRED, 1, 100, &c.label);
	if (!jv_ok(&v)) {
		http_reply_invalid(req, jv_take_errors(&v));
		jv_release(&v);
		return;
	}
	enum err e = db_transaction(db_thread(), create_thing, &c);
	if (e != ERR_OK)
		http_reply_problem(req, e, NULL);
	else
		http_reply_json(req, 201, json_pack("{s:s, s:s}", "id", c.id, "label", c.label));
	jv_release(&v);
}

/* POST /test/v1/faults {idempotency: "fail_commit" | "crash_before_commit"}:
 * a fault for the next reply stored under an Idempotency-Key, so tests can
 * prove that a request's writes and its stored reply commit together. */
static void test_faults(struct http_req *req)
{
	static const char *const allowed[] = {"idempotency", NULL};
	static const char *const faults[] = {"fail_commit", "crash_before_commit", NULL};
	struct jv v;
	const char *fault = NULL;
	jv_init(&v, http_json(req));
	jv_reject_unknown(&v, allowed);
	jv_enum(&v, "idempotency", JV_REQUIRED, faults, &fault);
	if (!jv_ok(&v)) {
		http_reply_invalid(req, jv_take_errors(&v));
		jv_release(&v);
		return;
	}
	idempotency_set_fault(strcmp(fault, "fail_commit") == 0 ? IDEMPOTENCY_FAULT_FAIL : IDEMPOTENCY_FAULT_CRASH);
	jv_release(&v);
	http_reply_empty(req, 204);
}

void server_register_core_routes(void)
{
	http_route("GET", "/healthz", healthz, 0, 0);
	http_route("GET", "/readyz", readyz, 0, 0);
	http_route("GET", "/metrics", metrics, 0, 0);
	http_route("GET", "/test/v1/clock", test_clock_get, HTTP_TEST_ONLY, 0);
	http_route("POST", "/test/v1/clock", test_clock_move, HTTP_TEST_ONLY | HTTP_JSON_BODY, 0);
	http_route("POST", "/test/v1/sleep", test_sleep, HTTP_TEST_ONLY | HTTP_JSON_BODY | HTTP_IDEMPOTENT, 0);
	http_route("POST", "/test/v1/things", test_create_thing,
		   HTTP_TEST_ONLY | HTTP_JSON_BODY | HTTP_IDEMPOTENT, 0);
	http_route("POST", "/test/v1/faults", test_faults, HTTP_TEST_ONLY | HTTP_JSON_BODY, 0);
}
