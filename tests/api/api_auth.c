/*
 * API tests of the auth area against a real hearthd: refresh rotation and
 * reuse detection, listing and revoking sign-ins, the published keys (and
 * verifying a token with nothing but them), the authenticator's answers to
 * missing, garbage, tampered, expired, wrong-audience, wrong-purpose and
 * unknown-key tokens, key rotation with hearthctl, and last-use tracking.
 *
 * The server runs with --revocation-cache-ms 0 so that a revocation is
 * visible to the very next request; docs/auth.md says what production sees.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/paserk.h"
#include "auth/paseto.h"
#include "core/clock.h"
#include "core/ids.h"
#include "tests/api/harness.h"

#define PASSWORD "correct horse battery staple"
#define ACCESS_TTL 900
#define REFRESH_TTL 2592000

static struct api_server srv;

static void start(void)
{
	static const char *const flags[] = {"--revocation-cache-ms", "0", NULL};
	ck_assert_int_ge(sodium_init(), 0);
	api_start(&srv, flags);
}

static void stop(void) { ck_assert_int_eq(api_stop(&srv), 0); }

struct signin {
	char email[96];
	char account[IDS_MAX];
	char session[IDS_MAX];
	char device[IDS_MAX];
	char access[1024];
	char refresh[64];
};

static void copy(char *dst, size_t cap, const char *src)
{
	ck_assert_ptr_nonnull(src);
	ck_assert_uint_lt(strlen(src), cap);
	memcpy(dst, src, strlen(src) + 1);
}

static void read_tokens(struct api_resp *r, struct signin *s)
{
	copy(s->access, sizeof s->access, api_str(r, "access_token"));
	copy(s->refresh, sizeof s->refresh, api_str(r, "refresh_token"));
	json_t *ses = json_object_get(r->json, "session");
	copy(s->session, sizeof s->session, json_string_value(json_object_get(ses, "id")));
	copy(s->device, sizeof s->device,
	     json_string_value(json_object_get(json_object_get(ses, "device"), "id")));
}

/* A new member, signed in from a TV. */
static void sign_up(struct signin *s)
{
	char suffix[IDS_MAX];
	memset(s, 0, sizeof *s);
	ids_new("", suffix, sizeof suffix);
	snprintf(s->email, sizeof s->email, "m%s@example.com", suffix);
	struct api_resp *r = api_json(&srv, "POST", "/v1/accounts", NULL,
				      json_pack("{s:s, s:s, s:s, s:{s:s, s:s}}", "email", s->email,
						"password", PASSWORD, "country", "US", "device", "name",
						"Living room TV", "type", "tv"));
	ck_assert_status(r, 201);
	copy(s->account, sizeof s->account,
	     json_string_value(json_object_get(json_object_get(r->json, "account"), "id")));
	read_tokens(r, s);
	api_resp_free(r);
}

/* Another sign-in of the same member from another device. */
static void sign_in(const struct signin *member, const char *name, const char *type, struct signin *s)
{
	*s = *member;
	struct api_resp *r = api_json(&srv, "POST", "/v1/sessions", NULL,
				      json_pack("{s:s, s:s, s:{s:s, s:s}}", "email", member->email,
						"password", PASSWORD, "device", "name", name, "type", type));
	ck_assert_status(r, 201);
	read_tokens(r, s);
	api_resp_free(r);
}

static struct api_resp *refresh(const char *token)
{
	return api_json(&srv, "POST", "/v1/tokens/refresh", NULL,
			json_pack("{s:s}", "refresh_token", token));
}

/* Whether `token` authenticates: 200, or the exact 401. */
static void assert_token_works(const char *token)
{
	struct api_resp *r = api_get(&srv, "/v1/sessions", token);
	ck_assert_status(r, 200);
	api_resp_free(r);
}

static void assert_token_refused(const char *token, const char *code)
{
	struct api_resp *r = api_get(&srv, "/v1/sessions", token);
	ck_assert_problem(r, 401, code);
	api_resp_free(r);
}

static int64_t count(const char *sql, const char *arg) { return api_db_int(&srv, sql, arg); }

/* ---- refresh ---------------------------------------------------------- */

