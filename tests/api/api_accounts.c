/*
 * API tests of the accounts area against a real hearthd: sign-up and its
 * validation, sign-in and its throttling, /v1/me and the password change,
 * profiles and their PINs, password resets, and rehashing on sign-in after
 * the Argon2id parameters change.
 *
 * Each test uses its own email addresses, so tests of one case share a
 * server without seeing each other.  Bad input tests assert the status, the
 * code (and the field) and, through the database, that nothing changed.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/api/harness.h"

#define PASSWORD "correct horse battery staple"
#define NEW_PASSWORD "a brand new long passphrase"
#define N_ROWS(a) ((int)(sizeof(a) / sizeof((a)[0])))

static struct api_server srv;

/* Revocations take effect at once, and the per-network limits are high so
 * that many tests from 127.0.0.1 never trip them (the "limits" case tests them). */
static const char *const std_flags[] = {"--revocation-cache-ms", "0", "--signin-ip-fail-limit", "1000",
					"--reset-ip-limit", "1000", NULL};
static void start(void) { api_start(&srv, std_flags); }
static void stop(void) { ck_assert_int_eq(api_stop(&srv), 0); }

/* ---- helpers ---- */

struct member {
	char id[64];
	char profile_id[64];
	char session_id[64];
	char token[1024];
};

static struct api_resp *signup(const char *email, const char *password, const char *country)
{
	return api_json(&srv, "POST", "/v1/accounts", NULL,
			json_pack("{s:s, s:s, s:s}", "email", email, "password", password, "country", country));
}

static void copy(char *dst, size_t cap, const char *src)
{
	ck_assert_ptr_nonnull(src);
	snprintf(dst, cap, "%s", src);
}

/* Sign up `email` with PASSWORD, asserting it worked. */
static void member_new(const char *email, struct member *m)
{
	struct api_resp *r = signup(email, PASSWORD, "US");
	ck_assert_status(r, 201);
	copy(m->id, sizeof m->id, json_string_value(json_object_get(json_object_get(r->json, "account"), "id")));
	copy(m->profile_id, sizeof m->profile_id,
	     json_string_value(json_object_get(json_object_get(r->json, "profile"), "id")));
	copy(m->session_id, sizeof m->session_id,
	     json_string_value(json_object_get(json_object_get(r->json, "session"), "id")));
	copy(m->token, sizeof m->token, api_str(r, "access_token"));
	api_resp_free(r);
}

static struct api_resp *signin_on(struct api_server *s, const char *email, const char *password)
{
	return api_json(s, "POST", "/v1/sessions", NULL,
			json_pack("{s:s, s:s, s:{s:s, s:s, s:s}}", "email", email, "password", password,
				  "device", "name", "Living room TV", "type", "tv", "model", "Bravia"));
}

static struct api_resp *signin(const char *email, const char *password)
{
	return signin_on(&srv, email, password);
}

/* Sign in, asserting it worked; the access token goes to `out`. */
static void signin_token(const char *email, const char *password, char *out, size_t cap)
{
	struct api_resp *r = signin(email, password);
	ck_assert_status(r, 201);
	copy(out, cap, api_str(r, "access_token"));
	api_resp_free(r);
}

static int64_t count(const char *sql, const char *arg) { return api_db_int(&srv, sql, arg); }

static int64_t accounts_total(void) { return count("SELECT count(*) FROM accounts", NULL); }

/* Text of a one-row, one-column query into `buf` ("" without a row). */
static const char *db_text(struct api_server *s, const char *sql, const char *arg, char *buf, size_t cap)
{
	struct db *db = api_db(s);
	struct db_stmt *st = NULL;
	buf[0] = '\0';
	ck_assert_int_eq(db_prepare(db, sql, &st), ERR_OK);
	if (arg)
		db_bind_text(st, 1, arg);
	if (db_step_row(st) == ERR_OK && db_column_text(st, 0))
		snprintf(buf, cap, "%s", db_column_text(st, 0));
	db_done(st);
	db_close(db);
	return buf;
}

/* Run one write with `arg` bound to ?1 (test set-up the API cannot do yet). */
static void db_write(const char *sql, const char *arg)
{
	struct db *db = api_db(&srv);
	struct db_stmt *st = NULL;
	ck_assert_int_eq(db_prepare(db, sql, &st), ERR_OK);
	db_bind_text(st, 1, arg);
	ck_assert_int_eq(db_step_done(st), ERR_OK);
	db_done(st);
	db_close(db);
}

/* Assert a 422 validation_failed naming `field` with `code`. */
static void assert_field_error(const struct api_resp *r, const char *field, const char *code)
{
	ck_assert_problem(r, 422, "validation_failed");
	json_t *errors = json_object_get(r->json, "errors");
	size_t i;
	json_t *e;
	json_array_foreach(errors, i, e) {
		const char *f = json_string_value(json_object_get(e, "field"));
		const char *c = json_string_value(json_object_get(e, "code"));
		if (f && c && strcmp(f, field) == 0 && strcmp(c, code) == 0)
			return;
	}
	ck_abort_msg("no error {field: %s, code: %s} in %s", field, code, r->body);
}

/* Assert a problem with `code` whose errors[0] is {field, reason}. */
static void assert_problem_field(const struct api_resp *r, int status, const char *code,
				 const char *field, const char *reason)
{
	ck_assert_problem(r, status, code);
	json_t *e = json_array_get(json_object_get(r->json, "errors"), 0);
	ck_assert_ptr_nonnull(e);
	ck_assert_str_eq(json_string_value(json_object_get(e, "field")), field);
	ck_assert_str_eq(json_string_value(json_object_get(e, "code")), reason);
}

static void assert_retry_after(const struct api_resp *r, const char *want)
{
	char buf[32];
	ck_assert_problem(r, 429, "too_many_attempts");
	ck_assert_ptr_nonnull(api_header(r, "Retry-After", buf, sizeof buf));
	ck_assert_str_eq(buf, want);
}

static const char *member_str(const struct api_resp *r, const char *obj, const char *key)
{
	return json_string_value(json_object_get(json_object_get(r->json, obj), key));
}

/* ---- sign-up ---- */

START_TEST(signup_creates_account_owner_profile_and_signs_in)
{
	struct api_resp *r = api_json(&srv, "POST", "/v1/accounts", NULL,
				      json_pack("{s:s, s:s, s:s}", "email", "  New.Member@Example.COM ",
						"password", PASSWORD, "country", "US"));
	ck_assert_status(r, 201);
	char cc[64];
	ck_assert_str_eq(api_header(r, "Cache-Control", cc, sizeof cc), "no-store");
	char id[64];
	copy(id, sizeof id, member_str(r, "account", "id"));
	ck_assert_int_eq(strncmp(id, "acc_", 4), 0);
	ck_assert_str_eq(member_str(r, "account", "email"), "New.Member@Example.COM");
	ck_assert_str_eq(member_str(r, "account", "country"), "US");
	ck_assert_str_eq(member_str(r, "account", "language"), "en");
	ck_assert_str_eq(member_str(r, "account", "status"), "active");
	ck_assert(json_is_null(json_object_get(json_object_get(r->json, "account"), "name")));
	ck_assert(json_is_null(json_object_get(json_object_get(r->json, "account"), "phone")));
	struct api_resp *clock = api_get(&srv, "/test/v1/clock", NULL);
	ck_assert_str_eq(member_str(r, "account", "created_at"), api_str(clock, "now"));
	api_resp_free(clock);
	json_t *profile = json_object_get(r->json, "profile");
	ck_assert_int_eq(strncmp(json_string_value(json_object_get(profile, "id")), "prf_", 4), 0);
	ck_assert_str_eq(json_string_value(json_object_get(profile, "name")), "New.Member");
	ck_assert(json_is_true(json_object_get(profile, "is_owner")));
	ck_assert(json_is_false(json_object_get(profile, "kids")));
	ck_assert(json_is_false(json_object_get(profile, "has_pin")));
	ck_assert_int_eq(strncmp(api_str(r, "access_token"), "v4.public.", 10), 0);
	ck_assert_uint_eq(strlen(api_str(r, "refresh_token")), 43);
	ck_assert_str_eq(api_str(r, "token_type"), "Bearer");
	ck_assert_int_eq(json_integer_value(json_object_get(r->json, "expires_in")), 900);
	json_t *session = json_object_get(r->json, "session");
	ck_assert_int_eq(strncmp(json_string_value(json_object_get(session, "id")), "ses_", 4), 0);
	json_t *device = json_object_get(session, "device");
	ck_assert_str_eq(json_string_value(json_object_get(device, "name")), "Web browser");
	ck_assert_str_eq(json_string_value(json_object_get(device, "type")), "web");

	ck_assert_int_eq(count("SELECT count(*) FROM accounts WHERE email_norm = ?1", "new.member@example.com"), 1);
	ck_assert_int_eq(count("SELECT count(*) FROM profiles WHERE account_id = ?1 AND is_owner = 1", id), 1);
	ck_assert_int_eq(count("SELECT count(*) FROM notifications WHERE account_id = ?1 AND template = 'welcome'"
			       " AND recipient = 'New.Member@Example.COM'", id), 1);
	ck_assert_int_eq(count("SELECT count(*) FROM events WHERE subject = ?1 AND type = 'account.created'", id), 1);
	ck_assert_int_eq(count("SELECT count(*) FROM sessions WHERE account_id = ?1", id), 1);
	/* hearthd's delivery thread sends it (the default sender writes it to
	 * the log) within a few of its 1 s ticks. */
	int64_t sent = 0;
	for (int tries = 0; tries < 200 && sent == 0; tries++) {
		sent = count("SELECT count(*) FROM notifications WHERE account_id = ?1 AND template = 'welcome'"
			     " AND status = 'sent' AND attempts = 1 AND sent_at IS NOT NULL", id);
		if (sent == 0)
			usleep(50000);
	}
	ck_assert_int_eq(sent, 1);
	/* The password is stored as Argon2id only. */
	char hash[256];
	db_text(&srv, "SELECT password_hash FROM accounts WHERE id = ?1", id, hash, sizeof hash);
	ck_assert_int_eq(strncmp(hash, "$argon2id$", 10), 0);

	/* The tokens work. */
	char token[1024];
	copy(token, sizeof token, api_str(r, "access_token"));
	api_resp_free(r);
	r = api_get(&srv, "/v1/me", token);
	ck_assert_status(r, 200);
	ck_assert_str_eq(api_str(r, "id"), id);
	api_resp_free(r);
}
END_TEST

