/*
 * accounts_http.c - the accounts area's HTTP adapter: sign-up, sign-in,
 * /v1/me, profiles and password resets.  Each handler checks the shape of
 * its input (every field error at once, 422 validation_failed), calls one
 * domain function and writes the JSON.  Rules live in the domain files.
 */
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "accounts/accounts_int.h"
#include "core/clock.h"
#include "core/jsonv.h"
#include "server/http.h"

#define EMAIL_INPUT_MAX 1024	/* longer is "too_long" before any parsing */
#define PASSWORD_INPUT_MAX 4096	/* the policy says 256; this only bounds the work */

static const char *const device_types[] = {"tv", "phone", "tablet", "web", "console", NULL};

/* ---- JSON out ---- */

static json_t *text_or_null(const char *s) { return s && s[0] ? json_string(s) : json_null(); }

static json_t *account_json(const struct acct_account *a)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:s, s:o}", "id", a->id, "email", a->email,
			 "country", a->country, "language", a->language, "name", text_or_null(a->name),
			 "phone", text_or_null(a->phone), "status", a->status, "created_at",
			 clock_json(a->created_at));
}

static json_t *profile_json(const struct acct_profile *p)
{
	return json_pack("{s:s, s:s, s:b, s:b, s:s, s:b, s:o, s:o}", "id", p->id, "name", p->name,
			 "is_owner", p->is_owner, "kids", p->kids, "language", p->language, "has_pin",
			 p->has_pin, "created_at", clock_json(p->created_at), "updated_at",
			 clock_json(p->updated_at));
}

/* The token part of sign-up and sign-in answers. */
static json_t *tokens_json(const struct auth_tokens *t, const struct auth_device *dev)
{
	json_t *device = json_pack("{s:s, s:s, s:s, s:o}", "id", t->device_id, "name", dev->name, "type",
				   dev->type, "model", text_or_null(dev->model));
	return json_pack("{s:s, s:s, s:s, s:I, s:{s:s, s:o}}", "access_token", t->access_token,
			 "refresh_token", t->refresh_token, "token_type", "Bearer", "expires_in",
			 (json_int_t)t->expires_in, "session", "id", t->session_id, "device", device);
}

/* ---- replies ---- */

static void reply_weak_password(struct http_req *req, const char *field, const char *reason)
{
	static const struct {
		const char *reason, *message;
	} messages[] = {
		{"too_short", "Use at least 8 characters"},
		{"too_long", "Use at most 256 bytes"},
		{"equals_email", "The password must not be your email address"},
		{"common", "This password is too common; choose another"},
	};
	const char *message = "The password is too weak";
	if (!reason)
		reason = "weak";
	for (size_t i = 0; i < sizeof messages / sizeof messages[0]; i++)
		if (strcmp(messages[i].reason, reason) == 0)
			message = messages[i].message;
	http_reply_problem_ext(req, ERR_WEAK_PASSWORD, message,
			       json_pack("{s:[{s:s, s:s, s:s}]}", "errors", "field", field, "code", reason,
					 "message", message));
}

static void reply_throttled(struct http_req *req, int64_t retry_after)
{
	char secs[24];
	if (retry_after < 1)
		retry_after = 1;
	snprintf(secs, sizeof secs, "%" PRId64, retry_after);
	http_add_header(req, "Retry-After", secs);
	http_reply_problem_ext(req, ERR_TOO_MANY_ATTEMPTS, "Too many attempts; wait before trying again",
			       json_pack("{s:I}", "retry_after", (json_int_t)retry_after));
}

/* ---- input ---- */

/* Copy the nested reader's errors into `v` as "device.<field>". */
static void move_nested_errors(struct jv *v, struct jv *inner, const char *prefix)
{
	size_t i;
	json_t *err;
	json_array_foreach(inner->errors, i, err) {
		const char *field = json_string_value(json_object_get(err, "field"));
		char name[128];
		snprintf(name, sizeof name, "%s%s%s", prefix, field && field[0] ? "." : "", field ? field : "");
		jv_error(v, name, json_string_value(json_object_get(err, "code")),
			 json_string_value(json_object_get(err, "message")));
	}
}