START_TEST(refresh_rotates_the_token)
{
	struct signin a;
	char buf[128];
	sign_up(&a);
	struct api_resp *r = refresh(a.refresh);
	ck_assert_status(r, 200);
	ck_assert_str_eq(api_str(r, "token_type"), "Bearer");
	ck_assert_int_eq(json_integer_value(json_object_get(r->json, "expires_in")), ACCESS_TTL);
	ck_assert_str_eq(api_header(r, "Cache-Control", buf, sizeof buf), "no-store");
	const char *access = api_str(r, "access_token");
	const char *next = api_str(r, "refresh_token");
	ck_assert_int_eq(strncmp(access, "v4.public.", 10), 0);
	ck_assert_uint_eq(strlen(next), 43);
	ck_assert_str_ne(next, a.refresh);
	assert_token_works(access);
	assert_token_works(a.access); /* an earlier access token lives until it expires */
	ck_assert_int_eq(count("SELECT COUNT(*) FROM refresh_tokens WHERE session_id = ?1", a.session), 2);
	ck_assert_int_eq(count("SELECT COUNT(*) FROM refresh_tokens WHERE session_id = ?1 AND rotated_at IS NULL", a.session), 1);
	/* Only hashes are stored. */
	ck_assert_int_eq(count("SELECT COUNT(*) FROM refresh_tokens WHERE token_hash = ?1", next), 0);
	ck_assert_int_eq(count("SELECT length(token_hash) FROM refresh_tokens WHERE session_id = ?1 LIMIT 1", a.session), 64);
	/* Refreshes are not events. */
	ck_assert_int_eq(count("SELECT COUNT(*) FROM events WHERE subject = ?1 AND type LIKE 'session.refresh%'", a.session), 0);
	/* The new one rotates in turn. */
	struct api_resp *r2 = refresh(next);
	ck_assert_status(r2, 200);
	api_resp_free(r2);
	api_resp_free(r);
}
END_TEST

START_TEST(reused_refresh_token_revokes_the_sign_in)
{
	struct signin a, other;
	sign_up(&a);
	sign_in(&a, "Phone", "phone", &other);
	struct api_resp *r = refresh(a.refresh);
	ck_assert_status(r, 200);
	char access2[1024], refresh2[64];
	copy(access2, sizeof access2, api_str(r, "access_token"));
	copy(refresh2, sizeof refresh2, api_str(r, "refresh_token"));
	api_resp_free(r);

	/* The rotated token comes back: someone else holds the chain. */
	r = refresh(a.refresh);
	ck_assert_problem(r, 401, "refresh_token_reused");
	api_resp_free(r);
	ck_assert_int_eq(count("SELECT COUNT(*) FROM sessions WHERE id = ?1 AND revoked_at IS NOT NULL AND revoke_reason = 'refresh_reuse'", a.session), 1);
	ck_assert_int_eq(count("SELECT COUNT(*) FROM events WHERE subject = ?1 AND type = 'session.refresh_reused'", a.session), 1);
	/* Every token of that sign-in stops working... */
	assert_token_refused(access2, "invalid_token");
	assert_token_refused(a.access, "invalid_token");
	r = refresh(refresh2);
	ck_assert_problem(r, 401, "refresh_token_invalid");
	api_resp_free(r);
	/* ...presenting the old one again says the same and changes nothing more... */
	r = refresh(a.refresh);
	ck_assert_problem(r, 401, "refresh_token_reused");
	api_resp_free(r);
	ck_assert_int_eq(count("SELECT COUNT(*) FROM events WHERE subject = ?1 AND type = 'session.refresh_reused'", a.session), 1);
	/* ...and the member's other sign-ins are untouched. */
	assert_token_works(other.access);
	r = refresh(other.refresh);
	ck_assert_status(r, 200);
	api_resp_free(r);
}
END_TEST

START_TEST(refresh_bad_input_changes_nothing)
{
	struct signin a;
	sign_up(&a);
	int64_t rows = count("SELECT COUNT(*) FROM refresh_tokens", NULL);
	int64_t rotated = count("SELECT COUNT(*) FROM refresh_tokens WHERE rotated_at IS NOT NULL", NULL);
	static const struct {
		const char *body;
		int status;
		const char *code;
	} cases[] = {
		{"{}", 422, "validation_failed"},
		{"{\"refresh_token\": 5}", 422, "validation_failed"},
		{"{\"refresh_token\": null}", 422, "validation_failed"},
		{"{\"refresh_token\": \"\"}", 422, "validation_failed"},
		{"{\"refresh_token\": \"x\", \"extra\": 1}", 422, "validation_failed"},
		{"{\"refresh_token\": [\"x\"]}", 422, "validation_failed"},
		{"not json", 400, "invalid_json"},
		{"[]", 400, "invalid_json"},
		{"{\"refresh_token\": \"garbage\"}", 401, "refresh_token_invalid"},
		{"{\"refresh_token\": \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}", 401, "refresh_token_invalid"},
		{"{\"refresh_token\": \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"}", 401, "refresh_token_invalid"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct api_resp *r = api_request(&srv, "POST", "/v1/tokens/refresh", NULL,
						 "application/json", cases[i].body, NULL);
		ck_assert_problem(r, cases[i].status, cases[i].code);
		api_resp_free(r);
	}
	/* The access token is not a refresh token; nor is the refresh token with a flipped bit. */
	struct api_resp *r = refresh(a.access);
	ck_assert_problem(r, 401, "refresh_token_invalid");
	api_resp_free(r);
	char flipped[64];
	copy(flipped, sizeof flipped, a.refresh);
	flipped[10] = flipped[10] == 'A' ? 'B' : 'A';
	r = refresh(flipped);
	ck_assert_problem(r, 401, "refresh_token_invalid");
	api_resp_free(r);
	r = api_request(&srv, "POST", "/v1/tokens/refresh", NULL, "text/plain", "{}", NULL);
	ck_assert_problem(r, 415, "unsupported_media_type");
	api_resp_free(r);
	ck_assert_int_eq(count("SELECT COUNT(*) FROM refresh_tokens", NULL), rows);
	ck_assert_int_eq(count("SELECT COUNT(*) FROM refresh_tokens WHERE rotated_at IS NOT NULL", NULL), rotated);
	/* And the real one still works. */
	r = refresh(a.refresh);
	ck_assert_status(r, 200);
	api_resp_free(r);
}
END_TEST

