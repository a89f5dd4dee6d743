/*
 * fuzz_clock_parse.c - RFC 3339 times (clock_parse in core/clock.c), as they
 * arrive in request bodies, query strings and catalog files.
 *
 * The input, NUL-terminated, goes through clock_parse().
 *
 * Properties checked beyond "no crash":
 *  - Accepted text has the RFC 3339 shape: at least 20 bytes, a 'T' and a
 *    'Z' or numeric offset where they belong.
 *  - The instant agrees with the C library: the same date and time read by
 *    timegm(), minus the offset (a leap second :60 is read as :59).
 *  - What clock_parse accepts, clock_format writes as RFC 3339 text that
 *    clock_parse reads back to the same instant, so an accepted time can
 *    always be shown to a client.
 */
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "fuzz/fuzz.h"

static int fck_num(const char *s, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

int fuzz_clock_parse(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	int64_t t = 42, back = 0;
	char buf[32];

	if (!s)
		return 0;
	if (clock_parse(s, &t) != ERR_OK) {
		FUZZ_ASSERT(t == 42, "a refused time wrote its result");
		free(s);
		return 0;
	}
	size_t len = strlen(s);
	FUZZ_ASSERT(len >= 20 && (s[10] == 'T' || s[10] == 't'), "accepted text of the wrong shape");
	const char *zone = s + 19;
	if (*zone == '.')
		zone += strspn(zone + 1, "0123456789") + 1;
	int64_t offset = 0;
	if (*zone == '+' || *zone == '-') {
		FUZZ_ASSERT(strlen(zone) == 6, "accepted a malformed offset");
		offset = (int64_t)(fck_num(zone + 1, 2) * 3600 + fck_num(zone + 4, 2) * 60);
		if (*zone == '-')
			offset = -offset;
	} else {
		FUZZ_ASSERT((*zone == 'Z' || *zone == 'z') && zone[1] == '\0',
			    "accepted text without a zone");
	}

	struct tm tm;
	memset(&tm, 0, sizeof tm);
	tm.tm_year = fck_num(s, 4) - 1900;
	tm.tm_mon = fck_num(s + 5, 2) - 1;
	tm.tm_mday = fck_num(s + 8, 2);
	tm.tm_hour = fck_num(s + 11, 2);
	tm.tm_min = fck_num(s + 14, 2);
	tm.tm_sec = fck_num(s + 17, 2);
	if (tm.tm_sec == 60)
		tm.tm_sec = 59;
	int64_t want = (int64_t)timegm(&tm) - offset;
	FUZZ_ASSERT(t == want, "the instant disagrees with timegm()");

	clock_format(t, buf, sizeof buf);
	FUZZ_ASSERT(clock_parse(buf, &back) == ERR_OK, "an accepted time does not format as RFC 3339");
	FUZZ_ASSERT(back == t, "format and parse do not round-trip");
	free(s);
	return 0;
}

#ifndef FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_clock_parse(data, size);
}
#endif
