/*
 * API tests of the Idempotency-Key middleware (server/idempotency.c) on the
 * test-mode route POST /test/v1/things, which writes one event row per
 * thing it creates.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/api/harness.h"

static struct api_server srv;

static void start(void) { api_start(&srv, NULL); }
static void stop(void) { ck_assert_int_eq(api_stop(&srv), 0); }

static struct api_resp *post_thing(const char *key, const char *label)
{
	char hdr[512], body[256];
	snprintf(hdr, sizeof hdr, "Idempotency-Key: %s", key ? key : "");
	snprintf(body, sizeof body, "{\"label\":\"%s\"}", label);
	const char *const headers[] = {hdr, NULL};
	return api_request(&srv, "POST", "/test/v1/things", NULL, "application/json", body,
			   key ? headers : NULL);
}

static int64_t things_labelled(const char *label)
{
	char like[128];
	snprintf(like, sizeof like, "{\"label\":\"%s\"}", label);
	return api_db_int(&srv, "SELECT COUNT(*) FROM events WHERE type = 'test.thing_created' AND payload = ?1", like);
}

START_TEST(same_key_same_body_replays_the_first_response)
{
	char replayed[16];
	struct api_resp *a = post_thing("key-replay-1", "replay");
	ck_assert_status(a, 201);
	ck_assert_ptr_null(api_header(a, "Idempotent-Replayed", replayed, sizeof replayed));
	struct api_resp *b = post_thing("key-replay-1", "replay");
	ck_assert_status(b, 201);
	ck_assert_str_eq(api_str(b, "id"), api_str(a, "id"));
	ck_assert_str_eq(b->body, a->body);
	ck_assert_ptr_nonnull(api_header(b, "Idempotent-Replayed", replayed, sizeof replayed));
	ck_assert_str_eq(replayed, "true");
	ck_assert_int_eq(things_labelled("replay"), 1);
	api_resp_free(a);
	api_resp_free(b);
}
END_TEST

START_TEST(same_key_other_body_is_409_reused)
{
	struct api_resp *a = post_thing("key-reuse-1", "first");
	ck_assert_status(a, 201);
	struct api_resp *b = post_thing("key-reuse-1", "second");
	ck_assert_problem(b, 409, "idempotency_key_reused");
	ck_assert_int_eq(things_labelled("second"), 0);
	api_resp_free(a);
	api_resp_free(b);
}
END_TEST

START_TEST(no_key_acts_every_time)
{
	api_resp_free(post_thing(NULL, "nokey"));
	api_resp_free(post_thing(NULL, "nokey"));
	ck_assert_int_eq(things_labelled("nokey"), 2);
}
END_TEST

START_TEST(bad_keys_are_400_and_change_nothing)
{
	char long_key[300];
	memset(long_key, 'k', sizeof long_key - 1);
	long_key[sizeof long_key - 1] = '\0';
	const char *const keys[] = {long_key, "has space", "\xd0\xba\xd0\xbb\xd1\x8e\xd1\x87"};
	for (size_t i = 0; i < 3; i++) {
		struct api_resp *r = post_thing(keys[i], "badkey");
		ck_assert_problem(r, 400, "invalid_idempotency_key");
		api_resp_free(r);
	}
	ck_assert_int_eq(things_labelled("badkey"), 0);
}
END_TEST

START_TEST(validation_errors_are_replayed_too)
{
	const char *const hdr[] = {"Idempotency-Key: key-invalid-1", NULL};
	struct api_resp *a = api_request(&srv, "POST", "/test/v1/things", NULL, "application/json", "{\"label\":5}", hdr);
	ck_assert_problem(a, 422, "validation_failed");
	struct api_resp *b = api_request(&srv, "POST", "/test/v1/things", NULL, "application/json", "{\"label\":5}", hdr);
	ck_assert_problem(b, 422, "validation_failed");
	char ct[64];
	ck_assert_str_eq(api_header(b, "Content-Type", ct, sizeof ct), "application/problem+json");
	api_resp_free(a);
	api_resp_free(b);
}
END_TEST

START_TEST(keys_expire_after_24_hours)
{
	struct api_resp *a = post_thing("key-expiry-1", "expiry");
	ck_assert_status(a, 201);
	api_advance(&srv, 24 * 3600 + 1);
	struct api_resp *b = post_thing("key-expiry-1", "expiry");
	ck_assert_status(b, 201);
	ck_assert_str_ne(api_str(b, "id"), api_str(a, "id"));
	ck_assert_int_eq(things_labelled("expiry"), 2);
	api_resp_free(a);
	api_resp_free(b);
}
END_TEST

static void *slow_with_key(void *arg)
{
	long *status = arg;
	const char *const hdr[] = {"Idempotency-Key: key-inflight-1", NULL};
	struct api_resp *r = api_request(&srv, "POST", "/test/v1/sleep", NULL, "application/json", "{\"ms\":800}", hdr);
	*status = r->status;
	api_resp_free(r);
	return NULL;
}

START_TEST(concurrent_duplicate_is_409_in_use)
{
	long first = 0;
	pthread_t t;
	pthread_create(&t, NULL, slow_with_key, &first);
	/* Wait until the first request has claimed the key. */
	for (int i = 0; i < 400; i++) {
		if (api_db_int(&srv, "SELECT COUNT(*) FROM idempotency_keys WHERE key = ?1", "key-inflight-1") == 1)
			break;
		struct timespec ts = {0, 5000000L};
		nanosleep(&ts, NULL);
	}
	const char *const hdr[] = {"Idempotency-Key: key-inflight-1", NULL};
	struct api_resp *r = api_request(&srv, "POST", "/test/v1/sleep", NULL, "application/json", "{\"ms\":800}", hdr);
	ck_assert_problem(r, 409, "idempotency_key_in_use");
	api_resp_free(r);
	pthread_join(t, NULL);
	ck_assert_int_eq(first, 200);
	/* Now finished: the same request replays. */
	r = api_request(&srv, "POST", "/test/v1/sleep", NULL, "application/json", "{\"ms\":800}", hdr);
	ck_assert_status(r, 200);
	char replayed[16];
	ck_assert_ptr_nonnull(api_header(r, "Idempotent-Replayed", replayed, sizeof replayed));
	api_resp_free(r);
}
END_TEST