START_TEST(refresh_lifetime_slides_and_ends)
{
	struct signin a;
	sign_up(&a);
	char tok[64];
	copy(tok, sizeof tok, a.refresh);
	for (int i = 0; i < 3; i++) { /* 3 x 29 days: longer than one lifetime, kept alive by use */
		api_advance(&srv, REFRESH_TTL - 86400);
		struct api_resp *r = refresh(tok);
		ck_assert_status(r, 200);
		copy(tok, sizeof tok, api_str(r, "refresh_token"));
		api_resp_free(r);
	}
	api_advance(&srv, REFRESH_TTL);
	struct api_resp *r = refresh(tok);
	ck_assert_problem(r, 401, "refresh_token_invalid");
	api_resp_free(r);
}
END_TEST

/* ---- sign-ins ----------------------------------------------------------- */

static json_t *list_sessions(const char *token, const char *query)
{
	char path[256];
	snprintf(path, sizeof path, "/v1/sessions%s", query ? query : "");
	struct api_resp *r = api_get(&srv, path, token);
	ck_assert_status(r, 200);
	json_t *body = json_incref(r->json);
	api_resp_free(r);
	return body;
}

START_TEST(sessions_are_listed_newest_first_with_current_marked)
{
	struct signin a, phone, web, stranger;
	char buf[128];
	sign_up(&a);
	api_advance(&srv, 10);
	sign_in(&a, "Ana's phone", "phone", &phone);
	api_advance(&srv, 10);
	sign_in(&a, "Firefox", "web", &web);
	sign_up(&stranger);

	json_t *body = list_sessions(phone.access, NULL);
	json_t *data = json_object_get(body, "data");
	ck_assert_uint_eq(json_array_size(data), 3);
	ck_assert(json_is_false(json_object_get(body, "has_more")));
	const struct signin *order[] = {&web, &phone, &a};
	static const char *const names[] = {"Firefox", "Ana's phone", "Living room TV"};
	static const char *const types[] = {"web", "phone", "tv"};
	for (size_t i = 0; i < 3; i++) {
		json_t *s = json_array_get(data, i);
		json_t *dev = json_object_get(s, "device");
		ck_assert_str_eq(json_string_value(json_object_get(s, "id")), order[i]->session);
		ck_assert_str_eq(json_string_value(json_object_get(dev, "id")), order[i]->device);
		ck_assert_str_eq(json_string_value(json_object_get(dev, "name")), names[i]);
		ck_assert_str_eq(json_string_value(json_object_get(dev, "type")), types[i]);
		ck_assert_str_eq(json_string_value(json_object_get(s, "last_network")), "127.0.0.0/24");
		ck_assert_ptr_nonnull(json_string_value(json_object_get(s, "created_at")));
		ck_assert_ptr_nonnull(json_string_value(json_object_get(s, "last_used_at")));
		ck_assert_ptr_nonnull(json_string_value(json_object_get(s, "expires_at")));
		ck_assert(json_is_boolean(json_object_get(s, "current")));
		ck_assert_int_eq(json_is_true(json_object_get(s, "current")), order[i] == &phone);
	}
	json_decref(body);

	/* Pages. */
	body = list_sessions(a.access, "?limit=2");
	data = json_object_get(body, "data");
	ck_assert_uint_eq(json_array_size(data), 2);
	ck_assert(json_is_true(json_object_get(body, "has_more")));
	char q[128];
	snprintf(q, sizeof q, "?limit=2&starting_after=%s",
		 json_string_value(json_object_get(json_array_get(data, 1), "id")));
	json_decref(body);
	body = list_sessions(a.access, q);
	data = json_object_get(body, "data");
	ck_assert_uint_eq(json_array_size(data), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(data, 0), "id")), a.session);
	ck_assert(json_is_false(json_object_get(body, "has_more")));
	json_decref(body);

	/* A cursor that is not one of mine, and bad limits. */
	snprintf(q, sizeof q, "/v1/sessions?starting_after=%s", stranger.session);
	struct api_resp *r = api_get(&srv, q, a.access);
	ck_assert_problem(r, 400, "invalid_parameter");
	api_resp_free(r);
	static const char *const bad[] = {"/v1/sessions?limit=0", "/v1/sessions?limit=101",
					  "/v1/sessions?limit=x"};
	for (size_t i = 0; i < 3; i++) {
		r = api_get(&srv, bad[i], a.access);
		ck_assert_problem(r, 400, "invalid_parameter");
		api_resp_free(r);
	}
	/* The stranger sees only their own. */
	body = list_sessions(stranger.access, NULL);
	ck_assert_uint_eq(json_array_size(json_object_get(body, "data")), 1);
	json_decref(body);
	r = api_get(&srv, "/v1/sessions", a.access);
	ck_assert_str_eq(api_header(r, "Cache-Control", buf, sizeof buf), "no-store");
	api_resp_free(r);
}
END_TEST