/* Read "device" into `d`; when it is absent and not required, a web browser. */
static void read_device(struct jv *v, enum jv_need need, struct acct_device_form *d)
{
	static const char *const allowed[] = {"id", "name", "type", "model", NULL};
	json_t *obj = NULL;
	memset(d, 0, sizeof *d);
	d->dev.name = "Web browser";
	d->dev.type = "web";
	if (!jv_object(v, "device", need, &obj))
		return;
	struct jv in;
	const char *id = NULL, *name = NULL, *type = NULL, *model = NULL;
	jv_init(&in, obj);
	jv_reject_unknown(&in, allowed);
	if (jv_string(&in, "id", JV_OPTIONAL, 1, IDS_MAX, &id) && !ids_valid("dev_", id))
		jv_error(&in, "id", "invalid_format", "Must be a device id (dev_...)");
	if (jv_string(&in, "name", JV_REQUIRED, 1, 1024, &name)) {
		const char *code = acct_name_parse(name, ACCT_DEVICE_TEXT_MAX, ACCT_DEVICE_TEXT_MAX, d->name, sizeof d->name);
		if (code)
			jv_error(&in, "name", code, "Must be 1 to 64 characters without control characters");
	}
	jv_enum(&in, "type", JV_REQUIRED, device_types, &type);
	if (jv_string(&in, "model", JV_OPTIONAL, 1, 1024, &model)) {
		const char *code = acct_name_parse(model, ACCT_DEVICE_TEXT_MAX, ACCT_DEVICE_TEXT_MAX, d->model, sizeof d->model);
		if (code)
			jv_error(&in, "model", code, "Must be 1 to 64 characters without control characters");
	}
	move_nested_errors(v, &in, "device");
	jv_release(&in);
	d->dev.id = id;
	d->dev.name = d->name;
	d->dev.type = type;
	d->dev.model = model ? d->model : NULL;
}

/* The required "email": the text as given into `in`, and when it is an
 * address, its display form into `email` and its normalised form into
 * `norm` (each ACCT_EMAIL_MAX + 1 bytes). */
static void read_email(struct jv *v, const char **in, char *email, char *norm)
{
	if (jv_string(v, "email", JV_REQUIRED, 1, EMAIL_INPUT_MAX, in)) {
		const char *code = acct_email_parse(*in, email, norm);
		if (code)
			jv_error(v, "email", code,
				 strcmp(code, "too_long") == 0 ? "Must be at most 254 bytes"
							       : "Must be an email address such as name@example.com");
	}
}

static void read_phone(struct jv *v, const char *field, const char **out)
{
	if (jv_string(v, field, JV_OPTIONAL, 1, 64, out) && !acct_phone_valid(*out))
		jv_error(v, field, "invalid_format", "Must be an E.164 number: + and 8 to 15 digits");
}

/* A language tag into `out`; true when given and valid. */
static bool read_language(struct jv *v, const char *field, char *out)
{
	const char *s = NULL;
	if (!jv_string(v, field, JV_OPTIONAL, 1, 64, &s))
		return false;
	if (!acct_language_parse(s, out)) {
		jv_error(v, field, "invalid_format", "Must be a language tag such as en or pt-BR");
		return false;
	}
	return true;
}

/* A display name into `out`; true when given and valid. */
static bool read_name(struct jv *v, const char *field, enum jv_need need, size_t max_chars,
		      size_t max_bytes, char *out, size_t cap)
{
	const char *s = NULL;
	char msg[96];
	if (!jv_string(v, field, need, 1, 4 * max_bytes, &s))
		return false;
	const char *code = acct_name_parse(s, max_chars, max_bytes, out, cap);
	if (code) {
		snprintf(msg, sizeof msg, "Must be 1 to %zu characters without control characters", max_chars);
		jv_error(v, field, code, msg);
		return false;
	}
	return true;
}

/* True when `field` is present and JSON null (a request to clear it). */
static bool is_explicit_null(const struct jv *v, const char *field)
{
	json_t *x = json_object_get(v->obj, field);
	return x && json_is_null(x);
}

/* ---- sign-up ---- */

