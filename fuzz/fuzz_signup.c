/*
 * fuzz_signup.c - the sign-up and sign-in bodies (POST /v1/accounts,
 * POST /v1/sessions) through acct_signup_parse() and acct_signin_parse(),
 * the very checks accounts_http.c makes before touching the database.
 *
 * The input's first byte chooses the body (even: sign-up, odd: sign-in);
 * the rest is the JSON body.  Properties, beyond those of fuzz_body.h:
 *  - an accepted email parses again to itself: trimmed, one '@', at most
 *    254 bytes, no space, control character (C0, DEL or C1) or RFC 5322
 *    special, and `norm` is its ASCII lower case;
 *  - country is two upper-case letters; phone is E.164; language has the
 *    documented shape in its canonical case;
 *  - names (account, device name and model) are trimmed, UTF-8, without
 *    control characters, within their limits;
 *  - the device is the default web browser when absent from a sign-up,
 *    its type one of the five, its id a dev_ id when given;
 *  - every field error names a field of the body or a key sent.
 */
#include <string.h>

#include "accounts/accounts_int.h"
#include "auth/auth.h"
#include "core/ids.h"
#include "fuzz/fuzz_body.h"

static const char *const fsu_signup_fields[] = {"email", "password", "country", "name",
						"phone", "language", "device", NULL};
static const char *const fsu_signin_fields[] = {"email", "password", "device", NULL};
static const char *const fsu_device_fields[] = {"id", "name", "type", "model", NULL};

static bool fsu_digit(char c) { return c >= '0' && c <= '9'; }
static bool fsu_upper(char c) { return c >= 'A' && c <= 'Z'; }
static bool fsu_lower(char c) { return c >= 'a' && c <= 'z'; }

/* '+', then 8 to 15 digits, the first not 0. */
static bool fsu_e164(const char *s)
{
	size_t n = strlen(s);
	if (n < 9 || n > 16 || s[0] != '+' || s[1] == '0')
		return false;
	for (size_t i = 1; i < n; i++)
		if (!fsu_digit(s[i]))
			return false;
	return true;
}

/* 2-3 lower-case letters, optionally '-' and 2 upper-case letters or 3 digits. */
static bool fsu_language(const char *s)
{
	size_t n = 0;
	while (fsu_lower(s[n]))
		n++;
	if (n < 2 || n > 3)
		return false;
	if (!s[n])
		return true;
	const char *r = s + n + 1;
	if (s[n] != '-')
		return false;
	if (strlen(r) == 2)
		return fsu_upper(r[0]) && fsu_upper(r[1]);
	return strlen(r) == 3 && fsu_digit(r[0]) && fsu_digit(r[1]) && fsu_digit(r[2]);
}

static void fsu_check_email(const char *in, const char *email, const char *norm)
{
	char again[ACCT_EMAIL_MAX + 1], again_norm[ACCT_EMAIL_MAX + 1];
	FUZZ_ASSERT(acct_email_parse(in, again, again_norm) == NULL, "an accepted email does not parse again");
	FUZZ_ASSERT(strcmp(again, email) == 0, "the email parses differently twice");
	FUZZ_ASSERT(strlen(email) >= 3 && strlen(email) <= ACCT_EMAIL_MAX, "an accepted email has a bad length");
	FUZZ_ASSERT(fuzz_trimmed(email), "an accepted email is not trimmed");
	FUZZ_ASSERT(strstr(in, email) != NULL, "the email is not taken from the input");
	const char *at = strchr(email, '@');
	FUZZ_ASSERT(at && at != email && !strchr(at + 1, '@'), "an accepted email has not one '@'");
	for (const char *p = email; *p; p++)
		FUZZ_ASSERT((unsigned char)*p > 0x20 && !strchr("\"(),:;<>[\\]", *p), "an accepted email holds a space or special");
	FUZZ_ASSERT(!fuzz_has_control(email), "an accepted email holds a control character");
	FUZZ_ASSERT(strlen(norm) == strlen(email), "norm and email differ in length");
	for (size_t i = 0; email[i]; i++) {
		char c = email[i];
		FUZZ_ASSERT(norm[i] == (fsu_upper(c) ? (char)(c - 'A' + 'a') : c), "norm is not the lower case");
	}
}

