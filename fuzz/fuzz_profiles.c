/*
 * fuzz_profiles.c - the profile bodies (POST /v1/profiles, PATCH
 * /v1/profiles/{id}) through acct_profile_parse(), the very check
 * accounts_http.c makes before touching the database.
 *
 * The input's first byte chooses creation (even) or update (odd); the rest
 * is the JSON body.  Properties, beyond those of fuzz_body.h:
 *  - a name is trimmed, UTF-8, 1..50 characters and at most 200 bytes,
 *    without control characters; creating requires one;
 *  - `kids` is set exactly when a boolean was sent, with its value;
 *  - a PIN is four ASCII digits, and "pin": null (only) clears it;
 *  - a language is in its canonical shape;
 *  - null for name (on update), kids or language is an error, not "keep".
 */
#include <string.h>

#include "accounts/accounts_int.h"
#include "fuzz/fuzz_body.h"

static const char *const fpr_fields[] = {"name", "kids", "language", "pin", NULL};

static void fpr_check(json_t *body, bool creating)
{
	struct jv v;
	struct acct_profile_form f;
	jv_init(&v, body);
	acct_profile_parse(&v, creating, &f);
	fuzz_body_check_errors(&v, body, fpr_fields);
	fuzz_body_check_unknown(&v, body, fpr_fields, NULL);
	json_t *name = json_object_get(body, "name"), *kids = json_object_get(body, "kids");
	json_t *lang = json_object_get(body, "language"), *pin = json_object_get(body, "pin");
	if (json_is_null(kids) || json_is_null(lang) || (!creating && json_is_null(name)))
		FUZZ_ASSERT(!jv_ok(&v), "a null that cannot clear was accepted");
	if (jv_ok(&v)) {
		if (f.in.name) {
			FUZZ_ASSERT(f.in.name == f.name, "the name is not the checked copy");
			fuzz_check_display_name(f.in.name, ACCT_PROFILE_NAME_CHARS, ACCT_PROFILE_NAME_BYTES);
		} else {
			FUZZ_ASSERT(!creating, "a profile was created without a name");
			FUZZ_ASSERT(!json_is_string(name), "a name was sent and dropped");
		}
		FUZZ_ASSERT(f.in.set_kids == json_is_boolean(kids), "kids set without a boolean, or dropped");
		if (f.in.set_kids)
			FUZZ_ASSERT(f.in.kids == json_is_true(kids), "kids has the wrong value");
		if (f.in.language) {
			FUZZ_ASSERT(f.in.language == f.language, "the language is not the checked copy");
			char again[ACCT_LANGUAGE_MAX + 1];
			FUZZ_ASSERT(acct_language_parse(f.in.language, again) && strcmp(again, f.in.language) == 0,
				    "the language is not canonical");
		}
		if (f.in.set_pin && f.in.pin) {
			fuzz_body_borrowed(body, "pin", f.in.pin);
			FUZZ_ASSERT(strlen(f.in.pin) == 4 && strspn(f.in.pin, "0123456789") == 4,
				    "a PIN that is not four digits");
		} else if (f.in.set_pin) {
			FUZZ_ASSERT(json_is_null(pin), "the PIN was cleared without a null");
		} else {
			FUZZ_ASSERT(!pin, "a PIN was sent and ignored");
		}
	}
	jv_release(&v);
}

int fuzz_profiles(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	json_t *body = fuzz_body_json(data + 1, size - 1);
	if (!body)
		return 0;
	fpr_check(body, (data[0] & 1) == 0);
	json_decref(body);
	return 0;
}

#ifndef FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_profiles(data, size); }
#endif
