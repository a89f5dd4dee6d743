/*
 * API tests of the server layer: limits, routing, problem documents,
 * request ids, metrics, the test clock and graceful shutdown, against a
 * real hearthd.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/api/harness.h"

static struct api_server srv;

static void start(void) { api_start(&srv, NULL); }
static void stop(void) { ck_assert_int_eq(api_stop(&srv), 0); }

static void assert_problem_shape(struct api_resp *r)
{
	char ct[128];
	ck_assert_ptr_nonnull(api_header(r, "Content-Type", ct, sizeof ct));
	ck_assert_str_eq(ct, "application/problem+json");
	ck_assert_ptr_nonnull(api_str(r, "type"));
	ck_assert_ptr_nonnull(api_str(r, "title"));
	ck_assert_ptr_nonnull(api_str(r, "detail"));
	ck_assert_int_eq(json_integer_value(json_object_get(r->json, "status")), r->status);
}

START_TEST(healthz_answers_ok)
{
	struct api_resp *r = api_get(&srv, "/healthz", NULL);
	ck_assert_status(r, 200);
	ck_assert_str_eq(api_str(r, "status"), "ok");
	api_resp_free(r);
}
END_TEST

START_TEST(readyz_reports_database_up)
{
	struct api_resp *r = api_get(&srv, "/readyz", NULL);
	ck_assert_status(r, 200);
	ck_assert_str_eq(api_str(r, "database"), "up");
	api_resp_free(r);
}
END_TEST

START_TEST(malformed_json_is_400_invalid_json)
{
	static const char *const bodies[] = {"{", "{\"advance_seconds\": }", "not json", "",
					     "{\"a\":1,\"a\":2}", "[1,2]", "\"text\""};
	for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
		struct api_resp *r = api_request(&srv, "POST", "/test/v1/clock", NULL,
						 "application/json", bodies[i], NULL);
		ck_assert_problem(r, 400, "invalid_json");
		assert_problem_shape(r);
		api_resp_free(r);
	}
	/* Nothing moved the clock. */
	struct api_resp *r = api_get(&srv, "/test/v1/clock", NULL);
	ck_assert_int_eq(json_integer_value(json_object_get(r->json, "now_unix")), API_CLOCK_START);
	api_resp_free(r);
}
END_TEST

START_TEST(body_over_the_limit_is_413)
{
	size_t n = 65 * 1024;
	char *big = malloc(n + 32);
	memcpy(big, "{\"pad\":\"", 8);
	memset(big + 8, 'x', n);
	memcpy(big + 8 + n, "\"}", 3);
	struct api_resp *r = api_request(&srv, "POST", "/test/v1/clock", NULL, "application/json",
					 big, NULL);
	ck_assert_problem(r, 413, "body_too_large");
	api_resp_free(r);
	free(big);
}
END_TEST

START_TEST(wrong_content_type_is_415)
{
	static const char *const types[] = {"text/plain", "application/x-www-form-urlencoded",
					    "application/jsonx", NULL};
	for (size_t i = 0; i < 4; i++) {
		struct api_resp *r = api_request(&srv, "POST", "/test/v1/clock", NULL, types[i],
						 "{\"advance_seconds\":5}", NULL);
		ck_assert_problem(r, 415, "unsupported_media_type");
		api_resp_free(r);
	}
	struct api_resp *r = api_request(&srv, "POST", "/test/v1/clock", NULL,
					 "application/json; charset=utf-8", "{\"advance_seconds\":0}", NULL);
	ck_assert_status(r, 200);
	api_resp_free(r);
}
END_TEST

START_TEST(unknown_route_is_404)
{
	static const char *const paths[] = {"/", "/v1", "/healthz/extra", "/HEALTHZ", "/v1/nothing%00here"};
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		struct api_resp *r = api_get(&srv, paths[i], NULL);
		ck_assert_problem(r, 404, "route_not_found");
		api_resp_free(r);
	}
}
END_TEST

START_TEST(wrong_method_is_405_with_allow)
{
	char allow[64];
	struct api_resp *r = api_request(&srv, "DELETE", "/healthz", NULL, NULL, NULL, NULL);
	ck_assert_problem(r, 405, "method_not_allowed");
	ck_assert_ptr_nonnull(api_header(r, "Allow", allow, sizeof allow));
	ck_assert_str_eq(allow, "GET");
	api_resp_free(r);
	r = api_request(&srv, "PUT", "/test/v1/clock", NULL, "application/json", "{}", NULL);
	ck_assert_problem(r, 405, "method_not_allowed");
	ck_assert_ptr_nonnull(api_header(r, "Allow", allow, sizeof allow));
	ck_assert_str_eq(allow, "GET, POST");
	api_resp_free(r);
}
END_TEST