static void set_fault(struct api_server *s, const char *fault)
{
	struct api_resp *r = api_json(s, "POST", "/test/v1/faults", NULL, json_pack("{s:s}", "idempotency", fault));
	ck_assert_status(r, 204);
	api_resp_free(r);
}

static int64_t key_rows(struct api_server *s, const char *key, const char *state)
{
	char sql[160];
	snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM idempotency_keys WHERE key = ?1%s",
		 state ? (strcmp(state, "done") == 0 ? " AND state = 'done'" : " AND state = 'in_progress'") : "");
	return api_db_int(s, sql, key);
}

/* The handler's write and the stored reply commit together: when the
 * commit fails, neither is kept, the answer is a 500, and the key is free. */
START_TEST(a_failed_commit_keeps_neither_the_effect_nor_the_reply)
{
	set_fault(&srv, "fail_commit");
	struct api_resp *a = post_thing("key-atomic-1", "atomic");
	ck_assert_problem(a, 500, "internal_error");
	ck_assert_int_eq(things_labelled("atomic"), 0);
	ck_assert_int_eq(key_rows(&srv, "key-atomic-1", NULL), 0);
	/* The retry runs afresh, once, and its reply is kept with it. */
	struct api_resp *b = post_thing("key-atomic-1", "atomic");
	ck_assert_status(b, 201);
	struct api_resp *c = post_thing("key-atomic-1", "atomic");
	ck_assert_status(c, 201);
	ck_assert_str_eq(c->body, b->body);
	ck_assert_int_eq(things_labelled("atomic"), 1);
	ck_assert_int_eq(key_rows(&srv, "key-atomic-1", "done"), 1);
	api_resp_free(a);
	api_resp_free(b);
	api_resp_free(c);
}
END_TEST