START_TEST(a_device_id_is_reused_only_by_its_account)
{
	struct signin a, again, stranger;
	sign_up(&a);
	sign_up(&stranger);
	struct api_resp *r = api_json(&srv, "POST", "/v1/sessions", NULL,
				      json_pack("{s:s, s:s, s:{s:s, s:s, s:s}}", "email", a.email, "password",
						PASSWORD, "device", "id", a.device, "name", "Renamed TV",
						"type", "tv"));
	ck_assert_status(r, 201);
	read_tokens(r, &again);
	api_resp_free(r);
	ck_assert_str_eq(again.device, a.device);
	ck_assert_int_eq(count("SELECT COUNT(*) FROM devices WHERE id = ?1 AND name = 'Renamed TV'", a.device), 1);
	/* The stranger names a's device: gets a new one, a's is untouched. */
	r = api_json(&srv, "POST", "/v1/sessions", NULL,
		     json_pack("{s:s, s:s, s:{s:s, s:s, s:s}}", "email", stranger.email, "password",
			       PASSWORD, "device", "id", a.device, "name", "Hijack", "type", "web"));
	ck_assert_status(r, 201);
	struct signin s2;
	read_tokens(r, &s2);
	api_resp_free(r);
	ck_assert_str_ne(s2.device, a.device);
	ck_assert_int_eq(count("SELECT COUNT(*) FROM devices WHERE name = 'Hijack' AND id = ?1", a.device), 0);
	ck_assert_int_eq(count("SELECT COUNT(*) FROM devices WHERE id = ?1 AND name = 'Renamed TV'", a.device), 1);
}
END_TEST

START_TEST(deleting_a_sign_in)
{
	struct signin a, phone, stranger;
	sign_up(&a);
	sign_in(&a, "Phone", "phone", &phone);
	sign_up(&stranger);
	char path[128];

	/* Another account's sign-in is not found, and stays live. */
	snprintf(path, sizeof path, "/v1/sessions/%s", stranger.session);
	struct api_resp *r = api_request(&srv, "DELETE", path, a.access, NULL, NULL, NULL);
	ck_assert_problem(r, 404, "not_found");
	api_resp_free(r);
	ck_assert_int_eq(count("SELECT COUNT(*) FROM sessions WHERE id = ?1 AND revoked_at IS NULL", stranger.session), 1);
	assert_token_works(stranger.access);
	static const char *const junk[] = {"/v1/sessions/nope", "/v1/sessions/ses_", "/v1/sessions/ses_00000000000000000000000000000"};
	for (size_t i = 0; i < 3; i++) {
		r = api_request(&srv, "DELETE", junk[i], a.access, NULL, NULL, NULL);
		ck_assert_problem(r, 404, "not_found");
		api_resp_free(r);
	}
	/* Without a token: 401. */
	snprintf(path, sizeof path, "/v1/sessions/%s", phone.session);
	r = api_request(&srv, "DELETE", path, NULL, NULL, NULL, NULL);
	ck_assert_problem(r, 401, "unauthenticated");
	api_resp_free(r);
	assert_token_works(phone.access);

	/* Signing the phone out from the TV. */
	r = api_request(&srv, "DELETE", path, a.access, NULL, NULL, NULL);
	ck_assert_status(r, 204);
	api_resp_free(r);
	ck_assert_int_eq(count("SELECT COUNT(*) FROM sessions WHERE id = ?1 AND revoke_reason = 'sign_out'", phone.session), 1);
	ck_assert_int_eq(count("SELECT COUNT(*) FROM events WHERE subject = ?1 AND type = 'session.revoked'", phone.session), 1);
	assert_token_refused(phone.access, "invalid_token");
	r = refresh(phone.refresh);
	ck_assert_problem(r, 401, "refresh_token_invalid");
	api_resp_free(r);
	/* Twice: already gone. */
	r = api_request(&srv, "DELETE", path, a.access, NULL, NULL, NULL);
	ck_assert_problem(r, 404, "not_found");
	api_resp_free(r);
	ck_assert_int_eq(count("SELECT COUNT(*) FROM events WHERE subject = ?1 AND type = 'session.revoked'", phone.session), 1);
	json_t *body = list_sessions(a.access, NULL);
	ck_assert_uint_eq(json_array_size(json_object_get(body, "data")), 1);
	json_decref(body);
}
END_TEST

