/*
 * API tests of the device login flow (RFC 8628) against a real hearthd:
 * the whole flow through the API, every OAuth error of both endpoints (and
 * the server's own body errors as OAuth objects), the slow_down arithmetic,
 * expiry and single use driven by the test clock, denial, refresh through
 * /oauth/token, throttled user-code guessing, the member API's answers,
 * and the /device web page's form flow with its CSRF defence.
 *
 * Client registration is a staff action: /admin/v1/clients and
 * `hearthctl clients add|list|disable`, with roles, reasons and audit rows.
 *
 * The server trusts 127.0.0.1 as a proxy so that tests that count attempts
 * per network can come from their own X-Forwarded-For address.
 */
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/ids.h"
#include "tests/api/harness.h"

#define PASSWORD "correct horse battery staple"
#define CLIENT "hearth-tv-demo"
#define GRANT "urn:ietf:params:oauth:grant-type:device_code"

#define STAFF_PASSWORD "staff password for tests"

static struct api_server srv;
static char admin_token[1024], agent_token[1024];
static const char *const ctl_env[] = {"HEARTH_PWHASH_OPSLIMIT=1", "HEARTH_PWHASH_MEMLIMIT=8192",
				      "NO_COLOR=1", NULL};

static void staff_signin(const char *email, char *token, size_t cap)
{
	struct api_resp *r = api_json(&srv, "POST", "/admin/v1/sessions", NULL,
				      json_pack("{s:s, s:s}", "email", email, "password", STAFF_PASSWORD));
	ck_assert_status(r, 201);
	const char *t = api_str(r, "access_token");
	ck_assert_ptr_nonnull(t);
	ck_assert_uint_lt(strlen(t), cap);
	memcpy(token, t, strlen(t) + 1);
	api_resp_free(r);
}

static void start(void)
{
	static const char *const flags[] = {"--revocation-cache-ms", "0", "--trusted-proxies",
					    "127.0.0.1/32", NULL};
	ck_assert_int_ge(sodium_init(), 0);
	api_start(&srv, flags);
	/* The first admin on the host, then an agent. */
	const char *argv[] = {"staff", "create", "--email", "admin@staff.test", "--role", "admin",
			      "--db", srv.db_path, "--password-stdin", NULL};
	char *out = NULL, *err = NULL;
	int rc = api_ctl(&srv, argv, ctl_env, STAFF_PASSWORD "\n", &out, &err);
	ck_assert_msg(rc == 0, "staff create: %s%s", out, err);
	free(out);
	free(err);
	staff_signin("admin@staff.test", admin_token, sizeof admin_token);
	const char *const why[] = {"X-Hearth-Reason: fixture", NULL};
	char *body = NULL;
	json_t *o = json_pack("{s:s, s:s, s:s}", "email", "agent@staff.test", "role", "agent",
			      "password", STAFF_PASSWORD);
	body = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	struct api_resp *r = api_request(&srv, "POST", "/admin/v1/staff", admin_token, "application/json",
					 body, why);
	free(body);
	ck_assert_status(r, 201);
	api_resp_free(r);
	staff_signin("agent@staff.test", agent_token, sizeof agent_token);
}

static void stop(void) { ck_assert_int_eq(api_stop(&srv), 0); }

static void copy(char *dst, size_t cap, const char *src)
{
	ck_assert_ptr_nonnull(src);
	ck_assert_uint_lt(strlen(src), cap);
	memcpy(dst, src, strlen(src) + 1);
}

static int64_t count(const char *sql, const char *arg) { return api_db_int(&srv, sql, arg); }

/* Run one statement on the server's database (test setup only). */
static void db_exec_sql(const char *sql)
{
	struct db *db = api_db(&srv);
	ck_assert_int_eq(db_exec(db, sql), ERR_OK);
	db_close(db);
}

/* ---- members ---- */

struct member {
	char email[96];
	char account[IDS_MAX];
	char access[1024];
};

static void member_new(struct member *m)
{
	char suffix[IDS_MAX];
	memset(m, 0, sizeof *m);
	ids_new("", suffix, sizeof suffix);
	snprintf(m->email, sizeof m->email, "m%s@example.com", suffix);
	struct api_resp *r = api_json(&srv, "POST", "/v1/accounts", NULL,
				      json_pack("{s:s, s:s, s:s}", "email", m->email, "password",
						PASSWORD, "country", "US"));
	ck_assert_status(r, 201);
	copy(m->account, sizeof m->account,
	     json_string_value(json_object_get(json_object_get(r->json, "account"), "id")));
	copy(m->access, sizeof m->access, api_str(r, "access_token"));
	api_resp_free(r);
}

/* ---- form bodies ---- */

static void form_add(char *buf, size_t cap, const char *name, const char *value)
{
	size_t n = strlen(buf);
	int w = snprintf(buf + n, cap - n, "%s%s=", n ? "&" : "", name);
	ck_assert(w > 0 && (size_t)w < cap - n);
	n += (size_t)w;
	for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
		ck_assert_uint_lt(n + 4, cap);
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    *p == '-' || *p == '_' || *p == '.' || *p == '~') {
			buf[n++] = (char)*p;
		} else {
			snprintf(buf + n, cap - n, "%%%02X", *p);
			n += 3;
		}
	}
	buf[n] = '\0';
}

static struct api_resp *post_form(const char *path, const char *body, const char *const *headers)
{
	return api_request(&srv, "POST", path, NULL, "application/x-www-form-urlencoded", body, headers);
}

/* ---- OAuth ---- */

struct codes {
	char device_code[128];
	char user_code[16];
};

static void authorize(const char *extra, struct codes *c)
{
	char body[1024] = "";
	form_add(body, sizeof body, "client_id", CLIENT);
	if (extra) {
		size_t n = strlen(body);
		snprintf(body + n, sizeof body - n, "&%s", extra);
	}
	struct api_resp *r = api_form(&srv, "/oauth/device_authorization", body);
	ck_assert_status(r, 200);
	copy(c->device_code, sizeof c->device_code, api_str(r, "device_code"));
	copy(c->user_code, sizeof c->user_code, api_str(r, "user_code"));
	api_resp_free(r);
}

static struct api_resp *poll_as(const char *client, const char *device_code)
{
	char body[512] = "";
	form_add(body, sizeof body, "grant_type", GRANT);
	if (client)
		form_add(body, sizeof body, "client_id", client);
	if (device_code)
		form_add(body, sizeof body, "device_code", device_code);
	return api_form(&srv, "/oauth/token", body);
}

static struct api_resp *poll(const char *device_code) { return poll_as(CLIENT, device_code); }

/* An OAuth error object with the no-store headers, as RFC 6749 5.2 says. */
static void assert_oauth_error(struct api_resp *r, long status, const char *error)
{
	char buf[128];
	ck_assert_status(r, status);
	ck_assert_str_eq(api_header(r, "Content-Type", buf, sizeof buf), "application/json");
	ck_assert_str_eq(api_header(r, "Cache-Control", buf, sizeof buf), "no-store");
	ck_assert_str_eq(api_header(r, "Pragma", buf, sizeof buf), "no-cache");
	const char *got = api_str(r, "error");
	ck_assert_msg(got && strcmp(got, error) == 0, "expected error %s, got %s", error, r->body);
	ck_assert_ptr_nonnull(api_str(r, "error_description"));
	ck_assert_ptr_null(json_object_get(r->json, "code"));
	if (status == 401)
		ck_assert_ptr_nonnull(api_header(r, "WWW-Authenticate", buf, sizeof buf));
}

static void expect_poll(const char *device_code, const char *error)
{
	struct api_resp *r = poll(device_code);
	assert_oauth_error(r, 400, error);
	api_resp_free(r);
}

static void approve(const struct member *m, const char *user_code)
{
	char path[128];
	snprintf(path, sizeof path, "/v1/device-codes/%s/approve", user_code);
	struct api_resp *r = api_json(&srv, "POST", path, m->access, json_object());
	ck_assert_status(r, 200);
	ck_assert_str_eq(api_str(r, "status"), "approved");
	api_resp_free(r);
}

struct tv_tokens {
	char access[1024];
	char refresh[64];
};

static void exchange(const char *device_code, struct tv_tokens *t)
{
	char buf[64];
	struct api_resp *r = poll(device_code);
	ck_assert_status(r, 200);
	ck_assert_str_eq(api_header(r, "Cache-Control", buf, sizeof buf), "no-store");
	ck_assert_str_eq(api_header(r, "Pragma", buf, sizeof buf), "no-cache");
	ck_assert_str_eq(api_str(r, "token_type"), "Bearer");
	ck_assert_str_eq(api_str(r, "scope"), "hearth");
	ck_assert_int_eq(json_integer_value(json_object_get(r->json, "expires_in")), 900);
	copy(t->access, sizeof t->access, api_str(r, "access_token"));
	copy(t->refresh, sizeof t->refresh, api_str(r, "refresh_token"));
	api_resp_free(r);
}

static int64_t interval_of(const char *user_code)
{
	char norm[16] = "";
	size_t n = 0;
	for (const char *p = user_code; *p; p++)
		if (*p != '-')
			norm[n++] = *p;
	return count("SELECT interval_s FROM device_authorizations WHERE user_code = ?1", norm);
}

/* ---- the whole flow ---------------------------------------------------- */