START_TEST(request_id_is_echoed_or_made)
{
	char rid[128];
	static const char *const given[] = {"X-Request-Id: abc-123.def_4", NULL};
	struct api_resp *r = api_request(&srv, "GET", "/healthz", NULL, NULL, NULL, given);
	ck_assert_str_eq(api_header(r, "X-Request-Id", rid, sizeof rid), "abc-123.def_4");
	api_resp_free(r);
	/* An insane one (spaces, too long) is replaced by a fresh id. */
	static const char *const bad[] = {"X-Request-Id: has spaces <script>", NULL};
	r = api_request(&srv, "GET", "/nope", NULL, NULL, NULL, bad);
	ck_assert_ptr_nonnull(api_header(r, "X-Request-Id", rid, sizeof rid));
	ck_assert_int_eq(strncmp(rid, "req_", 4), 0);
	ck_assert_str_eq(api_str(r, "request_id"), rid);
	api_resp_free(r);
}
END_TEST

/* The access line of request `rid` in hearthd's log ("" when there is
 * none yet: the line is written as the reply completes). */
static void access_line(const char *rid, char *out, size_t cap)
{
	char want[160], line[2048];
	snprintf(want, sizeof want, "request_id=%s ", rid);
	out[0] = '\0';
	for (int tries = 0; tries < 200 && !out[0]; tries++) {
		FILE *f = fopen(srv.log_path, "r");
		ck_assert_ptr_nonnull(f);
		while (fgets(line, sizeof line, f))
			if (strstr(line, "event=http.access ") && strstr(line, want))
				snprintf(out, cap, "%s", line);
		fclose(f);
		if (!out[0])
			usleep(10000);
	}
}

START_TEST(access_lines_name_the_error_code)
{
	char line[2048];
	static const char *const bad_json[] = {"X-Request-Id: log-code-1", NULL};
	struct api_resp *r = api_request(&srv, "POST", "/test/v1/clock", NULL, "application/json", "{",
					 bad_json);
	ck_assert_problem(r, 400, "invalid_json");
	api_resp_free(r);
	access_line("log-code-1", line, sizeof line);
	ck_assert_ptr_nonnull(strstr(line, " route=/test/v1/clock status=400 code=invalid_json "));

	static const char *const unknown[] = {"X-Request-Id: log-code-2", NULL};
	r = api_request(&srv, "GET", "/no/such/route", NULL, NULL, NULL, unknown);
	ck_assert_problem(r, 404, "route_not_found");
	api_resp_free(r);
	access_line("log-code-2", line, sizeof line);
	ck_assert_ptr_nonnull(strstr(line, " route=unmatched status=404 code=route_not_found "));

	/* A success names no code. */
	static const char *const ok[] = {"X-Request-Id: log-code-3", NULL};
	r = api_request(&srv, "GET", "/healthz", NULL, NULL, NULL, ok);
	ck_assert_status(r, 200);
	api_resp_free(r);
	access_line("log-code-3", line, sizeof line);
	ck_assert_ptr_nonnull(strstr(line, " route=/healthz status=200 duration_ms="));
	ck_assert_ptr_null(strstr(line, "code="));
}
END_TEST

static long long metric_value(const char *text, const char *series)
{
	const char *p = strstr(text, series);
	if (!p)
		return 0;
	return strtoll(p + strlen(series), NULL, 10);
}

START_TEST(metrics_count_what_was_served)
{
	static const char series[] =
		"hearth_http_requests_total{method=\"GET\",route=\"/readyz\",status=\"200\"} ";
	struct api_resp *r = api_get(&srv, "/metrics", NULL);
	ck_assert_status(r, 200);
	long long before = metric_value(r->body, series);
	api_resp_free(r);
	for (int i = 0; i < 7; i++)
		api_resp_free(api_get(&srv, "/readyz", NULL));
	/* A request is counted when libmicrohttpd reports it complete, which can
	 * come a moment after the client has read the reply: poll briefly. */
	long long now = 0;
	for (int i = 0; i < 100; i++) {
		r = api_get(&srv, "/metrics", NULL);
		now = metric_value(r->body, series);
		if (now >= before + 7)
			break;
		api_resp_free(r);
		r = NULL;
		struct timespec ts = {0, 10000000L};
		nanosleep(&ts, NULL);
	}
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(now, before + 7);
	ck_assert_ptr_nonnull(strstr(r->body, "hearth_http_request_duration_seconds_bucket{method=\"GET\",route=\"/readyz\",le=\"+Inf\"}"));
	ck_assert_ptr_nonnull(strstr(r->body, "hearth_http_open_connections "));
	ck_assert_ptr_nonnull(strstr(r->body, "hearth_db_busy_retries_total "));
	ck_assert_ptr_nonnull(strstr(r->body, "hearth_db_checkpoints_total "));
	ck_assert_ptr_nonnull(strstr(r->body, "hearth_db_checkpoint_backstops_total "));
	ck_assert_ptr_nonnull(strstr(r->body, "hearth_db_group_commit_jobs_total "));
	ck_assert_ptr_nonnull(strstr(r->body, "hearth_db_group_commit_batches_total "));
	api_resp_free(r);
}
END_TEST

