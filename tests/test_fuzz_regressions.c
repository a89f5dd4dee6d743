/*
 * The fuzz targets' inputs, replayed under gcc with ASan and UBSan.
 *
 * Every file in fuzz/regressions/<target>/ (inputs that once crashed a
 * target or broke one of its properties, saved by scripts/fuzz) and every
 * seed in fuzz/corpus/<target>/ goes through the target's own entry
 * function, fuzz_<target>() from fuzz/fuzz_<target>.c, which is included
 * here.  A target aborts on a broken property, so a bug that comes back
 * fails this suite in scripts/test without clang or libFuzzer.
 *
 * The bugs the fuzzers found are also pinned by name below, and so are the
 * form decoder's rules, which moved from server/server.c to server/form.c.
 */
#define FUZZ_NO_MAIN
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz_clock_parse.c"
#include "fuzz/fuzz_form.c"
#include "fuzz/fuzz_jsonv.c"
#include "fuzz/fuzz_money_parse.c"
#include "fuzz/fuzz_netaddr.c"
#include "fuzz/fuzz_paseto.c"
#include "fuzz/fuzz_router.c"
#include "fuzz/fuzz_signup.c"
#include "fuzz/fuzz_profiles.c"
#include "fuzz/fuzz_subscription.c"
#include "fuzz/fuzz_payment_methods.c"
#include "fuzz/fuzz_playback.c"
#include "fuzz/fuzz_staff_create.c"
#include "fuzz/fuzz_user_code.c"
#include "fuzz/fuzz_catalog_import.c"
#include "tests/unit.h"

#define FUZZ_DIR HEARTH_TEST_DATA "/../../fuzz"

static const struct {
	const char *name;
	int (*fn)(const uint8_t *data, size_t size);
} targets[] = {
	{"jsonv", fuzz_jsonv},		 {"router", fuzz_router},
	{"form", fuzz_form},		 {"paseto", fuzz_paseto},
	{"clock_parse", fuzz_clock_parse}, {"netaddr", fuzz_netaddr},
	{"money_parse", fuzz_money_parse},
	{"signup", fuzz_signup},	 {"profiles", fuzz_profiles},
	{"subscription", fuzz_subscription}, {"payment_methods", fuzz_payment_methods},
	{"playback", fuzz_playback},	 {"staff_create", fuzz_staff_create},
	{"user_code", fuzz_user_code},	 {"catalog_import", fuzz_catalog_import},
};

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static int not_hidden(const struct dirent *e) { return e->d_name[0] != '.'; }

/* Read a whole file into a malloc'd buffer. */
static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t cap = 0;
	*len = 0;
	ck_assert_msg(f != NULL, "cannot open %s", path);
	for (;;) {
		if (*len == cap) {
			cap = cap ? cap * 2 : 4096;
			buf = realloc(buf, cap);
			ck_assert_ptr_nonnull(buf);
		}
		size_t n = fread(buf + *len, 1, cap - *len, f);
		*len += n;
		if (n == 0)
			break;
	}
	ck_assert_msg(!ferror(f), "cannot read %s", path);
	fclose(f);
	return buf;
}

/* Feed every file of FUZZ_DIR/<kind>/<target>/ to the target; how many. */
static int replay_dir(const char *kind, int t)
{
	char dir[512], path[1024];
	struct dirent **names = NULL;
	int n = snprintf(dir, sizeof dir, "%s/%s/%s", FUZZ_DIR, kind, targets[t].name);
	ck_assert(n > 0 && (size_t)n < sizeof dir);
	int count = scandir(dir, &names, not_hidden, alphasort);
	if (count < 0)
		return 0; /* no such directory: nothing saved yet */
	for (int i = 0; i < count; i++) {
		size_t len;
		n = snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
		ck_assert(n > 0 && (size_t)n < sizeof path);
		uint8_t *data = slurp(path, &len);
		/* Shown only when the replay aborts (ctest --output-on-failure). */
		fprintf(stderr, "fuzz_%s <- %s/%s/%s\n", targets[t].name, kind, targets[t].name,
			names[i]->d_name);
		ck_assert_int_eq(targets[t].fn(data, len), 0);
		free(data);
		free(names[i]);
	}
	free(names);
	return count;
}