START_TEST(a_tv_signs_in_through_the_api)
{
	struct member m;
	struct codes c;
	struct tv_tokens t;
	char buf[256], path[128];
	member_new(&m);
	int64_t sessions_before = count("SELECT COUNT(*) FROM events WHERE type = 'session.created'", NULL);

	struct api_resp *r = api_form(&srv, "/oauth/device_authorization",
				      "client_id=hearth-tv-demo&device_name=Living+room+TV&device_model=Bravia+X90&scope=hearth");
	ck_assert_status(r, 200);
	ck_assert_str_eq(api_header(r, "Cache-Control", buf, sizeof buf), "no-store");
	copy(c.device_code, sizeof c.device_code, api_str(r, "device_code"));
	copy(c.user_code, sizeof c.user_code, api_str(r, "user_code"));
	ck_assert_uint_eq(strlen(c.device_code), 72); /* the id, then 256 random bits */
	ck_assert_uint_eq(strlen(c.user_code), 9);
	ck_assert_int_eq(c.user_code[4], '-');
	for (int i = 0; i < 9; i++)
		if (i != 4)
			ck_assert_ptr_nonnull(strchr("BCDFGHJKLMNPQRSTVWXZ", c.user_code[i]));
	ck_assert_int_eq(json_integer_value(json_object_get(r->json, "expires_in")), 600);
	ck_assert_int_eq(json_integer_value(json_object_get(r->json, "interval")), 5);
	ck_assert_str_eq(api_str(r, "verification_uri"), "https://hearth.example/device");
	snprintf(buf, sizeof buf, "https://hearth.example/device?user_code=%s", c.user_code);
	ck_assert_str_eq(api_str(r, "verification_uri_complete"), buf);
	api_resp_free(r);
	/* Only the hash is stored. */
	ck_assert_int_eq(count("SELECT COUNT(*) FROM device_authorizations WHERE device_code_hash = ?1",
			       c.device_code), 0);

	expect_poll(c.device_code, "authorization_pending");

	/* The member looks the code up, typed sloppily, and sees what it is. */
	char sloppy[16];
	snprintf(sloppy, sizeof sloppy, "%c%c%c%c%%20%c%c%c%c", c.user_code[0] + 32, c.user_code[1] + 32,
		 c.user_code[2], c.user_code[3], c.user_code[5], c.user_code[6] + 32, c.user_code[7],
		 c.user_code[8]);
	snprintf(path, sizeof path, "/v1/device-codes/%s", sloppy);
	r = api_get(&srv, path, m.access);
	ck_assert_status(r, 200);
	ck_assert_str_eq(api_str(r, "user_code"), c.user_code);
	ck_assert_str_eq(api_str(r, "status"), "pending");
	json_t *client = json_object_get(r->json, "client");
	ck_assert_str_eq(json_string_value(json_object_get(client, "id")), CLIENT);
	ck_assert_str_eq(json_string_value(json_object_get(client, "name")), "Hearth TV (demo)");
	json_t *dev = json_object_get(r->json, "device");
	ck_assert_str_eq(json_string_value(json_object_get(dev, "type")), "tv");
	ck_assert_str_eq(json_string_value(json_object_get(dev, "name")), "Living room TV");
	ck_assert_str_eq(json_string_value(json_object_get(dev, "model")), "Bravia X90");
	ck_assert_str_eq(api_str(r, "network"), "127.0.0.0/24");
	char when[32];
	ck_assert_str_eq(api_str(r, "requested_at"), clock_format(API_CLOCK_START, when, sizeof when));
	api_resp_free(r);

	approve(&m, c.user_code);
	exchange(c.device_code, &t);

	/* The TV's token works and the TV is in the member's devices. */
	r = api_get(&srv, "/v1/devices", t.access);
	ck_assert_status(r, 200);
	json_t *data = json_object_get(r->json, "data");
	json_t *tv = NULL;
	size_t i;
	json_t *d;
	json_array_foreach(data, i, d)
		if (json_is_true(json_object_get(d, "current")))
			tv = d;
	ck_assert_ptr_nonnull(tv);
	ck_assert_str_eq(json_string_value(json_object_get(tv, "type")), "tv");
	ck_assert_str_eq(json_string_value(json_object_get(tv, "name")), "Living room TV");
	ck_assert_str_eq(json_string_value(json_object_get(tv, "model")), "Bravia X90");
	ck_assert_str_eq(json_string_value(json_object_get(tv, "client_id")), CLIENT);
	ck_assert_str_eq(json_string_value(json_object_get(tv, "last_network")), "127.0.0.0/24");
	ck_assert_int_eq(count("SELECT COUNT(*) FROM devices WHERE account_id = ?1 AND type = 'tv'"
			       " AND client_id = 'hearth-tv-demo'", m.account), 1);
	api_resp_free(r);

	ck_assert_int_eq(count("SELECT COUNT(*) FROM events WHERE type = 'session.created'", NULL),
			 sessions_before + 1);
	ck_assert_int_ge(count("SELECT COUNT(*) FROM events WHERE type = 'device_authorization.created'", NULL), 1);
	ck_assert_int_eq(count("SELECT COUNT(*) FROM events WHERE type = 'device_authorization.approved'"
			       " AND json_extract(payload, '$.account_id') = ?1", m.account), 1);
}
END_TEST

START_TEST(the_device_name_defaults_to_the_client_name_and_a_chosen_profile_is_kept)
{
	struct member m;
	struct codes c;
	struct tv_tokens t;
	char path[128], profile[IDS_MAX];
	member_new(&m);
	struct api_resp *r = api_get(&srv, "/v1/profiles", m.access);
	ck_assert_status(r, 200);
	copy(profile, sizeof profile,
	     json_string_value(json_object_get(json_array_get(json_object_get(r->json, "data"), 0), "id")));
	char profile_name[256];
	copy(profile_name, sizeof profile_name,
	     json_string_value(json_object_get(json_array_get(json_object_get(r->json, "data"), 0), "name")));
	api_resp_free(r);
	authorize(NULL, &c);
	snprintf(path, sizeof path, "/v1/device-codes/%s/approve", c.user_code);
	r = api_json(&srv, "POST", path, m.access, json_pack("{s:s}", "profile_id", profile));
	ck_assert_status(r, 200);
	api_resp_free(r);
	exchange(c.device_code, &t);
	ck_assert_int_eq(count("SELECT COUNT(*) FROM devices WHERE account_id = ?1 AND name = 'Hearth TV (demo)'",
			       m.account), 1);
	struct db *db = api_db(&srv);
	struct db_stmt *st = NULL;
	ck_assert_int_eq(db_prepare(db, "SELECT last_profile_id FROM devices WHERE account_id = ?1 AND type = 'tv'", &st), ERR_OK);
	db_bind_text(st, 1, m.account);
	ck_assert_int_eq(db_step_row(st), ERR_OK);
	ck_assert_str_eq(db_column_text(st, 0), profile);
	db_done(st);
	db_close(db);
	/* The registry names it (GET /v1/devices, last_profile_name). */
	r = api_get(&srv, "/v1/devices", m.access);
	ck_assert_status(r, 200);
	json_t *data = json_object_get(r->json, "data"), *d;
	size_t i;
	bool seen = false;
	json_array_foreach(data, i, d) {
		if (strcmp(json_string_value(json_object_get(d, "type")), "tv") != 0)
			continue;
		ck_assert_str_eq(json_string_value(json_object_get(d, "last_profile_id")), profile);
		ck_assert_str_eq(json_string_value(json_object_get(d, "last_profile_name")), profile_name);
		seen = true;
	}
	ck_assert(seen);
	api_resp_free(r);
}
END_TEST

START_TEST(approving_with_a_profile_that_is_not_yours_is_refused)
{
	struct member m, other;
	struct codes c;
	char path[128], profile[IDS_MAX];
	member_new(&m);
	member_new(&other);
	struct api_resp *r = api_get(&srv, "/v1/profiles", other.access);
	copy(profile, sizeof profile,
	     json_string_value(json_object_get(json_array_get(json_object_get(r->json, "data"), 0), "id")));
	api_resp_free(r);
	authorize(NULL, &c);
	snprintf(path, sizeof path, "/v1/device-codes/%s/approve", c.user_code);
	r = api_json(&srv, "POST", path, m.access, json_pack("{s:s}", "profile_id", profile));
	ck_assert_problem(r, 422, "validation_failed");
	api_resp_free(r);
	r = api_json(&srv, "POST", path, m.access, json_pack("{s:s}", "colour", "red"));
	ck_assert_problem(r, 422, "validation_failed");
	api_resp_free(r);
	r = api_json(&srv, "POST", path, NULL, json_object());
	ck_assert_problem(r, 401, "unauthenticated");
	api_resp_free(r);
	expect_poll(c.device_code, "authorization_pending");
}
END_TEST

/* ---- the authorization endpoint's errors -------------------------------- */