START_TEST(signup_with_every_field)
{
	struct api_resp *r = api_json(&srv, "POST", "/v1/accounts", NULL,
				      json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s}}", "email",
						"full@example.com", "password", PASSWORD, "country", "BR",
						"name", "  Ana Souza ", "phone", "+5511987654321", "language",
						"pt-br", "device", "name", "Ana's phone", "type", "phone", "model",
						"Pixel 9"));
	ck_assert_status(r, 201);
	ck_assert_str_eq(member_str(r, "account", "name"), "Ana Souza");
	ck_assert_str_eq(member_str(r, "account", "phone"), "+5511987654321");
	ck_assert_str_eq(member_str(r, "account", "language"), "pt-BR");
	ck_assert_str_eq(member_str(r, "account", "country"), "BR");
	ck_assert_str_eq(member_str(r, "profile", "name"), "Ana Souza");
	ck_assert_str_eq(member_str(r, "profile", "language"), "pt-BR");
	json_t *device = json_object_get(json_object_get(r->json, "session"), "device");
	ck_assert_str_eq(json_string_value(json_object_get(device, "name")), "Ana's phone");
	ck_assert_str_eq(json_string_value(json_object_get(device, "type")), "phone");
	ck_assert_str_eq(json_string_value(json_object_get(device, "model")), "Pixel 9");
	ck_assert_int_eq(count("SELECT count(*) FROM devices WHERE account_id = ?1 AND type = 'phone'",
			       member_str(r, "account", "id")), 1);
	api_resp_free(r);
}
END_TEST

START_TEST(signup_taken_email_in_another_case_is_409)
{
	struct member m;
	member_new("taken@example.com", &m);
	int64_t before = accounts_total();
	struct api_resp *r = signup("  TAKEN@Example.Com", "another fine passphrase", "CA");
	ck_assert_problem(r, 409, "email_taken");
	api_resp_free(r);
	ck_assert_int_eq(count("SELECT count(*) FROM accounts WHERE email_norm = ?1", "taken@example.com"), 1);
	ck_assert_int_eq(accounts_total(), before);
	ck_assert_int_eq(count("SELECT count(*) FROM notifications WHERE lower(recipient) = 'taken@example.com'", NULL), 1);
}
END_TEST

#define PW "\"password\":\"" PASSWORD "\""
#define EM "\"email\":\"bad-input@example.com\""
#define CO "\"country\":\"US\""

static const struct {
	const char *body, *field, *code;
} signup_bad[] = {
	{"{" PW "," CO "}", "email", "required"},
	{"{\"email\":null," PW "," CO "}", "email", "required"},
	{"{\"email\":42," PW "," CO "}", "email", "wrong_type"},
	{"{\"email\":[\"a@example.com\"]," PW "," CO "}", "email", "wrong_type"},
	{"{\"email\":\"\"," PW "," CO "}", "email", "too_short"},
	{"{\"email\":\"plain\"," PW "," CO "}", "email", "invalid_format"},
	{"{\"email\":\"bad-input@example\"," PW "," CO "}", "email", "invalid_format"},
	{"{\"email\":\"bad input@example.com\"," PW "," CO "}", "email", "invalid_format"},
	{"{\"email\":\"bad@@example.com\"," PW "," CO "}", "email", "invalid_format"},
	{"{\"email\":\"bad-input@example..com\"," PW "," CO "}", "email", "invalid_format"},
	{"{\"email\":\"<bad-input@example.com>\"," PW "," CO "}", "email", "invalid_format"},
	{"{" EM "," CO "}", "password", "required"},
	{"{" EM ",\"password\":12345678," CO "}", "password", "wrong_type"},
	{"{" EM "," PW "}", "country", "required"},
	{"{" EM "," PW ",\"country\":\"us\"}", "country", "invalid_format"},
	{"{" EM "," PW ",\"country\":\"USA\"}", "country", "invalid_format"},
	{"{" EM "," PW ",\"country\":840}", "country", "wrong_type"},
	{"{" EM "," PW "," CO ",\"name\":\"\"}", "name", "too_short"},
	{"{" EM "," PW "," CO ",\"name\":\"   \"}", "name", "too_short"},
	{"{" EM "," PW "," CO ",\"name\":\"a\\u0007b\"}", "name", "invalid_characters"},
	{"{" EM "," PW "," CO ",\"name\":true}", "name", "wrong_type"},
	{"{" EM "," PW "," CO ",\"phone\":\"4155550123\"}", "phone", "invalid_format"},
	{"{" EM "," PW "," CO ",\"phone\":\"+1 415 555 0123\"}", "phone", "invalid_format"},
	{"{" EM "," PW "," CO ",\"phone\":14155550123}", "phone", "wrong_type"},
	{"{" EM "," PW "," CO ",\"language\":\"english\"}", "language", "invalid_format"},
	{"{" EM "," PW "," CO ",\"language\":\"en_US\"}", "language", "invalid_format"},
	{"{" EM "," PW "," CO ",\"device\":\"tv\"}", "device", "wrong_type"},
	{"{" EM "," PW "," CO ",\"device\":{}}", "device.name", "required"},
	{"{" EM "," PW "," CO ",\"device\":{\"name\":\"TV\"}}", "device.type", "required"},
	{"{" EM "," PW "," CO ",\"device\":{\"name\":\"TV\",\"type\":\"fridge\"}}", "device.type", "invalid_choice"},
	{"{" EM "," PW "," CO ",\"device\":{\"name\":\"TV\",\"type\":\"tv\",\"color\":\"red\"}}", "device.color", "unknown_field"},
	{"{" EM "," PW "," CO ",\"device\":{\"name\":\"TV\",\"type\":\"tv\",\"id\":\"abc\"}}", "device.id", "invalid_format"},
	{"{" EM "," PW "," CO ",\"role\":\"admin\"}", "role", "unknown_field"},
};

START_TEST(signup_bad_field_is_422_and_creates_nothing)
{
	int64_t before = accounts_total();
	struct api_resp *r = api_request(&srv, "POST", "/v1/accounts", NULL, "application/json",
					 signup_bad[_i].body, NULL);
	assert_field_error(r, signup_bad[_i].field, signup_bad[_i].code);
	api_resp_free(r);
	ck_assert_int_eq(accounts_total(), before);
	ck_assert_int_eq(count("SELECT count(*) FROM notifications WHERE recipient = 'bad-input@example.com'", NULL), 0);
}
END_TEST

