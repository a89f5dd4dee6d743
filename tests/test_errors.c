/* The error table: every row is well formed and the API codes stay stable. */
#include <check.h>
#include <stdbool.h>
#include <string.h>

#include "core/errors.h"
#include "tests/unit.h"

static bool is_code(const char *s)
{
	if (!s || !s[0])
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || *p == '_'))
			return false;
	return true;
}

START_TEST(every_row_has_a_unique_name)
{
	for (int i = 0; i < ERR__COUNT; i++) {
		const char *a = err_name((enum err)i);
		ck_assert_ptr_nonnull(a);
		ck_assert_msg(a[0] != '\0', "row %d has an empty name", i);
		for (int j = i + 1; j < ERR__COUNT; j++)
			ck_assert_msg(strcmp(a, err_name((enum err)j)) != 0, "rows %d and %d are both %s",
				      i, j, a);
	}
}
END_TEST

START_TEST(every_status_is_an_http_status)
{
	for (int i = 0; i < ERR__COUNT; i++) {
		int s = err_status((enum err)i);
		ck_assert_msg(s >= 200 && s <= 599, "%s has status %d", err_name((enum err)i), s);
	}
	ck_assert_int_eq(err_status(ERR_OK), 200);
	ck_assert_int_eq(err_status(ERR_NOT_FOUND), 404);
	ck_assert_int_eq(err_status(ERR_VALIDATION), 422);
	ck_assert_int_eq(err_status(ERR_DB_BUSY), 503);
}
END_TEST

START_TEST(every_code_is_lowercase_words)
{
	for (int i = 0; i < ERR__COUNT; i++) {
		const char *c = err_code((enum err)i);
		ck_assert_msg(is_code(c), "%s has code \"%s\"", err_name((enum err)i), c ? c : "(null)");
		const char *t = err_title((enum err)i);
		ck_assert_msg(t && t[0], "%s has no title", err_name((enum err)i));
	}
	ck_assert_str_eq(err_code(ERR_EMAIL_TAKEN), "email_taken");
	ck_assert_str_eq(err_code(ERR_VALIDATION), "validation_failed");
}
END_TEST

START_TEST(codes_are_shared_only_by_internal_rows)
{
	for (int i = 0; i < ERR__COUNT; i++) {
		for (int j = i + 1; j < ERR__COUNT; j++) {
			if (strcmp(err_code((enum err)i), err_code((enum err)j)) != 0)
				continue;
			ck_assert_msg(err_status((enum err)i) >= 500 && err_status((enum err)j) >= 500,
				      "%s and %s share code %s but are not both internal",
				      err_name((enum err)i), err_name((enum err)j), err_code((enum err)i));
		}
	}
}
END_TEST

START_TEST(internal_rows_have_a_generic_title)
{
	/* Internal rows share one code; their title must not leak which one it was. */
	static const enum err internal[] = {ERR_INTERNAL, ERR_DB, ERR_NOMEM, ERR_IO, ERR_CRYPTO};
	for (size_t i = 0; i < sizeof internal / sizeof internal[0]; i++) {
		ck_assert_str_eq(err_code(internal[i]), "internal_error");
		ck_assert_int_eq(err_status(internal[i]), 500);
		ck_assert_str_eq(err_title(internal[i]), err_title(ERR_INTERNAL));
	}
}
END_TEST

START_TEST(out_of_range_value_reads_as_internal_error)
{
	static const unsigned bad[] = {ERR__COUNT, ERR__COUNT + 1, 1000, 0xffffffffu};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		enum err e = (enum err)bad[i];
		ck_assert_str_eq(err_code(e), "internal_error");
		ck_assert_int_eq(err_status(e), 500);
		ck_assert_str_eq(err_name(e), "INTERNAL");
		ck_assert_str_eq(err_title(e), err_title(ERR_INTERNAL));
	}
}
END_TEST

static Suite *errors_suite(void)
{
	Suite *s = suite_create("errors");
	TCase *tc = tcase_create("table");
	tcase_add_test(tc, every_row_has_a_unique_name);
	tcase_add_test(tc, every_status_is_an_http_status);
	tcase_add_test(tc, every_code_is_lowercase_words);
	tcase_add_test(tc, codes_are_shared_only_by_internal_rows);
	tcase_add_test(tc, internal_rows_have_a_generic_title);
	tcase_add_test(tc, out_of_range_value_reads_as_internal_error);
	suite_add_tcase(s, tc);
	return s;
}

int main(void) { return unit_run(errors_suite()); }