START_TEST(device_authorization_errors_are_oauth_objects_and_change_nothing)
{
	static const char *const bad_ct[] = {NULL};
	int64_t before = count("SELECT COUNT(*) FROM device_authorizations", NULL);
	struct {
		const char *body;
		long status;
		const char *error;
	} cases[] = {
		{"", 400, "invalid_request"},
		{"scope=hearth", 400, "invalid_request"},
		{"client_id=", 400, "invalid_request"},
		{"client_id=no-such-tv", 401, "invalid_client"},
		{"client_id=Bad%20Id", 401, "invalid_client"},
		{"client_id=hearth-tv-demo&scope=admin", 400, "invalid_scope"},
		{"client_id=hearth-tv-demo&scope=hearth+admin", 400, "invalid_scope"},
		{"client_id=hearth-tv-demo&device_name=", 400, "invalid_request"},
		{"client_id=hearth-tv-demo&device_name=a%0Ab", 400, "invalid_request"},
		{"client_id=hearth-tv-demo&device_model=%FF", 400, "invalid_request"},
		{"client_id=hearth-tv-demo&device_id=12345678901234567890123456789012345678901234567890123456789012345", 400, "invalid_request"},
		/* The server's own form errors: repeated parameter, bad escape. */
		{"client_id=hearth-tv-demo&client_id=hearth-tv-demo", 400, "invalid_request"},
		{"client_id=hearth-tv-demo&x=%zz", 400, "invalid_request"},
		{"client_id", 400, "invalid_request"},
	};
	(void)bad_ct;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct api_resp *r = api_form(&srv, "/oauth/device_authorization", cases[i].body);
		assert_oauth_error(r, cases[i].status, cases[i].error);
		api_resp_free(r);
	}
	/* A JSON body, and no content type at all: still an OAuth object. */
	struct api_resp *r = api_request(&srv, "POST", "/oauth/device_authorization", NULL,
					 "application/json", "{\"client_id\":\"hearth-tv-demo\"}", NULL);
	assert_oauth_error(r, 400, "invalid_request");
	api_resp_free(r);
	r = api_request(&srv, "POST", "/oauth/device_authorization", NULL, NULL, NULL, NULL);
	assert_oauth_error(r, 400, "invalid_request");
	api_resp_free(r);
	/* Too large a body. */
	size_t big = 70000;
	char *huge = malloc(big + 1);
	ck_assert_ptr_nonnull(huge);
	memcpy(huge, "client_id=", 10);
	memset(huge + 10, 'a', big - 10);
	huge[big] = '\0';
	r = api_form(&srv, "/oauth/device_authorization", huge);
	assert_oauth_error(r, 400, "invalid_request");
	api_resp_free(r);
	free(huge);
	ck_assert_int_eq(count("SELECT COUNT(*) FROM device_authorizations", NULL), before);
}
END_TEST

START_TEST(disabled_clients_and_clients_without_the_grant_are_refused)
{
	db_exec_sql("INSERT INTO oauth_clients (id, name, device_type, grant_types, active, created_at,"
		    " disabled_at) VALUES ('old-tv', 'Old TV', 'tv', 'device_code refresh_token', 0, 0, 1)"
		    " ON CONFLICT (id) DO NOTHING");
	db_exec_sql("INSERT INTO oauth_clients (id, name, device_type, grant_types, active, created_at)"
		    " VALUES ('refresh-only', 'Refresher', 'console', 'refresh_token', 1, 0)"
		    " ON CONFLICT (id) DO NOTHING");
	int64_t before = count("SELECT COUNT(*) FROM device_authorizations", NULL);
	struct api_resp *r = api_form(&srv, "/oauth/device_authorization", "client_id=old-tv");
	assert_oauth_error(r, 401, "invalid_client");
	api_resp_free(r);
	r = api_form(&srv, "/oauth/device_authorization", "client_id=refresh-only");
	assert_oauth_error(r, 400, "unauthorized_client");
	api_resp_free(r);
	ck_assert_int_eq(count("SELECT COUNT(*) FROM device_authorizations", NULL), before);
}
END_TEST

START_TEST(a_client_may_identify_itself_with_http_basic_and_no_secret)
{
	char auth[128], b64[96];
	const char *id = CLIENT ":";
	sodium_bin2base64(b64, sizeof b64, (const unsigned char *)id, strlen(id),
			  sodium_base64_VARIANT_ORIGINAL);
	snprintf(auth, sizeof auth, "Authorization: Basic %s", b64);
	const char *const ok[] = {auth, NULL};
	struct api_resp *r = post_form("/oauth/device_authorization", "", ok);
	ck_assert_status(r, 200);
	api_resp_free(r);
	/* The body must not name another client. */
	r = post_form("/oauth/device_authorization", "client_id=other-tv", ok);
	assert_oauth_error(r, 400, "invalid_request");
	api_resp_free(r);
	/* A secret means a confidential client, which this server has not. */
	const char *with_secret = CLIENT ":s3cret";
	sodium_bin2base64(b64, sizeof b64, (const unsigned char *)with_secret, strlen(with_secret),
			  sodium_base64_VARIANT_ORIGINAL);
	snprintf(auth, sizeof auth, "Authorization: Basic %s", b64);
	const char *const secret[] = {auth, NULL};
	r = post_form("/oauth/device_authorization", "", secret);
	assert_oauth_error(r, 401, "invalid_client");
	char buf[64];
	ck_assert_str_eq(api_header(r, "WWW-Authenticate", buf, sizeof buf), "Basic realm=\"hearth\"");
	api_resp_free(r);
	const char *const bearer[] = {"Authorization: Bearer abc", NULL};
	r = post_form("/oauth/device_authorization", "client_id=hearth-tv-demo", bearer);
	assert_oauth_error(r, 401, "invalid_client");
	api_resp_free(r);
}
END_TEST

/* ---- the token endpoint's errors ---------------------------------------- */

