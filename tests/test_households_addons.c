/*
 * test_households_addons.c - the extra-member add-on households buys
 * through billing/billing.h: prorated first charge, renewal lines, removal
 * at the period end, plans without slots, declined charges.
 *
 * A JP premium subscription taken at T0 (2027-01-15T08:00:00Z) has the
 * period 15 Jan - 15 Feb: 31 days.  The JP ad-free extra member costs
 * 790 JPY (consumption tax 10 % included).  Bought 10 days in, 21 of 31
 * days remain: 790 x 21 / 31 = 535.16..., rounded to 535 JPY, of which tax
 * 535 - round(535 / 1.1) = 535 - 486 = 49 JPY.
 */
#include <check.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "billing/billing.h"
#include "billing/billing_int.h"
#include "core/clock.h"
#include "core/db.h"
#include "core/migrate.h"
#include "tests/unit.h"

#define N_ROWS(a) (sizeof(a) / sizeof((a)[0]))
#define DAY INT64_C(86400)
#define T0 INT64_C(1800000000)

static struct unit_db u;
static struct db *db; /* u.db */

static void setup(void)
{
	unit_db_open_migrated(&u);
	db = u.db;
	clock_use_test(T0);
	ck_assert_int_eq(bill_catalog_ensure(db, NULL), ERR_OK);
}

static void teardown(void)
{
	unit_db_close(&u);
	db = NULL;
}

static int64_t q_int(const char *sql, const char *arg)
{
	struct db_stmt *st = NULL;
	int64_t v = -1;
	ck_assert_int_eq(db_prepare(db, sql, &st), ERR_OK);
	if (arg)
		db_bind_text(st, 1, arg);
	if (db_step_row(st) == ERR_OK)
		v = db_column_int64(st, 0);
	db_done(st);
	return v;
}

static void subscribed(const char *country, const char *plan, char *acc, struct bill_subscription *sub)
{
	struct bill_payment_method pm;
	struct bill_payment_outcome pay;
	unit_seed_account(db, country, acc);
	ck_assert_int_eq(bill_pm_attach(db, acc, "pm_card_visa", &pm), ERR_OK);
	struct bill_subscribe_params p = {acc, country, plan, NULL};
	ck_assert_int_eq(bill_subscribe(db, &p, sub, &pay), ERR_OK);
}

/* bill_addon_add in a transaction of its own, committed whatever it says. */
static enum err add(const char *acc, struct bill_addon *a, struct bill_payment_outcome *pay)
{
	ck_assert_int_eq(db_begin(db), ERR_OK);
	enum err e = bill_addon_add(db, acc, "extra_member", "xm_test", a, pay);
	ck_assert_int_eq(db_commit(db), ERR_OK);
	return e;
}

START_TEST(an_addon_bought_mid_period_is_prorated_and_charged_at_once)
{
	char acc[IDS_MAX];
	struct bill_subscription sub;
	struct bill_addon a;
	struct bill_payment_outcome pay;
	subscribed("JP", "premium", acc, &sub);
	ck_assert_int_eq(sub.current_period_end - sub.current_period_start, 31 * DAY);
	clock_advance(10 * DAY);
	ck_assert_int_eq(add(acc, &a, &pay), ERR_OK);
	ck_assert(pay.succeeded);
	ck_assert_int_eq(a.price.amount, 790);
	ck_assert_str_eq(a.price.currency, "JPY");
	ck_assert_int_eq(q_int("SELECT amount FROM invoice_lines WHERE invoice_id = ?1 AND kind = 'addon'", a.invoice_id), 535);
	ck_assert_int_eq(q_int("SELECT tax_amount FROM invoice_lines WHERE invoice_id = ?1 AND kind = 'addon'", a.invoice_id), 49);
	ck_assert_int_eq(q_int("SELECT total FROM invoices WHERE id = ?1 AND status = 'paid'"
			       " AND billing_reason = 'subscription_update'", a.invoice_id), 535);
	ck_assert_int_eq(q_int("SELECT COUNT(*) FROM events WHERE type = 'addon.added'", NULL), 1);
	struct bill_addon back;
	ck_assert_int_eq(bill_addon_get(db, acc, a.id, &back), ERR_OK);
	ck_assert_str_eq(back.reference, "xm_test");
	ck_assert_int_eq(back.ends_at, 0);
}
END_TEST