START_TEST(saved_crash_inputs_no_longer_fail)
{
	replay_dir("regressions", _i);
}
END_TEST

START_TEST(seed_corpus_passes_every_property)
{
	int n = replay_dir("corpus", _i);
	ck_assert_msg(n > 0, "fuzz/corpus/%s/ has no seeds", targets[_i].name);
}
END_TEST

/* ---- bugs the fuzzers found, by name ---- */

/* fuzz_form: a raw NUL byte cut a name or value short ("a\0b=1" read as "a"),
 * so bytes of the body were silently dropped, while %00 was refused. */
START_TEST(form_refuses_a_raw_nul_byte)
{
	static const char *const bodies[] = {"user_code=AB\0CD", "client\0id=tv", "a=1&\0=2"};
	static const size_t lens[] = {15, 12, 7};
	char *names[4], *values[4];
	int n = -1;
	for (int i = 0; i < N(bodies); i++) {
		ck_assert_msg(!form_parse(bodies[i], lens[i], names, values, 4, &n), "accepted body %d",
			      i);
		ck_assert_int_eq(n, 0);
	}
}
END_TEST

/* fuzz_clock_parse: "0026-11-21T23:28:47Z" parsed, but clock_format wrote
 * "26-11-21T23:28:47Z", which is not RFC 3339 and does not parse back. */
START_TEST(clock_format_writes_four_digit_years)
{
	char buf[32];
	int64_t t = 0, back = 0;
	ck_assert_int_eq(clock_parse("0026-11-21T23:28:47Z", &t), ERR_OK);
	ck_assert_str_eq(clock_format(t, buf, sizeof buf), "0026-11-21T23:28:47Z");
	ck_assert_int_eq(clock_parse(buf, &back), ERR_OK);
	ck_assert_int_eq(back, t);
	ck_assert_int_eq(clock_parse("0000-01-01T00:00:00Z", &t), ERR_OK);
	ck_assert_str_eq(clock_format(t, buf, sizeof buf), "0000-01-01T00:00:00Z");
}
END_TEST

/* fuzz_clock_parse: an offset could carry a time out of the years RFC 3339
 * can write ("0000-01-01T00:00:00+00:01" is in year -1). */
START_TEST(clock_parse_refuses_instants_outside_years_0_to_9999)
{
	static const char *const outside[] = {"0000-01-01T00:00:00+00:01",
					      "9999-12-31T23:59:59-00:01",
					      "9999-12-31T23:00:00-23:59"};
	int64_t t = -42;
	for (int i = 0; i < N(outside); i++) {
		ck_assert_msg(clock_parse(outside[i], &t) == ERR_INVALID_PARAMETER, "accepted %s",
			      outside[i]);
		ck_assert_int_eq(t, -42);
	}
	ck_assert_int_eq(clock_parse("0000-01-01T00:00:00-00:00", &t), ERR_OK);
	ck_assert_int_eq(t, -62167219200);
	ck_assert_int_eq(clock_parse("9999-12-31T23:59:59+00:00", &t), ERR_OK);
	ck_assert_int_eq(t, 253402300799);
	ck_assert_int_eq(clock_parse("0001-01-01T00:30:00+00:30", &t), ERR_OK);
	ck_assert_int_eq(t, -62135596800);
}
END_TEST

/* fuzz_signup: an email with a C1 control character (U+0085, NEL) was
 * accepted at sign-up, though emails hold no control characters; staff
 * emails had the same gap. */
START_TEST(emails_refuse_c1_control_characters)
{
	static const char *const bad[] = {"o'bri\xc2\x85n@example.com", "a@exa\xc2\x9bmple.com",
					  "\xc2\x80x@example.com"};
	char email[ACCT_EMAIL_MAX + 1], norm[ACCT_EMAIL_MAX + 1];
	char staff[ADMIN_EMAIL_MAX + 1], staff_norm[ADMIN_EMAIL_MAX + 1];
	for (int i = 0; i < N(bad); i++) {
		const char *code = acct_email_parse(bad[i], email, norm);
		ck_assert_msg(code && strcmp(code, "invalid_format") == 0, "accepted %s", bad[i]);
		ck_assert_msg(!admin_email_parse(bad[i], staff, staff_norm), "staff accepted %s", bad[i]);
	}
	/* Other non-ASCII stays welcome: U+00E9 and U+00A0's neighbours. */
	ck_assert_ptr_null(acct_email_parse("\xc3\xa9lodie@example.com", email, norm));
	ck_assert_ptr_null(acct_email_parse("a\xc2\xa9@example.com", email, norm));
	ck_assert(admin_email_parse("\xc3\xa9lodie@example.com", staff, staff_norm));
}
END_TEST

