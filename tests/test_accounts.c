/*
 * test_accounts.c - the accounts area's input checks (accounts/validate.c)
 * and its country setting: email trimming, normalisation and form, phone
 * numbers, language tags, PINs, display names, and the sold-country list;
 * and what a replaced password does (acct_password_replaced).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "accounts/accounts_int.h"
#include "core/config.h"
#include "tests/unit.h"

#define N_ROWS(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ---- email ---- */

static const struct {
	const char *in, *email, *norm;
} email_ok[] = {
	{"ann@example.com", "ann@example.com", "ann@example.com"},
	{"  Ann.Lee@Example.COM \t\n", "Ann.Lee@Example.COM", "ann.lee@example.com"},
	{"a+tag@sub.example.co.uk", "a+tag@sub.example.co.uk", "a+tag@sub.example.co.uk"},
	{"o'brien@x-y.example", "o'brien@x-y.example", "o'brien@x-y.example"},
	{"jos\xc3\xa9@caf\xc3\xa9.example", "jos\xc3\xa9@caf\xc3\xa9.example", "jos\xc3\xa9@caf\xc3\xa9.example"},
};

START_TEST(email_valid_is_trimmed_and_lowercased)
{
	char email[ACCT_EMAIL_MAX + 1], norm[ACCT_EMAIL_MAX + 1];
	ck_assert_ptr_null(acct_email_parse(email_ok[_i].in, email, norm));
	ck_assert_str_eq(email, email_ok[_i].email);
	ck_assert_str_eq(norm, email_ok[_i].norm);
}
END_TEST

static const char *const email_bad[] = {
	"",
	"   ",
	"plain",
	"@example.com",
	"ann@",
	"ann@example",
	"ann@@example.com",
	"ann@b@example.com",
	"ann lee@example.com",
	"ann@exa mple.com",
	"ann\t@example.com",
	"ann@example..com",
	"ann@.example.com",
	"ann@example.com.",
	"ann@-example.com",
	"ann@example-.com",
	"ann@example.c",
	".ann@example.com",
	"ann.@example.com",
	"an..n@example.com",
	"<ann>@example.com",
	"ann@[127.0.0.1]",
	"\"ann\"@example.com",
	"ann,bob@example.com",
	"ann@exa_mple.com",
	"ann\x7f@example.com",
	"ann\x01@example.com",
};

START_TEST(email_malformed_is_invalid_format)
{
	char email[ACCT_EMAIL_MAX + 1] = "untouched", norm[ACCT_EMAIL_MAX + 1];
	const char *code = acct_email_parse(email_bad[_i], email, norm);
	ck_assert_msg(code && strcmp(code, "invalid_format") == 0, "'%s' gave %s", email_bad[_i],
		      code ? code : "valid");
	ck_assert_str_eq(email, "untouched");
}
END_TEST

/* An address of `n` bytes: a 64-byte local part and labels of 60 bytes. */
static char *email_of_length(size_t n)
{
	char *s = malloc(n + 1);
	memset(s, 'a', 64);
	s[64] = '@';
	for (size_t i = 65; i < n; i++)
		s[i] = (i - 65) % 61 == 60 ? '.' : 'b';
	memcpy(s + n - 4, ".com", 4);
	s[n] = '\0';
	return s;
}

START_TEST(email_length_limit_is_254_bytes)
{
	char email[ACCT_EMAIL_MAX + 1], norm[ACCT_EMAIL_MAX + 1];
	char *max = email_of_length(254), *over = email_of_length(255);
	ck_assert_ptr_null(acct_email_parse(max, email, norm));
	ck_assert_uint_eq(strlen(email), 254);
	ck_assert_str_eq(acct_email_parse(over, email, norm), "too_long");
	/* Surrounding white space does not count. */
	char padded[300];
	snprintf(padded, sizeof padded, "   %s   ", max);
	ck_assert_ptr_null(acct_email_parse(padded, email, norm));
	/* A local part over 64 bytes is not an address. */
	char long_local[80];
	memset(long_local, 'x', 65);
	memcpy(long_local + 65, "@example.com", 13);
	ck_assert_str_eq(acct_email_parse(long_local, email, norm), "invalid_format");
	free(max);
	free(over);
}
END_TEST

START_TEST(email_normalize_for_lookup)
{
	char norm[ACCT_EMAIL_MAX + 1];
	ck_assert(acct_email_normalize("  Ann@Example.COM ", norm));
	ck_assert_str_eq(norm, "ann@example.com");
	/* Any text is looked up (and simply not found); only empty and overlong are refused. */
	ck_assert(acct_email_normalize("Not An Address", norm));
	ck_assert_str_eq(norm, "not an address");
	ck_assert(!acct_email_normalize(" \t ", norm));
	char *over = email_of_length(255);
	ck_assert(!acct_email_normalize(over, norm));
	free(over);
}
END_TEST

/* ---- phone, language, country, PIN ---- */