/* hearthd dies after the handler wrote and the reply was written into the
 * key's row, before the commit (where a crash used to leave the effect
 * committed and the key in progress, so that the retry acted twice). */
START_TEST(a_crash_before_the_commit_leaves_nothing_and_the_retry_acts_once)
{
	struct api_server s2;
	api_start(&s2, NULL);
	set_fault(&s2, "crash_before_commit");
	const char *const hdr[] = {"Idempotency-Key: key-crash-1", NULL};
	const char *body = "{\"label\":\"crash\"}";
	struct api_resp *a = api_request(&s2, "POST", "/test/v1/things", NULL, "application/json", body, hdr);
	ck_assert_int_eq(a->status, 0); /* no answer: the process is gone */
	api_resp_free(a);
	api_restart(&s2);
	const char *things = "SELECT COUNT(*) FROM events WHERE type = 'test.thing_created' AND payload = ?1";
	ck_assert_int_eq(api_db_int(&s2, things, "{\"label\":\"crash\"}"), 0);
	ck_assert_int_eq(key_rows(&s2, "key-crash-1", "in_progress"), 1);
	/* The claim the dead process left is taken over after 60 s. */
	struct api_resp *b = api_request(&s2, "POST", "/test/v1/things", NULL, "application/json", body, hdr);
	ck_assert_problem(b, 409, "idempotency_key_in_use");
	api_advance(&s2, 61);
	struct api_resp *c = api_request(&s2, "POST", "/test/v1/things", NULL, "application/json", body, hdr);
	ck_assert_status(c, 201);
	struct api_resp *d = api_request(&s2, "POST", "/test/v1/things", NULL, "application/json", body, hdr);
	ck_assert_status(d, 201);
	ck_assert_str_eq(d->body, c->body);
	ck_assert_int_eq(api_db_int(&s2, things, "{\"label\":\"crash\"}"), 1);
	ck_assert_int_eq(key_rows(&s2, "key-crash-1", "done"), 1);
	api_resp_free(b);
	api_resp_free(c);
	api_resp_free(d);
	ck_assert_int_eq(api_stop(&s2), 0);
}
END_TEST

START_TEST(faults_route_rejects_an_unknown_fault)
{
	struct api_resp *r = api_json(&srv, "POST", "/test/v1/faults", NULL, json_pack("{s:s}", "idempotency", "melt"));
	ck_assert_problem(r, 422, "validation_failed");
	api_resp_free(r);
	/* Nothing was armed: the next keyed request commits as usual. */
	struct api_resp *a = post_thing("key-nofault-1", "nofault");
	ck_assert_status(a, 201);
	ck_assert_int_eq(things_labelled("nofault"), 1);
	api_resp_free(a);
}
END_TEST

static Suite *idempotency_suite(void)
{
	Suite *s = suite_create("api_idempotency");
	TCase *tc = tcase_create("idempotency");
	tcase_add_unchecked_fixture(tc, start, stop);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, same_key_same_body_replays_the_first_response);
	tcase_add_test(tc, same_key_other_body_is_409_reused);
	tcase_add_test(tc, no_key_acts_every_time);
	tcase_add_test(tc, bad_keys_are_400_and_change_nothing);
	tcase_add_test(tc, validation_errors_are_replayed_too);
	tcase_add_test(tc, concurrent_duplicate_is_409_in_use);
	tcase_add_test(tc, keys_expire_after_24_hours);
	tcase_add_test(tc, a_failed_commit_keeps_neither_the_effect_nor_the_reply);
	tcase_add_test(tc, faults_route_rejects_an_unknown_fault);
	tcase_add_test(tc, a_crash_before_the_commit_leaves_nothing_and_the_retry_acts_once);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(idempotency_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0;
}
