/*
 * API tests of the caches on the authenticated read path against a real
 * hearthd: the account cache behind GET /v1/me (accounts/cache.c), the
 * sign-in revocation cache (auth/sessions.c) and the batched last-use
 * writes (auth/last_use.c).
 *
 * The server runs with both caches' staleness bounds at 60 s and a
 * last-use flush interval of 10 minutes, far longer than any test takes, so
 * only the test clock ages the caches (clock_cache_ms) and only a clock move
 * or a stop writes last uses.  What another hearthd sharing the database
 * would change is done here by writing the database directly.  Requests
 * are repeated REPEAT times where every server thread must have cached
 * something (threads take connections in turn; each keeps its own cache).
 */
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "core/ids.h"
#include "tests/api/harness.h"

#define PASSWORD "correct horse battery staple"
#define STAFF_PASSWORD "staff password for tests"
#define REPEAT 12
#define BOUND_S 60

static struct api_server srv;
static char admin_token[1024];

static const char *const flags[] = {"--revocation-cache-ms", "60000", "--account-cache-ms", "60000",
				    "--last-use-flush-ms", "600000", NULL};
static const char *const ctl_env[] = {"HEARTH_PWHASH_OPSLIMIT=1", "HEARTH_PWHASH_MEMLIMIT=8192", NULL};

static void copy(char *dst, size_t cap, const char *src)
{
	ck_assert_ptr_nonnull(src);
	ck_assert_uint_lt(strlen(src), cap);
	memcpy(dst, src, strlen(src) + 1);
}

static void start(void)
{
	ck_assert_int_ge(sodium_init(), 0);
	api_start(&srv, flags);
	const char *argv[] = {"staff", "create", "--email", "admin@staff.test", "--role", "admin",
			      "--db", srv.db_path, "--name", "First Admin", "--password-stdin", NULL};
	char *out = NULL, *err = NULL;
	int rc = api_ctl(&srv, argv, ctl_env, STAFF_PASSWORD "\n", &out, &err);
	ck_assert_msg(rc == 0, "staff create: %s%s", out, err);
	free(out);
	free(err);
	struct api_resp *r = api_json(&srv, "POST", "/admin/v1/sessions", NULL,
				      json_pack("{s:s, s:s}", "email", "admin@staff.test", "password",
						STAFF_PASSWORD));
	ck_assert_status(r, 201);
	copy(admin_token, sizeof admin_token, api_str(r, "access_token"));
	api_resp_free(r);
}

static void stop(void) { ck_assert_int_eq(api_stop(&srv), 0); }

struct member {
	char account[IDS_MAX];
	char session[IDS_MAX];
	char device[IDS_MAX];
	char access[1024];
};

static void sign_up(struct api_server *s, struct member *m)
{
	char suffix[IDS_MAX], email[96];
	memset(m, 0, sizeof *m);
	ids_new("", suffix, sizeof suffix);
	snprintf(email, sizeof email, "c%s@example.com", suffix);
	struct api_resp *r = api_json(s, "POST", "/v1/accounts", NULL,
				      json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:s}}", "email", email,
						"password", PASSWORD, "country", "US", "name", "Ada",
						"device", "name", "Pixel", "type", "phone"));
	ck_assert_status(r, 201);
	copy(m->account, sizeof m->account,
	     json_string_value(json_object_get(json_object_get(r->json, "account"), "id")));
	json_t *ses = json_object_get(r->json, "session");
	copy(m->session, sizeof m->session, json_string_value(json_object_get(ses, "id")));
	copy(m->device, sizeof m->device,
	     json_string_value(json_object_get(json_object_get(ses, "device"), "id")));
	copy(m->access, sizeof m->access, api_str(r, "access_token"));
	api_resp_free(r);
}

/* GET /v1/me REPEAT times: each answer must have `status`, and, for 200,
 * the name `name`. */
static void me_everywhere(const struct member *m, long status, const char *name)
{
	for (int i = 0; i < REPEAT; i++) {
		struct api_resp *r = api_get(&srv, "/v1/me", m->access);
		if (status == 200) {
			ck_assert_status(r, 200);
			ck_assert_str_eq(api_str(r, "name"), name);
		} else {
			ck_assert_problem(r, status, "invalid_token");
		}
		api_resp_free(r);
	}
}

/* Run one statement on the server's database, as another hearthd sharing
 * it would. */
static void db_write(const char *sql, const char *arg)
{
	struct db *db = api_db(&srv);
	struct db_stmt *st = NULL;
	ck_assert_int_eq(db_prepare(db, sql, &st), ERR_OK);
	db_bind_text(st, 1, arg);
	ck_assert_int_eq(db_step_done(st), ERR_OK);
	db_done(st);
	ck_assert_int_eq(db_changes(db), 1);
	db_close(db);
}

/* ---- the account cache ---- */

START_TEST(a_changed_name_shows_at_once_on_every_thread)
{
	struct member m;
	sign_up(&srv, &m);
	me_everywhere(&m, 200, "Ada");
	struct api_resp *r = api_json(&srv, "PATCH", "/v1/me", m.access, json_pack("{s:s}", "name", "Grace"));
	ck_assert_status(r, 200);
	ck_assert_str_eq(api_str(r, "name"), "Grace");
	api_resp_free(r);
	me_everywhere(&m, 200, "Grace");
	/* Cleared, it is null at once too. */
	r = api_json(&srv, "PATCH", "/v1/me", m.access, json_pack("{s:n}", "name"));
	ck_assert_status(r, 200);
	api_resp_free(r);
	for (int i = 0; i < REPEAT; i++) {
		r = api_get(&srv, "/v1/me", m.access);
		ck_assert_status(r, 200);
		ck_assert(json_is_null(json_object_get(r->json, "name")));
		api_resp_free(r);
	}
}
END_TEST