START_TEST(test_clock_moves_forward_only)
{
	struct api_resp *r = api_get(&srv, "/test/v1/clock", NULL);
	json_int_t t0 = json_integer_value(json_object_get(r->json, "now_unix"));
	api_resp_free(r);
	api_advance(&srv, 3600);
	r = api_get(&srv, "/test/v1/clock", NULL);
	ck_assert_int_eq(json_integer_value(json_object_get(r->json, "now_unix")), t0 + 3600);
	api_resp_free(r);
	r = api_json(&srv, "POST", "/test/v1/clock", NULL, json_pack("{s:s}", "to", "2020-01-01T00:00:00Z"));
	ck_assert_problem(r, 409, "invalid_state");
	api_resp_free(r);
	r = api_json(&srv, "POST", "/test/v1/clock", NULL, json_pack("{s:I, s:s}", "advance_seconds", (json_int_t)1, "to", "2030-01-01T00:00:00Z"));
	ck_assert_problem(r, 422, "validation_failed");
	api_resp_free(r);
	r = api_json(&srv, "POST", "/test/v1/clock", NULL, json_pack("{s:I}", "advance_seconds", (json_int_t)-5));
	ck_assert_problem(r, 422, "validation_failed");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(r->json, "errors"), 0), "code")), "out_of_range");
	api_resp_free(r);
}
END_TEST

/* The test routes do not exist outside test mode. */
START_TEST(test_routes_absent_without_test_mode)
{
	struct api_server prod;
	static const char *const flags[] = {"--test-mode=false", "--test-clock-start", "0", NULL};
	api_start(&prod, flags);
	struct api_resp *r = api_get(&prod, "/test/v1/clock", NULL);
	ck_assert_problem(r, 404, "route_not_found");
	api_resp_free(r);
	ck_assert_int_eq(api_stop(&prod), 0);
}
END_TEST

struct slow_call {
	struct api_server *s;
	long status;
};

static void *slow_request(void *arg)
{
	struct slow_call *c = arg;
	struct api_resp *r = api_json(c->s, "POST", "/test/v1/sleep", NULL, json_pack("{s:i}", "ms", 700));
	c->status = r->status;
	api_resp_free(r);
	return NULL;
}

START_TEST(shutdown_finishes_in_flight_request)
{
	struct api_server own;
	api_start(&own, NULL);
	struct slow_call call = {&own, 0};
	pthread_t t;
	pthread_create(&t, NULL, slow_request, &call);
	/* Wait until the request is in flight, then ask the server to stop. */
	for (int i = 0; i < 200; i++) {
		struct api_resp *m = api_get(&own, "/metrics", NULL);
		int busy = strstr(m->body, "hearth_http_requests_in_flight 2") != NULL;
		api_resp_free(m);
		if (busy)
			break;
		struct timespec ts = {0, 5000000L};
		nanosleep(&ts, NULL);
	}
	kill(own.pid, SIGTERM);
	pthread_join(t, NULL);
	ck_assert_int_eq(call.status, 200);
	int status;
	ck_assert_int_eq(waitpid(own.pid, &status, 0), own.pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	own.pid = 0;
	/* And it no longer accepts connections. */
	struct api_resp *r = api_get(&own, "/healthz", NULL);
	ck_assert_int_eq(r->status, 0);
	api_resp_free(r);
	api_stop(&own);
}
END_TEST

static Suite *server_suite(void)
{
	Suite *s = suite_create("api_server");
	TCase *tc = tcase_create("server");
	tcase_add_unchecked_fixture(tc, start, stop);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, healthz_answers_ok);
	tcase_add_test(tc, readyz_reports_database_up);
	tcase_add_test(tc, malformed_json_is_400_invalid_json);
	tcase_add_test(tc, body_over_the_limit_is_413);
	tcase_add_test(tc, wrong_content_type_is_415);
	tcase_add_test(tc, unknown_route_is_404);
	tcase_add_test(tc, wrong_method_is_405_with_allow);
	tcase_add_test(tc, request_id_is_echoed_or_made);
	tcase_add_test(tc, access_lines_name_the_error_code);
	tcase_add_test(tc, metrics_count_what_was_served);
	tcase_add_test(tc, test_clock_moves_forward_only);
	suite_add_tcase(s, tc);
	TCase *life = tcase_create("lifecycle");
	tcase_set_timeout(life, 60);
	tcase_add_test(life, test_routes_absent_without_test_mode);
	tcase_add_test(life, shutdown_finishes_in_flight_request);
	suite_add_tcase(s, life);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(server_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0;
}