START_TEST(signup_reports_every_error_at_once)
{
	struct api_resp *r = api_request(&srv, "POST", "/v1/accounts", NULL, "application/json", "{}", NULL);
	assert_field_error(r, "email", "required");
	assert_field_error(r, "password", "required");
	assert_field_error(r, "country", "required");
	ck_assert_uint_eq(json_array_size(json_object_get(r->json, "errors")), 3);
	api_resp_free(r);
}
END_TEST

START_TEST(signup_overlong_fields_are_too_long)
{
	int64_t before = accounts_total();
	/* 255 bytes, one more than an address may have: a 64-byte local
	 * part and 60-byte labels. */
	char email[300];
	memset(email, 'a', 64);
	email[64] = '@';
	for (int i = 65; i < 255; i++)
		email[i] = (i - 65) % 61 == 60 ? '.' : 'b';
	memcpy(email + 251, ".com", 5);
	ck_assert_uint_eq(strlen(email), 255);
	struct api_resp *r = signup(email, PASSWORD, "US");
	assert_field_error(r, "email", "too_long");
	api_resp_free(r);
	/* 254 bytes is fine. */
	memcpy(email + 250, ".com", 5);
	ck_assert_uint_eq(strlen(email), 254);
	r = signup(email, PASSWORD, "US");
	ck_assert_status(r, 201);
	api_resp_free(r);
	ck_assert_int_eq(accounts_total(), before + 1);
	/* A name of 129 bytes. */
	char name[130];
	memset(name, 'n', 129);
	name[129] = '\0';
	r = api_json(&srv, "POST", "/v1/accounts", NULL,
		     json_pack("{s:s, s:s, s:s, s:s}", "email", "long-name@example.com", "password", PASSWORD,
			       "country", "US", "name", name));
	assert_field_error(r, "name", "too_long");
	api_resp_free(r);
	ck_assert_int_eq(accounts_total(), before + 1);
}
END_TEST

START_TEST(signup_country_not_sold_is_422_country_not_supported)
{
	static const char *const countries[] = {"ZZ", "CN", "AQ"};
	int64_t before = accounts_total();
	for (int i = 0; i < 3; i++) {
		struct api_resp *r = signup("nowhere@example.com", PASSWORD, countries[i]);
		assert_problem_field(r, 422, "country_not_supported", "country", "country_not_supported");
		api_resp_free(r);
	}
	/* Lower case is a form error, not an unsold country: the code is upper-case alpha-2. */
	struct api_resp *r = signup("nowhere@example.com", PASSWORD, "us");
	assert_field_error(r, "country", "invalid_format");
	api_resp_free(r);
	ck_assert_int_eq(accounts_total(), before);
}
END_TEST

static const struct {
	const char *email, *password, *reason;
} weak_rows[] = {
	{"weak1@example.com", "short7!", "too_short"},
	{"weak2@example.com", "", "too_short"},
	{"weak3@example.com", "weak3@example.com", "equals_email"},
	{"weak4@example.com", "WEAK4@Example.com", "equals_email"},
	{"weak5@example.com", "password", "common"},
	{"weak6@example.com", "Baseball", "common"},
	{"weak7@example.com", NULL, "too_long"}, /* 257 bytes */
};

START_TEST(signup_weak_password_is_422_weak_password)
{
	char long_pw[258];
	memset(long_pw, 'p', 257);
	long_pw[257] = '\0';
	int64_t before = accounts_total();
	const char *pw = weak_rows[_i].password ? weak_rows[_i].password : long_pw;
	struct api_resp *r = signup(weak_rows[_i].email, pw, "US");
	assert_problem_field(r, 422, "weak_password", "password", weak_rows[_i].reason);
	api_resp_free(r);
	ck_assert_int_eq(accounts_total(), before);
	ck_assert_int_eq(count("SELECT count(*) FROM accounts WHERE email_norm = ?1", weak_rows[_i].email), 0);
}
END_TEST

START_TEST(signup_at_password_limits)
{
	/* 8 characters in 16 bytes, and exactly 256 bytes, are both accepted. */
	struct api_resp *r = signup("eight@example.com", "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", "US");
	ck_assert_status(r, 201);
	api_resp_free(r);
	char pw[257];
	memset(pw, 'q', 256);
	pw[256] = '\0';
	r = signup("max-pw@example.com", pw, "US");
	ck_assert_status(r, 201);
	api_resp_free(r);
}
END_TEST

/* ---- sign-in ---- */

START_TEST(signin_answers_tokens_and_session)
{
	struct member m;
	member_new("signin@example.com", &m);
	struct api_resp *r = signin("  SIGNIN@example.com ", PASSWORD);
	ck_assert_status(r, 201);
	char cc[64];
	ck_assert_str_eq(api_header(r, "Cache-Control", cc, sizeof cc), "no-store");
	ck_assert_int_eq(strncmp(api_str(r, "access_token"), "v4.public.", 10), 0);
	ck_assert_uint_eq(strlen(api_str(r, "refresh_token")), 43);
	ck_assert_str_eq(api_str(r, "token_type"), "Bearer");
	ck_assert_int_eq(json_integer_value(json_object_get(r->json, "expires_in")), 900);
	json_t *session = json_object_get(r->json, "session");
	const char *sid = json_string_value(json_object_get(session, "id"));
	ck_assert_str_ne(sid, m.session_id);
	json_t *device = json_object_get(session, "device");
	ck_assert_int_eq(strncmp(json_string_value(json_object_get(device, "id")), "dev_", 4), 0);
	ck_assert_str_eq(json_string_value(json_object_get(device, "name")), "Living room TV");
	ck_assert_str_eq(json_string_value(json_object_get(device, "type")), "tv");
	ck_assert_str_eq(json_string_value(json_object_get(device, "model")), "Bravia");
	ck_assert_int_eq(count("SELECT count(*) FROM sessions WHERE account_id = ?1", m.id), 2);
	api_resp_free(r);
}
END_TEST

/* A problem document without the members that differ per request. */
static char *problem_core(const struct api_resp *r)
{
	json_t *copy_ = json_deep_copy(r->json);
	json_object_del(copy_, "request_id");
	char *s = json_dumps(copy_, JSON_SORT_KEYS | JSON_COMPACT);
	json_decref(copy_);
	return s;
}

START_TEST(signin_unknown_email_and_wrong_password_look_the_same)
{
	struct member m;
	member_new("same@example.com", &m);
	struct api_resp *wrong = signin("same@example.com", "not the password at all");
	struct api_resp *unknown = signin("nobody-here@example.com", PASSWORD);
	ck_assert_problem(wrong, 401, "invalid_credentials");
	ck_assert_problem(unknown, 401, "invalid_credentials");
	char *a = problem_core(wrong), *b = problem_core(unknown);
	ck_assert_str_eq(a, b);
	free(a);
	free(b);
	char h1[128], h2[128];
	ck_assert_ptr_null(api_header(wrong, "Retry-After", h1, sizeof h1));
	ck_assert_ptr_null(api_header(unknown, "Retry-After", h2, sizeof h2));
	api_resp_free(wrong);
	api_resp_free(unknown);
	ck_assert_int_eq(count("SELECT count(*) FROM sessions WHERE account_id = ?1", m.id), 1);
}
END_TEST

START_TEST(signin_bad_input_is_422)
{
	struct member m;
	member_new("signin-bad@example.com", &m);
	static const struct {
		const char *body, *field, *code;
	} rows[] = {
		{"{\"email\":\"signin-bad@example.com\",\"password\":\"" PASSWORD "\"}", "device", "required"},
		{"{\"email\":\"signin-bad@example.com\",\"password\":\"" PASSWORD "\",\"device\":{\"name\":\"x\",\"type\":\"toaster\"}}", "device.type", "invalid_choice"},
		{"{\"email\":\"signin-bad@example.com\",\"device\":{\"name\":\"x\",\"type\":\"tv\"}}", "password", "required"},
		{"{\"password\":\"" PASSWORD "\",\"device\":{\"name\":\"x\",\"type\":\"tv\"}}", "email", "required"},
		{"{\"email\":7,\"password\":\"" PASSWORD "\",\"device\":{\"name\":\"x\",\"type\":\"tv\"}}", "email", "wrong_type"},
		{"{\"email\":\"signin-bad@example.com\",\"password\":\"" PASSWORD "\",\"device\":{\"name\":\"x\",\"type\":\"tv\"},\"remember\":true}", "remember", "unknown_field"},
	};
	for (int i = 0; i < N_ROWS(rows); i++) {
		struct api_resp *r = api_request(&srv, "POST", "/v1/sessions", NULL, "application/json", rows[i].body, NULL);
		assert_field_error(r, rows[i].field, rows[i].code);
		api_resp_free(r);
	}
	ck_assert_int_eq(count("SELECT count(*) FROM sessions WHERE account_id = ?1", m.id), 1);
	ck_assert_int_eq(count("SELECT count(*) FROM throttle WHERE key = 'signin:acct:' || ?1", m.id), 0);
}
END_TEST