START_TEST(another_process_change_shows_within_the_bound)
{
	struct member m;
	sign_up(&srv, &m);
	me_everywhere(&m, 200, "Ada");
	db_write("UPDATE accounts SET name = 'Lin' WHERE id = ?1", m.account);
	/* Threads that cached the account may answer "Ada" until the bound
	 * passes (which thread takes a request is not ours to choose, so that
	 * is not asserted); once it has, none may.  Without the test clock
	 * ageing the cache, they would for another minute of real time. */
	api_advance(&srv, BOUND_S + 1);
	me_everywhere(&m, 200, "Lin");
}
END_TEST

START_TEST(erasure_hides_the_account_at_once)
{
	struct member m;
	char path[128];
	sign_up(&srv, &m);
	me_everywhere(&m, 200, "Ada");
	snprintf(path, sizeof path, "/admin/v1/accounts/%s/erase", m.account);
	const char *headers[] = {"X-Hearth-Reason: member asked, ticket 7", NULL};
	struct api_resp *r = api_request(&srv, "POST", path, admin_token, NULL, NULL, headers);
	ck_assert_status(r, 200);
	api_resp_free(r);
	me_everywhere(&m, 401, NULL);
}
END_TEST

/* ---- the revocation cache ---- */

START_TEST(a_revocation_here_is_401_at_once)
{
	struct member m, other;
	sign_up(&srv, &m);
	sign_up(&srv, &other);
	me_everywhere(&m, 200, "Ada");
	me_everywhere(&other, 200, "Ada");
	struct api_resp *r = api_request(&srv, "DELETE", "/v1/sessions/current", m.access, NULL, NULL, NULL);
	ck_assert_status(r, 204);
	api_resp_free(r);
	me_everywhere(&m, 401, NULL);
	me_everywhere(&other, 200, "Ada");
}
END_TEST

START_TEST(a_revocation_elsewhere_is_401_within_the_bound)
{
	struct member m;
	sign_up(&srv, &m);
	me_everywhere(&m, 200, "Ada");
	db_write("UPDATE sessions SET revoked_at = 1, revoke_reason = 'elsewhere' WHERE id = ?1", m.session);
	/* Within the bound a thread's cached check may still pass (not
	 * asserted: see above); past it, none may. */
	api_advance(&srv, BOUND_S + 1);
	me_everywhere(&m, 401, NULL);
}
END_TEST

/* ---- last use, written in batches ---- */

static int64_t last_used(struct api_server *s, const struct member *m)
{
	return api_db_int(s, "SELECT last_used_at FROM sessions WHERE id = ?1", m->session);
}

static int64_t last_seen(struct api_server *s, const struct member *m)
{
	return api_db_int(s, "SELECT last_seen_at FROM devices WHERE id = ?1", m->device);
}

START_TEST(a_flush_writes_the_latest_use)
{
	struct member m;
	sign_up(&srv, &m);
	int64_t created = last_used(&srv, &m);
	api_advance(&srv, 61);
	me_everywhere(&m, 200, "Ada");
	/* Recorded in memory only, until a flush. */
	ck_assert_int_eq(last_used(&srv, &m), created);
	ck_assert_int_eq(last_seen(&srv, &m), created);
	api_advance(&srv, 61); /* moving the clock flushes */
	ck_assert_int_eq(last_used(&srv, &m), created + 61);
	ck_assert_int_eq(last_seen(&srv, &m), created + 61);
	me_everywhere(&m, 200, "Ada");
	api_advance(&srv, 0);
	ck_assert_int_eq(last_used(&srv, &m), created + 122);
	ck_assert_int_eq(last_seen(&srv, &m), created + 122);
	/* A flush with nothing new changes nothing. */
	api_advance(&srv, 0);
	ck_assert_int_eq(last_used(&srv, &m), created + 122);
}
END_TEST

START_TEST(nothing_is_lost_at_a_clean_shutdown)
{
	struct api_server own;
	struct member m;
	api_start(&own, flags);
	sign_up(&own, &m);
	int64_t created = last_used(&own, &m);
	api_advance(&own, 61);
	struct api_resp *r = api_get(&own, "/v1/me", m.access);
	ck_assert_status(r, 200);
	api_resp_free(r);
	ck_assert_int_eq(last_used(&own, &m), created);
	/* SIGTERM, as an operator stops it; then read what it left. */
	int status = -1;
	ck_assert_int_eq(kill(own.pid, SIGTERM), 0);
	ck_assert_int_eq(waitpid(own.pid, &status, 0), own.pid);
	own.pid = 0;
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_int_eq(last_used(&own, &m), created + 61);
	ck_assert_int_eq(last_seen(&own, &m), created + 61);
	ck_assert_int_eq(api_stop(&own), 0);
}
END_TEST

static Suite *caches_suite(void)
{
	Suite *s = suite_create("api_caches");
	TCase *tc = tcase_create("caches");
	tcase_add_unchecked_fixture(tc, start, stop);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, a_changed_name_shows_at_once_on_every_thread);
	tcase_add_test(tc, another_process_change_shows_within_the_bound);
	tcase_add_test(tc, erasure_hides_the_account_at_once);
	tcase_add_test(tc, a_revocation_here_is_401_at_once);
	tcase_add_test(tc, a_revocation_elsewhere_is_401_within_the_bound);
	tcase_add_test(tc, a_flush_writes_the_latest_use);
	tcase_add_test(tc, nothing_is_lost_at_a_clean_shutdown);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(caches_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