/* ---- the form decoder's rules, as server/server.c had them ---- */

static const struct {
	const char *body;
	int n;			/* pairs, or -1 when refused */
	const char *pairs[6];	/* name, value, ... */
} forms[] = {
	{"grant_type=refresh_token&refresh_token=abc", 2,
	 {"grant_type", "refresh_token", "refresh_token", "abc"}},
	{"scope=openid+profile", 1, {"scope", "openid profile"}},
	{"g=urn%3Aietf%3aparams", 1, {"g", "urn:ietf:params"}},
	{"name=%C3%A9", 1, {"name", "\xc3\xa9"}},
	{"a=b=c", 1, {"a", "b=c"}},
	{"a=1&&b=", 2, {"a", "1", "b", ""}},
	{"=x", 1, {"", "x"}},
	{"a=1&", 1, {"a", "1"}},
	{"&", 0, {NULL}},
	{"", 0, {NULL}},
	{"a%2Bb=%2b", 1, {"a+b", "+"}},
	{"a=1&a=2", -1, {NULL}},	/* repeated (RFC 6749 3.1) */
	{"a=1&%61=2", -1, {NULL}},	/* repeated once decoded */
	{"a=%00", -1, {NULL}},
	{"a=%4", -1, {NULL}},
	{"a=%", -1, {NULL}},
	{"a=%G0", -1, {NULL}},
	{"a=%0g", -1, {NULL}},
	{"a=1&novalue", -1, {NULL}},
	{"a=1&b=2&c=3&d=4&e=5", -1, {NULL}}, /* more than the 4 pairs allowed here */
};

START_TEST(form_parse_keeps_the_server_rules)
{
	char *names[4], *values[4];
	int n = -1;
	bool ok = form_parse(forms[_i].body, strlen(forms[_i].body), names, values, 4, &n);
	if (forms[_i].n < 0) {
		ck_assert_msg(!ok, "accepted \"%s\"", forms[_i].body);
		ck_assert_int_eq(n, 0);
		return;
	}
	ck_assert_msg(ok, "refused \"%s\"", forms[_i].body);
	ck_assert_int_eq(n, forms[_i].n);
	for (int i = 0; i < n; i++) {
		ck_assert_str_eq(names[i], forms[_i].pairs[2 * i]);
		ck_assert_str_eq(values[i], forms[_i].pairs[2 * i + 1]);
	}
	form_release(names, values, &n);
	ck_assert_int_eq(n, 0);
}
END_TEST

START_TEST(form_parse_takes_a_null_body_as_empty)
{
	char *names[1], *values[1];
	int n = -1;
	ck_assert(form_parse(NULL, 0, names, values, 1, &n));
	ck_assert_int_eq(n, 0);
}
END_TEST

static Suite *fuzz_regressions_suite(void)
{
	Suite *s = suite_create("fuzz_regressions");
	TCase *tc = tcase_create("replay");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, saved_crash_inputs_no_longer_fail, 0, N(targets));
	tcase_add_loop_test(tc, seed_corpus_passes_every_property, 0, N(targets));
	suite_add_tcase(s, tc);

	tc = tcase_create("found by fuzzing");
	tcase_add_test(tc, form_refuses_a_raw_nul_byte);
	tcase_add_test(tc, clock_format_writes_four_digit_years);
	tcase_add_test(tc, clock_parse_refuses_instants_outside_years_0_to_9999);
	tcase_add_test(tc, emails_refuse_c1_control_characters);
	suite_add_tcase(s, tc);

	tc = tcase_create("form rules");
	tcase_add_loop_test(tc, form_parse_keeps_the_server_rules, 0, N(forms));
	tcase_add_test(tc, form_parse_takes_a_null_body_as_empty);
	suite_add_tcase(s, tc);
	return s;
}

int main(void) { return unit_run(fuzz_regressions_suite()); }