START_TEST(signin_locked_account_is_403_only_with_the_right_password)
{
	struct member m;
	member_new("locked@example.com", &m);
	db_write("UPDATE accounts SET status = 'locked' WHERE id = ?1", m.id);
	struct api_resp *r = signin("locked@example.com", "not the password at all");
	ck_assert_problem(r, 401, "invalid_credentials");
	api_resp_free(r);
	r = signin("locked@example.com", PASSWORD);
	ck_assert_problem(r, 403, "account_locked");
	api_resp_free(r);
	ck_assert_int_eq(count("SELECT count(*) FROM sessions WHERE account_id = ?1", m.id), 1);
}
END_TEST

START_TEST(signin_failures_block_the_account_until_the_backoff_passes)
{
	struct member m;
	member_new("throttle@example.com", &m);
	for (int i = 0; i < 5; i++) {
		struct api_resp *r = signin("throttle@example.com", "wrong wrong wrong");
		ck_assert_problem(r, 401, "invalid_credentials");
		api_resp_free(r);
	}
	/* Blocked now: even the right password is not tried. */
	struct api_resp *r = signin("throttle@example.com", PASSWORD);
	assert_retry_after(r, "30");
	ck_assert_int_eq(json_integer_value(json_object_get(r->json, "retry_after")), 30);
	api_resp_free(r);
	api_advance(&srv, 20);
	r = signin("throttle@example.com", PASSWORD);
	assert_retry_after(r, "10");
	api_resp_free(r);
	api_advance(&srv, 11);
	r = signin("throttle@example.com", PASSWORD);
	ck_assert_status(r, 201);
	api_resp_free(r);
	/* The success forgot the failures: four more are plain 401s. */
	for (int i = 0; i < 4; i++) {
		r = signin("throttle@example.com", "wrong wrong wrong");
		ck_assert_problem(r, 401, "invalid_credentials");
		api_resp_free(r);
	}
	ck_assert_int_eq(count("SELECT failures FROM throttle WHERE key = 'signin:acct:' || ?1", m.id), 4);
}
END_TEST

START_TEST(signin_backoff_doubles_with_more_failures)
{
	struct member m;
	member_new("backoff@example.com", &m);
	for (int i = 0; i < 5; i++)
		api_resp_free(signin("backoff@example.com", "wrong wrong wrong"));
	struct api_resp *r = signin("backoff@example.com", "wrong wrong wrong");
	assert_retry_after(r, "30");
	api_resp_free(r);
	api_advance(&srv, 31);
	r = signin("backoff@example.com", "wrong wrong wrong");
	ck_assert_problem(r, 401, "invalid_credentials");
	api_resp_free(r);
	r = signin("backoff@example.com", PASSWORD);
	assert_retry_after(r, "60");
	api_resp_free(r);
}
END_TEST

START_TEST(signin_unknown_email_is_throttled_like_an_account)
{
	for (int i = 0; i < 5; i++) {
		struct api_resp *r = signin("ghost@example.com", "wrong wrong wrong");
		ck_assert_problem(r, 401, "invalid_credentials");
		api_resp_free(r);
	}
	struct api_resp *r = signin("GHOST@example.com", "wrong wrong wrong");
	assert_retry_after(r, "30");
	api_resp_free(r);
	/* No address is stored in the throttle table. */
	ck_assert_int_eq(count("SELECT count(*) FROM throttle WHERE key LIKE '%ghost%'", NULL), 0);
}
END_TEST

/* ---- /v1/me ---- */

START_TEST(me_needs_a_token)
{
	struct api_resp *r = api_get(&srv, "/v1/me", NULL);
	ck_assert_problem(r, 401, "unauthenticated");
	api_resp_free(r);
	r = api_get(&srv, "/v1/me", "v4.public.garbage");
	ck_assert_problem(r, 401, "invalid_token");
	api_resp_free(r);
}
END_TEST

START_TEST(me_get_and_patch)
{
	struct member m;
	member_new("me@example.com", &m);
	struct api_resp *r = api_get(&srv, "/v1/me", m.token);
	ck_assert_status(r, 200);
	ck_assert_str_eq(api_str(r, "id"), m.id);
	ck_assert_str_eq(api_str(r, "email"), "me@example.com");
	api_resp_free(r);

	r = api_json(&srv, "PATCH", "/v1/me", m.token,
		     json_pack("{s:s, s:s, s:s}", "name", "Mia Example", "phone", "+442071838750", "language", "EN-gb"));
	ck_assert_status(r, 200);
	ck_assert_str_eq(api_str(r, "name"), "Mia Example");
	ck_assert_str_eq(api_str(r, "phone"), "+442071838750");
	ck_assert_str_eq(api_str(r, "language"), "en-GB");
	api_resp_free(r);
	r = api_get(&srv, "/v1/me", m.token);
	ck_assert_str_eq(api_str(r, "name"), "Mia Example");
	api_resp_free(r);
	ck_assert_int_eq(count("SELECT count(*) FROM events WHERE subject = ?1 AND type = 'account.updated'", m.id), 1);

	/* null clears name and phone; absent fields stay. */
	r = api_request(&srv, "PATCH", "/v1/me", m.token, "application/json", "{\"name\":null,\"phone\":null}", NULL);
	ck_assert_status(r, 200);
	ck_assert(json_is_null(json_object_get(r->json, "name")));
	ck_assert(json_is_null(json_object_get(r->json, "phone")));
	ck_assert_str_eq(api_str(r, "language"), "en-GB");
	api_resp_free(r);
	ck_assert_int_eq(count("SELECT count(*) FROM accounts WHERE id = ?1 AND name IS NULL AND phone IS NULL", m.id), 1);
}
END_TEST

START_TEST(me_patch_bad_input_changes_nothing)
{
	struct member m;
	member_new("me-bad@example.com", &m);
	static const struct {
		const char *body, *field, *code;
	} rows[] = {
		{"{\"phone\":\"555\"}", "phone", "invalid_format"},
		{"{\"language\":null}", "language", "wrong_type"},
		{"{\"language\":\"klingon\"}", "language", "invalid_format"},
		{"{\"name\":\"\"}", "name", "too_short"},
		{"{\"name\":5}", "name", "wrong_type"},
		{"{\"email\":\"new@example.com\"}", "email", "unknown_field"},
		{"{\"country\":\"GB\"}", "country", "unknown_field"},
		{"{\"name\":\"Valid\",\"phone\":\"555\"}", "phone", "invalid_format"},
	};
	for (int i = 0; i < N_ROWS(rows); i++) {
		struct api_resp *r = api_request(&srv, "PATCH", "/v1/me", m.token, "application/json", rows[i].body, NULL);
		assert_field_error(r, rows[i].field, rows[i].code);
		api_resp_free(r);
	}
	ck_assert_int_eq(count("SELECT count(*) FROM accounts WHERE id = ?1 AND name IS NULL AND phone IS NULL"
			       " AND language = 'en' AND email = 'me-bad@example.com'", m.id), 1);
	ck_assert_int_eq(count("SELECT count(*) FROM events WHERE subject = ?1 AND type = 'account.updated'", m.id), 0);
}
END_TEST

