/*
 * jsonv.h - typed, validating reads of a JSON request object.
 *
 * A `struct jv` wraps one JSON object from a request body and collects every
 * field error it meets (missing, wrong type, too long, out of range, not
 * allowed) instead of stopping at the first, so a client sees all of them in
 * one problem document: `errors: [{field, code, message}]`.  Accessors return
 * true when the field was present and valid; out-values are only written
 * then.  (The prefix is `jv_`, not `json_`, because jansson owns `json_`.)
 *
 * Strings are checked for length in bytes and rejected when they hold a NUL
 * byte; jansson has already rejected invalid UTF-8 at parse time.
 */
#ifndef HEARTH_CORE_JSONV_H
#define HEARTH_CORE_JSONV_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct jv {
	json_t *obj;	/* borrowed */
	json_t *errors;	/* owned: array of {field, code, message} */
};

enum jv_need { JV_OPTIONAL, JV_REQUIRED };

/* Start reading `obj` (borrowed; may be any JSON value: a non-object records
 * one error for the field "" with code "not_an_object"). */
void jv_init(struct jv *v, json_t *obj);

/* Free the collected errors. */
void jv_release(struct jv *v);

/* Record an error for `field` with a stable `code` and a message. */
void jv_error(struct jv *v, const char *field, const char *code, const char *message);

/* A string of `min`..`max` bytes.  *out borrows from the object.  A JSON
 * null counts as absent. */
bool jv_string(struct jv *v, const char *field, enum jv_need need, size_t min, size_t max,
	       const char **out);

/* An integer in [min, max] (JSON integers only: 1.0 and "1" are wrong types). */
bool jv_int(struct jv *v, const char *field, enum jv_need need, int64_t min, int64_t max,
	    int64_t *out);

/* A boolean. */
bool jv_bool(struct jv *v, const char *field, enum jv_need need, bool *out);

/* A JSON object (borrowed) for nested reading. */
bool jv_object(struct jv *v, const char *field, enum jv_need need, json_t **out);

/* A string equal to one of the NULL-terminated `choices`; *out borrows. */
bool jv_enum(struct jv *v, const char *field, enum jv_need need, const char *const *choices,
	     const char **out);

/* Record "unknown_field" for every key not in the NULL-terminated `allowed`. */
void jv_reject_unknown(struct jv *v, const char *const *allowed);

/* True when no error was recorded. */
bool jv_ok(const struct jv *v);

/* Move the errors array out (caller owns it); the jv keeps an empty one. */
json_t *jv_take_errors(struct jv *v);

#endif
