/*
 * fuzz_form.c - the application/x-www-form-urlencoded body decoder
 * (form_parse in server/form.c), which reads the OAuth endpoints' bodies.
 *
 * The input is the raw request body, any bytes, as libmicrohttpd delivers
 * it.  It goes through form_parse() with the server's limit of 16 pairs.
 *
 * Properties checked beyond "no crash, no leak":
 *  - The decoder agrees with a reference decoder written from the rules:
 *    pairs split on '&', empty pairs skipped, name and value split on the
 *    first '=', '+' is a space, %XX is one byte (either case of hex), and
 *    the body is refused for a pair without '=', a malformed escape, a
 *    %00, a repeated name or more than 16 pairs.  A name or value must
 *    also come out whole: every decoded byte is in the C string returned,
 *    so no byte of the body is silently dropped.
 *  - On failure nothing is returned (n == 0).
 */
#include <string.h>

#include "fuzz/fuzz.h"
#include "server/server_int.h"

#define FFM_MAX 16

/* Hex digits through the server's own form_hex_digit: the reference
 * decoder re-derives the escapes, not the digit table. */
static int ffm_hex(uint8_t c) { return form_hex_digit((char)c); }

/* Decode s[0..len) into out (room for len bytes); returns the decoded
 * length, or -1 when the text is malformed or decodes to a NUL byte. */
static long ffm_decode(const uint8_t *s, size_t len, uint8_t *out)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = s[i];
		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			if (i + 2 >= len || ffm_hex(s[i + 1]) < 0 || ffm_hex(s[i + 2]) < 0)
				return -1;
			c = (uint8_t)(ffm_hex(s[i + 1]) * 16 + ffm_hex(s[i + 2]));
			i += 2;
		}
		if (c == '\0')
			return -1;
		out[o++] = c;
	}
	return (long)o;
}

struct ffm_pair {
	uint8_t *name, *value;
	long name_len, value_len;
};

/* The reference: returns the number of pairs, or -1 when refused. */
static int ffm_reference(const uint8_t *data, size_t size, struct ffm_pair *pairs)
{
	size_t start = 0;
	int n = 0;
	while (start < size) {
		const uint8_t *amp = memchr(data + start, '&', size - start);
		size_t end = amp ? (size_t)(amp - data) : size;
		if (end > start) {
			const uint8_t *eq = memchr(data + start, '=', end - start);
			if (!eq || n >= FFM_MAX)
				return -1;
			size_t eqi = (size_t)(eq - data);
			pairs[n].name = malloc(eqi - start + 1);
			pairs[n].value = malloc(end - eqi);
			FUZZ_ASSERT(pairs[n].name && pairs[n].value, "out of memory");
			pairs[n].name_len = ffm_decode(data + start, eqi - start, pairs[n].name);
			pairs[n].value_len = ffm_decode(eq + 1, end - eqi - 1, pairs[n].value);
			n++;
			if (pairs[n - 1].name_len < 0 || pairs[n - 1].value_len < 0)
				return -1;
			for (int k = 0; k < n - 1; k++)
				if (pairs[k].name_len == pairs[n - 1].name_len &&
				    memcmp(pairs[k].name, pairs[n - 1].name,
					   (size_t)pairs[k].name_len) == 0)
					return -1;
		}
		start = end + 1;
	}
	return n;
}

static void ffm_free(struct ffm_pair *pairs)
{
	for (int i = 0; i < FFM_MAX; i++) {
		free(pairs[i].name);
		free(pairs[i].value);
	}
}

int fuzz_form(const uint8_t *data, size_t size)
{
	char *names[FFM_MAX], *values[FFM_MAX];
	struct ffm_pair pairs[FFM_MAX];
	int n = -1;

	memset(pairs, 0, sizeof pairs);
	bool ok = form_parse((const char *)data, size, names, values, FFM_MAX, &n);
	int want = ffm_reference(data, size, pairs);
	if (!ok) {
		FUZZ_ASSERT(n == 0, "a refused form returned pairs");
		FUZZ_ASSERT(want < 0, "form_parse refused a well-formed body");
	} else {
		FUZZ_ASSERT(want >= 0, "form_parse accepted a malformed body");
		FUZZ_ASSERT(n == want, "form_parse returned the wrong number of pairs");
		for (int i = 0; i < n; i++) {
			FUZZ_ASSERT(strlen(names[i]) == (size_t)pairs[i].name_len &&
					    memcmp(names[i], pairs[i].name, (size_t)pairs[i].name_len) == 0,
				    "a name was decoded wrongly or cut short");
			FUZZ_ASSERT(strlen(values[i]) == (size_t)pairs[i].value_len &&
					    memcmp(values[i], pairs[i].value, (size_t)pairs[i].value_len) == 0,
				    "a value was decoded wrongly or cut short");
		}
		form_release(names, values, &n);
		FUZZ_ASSERT(n == 0, "form_release left pairs");
	}
	ffm_free(pairs);
	return 0;
}

#ifndef FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_form(data, size); }
#endif