START_TEST(password_change_signs_out_every_other_sign_in)
{
	struct member m;
	member_new("change@example.com", &m);
	char other[1024], hash_before[256], hash_after[256];
	signin_token("change@example.com", PASSWORD, other, sizeof other);
	db_text(&srv, "SELECT password_hash FROM accounts WHERE id = ?1", m.id, hash_before, sizeof hash_before);

	/* A wrong current password changes nothing. */
	struct api_resp *r = api_json(&srv, "POST", "/v1/me/password", m.token,
				      json_pack("{s:s, s:s}", "current_password", "not it at all", "new_password", NEW_PASSWORD));
	ck_assert_problem(r, 401, "invalid_credentials");
	api_resp_free(r);
	/* A weak new one neither. */
	r = api_json(&srv, "POST", "/v1/me/password", m.token,
		     json_pack("{s:s, s:s}", "current_password", PASSWORD, "new_password", "football"));
	assert_problem_field(r, 422, "weak_password", "new_password", "common");
	api_resp_free(r);
	r = api_json(&srv, "POST", "/v1/me/password", m.token,
		     json_pack("{s:s, s:s}", "current_password", PASSWORD, "new_password", "Change@Example.com"));
	assert_problem_field(r, 422, "weak_password", "new_password", "equals_email");
	api_resp_free(r);
	db_text(&srv, "SELECT password_hash FROM accounts WHERE id = ?1", m.id, hash_after, sizeof hash_after);
	ck_assert_str_eq(hash_after, hash_before);
	r = api_get(&srv, "/v1/me", other);
	ck_assert_status(r, 200);
	api_resp_free(r);

	r = api_json(&srv, "POST", "/v1/me/password", m.token,
		     json_pack("{s:s, s:s}", "current_password", PASSWORD, "new_password", NEW_PASSWORD));
	ck_assert_status(r, 204);
	api_resp_free(r);
	/* This sign-in goes on; the other one is revoked. */
	r = api_get(&srv, "/v1/me", m.token);
	ck_assert_status(r, 200);
	api_resp_free(r);
	r = api_get(&srv, "/v1/me", other);
	ck_assert_problem(r, 401, "invalid_token");
	api_resp_free(r);
	r = signin("change@example.com", PASSWORD);
	ck_assert_problem(r, 401, "invalid_credentials");
	api_resp_free(r);
	r = signin("change@example.com", NEW_PASSWORD);
	ck_assert_status(r, 201);
	api_resp_free(r);
	ck_assert_int_eq(count("SELECT count(*) FROM notifications WHERE account_id = ?1 AND template = 'password_changed'", m.id), 1);
	ck_assert_int_eq(count("SELECT count(*) FROM events WHERE subject = ?1 AND type = 'account.password_changed'", m.id), 1);
	ck_assert_int_eq(count("SELECT count(*) FROM sessions WHERE account_id = ?1 AND revoked_at IS NULL", m.id), 2);
}
END_TEST

START_TEST(password_change_is_throttled_like_signin)
{
	struct member m;
	member_new("change-throttle@example.com", &m);
	for (int i = 0; i < 5; i++) {
		struct api_resp *r = api_json(&srv, "POST", "/v1/me/password", m.token,
					      json_pack("{s:s, s:s}", "current_password", "guess guess", "new_password", NEW_PASSWORD));
		ck_assert_problem(r, 401, "invalid_credentials");
		api_resp_free(r);
	}
	struct api_resp *r = api_json(&srv, "POST", "/v1/me/password", m.token,
				      json_pack("{s:s, s:s}", "current_password", PASSWORD, "new_password", NEW_PASSWORD));
	assert_retry_after(r, "30");
	api_resp_free(r);
	/* The same counter guards sign-in. */
	r = signin("change-throttle@example.com", PASSWORD);
	assert_retry_after(r, "30");
	api_resp_free(r);
	r = api_request(&srv, "POST", "/v1/me/password", m.token, "application/json", "{\"current_password\":1}", NULL);
	assert_field_error(r, "current_password", "wrong_type");
	assert_field_error(r, "new_password", "required");
	api_resp_free(r);
}
END_TEST

/* ---- profiles ---- */

static struct api_resp *profile_create(const char *token, json_t *body)
{
	return api_json(&srv, "POST", "/v1/profiles", token, body);
}

static int64_t profiles_of(const char *account_id)
{
	return count("SELECT count(*) FROM profiles WHERE account_id = ?1", account_id);
}

START_TEST(profiles_up_to_five_with_unique_names)
{
	struct member m;
	member_new("family@example.com", &m);
	static const char *const names[] = {"Dad", "Mum", "Kids", "Gran"};
	for (int i = 0; i < 4; i++) {
		struct api_resp *r = profile_create(m.token, json_pack("{s:s, s:b}", "name", names[i], "kids", i == 2));
		ck_assert_status(r, 201);
		ck_assert_str_eq(api_str(r, "name"), names[i]);
		ck_assert(json_is_false(json_object_get(r->json, "is_owner")));
		ck_assert(json_boolean_value(json_object_get(r->json, "kids")) == (i == 2));
		ck_assert_str_eq(api_str(r, "language"), "en");
		api_resp_free(r);
	}
	struct api_resp *r = profile_create(m.token, json_pack("{s:s}", "name", "Sixth"));
	ck_assert_problem(r, 409, "profile_limit_reached");
	api_resp_free(r);
	ck_assert_int_eq(profiles_of(m.id), 5);

	r = api_get(&srv, "/v1/profiles", m.token);
	ck_assert_status(r, 200);
	json_t *data = json_object_get(r->json, "data");
	ck_assert_uint_eq(json_array_size(data), 5);
	ck_assert(json_is_true(json_object_get(json_array_get(data, 0), "is_owner")));
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(data, 0), "id")), m.profile_id);
	ck_assert(json_is_false(json_object_get(r->json, "has_more")));
	/* Profiles made in the same second have no order among themselves: find Mum by name. */
	char mum_id[64] = "";
	size_t i;
	json_t *p;
	json_array_foreach(data, i, p)
		if (strcmp(json_string_value(json_object_get(p, "name")), "Mum") == 0)
			copy(mum_id, sizeof mum_id, json_string_value(json_object_get(p, "id")));
	ck_assert_str_ne(mum_id, "");
	api_resp_free(r);

	/* Deleting one makes room; a taken name in any case is refused. */
	char path[128];
	snprintf(path, sizeof path, "/v1/profiles/%s", mum_id);
	r = api_request(&srv, "DELETE", path, m.token, NULL, NULL, NULL);
	ck_assert_status(r, 204);
	api_resp_free(r);
	ck_assert_int_eq(count("SELECT count(*) FROM events WHERE subject = ?1 AND type = 'profile.deleted'", mum_id), 1);
	r = profile_create(m.token, json_pack("{s:s}", "name", "  kIDs "));
	ck_assert_problem(r, 409, "profile_name_taken");
	api_resp_free(r);
	r = profile_create(m.token, json_pack("{s:s}", "name", "FAMILY"));
	ck_assert_problem(r, 409, "profile_name_taken"); /* the owner's name */
	api_resp_free(r);
	ck_assert_int_eq(profiles_of(m.id), 4);
	r = profile_create(m.token, json_pack("{s:s, s:s}", "name", "Mum again", "language", "fr"));
	ck_assert_status(r, 201);
	ck_assert_str_eq(api_str(r, "language"), "fr");
	api_resp_free(r);
	ck_assert_int_eq(profiles_of(m.id), 5);
}
END_TEST

START_TEST(profile_update_and_owner_rules)
{
	struct member m;
	member_new("edit@example.com", &m);
	struct api_resp *r = profile_create(m.token, json_pack("{s:s}", "name", "Guest"));
	char id[64], path[128];
	copy(id, sizeof id, api_str(r, "id"));
	api_resp_free(r);
	snprintf(path, sizeof path, "/v1/profiles/%s", id);

	r = api_json(&srv, "PATCH", path, m.token, json_pack("{s:s, s:b, s:s}", "name", "Visitor", "kids", 1, "language", "de"));
	ck_assert_status(r, 200);
	ck_assert_str_eq(api_str(r, "name"), "Visitor");
	ck_assert(json_is_true(json_object_get(r->json, "kids")));
	ck_assert_str_eq(api_str(r, "language"), "de");
	api_resp_free(r);
	ck_assert_int_eq(count("SELECT count(*) FROM events WHERE subject = ?1 AND type = 'profile.updated'", id), 1);
	/* Renaming onto another profile's name, in another case. */
	r = api_json(&srv, "PATCH", path, m.token, json_pack("{s:s}", "name", "EDIT"));
	ck_assert_problem(r, 409, "profile_name_taken");
	api_resp_free(r);
	r = api_request(&srv, "PATCH", path, m.token, "application/json", "{\"name\":null}", NULL);
	assert_field_error(r, "name", "wrong_type");
	api_resp_free(r);
	/* Its own name in another case is fine. */
	r = api_json(&srv, "PATCH", path, m.token, json_pack("{s:s}", "name", "VISITOR"));
	ck_assert_status(r, 200);
	api_resp_free(r);

	char owner_path[128];
	snprintf(owner_path, sizeof owner_path, "/v1/profiles/%s", m.profile_id);
	r = api_request(&srv, "DELETE", owner_path, m.token, NULL, NULL, NULL);
	ck_assert_problem(r, 409, "owner_profile");
	api_resp_free(r);
	ck_assert_int_eq(profiles_of(m.id), 2);
	r = api_json(&srv, "PATCH", owner_path, m.token, json_pack("{s:s}", "name", "Head of house"));
	ck_assert_status(r, 200);
	ck_assert(json_is_true(json_object_get(r->json, "is_owner")));
	api_resp_free(r);
}
END_TEST