START_TEST(addons_renew_with_the_subscription_until_removed)
{
	char acc[IDS_MAX];
	struct bill_subscription sub;
	struct bill_addon a;
	struct bill_payment_outcome pay;
	struct inv_draft d;
	int64_t ends_at = 0, start = 0, end = 0;
	subscribed("US", "premium", acc, &sub);
	ck_assert_int_eq(add(acc, &a, &pay), ERR_OK);
	/* The next period's renewal bills the whole add-on price. */
	bill_period_bounds(sub.billing_anchor, 1, &start, &end);
	inv_draft_init(&d, acc, "subscription_cycle", sub.plan.code, &sub.price, start, end);
	ck_assert_int_eq(bill_addon_renewal_lines(db, &sub, &d, start, end), ERR_OK);
	ck_assert_uint_eq(d.nlines, 1);
	ck_assert_int_eq(d.lines[0].kind, BILL_LINE_ADDON);
	ck_assert_int_eq(d.lines[0].amount.amount, 899);
	/* Removed: it ends at the period end and the renewal leaves it out. */
	clock_advance(3 * DAY);
	ck_assert_int_eq(db_begin(db), ERR_OK);
	ck_assert_int_eq(bill_addon_remove(db, acc, a.id, &ends_at), ERR_OK);
	ck_assert_int_eq(db_commit(db), ERR_OK);
	ck_assert_int_eq(ends_at, sub.current_period_end);
	inv_draft_init(&d, acc, "subscription_cycle", sub.plan.code, &sub.price, start, end);
	ck_assert_int_eq(bill_addon_renewal_lines(db, &sub, &d, start, end), ERR_OK);
	ck_assert_uint_eq(d.nlines, 0);
	/* Removing again keeps the first end. */
	clock_advance(DAY);
	int64_t again = 0;
	ck_assert_int_eq(bill_addon_remove(db, acc, a.id, &again), ERR_OK);
	ck_assert_int_eq(again, ends_at);
	ck_assert_int_eq(bill_addon_remove(db, acc, "add_nope", &again), ERR_NOT_FOUND);
}
END_TEST

START_TEST(plans_without_slots_sell_no_addon_and_declines_buy_nothing)
{
	char acc[IDS_MAX], acc2[IDS_MAX];
	struct bill_subscription sub;
	struct bill_addon a;
	struct bill_payment_outcome pay;
	struct bill_payment_method pm;
	subscribed("US", "standard_with_ads", acc, &sub);
	ck_assert_int_eq(add(acc, &a, &pay), ERR_EXTRA_MEMBERS_NOT_IN_PLAN);
	ck_assert_int_eq(q_int("SELECT COUNT(*) FROM invoices WHERE account_id = ?1", acc), 1);
	/* A declined charge: the void invoice and the attempt stay, no add-on. */
	subscribed("US", "standard", acc2, &sub);
	ck_assert_int_eq(bill_pm_attach(db, acc2, "pm_card_declined", &pm), ERR_OK);
	ck_assert_int_eq(bill_pm_set_default(db, acc2, pm.id, &pm), ERR_OK);
	ck_assert_int_eq(add(acc2, &a, &pay), ERR_PAYMENT_FAILED);
	ck_assert(!pay.succeeded);
	ck_assert_str_eq(pay.failure_code, "card_declined");
	ck_assert_int_eq(q_int("SELECT COUNT(*) FROM invoices WHERE id = ?1 AND status = 'void'", pay.invoice_id), 1);
	ck_assert_int_eq(q_int("SELECT COUNT(*) FROM subscription_addons WHERE account_id = ?1", acc2), 0);
	/* No subscription at all. */
	ck_assert_int_eq(add("acc_00000000000000000000000000000", &a, &pay), ERR_NOT_FOUND);
}
END_TEST

static Suite *addons_suite(void)
{
	Suite *s = suite_create("households_addons");
	TCase *tc = tcase_create("addons");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, an_addon_bought_mid_period_is_prorated_and_charged_at_once);
	tcase_add_test(tc, addons_renew_with_the_subscription_until_removed);
	tcase_add_test(tc, plans_without_slots_sell_no_addon_and_declines_buy_nothing);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	SRunner *sr = srunner_create(addons_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
