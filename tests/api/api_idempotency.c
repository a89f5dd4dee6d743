/*
 * API tests of the Idempotency-Key middleware (server/idempotency.c) on the
 * test-mode route POST /test/v1/things, which writes one event row per
 * thing it creates.
 */
#include <pthread.h>
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
	snprintf(hdr, sizeof hdr, "Idempotency-Key: %s", key);
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