START_TEST(profile_of_another_account_is_404)
{
	struct member a, b;
	member_new("owner-a@example.com", &a);
	member_new("owner-b@example.com", &b);
	struct api_resp *r = profile_create(a.token, json_pack("{s:s, s:s}", "name", "Private", "pin", "4321"));
	char id[64], path[128], unlock[160];
	copy(id, sizeof id, api_str(r, "id"));
	api_resp_free(r);
	snprintf(path, sizeof path, "/v1/profiles/%s", id);
	snprintf(unlock, sizeof unlock, "/v1/profiles/%s/unlock", id);
	r = api_json(&srv, "PATCH", path, b.token, json_pack("{s:s}", "name", "Mine now"));
	ck_assert_problem(r, 404, "not_found");
	api_resp_free(r);
	r = api_request(&srv, "DELETE", path, b.token, NULL, NULL, NULL);
	ck_assert_problem(r, 404, "not_found");
	api_resp_free(r);
	r = api_json(&srv, "POST", unlock, b.token, json_pack("{s:s}", "pin", "4321"));
	ck_assert_problem(r, 404, "not_found");
	api_resp_free(r);
	static const char *const bad_ids[] = {"/v1/profiles/nope", "/v1/profiles/prf_00000000000000000000000000000",
					      "/v1/profiles/acc_00000000000000000000000000000"};
	for (int i = 0; i < 3; i++) {
		r = api_request(&srv, "DELETE", bad_ids[i], a.token, NULL, NULL, NULL);
		ck_assert_problem(r, 404, "not_found");
		api_resp_free(r);
	}
	ck_assert_int_eq(count("SELECT count(*) FROM profiles WHERE id = ?1 AND name = 'Private'", id), 1);
	r = api_get(&srv, "/v1/profiles", b.token);
	ck_assert_uint_eq(json_array_size(json_object_get(r->json, "data")), 1);
	api_resp_free(r);
}
END_TEST

START_TEST(profile_bad_input_is_422)
{
	struct member m;
	member_new("profile-bad@example.com", &m);
	char long_name[64];
	memset(long_name, 'x', 51);
	long_name[51] = '\0';
	static const struct {
		const char *body, *field, *code;
	} rows[] = {
		{"{}", "name", "required"},
		{"{\"name\":\"\"}", "name", "too_short"},
		{"{\"name\":\"ok\",\"kids\":\"yes\"}", "kids", "wrong_type"},
		{"{\"name\":\"ok\",\"kids\":null}", "kids", "wrong_type"},
		{"{\"name\":\"ok\",\"pin\":\"12a4\"}", "pin", "invalid_format"},
		{"{\"name\":\"ok\",\"pin\":\"12345\"}", "pin", "invalid_format"},
		{"{\"name\":\"ok\",\"pin\":1234}", "pin", "wrong_type"},
		{"{\"name\":\"ok\",\"language\":\"x\"}", "language", "invalid_format"},
		{"{\"name\":\"ok\",\"avatar\":\"cat\"}", "avatar", "unknown_field"},
		{"{\"name\":\"ok\",\"is_owner\":true}", "is_owner", "unknown_field"},
	};
	for (int i = 0; i < N_ROWS(rows); i++) {
		struct api_resp *r = api_request(&srv, "POST", "/v1/profiles", m.token, "application/json", rows[i].body, NULL);
		assert_field_error(r, rows[i].field, rows[i].code);
		api_resp_free(r);
	}
	struct api_resp *r = profile_create(m.token, json_pack("{s:s}", "name", long_name));
	assert_field_error(r, "name", "too_long");
	api_resp_free(r);
	long_name[50] = '\0';
	ck_assert_int_eq(profiles_of(m.id), 1);
	r = profile_create(m.token, json_pack("{s:s}", "name", long_name));
	ck_assert_status(r, 201);
	api_resp_free(r);
	r = api_request(&srv, "POST", "/v1/profiles", NULL, "application/json", "{\"name\":\"x\"}", NULL);
	ck_assert_problem(r, 401, "unauthenticated");
	api_resp_free(r);
}
END_TEST

START_TEST(profile_pin_unlock_and_throttle)
{
	struct member m;
	member_new("pin@example.com", &m);
	struct api_resp *r = profile_create(m.token, json_pack("{s:s, s:b, s:s}", "name", "Little one", "kids", 1, "pin", "1234"));
	ck_assert_status(r, 201);
	ck_assert(json_is_true(json_object_get(r->json, "has_pin")));
	char id[64], path[128], unlock[160], hash[256];
	copy(id, sizeof id, api_str(r, "id"));
	api_resp_free(r);
	snprintf(path, sizeof path, "/v1/profiles/%s", id);
	snprintf(unlock, sizeof unlock, "/v1/profiles/%s/unlock", id);
	db_text(&srv, "SELECT pin_hash FROM profiles WHERE id = ?1", id, hash, sizeof hash);
	ck_assert_int_eq(strncmp(hash, "$argon2id$", 10), 0);

	r = api_json(&srv, "POST", unlock, m.token, json_pack("{s:s}", "pin", "1234"));
	ck_assert_status(r, 200);
	ck_assert(json_is_true(json_object_get(r->json, "unlocked")));
	api_resp_free(r);
	for (int i = 0; i < 5; i++) {
		r = api_json(&srv, "POST", unlock, m.token, json_pack("{s:s}", "pin", "0000"));
		ck_assert_problem(r, 401, "invalid_pin");
		api_resp_free(r);
	}
	r = api_json(&srv, "POST", unlock, m.token, json_pack("{s:s}", "pin", "1234"));
	assert_retry_after(r, "30");
	api_resp_free(r);
	api_advance(&srv, 31);
	r = api_json(&srv, "POST", unlock, m.token, json_pack("{s:s}", "pin", "1234"));
	ck_assert_status(r, 200);
	api_resp_free(r);
	r = api_json(&srv, "POST", unlock, m.token, json_pack("{s:s}", "pin", "12"));
	assert_field_error(r, "pin", "invalid_format");
	api_resp_free(r);

	/* Change the PIN, then clear it: a profile without one is always open. */
	r = api_json(&srv, "PATCH", path, m.token, json_pack("{s:s}", "pin", "9876"));
	ck_assert_status(r, 200);
	api_resp_free(r);
	r = api_json(&srv, "POST", unlock, m.token, json_pack("{s:s}", "pin", "1234"));
	ck_assert_problem(r, 401, "invalid_pin");
	api_resp_free(r);
	r = api_request(&srv, "PATCH", path, m.token, "application/json", "{\"pin\":null}", NULL);
	ck_assert_status(r, 200);
	ck_assert(json_is_false(json_object_get(r->json, "has_pin")));
	api_resp_free(r);
	ck_assert_int_eq(count("SELECT count(*) FROM profiles WHERE id = ?1 AND pin_hash IS NULL", id), 1);
	r = api_json(&srv, "POST", unlock, m.token, json_pack("{s:s}", "pin", "5555"));
	ck_assert_status(r, 200);
	api_resp_free(r);
}
END_TEST

/* ---- password resets ---- */

static struct api_resp *reset_request(const char *email)
{
	return api_json(&srv, "POST", "/v1/password-resets", NULL, json_pack("{s:s}", "email", email));
}

static struct api_resp *reset_confirm(const char *token, const char *password)
{
	return api_json(&srv, "POST", "/v1/password-resets/confirm", NULL,
			json_pack("{s:s, s:s}", "token", token, "new_password", password));
}