START_TEST(token_errors_are_oauth_objects)
{
	struct codes c;
	authorize(NULL, &c);
	struct {
		const char *body;
		long status;
		const char *error;
	} cases[] = {
		{"", 400, "invalid_request"},
		{"grant_type=", 400, "invalid_request"},
		{"grant_type=password&username=a&password=b", 400, "unsupported_grant_type"},
		{"grant_type=authorization_code&code=x", 400, "unsupported_grant_type"},
		{"grant_type=" GRANT "&device_code=x", 400, "invalid_request"},
		{"grant_type=" GRANT "&client_id=hearth-tv-demo", 400, "invalid_request"},
		{"grant_type=" GRANT "&client_id=nobody&device_code=x", 401, "invalid_client"},
		{"grant_type=" GRANT "&client_id=hearth-tv-demo&device_code=not-a-code", 400, "invalid_grant"},
		{"grant_type=" GRANT "&client_id=hearth-tv-demo&device_code=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 400, "invalid_grant"},
		{"grant_type=refresh_token", 400, "invalid_request"},
		{"grant_type=refresh_token&refresh_token=nope", 400, "invalid_grant"},
		{"grant_type=refresh_token&refresh_token=nope&client_id=nobody", 401, "invalid_client"},
		{"grant_type=" GRANT "&grant_type=" GRANT, 400, "invalid_request"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct api_resp *r = api_form(&srv, "/oauth/token", cases[i].body);
		assert_oauth_error(r, cases[i].status, cases[i].error);
		api_resp_free(r);
	}
	struct api_resp *r = api_request(&srv, "POST", "/oauth/token", NULL, "text/plain", "grant_type=x", NULL);
	assert_oauth_error(r, 400, "invalid_request");
	api_resp_free(r);
	/* Another client's code is invalid_grant for this one, and untouched. */
	db_exec_sql("INSERT INTO oauth_clients (id, name, device_type, grant_types, active, created_at)"
		    " VALUES ('console-app', 'Console', 'console', 'device_code refresh_token', 1, 0)"
		    " ON CONFLICT (id) DO NOTHING");
	r = poll_as("console-app", c.device_code);
	assert_oauth_error(r, 400, "invalid_grant");
	api_resp_free(r);
	ck_assert_int_eq(count("SELECT COUNT(*) FROM device_authorizations WHERE last_poll_at IS NOT NULL"
			       " AND user_code = replace(?1, '-', '')", c.user_code), 0);
	expect_poll(c.device_code, "authorization_pending");
}
END_TEST

/* ---- polling ------------------------------------------------------------ */

START_TEST(slow_down_adds_five_seconds_that_stay)
{
	struct codes c;
	authorize(NULL, &c);
	static const char *const events_sql = "SELECT COUNT(*) FROM events WHERE type LIKE 'device_authorization.%'";
	int64_t events = count(events_sql, NULL);
	expect_poll(c.device_code, "authorization_pending");
	expect_poll(c.device_code, "slow_down"); /* at once: the interval is now 10 */
	api_advance(&srv, 5);
	expect_poll(c.device_code, "slow_down"); /* 5 s < 10 s: now 15 */
	api_advance(&srv, 15);
	expect_poll(c.device_code, "authorization_pending");
	api_advance(&srv, 14);
	expect_poll(c.device_code, "slow_down"); /* 14 s < 15 s: now 20 */
	api_advance(&srv, 19);
	expect_poll(c.device_code, "slow_down"); /* 19 s < 20 s: now 25 */
	api_advance(&srv, 25);
	expect_poll(c.device_code, "authorization_pending");
	/* The pace lives in memory: polling wrote nothing (docs/device-login.md). */
	ck_assert_int_eq(interval_of(c.user_code), 5);
	ck_assert_int_eq(count("SELECT COUNT(*) FROM device_authorizations WHERE last_poll_at IS NOT NULL",
			       NULL), 0);
	ck_assert_int_eq(count(events_sql, NULL), events);
}
END_TEST

START_TEST(codes_expire_after_ten_minutes)
{
	struct member m;
	struct codes c;
	char path[128];
	member_new(&m);
	authorize(NULL, &c);
	api_advance(&srv, 599);
	snprintf(path, sizeof path, "/v1/device-codes/%s", c.user_code);
	struct api_resp *r = api_get(&srv, path, m.access);
	ck_assert_status(r, 200);
	api_resp_free(r);
	api_advance(&srv, 2);
	expect_poll(c.device_code, "expired_token");
	r = api_get(&srv, path, m.access);
	ck_assert_problem(r, 404, "user_code_invalid");
	api_resp_free(r);
	snprintf(path, sizeof path, "/v1/device-codes/%s/approve", c.user_code);
	r = api_json(&srv, "POST", path, m.access, json_object());
	ck_assert_problem(r, 404, "user_code_invalid");
	api_resp_free(r);
	expect_poll(c.device_code, "expired_token");
	ck_assert_int_eq(count("SELECT COUNT(*) FROM device_authorizations WHERE user_code = replace(?1, '-', '')"
			       " AND status = 'pending' AND account_id IS NULL", c.user_code), 1);
	/* An hour later the next authorization purges it: then it is unknown. */
	api_advance(&srv, 3600);
	struct codes fresh;
	authorize(NULL, &fresh);
	ck_assert_int_eq(count("SELECT COUNT(*) FROM device_authorizations WHERE user_code = replace(?1, '-', '')",
			       c.user_code), 0);
	expect_poll(c.device_code, "invalid_grant");
}
END_TEST

START_TEST(a_device_code_is_single_use)
{
	struct member m;
	struct codes c;
	struct tv_tokens t;
	member_new(&m);
	authorize(NULL, &c);
	approve(&m, c.user_code);
	exchange(c.device_code, &t);
	expect_poll(c.device_code, "invalid_grant");
	ck_assert_int_eq(count("SELECT COUNT(*) FROM device_authorizations WHERE user_code = replace(?1, '-', '')",
			       c.user_code), 0);
	ck_assert_int_eq(count("SELECT COUNT(*) FROM sessions WHERE account_id = ?1", m.account), 2);
	/* The user code is gone too. */
	char path[128];
	snprintf(path, sizeof path, "/v1/device-codes/%s/approve", c.user_code);
	struct api_resp *r = api_json(&srv, "POST", path, m.access, json_object());
	ck_assert_problem(r, 404, "user_code_invalid");
	api_resp_free(r);
}
END_TEST

START_TEST(a_code_issued_before_a_restart_works_after_it)
{
	struct member m;
	struct codes c;
	struct tv_tokens t;
	char forged[128];
	/* A server of its own: the suite's is shared by tests that each run in
	 * a child process, which would not see where a restarted one listens. */
	struct api_server shared = srv;
	api_start(&srv, NULL);
	member_new(&m);
	authorize(NULL, &c);
	api_restart(&srv);
	expect_poll(c.device_code, "authorization_pending");
	/* The code names its row, but only its secret opens it. */
	snprintf(forged, sizeof forged, "%s", c.device_code);
	forged[50] = forged[50] == 'A' ? 'B' : 'A';
	expect_poll(forged, "invalid_grant");
	approve(&m, c.user_code);
	exchange(c.device_code, &t);
	expect_poll(c.device_code, "invalid_grant");
	ck_assert_int_eq(api_stop(&srv), 0);
	srv = shared;
}
END_TEST

START_TEST(a_denied_code_gets_access_denied_for_good)
{
	struct member m;
	struct codes c;
	char path[128];
	member_new(&m);
	authorize(NULL, &c);
	snprintf(path, sizeof path, "/v1/device-codes/%s/deny", c.user_code);
	struct api_resp *r = api_request(&srv, "POST", path, m.access, NULL, NULL, NULL);
	ck_assert_status(r, 200);
	ck_assert_str_eq(api_str(r, "status"), "denied");
	api_resp_free(r);
	expect_poll(c.device_code, "access_denied");
	api_advance(&srv, 10);
	expect_poll(c.device_code, "access_denied");
	snprintf(path, sizeof path, "/v1/device-codes/%s/approve", c.user_code);
	r = api_json(&srv, "POST", path, m.access, json_object());
	ck_assert_problem(r, 404, "user_code_invalid");
	api_resp_free(r);
	ck_assert_int_eq(count("SELECT COUNT(*) FROM sessions WHERE account_id = ?1", m.account), 1);
	ck_assert_int_eq(count("SELECT COUNT(*) FROM events WHERE type = 'device_authorization.denied'"
			       " AND json_extract(payload, '$.account_id') = ?1", m.account), 1);
}
END_TEST

START_TEST(refresh_through_the_token_endpoint_rotates_and_detects_reuse)
{
	struct member m;
	struct codes c;
	struct tv_tokens t;
	char body[256] = "";
	member_new(&m);
	authorize(NULL, &c);
	approve(&m, c.user_code);
	exchange(c.device_code, &t);
	form_add(body, sizeof body, "grant_type", "refresh_token");
	form_add(body, sizeof body, "refresh_token", t.refresh);
	form_add(body, sizeof body, "client_id", CLIENT);
	struct api_resp *r = api_form(&srv, "/oauth/token", body);
	ck_assert_status(r, 200);
	char buf[32];
	ck_assert_str_eq(api_header(r, "Cache-Control", buf, sizeof buf), "no-store");
	ck_assert_str_eq(api_str(r, "token_type"), "Bearer");
	ck_assert_str_ne(api_str(r, "refresh_token"), t.refresh);
	char next[64];
	copy(next, sizeof next, api_str(r, "refresh_token"));
	api_resp_free(r);
	/* The old one again: reuse, the sign-in ends, the new one dies too. */
	r = api_form(&srv, "/oauth/token", body);
	assert_oauth_error(r, 400, "invalid_grant");
	api_resp_free(r);
	body[0] = '\0';
	form_add(body, sizeof body, "grant_type", "refresh_token");
	form_add(body, sizeof body, "refresh_token", next);
	r = api_form(&srv, "/oauth/token", body);
	assert_oauth_error(r, 400, "invalid_grant");
	api_resp_free(r);
	ck_assert_int_eq(count("SELECT COUNT(*) FROM sessions WHERE account_id = ?1"
			       " AND revoke_reason = 'refresh_reuse'", m.account), 1);
}
END_TEST

/* The refresh token's chain: rotations not yet used, and whether its
 * sign-in was revoked, to prove a refused refresh changed nothing. */
static void refresh_state(const char *account, int64_t *live_tokens, int64_t *revoked)
{
	*live_tokens = count("SELECT COUNT(*) FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id"
			     " WHERE s.account_id = ?1 AND r.rotated_at IS NULL", account);
	*revoked = count("SELECT COUNT(*) FROM sessions WHERE account_id = ?1 AND revoked_at IS NOT NULL",
			 account);
}

static struct api_resp *refresh_as(const char *client, const char *refresh)
{
	char body[256] = "";
	form_add(body, sizeof body, "grant_type", "refresh_token");
	form_add(body, sizeof body, "refresh_token", refresh);
	if (client)
		form_add(body, sizeof body, "client_id", client);
	return api_form(&srv, "/oauth/token", body);
}

START_TEST(a_refresh_token_is_refreshed_only_by_the_client_it_was_issued_to)
{
	struct member m;
	struct codes c;
	struct tv_tokens t;
	int64_t live0, revoked0, live, revoked;
	member_new(&m);
	db_exec_sql("INSERT INTO oauth_clients (id, name, device_type, grant_types, active, created_at)"
		    " VALUES ('console-app', 'Console', 'console', 'device_code refresh_token', 1, 0)"
		    " ON CONFLICT (id) DO NOTHING");
	authorize(NULL, &c);
	approve(&m, c.user_code);
	exchange(c.device_code, &t);
	ck_assert_int_eq(count("SELECT COUNT(*) FROM sessions WHERE account_id = ?1 AND client_id = '" CLIENT "'",
			       m.account), 1);
	refresh_state(m.account, &live0, &revoked0);

	/* Another registered client: invalid_grant (RFC 6749 section 6), nothing changes. */
	struct api_resp *r = refresh_as("console-app", t.refresh);
	assert_oauth_error(r, 400, "invalid_grant");
	api_resp_free(r);
	/* No client named: the token cannot be shown to be this client's. */
	r = refresh_as(NULL, t.refresh);
	assert_oauth_error(r, 400, "invalid_grant");
	api_resp_free(r);
	/* Nor through the member API, which names no client. */
	r = api_json(&srv, "POST", "/v1/tokens/refresh", NULL, json_pack("{s:s}", "refresh_token", t.refresh));
	ck_assert_problem(r, 401, "refresh_token_invalid");
	api_resp_free(r);
	refresh_state(m.account, &live, &revoked);
	ck_assert_int_eq(live, live0);
	ck_assert_int_eq(revoked, revoked0);

	/* Its own client still refreshes it, and the new token stays bound. */
	r = refresh_as(CLIENT, t.refresh);
	ck_assert_status(r, 200);
	char next[64];
	copy(next, sizeof next, api_str(r, "refresh_token"));
	api_resp_free(r);
	r = refresh_as("console-app", next);
	assert_oauth_error(r, 400, "invalid_grant");
	api_resp_free(r);
	r = refresh_as(CLIENT, next);
	ck_assert_status(r, 200);
	api_resp_free(r);
}
END_TEST

START_TEST(a_member_sign_in_without_a_client_refreshes_as_before)
{
	char suffix[IDS_MAX], email[96], refresh[64];
	ids_new("", suffix, sizeof suffix);
	snprintf(email, sizeof email, "r%s@example.com", suffix);
	struct api_resp *r = api_json(&srv, "POST", "/v1/accounts", NULL,
				      json_pack("{s:s, s:s, s:s}", "email", email, "password", PASSWORD,
						"country", "US"));
	ck_assert_status(r, 201);
	copy(refresh, sizeof refresh, api_str(r, "refresh_token"));
	api_resp_free(r);
	/* Unbound: the member API, and the token endpoint with or without a client. */
	r = api_json(&srv, "POST", "/v1/tokens/refresh", NULL, json_pack("{s:s}", "refresh_token", refresh));
	ck_assert_status(r, 200);
	copy(refresh, sizeof refresh, api_str(r, "refresh_token"));
	api_resp_free(r);
	r = refresh_as(NULL, refresh);
	ck_assert_status(r, 200);
	copy(refresh, sizeof refresh, api_str(r, "refresh_token"));
	api_resp_free(r);
	r = refresh_as(CLIENT, refresh);
	ck_assert_status(r, 200);
	api_resp_free(r);
}
END_TEST

/* ---- racing: writes share the group-commit writer's batches ------------- */

#define RACERS 12

struct racer {
	pthread_barrier_t *go;
	const char *body;	/* the form posted */
	const char *path;
	struct api_resp *resp;
};

static void *racer_main(void *arg)
{
	struct racer *r = arg;
	pthread_barrier_wait(r->go);
	r->resp = api_form(&srv, r->path, r->body);
	return NULL;
}

/* POST `bodies[i]` to `path` from RACERS threads released together. */
static void race(const char *path, const char *const *bodies, struct api_resp **out)
{
	pthread_t t[RACERS];
	struct racer r[RACERS];
	pthread_barrier_t go;
	pthread_barrier_init(&go, NULL, RACERS);
	for (int i = 0; i < RACERS; i++) {
		r[i] = (struct racer){&go, bodies[i], path, NULL};
		ck_assert_int_eq(pthread_create(&t[i], NULL, racer_main, &r[i]), 0);
	}
	for (int i = 0; i < RACERS; i++) {
		pthread_join(t[i], NULL);
		out[i] = r[i].resp;
	}
	pthread_barrier_destroy(&go);
}

START_TEST(a_batched_authorization_event_names_its_request)
{
	char rid[96], buf[96];
	struct api_resp *r = api_form(&srv, "/oauth/device_authorization", "client_id=" CLIENT);
	ck_assert_status(r, 200);
	ck_assert_ptr_nonnull(api_header(r, "X-Request-Id", buf, sizeof buf));
	copy(rid, sizeof rid, buf);
	api_resp_free(r);
	/* Written on the group-commit writer's thread, recorded with the id of
	 * the request that asked for it. */
	ck_assert_int_eq(count("SELECT COUNT(*) FROM events WHERE type = 'device_authorization.created'"
			       " AND request_id = ?1", rid), 1);
}
END_TEST

START_TEST(racing_authorizations_each_get_their_own_codes)
{
	const char *bodies[RACERS];
	struct api_resp *rs[RACERS];
	int64_t before = count("SELECT COUNT(*) FROM device_authorizations", NULL);
	for (int i = 0; i < RACERS; i++)
		bodies[i] = "client_id=" CLIENT "&device_name=Racer";
	race("/oauth/device_authorization", bodies, rs);
	for (int i = 0; i < RACERS; i++) {
		ck_assert_status(rs[i], 200);
		for (int j = 0; j < i; j++) {
			ck_assert_str_ne(api_str(rs[i], "user_code"), api_str(rs[j], "user_code"));
			ck_assert_str_ne(api_str(rs[i], "device_code"), api_str(rs[j], "device_code"));
		}
		/* Each answer names a committed row: it polls as pending at once. */
		expect_poll(api_str(rs[i], "device_code"), "authorization_pending");
	}
	for (int i = 0; i < RACERS; i++)
		api_resp_free(rs[i]);
	ck_assert_int_eq(count("SELECT COUNT(*) FROM device_authorizations", NULL), before + RACERS);
}
END_TEST

START_TEST(racing_exchanges_of_one_code_sign_in_once)
{
	struct member m;
	struct codes c;
	char body[512] = "";
	const char *bodies[RACERS];
	struct api_resp *rs[RACERS];
	member_new(&m);
	authorize(NULL, &c);
	approve(&m, c.user_code);
	form_add(body, sizeof body, "grant_type", GRANT);
	form_add(body, sizeof body, "client_id", CLIENT);
	form_add(body, sizeof body, "device_code", c.device_code);
	for (int i = 0; i < RACERS; i++)
		bodies[i] = body;
	race("/oauth/token", bodies, rs);
	/* Exchanges queued in one batch each see what the ones before took:
	 * one gets tokens, every other finds the code spent. */
	int tokens = 0;
	for (int i = 0; i < RACERS; i++) {
		if (rs[i]->status == 200)
			tokens++;
		else
			assert_oauth_error(rs[i], 400, "invalid_grant");
		api_resp_free(rs[i]);
	}
	ck_assert_int_eq(tokens, 1);
	ck_assert_int_eq(count("SELECT COUNT(*) FROM sessions WHERE account_id = ?1 AND client_id = '" CLIENT "'",
			       m.account), 1);
	ck_assert_int_eq(count("SELECT COUNT(*) FROM devices WHERE account_id = ?1 AND type = 'tv'", m.account), 1);
}
END_TEST

/* ---- guessing ----------------------------------------------------------- */

START_TEST(guessing_user_codes_on_the_api_is_throttled_per_member)
{
	struct member m;
	struct codes c;
	char path[128];
	const char *const from[] = {"X-Forwarded-For: 198.51.100.10", NULL};
	member_new(&m);
	authorize(NULL, &c);
	for (int i = 0; i < 5; i++) {
		snprintf(path, sizeof path, "/v1/device-codes/BCDF-GHJ%c", "BCDFG"[i]);
		struct api_resp *r = api_request(&srv, "GET", path, m.access, NULL, NULL, from);
		ck_assert_problem(r, 404, "user_code_invalid");
		api_resp_free(r);
	}
	/* Blocked now, even for the right code, with a Retry-After. */
	snprintf(path, sizeof path, "/v1/device-codes/%s", c.user_code);
	struct api_resp *r = api_request(&srv, "GET", path, m.access, NULL, NULL, from);
	ck_assert_problem(r, 429, "too_many_attempts");
	char buf[16];
	ck_assert_ptr_nonnull(api_header(r, "Retry-After", buf, sizeof buf));
	ck_assert_int_ge(strtol(buf, NULL, 10), 1);
	api_resp_free(r);
	snprintf(path, sizeof path, "/v1/device-codes/%s/approve", c.user_code);
	const char *const json_from[] = {"X-Forwarded-For: 198.51.100.10", NULL};
	r = api_request(&srv, "POST", path, m.access, "application/json", "{}", json_from);
	ck_assert_problem(r, 429, "too_many_attempts");
	api_resp_free(r);
	expect_poll(c.device_code, "authorization_pending");
	/* The wait passes; then the right code works. */
	api_advance(&srv, 31);
	approve(&m, c.user_code);
}
END_TEST

START_TEST(guessing_user_codes_is_throttled_per_network)
{
	char path[128];
	const char *const from[] = {"X-Forwarded-For: 198.51.100.20", NULL};
	struct member m;
	/* Twenty wrong codes from one network, four each from five members. */
	for (int k = 0; k < 5; k++) {
		member_new(&m);
		for (int i = 0; i < 4; i++) {
			snprintf(path, sizeof path, "/v1/device-codes/BCDF-GH%c%c", "BCDFG"[k], "BCDF"[i]);
			struct api_resp *r = api_request(&srv, "GET", path, m.access, NULL, NULL, from);
			ck_assert_problem(r, 404, "user_code_invalid");
			api_resp_free(r);
		}
	}
	member_new(&m);
	struct api_resp *r = api_request(&srv, "GET", "/v1/device-codes/BCDF-GHJK", m.access, NULL, NULL, from);
	ck_assert_problem(r, 429, "too_many_attempts");
	api_resp_free(r);
	/* Another network is not affected. */
	const char *const other[] = {"X-Forwarded-For: 198.51.100.21", NULL};
	r = api_request(&srv, "GET", "/v1/device-codes/BCDF-GHJK", m.access, NULL, NULL, other);
	ck_assert_problem(r, 404, "user_code_invalid");
	api_resp_free(r);
}
END_TEST

/* ---- the web page ------------------------------------------------------- */

struct browser {
	char cookie[128];	/* "hearth_device_csrf=..." */
	char csrf[160];
	char confirm[64];
	char xff[64];		/* "X-Forwarded-For: ..." */
};

/* Copy the value of the hidden field `name` out of an HTML page. */
static bool hidden_field(const char *html, const char *name, char *out, size_t cap)
{
	char needle[64];
	snprintf(needle, sizeof needle, "name=\"%s\" value=\"", name);
	const char *p = html ? strstr(html, needle) : NULL;
	if (!p)
		return false;
	p += strlen(needle);
	size_t n = strcspn(p, "\"");
	if (n >= cap)
		return false;
	memcpy(out, p, n);
	out[n] = '\0';
	return true;
}

static void remember_cookie(const struct api_resp *r, struct browser *b)
{
	char buf[256];
	if (!api_header(r, "Set-Cookie", buf, sizeof buf))
		return;
	size_t n = strcspn(buf, ";");
	ck_assert_uint_lt(n, sizeof b->cookie);
	memcpy(b->cookie, buf, n);
	b->cookie[n] = '\0';
}

static void assert_html(const struct api_resp *r)
{
	char buf[256];
	ck_assert_str_eq(api_header(r, "Content-Type", buf, sizeof buf), "text/html; charset=utf-8");
	ck_assert_ptr_nonnull(api_header(r, "Content-Security-Policy", buf, sizeof buf));
	ck_assert_ptr_nonnull(strstr(buf, "default-src 'none'"));
	ck_assert_ptr_nonnull(strstr(buf, "frame-ancestors 'none'"));
	ck_assert_str_eq(api_header(r, "X-Frame-Options", buf, sizeof buf), "DENY");
	ck_assert_str_eq(api_header(r, "Cache-Control", buf, sizeof buf), "no-store");
	ck_assert_ptr_null(strstr(r->body, "<script"));
}

static void browser_open(struct browser *b, const char *query, const char *ip)
{
	char path[128], xff[64];
	memset(b, 0, sizeof *b);
	snprintf(b->xff, sizeof b->xff, "X-Forwarded-For: %s", ip);
	memcpy(xff, b->xff, sizeof xff);
	const char *const h[] = {xff, NULL};
	snprintf(path, sizeof path, "/device%s", query ? query : "");
	struct api_resp *r = api_request(&srv, "GET", path, NULL, NULL, NULL, h);
	ck_assert_status(r, 200);
	assert_html(r);
	char buf[256];
	ck_assert_ptr_nonnull(api_header(r, "Set-Cookie", buf, sizeof buf));
	ck_assert_ptr_nonnull(strstr(buf, "HttpOnly"));
	ck_assert_ptr_nonnull(strstr(buf, "SameSite=Strict"));
	ck_assert_ptr_nonnull(strstr(buf, "Path=/device"));
	remember_cookie(r, b);
	ck_assert(hidden_field(r->body, "csrf", b->csrf, sizeof b->csrf));
	api_resp_free(r);
}

/* POST a page form as the browser would: with its cookie (unless
 * `no_cookie`) and the csrf field given (NULL: none). */
static struct api_resp *browser_post(struct browser *b, const char *path, const char *csrf,
				     const char *form, bool no_cookie)
{
	char body[2048] = "", cookie[160];
	if (csrf)
		form_add(body, sizeof body, "csrf", csrf);
	if (form) {
		size_t n = strlen(body);
		snprintf(body + n, sizeof body - n, "%s%s", n ? "&" : "", form);
	}
	snprintf(cookie, sizeof cookie, "Cookie: %s", b->cookie);
	const char *const with[] = {b->xff, cookie, NULL};
	const char *const without[] = {b->xff, NULL};
	struct api_resp *r = post_form(path, body, no_cookie ? without : with);
	remember_cookie(r, b);
	return r;
}

static void credentials_form(char *buf, size_t cap, const char *email, const char *password,
			     const char *code)
{
	buf[0] = '\0';
	form_add(buf, cap, "user_code", code);
	form_add(buf, cap, "email", email);
	form_add(buf, cap, "password", password);
}

START_TEST(the_web_page_signs_a_tv_in)
{
	struct member m;
	struct codes c;
	struct browser b;
	struct tv_tokens t;
	char query[64], form[512];
	member_new(&m);
	authorize("device_name=Kid%27s+%3Cb%3ETV%3C%2Fb%3E+%26+%22more%22&device_model=X%3Cscript%3E", &c);
	snprintf(query, sizeof query, "?user_code=%s", c.user_code);
	browser_open(&b, query, "198.51.100.30");

	/* The code from verification_uri_complete is prefilled. */
	credentials_form(form, sizeof form, m.email, PASSWORD, c.user_code);
	struct api_resp *r = browser_post(&b, "/device", b.csrf, form, false);
	ck_assert_status(r, 200);
	assert_html(r);
	/* The confirm page names the device, escaped. */
	ck_assert_ptr_nonnull(strstr(r->body, "Kid&#39;s &lt;b&gt;TV&lt;/b&gt; &amp; &quot;more&quot;"));
	ck_assert_ptr_nonnull(strstr(r->body, "X&lt;script&gt;"));
	ck_assert_ptr_null(strstr(r->body, "<b>TV"));
	ck_assert_ptr_nonnull(strstr(r->body, "Hearth TV (demo)"));
	ck_assert_ptr_nonnull(strstr(r->body, c.user_code));
	ck_assert_ptr_null(strstr(r->body, PASSWORD));
	ck_assert(hidden_field(r->body, "csrf", b.csrf, sizeof b.csrf));
	ck_assert(hidden_field(r->body, "confirm", b.confirm, sizeof b.confirm));
	api_resp_free(r);
	expect_poll(c.device_code, "authorization_pending");

	form[0] = '\0';
	form_add(form, sizeof form, "confirm", b.confirm);
	form_add(form, sizeof form, "decision", "approve");
	r = browser_post(&b, "/device/confirm", b.csrf, form, false);
	ck_assert_status(r, 200);
	assert_html(r);
	ck_assert_ptr_nonnull(strstr(r->body, "all set"));
	api_resp_free(r);
	exchange(c.device_code, &t);
	ck_assert_int_eq(count("SELECT COUNT(*) FROM devices WHERE account_id = ?1 AND type = 'tv'",
			       m.account), 1);
	/* The confirm token was single use. */
	r = browser_post(&b, "/device/confirm", b.csrf, form, false);
	ck_assert_status(r, 400);
	assert_html(r);
	api_resp_free(r);
}
END_TEST

START_TEST(the_web_page_can_deny)
{
	struct member m;
	struct codes c;
	struct browser b;
	char form[512];
	member_new(&m);
	authorize(NULL, &c);
	browser_open(&b, NULL, "198.51.100.31");
	credentials_form(form, sizeof form, m.email, PASSWORD, c.user_code);
	struct api_resp *r = browser_post(&b, "/device", b.csrf, form, false);
	ck_assert_status(r, 200);
	ck_assert(hidden_field(r->body, "csrf", b.csrf, sizeof b.csrf));
	ck_assert(hidden_field(r->body, "confirm", b.confirm, sizeof b.confirm));
	api_resp_free(r);
	form[0] = '\0';
	form_add(form, sizeof form, "confirm", b.confirm);
	form_add(form, sizeof form, "decision", "deny");
	r = browser_post(&b, "/device/confirm", b.csrf, form, false);
	ck_assert_status(r, 200);
	ck_assert_ptr_nonnull(strstr(r->body, "denied"));
	api_resp_free(r);
	expect_poll(c.device_code, "access_denied");
}
END_TEST

START_TEST(forged_or_missing_csrf_tokens_get_403_and_approve_nothing)
{
	struct member m;
	struct codes c;
	struct browser b, other;
	char form[512], wrong[160];
	member_new(&m);
	authorize(NULL, &c);
	browser_open(&b, NULL, "198.51.100.32");
	browser_open(&other, NULL, "198.51.100.32");
	credentials_form(form, sizeof form, m.email, PASSWORD, c.user_code);

	/* No token; a made-up token; another browser's token; no cookie;
	 * an expired token. */
	struct api_resp *r = browser_post(&b, "/device", NULL, form, false);
	ck_assert_status(r, 403);
	assert_html(r);
	api_resp_free(r);
	snprintf(wrong, sizeof wrong, "%s", b.csrf);
	wrong[strlen(wrong) - 1] = wrong[strlen(wrong) - 1] == '0' ? '1' : '0';
	r = browser_post(&b, "/device", wrong, form, false);
	ck_assert_status(r, 403);
	api_resp_free(r);
	r = browser_post(&b, "/device", other.csrf, form, false);
	ck_assert_status(r, 403);
	api_resp_free(r);
	r = browser_post(&b, "/device", b.csrf, form, true);
	ck_assert_status(r, 403);
	api_resp_free(r);

	/* The real token gets to the confirm page ... */
	r = browser_post(&b, "/device", b.csrf, form, false);
	ck_assert_status(r, 200);
	ck_assert(hidden_field(r->body, "confirm", b.confirm, sizeof b.confirm));
	ck_assert(hidden_field(r->body, "csrf", b.csrf, sizeof b.csrf));
	api_resp_free(r);
	/* ... where a forged confirm changes nothing either. */
	form[0] = '\0';
	form_add(form, sizeof form, "confirm", b.confirm);
	form_add(form, sizeof form, "decision", "approve");
	r = browser_post(&b, "/device/confirm", NULL, form, false);
	ck_assert_status(r, 403);
	api_resp_free(r);
	r = browser_post(&b, "/device/confirm", other.csrf, form, false);
	ck_assert_status(r, 403);
	api_resp_free(r);
	r = browser_post(&b, "/device/confirm", b.csrf, form, true);
	ck_assert_status(r, 403);
	api_resp_free(r);
	api_advance(&srv, 1801);
	r = browser_post(&b, "/device/confirm", b.csrf, form, false);
	ck_assert_status(r, 403);
	api_resp_free(r);
	ck_assert_int_eq(count("SELECT COUNT(*) FROM device_authorizations WHERE user_code = replace(?1, '-', '')"
			       " AND status = 'pending'", c.user_code), 1);
	ck_assert_int_eq(count("SELECT COUNT(*) FROM sessions WHERE account_id = ?1", m.account), 1);
}
END_TEST

START_TEST(the_web_page_shows_429_when_guessing)
{
	struct member m;
	struct browser b;
	char form[512], code[16];
	member_new(&m);
	browser_open(&b, NULL, "198.51.100.33");
	for (int i = 0; i < 5; i++) {
		snprintf(code, sizeof code, "ZZZZ-ZZZ%c", "BCDFG"[i]);
		credentials_form(form, sizeof form, m.email, PASSWORD, code);
		struct api_resp *r = browser_post(&b, "/device", b.csrf, form, false);
		ck_assert_status(r, 400);
		assert_html(r);
		ck_assert_ptr_nonnull(strstr(r->body, "code is not right"));
		ck_assert(hidden_field(r->body, "csrf", b.csrf, sizeof b.csrf));
		api_resp_free(r);
	}
	credentials_form(form, sizeof form, m.email, PASSWORD, "ZZZZ-ZZZH");
	struct api_resp *r = browser_post(&b, "/device", b.csrf, form, false);
	ck_assert_status(r, 429);
	assert_html(r);
	char buf[16];
	ck_assert_ptr_nonnull(api_header(r, "Retry-After", buf, sizeof buf));
	ck_assert_ptr_nonnull(strstr(r->body, "Too many attempts"));
	api_resp_free(r);
}
END_TEST

START_TEST(a_code_locks_after_five_wrong_passwords)
{
	struct member m;
	struct codes c;
	struct browser b;
	char form[512];
	member_new(&m);
	authorize(NULL, &c);
	browser_open(&b, NULL, "198.51.100.34");
	for (int i = 0; i < 5; i++) {
		credentials_form(form, sizeof form, m.email, "not the password", c.user_code);
		struct api_resp *r = browser_post(&b, "/device", b.csrf, form, false);
		ck_assert_status(r, 400);
		ck_assert_ptr_nonnull(strstr(r->body, "password is wrong"));
		ck_assert(hidden_field(r->body, "csrf", b.csrf, sizeof b.csrf));
		api_resp_free(r);
	}
	ck_assert_int_eq(count("SELECT COUNT(*) FROM device_authorizations WHERE user_code = replace(?1, '-', '')"
			       " AND status = 'locked' AND failures = 5", c.user_code), 1);
	expect_poll(c.device_code, "access_denied");
	/* Even the member, with the right password, cannot approve it now. */
	char path[128];
	snprintf(path, sizeof path, "/v1/device-codes/%s/approve", c.user_code);
	struct api_resp *r = api_json(&srv, "POST", path, m.access, json_object());
	ck_assert_problem(r, 404, "user_code_invalid");
	api_resp_free(r);
}
END_TEST

START_TEST(the_web_page_rejects_wrong_credentials_and_missing_fields)
{
	struct member m;
	struct codes c;
	struct browser b;
	char form[512];
	member_new(&m);
	authorize(NULL, &c);
	browser_open(&b, NULL, "198.51.100.35");
	credentials_form(form, sizeof form, "nobody@example.com", PASSWORD, c.user_code);
	struct api_resp *r = browser_post(&b, "/device", b.csrf, form, false);
	ck_assert_status(r, 400);
	ck_assert_ptr_nonnull(strstr(r->body, "password is wrong"));
	ck_assert(hidden_field(r->body, "csrf", b.csrf, sizeof b.csrf));
	api_resp_free(r);
	r = browser_post(&b, "/device", b.csrf, "user_code=BCDF-GHJK", false);
	ck_assert_status(r, 400);
	ck_assert_ptr_nonnull(strstr(r->body, "Enter the code"));
	api_resp_free(r);
	r = browser_post(&b, "/device/confirm", b.csrf, "decision=approve&confirm=nope", false);
	ck_assert_status(r, 400);
	api_resp_free(r);
	r = browser_post(&b, "/device/confirm", b.csrf, "decision=maybe&confirm=nope", false);
	ck_assert_status(r, 400);
	api_resp_free(r);
	expect_poll(c.device_code, "authorization_pending");
}
END_TEST


/* ---- client registration (staff) ---------------------------------------- */

static struct api_resp *staff_call(const char *method, const char *path, const char *token,
				   json_t *body, const char *reason)
{
	char why[600];
	const char *headers[2] = {NULL, NULL};
	if (reason) {
		snprintf(why, sizeof why, "X-Hearth-Reason: %s", reason);
		headers[0] = why;
	}
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	struct api_resp *r = api_request(&srv, method, path, token, text ? "application/json" : NULL, text,
					 headers);
	free(text);
	return r;
}

START_TEST(staff_register_list_and_disable_clients)
{
	struct member m;
	struct codes c, pending;
	struct tv_tokens t;
	const char *path = "/admin/v1/clients";
	member_new(&m);
	int64_t audits = count("SELECT COUNT(*) FROM audit_log WHERE target_type = 'oauth_client'", NULL);
#define CONSOLE() json_pack("{s:s, s:s, s:s, s:[s]}", "client_id", "acme-console", "name", "Acme Console", \
			    "device_type", "console", "grant_types", "device_code")
	struct api_resp *r = staff_call("POST", path, admin_token, CONSOLE(), NULL);
	ck_assert_problem(r, 400, "reason_required");
	api_resp_free(r);
	r = staff_call("POST", path, agent_token, CONSOLE(), "trying");
	ck_assert_problem(r, 403, "forbidden_role");
	api_resp_free(r);
	r = staff_call("POST", path, NULL, CONSOLE(), "trying");
	ck_assert_problem(r, 401, "unauthenticated");
	api_resp_free(r);
	r = staff_call("POST", path, m.access, CONSOLE(), "trying");
	ck_assert_problem(r, 401, "invalid_token");
	api_resp_free(r);
	json_t *bad[] = {
		json_pack("{s:s, s:s, s:s}", "client_id", "Bad Id", "name", "X", "device_type", "tv"),
		json_pack("{s:s, s:s, s:s}", "client_id", "ok-tv", "name", "X", "device_type", "toaster"),
		json_pack("{s:s, s:s, s:s, s:[s]}", "client_id", "ok-tv", "name", "X", "device_type", "tv",
			  "grant_types", "refresh_token"),
		json_pack("{s:s, s:s, s:s, s:[s]}", "client_id", "ok-tv", "name", "X", "device_type", "tv",
			  "grant_types", "password"),
		json_pack("{s:s, s:s, s:s, s:s}", "client_id", "ok-tv", "name", "X", "device_type", "tv",
			  "grant_types", "device_code"),
		json_pack("{s:s, s:s, s:s, s:s}", "client_id", "ok-tv", "name", "X", "device_type", "tv",
			  "secret", "s"),
		json_pack("{s:s, s:s, s:s}", "client_id", "ok-tv", "name", "a\nb", "device_type", "tv"),
		json_pack("{s:s, s:s}", "client_id", "ok-tv", "device_type", "tv"),
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		r = staff_call("POST", path, admin_token, bad[i], "partner launch");
		ck_assert_problem(r, 422, "validation_failed");
		api_resp_free(r);
	}
	ck_assert_int_eq(count("SELECT COUNT(*) FROM oauth_clients WHERE id IN ('ok-tv', 'acme-console')", NULL), 0);
	ck_assert_int_eq(count("SELECT COUNT(*) FROM audit_log WHERE target_type = 'oauth_client'", NULL), audits);

	r = staff_call("POST", path, admin_token, CONSOLE(), "partner launch, ticket P-7");
	ck_assert_status(r, 201);
	ck_assert_str_eq(api_str(r, "client_id"), "acme-console");
	ck_assert_str_eq(api_str(r, "name"), "Acme Console");
	ck_assert_str_eq(api_str(r, "device_type"), "console");
	ck_assert(json_is_true(json_object_get(r->json, "active")));
	ck_assert_uint_eq(json_array_size(json_object_get(r->json, "grant_types")), 1);
	api_resp_free(r);
	r = staff_call("POST", path, admin_token, CONSOLE(), "again");
	ck_assert_problem(r, 409, "conflict");
	api_resp_free(r);
	ck_assert_int_eq(count("SELECT COUNT(*) FROM audit_log WHERE action = 'oauth_client.create'"
			       " AND target_id = ?1 AND reason = 'partner launch, ticket P-7'", "acme-console"), 1);

	/* Agents may list. */
	r = staff_call("GET", "/admin/v1/clients?limit=100", agent_token, NULL, NULL);
	ck_assert_status(r, 200);
	ck_assert_ptr_nonnull(strstr(r->body, "\"acme-console\""));
	ck_assert_ptr_nonnull(strstr(r->body, "\"hearth-tv-demo\""));
	api_resp_free(r);

	/* The new client signs a console in; it has no refresh grant. */
	r = api_form(&srv, "/oauth/device_authorization", "client_id=acme-console");
	ck_assert_status(r, 200);
	copy(c.device_code, sizeof c.device_code, api_str(r, "device_code"));
	copy(c.user_code, sizeof c.user_code, api_str(r, "user_code"));
	api_resp_free(r);
	approve(&m, c.user_code);
	r = poll_as("acme-console", c.device_code);
	ck_assert_status(r, 200);
	copy(t.refresh, sizeof t.refresh, api_str(r, "refresh_token"));
	api_resp_free(r);
	ck_assert_int_eq(count("SELECT COUNT(*) FROM devices WHERE account_id = ?1 AND type = 'console'"
			       " AND name = 'Acme Console' AND client_id = 'acme-console'", m.account), 1);
	char body[256];
	snprintf(body, sizeof body, "grant_type=refresh_token&client_id=acme-console&refresh_token=%s", t.refresh);
	r = api_form(&srv, "/oauth/token", body);
	assert_oauth_error(r, 400, "unauthorized_client");
	api_resp_free(r);

	/* Disabling: admin only, with a reason; then the client is refused. */
	r = api_form(&srv, "/oauth/device_authorization", "client_id=acme-console");
	ck_assert_status(r, 200);
	copy(pending.device_code, sizeof pending.device_code, api_str(r, "device_code"));
	copy(pending.user_code, sizeof pending.user_code, api_str(r, "user_code"));
	api_resp_free(r);
	r = staff_call("POST", "/admin/v1/clients/acme-console/disable", agent_token, NULL, "why not");
	ck_assert_problem(r, 403, "forbidden_role");
	api_resp_free(r);
	r = staff_call("POST", "/admin/v1/clients/acme-console/disable", admin_token, NULL, NULL);
	ck_assert_problem(r, 400, "reason_required");
	api_resp_free(r);
	r = staff_call("POST", "/admin/v1/clients/nobody/disable", admin_token, NULL, "typo");
	ck_assert_problem(r, 404, "not_found");
	api_resp_free(r);
	r = staff_call("POST", "/admin/v1/clients/acme-console/disable", admin_token, NULL, "client id leaked");
	ck_assert_status(r, 200);
	ck_assert(json_is_false(json_object_get(r->json, "active")));
	ck_assert_ptr_nonnull(api_str(r, "disabled_at"));
	api_resp_free(r);
	ck_assert_int_eq(count("SELECT COUNT(*) FROM audit_log WHERE action = 'oauth_client.disable'"
			       " AND target_id = ?1 AND reason = 'client id leaked'", "acme-console"), 1);
	ck_assert_int_eq(count("SELECT COUNT(*) FROM events WHERE type = 'oauth_client.disabled' AND subject = ?1",
			       "acme-console"), 1);
	r = api_form(&srv, "/oauth/device_authorization", "client_id=acme-console");
	assert_oauth_error(r, 401, "invalid_client");
	api_resp_free(r);
	r = poll_as("acme-console", pending.device_code);
	assert_oauth_error(r, 401, "invalid_client");
	api_resp_free(r);
	char code_path[128];
	snprintf(code_path, sizeof code_path, "/v1/device-codes/%s", pending.user_code);
	r = api_get(&srv, code_path, m.access);
	ck_assert_problem(r, 404, "user_code_invalid");
	api_resp_free(r);
#undef CONSOLE
}
END_TEST

START_TEST(erasing_a_member_drops_the_codes_they_answered)
{
	struct member m;
	struct codes c;
	char path[128];
	member_new(&m);
	authorize("device_name=Den+TV", &c);
	approve(&m, c.user_code);
	ck_assert_int_eq(count("SELECT COUNT(*) FROM device_authorizations WHERE account_id = ?1", m.account), 1);
	snprintf(path, sizeof path, "/admin/v1/accounts/%s/erase", m.account);
	struct api_resp *r = staff_call("POST", path, admin_token, NULL, "erasure request");
	ck_assert_status(r, 200);
	api_resp_free(r);
	ck_assert_int_eq(count("SELECT COUNT(*) FROM device_authorizations WHERE account_id = ?1", m.account), 0);
	expect_poll(c.device_code, "invalid_grant");
}
END_TEST

struct run {
	int rc;
	char *out, *err;
};

static struct run ctl(const char *token, const char *const *argv)
{
	char tok[1100];
	snprintf(tok, sizeof tok, "HEARTH_TOKEN=%s", token);
	const char *env[] = {tok, ctl_env[0], ctl_env[1], ctl_env[2], NULL};
	struct run r = {0, NULL, NULL};
	r.rc = api_ctl(&srv, argv, env, NULL, &r.out, &r.err);
	return r;
}

static void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
}

