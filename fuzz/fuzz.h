/*
 * fuzz.h - what the libFuzzer targets in fuzz/ share.
 *
 * Each fuzz/fuzz_<name>.c holds one target.  Its work is done by the entry
 * function fuzz_<name>(data, size) declared below; LLVMFuzzerTestOneInput
 * only calls it.  tests/test_fuzz_regressions.c defines FUZZ_NO_MAIN and
 * includes the target files, so that every saved crash input
 * (fuzz/regressions/<name>/) and every seed (fuzz/corpus/<name>/) is
 * replayed through the very same function by gcc under ASan and UBSan in
 * scripts/test.
 *
 * The targets check properties, not just the absence of crashes: a broken
 * property aborts through FUZZ_ASSERT, which libFuzzer reports as a crash
 * and the regression suite as a failed test.  A target frees everything it
 * allocates (libFuzzer's leak check is on), keeps no state between inputs
 * beyond read-only tables built on the first call (catalog_import keeps an
 * in-memory database that every input leaves as it found it), and returns 0.
 *
 * Statics of a target carry a short prefix of its own (fjv_, frt_, ...)
 * because the regression suite compiles all targets into one file.
 */
#ifndef HEARTH_FUZZ_FUZZ_H
#define HEARTH_FUZZ_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Abort with a message naming the broken property. */
#define FUZZ_ASSERT(cond, what)                                                          \
	do {                                                                             \
		if (!(cond)) {                                                           \
			fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__, __LINE__, \
				(what));                                                 \
			abort();                                                         \
		}                                                                        \
	} while (0)

/* The entry functions, one per target (fuzz/fuzz_<name>.c). */
int fuzz_jsonv(const uint8_t *data, size_t size);
int fuzz_router(const uint8_t *data, size_t size);
int fuzz_form(const uint8_t *data, size_t size);
int fuzz_paseto(const uint8_t *data, size_t size);
int fuzz_clock_parse(const uint8_t *data, size_t size);
int fuzz_netaddr(const uint8_t *data, size_t size);
int fuzz_money_parse(const uint8_t *data, size_t size);
int fuzz_signup(const uint8_t *data, size_t size);
int fuzz_profiles(const uint8_t *data, size_t size);
int fuzz_subscription(const uint8_t *data, size_t size);
int fuzz_payment_methods(const uint8_t *data, size_t size);
int fuzz_playback(const uint8_t *data, size_t size);
int fuzz_staff_create(const uint8_t *data, size_t size);
int fuzz_user_code(const uint8_t *data, size_t size);
int fuzz_catalog_import(const uint8_t *data, size_t size);

/* A NUL-terminated malloc'd copy of the input (NULL when out of memory);
 * bytes after an embedded NUL are invisible to the C-string parsers, as
 * they are when such a string arrives from libmicrohttpd. */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		return NULL;
	for (size_t i = 0; i < size; i++)
		s[i] = (char)data[i];
	s[size] = '\0';
	return s;
}

#ifndef FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
#endif

#endif