static const struct {
	const char *s;
	bool ok;
} phone_rows[] = {
	{"+14155550123", true}, {"+12345678", true},	     {"+123456789012345", true},
	{"+1234567", false},	{"+1234567890123456", false}, {"14155550123", false},
	{"+04155550123", false}, {"+1 415 555 0123", false},  {"+1-415-555-0123", false},
	{"+", false},		{"", false},		      {"++14155550123", false},
};

START_TEST(phone_is_e164)
{
	ck_assert_msg(acct_phone_valid(phone_rows[_i].s) == phone_rows[_i].ok, "'%s'", phone_rows[_i].s);
}
END_TEST

static const struct {
	const char *in, *out; /* out NULL: invalid */
} language_rows[] = {
	{"en", "en"},	    {"EN", "en"},	  {"fil", "fil"},     {"pt-BR", "pt-BR"},
	{"pt-br", "pt-BR"}, {"es-419", "es-419"}, {"e", NULL},	      {"engl", NULL},
	{"en-", NULL},	    {"en-B", NULL},	  {"en-BRA", NULL},   {"en_US", NULL},
	{"en-41", NULL},    {"", NULL},		  {"12", NULL},	      {"en-US-x", NULL},
};

START_TEST(language_tag_is_canonicalised)
{
	char out[ACCT_LANGUAGE_MAX + 1] = "";
	bool ok = acct_language_parse(language_rows[_i].in, out);
	if (language_rows[_i].out) {
		ck_assert_msg(ok, "'%s' refused", language_rows[_i].in);
		ck_assert_str_eq(out, language_rows[_i].out);
	} else {
		ck_assert_msg(!ok, "'%s' accepted", language_rows[_i].in);
	}
}
END_TEST

START_TEST(country_form_is_upper_case_alpha_2)
{
	ck_assert(acct_country_form_valid("US"));
	ck_assert(acct_country_form_valid("ZZ"));
	ck_assert(!acct_country_form_valid("us"));
	ck_assert(!acct_country_form_valid("Us"));
	ck_assert(!acct_country_form_valid("USA"));
	ck_assert(!acct_country_form_valid("U"));
	ck_assert(!acct_country_form_valid("U1"));
	ck_assert(!acct_country_form_valid(""));
}
END_TEST

START_TEST(country_supported_follows_config)
{
	struct config cfg;
	config_defaults(&cfg);
	cfg.countries = "US, gb,DE";
	ck_assert_int_eq(acct_init(&cfg), ERR_OK);
	ck_assert(acct_country_supported("US"));
	ck_assert(acct_country_supported("GB"));
	ck_assert(acct_country_supported("DE"));
	ck_assert(!acct_country_supported("FR"));
	ck_assert(!acct_country_supported("us"));
	cfg.countries = "US,USA";
	ck_assert_int_eq(acct_init(&cfg), ERR_INVALID_PARAMETER);
	cfg.countries = "US,1A";
	ck_assert_int_eq(acct_init(&cfg), ERR_INVALID_PARAMETER);
}
END_TEST

START_TEST(pin_is_four_digits)
{
	ck_assert(acct_pin_valid("0000"));
	ck_assert(acct_pin_valid("1234"));
	ck_assert(!acct_pin_valid("123"));
	ck_assert(!acct_pin_valid("12345"));
	ck_assert(!acct_pin_valid("12a4"));
	ck_assert(!acct_pin_valid(" 1234"));
	ck_assert(!acct_pin_valid(""));
}
END_TEST

/* ---- names ---- */

START_TEST(name_trimmed_counted_in_characters)
{
	char out[ACCT_PROFILE_NAME_BYTES + 1];
	ck_assert_ptr_null(acct_name_parse("  Kids room ", 50, 200, out, sizeof out));
	ck_assert_str_eq(out, "Kids room");
	/* 50 two-byte characters fit; 51 do not. */
	char s[128];
	for (int i = 0; i < 51; i++)
		memcpy(s + 2 * i, "\xc3\xa9", 2);
	s[102] = '\0';
	ck_assert_str_eq(acct_name_parse(s, 50, 200, out, sizeof out), "too_long");
	s[100] = '\0';
	ck_assert_ptr_null(acct_name_parse(s, 50, 200, out, sizeof out));
	ck_assert_str_eq(acct_name_parse("   ", 50, 200, out, sizeof out), "too_short");
	ck_assert_str_eq(acct_name_parse("a\nb", 50, 200, out, sizeof out), "invalid_characters");
	ck_assert_str_eq(acct_name_parse("a\xc2\x85z", 50, 200, out, sizeof out), "invalid_characters");
	ck_assert_str_eq(acct_name_parse("abcdef", 50, 5, out, sizeof out), "too_long");
}
END_TEST