#define CTL(token, ...) ctl((token), (const char *const[]){__VA_ARGS__, NULL})

START_TEST(hearthctl_clients_add_list_disable)
{
	struct run r = CTL(admin_token, "clients", "add", "--id", "ctl-tv", "--name", "Ctl TV", "--type", "tv",
			   "--reason", "partner launch");
	ck_assert_msg(r.rc == 0, "rc %d: %s%s", r.rc, r.out, r.err);
	ck_assert_ptr_nonnull(strstr(r.out, "Added client ctl-tv"));
	run_free(&r);
	r = CTL(admin_token, "clients", "add", "--id", "ctl-tv2", "--name", "Ctl TV 2", "--type", "tv",
		"--grants", "device_code", "--reason", "partner launch", "--json");
	ck_assert_msg(r.rc == 0, "rc %d: %s%s", r.rc, r.out, r.err);
	json_t *o = json_loads(r.out, 0, NULL);
	ck_assert_ptr_nonnull(o);
	ck_assert_uint_eq(json_array_size(json_object_get(o, "grant_types")), 1);
	json_decref(o);
	run_free(&r);
	r = CTL(admin_token, "clients", "add", "--id", "ctl-tv3", "--name", "X", "--type", "tv", "--grants", ",",
		"--reason", "x");
	ck_assert_int_eq(r.rc, 2);
	run_free(&r);
	r = CTL(admin_token, "clients", "add", "--id", "ctl-tv", "--name", "Again", "--type", "tv", "--reason", "x");
	ck_assert_int_eq(r.rc, 1);
	run_free(&r);
	/* An agent may list but not add. */
	r = CTL(agent_token, "clients", "add", "--id", "agent-tv", "--name", "X", "--type", "tv", "--reason", "x");
	ck_assert_int_eq(r.rc, 4);
	run_free(&r);
	r = CTL(agent_token, "clients", "list");
	ck_assert_msg(r.rc == 0, "rc %d: %s%s", r.rc, r.out, r.err);
	ck_assert_ptr_nonnull(strstr(r.out, "ctl-tv"));
	ck_assert_ptr_nonnull(strstr(r.out, "Hearth TV (demo)"));
	ck_assert_ptr_nonnull(strstr(r.out, "device_code,refresh_token"));
	run_free(&r);
	r = CTL(admin_token, "clients", "disable", "ctl-tv", "--reason", "retired app", "--yes");
	ck_assert_msg(r.rc == 0, "rc %d: %s%s", r.rc, r.out, r.err);
	ck_assert_ptr_nonnull(strstr(r.out, "Disabled client ctl-tv"));
	ck_assert_ptr_nonnull(strstr(r.out, "disabled"));
	run_free(&r);
	r = CTL(admin_token, "clients", "list", "--json");
	ck_assert_int_eq(r.rc, 0);
	o = json_loads(r.out, 0, NULL);
	ck_assert_ptr_nonnull(o);
	size_t i;
	json_t *cl;
	bool seen = false;
	json_array_foreach(json_object_get(o, "data"), i, cl)
		if (strcmp(json_string_value(json_object_get(cl, "client_id")), "ctl-tv") == 0) {
			seen = true;
			ck_assert(json_is_false(json_object_get(cl, "active")));
		}
	ck_assert(seen);
	json_decref(o);
	run_free(&r);
	r = CTL(admin_token, "clients", "disable", "no-such", "--reason", "x", "--yes");
	ck_assert_int_eq(r.rc, 3);
	run_free(&r);
	ck_assert_int_eq(count("SELECT COUNT(*) FROM audit_log WHERE target_id = ?1", "ctl-tv"), 2);
	static const char *const cmds[] = {"add", "list", "disable"};
	for (size_t k = 0; k < 3; k++) {
		r = CTL(admin_token, "clients", cmds[k], "--help");
		ck_assert_int_eq(r.rc, 0);
		ck_assert_ptr_nonnull(strstr(r.out, "Examples:"));
		run_free(&r);
	}
}
END_TEST