START_TEST(signing_out_the_current_sign_in)
{
	struct signin a, phone;
	sign_up(&a);
	sign_in(&a, "Phone", "phone", &phone);
	struct api_resp *r = api_request(&srv, "DELETE", "/v1/sessions/current", a.access, NULL, NULL, NULL);
	ck_assert_status(r, 204);
	api_resp_free(r);
	assert_token_refused(a.access, "invalid_token");
	r = refresh(a.refresh);
	ck_assert_problem(r, 401, "refresh_token_invalid");
	api_resp_free(r);
	assert_token_works(phone.access);
	r = api_request(&srv, "DELETE", "/v1/sessions/current", NULL, NULL, NULL, NULL);
	ck_assert_problem(r, 401, "unauthenticated");
	api_resp_free(r);
}
END_TEST

START_TEST(revoke_all_signs_out_every_device_including_this_one)
{
	struct signin a, phone, web, stranger;
	sign_up(&a);
	sign_in(&a, "Phone", "phone", &phone);
	sign_in(&a, "Web", "web", &web);
	sign_up(&stranger);
	struct api_resp *r = api_request(&srv, "POST", "/v1/sessions/revoke-all", phone.access, NULL, NULL, NULL);
	ck_assert_status(r, 200);
	ck_assert_int_eq(json_integer_value(json_object_get(r->json, "revoked")), 3);
	api_resp_free(r);
	const struct signin *all[] = {&a, &phone, &web};
	for (size_t i = 0; i < 3; i++) {
		assert_token_refused(all[i]->access, "invalid_token");
		r = refresh(all[i]->refresh);
		ck_assert_problem(r, 401, "refresh_token_invalid");
		api_resp_free(r);
		ck_assert_int_eq(count("SELECT COUNT(*) FROM events WHERE subject = ?1 AND type = 'session.revoked'", all[i]->session), 1);
	}
	ck_assert_int_eq(count("SELECT COUNT(*) FROM sessions WHERE account_id = ?1 AND revoke_reason = 'revoke_all'", a.account), 3);
	assert_token_works(stranger.access);
	r = api_request(&srv, "POST", "/v1/sessions/revoke-all", NULL, NULL, NULL, NULL);
	ck_assert_problem(r, 401, "unauthenticated");
	api_resp_free(r);
}
END_TEST

/* Last uses are recorded in memory and written in batches (auth/last_use.c);
 * moving the test clock writes them, as the writer thread would. */
static void flush_last_uses(void) { api_advance(&srv, 0); }

START_TEST(last_use_is_recorded_at_most_once_a_minute)
{
	struct signin a;
	sign_up(&a);
	int64_t created = count("SELECT created_at FROM sessions WHERE id = ?1", a.session);
	assert_token_works(a.access);
	flush_last_uses();
	ck_assert_int_eq(count("SELECT last_used_at FROM sessions WHERE id = ?1", a.session), created);
	api_advance(&srv, 30);
	assert_token_works(a.access);
	flush_last_uses();
	ck_assert_int_eq(count("SELECT last_used_at FROM sessions WHERE id = ?1", a.session), created);
	api_advance(&srv, 31);
	/* Every server thread may record it once; repeat to reach them all. */
	for (int i = 0; i < 8; i++)
		assert_token_works(a.access);
	flush_last_uses();
	ck_assert_int_eq(count("SELECT last_used_at FROM sessions WHERE id = ?1", a.session), created + 61);
	ck_assert_int_eq(count("SELECT last_seen_at FROM devices WHERE id = ?1", a.device), created + 61);
}
END_TEST

/* ---- the published keys ------------------------------------------------- */

static json_t *published_keys(void)
{
	char buf[128];
	struct api_resp *r = api_get(&srv, "/.well-known/paseto-keys", NULL);
	ck_assert_status(r, 200);
	ck_assert_str_eq(api_header(r, "Cache-Control", buf, sizeof buf), "public, max-age=300");
	json_t *keys = json_incref(json_object_get(r->json, "keys"));
	api_resp_free(r);
	return keys;
}

/* What another service does, holding nothing but the published keys: pick
 * the key by the footer's kid, verify, read the claims. */