void acct_signup_parse(struct jv *v, struct acct_signup_form *f)
{
	static const char *const allowed[] = {"email", "password", "country", "name",
					      "phone", "language", "device", NULL};
	memset(f, 0, sizeof *f);
	memcpy(f->language, ACCT_DEFAULT_LANGUAGE, sizeof ACCT_DEFAULT_LANGUAGE);
	jv_reject_unknown(v, allowed);
	read_email(v, &f->email_in, f->email, f->norm);
	jv_string(v, "password", JV_REQUIRED, 0, PASSWORD_INPUT_MAX, &f->password);
	if (jv_string(v, "country", JV_REQUIRED, 1, 64, &f->country) && !acct_country_form_valid(f->country))
		jv_error(v, "country", "invalid_format",
			 "Must be an ISO 3166-1 alpha-2 code in upper case, such as US");
	f->has_name = read_name(v, "name", JV_OPTIONAL, ACCT_NAME_MAX, ACCT_NAME_MAX, f->name, sizeof f->name);
	read_phone(v, "phone", &f->phone);
	read_language(v, "language", f->language);
	read_device(v, JV_OPTIONAL, &f->device);
}

static void signup(struct http_req *req)
{
	struct jv v;
	struct acct_signup_form f;
	jv_init(&v, http_json(req));
	acct_signup_parse(&v, &f);
	struct db *db = http_valid_db_or_reply(req, &v);
	if (!db)
		return;

	struct acct_signup in = {f.email, f.norm, f.password, f.country, f.has_name ? f.name : NULL, f.phone,
				 f.language, f.device.dev, http_client_addr(req)};
	struct acct_account acct = {0};
	struct acct_profile owner = {0};
	struct auth_tokens tokens = {0};
	const char *weak = NULL;
	enum err e = acct_create(db, &in, &acct, &owner, &tokens, &weak);
	if (e == ERR_WEAK_PASSWORD) {
		reply_weak_password(req, "password", weak);
	} else if (e == ERR_COUNTRY_NOT_SUPPORTED) {
		http_reply_problem_ext(req, e, "Hearth is not sold in this country",
				       json_pack("{s:[{s:s, s:s, s:s}]}", "errors", "field", "country",
						 "code", "country_not_supported", "message",
						 "Hearth is not sold in this country"));
	} else if (e != ERR_OK) {
		http_reply_problem(req, e, NULL);
	} else {
		json_t *body = tokens_json(&tokens, &f.device.dev);
		json_object_set_new(body, "account", account_json(&acct));
		json_object_set_new(body, "profile", profile_json(&owner));
		http_reply_json(req, 201, body);
	}
	sodium_memzero(&tokens, sizeof tokens);
}

/* ---- sign-in ---- */

void acct_signin_parse(struct jv *v, struct acct_signin_form *f)
{
	static const char *const allowed[] = {"email", "password", "device", NULL};
	memset(f, 0, sizeof *f);
	jv_reject_unknown(v, allowed);
	jv_string(v, "email", JV_REQUIRED, 1, EMAIL_INPUT_MAX, &f->email);
	jv_string(v, "password", JV_REQUIRED, 1, PASSWORD_INPUT_MAX, &f->password);
	read_device(v, JV_REQUIRED, &f->device);
}

static void signin(struct http_req *req)
{
	struct jv v;
	struct acct_signin_form f;
	jv_init(&v, http_json(req));
	acct_signin_parse(&v, &f);
	const char *email = f.email, *password = f.password;
	const struct acct_device_form *dev = &f.device;
	struct db *db = http_valid_db_or_reply(req, &v);
	if (!db)
		return;
	struct auth_tokens tokens = {0};
	int64_t retry_after = 0;
	enum err e = acct_signin(db, email, password, &dev->dev, http_client_addr(req), &tokens, &retry_after);
	if (e == ERR_TOO_MANY_ATTEMPTS)
		reply_throttled(req, retry_after);
	else if (e == ERR_INVALID_CREDENTIALS)
		http_reply_problem(req, e, "The email or the password is wrong");
	else if (e != ERR_OK)
		http_reply_problem(req, e, NULL);
	else
		http_reply_json(req, 201, tokens_json(&tokens, &dev->dev));
	sodium_memzero(&tokens, sizeof tokens);
}

