/* The clock: a settable test clock that never goes back, and RFC 3339 text. */
#include <check.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "tests/unit.h"

/* Runs first in its test case so that, even without fork mode, no earlier
 * test has switched the process to the test clock. */
START_TEST(real_clock_refuses_set_and_advance)
{
	ck_assert(!clock_is_test());
	int64_t before = clock_now();
	ck_assert_int_eq(clock_set(before + 3600), ERR_INVALID_STATE);
	ck_assert_int_eq(clock_advance(3600), ERR_INVALID_STATE);
	ck_assert_int_eq(clock_advance(0), ERR_INVALID_STATE);
	int64_t after = clock_now();
	ck_assert_int_ge(after, before);
	ck_assert_int_lt(after - before, 60); /* not moved by an hour */
	ck_assert_int_lt(after - (int64_t)time(NULL), 2);
}
END_TEST

START_TEST(test_clock_starts_where_told_and_stays)
{
	clock_use_test(1795303727);
	ck_assert(clock_is_test());
	ck_assert_int_eq(clock_now(), 1795303727);
	ck_assert_int_eq(clock_now(), 1795303727);
}
END_TEST

START_TEST(test_clock_set_moves_forward_only)
{
	clock_use_test(1000);
	ck_assert_int_eq(clock_set(2000), ERR_OK);
	ck_assert_int_eq(clock_now(), 2000);
	ck_assert_int_eq(clock_set(2000), ERR_OK); /* the same instant is not "back" */
	ck_assert_int_eq(clock_now(), 2000);
	ck_assert_int_eq(clock_set(1999), ERR_INVALID_STATE);
	ck_assert_int_eq(clock_now(), 2000);
	ck_assert_int_eq(clock_set(0), ERR_INVALID_STATE);
	ck_assert_int_eq(clock_now(), 2000);
}
END_TEST

START_TEST(test_clock_advance_adds_seconds)
{
	clock_use_test(1000);
	ck_assert_int_eq(clock_advance(60), ERR_OK);
	ck_assert_int_eq(clock_now(), 1060);
	ck_assert_int_eq(clock_advance(0), ERR_OK);
	ck_assert_int_eq(clock_now(), 1060);
	ck_assert_int_eq(clock_advance(31 * 86400), ERR_OK);
	ck_assert_int_eq(clock_now(), 1060 + 31 * 86400);
}
END_TEST

START_TEST(test_clock_advance_never_backwards_or_past_the_end)
{
	clock_use_test(1000);
	ck_assert_int_eq(clock_advance(-1), ERR_INVALID_STATE);
	ck_assert_int_eq(clock_now(), 1000);
	ck_assert_int_eq(clock_set(INT64_MAX - 5), ERR_OK);
	ck_assert_int_eq(clock_advance(10), ERR_INVALID_STATE);
	ck_assert_int_eq(clock_now(), INT64_MAX - 5);
}
END_TEST

START_TEST(mono_clock_does_not_follow_test_clock)
{
	int64_t a = clock_mono_ms();
	clock_use_test(1000);
	ck_assert_int_eq(clock_advance(86400), ERR_OK);
	int64_t b = clock_mono_ms();
	ck_assert_int_ge(b, a);
	ck_assert_int_lt(b - a, 10000);
}
END_TEST

/* A deadline is `ms` from now on the real-time clock, normalised (the
 * nanoseconds below one second) whatever the test clock says. */
START_TEST(deadline_is_ms_from_now_normalised)
{
	clock_use_test(1000);
	struct timespec before, d, after;
	clock_gettime(CLOCK_REALTIME, &before);
	clock_deadline_ms(&d, 1999);
	clock_gettime(CLOCK_REALTIME, &after);
	ck_assert_int_ge(d.tv_nsec, 0);
	ck_assert_int_lt(d.tv_nsec, 1000000000L);
	int64_t dn = (int64_t)d.tv_sec * 1000000000 + d.tv_nsec;
	ck_assert_int_ge(dn, (int64_t)before.tv_sec * 1000000000 + before.tv_nsec + 1999000000);
	ck_assert_int_le(dn, (int64_t)after.tv_sec * 1000000000 + after.tv_nsec + 1999000000);
}
END_TEST

START_TEST(cache_clock_ages_with_every_test_clock_move)
{
	clock_use_test(1000);
	int64_t a = clock_cache_ms();
	ck_assert_int_eq(clock_advance(60), ERR_OK);
	ck_assert_int_eq(clock_set(1090), ERR_OK);
	int64_t b = clock_cache_ms();
	/* 90 s of moves, plus the little real time this took. */
	ck_assert_int_ge(b - a, 90000);
	ck_assert_int_lt(b - a, 90000 + 10000);
	/* A refused move does not count; a jump to the end saturates. */
	ck_assert_int_eq(clock_set(1000), ERR_INVALID_STATE);
	ck_assert_int_lt(clock_cache_ms() - b, 10000);
	ck_assert_int_eq(clock_set(INT64_MAX - 5), ERR_OK);
	ck_assert_int_gt(clock_cache_ms(), b);
}
END_TEST

START_TEST(json_forms_of_a_time)
{
	json_t *j = clock_json(1795303727);
	ck_assert_str_eq(json_string_value(j), "2026-11-21T23:28:47Z");
	json_decref(j);
	j = clock_json(0); /* the epoch is a time like any other here */
	ck_assert_str_eq(json_string_value(j), "1970-01-01T00:00:00Z");
	json_decref(j);
	j = clock_json_or_null(1795303727);
	ck_assert_str_eq(json_string_value(j), "2026-11-21T23:28:47Z");
	json_decref(j);
	ck_assert(json_is_null(clock_json_or_null(0))); /* "never" */
}
END_TEST