static json_t *verify_offline(const char *token)
{
	char kid[PASERK_K4_PID_SIZE];
	unsigned char pk[PASERK_K4_PUBLIC_KEYBYTES];
	unsigned char *payload = NULL;
	size_t len = 0;
	json_t *keys = published_keys();
	ck_assert_int_eq(paseto_footer_kid(kid, sizeof kid, token, strlen(token)), ERR_OK);
	const char *paserk = "";
	for (size_t i = 0; i < json_array_size(keys); i++)
		if (strcmp(json_string_value(json_object_get(json_array_get(keys, i), "kid")), kid) == 0)
			paserk = json_string_value(json_object_get(json_array_get(keys, i), "paserk"));
	ck_assert_msg(paserk && paserk[0], "kid %s is not published", kid);
	ck_assert_int_eq(paserk_k4_public_decode(pk, paserk, strlen(paserk)), ERR_OK);
	char expect_kid[PASERK_K4_PID_SIZE], footer[128];
	ck_assert_int_eq(paserk_k4_pid(expect_kid, sizeof expect_kid, pk, sizeof pk), ERR_OK);
	ck_assert_str_eq(expect_kid, kid); /* the kid names the published key */
	snprintf(footer, sizeof footer, "{\"kid\":\"%s\"}", kid);
	ck_assert_int_eq(paseto_v4_public_verify(&payload, &len, token, strlen(token), pk,
						 (const unsigned char *)footer, strlen(footer), NULL, 0),
			 ERR_OK);
	json_t *claims = json_loadb((const char *)payload, len, 0, NULL);
	free(payload);
	json_decref(keys);
	ck_assert_ptr_nonnull(claims);
	return claims;
}

START_TEST(another_program_verifies_a_token_with_only_the_published_key)
{
	struct signin a;
	sign_up(&a);
	json_t *keys = published_keys();
	ck_assert_uint_ge(json_array_size(keys), 1);
	for (size_t i = 0; i < json_array_size(keys); i++) {
		json_t *k = json_array_get(keys, i);
		const char *kid = json_string_value(json_object_get(k, "kid"));
		const char *paserk = json_string_value(json_object_get(k, "paserk"));
		ck_assert(paserk_is_k4_pid(kid, strlen(kid)));
		ck_assert_int_eq(strncmp(paserk, "k4.public.", 10), 0);
		ck_assert_uint_eq(json_object_size(k), 2); /* nothing secret, nothing else */
	}
	json_decref(keys);
	json_t *claims = verify_offline(a.access);
	ck_assert_str_eq(json_string_value(json_object_get(claims, "sub")), a.account);
	ck_assert_str_eq(json_string_value(json_object_get(claims, "sid")), a.session);
	ck_assert_str_eq(json_string_value(json_object_get(claims, "dev")), a.device);
	ck_assert_str_eq(json_string_value(json_object_get(claims, "aud")), "hearth:api");
	ck_assert_str_eq(json_string_value(json_object_get(claims, "iss")), "https://hearth.example");
	ck_assert_int_eq(strncmp(json_string_value(json_object_get(claims, "jti")), "tok_", 4), 0);
	int64_t iat = 0, expt = 0;
	ck_assert_int_eq(clock_parse(json_string_value(json_object_get(claims, "iat")), &iat), ERR_OK);
	ck_assert_int_eq(clock_parse(json_string_value(json_object_get(claims, "exp")), &expt), ERR_OK);
	ck_assert_int_eq(expt - iat, ACCESS_TTL);
	json_decref(claims);
}
END_TEST

/* ---- the authenticator -------------------------------------------------- */

/* Sign arbitrary claims with the server's current key, read from its key
 * file: only a test (or an attacker who stole the file) can do this. */
static char *sign_with_server_key(const char *claims)
{
	unsigned char sk[64];
	char footer[128];
	char *tok = NULL;
	json_t *root = json_load_file(srv.key_path, 0, NULL);
	ck_assert_ptr_nonnull(root);
	json_t *keys = json_object_get(root, "keys");
	for (size_t i = 0; i < json_array_size(keys); i++) {
		json_t *k = json_array_get(keys, i);
		if (strcmp(json_string_value(json_object_get(k, "status")), "current") != 0)
			continue;
		const char *sec = json_string_value(json_object_get(k, "secret"));
		ck_assert_int_eq(paserk_k4_secret_decode(sk, sec, strlen(sec)), ERR_OK);
		snprintf(footer, sizeof footer, "{\"kid\":\"%s\"}", json_string_value(json_object_get(k, "kid")));
	}
	json_decref(root);
	ck_assert_int_eq(paseto_sign_claims(&tok, sk, claims, footer), ERR_OK);
	sodium_memzero(sk, sizeof sk);
	return tok;
}

