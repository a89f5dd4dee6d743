/*
 * The staff area without a server: role names and ranks, the invariants of
 * the role table (walked after registering every admin route in-process),
 * staff email parsing, and staff bootstrap rules on a scratch database.
 */
#include <check.h>
#include <sodium.h>
#include <string.h>

#include "admin/admin_int.h"
#include "core/migrate.h"
#include "tests/unit.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

START_TEST(roles_are_ranked_and_named)
{
	ck_assert_int_lt(ADMIN_ROLE_AGENT, ADMIN_ROLE_SUPERVISOR);
	ck_assert_int_lt(ADMIN_ROLE_SUPERVISOR, ADMIN_ROLE_ADMIN);
	static const char *const names[] = {"agent", "supervisor", "admin"};
	for (int r = ADMIN_ROLE_AGENT; r <= ADMIN_ROLE_ADMIN; r++) {
		ck_assert_str_eq(admin_role_name(r), names[r - 1]);
		ck_assert_int_eq(admin_role_parse(names[r - 1]), r);
	}
	ck_assert_int_eq(admin_role_parse("Admin"), ADMIN_ROLE_NONE);
	ck_assert_int_eq(admin_role_parse("none"), ADMIN_ROLE_NONE);
	ck_assert_int_eq(admin_role_parse(""), ADMIN_ROLE_NONE);
	ck_assert_int_eq(admin_role_parse(NULL), ADMIN_ROLE_NONE);
	ck_assert_str_eq(admin_role_name(7), "?");
}
END_TEST

/* Every mutating admin route needs a reason; reads never do; only staff
 * sign-in goes without a token; no route is registered twice. */
START_TEST(role_table_invariants)
{
	admin_http_register();
	size_t n = admin_route_count();
	ck_assert_uint_ge(n, 18);
	size_t open = 0;
	for (size_t i = 0; i < n; i++) {
		const struct admin_route_info *r = admin_route_at(i);
		ck_assert_int_eq(strncmp(r->pattern, "/admin/v1/", 10), 0);
		ck_assert_int_ge(r->min_role, ADMIN_ROLE_NONE);
		ck_assert_int_le(r->min_role, ADMIN_ROLE_ADMIN);
		bool own_session = strcmp(r->pattern, "/admin/v1/sessions") == 0 ||
				   strcmp(r->pattern, "/admin/v1/sessions/current") == 0;
		if (strcmp(r->method, "GET") == 0)
			ck_assert_msg(r->kind == ADMIN_READ, "GET %s is marked as a change", r->pattern);
		else if (!own_session)
			ck_assert_msg(r->kind == ADMIN_CHANGE, "%s %s changes state without a reason", r->method,
				      r->pattern);
		if (r->min_role == ADMIN_ROLE_NONE) {
			open++;
			ck_assert_str_eq(r->pattern, "/admin/v1/sessions");
		}
		for (size_t j = 0; j < i; j++) {
			const struct admin_route_info *o = admin_route_at(j);
			ck_assert_msg(strcmp(o->method, r->method) != 0 || strcmp(o->pattern, r->pattern) != 0,
				      "%s %s twice", r->method, r->pattern);
		}
	}
	ck_assert_uint_eq(open, 1);
	ck_assert_ptr_null(admin_route_at(n));
}
END_TEST

static const struct {
	const char *in, *email, *norm;
} emails[] = {
	{"ana@hearth.example", "ana@hearth.example", "ana@hearth.example"},
	{"  Ana.B@Hearth.Example\t", "Ana.B@Hearth.Example", "ana.b@hearth.example"},
	{"a+b@x.io", "a+b@x.io", "a+b@x.io"},
	{"no-at-sign", NULL, NULL},
	{"@hearth.example", NULL, NULL},
	{"ana@", NULL, NULL},
	{"ana@localhost", NULL, NULL},
	{"ana@@x.io", NULL, NULL},
	{"a na@x.io", NULL, NULL},
	{"ana@x.io.", NULL, NULL},
	{"<ana@x.io>", NULL, NULL},
	{"", NULL, NULL},
};

START_TEST(staff_emails_are_trimmed_and_lowercased)
{
	char email[ADMIN_EMAIL_MAX + 1], norm[ADMIN_EMAIL_MAX + 1];
	bool ok = admin_email_parse(emails[_i].in, email, norm);
	ck_assert_msg(ok == (emails[_i].email != NULL), "'%s'", emails[_i].in);
	if (ok) {
		ck_assert_str_eq(email, emails[_i].email);
		ck_assert_str_eq(norm, emails[_i].norm);
	}
}
END_TEST

START_TEST(bootstrap_only_without_an_active_admin_unless_forced)
{
	struct unit_db u;
	struct admin_staff s;
	unit_db_open(&u);
	ck_assert_int_eq(migrate_apply(u.db, NULL), ERR_OK);
	ck_assert_int_eq(admin_staff_bootstrap(u.db, "root@x.io", "Root", "$argon2id$fake", false, "first", &s), ERR_OK);
	ck_assert_int_eq(s.role, ADMIN_ROLE_ADMIN);
	ck_assert(s.active);
	ck_assert_int_eq(admin_staff_bootstrap(u.db, "two@x.io", "", "$argon2id$fake", false, "again", &s), ERR_CONFLICT);
	ck_assert_int_eq(admin_staff_bootstrap(u.db, "ROOT@x.io", "", "$argon2id$fake", true, "dup", &s), ERR_EMAIL_TAKEN);
	ck_assert_int_eq(admin_staff_bootstrap(u.db, "not an email", "", "$argon2id$fake", true, "bad", &s), ERR_VALIDATION);
	ck_assert_int_eq(admin_staff_bootstrap(u.db, "two@x.io", "", "$argon2id$fake", true, "forced", &s), ERR_OK);
	ck_assert_int_eq(unit_query_int(u.db, "SELECT count(*) FROM staff"), 2);
	ck_assert_int_eq(unit_query_int(u.db, "SELECT count(*) FROM audit_log WHERE staff_id = 'bootstrap'"), 2);
	ck_assert_int_eq(unit_query_int(u.db, "SELECT count(*) FROM audit_log WHERE action = 'staff.bootstrap_forced'"
					      " AND reason = 'forced'"), 1);
	/* The audit log refuses to be rewritten, even here. */
	ck_assert_int_ne(db_exec(u.db, "UPDATE audit_log SET reason = 'x'"), ERR_OK);
	ck_assert_int_ne(db_exec(u.db, "DELETE FROM audit_log"), ERR_OK);
	ck_assert_int_eq(unit_query_int(u.db, "SELECT count(*) FROM audit_log"), 2);
	unit_db_close(&u);
}
END_TEST

static Suite *admin_suite(void)
{
	Suite *s = suite_create("admin");
	TCase *tc = tcase_create("admin");
	tcase_add_test(tc, roles_are_ranked_and_named);
	tcase_add_test(tc, role_table_invariants);
	tcase_add_loop_test(tc, staff_emails_are_trimmed_and_lowercased, 0, N(emails));
	tcase_add_test(tc, bootstrap_only_without_an_active_admin_unless_forced);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	return unit_run(admin_suite());
}
