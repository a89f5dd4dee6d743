/*
 * fuzz_body.h - what the request-body targets share (signup, profiles,
 * subscription, payment_methods, playback, staff_create).
 *
 * Each of those targets reads its input as the server reads a JSON body
 * (JSON_REJECT_DUPLICATES, an object; anything else is the server's 400
 * invalid_json and never reaches validation), runs the area's *_parse
 * function, which is exactly what the HTTP adapter runs, and checks the
 * properties every body check must have:
 *  - the errors are an array of {field, code, message} strings, jv_ok()
 *    agrees with them, and they serialise (they become the 422 document);
 *  - every key that is not a field of the body has its unknown_field error;
 *  - a string the parser hands out borrows the JSON value it names, which
 *    holds no NUL byte;
 * plus the target's own rules for what an accepted value looks like.
 * Helpers are static inline and prefixed fuzz_ (the regression suite
 * includes every target into one file).
 */
#ifndef HEARTH_FUZZ_FUZZ_BODY_H
#define HEARTH_FUZZ_FUZZ_BODY_H

#include <jansson.h>
#include <string.h>

#include "core/jsonv.h"
#include "fuzz/fuzz.h"

/* The body as the server parses it, or NULL when the server would answer
 * 400 invalid_json. */
static inline json_t *fuzz_body_json(const uint8_t *data, size_t size)
{
	json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	if (j && !json_is_object(j)) {
		json_decref(j);
		j = NULL;
	}
	return j;
}

static inline bool fuzz_in_list(const char *const *list, const char *s)
{
	for (size_t i = 0; list[i]; i++)
		if (strcmp(list[i], s) == 0)
			return true;
	return false;
}

/* True when an error names `field` (with `code`, unless NULL). */
static inline bool fuzz_body_has_error(const struct jv *v, const char *field, const char *code)
{
	size_t i;
	json_t *e;
	json_array_foreach(v->errors, i, e) {
		const char *f = json_string_value(json_object_get(e, "field"));
		const char *c = json_string_value(json_object_get(e, "code"));
		if (f && strcmp(f, field) == 0 && (!code || (c && strcmp(c, code) == 0)))
			return true;
	}
	return false;
}

/* The errors are well formed, name only the body's fields (or "prefix.x"
 * of a nested object), and agree with jv_ok(). */
static inline void fuzz_body_check_errors(const struct jv *v, json_t *body, const char *const *fields)
{
	size_t i;
	json_t *e;
	FUZZ_ASSERT(json_is_array(v->errors), "errors is not an array");
	FUZZ_ASSERT(jv_ok(v) == (json_array_size(v->errors) == 0), "jv_ok disagrees with the errors");
	json_array_foreach(v->errors, i, e) {
		FUZZ_ASSERT(json_is_object(e), "an error is not an object");
		const char *f = json_string_value(json_object_get(e, "field"));
		FUZZ_ASSERT(f != NULL, "an error without a field");
		FUZZ_ASSERT(json_is_string(json_object_get(e, "code")), "an error without a code");
		FUZZ_ASSERT(json_is_string(json_object_get(e, "message")), "an error without a message");
		/* A field of the body (or a member of one of its objects), or a key sent. */
		const char *dot = strchr(f, '.');
		char head[64] = "";
		size_t n = dot ? (size_t)(dot - f) : strlen(f);
		if (n < sizeof head) {
			memcpy(head, f, n);
			head[n] = '\0';
		}
		FUZZ_ASSERT(fuzz_in_list(fields, head) || json_object_get(body, f) != NULL,
			    "an error names a field that is neither the body's nor sent");
	}
	char *text = json_dumps(v->errors, JSON_COMPACT);
	FUZZ_ASSERT(text != NULL, "the errors do not serialise");
	free(text);
}

/* Every key of `obj` not in `allowed` has an unknown_field error, named
 * "key" or, inside a nested object, "prefix.key". */
static inline void fuzz_body_check_unknown(const struct jv *v, json_t *obj, const char *const *allowed,
					   const char *prefix)
{
	const char *key;
	json_t *val;
	if (!json_is_object(obj))
		return;
	json_object_foreach(obj, key, val) {
		if (fuzz_in_list(allowed, key))
			continue;
		/* An empty key inside an object is reported under the object's own
		 * name ("device"), as the accounts area names nested errors. */
		char name[512];
		int n = snprintf(name, sizeof name, "%s%s%s", prefix ? prefix : "", prefix && key[0] ? "." : "", key);
		/* (accounts names a nested field in 128 bytes: longer ones are cut) */
		if (n < 0 || (size_t)n >= sizeof name || (prefix && n >= 127))
			continue;
		FUZZ_ASSERT(fuzz_body_has_error(v, name, "unknown_field"), "an unknown field was not reported");
	}
}

/* `s` is the very string the JSON holds at `field` of `obj`, without a NUL
 * inside. */
static inline void fuzz_body_borrowed(json_t *obj, const char *field, const char *s)
{
	json_t *x = json_object_get(obj, field);
	FUZZ_ASSERT(json_is_string(x), "a value handed out is not the JSON string of its field");
	FUZZ_ASSERT(s == json_string_value(x), "a value handed out does not borrow its JSON string");
	FUZZ_ASSERT(strlen(s) == json_string_length(x), "a value handed out hides a NUL byte");
}

/* Well-formed UTF-8 (jansson checks its input; trimming and copying must
 * not cut a character). */
static inline bool fuzz_utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		size_t len = *p < 0x80 ? 1 : (*p >> 5) == 6 ? 2 : (*p >> 4) == 14 ? 3 : (*p >> 3) == 30 ? 4 : 0;
		if (len == 0)
			return false;
		for (size_t i = 1; i < len; i++)
			if ((p[i] & 0xC0) != 0x80)
				return false;
		p += len;
	}
	return true;
}

static inline size_t fuzz_utf8_chars(const char *s)
{
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		n += (*p & 0xC0) != 0x80;
	return n;
}

/* A control character: C0, DEL or C1 (U+0080..U+009F). */
static inline bool fuzz_has_control(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f || (p[0] == 0xC2 && p[1] >= 0x80 && p[1] <= 0x9F))
			return true;
	return false;
}

/* No ASCII white space at either end. */
static inline bool fuzz_trimmed(const char *s)
{
	size_t n = strlen(s);
	return n == 0 || (!strchr(" \t\r\n", s[0]) && !strchr(" \t\r\n", s[n - 1]));
}

/* A display name as the accounts area keeps it: trimmed, 1..max_chars
 * code points, at most max_bytes bytes, UTF-8, no control character. */
static inline void fuzz_check_display_name(const char *s, size_t max_chars, size_t max_bytes)
{
	FUZZ_ASSERT(s && s[0], "an accepted name is empty");
	FUZZ_ASSERT(fuzz_trimmed(s), "an accepted name is not trimmed");
	FUZZ_ASSERT(strlen(s) <= max_bytes, "an accepted name is too long in bytes");
	FUZZ_ASSERT(fuzz_utf8_chars(s) <= max_chars, "an accepted name has too many characters");
	FUZZ_ASSERT(fuzz_utf8_valid(s), "an accepted name is not UTF-8");
	FUZZ_ASSERT(!fuzz_has_control(s), "an accepted name holds a control character");
}

#endif