/* ---- /v1/me ---- */

/* The hottest authenticated read: answered from the account cache
 * (cache.c), with the JSON rendered once per cached read of the row. */
static void me_get(struct http_req *req)
{
	struct db *db = http_db_or_reply(req);
	struct acct_view *v = NULL;
	if (!db)
		return;
	enum err e = acct_view_get(db, http_auth(req)->subject, &v);
	if (e == ERR_OK && strcmp(v->account.status, "erased") == 0)
		e = ERR_NOT_FOUND;
	if (e != ERR_OK) {
		http_reply_problem(req, e, NULL);
		return;
	}
	if (!v->json) {
		json_t *doc = account_json(&v->account);
		char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
		json_decref(doc);
		if (!text) {
			http_reply_problem(req, ERR_NOMEM, NULL);
			return;
		}
		acct_view_set_json(v, text, strlen(text));
	}
	http_reply_raw(req, 200, "application/json", v->json, v->json_len);
}

static void me_patch(struct http_req *req)
{
	static const char *const allowed[] = {"name", "phone", "language", NULL};
	struct jv v;
	struct acct_changes ch = {0};
	char name[ACCT_NAME_MAX + 1], language[ACCT_LANGUAGE_MAX + 1];
	const char *phone = NULL;
	jv_init(&v, http_json(req));
	jv_reject_unknown(&v, allowed);
	if (is_explicit_null(&v, "name"))
		ch.set_name = true;
	else if (read_name(&v, "name", JV_OPTIONAL, ACCT_NAME_MAX, ACCT_NAME_MAX, name, sizeof name))
		ch.set_name = true, ch.name = name;
	if (is_explicit_null(&v, "phone")) {
		ch.set_phone = true;
	} else {
		read_phone(&v, "phone", &phone);
		if (phone)
			ch.set_phone = true, ch.phone = phone;
	}
	if (is_explicit_null(&v, "language"))
		jv_error(&v, "language", "wrong_type", "Must be a language tag; it cannot be cleared");
	else if (read_language(&v, "language", language))
		ch.language = language;
	struct db *db = http_valid_db_or_reply(req, &v);
	struct acct_account a = {0};
	if (!db)
		return;
	enum err e = acct_update(db, http_auth(req)->subject, &ch, &a);
	if (e != ERR_OK)
		http_reply_problem(req, e, NULL);
	else
		http_reply_json(req, 200, account_json(&a));
}

static void me_password(struct http_req *req)
{
	static const char *const allowed[] = {"current_password", "new_password", NULL};
	struct jv v;
	const char *current = NULL, *new_password = NULL;
	jv_init(&v, http_json(req));
	jv_reject_unknown(&v, allowed);
	jv_string(&v, "current_password", JV_REQUIRED, 1, PASSWORD_INPUT_MAX, &current);
	jv_string(&v, "new_password", JV_REQUIRED, 0, PASSWORD_INPUT_MAX, &new_password);
	struct db *db = http_valid_db_or_reply(req, &v);
	if (!db)
		return;
	const struct http_auth *who = http_auth(req);
	const char *weak = NULL;
	int64_t retry_after = 0;
	enum err e = acct_change_password(db, who->subject, who->session_id, current, new_password,
					  http_client_addr(req), &weak, &retry_after);
	if (e == ERR_WEAK_PASSWORD)
		reply_weak_password(req, "new_password", weak);
	else if (e == ERR_TOO_MANY_ATTEMPTS)
		reply_throttled(req, retry_after);
	else if (e == ERR_INVALID_CREDENTIALS)
		http_reply_problem(req, e, "The current password is wrong");
	else if (e != ERR_OK)
		http_reply_problem(req, e, NULL);
	else
		http_reply_empty(req, 204);
}

/* ---- profiles ---- */

static void profiles_list(struct http_req *req)
{
	struct db *db = http_db_or_reply(req);
	struct acct_profile list[ACCT_PROFILES_MAX];
	int n = 0;
	if (!db)
		return;
	enum err e = acct_profiles_list(db, http_auth(req)->subject, list, &n);
	if (e != ERR_OK) {
		http_reply_problem(req, e, NULL);
		return;
	}
	json_t *data = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(data, profile_json(&list[i]));
	http_reply_json(req, 200, json_pack("{s:o, s:b}", "data", data, "has_more", 0));
}