static const struct {
	int64_t t;
	const char *text;
} formats[] = {
	{0, "1970-01-01T00:00:00Z"},
	{-1, "1969-12-31T23:59:59Z"},
	{951782400, "2000-02-29T00:00:00Z"},
	{1709208000, "2024-02-29T12:00:00Z"},
	{1795303727, "2026-11-21T23:28:47Z"},
	{253402300799, "9999-12-31T23:59:59Z"},
};

START_TEST(format_and_parse_round_trip)
{
	char buf[32];
	int64_t back = 0;
	ck_assert_str_eq(clock_format(formats[_i].t, buf, sizeof buf), formats[_i].text);
	ck_assert_int_eq(clock_parse(buf, &back), ERR_OK);
	ck_assert_int_eq(back, formats[_i].t);
}
END_TEST

START_TEST(format_into_a_too_small_buffer_writes_empty)
{
	char buf[20];
	memset(buf, 'x', sizeof buf);
	ck_assert_str_eq(clock_format(1795303727, buf, sizeof buf), "");
	char ok[21];
	ck_assert_str_eq(clock_format(1795303727, ok, sizeof ok), "2026-11-21T23:28:47Z");
}
END_TEST

static const struct {
	const char *text;
	int64_t t;
} accepted[] = {
	{"2026-11-21T23:28:47Z", 1795303727},
	{"2026-11-21t23:28:47z", 1795303727},
	{"2026-11-21T23:28:47.5Z", 1795303727},
	{"2026-11-21T23:28:47.123456789Z", 1795303727},
	{"2026-11-21T23:28:47+00:00", 1795303727},
	{"2026-11-21T23:28:47-00:00", 1795303727},
	{"2026-11-22T04:58:47+05:30", 1795303727},
	{"2026-11-21T18:28:47-05:00", 1795303727},
	{"2026-11-22T04:58:47.999+05:30", 1795303727},
	{"2026-11-21T23:28:60Z", 1795303739}, /* leap second read as :59 */
	{"2024-02-29T12:00:00Z", 1709208000},
	{"2000-02-29T00:00:00Z", 951782400},
	{"1970-01-01T00:00:00Z", 0},
	{"1970-01-01T05:30:00+05:30", 0},
};

START_TEST(parse_accepts_rfc3339)
{
	int64_t t = -42;
	ck_assert_msg(clock_parse(accepted[_i].text, &t) == ERR_OK, "rejected %s", accepted[_i].text);
	ck_assert_int_eq(t, accepted[_i].t);
}
END_TEST

static const char *const rejected[] = {
	"",
	"2026",
	"2026-11-21",
	"2026-11-21T23:28:47",		/* missing Z */
	"2026-11-21T23:28:47Zjunk",	/* trailing junk */
	"2026-11-21T23:28:47Z ",
	"2026-11-21T23:28:47+05:30x",
	"2026-11-21T23:28:47+0530",	/* offset without colon */
	"2026-11-21T23:28:47+05",
	"2026-11-21T23:28:47+24:00",
	"2026-11-21T23:28:47+05:60",
	"2026-11-21T23:28:47.Z",	/* empty fraction */
	"2026-11-21T23:28:47,5Z",
	"2023-02-29T00:00:00Z",		/* not a leap year */
	"1900-02-29T00:00:00Z",		/* century, not a leap year */
	"2026-13-01T00:00:00Z",		/* month 13 */
	"2026-00-01T00:00:00Z",
	"2026-04-31T00:00:00Z",
	"2026-01-32T00:00:00Z",
	"2026-01-00T00:00:00Z",
	"2026-01-01T24:00:00Z",
	"2026-01-01T00:60:00Z",
	"2026-01-01T00:00:61Z",
	"2026-1-01T00:00:00Z",
	"2026-01-01T0a:00:00Z",
	"2026/01/01T00:00:00Z",
	"2026-01-01X00:00:00Z",
	"now",
};

START_TEST(parse_rejects_malformed)
{
	int64_t t = -42;
	ck_assert_msg(clock_parse(rejected[_i], &t) == ERR_INVALID_PARAMETER, "accepted \"%s\"",
		      rejected[_i]);
	ck_assert_int_eq(t, -42);
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *clock_suite(void)
{
	Suite *s = suite_create("clock");
	TCase *tc = tcase_create("test clock");
	tcase_add_test(tc, real_clock_refuses_set_and_advance);
	tcase_add_test(tc, test_clock_starts_where_told_and_stays);
	tcase_add_test(tc, test_clock_set_moves_forward_only);
	tcase_add_test(tc, test_clock_advance_adds_seconds);
	tcase_add_test(tc, test_clock_advance_never_backwards_or_past_the_end);
	tcase_add_test(tc, mono_clock_does_not_follow_test_clock);
	tcase_add_test(tc, deadline_is_ms_from_now_normalised);
	tcase_add_test(tc, cache_clock_ages_with_every_test_clock_move);
	suite_add_tcase(s, tc);

	tc = tcase_create("rfc3339");
	tcase_add_loop_test(tc, format_and_parse_round_trip, 0, N(formats));
	tcase_add_test(tc, format_into_a_too_small_buffer_writes_empty);
	tcase_add_test(tc, json_forms_of_a_time);
	tcase_add_loop_test(tc, parse_accepts_rfc3339, 0, N(accepted));
	tcase_add_loop_test(tc, parse_rejects_malformed, 0, N(rejected));
	suite_add_tcase(s, tc);
	return s;
}

int main(void) { return unit_run(clock_suite()); }
