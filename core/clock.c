#include "core/clock.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static atomic_bool use_test;
static _Atomic int64_t test_now;
static _Atomic int64_t test_moved_ms; /* how far the test clock was moved, for clock_cache_ms */

int64_t clock_now(void)
{
	if (atomic_load_explicit(&use_test, memory_order_acquire))
		return atomic_load_explicit(&test_now, memory_order_acquire);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec;
}

int64_t clock_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void clock_deadline_ms(struct timespec *ts, int64_t ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += (time_t)(ms / 1000);
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Add a move of the test clock to test_moved_ms, saturating far below
 * where adding clock_mono_ms() could overflow (a test may jump to 9999). */
static void note_moved(int64_t seconds)
{
	const int64_t cap = INT64_MAX / 4;
	int64_t ms = seconds > cap / 1000 ? cap : seconds * 1000;
	int64_t cur = atomic_load(&test_moved_ms), next;
	do
		next = cur > cap - ms ? cap : cur + ms;
	while (!atomic_compare_exchange_weak(&test_moved_ms, &cur, next));
}

int64_t clock_cache_ms(void)
{
	return clock_mono_ms() + atomic_load_explicit(&test_moved_ms, memory_order_acquire);
}

void clock_use_test(int64_t start)
{
	atomic_store(&test_now, start);
	atomic_store(&use_test, true);
}

bool clock_is_test(void) { return atomic_load(&use_test); }

enum err clock_set(int64_t t)
{
	if (!clock_is_test())
		return ERR_INVALID_STATE;
	int64_t cur = atomic_load(&test_now);
	do {
		if (t < cur)
			return ERR_INVALID_STATE;
	} while (!atomic_compare_exchange_weak(&test_now, &cur, t));
	note_moved(t - cur);
	return ERR_OK;
}

enum err clock_advance(int64_t seconds)
{
	if (!clock_is_test() || seconds < 0)
		return ERR_INVALID_STATE;
	int64_t cur = atomic_load(&test_now);
	int64_t next;
	do {
		if (__builtin_add_overflow(cur, seconds, &next))
			return ERR_INVALID_STATE;
	} while (!atomic_compare_exchange_weak(&test_now, &cur, next));
	note_moved(seconds);
	return ERR_OK;
}

char *clock_format(int64_t t, char *buf, size_t cap)
{
	struct tm tm;
	time_t tt = (time_t)t;
	if (cap == 0)
		return buf;
	/* Not strftime's %Y: it writes year 26 as "26", and RFC 3339 wants
	 * four digits ("0026"), which clock_parse requires. */
	if (!gmtime_r(&tt, &tm)) {
		buf[0] = '\0';
		return buf;
	}
	int n = snprintf(buf, cap, "%04lld-%02d-%02dT%02d:%02d:%02dZ", (long long)tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	if (n < 0 || (size_t)n >= cap)
		buf[0] = '\0';
	return buf;
}

/* 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z. */
#define CLOCK_MIN INT64_C(-62167219200)
#define CLOCK_MAX INT64_C(253402300799)

static int digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar
 * (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

enum err clock_parse(const char *s, int64_t *out)
{
	int y, mo, d, h, mi, se;
	size_t len = strlen(s);
	if (len < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
	    s[13] != ':' || s[16] != ':')
		return ERR_INVALID_PARAMETER;
	if (digits(s, 4, &y) || digits(s + 5, 2, &mo) || digits(s + 8, 2, &d) ||
	    digits(s + 11, 2, &h) || digits(s + 14, 2, &mi) || digits(s + 17, 2, &se))
		return ERR_INVALID_PARAMETER;
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || se > 60)
		return ERR_INVALID_PARAMETER;
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (mo == 2 && d == 29 && !leap)
		return ERR_INVALID_PARAMETER;
	const char *p = s + 19;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return ERR_INVALID_PARAMETER;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	int64_t offset = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int oh, om;
		if (strlen(p) != 6 || p[3] != ':' || digits(p + 1, 2, &oh) || digits(p + 4, 2, &om) ||
		    oh > 23 || om > 59)
			return ERR_INVALID_PARAMETER;
		offset = (int64_t)(oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
		p += 6;
	} else {
		return ERR_INVALID_PARAMETER;
	}
	if (*p != '\0')
		return ERR_INVALID_PARAMETER;
	if (se == 60)
		se = 59; /* a leap second is read as the second before it */
	int64_t t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - offset;
	/* An offset can carry the instant out of years 0000..9999, which RFC
	 * 3339 text (and so clock_format) cannot show. */
	if (t < CLOCK_MIN || t > CLOCK_MAX)
		return ERR_INVALID_PARAMETER;
	*out = t;
	return ERR_OK;
}

json_t *clock_json(int64_t t)
{
	char buf[32];
	return json_string(clock_format(t, buf, sizeof buf));
}

json_t *clock_json_or_null(int64_t t) { return t ? clock_json(t) : json_null(); }