void acct_profile_parse(struct jv *v, bool creating, struct acct_profile_form *f)
{
	static const char *const allowed[] = {"name", "kids", "language", "pin", NULL};
	memset(f, 0, sizeof *f);
	jv_reject_unknown(v, allowed);
	if (!creating && is_explicit_null(v, "name"))
		jv_error(v, "name", "wrong_type", "Must be a string; a profile always has a name");
	else if (read_name(v, "name", creating ? JV_REQUIRED : JV_OPTIONAL, ACCT_PROFILE_NAME_CHARS,
			   ACCT_PROFILE_NAME_BYTES, f->name, sizeof f->name))
		f->in.name = f->name;
	if (is_explicit_null(v, "kids"))
		jv_error(v, "kids", "wrong_type", "Must be true or false");
	else if (jv_bool(v, "kids", JV_OPTIONAL, &f->in.kids))
		f->in.set_kids = true;
	if (is_explicit_null(v, "language"))
		jv_error(v, "language", "wrong_type", "Must be a language tag");
	else if (read_language(v, "language", f->language))
		f->in.language = f->language;
	const char *pin = NULL;
	if (is_explicit_null(v, "pin")) {
		f->in.set_pin = true; /* clear */
	} else if (jv_string(v, "pin", JV_OPTIONAL, 0, 64, &pin)) {
		if (acct_pin_valid(pin))
			f->in.set_pin = true, f->in.pin = pin;
		else
			jv_error(v, "pin", "invalid_format", "Must be 4 digits, or null for no PIN");
	}
}

static void profile_reply(struct http_req *req, enum err e, int status, const struct acct_profile *p)
{
	if (e == ERR_NOT_FOUND)
		http_reply_problem(req, e, "There is no such profile on this account");
	else if (e != ERR_OK)
		http_reply_problem(req, e, NULL);
	else
		http_reply_json(req, status, profile_json(p));
}

/* POST /v1/profiles and PATCH /v1/profiles/{id}: one reader, then create
 * or update. */
static void profile_write(struct http_req *req, bool is_create)
{
	struct jv v;
	struct acct_profile_form f;
	jv_init(&v, http_json(req));
	acct_profile_parse(&v, is_create, &f);
	struct db *db = http_valid_db_or_reply(req, &v);
	struct acct_profile p = {0};
	if (!db)
		return;
	const char *account = http_auth(req)->subject;
	if (is_create)
		profile_reply(req, acct_profile_create(db, account, &f.in, &p), 201, &p);
	else
		profile_reply(req, acct_profile_update(db, account, http_param(req, "id"), &f.in, &p), 200, &p);
}

static void profiles_create(struct http_req *req) { profile_write(req, true); }

static void profiles_update(struct http_req *req) { profile_write(req, false); }

static void profiles_delete(struct http_req *req)
{
	struct db *db = http_db_or_reply(req);
	if (!db)
		return;
	enum err e = acct_profile_delete(db, http_auth(req)->subject, http_param(req, "id"));
	if (e == ERR_NOT_FOUND)
		http_reply_problem(req, e, "There is no such profile on this account");
	else if (e != ERR_OK)
		http_reply_problem(req, e, NULL);
	else
		http_reply_empty(req, 204);
}

static void profiles_unlock(struct http_req *req)
{
	static const char *const allowed[] = {"pin", NULL};
	struct jv v;
	const char *pin = NULL;
	jv_init(&v, http_json(req));
	jv_reject_unknown(&v, allowed);
	if (jv_string(&v, "pin", JV_REQUIRED, 0, 64, &pin) && !acct_pin_valid(pin))
		jv_error(&v, "pin", "invalid_format", "Must be 4 digits");
	struct db *db = http_valid_db_or_reply(req, &v);
	if (!db)
		return;
	int64_t retry_after = 0;
	enum err e = acct_profile_unlock(db, http_auth(req)->subject, http_param(req, "id"), pin, &retry_after);
	if (e == ERR_TOO_MANY_ATTEMPTS)
		reply_throttled(req, retry_after);
	else if (e == ERR_NOT_FOUND)
		http_reply_problem(req, e, "There is no such profile on this account");
	else if (e != ERR_OK)
		http_reply_problem(req, e, NULL);
	else
		http_reply_json(req, 200, json_pack("{s:b}", "unlocked", 1));
}