START_TEST(utf8_prefix_never_splits_a_character)
{
	char out[16];
	acct_utf8_copy_prefix("h\xc3\xa9llo", 2, out, sizeof out);
	ck_assert_str_eq(out, "h\xc3\xa9");
	acct_utf8_copy_prefix("abc", 10, out, sizeof out);
	ck_assert_str_eq(out, "abc");
	/* The buffer is the limit: 4 bytes hold "a" and one 2-byte character, not half of the next. */
	acct_utf8_copy_prefix("a\xc3\xa9\xc3\xa9", 10, out, 4);
	ck_assert_str_eq(out, "a\xc3\xa9");
	acct_lower("MiXeD@Case.COM", out, sizeof out);
	ck_assert_str_eq(out, "mixed@case.com");
}
END_TEST

/* ---- a replaced password ---- */

struct replaced_tx {
	const char *id;
	const char *keep_session_id;
	bool by_reset;
};

static enum err replaced_fn(struct db *db, void *arg)
{
	const struct replaced_tx *r = arg;
	return acct_password_replaced(db, r->id, "owner@example.com", r->keep_session_id, r->by_reset);
}

/* Two live sessions, ses_kept and ses_other, of the database's only account. */
static void seed_two_sessions(struct db *db)
{
	struct db_stmt *st = NULL;
	ck_assert_int_eq(db_prepare(db,
				    "INSERT INTO sessions (id, account_id, created_at, last_used_at, expires_at)"
				    " SELECT s.id, a.id, 1, 1, 4000000000 FROM accounts a,"
				    " (SELECT 'ses_kept' AS id UNION ALL SELECT 'ses_other') s",
				    &st),
			 ERR_OK);
	ck_assert_int_eq(db_step_done(st), ERR_OK);
	db_done(st);
}

/* A change (keeping the caller's session) and a reset (keeping none) do the
 * same after-effects and say which it was: their own event and session
 * revoke reason, one email template with its "how". */
START_TEST(password_replaced_says_change_or_reset)
{
	struct unit_db u;
	char id[IDS_MAX];
	unit_db_open_migrated(&u);
	unit_seed_account(u.db, "US", id);
	seed_two_sessions(u.db);
	struct replaced_tx change = {id, "ses_kept", false}, reset = {id, NULL, true};
	ck_assert_int_eq(db_transaction(u.db, replaced_fn, &change), ERR_OK);
	ck_assert_int_eq(unit_query_int(u.db, "SELECT count(*) FROM sessions WHERE id = 'ses_other'"
					      " AND revoke_reason = 'password_changed'"),
			 1);
	ck_assert_int_eq(unit_query_int(u.db, "SELECT count(*) FROM sessions WHERE revoked_at IS NULL"), 1);
	ck_assert_int_eq(db_transaction(u.db, replaced_fn, &reset), ERR_OK);
	ck_assert_int_eq(unit_query_int(u.db, "SELECT count(*) FROM sessions WHERE id = 'ses_kept'"
					      " AND revoke_reason = 'password_reset'"),
			 1);
	ck_assert_int_eq(unit_query_int(u.db, "SELECT count(*) FROM events WHERE type = 'account.password_changed'"), 1);
	ck_assert_int_eq(unit_query_int(u.db, "SELECT count(*) FROM events WHERE type = 'account.password_reset'"), 1);
	ck_assert_int_eq(unit_query_int(u.db, "SELECT count(*) FROM notifications WHERE template = 'password_changed'"
					      " AND recipient = 'owner@example.com'"),
			 2);
	ck_assert_int_eq(unit_query_int(u.db, "SELECT count(*) FROM notifications WHERE json_extract(payload, '$.how')"
					      " = 'changed'"),
			 1);
	ck_assert_int_eq(unit_query_int(u.db, "SELECT count(*) FROM notifications WHERE json_extract(payload, '$.how')"
					      " = 'reset'"),
			 1);
	unit_db_close(&u);
}
END_TEST

static Suite *accounts_suite(void)
{
	Suite *s = suite_create("accounts");
	TCase *tc = tcase_create("email");
	tcase_add_loop_test(tc, email_valid_is_trimmed_and_lowercased, 0, N_ROWS(email_ok));
	tcase_add_loop_test(tc, email_malformed_is_invalid_format, 0, N_ROWS(email_bad));
	tcase_add_test(tc, email_length_limit_is_254_bytes);
	tcase_add_test(tc, email_normalize_for_lookup);
	suite_add_tcase(s, tc);

	tc = tcase_create("fields");
	tcase_add_loop_test(tc, phone_is_e164, 0, N_ROWS(phone_rows));
	tcase_add_loop_test(tc, language_tag_is_canonicalised, 0, N_ROWS(language_rows));
	tcase_add_test(tc, country_form_is_upper_case_alpha_2);
	tcase_add_test(tc, country_supported_follows_config);
	tcase_add_test(tc, pin_is_four_digits);
	tcase_add_test(tc, name_trimmed_counted_in_characters);
	tcase_add_test(tc, utf8_prefix_never_splits_a_character);
	suite_add_tcase(s, tc);

	tc = tcase_create("password");
	tcase_add_test(tc, password_replaced_says_change_or_reset);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(accounts_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
