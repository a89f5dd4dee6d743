/*
 * fuzz_jsonv.c - request JSON through jansson and the core/jsonv.c readers.
 *
 * The input is a request body.  It is parsed as the server parses a body
 * (json_loadb with JSON_REJECT_DUPLICATES) and, when that succeeds, read
 * the way an endpoint reads it: the sign-up body (strings with byte limits,
 * an enum, unknown fields rejected), a nested "device" object as the sign-in
 * body has, and an int and a bool as profile and list bodies have.
 *
 * Properties checked beyond "no crash, no leak":
 *  - A value a jv_* reader returns satisfies the limits it was given.
 *  - Every recorded error is an object {field, code, message} of strings,
 *    and jv_ok() is true exactly when none was recorded.
 *  - A key jv_reject_unknown() lets through is in the allowed list.
 *  - The errors serialise (they become the 422 problem document).
 */
#include <jansson.h>
#include <string.h>

#include "core/jsonv.h"
#include "fuzz/fuzz.h"

static const char *const fjv_signup_fields[] = {"email",    "password", "country", "name",
						"phone",    "language", "device",  "kids",
						"max_rows", NULL};
static const char *const fjv_device_fields[] = {"id", "name", "type", "model", NULL};
static const char *const fjv_device_types[] = {"tv", "phone", "tablet", "web", "console", NULL};

static bool fjv_in(const char *const *list, const char *s)
{
	for (size_t i = 0; list[i]; i++)
		if (strcmp(list[i], s) == 0)
			return true;
	return false;
}

/* A string reader's result must be a NUL-free string of min..max bytes. */
static void fjv_string(struct jv *v, const char *field, enum jv_need need, size_t min, size_t max)
{
	const char *s = NULL;
	if (!jv_string(v, field, need, min, max, &s))
		return;
	FUZZ_ASSERT(s != NULL, "jv_string returned true without a value");
	json_t *x = json_object_get(v->obj, field);
	FUZZ_ASSERT(json_is_string(x), "jv_string accepted a non-string");
	size_t len = strlen(s);
	FUZZ_ASSERT(len == json_string_length(x), "jv_string accepted a string holding NUL");
	FUZZ_ASSERT(len >= min && len <= max, "jv_string accepted a length out of bounds");
}

/* Every error is {field, code, message} with string members. */
static void fjv_check_errors(const struct jv *v)
{
	size_t i;
	json_t *e;
	FUZZ_ASSERT(json_is_array(v->errors), "errors is not an array");
	FUZZ_ASSERT(jv_ok(v) == (json_array_size(v->errors) == 0), "jv_ok disagrees with errors");
	json_array_foreach(v->errors, i, e) {
		FUZZ_ASSERT(json_is_object(e), "an error is not an object");
		FUZZ_ASSERT(json_is_string(json_object_get(e, "field")), "error without field");
		FUZZ_ASSERT(json_is_string(json_object_get(e, "code")), "error without code");
		FUZZ_ASSERT(json_is_string(json_object_get(e, "message")), "error without message");
	}
}

/* Unknown keys must each have an "unknown_field" error. */
static void fjv_check_unknown(const struct jv *v, const char *const *allowed)
{
	const char *key;
	json_t *val;
	if (!json_is_object(v->obj))
		return;
	json_object_foreach(v->obj, key, val) {
		if (fjv_in(allowed, key))
			continue;
		bool reported = false;
		size_t i;
		json_t *e;
		json_array_foreach(v->errors, i, e) {
			const char *f = json_string_value(json_object_get(e, "field"));
			const char *c = json_string_value(json_object_get(e, "code"));
			if (f && c && strcmp(f, key) == 0 && strcmp(c, "unknown_field") == 0)
				reported = true;
		}
		FUZZ_ASSERT(reported, "an unknown field was not reported");
	}
}

static void fjv_device(struct jv *outer)
{
	json_t *obj = NULL;
	struct jv in;
	const char *type = NULL;
	if (!jv_object(outer, "device", JV_OPTIONAL, &obj))
		return;
	FUZZ_ASSERT(json_is_object(obj), "jv_object returned a non-object");
	jv_init(&in, obj);
	jv_reject_unknown(&in, fjv_device_fields);
	fjv_check_unknown(&in, fjv_device_fields);
	fjv_string(&in, "id", JV_OPTIONAL, 1, 48);
	fjv_string(&in, "name", JV_REQUIRED, 1, 256);
	if (jv_enum(&in, "type", JV_REQUIRED, fjv_device_types, &type))
		FUZZ_ASSERT(fjv_in(fjv_device_types, type), "jv_enum returned a value not offered");
	fjv_string(&in, "model", JV_OPTIONAL, 1, 256);
	fjv_check_errors(&in);
	/* The sign-in handler folds the nested errors into the outer ones. */
	json_array_extend(outer->errors, in.errors);
	jv_release(&in);
}

int fuzz_jsonv(const uint8_t *data, size_t size)
{
	json_error_t jerr;
	json_t *root = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
	struct jv v;
	int64_t n = 0;
	bool b = false;
	char *dumped = NULL;

	if (!root)
		return 0;
	jv_init(&v, root);
	jv_reject_unknown(&v, fjv_signup_fields);
	fjv_check_unknown(&v, fjv_signup_fields);
	fjv_string(&v, "email", JV_REQUIRED, 1, 320);
	fjv_string(&v, "password", JV_REQUIRED, 8, 256);
	fjv_string(&v, "country", JV_REQUIRED, 2, 2);
	fjv_string(&v, "name", JV_OPTIONAL, 1, 256);
	fjv_string(&v, "phone", JV_OPTIONAL, 1, 64);
	fjv_string(&v, "language", JV_OPTIONAL, 1, 64);
	if (jv_int(&v, "max_rows", JV_OPTIONAL, 1, 100, &n))
		FUZZ_ASSERT(n >= 1 && n <= 100, "jv_int returned a value out of range");
	if (jv_int(&v, "kids", JV_OPTIONAL, INT64_MIN, INT64_MAX, &n))
		FUZZ_ASSERT(json_is_integer(json_object_get(root, "kids")), "jv_int read a non-integer");
	if (jv_bool(&v, "kids", JV_OPTIONAL, &b))
		FUZZ_ASSERT(json_is_boolean(json_object_get(root, "kids")), "jv_bool read a non-bool");
	fjv_device(&v);
	fjv_check_errors(&v);

	json_t *errors = jv_take_errors(&v);
	FUZZ_ASSERT(jv_ok(&v), "jv_take_errors left errors behind");
	dumped = json_dumps(errors, JSON_COMPACT);
	FUZZ_ASSERT(dumped != NULL, "the errors do not serialise");
	free(dumped);
	json_decref(errors);
	jv_release(&v);
	json_decref(root);
	return 0;
}

#ifndef FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_jsonv(data, size); }
#endif
