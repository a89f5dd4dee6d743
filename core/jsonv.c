#include "core/jsonv.h"

#include <stdio.h>
#include <string.h>

void jv_init(struct jv *v, json_t *obj)
{
	v->obj = obj;
	v->errors = json_array();
	if (!json_is_object(obj))
		jv_error(v, "", "not_an_object", "The request body must be a JSON object");
}

void jv_release(struct jv *v)
{
	json_decref(v->errors);
	v->errors = NULL;
}

void jv_error(struct jv *v, const char *field, const char *code, const char *message)
{
	json_array_append_new(v->errors,
			      json_pack("{s:s, s:s, s:s}", "field", field, "code", code, "message", message));
}

/* The field's value, or NULL (recording "required" when needed). */
static json_t *get(struct jv *v, const char *field, enum jv_need need)
{
	json_t *x = json_is_object(v->obj) ? json_object_get(v->obj, field) : NULL;
	if (x && json_is_null(x))
		x = NULL;
	if (!x && need == JV_REQUIRED && json_is_object(v->obj))
		jv_error(v, field, "required", "This field is required");
	return x;
}

bool jv_string(struct jv *v, const char *field, enum jv_need need, size_t min, size_t max,
	       const char **out)
{
	char msg[96];
	json_t *x = get(v, field, need);
	if (!x)
		return false;
	if (!json_is_string(x)) {
		jv_error(v, field, "wrong_type", "Must be a string");
		return false;
	}
	size_t len = json_string_length(x);
	const char *s = json_string_value(x);
	if (strlen(s) != len) {
		jv_error(v, field, "invalid_characters", "Must not contain NUL characters");
		return false;
	}
	if (len > max) {
		snprintf(msg, sizeof msg, "Must be at most %zu bytes", max);
		jv_error(v, field, "too_long", msg);
		return false;
	}
	if (len < min) {
		if (min <= 1)
			snprintf(msg, sizeof msg, "Must not be empty");
		else
			snprintf(msg, sizeof msg, "Must be at least %zu characters", min);
		jv_error(v, field, "too_short", msg);
		return false;
	}
	*out = s;
	return true;
}

bool jv_int(struct jv *v, const char *field, enum jv_need need, int64_t min, int64_t max,
	    int64_t *out)
{
	char msg[96];
	json_t *x = get(v, field, need);
	if (!x)
		return false;
	if (!json_is_integer(x)) {
		jv_error(v, field, "wrong_type", "Must be an integer");
		return false;
	}
	json_int_t n = json_integer_value(x);
	if (n < min || n > max) {
		snprintf(msg, sizeof msg, "Must be between %lld and %lld", (long long)min,
			 (long long)max);
		jv_error(v, field, "out_of_range", msg);
		return false;
	}
	*out = (int64_t)n;
	return true;
}

bool jv_bool(struct jv *v, const char *field, enum jv_need need, bool *out)
{
	json_t *x = get(v, field, need);
	if (!x)
		return false;
	if (!json_is_boolean(x)) {
		jv_error(v, field, "wrong_type", "Must be true or false");
		return false;
	}
	*out = json_is_true(x);
	return true;
}

bool jv_object(struct jv *v, const char *field, enum jv_need need, json_t **out)
{
	json_t *x = get(v, field, need);
	if (!x)
		return false;
	if (!json_is_object(x)) {
		jv_error(v, field, "wrong_type", "Must be an object");
		return false;
	}
	*out = x;
	return true;
}

bool jv_enum(struct jv *v, const char *field, enum jv_need need, const char *const *choices,
	     const char **out)
{
	const char *s;
	if (!jv_string(v, field, need, 1, 64, &s))
		return false;
	for (size_t i = 0; choices[i]; i++) {
		if (strcmp(s, choices[i]) == 0) {
			*out = s;
			return true;
		}
	}
	char msg[256];
	size_t o = (size_t)snprintf(msg, sizeof msg, "Must be one of:");
	for (size_t i = 0; choices[i] && o < sizeof msg; i++) {
		int n = snprintf(msg + o, sizeof msg - o, "%s %s", i ? "," : "", choices[i]);
		if (n < 0)
			break;
		o += (size_t)n;
	}
	jv_error(v, field, "invalid_choice", msg);
	return false;
}

void jv_reject_unknown(struct jv *v, const char *const *allowed)
{
	const char *key;
	json_t *val;
	if (!json_is_object(v->obj))
		return;
	json_object_foreach(v->obj, key, val) {
		bool known = false;
		for (size_t i = 0; allowed[i] && !known; i++)
			known = strcmp(key, allowed[i]) == 0;
		if (!known)
			jv_error(v, key, "unknown_field", "This field is not accepted here");
	}
}

bool jv_ok(const struct jv *v) { return json_array_size(v->errors) == 0; }

json_t *jv_take_errors(struct jv *v)
{
	json_t *e = v->errors;
	v->errors = json_array();
	return e;
}