/* The token of the newest reset notification for `account_id`. */
static void reset_token_of(const char *account_id, char *out, size_t cap)
{
	char payload[512];
	db_text(&srv, "SELECT payload FROM notifications WHERE account_id = ?1 AND template = 'password_reset'"
		      " ORDER BY created_at DESC LIMIT 1",
		account_id, payload, sizeof payload);
	json_t *j = json_loads(payload, 0, NULL);
	ck_assert_ptr_nonnull(j);
	ck_assert_ptr_nonnull(json_string_value(json_object_get(j, "expires_at")));
	copy(out, cap, json_string_value(json_object_get(j, "reset_token")));
	json_decref(j);
}

START_TEST(password_reset_end_to_end)
{
	struct member m;
	member_new("forgot@example.com", &m);
	char other[1024], token[128];
	signin_token("forgot@example.com", PASSWORD, other, sizeof other);
	struct api_resp *r = reset_request("  Forgot@EXAMPLE.com");
	ck_assert_status(r, 202);
	api_resp_free(r);
	ck_assert_int_eq(count("SELECT count(*) FROM notifications WHERE account_id = ?1 AND template = 'password_reset'"
			       " AND channel = 'email' AND recipient = 'forgot@example.com'", m.id), 1);
	reset_token_of(m.id, token, sizeof token);
	ck_assert_uint_eq(strlen(token), 43);
	/* Only a hash is stored. */
	ck_assert_int_eq(count("SELECT count(*) FROM password_resets WHERE token_hash = ?1", token), 0);
	ck_assert_int_eq(count("SELECT count(*) FROM password_resets WHERE account_id = ?1 AND length(token_hash) = 64", m.id), 1);

	/* A weak password is refused and leaves the token usable. */
	r = reset_confirm(token, "letmein1");
	ck_assert_problem(r, 422, "weak_password");
	api_resp_free(r);
	r = reset_confirm(token, NEW_PASSWORD);
	ck_assert_status(r, 204);
	api_resp_free(r);
	/* Every sign-in is gone; the old password too. */
	r = api_get(&srv, "/v1/me", m.token);
	ck_assert_problem(r, 401, "invalid_token");
	api_resp_free(r);
	r = api_get(&srv, "/v1/me", other);
	ck_assert_problem(r, 401, "invalid_token");
	api_resp_free(r);
	ck_assert_int_eq(count("SELECT count(*) FROM sessions WHERE account_id = ?1 AND revoked_at IS NULL", m.id), 0);
	r = signin("forgot@example.com", PASSWORD);
	ck_assert_problem(r, 401, "invalid_credentials");
	api_resp_free(r);
	r = signin("forgot@example.com", NEW_PASSWORD);
	ck_assert_status(r, 201);
	api_resp_free(r);
	/* Single use. */
	r = reset_confirm(token, "yet another passphrase");
	ck_assert_problem(r, 400, "invalid_reset_token");
	api_resp_free(r);
	ck_assert_int_eq(count("SELECT count(*) FROM notifications WHERE account_id = ?1 AND template = 'password_changed'", m.id), 1);
	ck_assert_int_eq(count("SELECT count(*) FROM events WHERE subject = ?1 AND type = 'account.password_reset'", m.id), 1);
}
END_TEST

START_TEST(password_reset_token_lives_30_minutes)
{
	struct member m;
	member_new("expiry@example.com", &m);
	char token[128];
	struct api_resp *r = reset_request("expiry@example.com");
	ck_assert_status(r, 202);
	api_resp_free(r);
	reset_token_of(m.id, token, sizeof token);
	api_advance(&srv, 1799);
	r = reset_confirm(token, NEW_PASSWORD);
	ck_assert_status(r, 204);
	api_resp_free(r);

	r = reset_request("expiry@example.com");
	ck_assert_status(r, 202);
	api_resp_free(r);
	reset_token_of(m.id, token, sizeof token);
	api_advance(&srv, 1800);
	r = reset_confirm(token, "third passphrase here");
	ck_assert_problem(r, 400, "invalid_reset_token");
	api_resp_free(r);
	r = signin("expiry@example.com", NEW_PASSWORD);
	ck_assert_status(r, 201);
	api_resp_free(r);
}
END_TEST

START_TEST(password_reset_uses_up_older_links)
{
	struct member m;
	member_new("two-links@example.com", &m);
	char first[128], second[128];
	api_resp_free(reset_request("two-links@example.com"));
	reset_token_of(m.id, first, sizeof first);
	api_advance(&srv, 1);
	api_resp_free(reset_request("two-links@example.com"));
	reset_token_of(m.id, second, sizeof second);
	ck_assert_str_ne(first, second);
	struct api_resp *r = reset_confirm(second, NEW_PASSWORD);
	ck_assert_status(r, 204);
	api_resp_free(r);
	r = reset_confirm(first, "third passphrase here");
	ck_assert_problem(r, 400, "invalid_reset_token");
	api_resp_free(r);
}
END_TEST

START_TEST(password_reset_unknown_email_is_202_and_silent)
{
	int64_t before = count("SELECT count(*) FROM notifications", NULL);
	struct api_resp *r = reset_request("no-such-member@example.com");
	ck_assert_status(r, 202);
	ck_assert_uint_eq(r->len, 0);
	api_resp_free(r);
	ck_assert_int_eq(count("SELECT count(*) FROM notifications", NULL), before);
	ck_assert_int_eq(count("SELECT count(*) FROM notifications WHERE recipient = 'no-such-member@example.com'", NULL), 0);

	static const struct {
		const char *body, *field, *code;
	} rows[] = {
		{"{\"email\":\"not-an-address\"}", "email", "invalid_format"},
		{"{\"email\":5}", "email", "wrong_type"},
		{"{}", "email", "required"},
		{"{\"email\":\"a@example.com\",\"x\":1}", "x", "unknown_field"},
	};
	for (int i = 0; i < N_ROWS(rows); i++) {
		r = api_request(&srv, "POST", "/v1/password-resets", NULL, "application/json", rows[i].body, NULL);
		assert_field_error(r, rows[i].field, rows[i].code);
		api_resp_free(r);
	}
	ck_assert_int_eq(count("SELECT count(*) FROM notifications", NULL), before);
}
END_TEST

START_TEST(password_reset_requests_are_throttled_alike_for_unknown_emails)
{
	struct member m;
	member_new("flood@example.com", &m);
	static const char *const emails[] = {"flood@example.com", "flood-nobody@example.com"};
	for (int e = 0; e < 2; e++) {
		for (int i = 0; i < 5; i++) {
			struct api_resp *r = reset_request(emails[e]);
			ck_assert_status(r, 202);
			api_resp_free(r);
		}
		struct api_resp *r = reset_request(emails[e]);
		assert_retry_after(r, "3600");
		api_resp_free(r);
	}
	ck_assert_int_eq(count("SELECT count(*) FROM notifications WHERE account_id = ?1 AND template = 'password_reset'", m.id), 5);
}
END_TEST

START_TEST(password_reset_confirm_bad_input)
{
	struct api_resp *r = reset_confirm("not-a-real-token", NEW_PASSWORD);
	ck_assert_problem(r, 400, "invalid_reset_token");
	api_resp_free(r);
	static const struct {
		const char *body, *field, *code;
	} rows[] = {
		{"{\"new_password\":\"" NEW_PASSWORD "\"}", "token", "required"},
		{"{\"token\":5,\"new_password\":\"" NEW_PASSWORD "\"}", "token", "wrong_type"},
		{"{\"token\":\"abc\"}", "new_password", "required"},
		{"{\"token\":\"abc\",\"new_password\":\"" NEW_PASSWORD "\",\"email\":\"a@b.co\"}", "email", "unknown_field"},
	};
	for (int i = 0; i < N_ROWS(rows); i++) {
		r = api_request(&srv, "POST", "/v1/password-resets/confirm", NULL, "application/json", rows[i].body, NULL);
		assert_field_error(r, rows[i].field, rows[i].code);
		api_resp_free(r);
	}
}
END_TEST