START_TEST(bad_tokens_get_the_exact_401)
{
	struct signin a;
	sign_up(&a);
	int64_t sessions = count("SELECT COUNT(*) FROM sessions", NULL);
	struct api_resp *r;
	/* No credentials, or another scheme: unauthenticated. */
	r = api_get(&srv, "/v1/sessions", NULL);
	ck_assert_problem(r, 401, "unauthenticated");
	char buf[128];
	ck_assert_ptr_nonnull(api_header(r, "WWW-Authenticate", buf, sizeof buf));
	api_resp_free(r);
	static const char *const other_schemes[] = {"Authorization: Basic YTpi", "Authorization: Bearerx abc",
						    "Authorization: Token abc", NULL};
	for (size_t i = 0; other_schemes[i]; i++) {
		const char *const h[] = {other_schemes[i], NULL};
		r = api_request(&srv, "GET", "/v1/sessions", NULL, NULL, NULL, h);
		ck_assert_problem(r, 401, "unauthenticated");
		api_resp_free(r);
	}
	/* Bearer credentials that are not a valid token: invalid_token. */
	static const char *const garbage[] = {"Authorization: Bearer", "Authorization: Bearer abc",
					      "Authorization: bearer v4.public.", "Authorization: Bearer v4.public.AAAA",
					      "Authorization: Bearer v2.public.AAAA", NULL};
	for (size_t i = 0; garbage[i]; i++) {
		const char *const h[] = {garbage[i], NULL};
		r = api_request(&srv, "GET", "/v1/sessions", NULL, NULL, NULL, h);
		ck_assert_problem(r, 401, "invalid_token");
		api_resp_free(r);
	}
	/* Bit flips across the token. */
	size_t len = strlen(a.access);
	for (size_t i = 0; i < len; i += 7) {
		char bad[1024];
		memcpy(bad, a.access, len + 1);
		bad[i] = bad[i] == 'A' ? 'B' : 'A';
		if (strcmp(bad, a.access) == 0)
			continue;
		assert_token_refused(bad, "invalid_token");
	}
	/* Wrong audience, wrong issuer, v4.local, unknown kid. */
	char iat[32], exp[32], claims[1024];
	int64_t now = 0;
	r = api_get(&srv, "/test/v1/clock", NULL);
	now = json_integer_value(json_object_get(r->json, "now_unix"));
	api_resp_free(r);
	clock_format(now, iat, sizeof iat);
	clock_format(now + 600, exp, sizeof exp);
	static const char *const variants[][2] = {{"hearth:admin", "https://hearth.example"},
						  {"playback", "https://hearth.example"},
						  {"hearth:api", "https://evil.example"},
						  {"hearth:api", "https://hearth.example"}};
	for (size_t i = 0; i < 4; i++) {
		snprintf(claims, sizeof claims,
			 "{\"iss\":\"%s\",\"sub\":\"%s\",\"aud\":\"%s\",\"iat\":\"%s\",\"exp\":\"%s\","
			 "\"jti\":\"tok_x\",\"sid\":\"%s\"}",
			 variants[i][1], a.account, variants[i][0], iat, exp, a.session);
		char *tok = sign_with_server_key(claims);
		if (i < 3)
			assert_token_refused(tok, "invalid_token");
		else
			assert_token_works(tok); /* the control: the same claims, right aud and iss */
		free(tok);
	}
	unsigned char key[32], pk[32], sk[64];
	char kid[PASERK_K4_PID_SIZE], footer[128], *tok = NULL;
	crypto_sign_keypair(pk, sk);
	ck_assert_int_eq(paserk_k4_pid(kid, sizeof kid, pk, sizeof pk), ERR_OK);
	snprintf(footer, sizeof footer, "{\"kid\":\"%s\"}", kid);
	ck_assert_int_eq(paseto_sign_claims(&tok, sk, claims, footer), ERR_OK);
	assert_token_refused(tok, "invalid_token");
	free(tok);
	tok = NULL;
	randombytes_buf(key, sizeof key);
	ck_assert_int_eq(paseto_v4_local_encrypt(&tok, key, (const unsigned char *)claims, strlen(claims),
						 (const unsigned char *)footer, strlen(footer), NULL, 0),
			 ERR_OK);
	assert_token_refused(tok, "invalid_token");
	free(tok);
	/* A signed token naming a sign-in that does not exist, or someone else's. */
	snprintf(claims, sizeof claims,
		 "{\"iss\":\"https://hearth.example\",\"sub\":\"%s\",\"aud\":\"hearth:api\",\"iat\":\"%s\","
		 "\"exp\":\"%s\",\"jti\":\"tok_x\",\"sid\":\"ses_00000000000000000000000000000\"}",
		 a.account, iat, exp);
	tok = sign_with_server_key(claims);
	assert_token_refused(tok, "invalid_token");
	free(tok);
	snprintf(claims, sizeof claims,
		 "{\"iss\":\"https://hearth.example\",\"sub\":\"acc_00000000000000000000000000000\","
		 "\"aud\":\"hearth:api\",\"iat\":\"%s\",\"exp\":\"%s\",\"jti\":\"tok_x\",\"sid\":\"%s\"}",
		 iat, exp, a.session);
	tok = sign_with_server_key(claims);
	assert_token_refused(tok, "invalid_token");
	free(tok);
	/* None of it changed anything. */
	ck_assert_int_eq(count("SELECT COUNT(*) FROM sessions", NULL), sessions);
	ck_assert_int_eq(count("SELECT COUNT(*) FROM sessions WHERE revoked_at IS NOT NULL AND account_id = ?1", a.account), 0);
	assert_token_works(a.access);
}
END_TEST