static Suite *device_flow_suite(void)
{
	Suite *s = suite_create("api_device_flow");
	TCase *tc = tcase_create("device_flow");
	tcase_add_unchecked_fixture(tc, start, stop);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, a_tv_signs_in_through_the_api);
	tcase_add_test(tc, the_device_name_defaults_to_the_client_name_and_a_chosen_profile_is_kept);
	tcase_add_test(tc, approving_with_a_profile_that_is_not_yours_is_refused);
	tcase_add_test(tc, device_authorization_errors_are_oauth_objects_and_change_nothing);
	tcase_add_test(tc, disabled_clients_and_clients_without_the_grant_are_refused);
	tcase_add_test(tc, a_client_may_identify_itself_with_http_basic_and_no_secret);
	tcase_add_test(tc, token_errors_are_oauth_objects);
	tcase_add_test(tc, slow_down_adds_five_seconds_that_stay);
	tcase_add_test(tc, codes_expire_after_ten_minutes);
	tcase_add_test(tc, a_device_code_is_single_use);
	tcase_add_test(tc, a_code_issued_before_a_restart_works_after_it);
	tcase_add_test(tc, a_denied_code_gets_access_denied_for_good);
	tcase_add_test(tc, refresh_through_the_token_endpoint_rotates_and_detects_reuse);
	tcase_add_test(tc, a_refresh_token_is_refreshed_only_by_the_client_it_was_issued_to);
	tcase_add_test(tc, a_member_sign_in_without_a_client_refreshes_as_before);
	tcase_add_test(tc, a_batched_authorization_event_names_its_request);
	tcase_add_test(tc, racing_authorizations_each_get_their_own_codes);
	tcase_add_test(tc, racing_exchanges_of_one_code_sign_in_once);
	tcase_add_test(tc, guessing_user_codes_on_the_api_is_throttled_per_member);
	tcase_add_test(tc, guessing_user_codes_is_throttled_per_network);
	tcase_add_test(tc, the_web_page_signs_a_tv_in);
	tcase_add_test(tc, the_web_page_can_deny);
	tcase_add_test(tc, forged_or_missing_csrf_tokens_get_403_and_approve_nothing);
	tcase_add_test(tc, the_web_page_shows_429_when_guessing);
	tcase_add_test(tc, a_code_locks_after_five_wrong_passwords);
	tcase_add_test(tc, the_web_page_rejects_wrong_credentials_and_missing_fields);
	tcase_add_test(tc, staff_register_list_and_disable_clients);
	tcase_add_test(tc, hearthctl_clients_add_list_disable);
	tcase_add_test(tc, erasing_a_member_drops_the_codes_they_answered);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(device_flow_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