static void fsu_check_device(json_t *body, const struct acct_device_form *d, bool required)
{
	json_t *obj = json_object_get(body, "device");
	if (!obj || json_is_null(obj)) {
		FUZZ_ASSERT(!required, "a sign-in without a device was accepted");
		FUZZ_ASSERT(strcmp(d->dev.name, "Web browser") == 0 && strcmp(d->dev.type, "web") == 0,
			    "the default device is not a web browser");
		FUZZ_ASSERT(d->dev.id == NULL && d->dev.model == NULL, "the default device has an id or model");
		return;
	}
	FUZZ_ASSERT(json_is_object(obj), "a device that is not an object was accepted");
	/* The list sign-in creation (auth) holds the type to, not a copy. */
	FUZZ_ASSERT(auth_device_type_ok(d->dev.type), "a device type auth would refuse");
	fuzz_body_borrowed(obj, "type", d->dev.type);
	fuzz_check_display_name(d->dev.name, ACCT_DEVICE_TEXT_MAX, ACCT_DEVICE_TEXT_MAX);
	FUZZ_ASSERT(d->dev.name == d->name, "the device name is not the checked copy");
	if (d->dev.model) {
		fuzz_check_display_name(d->dev.model, ACCT_DEVICE_TEXT_MAX, ACCT_DEVICE_TEXT_MAX);
		FUZZ_ASSERT(d->dev.model == d->model, "the device model is not the checked copy");
	} else {
		json_t *m = json_object_get(obj, "model");
		FUZZ_ASSERT(!m || json_is_null(m), "a model was sent and dropped");
	}
	if (d->dev.id) {
		fuzz_body_borrowed(obj, "id", d->dev.id);
		FUZZ_ASSERT(ids_valid("dev_", d->dev.id), "a device id that is not dev_");
	}
}

static void fsu_signup(json_t *body)
{
	struct jv v;
	struct acct_signup_form f;
	jv_init(&v, body);
	acct_signup_parse(&v, &f);
	fuzz_body_check_errors(&v, body, fsu_signup_fields);
	fuzz_body_check_unknown(&v, body, fsu_signup_fields, NULL);
	json_t *dev = json_object_get(body, "device");
	if (json_is_object(dev))
		fuzz_body_check_unknown(&v, dev, fsu_device_fields, "device");
	if (jv_ok(&v)) {
		fuzz_body_borrowed(body, "email", f.email_in);
		fsu_check_email(f.email_in, f.email, f.norm);
		fuzz_body_borrowed(body, "password", f.password);
		fuzz_body_borrowed(body, "country", f.country);
		FUZZ_ASSERT(strlen(f.country) == 2 && fsu_upper(f.country[0]) && fsu_upper(f.country[1]),
			    "a country that is not two upper-case letters");
		if (f.has_name)
			fuzz_check_display_name(f.name, ACCT_NAME_MAX, ACCT_NAME_MAX);
		else
			FUZZ_ASSERT(!json_is_string(json_object_get(body, "name")), "a name was sent and dropped");
		if (f.phone) {
			fuzz_body_borrowed(body, "phone", f.phone);
			FUZZ_ASSERT(fsu_e164(f.phone), "a phone number that is not E.164");
		}
		FUZZ_ASSERT(fsu_language(f.language), "a language tag of the wrong shape or case");
		fsu_check_device(body, &f.device, false);
	}
	jv_release(&v);
}

static void fsu_signin(json_t *body)
{
	struct jv v;
	struct acct_signin_form f;
	jv_init(&v, body);
	acct_signin_parse(&v, &f);
	fuzz_body_check_errors(&v, body, fsu_signin_fields);
	fuzz_body_check_unknown(&v, body, fsu_signin_fields, NULL);
	json_t *dev = json_object_get(body, "device");
	if (json_is_object(dev))
		fuzz_body_check_unknown(&v, dev, fsu_device_fields, "device");
	if (jv_ok(&v)) {
		fuzz_body_borrowed(body, "email", f.email);
		fuzz_body_borrowed(body, "password", f.password);
		FUZZ_ASSERT(f.email[0] && strlen(f.email) <= 1024, "a sign-in email of a bad length");
		FUZZ_ASSERT(f.password[0] && strlen(f.password) <= 4096, "a sign-in password of a bad length");
		fsu_check_device(body, &f.device, true);
	}
	jv_release(&v);
}

int fuzz_signup(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	json_t *body = fuzz_body_json(data + 1, size - 1);
	if (!body)
		return 0;
	if (data[0] & 1)
		fsu_signin(body);
	else
		fsu_signup(body);
	json_decref(body);
	return 0;
}

#ifndef FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_signup(data, size); }
#endif