START_TEST(password_reset_lifts_the_signin_block)
{
	struct member m;
	member_new("blocked-reset@example.com", &m);
	for (int i = 0; i < 5; i++)
		api_resp_free(signin("blocked-reset@example.com", "wrong wrong wrong"));
	struct api_resp *r = signin("blocked-reset@example.com", PASSWORD);
	assert_retry_after(r, "30");
	api_resp_free(r);
	char token[128];
	api_resp_free(reset_request("blocked-reset@example.com"));
	reset_token_of(m.id, token, sizeof token);
	r = reset_confirm(token, NEW_PASSWORD);
	ck_assert_status(r, 204);
	api_resp_free(r);
	r = signin("blocked-reset@example.com", NEW_PASSWORD);
	ck_assert_status(r, 201);
	api_resp_free(r);
}
END_TEST

/* ---- per-network limits (own server with low limits) ---- */

static struct api_server low;
static const char *const low_flags[] = {"--signin-ip-fail-limit", "3", "--reset-ip-limit", "2", NULL};
static void start_low(void) { api_start(&low, low_flags); }
static void stop_low(void) { ck_assert_int_eq(api_stop(&low), 0); }

START_TEST(signin_failures_from_one_network_block_it)
{
	struct api_resp *r = api_json(&low, "POST", "/v1/accounts", NULL,
				      json_pack("{s:s, s:s, s:s}", "email", "net@example.com", "password", PASSWORD,
						"country", "US"));
	ck_assert_status(r, 201);
	api_resp_free(r);
	static const char *const guesses[] = {"a@example.com", "b@example.com", "c@example.com"};
	for (int i = 0; i < 3; i++) {
		r = signin_on(&low, guesses[i], PASSWORD);
		ck_assert_problem(r, 401, "invalid_credentials");
		api_resp_free(r);
	}
	/* Another account, the right password: the network is blocked. */
	r = signin_on(&low, "net@example.com", PASSWORD);
	assert_retry_after(r, "30");
	api_resp_free(r);
	api_advance(&low, 30);
	r = signin_on(&low, "net@example.com", PASSWORD);
	ck_assert_status(r, 201);
	api_resp_free(r);
}
END_TEST

START_TEST(reset_requests_from_one_network_are_limited)
{
	static const char *const emails[] = {"r1@example.com", "r2@example.com", "r3@example.com"};
	for (int i = 0; i < 2; i++) {
		struct api_resp *r = api_json(&low, "POST", "/v1/password-resets", NULL, json_pack("{s:s}", "email", emails[i]));
		ck_assert_status(r, 202);
		api_resp_free(r);
	}
	struct api_resp *r = api_json(&low, "POST", "/v1/password-resets", NULL, json_pack("{s:s}", "email", emails[2]));
	assert_retry_after(r, "3600");
	api_resp_free(r);
}
END_TEST

/* ---- rehash on sign-in ---- */

/* The "m=...,t=..." parameters of a stored Argon2id string. */
static void hash_params(const char *account_id, char *out, size_t cap)
{
	char hash[256];
	db_text(&srv, "SELECT password_hash FROM accounts WHERE id = ?1", account_id, hash, sizeof hash);
	ck_assert_int_eq(strncmp(hash, "$argon2id$v=19$", 15), 0);
	const char *p = hash + 15;
	size_t n = strcspn(p, "$");
	snprintf(out, cap, "%.*s", (int)n, p);
}

START_TEST(signin_rehashes_when_the_parameters_changed)
{
	struct member m;
	char before[64], after[64];
	member_new("rehash@example.com", &m);
	hash_params(m.id, before, sizeof before);
	ck_assert_str_eq(before, "m=8,t=1,p=1");

	/* A second hearthd on the same database and key file, with more passes. */
	struct api_server other;
	const char *const flags[] = {"--db", srv.db_path, "--key-file", srv.key_path,
				     "--pwhash-opslimit", "3", NULL};
	api_start(&other, flags);
	struct api_resp *r = signin_on(&other, "rehash@example.com", "a wrong password");
	ck_assert_problem(r, 401, "invalid_credentials");
	api_resp_free(r);
	hash_params(m.id, after, sizeof after);
	ck_assert_str_eq(after, before); /* a failure rehashes nothing */
	r = signin_on(&other, "rehash@example.com", PASSWORD);
	ck_assert_status(r, 201);
	api_resp_free(r);
	hash_params(m.id, after, sizeof after);
	ck_assert_str_eq(after, "m=8,t=3,p=1");
	ck_assert_int_eq(count("SELECT count(*) FROM events WHERE subject = ?1 AND type = 'account.password_rehashed'", m.id), 1);
	/* Still the same password, on either server. */
	r = signin_on(&other, "rehash@example.com", PASSWORD);
	ck_assert_status(r, 201);
	api_resp_free(r);
	ck_assert_int_eq(count("SELECT count(*) FROM events WHERE subject = ?1 AND type = 'account.password_rehashed'", m.id), 1);
	ck_assert_int_eq(api_stop(&other), 0);
	r = signin("rehash@example.com", PASSWORD);
	ck_assert_status(r, 201);
	api_resp_free(r);
	hash_params(m.id, after, sizeof after);
	ck_assert_str_eq(after, "m=8,t=1,p=1");
}
END_TEST

static TCase *server_case(const char *name)
{
	TCase *tc = tcase_create(name);
	tcase_add_unchecked_fixture(tc, start, stop);
	tcase_set_timeout(tc, 120);
	return tc;
}

static Suite *accounts_suite(void)
{
	Suite *s = suite_create("api_accounts");
	TCase *tc = server_case("signup");
	tcase_add_test(tc, signup_creates_account_owner_profile_and_signs_in);
	tcase_add_test(tc, signup_with_every_field);
	tcase_add_test(tc, signup_taken_email_in_another_case_is_409);
	tcase_add_loop_test(tc, signup_bad_field_is_422_and_creates_nothing, 0, N_ROWS(signup_bad));
	tcase_add_test(tc, signup_reports_every_error_at_once);
	tcase_add_test(tc, signup_overlong_fields_are_too_long);
	tcase_add_test(tc, signup_country_not_sold_is_422_country_not_supported);
	tcase_add_loop_test(tc, signup_weak_password_is_422_weak_password, 0, N_ROWS(weak_rows));
	tcase_add_test(tc, signup_at_password_limits);
	suite_add_tcase(s, tc);

	tc = server_case("signin");
	tcase_add_test(tc, signin_answers_tokens_and_session);
	tcase_add_test(tc, signin_unknown_email_and_wrong_password_look_the_same);
	tcase_add_test(tc, signin_bad_input_is_422);
	tcase_add_test(tc, signin_locked_account_is_403_only_with_the_right_password);
	tcase_add_test(tc, signin_failures_block_the_account_until_the_backoff_passes);
	tcase_add_test(tc, signin_backoff_doubles_with_more_failures);
	tcase_add_test(tc, signin_unknown_email_is_throttled_like_an_account);
	suite_add_tcase(s, tc);

	tc = server_case("me");
	tcase_add_test(tc, me_needs_a_token);
	tcase_add_test(tc, me_get_and_patch);
	tcase_add_test(tc, me_patch_bad_input_changes_nothing);
	tcase_add_test(tc, password_change_signs_out_every_other_sign_in);
	tcase_add_test(tc, password_change_is_throttled_like_signin);
	suite_add_tcase(s, tc);

	tc = server_case("profiles");
	tcase_add_test(tc, profiles_up_to_five_with_unique_names);
	tcase_add_test(tc, profile_update_and_owner_rules);
	tcase_add_test(tc, profile_of_another_account_is_404);
	tcase_add_test(tc, profile_bad_input_is_422);
	tcase_add_test(tc, profile_pin_unlock_and_throttle);
	suite_add_tcase(s, tc);

	tc = server_case("resets");
	tcase_add_test(tc, password_reset_end_to_end);
	tcase_add_test(tc, password_reset_token_lives_30_minutes);
	tcase_add_test(tc, password_reset_uses_up_older_links);
	tcase_add_test(tc, password_reset_unknown_email_is_202_and_silent);
	tcase_add_test(tc, password_reset_requests_are_throttled_alike_for_unknown_emails);
	tcase_add_test(tc, password_reset_confirm_bad_input);
	tcase_add_test(tc, password_reset_lifts_the_signin_block);
	suite_add_tcase(s, tc);

	tc = tcase_create("limits");
	tcase_add_unchecked_fixture(tc, start_low, stop_low);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, signin_failures_from_one_network_block_it);
	tcase_add_test(tc, reset_requests_from_one_network_are_limited);
	suite_add_tcase(s, tc);

	tc = server_case("rehash");
	tcase_add_test(tc, signin_rehashes_when_the_parameters_changed);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(accounts_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0;
}