/* ---- password resets ---- */

static void reset_request(struct http_req *req)
{
	static const char *const allowed[] = {"email", NULL};
	struct jv v;
	const char *email_in = NULL;
	char email[ACCT_EMAIL_MAX + 1], norm[ACCT_EMAIL_MAX + 1];
	jv_init(&v, http_json(req));
	jv_reject_unknown(&v, allowed);
	read_email(&v, &email_in, email, norm);
	struct db *db = http_valid_db_or_reply(req, &v);
	if (!db)
		return;
	int64_t retry_after = 0;
	enum err e = acct_reset_request(db, norm, http_client_addr(req), &retry_after);
	if (e == ERR_TOO_MANY_ATTEMPTS)
		reply_throttled(req, retry_after);
	else if (e != ERR_OK)
		http_reply_problem(req, e, NULL);
	else
		http_reply_empty(req, 202);
}

static void reset_confirm(struct http_req *req)
{
	static const char *const allowed[] = {"token", "new_password", NULL};
	struct jv v;
	const char *token = NULL, *new_password = NULL;
	jv_init(&v, http_json(req));
	jv_reject_unknown(&v, allowed);
	jv_string(&v, "token", JV_REQUIRED, 1, 256, &token);
	jv_string(&v, "new_password", JV_REQUIRED, 0, PASSWORD_INPUT_MAX, &new_password);
	struct db *db = http_valid_db_or_reply(req, &v);
	if (!db)
		return;
	const char *weak = NULL;
	enum err e = acct_reset_confirm(db, token, new_password, &weak);
	if (e == ERR_WEAK_PASSWORD)
		reply_weak_password(req, "new_password", weak);
	else if (e != ERR_OK)
		http_reply_problem(req, e, NULL);
	else
		http_reply_empty(req, 204);
}

void accounts_http_register(void)
{
	/* Every route that hashes a password or a PIN runs on the bounded pool. */
	const unsigned hashing = HTTP_JSON_BODY | HTTP_OFFLOAD;
	http_route("POST", "/v1/accounts", signup, hashing | HTTP_NO_STORE | HTTP_IDEMPOTENT, 0);
	http_route("POST", "/v1/sessions", signin, hashing | HTTP_NO_STORE, 0);
	http_route("GET", "/v1/me", me_get, HTTP_AUTH_MEMBER | HTTP_NO_STORE, 0);
	http_route("PATCH", "/v1/me", me_patch, HTTP_JSON_BODY | HTTP_AUTH_MEMBER | HTTP_NO_STORE, 0);
	http_route("POST", "/v1/me/password", me_password, hashing | HTTP_AUTH_MEMBER | HTTP_NO_STORE, 0);
	http_route("GET", "/v1/profiles", profiles_list, HTTP_AUTH_MEMBER | HTTP_NO_STORE, 0);
	http_route("POST", "/v1/profiles", profiles_create, hashing | HTTP_AUTH_MEMBER | HTTP_NO_STORE, 0);
	http_route("PATCH", "/v1/profiles/{id}", profiles_update, hashing | HTTP_AUTH_MEMBER | HTTP_NO_STORE, 0);
	http_route("DELETE", "/v1/profiles/{id}", profiles_delete, HTTP_AUTH_MEMBER | HTTP_NO_STORE, 0);
	http_route("POST", "/v1/profiles/{id}/unlock", profiles_unlock,
		   hashing | HTTP_AUTH_MEMBER | HTTP_NO_STORE, 0);
	http_route("POST", "/v1/password-resets", reset_request, HTTP_JSON_BODY | HTTP_NO_STORE, 0);
	http_route("POST", "/v1/password-resets/confirm", reset_confirm, hashing | HTTP_NO_STORE, 0);
}