START_TEST(access_token_expires_with_the_clock)
{
	struct signin a;
	sign_up(&a);
	api_advance(&srv, ACCESS_TTL - 1);
	assert_token_works(a.access);
	api_advance(&srv, 1);
	assert_token_refused(a.access, "invalid_token");
	/* The sign-in itself lives on: refresh gives a working token. */
	struct api_resp *r = refresh(a.refresh);
	ck_assert_status(r, 200);
	assert_token_works(api_str(r, "access_token"));
	api_resp_free(r);
}
END_TEST

/* ---- key rotation ------------------------------------------------------- */

static void ctl_ok(const char *const *argv, char **out)
{
	char *err = NULL;
	int rc = api_ctl(&srv, argv, NULL, NULL, out, &err);
	ck_assert_msg(rc == 0, "hearthctl exited %d: %s", rc, err);
	free(err);
}

START_TEST(key_rotation_with_hearthctl)
{
	struct signin before, after;
	char kid_old[PASERK_K4_PID_SIZE], kid_new[PASERK_K4_PID_SIZE], kid[PASERK_K4_PID_SIZE];
	sign_up(&before);
	ck_assert_int_eq(paseto_footer_kid(kid_old, sizeof kid_old, before.access, strlen(before.access)), ERR_OK);

	char *out = NULL;
	const char *const rotate[] = {"keys", "rotate", "--key-file", srv.key_path, "--json", NULL};
	ctl_ok(rotate, &out);
	json_t *o = json_loads(out, 0, NULL);
	free(out);
	snprintf(kid_new, sizeof kid_new, "%s", json_string_value(json_object_get(o, "current")));
	json_decref(o);
	ck_assert_str_ne(kid_new, kid_old);
	/* hearthd looks at the file at least once a second; moving the test
	 * clock makes it look now. */
	api_advance(&srv, 0);

	sign_in(&before, "Phone", "phone", &after);
	ck_assert_int_eq(paseto_footer_kid(kid, sizeof kid, after.access, strlen(after.access)), ERR_OK);
	ck_assert_str_eq(kid, kid_new);
	assert_token_works(after.access);
	assert_token_works(before.access); /* the old key verifies until retired */
	json_t *keys = published_keys();
	ck_assert_uint_eq(json_array_size(keys), 2);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(keys, 0), "kid")), kid_new);
	json_decref(keys);
	json_decref(verify_offline(before.access));
	json_decref(verify_offline(after.access));

	/* The current key cannot be retired. */
	char *err = NULL;
	const char *const retire_current[] = {"keys", "retire", kid_new, "--key-file", srv.key_path, NULL};
	ck_assert_int_eq(api_ctl(&srv, retire_current, NULL, NULL, NULL, &err), 1);
	ck_assert_ptr_nonnull(strstr(err, "current"));
	free(err);

	const char *const retire[] = {"keys", "retire", kid_old, "--key-file", srv.key_path, NULL};
	ctl_ok(retire, NULL);
	api_advance(&srv, 0);
	assert_token_refused(before.access, "invalid_token");
	assert_token_works(after.access);
	keys = published_keys();
	ck_assert_uint_eq(json_array_size(keys), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(keys, 0), "kid")), kid_new);
	json_decref(keys);
	/* The old sign-in is fine: a refresh signs with the new key. */
	struct api_resp *r = refresh(before.refresh);
	ck_assert_status(r, 200);
	ck_assert_int_eq(paseto_footer_kid(kid, sizeof kid, api_str(r, "access_token"),
					   strlen(api_str(r, "access_token"))), ERR_OK);
	ck_assert_str_eq(kid, kid_new);
	api_resp_free(r);

	const char *const list[] = {"keys", "list", "--key-file", srv.key_path, NULL};
	ctl_ok(list, &out);
	ck_assert_ptr_nonnull(strstr(out, "retired"));
	ck_assert_ptr_nonnull(strstr(out, kid_old));
	free(out);
}
END_TEST

static Suite *auth_api_suite(void)
{
	Suite *s = suite_create("api_auth");
	TCase *tc = tcase_create("auth");
	tcase_add_unchecked_fixture(tc, start, stop);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, refresh_rotates_the_token);
	tcase_add_test(tc, reused_refresh_token_revokes_the_sign_in);
	tcase_add_test(tc, refresh_bad_input_changes_nothing);
	tcase_add_test(tc, sessions_are_listed_newest_first_with_current_marked);
	tcase_add_test(tc, a_device_id_is_reused_only_by_its_account);
	tcase_add_test(tc, deleting_a_sign_in);
	tcase_add_test(tc, signing_out_the_current_sign_in);
	tcase_add_test(tc, revoke_all_signs_out_every_device_including_this_one);
	tcase_add_test(tc, last_use_is_recorded_at_most_once_a_minute);
	tcase_add_test(tc, another_program_verifies_a_token_with_only_the_published_key);
	tcase_add_test(tc, bad_tokens_get_the_exact_401);
	tcase_add_test(tc, access_token_expires_with_the_clock);
	tcase_add_test(tc, refresh_lifetime_slides_and_ends);
	tcase_add_test(tc, key_rotation_with_hearthctl);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(auth_api_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
