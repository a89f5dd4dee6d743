/*
 * test_billing.c - the billing domain against a real database: period
 * arithmetic, proration tables in USD, JPY and KWD, tax, the transition
 * table, catalog validation, subscriptions, invoices and gapless invoice
 * numbers under concurrent subscribes.
 *
 * Each test gets a fresh database file with every migration applied and the
 * default catalog loaded; accounts are seeded with SQL (the accounts area
 * owns them; billing only references them).  Time is the test clock.
 * The expected amounts are the worked examples of docs/billing.md; each is
 * derived by hand in its comment.
 */
#include <check.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "billing/billing.h"
#include "billing/billing_int.h"
#include "core/clock.h"
#include "core/data.h"
#include "core/db.h"
#include "core/log.h"
#include "core/migrate.h"
#include "tests/unit.h"

#define N_ROWS(a) (sizeof(a) / sizeof((a)[0]))
#define DAY INT64_C(86400)

static struct unit_db u;
static struct db *db; /* u.db */

/* 2027-01-15T08:00:00Z, the API harness's start too. */
#define T0 INT64_C(1800000000)

static int64_t at(const char *rfc3339)
{
	int64_t t = 0;
	ck_assert_msg(clock_parse(rfc3339, &t) == ERR_OK, "bad time %s", rfc3339);
	return t;
}

static void move_to(const char *rfc3339) { ck_assert_int_eq(clock_set(at(rfc3339)), ERR_OK); }

static void assert_err(enum err got, enum err want)
{
	ck_assert_msg(got == want, "got ERR_%s, want ERR_%s", err_name(got), err_name(want));
}

static void setup(void)
{
	unit_db_open_migrated(&u);
	db = u.db;
	clock_use_test(T0);
	int64_t version = 0;
	ck_assert_int_eq(bill_catalog_ensure(db, &version), ERR_OK);
	ck_assert_int_eq(version, 1);
}

static void teardown(void)
{
	unit_db_close(&u);
	db = NULL;
}

static int64_t q_int(struct db *h, const char *sql, const char *arg)
{
	struct db_stmt *st = NULL;
	int64_t v = -1;
	ck_assert_int_eq(db_prepare(h, sql, &st), ERR_OK);
	if (arg)
		db_bind_text(st, 1, arg);
	if (db_step_row(st) == ERR_OK)
		v = db_column_int64(st, 0);
	db_done(st);
	return v;
}

static void q_text(const char *sql, const char *arg, char *out, size_t cap)
{
	struct db_stmt *st = NULL;
	out[0] = '\0';
	ck_assert_int_eq(db_prepare(db, sql, &st), ERR_OK);
	if (arg)
		db_bind_text(st, 1, arg);
	if (db_step_row(st) == ERR_OK && db_column_text(st, 0))
		snprintf(out, cap, "%s", db_column_text(st, 0));
	db_done(st);
}

static void exec(const char *sql, const char *arg)
{
	struct db_stmt *st = NULL;
	ck_assert_int_eq(db_prepare(db, sql, &st), ERR_OK);
	if (arg)
		db_bind_text(st, 1, arg);
	ck_assert_int_eq(db_step_done(st), ERR_OK);
	db_done(st);
}

/* An account in `country`, inserted the way the accounts area stores one. */
static void seed_account_on(struct db *h, const char *country, char *id) { unit_seed_account(h, country, id); }

static void seed_account(const char *country, char *id) { seed_account_on(db, country, id); }

static void attach(const char *acc, const char *token, char *pm_id)
{
	struct bill_payment_method pm;
	assert_err(bill_pm_attach(db, acc, token, &pm), ERR_OK);
	if (pm_id)
		snprintf(pm_id, IDS_MAX, "%s", pm.id);
}

static enum err subscribe(const char *acc, const char *country, const char *plan,
			  struct bill_subscription *sub, struct bill_payment_outcome *pay)
{
	struct bill_subscribe_params p = {acc, country, plan, NULL};
	return bill_subscribe(db, &p, sub, pay);
}

/* A member of `country` subscribed to `plan` with a visa card. */
static void subscribed(const char *country, const char *plan, char *acc, struct bill_subscription *sub)
{
	struct bill_payment_outcome pay;
	seed_account(country, acc);
	attach(acc, "pm_card_visa", NULL);
	assert_err(subscribe(acc, country, plan, sub, &pay), ERR_OK);
}

static json_t *invoice(const char *acc, const char *id)
{
	json_t *inv = NULL;
	assert_err(bill_invoice_json(db, acc, id, &inv), ERR_OK);
	return inv;
}

static int64_t amount_of(json_t *obj, const char *key)
{
	return json_integer_value(json_object_get(json_object_get(obj, key), "amount"));
}

/* ---- periods -------------------------------------------------------------------- */

/* Every period is counted from the anchor, so a short month clips one
 * period and never the ones after it (Stripe's billing_cycle_anchor). */
START_TEST(add_months_keeps_the_anchor_day)
{
	static const struct {
		const char *anchor;
		int64_t months;
		const char *want;
	} rows[] = {
		{"2027-01-15T08:00:00Z", 1, "2027-02-15T08:00:00Z"},
		{"2027-01-31T10:30:00Z", 1, "2027-02-28T10:30:00Z"}, /* Feb 2027 has 28 days */
		{"2027-01-31T10:30:00Z", 2, "2027-03-31T10:30:00Z"}, /* back to the 31st */
		{"2027-01-31T10:30:00Z", 3, "2027-04-30T10:30:00Z"},
		{"2027-01-31T10:30:00Z", 13, "2028-02-29T10:30:00Z"}, /* leap year */
		{"2028-01-31T00:00:00Z", 1, "2028-02-29T00:00:00Z"},
		{"2027-03-30T23:59:59Z", 11, "2028-02-29T23:59:59Z"},
		{"2027-12-31T12:00:00Z", 2, "2028-02-29T12:00:00Z"},
		{"2027-12-15T00:00:00Z", 1, "2028-01-15T00:00:00Z"}, /* year boundary */
		{"2100-01-29T00:00:00Z", 1, "2100-02-28T00:00:00Z"}, /* 2100 is not a leap year */
		{"2000-01-30T00:00:00Z", 1, "2000-02-29T00:00:00Z"}, /* 2000 is */
		{"2027-01-15T08:00:00Z", -1, "2026-12-15T08:00:00Z"},
		{"2027-05-31T00:00:00Z", 0, "2027-05-31T00:00:00Z"},
	};
	for (size_t i = 0; i < N_ROWS(rows); i++) {
		int64_t got = bill_add_months(at(rows[i].anchor), rows[i].months);
		char buf[32];
		ck_assert_msg(got == at(rows[i].want), "%s + %lld months: got %s, want %s", rows[i].anchor,
			      (long long)rows[i].months, clock_format(got, buf, sizeof buf), rows[i].want);
	}
}
END_TEST

START_TEST(periods_follow_the_anchor_through_short_months)
{
	/* Anchored on Jan 31: Jan 31 -> Feb 28 -> Mar 31 -> Apr 30 -> May 31. */
	static const char *const starts[] = {"2027-01-31T09:00:00Z", "2027-02-28T09:00:00Z",
					     "2027-03-31T09:00:00Z", "2027-04-30T09:00:00Z",
					     "2027-05-31T09:00:00Z"};
	int64_t anchor = at(starts[0]);
	for (int64_t n = 0; n + 1 < (int64_t)N_ROWS(starts); n++) {
		int64_t s, e;
		bill_period_bounds(anchor, n, &s, &e);
		ck_assert_int_eq(s, at(starts[n]));
		ck_assert_int_eq(e, at(starts[n + 1]));
	}
	/* Period lengths of 28, 29, 30 and 31 days. */
	static const struct {
		const char *anchor;
		int64_t days;
	} lens[] = {{"2027-02-01T00:00:00Z", 28}, {"2028-02-01T00:00:00Z", 29},
		    {"2027-04-01T00:00:00Z", 30}, {"2027-01-15T08:00:00Z", 31}};
	for (size_t i = 0; i < N_ROWS(lens); i++) {
		int64_t s, e;
		bill_period_bounds(at(lens[i].anchor), 0, &s, &e);
		ck_assert_int_eq(e - s, lens[i].days * DAY);
	}
}
END_TEST

/* ---- proration ------------------------------------------------------------------ */

/*
 * credit = -(old * remaining / period), charge = new * remaining / period,
 * each rounded half away from zero.  Old -> new: USD 17.99 -> 24.99
 * (Standard -> Premium, US), JPY 1590 -> 2290 (JP), KWD 2.500 -> 3.750 (KW),
 * KWD 1.750 -> 3.750 (Basic -> Premium, KW).
 */
static const struct {
	const char *what;
	const char *currency;
	int64_t old_price, new_price;
	const char *start, *end, *now;
	int64_t credit, charge;
} proration_rows[] = {
	/* 31 days (2678400 s), 21 days left: -1799*21/31 = -1218.68 -> -1219; 2499*21/31 = 1692.87 -> 1693 */
	{"USD mid-period 31 days", "USD", 1799, 2499, "2027-01-15T08:00:00Z", "2027-02-15T08:00:00Z",
	 "2027-01-25T08:00:00Z", -1219, 1693},
	/* first second: the whole period is left, so exactly -old and new */
	{"USD first second", "USD", 1799, 2499, "2027-01-15T08:00:00Z", "2027-02-15T08:00:00Z",
	 "2027-01-15T08:00:00Z", -1799, 2499},
	/* one second in: -1799*2678399/2678400 = -1798.9993 -> -1799 */
	{"USD second second", "USD", 1799, 2499, "2027-01-15T08:00:00Z", "2027-02-15T08:00:00Z",
	 "2027-01-15T08:00:01Z", -1799, 2499},
	/* last second (1 s left): 1799/2678400 = 0.0007 -> 0 */
	{"USD last second", "USD", 1799, 2499, "2027-01-15T08:00:00Z", "2027-02-15T08:00:00Z",
	 "2027-02-15T07:59:59Z", 0, 0},
	/* last hour: -1799*3600/2678400 = -2.42 -> -2; 2499*3600/2678400 = 3.36 -> 3 */
	{"USD last hour", "USD", 1799, 2499, "2027-01-15T08:00:00Z", "2027-02-15T08:00:00Z",
	 "2027-02-15T07:00:00Z", -2, 3},
	/* 30 days, 15 left: exactly half: -899.5 -> -900, 1249.5 -> 1250 (half away from zero) */
	{"USD exact half, 30 days", "USD", 1799, 2499, "2027-04-15T08:00:00Z", "2027-05-15T08:00:00Z",
	 "2027-04-30T08:00:00Z", -900, 1250},
	/* 28 days, 21 left: -1799*3/4 = -1349.25 -> -1349; 2499*3/4 = 1874.25 -> 1874 */
	{"USD 28 days", "USD", 1799, 2499, "2027-02-15T08:00:00Z", "2027-03-15T08:00:00Z",
	 "2027-02-22T08:00:00Z", -1349, 1874},
	/* 29 days (2028), 19 left: -1799*19/29 = -1178.66 -> -1179; 2499*19/29 = 1637.28 -> 1637 */
	{"USD 29 days", "USD", 1799, 2499, "2028-02-15T08:00:00Z", "2028-03-15T08:00:00Z",
	 "2028-02-25T08:00:00Z", -1179, 1637},
	/* JPY: -1590*21/31 = -1077.10 -> -1077; 2290*21/31 = 1551.29 -> 1551 */
	{"JPY mid-period 31 days", "JPY", 1590, 2290, "2027-01-15T08:00:00Z", "2027-02-15T08:00:00Z",
	 "2027-01-25T08:00:00Z", -1077, 1551},
	{"JPY first second", "JPY", 1590, 2290, "2027-01-15T08:00:00Z", "2027-02-15T08:00:00Z",
	 "2027-01-15T08:00:00Z", -1590, 2290},
	{"JPY last second", "JPY", 1590, 2290, "2027-01-15T08:00:00Z", "2027-02-15T08:00:00Z",
	 "2027-02-15T07:59:59Z", 0, 0},
	/* last hour: -2.14 -> -2; 3.08 -> 3 */
	{"JPY last hour", "JPY", 1590, 2290, "2027-01-15T08:00:00Z", "2027-02-15T08:00:00Z",
	 "2027-02-15T07:00:00Z", -2, 3},
	/* 28 days, 14 left: exactly -795 and 1145 */
	{"JPY 28 days", "JPY", 1590, 2290, "2027-02-15T08:00:00Z", "2027-03-15T08:00:00Z",
	 "2027-03-01T08:00:00Z", -795, 1145},
	/* 29 days, 19 left: -1590*19/29 = -1041.72 -> -1042; 2290*19/29 = 1500.34 -> 1500 */
	{"JPY 29 days", "JPY", 1590, 2290, "2028-02-15T08:00:00Z", "2028-03-15T08:00:00Z",
	 "2028-02-25T08:00:00Z", -1042, 1500},
	/* 30 days, 10 left: -1590/3 = -530; 2290/3 = 763.33 -> 763 */
	{"JPY 30 days", "JPY", 1590, 2290, "2027-04-15T08:00:00Z", "2027-05-15T08:00:00Z",
	 "2027-05-05T08:00:00Z", -530, 763},
	/* KWD (fils): -2500*21/31 = -1693.55 -> -1694; 3750*21/31 = 2540.32 -> 2540 */
	{"KWD mid-period 31 days", "KWD", 2500, 3750, "2027-01-15T08:00:00Z", "2027-02-15T08:00:00Z",
	 "2027-01-25T08:00:00Z", -1694, 2540},
	{"KWD first second", "KWD", 2500, 3750, "2027-01-15T08:00:00Z", "2027-02-15T08:00:00Z",
	 "2027-01-15T08:00:00Z", -2500, 3750},
	{"KWD last second", "KWD", 2500, 3750, "2027-01-15T08:00:00Z", "2027-02-15T08:00:00Z",
	 "2027-02-15T07:59:59Z", 0, 0},
	/* last hour: -3.36 -> -3; 5.04 -> 5 */
	{"KWD last hour", "KWD", 2500, 3750, "2027-01-15T08:00:00Z", "2027-02-15T08:00:00Z",
	 "2027-02-15T07:00:00Z", -3, 5},
	/* 28 days, 7 left, Basic 1.750 -> Premium 3.750: -437.5 -> -438; 937.5 -> 938 */
	{"KWD exact half, 28 days", "KWD", 1750, 3750, "2027-02-15T08:00:00Z", "2027-03-15T08:00:00Z",
	 "2027-03-08T08:00:00Z", -438, 938},
	/* 29 days, 19 left: -1637.93 -> -1638; 2456.90 -> 2457 */
	{"KWD 29 days", "KWD", 2500, 3750, "2028-02-15T08:00:00Z", "2028-03-15T08:00:00Z",
	 "2028-02-25T08:00:00Z", -1638, 2457},
	/* 30 days, 10 left: -833.33 -> -833; 1250 */
	{"KWD 30 days", "KWD", 2500, 3750, "2027-04-15T08:00:00Z", "2027-05-15T08:00:00Z",
	 "2027-05-05T08:00:00Z", -833, 1250},
	/* at or after the end nothing is left */
	{"USD at the end", "USD", 1799, 2499, "2027-01-15T08:00:00Z", "2027-02-15T08:00:00Z",
	 "2027-02-15T08:00:00Z", 0, 0},
};

START_TEST(proration_table)
{
	for (size_t i = 0; i < N_ROWS(proration_rows); i++) {
		struct money o, n;
		struct bill_proration p;
		ck_assert_int_eq(money_init(&o, proration_rows[i].old_price, proration_rows[i].currency), ERR_OK);
		ck_assert_int_eq(money_init(&n, proration_rows[i].new_price, proration_rows[i].currency), ERR_OK);
		assert_err(bill_prorate(&o, &n, at(proration_rows[i].start), at(proration_rows[i].end),
					at(proration_rows[i].now), &p),
			   ERR_OK);
		ck_assert_msg(p.credit.amount == proration_rows[i].credit && p.charge.amount == proration_rows[i].charge,
			      "%s: got credit %lld charge %lld, want %lld %lld", proration_rows[i].what,
			      (long long)p.credit.amount, (long long)p.charge.amount,
			      (long long)proration_rows[i].credit, (long long)proration_rows[i].charge);
		ck_assert_str_eq(p.credit.currency, proration_rows[i].currency);
	}
}
END_TEST

START_TEST(proration_refuses_mixed_currencies_and_empty_periods)
{
	struct money usd, jpy;
	struct bill_proration p;
	money_init(&usd, 1799, "USD");
	money_init(&jpy, 1590, "JPY");
	assert_err(bill_prorate(&usd, &jpy, T0, T0 + DAY, T0, &p), ERR_CURRENCY_MISMATCH);
	assert_err(bill_prorate(&usd, &usd, T0, T0, T0, &p), ERR_INTERNAL);
}
END_TEST

/* ---- tax -------------------------------------------------------------------------- */

START_TEST(tax_inclusive_and_exclusive)
{
	static const struct {
		const char *currency;
		int64_t amount;
		bool inclusive;
		int32_t bps;
		int64_t want;
	} rows[] = {
		{"USD", 1799, false, 825, 148},	 /* 1799*0.0825 = 148.42 added */
		{"USD", -1219, false, 825, -101}, /* a credit's tax mirrors: -100.57 -> -101 */
		{"USD", 1693, false, 825, 140},	 /* 139.67 -> 140 */
		{"GBP", 1299, true, 2000, 216},	 /* net round(1299/1.2 = 1082.5) = 1083; 1299-1083 */
		{"JPY", 1590, true, 1000, 145},	 /* net round(1445.45) = 1445 */
		{"JPY", -1077, true, 1000, -98},	 /* net round(-979.09) = -979 */
		{"JPY", 1551, true, 1000, 141},	 /* net 1410 exactly */
		{"KWD", 2500, true, 0, 0},	 /* no VAT in Kuwait */
		{"CAD", 1899, false, 500, 95},	 /* 94.95 -> 95 */
	};
	for (size_t i = 0; i < N_ROWS(rows); i++) {
		struct money m, tax;
		money_init(&m, rows[i].amount, rows[i].currency);
		assert_err(bill_line_tax(&m, rows[i].inclusive, rows[i].bps, &tax), ERR_OK);
		ck_assert_msg(tax.amount == rows[i].want, "row %zu: got %lld want %lld", i,
			      (long long)tax.amount, (long long)rows[i].want);
	}
	char note[64];
	assert_err(bill_tax_note(false, 825, "sales tax", note, sizeof note), ERR_OK);
	ck_assert_str_eq(note, "plus sales tax 8.25%");
	assert_err(bill_tax_note(true, 2000, "VAT", note, sizeof note), ERR_OK);
	ck_assert_str_eq(note, "includes VAT 20%");
	assert_err(bill_tax_note(true, 1425, "tax", note, sizeof note), ERR_OK);
	ck_assert_str_eq(note, "includes tax 14.25%");
	assert_err(bill_tax_note(true, 1950, "VAT", note, sizeof note), ERR_OK);
	ck_assert_str_eq(note, "includes VAT 19.5%");
	assert_err(bill_tax_note(true, 0, "VAT", note, sizeof note), ERR_OK);
	ck_assert_str_eq(note, "no tax");
	assert_err(bill_tax_note(true, 2000, "VAT", note, 8), ERR_BUFFER_TOO_SMALL);
}
END_TEST

/* An exclusive price gets its tax added as a line; an inclusive one shows the
 * tax it contains and charges the price. */
START_TEST(first_invoice_tax_exclusive_us_inclusive_gb)
{
	char us[IDS_MAX], gb[IDS_MAX];
	struct bill_subscription sub;
	subscribed("US", "standard", us, &sub);
	json_t *inv = invoice(us, sub.latest_invoice_id);
	/* 17.99 + 8.25 % = 17.99 + 1.48 */
	ck_assert_int_eq(amount_of(inv, "subtotal"), 1799);
	ck_assert_int_eq(amount_of(inv, "tax"), 148);
	ck_assert_int_eq(amount_of(inv, "total"), 1947);
	json_t *lines = json_object_get(inv, "lines");
	ck_assert_int_eq(json_array_size(lines), 2);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(lines, 0), "kind")), "plan");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(lines, 1), "kind")), "tax");
	ck_assert_int_eq(amount_of(json_array_get(lines, 1), "amount"), 148);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(lines, 1), "description")),
			 "sales tax 8.25%");
	ck_assert_str_eq(json_string_value(json_object_get(inv, "status")), "paid");
	json_decref(inv);

	subscribed("GB", "standard", gb, &sub);
	inv = invoice(gb, sub.latest_invoice_id);
	/* £12.99 includes VAT 20 %: £2.16 */
	ck_assert_int_eq(amount_of(inv, "subtotal"), 1299);
	ck_assert_int_eq(amount_of(inv, "tax"), 216);
	ck_assert_int_eq(amount_of(inv, "total"), 1299);
	ck_assert_int_eq(json_array_size(json_object_get(inv, "lines")), 1);
	ck_assert(json_is_true(json_object_get(json_object_get(inv, "tax_rule"), "inclusive")));
	json_decref(inv);
}
END_TEST

/* ---- the transition table --------------------------------------------------------- */

START_TEST(every_transition_allowed_or_refused)
{
	/* -1: refused.  Rows: from state; columns: events in enum order
	 * (cancel, resume, change_plan, renew, renewal_failed, retry_failed,
	 * payment_recovered, retries_exhausted, expire, hold_expired, end_now). */
	enum { X = -1, A = BILL_ACTIVE, P = BILL_PAST_DUE, H = BILL_ON_HOLD, C = BILL_CANCELED, E = BILL_ENDED };
	static const int want[BILL_STATE_COUNT][BILL_EVENT_COUNT] = {
		[BILL_ACTIVE] = {C, X, A, A, P, X, X, X, X, X, E},
		[BILL_PAST_DUE] = {E, X, X, X, X, P, A, H, X, X, E},
		[BILL_ON_HOLD] = {E, X, X, X, X, H, A, X, X, E, E},
		[BILL_CANCELED] = {X, A, X, X, X, X, X, X, E, X, E},
		[BILL_ENDED] = {X, X, X, X, X, X, X, X, X, X, X},
	};
	int allowed = 0;
	for (int s = 0; s < BILL_STATE_COUNT; s++) {
		for (int ev = 0; ev < BILL_EVENT_COUNT; ev++) {
			enum bill_state to = BILL_ENDED;
			enum err e = bill_transition((enum bill_state)s, (enum bill_event)ev, &to);
			if (want[s][ev] == X) {
				ck_assert_msg(e == ERR_INVALID_STATE, "%s --%s--> should be refused",
					      bill_state_name((enum bill_state)s), bill_event_name((enum bill_event)ev));
			} else {
				ck_assert_msg(e == ERR_OK && (int)to == want[s][ev], "%s --%s--> %s, want %s",
					      bill_state_name((enum bill_state)s), bill_event_name((enum bill_event)ev),
					      e == ERR_OK ? bill_state_name(to) : "refused",
					      bill_state_name((enum bill_state)want[s][ev]));
				allowed++;
			}
		}
	}
	ck_assert_int_eq(allowed, 18);
	enum bill_state to;
	assert_err(bill_transition((enum bill_state)BILL_STATE_COUNT, BILL_EV_CANCEL, &to), ERR_INVALID_STATE);
	for (int s = 0; s < BILL_STATE_COUNT; s++)
		ck_assert_int_eq(bill_state_parse(bill_state_name((enum bill_state)s)), s);
	ck_assert_int_eq(bill_state_parse("paused"), -1);
}
END_TEST

/* The domain functions refuse what the table refuses, and change nothing. */
START_TEST(refused_transitions_change_nothing)
{
	char acc[IDS_MAX];
	struct bill_subscription sub, out;
	enum bill_change_kind kind;
	struct bill_payment_outcome pay;
	subscribed("US", "standard", acc, &sub);
	int64_t events = q_int(db, "SELECT COUNT(*) FROM events", NULL);
	assert_err(bill_resume(db, acc, &out), ERR_INVALID_STATE); /* active: nothing to resume */
	exec("UPDATE subscriptions SET state = 'past_due' WHERE account_id = ?1", acc);
	assert_err(bill_change_plan(db, acc, "premium", &out, &kind, &pay), ERR_INVALID_STATE);
	assert_err(bill_resume(db, acc, &out), ERR_INVALID_STATE);
	exec("UPDATE subscriptions SET state = 'on_hold' WHERE account_id = ?1", acc);
	assert_err(bill_change_plan(db, acc, "standard_with_ads", &out, &kind, &pay), ERR_INVALID_STATE);
	exec("UPDATE subscriptions SET state = 'canceled', cancel_at_period_end = 1 WHERE account_id = ?1", acc);
	assert_err(bill_cancel(db, acc, &out), ERR_INVALID_STATE);
	assert_err(bill_change_plan(db, acc, "premium", &out, &kind, &pay), ERR_INVALID_STATE);
	exec("UPDATE subscriptions SET state = 'ended' WHERE account_id = ?1", acc);
	assert_err(bill_cancel(db, acc, &out), ERR_INVALID_STATE);
	assert_err(bill_resume(db, acc, &out), ERR_INVALID_STATE);
	assert_err(bill_change_plan(db, acc, "premium", &out, &kind, &pay), ERR_NOT_FOUND);
	ck_assert_int_eq(q_int(db, "SELECT COUNT(*) FROM events", NULL), events);
	ck_assert_int_eq(q_int(db, "SELECT COUNT(*) FROM invoices WHERE account_id = ?1", acc), 1);
}
END_TEST

/* ---- catalog ---------------------------------------------------------------------- */

static json_t *default_catalog(void)
{
	const struct data_file *f = data_find("catalog.json");
	ck_assert_ptr_nonnull(f);
	json_t *doc = json_loads(f->bytes, 0, NULL);
	ck_assert_ptr_nonnull(doc);
	return doc;
}

static json_t *country(json_t *doc, const char *code)
{
	return json_object_get(json_object_get(doc, "countries"), code);
}

static json_t *plan_at(json_t *doc, size_t i) { return json_array_get(json_object_get(doc, "plans"), i); }

/* Import `doc` (stolen) and expect it refused with an error naming `field`
 * with `code`; nothing is stored. */
static void expect_refused(json_t *doc, const char *field, const char *code)
{
	char *text = json_dumps(doc, 0);
	json_decref(doc);
	json_t *errors = NULL;
	int64_t version = -1;
	int64_t versions = q_int(db, "SELECT COUNT(*) FROM catalog_versions", NULL);
	int64_t prices = q_int(db, "SELECT COUNT(*) FROM price_points", NULL);
	assert_err(bill_catalog_import(db, text, "import", &errors, &version, NULL), ERR_VALIDATION);
	free(text);
	ck_assert_int_eq(version, -1);
	bool found = false;
	for (size_t i = 0; i < json_array_size(errors) && !found; i++) {
		json_t *e = json_array_get(errors, i);
		found = strcmp(json_string_value(json_object_get(e, "field")), field) == 0 &&
			strcmp(json_string_value(json_object_get(e, "code")), code) == 0;
	}
	char *got = json_dumps(errors, JSON_COMPACT);
	ck_assert_msg(found, "want {%s, %s} in %s", field, code, got);
	free(got);
	json_decref(errors);
	ck_assert_int_eq(q_int(db, "SELECT COUNT(*) FROM catalog_versions", NULL), versions);
	ck_assert_int_eq(q_int(db, "SELECT COUNT(*) FROM price_points", NULL), prices);
}

START_TEST(catalog_names_each_bad_field)
{
	json_t *d;

	d = default_catalog();
	json_object_set_new(country(d, "US"), "currency", json_string("USX"));
	expect_refused(d, "countries.US.currency", "unknown_currency");

	d = default_catalog();
	json_object_set_new(country(d, "US"), "currency", json_string("usd"));
	expect_refused(d, "countries.US.currency", "unknown_currency");

	d = default_catalog();
	json_object_set_new(json_object_get(country(d, "US"), "prices"), "standard", json_string("-1.00"));
	expect_refused(d, "countries.US.prices.standard", "negative_amount");

	d = default_catalog();
	json_object_set_new(json_object_get(country(d, "US"), "prices"), "premium", json_string("24.999"));
	expect_refused(d, "countries.US.prices.premium", "invalid_precision");

	d = default_catalog(); /* yen has no minor unit */
	json_object_set_new(json_object_get(country(d, "JP"), "prices"), "premium", json_string("2290.5"));
	expect_refused(d, "countries.JP.prices.premium", "invalid_precision");

	d = default_catalog(); /* fils: three decimals, not four */
	json_object_set_new(json_object_get(country(d, "KW"), "prices"), "premium", json_string("3.7500"));
	expect_refused(d, "countries.KW.prices.premium", "invalid_precision");

	d = default_catalog();
	json_object_set_new(json_object_get(country(d, "US"), "prices"), "premium", json_integer(2499));
	expect_refused(d, "countries.US.prices.premium", "wrong_type");

	d = default_catalog();
	json_object_set_new(json_object_get(country(d, "US"), "prices"), "premium", json_string("24,99"));
	expect_refused(d, "countries.US.prices.premium", "invalid_amount");

	d = default_catalog();
	json_object_set_new(json_object_get(country(d, "US"), "prices"), "gold", json_string("30.00"));
	expect_refused(d, "countries.US.prices.gold", "unknown_plan");

	d = default_catalog();
	json_object_set_new(plan_at(d, 1), "code", json_string("mobile"));
	expect_refused(d, "plans[1].code", "duplicate");

	d = default_catalog();
	json_object_del(plan_at(d, 2), "name");
	expect_refused(d, "plans[2].name", "required");

	d = default_catalog();
	json_object_del(country(d, "GB"), "tax");
	expect_refused(d, "countries.GB.tax", "required");

	d = default_catalog();
	json_object_del(country(d, "GB"), "currency");
	expect_refused(d, "countries.GB.currency", "required");

	d = default_catalog();
	json_object_set_new(plan_at(d, 0), "resolution", json_string("8K"));
	expect_refused(d, "plans[0].resolution", "invalid_value");

	d = default_catalog();
	json_array_append_new(json_object_get(plan_at(d, 0), "device_types"), json_string("toaster"));
	expect_refused(d, "plans[0].device_types[2]", "invalid_value");

	d = default_catalog();
	json_object_set(json_object_get(d, "countries"), "us", country(d, "US"));
	expect_refused(d, "countries.us", "invalid_country");

	d = default_catalog();
	json_object_set_new(json_object_get(country(d, "US"), "tax"), "rate_bps", json_integer(10001));
	expect_refused(d, "countries.US.tax.rate_bps", "out_of_range");

	d = default_catalog();
	json_object_set_new(plan_at(d, 3), "max_streams", json_string("2"));
	expect_refused(d, "plans[3].max_streams", "wrong_type");

	d = default_catalog();
	json_object_set_new(d, "colour", json_string("blue"));
	expect_refused(d, "colour", "unknown_field");

	d = default_catalog();
	json_object_set_new(plan_at(d, 0), "price", json_string("1"));
	expect_refused(d, "plans[0].price", "unknown_field");

	d = default_catalog(); /* Standard has a slot: the ad-free add-on must be priced */
	json_object_del(json_object_get(country(d, "DE"), "extra_member"), "ad_free");
	expect_refused(d, "countries.DE.extra_member.ad_free", "required");

	d = default_catalog();
	json_object_set_new(d, "effective_from", json_string("yesterday"));
	expect_refused(d, "effective_from", "invalid_time");

	d = default_catalog();
	json_object_del(d, "plans");
	expect_refused(d, "plans", "required");
}
END_TEST

START_TEST(catalog_reports_all_errors_at_once_and_bad_json_by_line)
{
	json_t *d = default_catalog();
	json_object_set_new(country(d, "US"), "currency", json_string("XXX"));
	json_object_set_new(json_object_get(country(d, "JP"), "prices"), "basic", json_string("990.0"));
	json_object_del(plan_at(d, 4), "ads");
	char *text = json_dumps(d, 0);
	json_decref(d);
	json_t *errors = NULL;
	int64_t v = 0;
	assert_err(bill_catalog_import(db, text, "import", &errors, &v, NULL), ERR_VALIDATION);
	free(text);
	ck_assert_int_eq(json_array_size(errors), 3);
	json_decref(errors);

	/* A key given twice is refused by the parser, with its line. */
	static const char dup[] = "{\"plans\": [],\n \"plans\": []}";
	assert_err(bill_catalog_import(db, dup, "import", &errors, &v, NULL), ERR_VALIDATION);
	json_t *e0 = json_array_get(errors, 0);
	ck_assert_str_eq(json_string_value(json_object_get(e0, "code")), "invalid_json");
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(e0, "message")), "Line 2"));
	json_decref(errors);
	ck_assert_int_eq(q_int(db, "SELECT COUNT(*) FROM catalog_versions", NULL), 1);
}
END_TEST

START_TEST(catalog_import_makes_a_new_version_once)
{
	json_t *d = default_catalog();
	json_object_set_new(json_object_get(country(d, "US"), "prices"), "premium", json_string("26.99"));
	char *text = json_dumps(d, 0);
	json_decref(d);
	int64_t v = 0;
	bool created = false;
	assert_err(bill_catalog_import(db, text, "import", NULL, &v, &created), ERR_OK);
	ck_assert_int_eq(v, 2);
	ck_assert(created);
	/* The same document again is the same version. */
	assert_err(bill_catalog_import(db, text, "import", NULL, &v, &created), ERR_OK);
	ck_assert_int_eq(v, 2);
	ck_assert(!created);
	free(text);
	ck_assert_int_eq(q_int(db, "SELECT COUNT(*) FROM events WHERE type = 'catalog.imported'", NULL), 2);
	struct bill_offers offers;
	assert_err(bill_offers_for_country(db, "US", clock_now(), &offers), ERR_OK);
	ck_assert_int_eq(offers.catalog_version, 2);
	ck_assert_int_eq(offers.items[offers.count - 1].price.amount.amount, 2699);
	/* Loading the default again at start changes nothing. */
	assert_err(bill_catalog_ensure(db, &v), ERR_OK);
	ck_assert_int_eq(v, 2);
}
END_TEST

START_TEST(default_catalog_sells_local_prices)
{
	static const struct {
		const char *country, *currency;
		size_t plans;
		const char *first, *last;
		int64_t premium;
	} rows[] = {
		{"US", "USD", 3, "standard_with_ads", "premium", 2499},
		{"JP", "JPY", 4, "standard_with_ads", "premium", 2290},
		{"KW", "KWD", 4, "standard_with_ads", "premium", 3750},
		{"KR", "KRW", 3, "standard_with_ads", "premium", 17000},
		{"IN", "INR", 5, "mobile", "premium", 64900},
		{"GB", "GBP", 3, "standard_with_ads", "premium", 1899},
	};
	for (size_t i = 0; i < N_ROWS(rows); i++) {
		struct bill_offers o;
		assert_err(bill_offers_for_country(db, rows[i].country, clock_now(), &o), ERR_OK);
		ck_assert_int_eq(o.count, rows[i].plans);
		ck_assert_str_eq(o.items[0].plan.code, rows[i].first);
		ck_assert_str_eq(o.items[o.count - 1].plan.code, rows[i].last);
		ck_assert_str_eq(o.items[o.count - 1].price.amount.currency, rows[i].currency);
		ck_assert_int_eq(o.items[o.count - 1].price.amount.amount, rows[i].premium);
		/* Ad plans have no extra-member slot, so no add-on price. */
		for (size_t j = 0; j < o.count; j++)
			ck_assert(o.items[j].has_extra_member_price == (o.items[j].plan.extra_member_slots > 0));
	}
	struct bill_offers o;
	assert_err(bill_offers_for_country(db, "IN", clock_now(), &o), ERR_OK);
	ck_assert_uint_eq(o.items[0].plan.device_types, BILL_DEVICE_PHONE | BILL_DEVICE_TABLET);
	assert_err(bill_offers_for_country(db, "ZZ", clock_now(), &o), ERR_COUNTRY_NOT_SUPPORTED);
	struct bill_country countries[BILL_COUNTRIES_MAX];
	size_t n = 0;
	assert_err(bill_catalog_countries(db, countries, BILL_COUNTRIES_MAX, &n), ERR_OK);
	ck_assert_int_eq(n, 13);
}
END_TEST

/* ---- payment methods --------------------------------------------------------------- */

START_TEST(payment_methods_attach_default_remove)
{
	char acc[IDS_MAX], visa[IDS_MAX], mc[IDS_MAX];
	struct bill_payment_method pm, list[BILL_PAYMENT_METHODS_MAX];
	size_t n = 0;
	seed_account("US", acc);
	assert_err(bill_pm_attach(db, acc, "pm_card_bogus", &pm), ERR_NOT_FOUND);
	ck_assert_int_eq(q_int(db, "SELECT COUNT(*) FROM payment_methods", NULL), 0);
	attach(acc, "pm_card_visa", visa);
	attach(acc, "pm_card_mastercard", mc);
	assert_err(bill_pm_list(db, acc, list, BILL_PAYMENT_METHODS_MAX, &n), ERR_OK);
	ck_assert_int_eq(n, 2);
	ck_assert(list[0].is_default && !list[1].is_default); /* the first is the default */
	ck_assert_str_eq(list[0].last4, "4242");
	ck_assert_str_eq(list[1].brand, "mastercard");
	assert_err(bill_pm_set_default(db, acc, mc, &pm), ERR_OK);
	ck_assert(pm.is_default);
	/* Never a card number: only token, brand, last4 and expiry are stored. */
	ck_assert_int_eq(q_int(db, "SELECT COUNT(*) FROM payment_methods WHERE provider_token LIKE 'pm_card_%'", NULL), 2);
	/* Removing the default promotes the other. */
	assert_err(bill_pm_remove(db, acc, mc), ERR_OK);
	assert_err(bill_pm_list(db, acc, list, BILL_PAYMENT_METHODS_MAX, &n), ERR_OK);
	ck_assert_int_eq(n, 1);
	ck_assert(list[0].is_default);
	ck_assert_str_eq(list[0].id, visa);
	assert_err(bill_pm_remove(db, acc, mc), ERR_NOT_FOUND);
	/* Another account's method is not found. */
	char other[IDS_MAX];
	seed_account("US", other);
	assert_err(bill_pm_set_default(db, other, visa, &pm), ERR_NOT_FOUND);
	assert_err(bill_pm_remove(db, other, visa), ERR_NOT_FOUND);
}
END_TEST

START_TEST(last_payment_method_of_a_subscriber_stays)
{
	char acc[IDS_MAX];
	struct bill_subscription sub;
	struct bill_payment_method list[2];
	size_t n = 0;
	subscribed("US", "standard", acc, &sub);
	assert_err(bill_pm_list(db, acc, list, 2, &n), ERR_OK);
	assert_err(bill_pm_remove(db, acc, list[0].id), ERR_INVALID_STATE);
	assert_err(bill_pm_list(db, acc, list, 2, &n), ERR_OK);
	ck_assert_int_eq(n, 1);
}
END_TEST

START_TEST(payment_methods_are_limited)
{
	char acc[IDS_MAX];
	struct bill_payment_method pm;
	seed_account("US", acc);
	for (int i = 0; i < BILL_PAYMENT_METHODS_MAX; i++)
		attach(acc, "pm_card_visa", NULL);
	assert_err(bill_pm_attach(db, acc, "pm_card_visa", &pm), ERR_CONFLICT);
}
END_TEST

/* ---- subscribing ------------------------------------------------------------------- */

START_TEST(subscribe_charges_the_first_period)
{
	char acc[IDS_MAX];
	struct bill_subscription sub;
	subscribed("JP", "standard", acc, &sub);
	ck_assert_int_eq(sub.state, BILL_ACTIVE);
	ck_assert_str_eq(sub.plan.code, "standard");
	ck_assert_int_eq(sub.price.amount.amount, 1590);
	ck_assert_str_eq(sub.price.amount.currency, "JPY");
	ck_assert_int_eq(sub.current_period_start, T0);
	ck_assert_int_eq(sub.current_period_end, at("2027-02-15T08:00:00Z"));
	json_t *inv = invoice(acc, sub.latest_invoice_id);
	ck_assert_str_eq(json_string_value(json_object_get(inv, "number")), "HEA-2027-000001");
	ck_assert_str_eq(json_string_value(json_object_get(inv, "status")), "paid");
	ck_assert_str_eq(json_string_value(json_object_get(inv, "billing_reason")), "subscription_create");
	ck_assert_int_eq(amount_of(inv, "total"), 1590);
	ck_assert_int_eq(amount_of(inv, "tax"), 145);
	json_t *attempts = json_object_get(inv, "payment_attempts");
	ck_assert_int_eq(json_array_size(attempts), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(attempts, 0), "status")), "succeeded");
	json_decref(inv);
	static const char *const types[] = {"payment_method.attached", "invoice.finalized", "payment.succeeded",
					    "invoice.paid", "subscription.created"};
	for (size_t i = 0; i < N_ROWS(types); i++)
		ck_assert_int_eq(q_int(db, "SELECT COUNT(*) FROM events WHERE type = ?1", types[i]), 1);
	/* A second subscription is refused. */
	struct bill_subscription again;
	struct bill_payment_outcome pay;
	assert_err(subscribe(acc, "JP", "premium", &again, &pay), ERR_SUBSCRIPTION_EXISTS);
	ck_assert_int_eq(q_int(db, "SELECT COUNT(*) FROM invoices", NULL), 1);
}
END_TEST

START_TEST(declined_first_charge_leaves_no_subscription)
{
	static const struct {
		const char *token, *code;
		bool hard;
	} rows[] = {
		{"pm_card_declined", "card_declined", false},
		{"pm_card_insufficient_funds", "insufficient_funds", false},
		{"pm_card_expired", "expired_card", true},
		{"pm_card_processing_error", "processing_error", false},
	};
	for (size_t i = 0; i < N_ROWS(rows); i++) {
		char acc[IDS_MAX];
		struct bill_subscription sub;
		struct bill_payment_outcome pay;
		seed_account("US", acc);
		attach(acc, rows[i].token, NULL);
		assert_err(subscribe(acc, "US", "standard", &sub, &pay), ERR_PAYMENT_FAILED);
		ck_assert(pay.attempted && !pay.succeeded);
		ck_assert_str_eq(pay.failure_code, rows[i].code);
		ck_assert(pay.hard_decline == rows[i].hard);
		ck_assert_int_eq(q_int(db, "SELECT COUNT(*) FROM subscriptions WHERE account_id = ?1", acc), 0);
		char status[16];
		q_text("SELECT status FROM invoices WHERE account_id = ?1", acc, status, sizeof status);
		ck_assert_str_eq(status, "void");
		ck_assert_int_eq(q_int(db, "SELECT COUNT(*) FROM payment_attempts WHERE account_id = ?1"
					   " AND status = 'failed'", acc), 1);
		ck_assert_int_eq(q_int(db, "SELECT hard_decline FROM payment_attempts WHERE account_id = ?1", acc),
				 rows[i].hard);
	}
	ck_assert_int_eq(q_int(db, "SELECT COUNT(*) FROM events WHERE type = 'payment.failed'", NULL), 4);
	ck_assert_int_eq(q_int(db, "SELECT COUNT(*) FROM events WHERE type = 'subscription.created'", NULL), 0);
}
END_TEST

/* The processing-error card fails its first charge only: a retry succeeds. */
START_TEST(processing_error_succeeds_on_retry)
{
	char acc[IDS_MAX];
	struct bill_subscription sub;
	struct bill_payment_outcome pay;
	seed_account("US", acc);
	attach(acc, "pm_card_processing_error", NULL);
	assert_err(subscribe(acc, "US", "standard", &sub, &pay), ERR_PAYMENT_FAILED);
	assert_err(subscribe(acc, "US", "standard", &sub, &pay), ERR_OK);
	ck_assert_int_eq(sub.state, BILL_ACTIVE);
	ck_assert_int_eq(q_int(db, "SELECT COUNT(*) FROM invoices WHERE account_id = ?1", acc), 2);
}
END_TEST

START_TEST(subscribe_refuses_bad_requests_and_changes_nothing)
{
	char acc[IDS_MAX], none[IDS_MAX], other[IDS_MAX], pm_other[IDS_MAX];
	struct bill_subscription sub;
	struct bill_payment_outcome pay;
	seed_account("US", acc);
	seed_account("US", none);
	seed_account("US", other);
	attach(acc, "pm_card_visa", NULL);
	attach(other, "pm_card_visa", pm_other);
	int64_t events = q_int(db, "SELECT COUNT(*) FROM events", NULL);
	assert_err(subscribe(acc, "US", "gold", &sub, &pay), ERR_UNKNOWN_PLAN);
	assert_err(subscribe(acc, "US", "mobile", &sub, &pay), ERR_PLAN_NOT_AVAILABLE_IN_REGION);
	assert_err(subscribe(acc, "ZZ", "standard", &sub, &pay), ERR_COUNTRY_NOT_SUPPORTED);
	assert_err(subscribe(none, "US", "standard", &sub, &pay), ERR_PAYMENT_REQUIRED);
	struct bill_subscribe_params p = {acc, "US", "standard", pm_other};
	assert_err(bill_subscribe(db, &p, &sub, &pay), ERR_NOT_FOUND);
	ck_assert_int_eq(q_int(db, "SELECT COUNT(*) FROM events", NULL), events);
	ck_assert_int_eq(q_int(db, "SELECT COUNT(*) FROM invoices", NULL), 0);
	ck_assert_int_eq(q_int(db, "SELECT COUNT(*) FROM subscriptions", NULL), 0);
	ck_assert_int_eq(q_int(db, "SELECT COUNT(*) FROM invoice_counters", NULL), 0);
}
END_TEST

START_TEST(subscribe_with_a_named_method_makes_it_default)
{
	char acc[IDS_MAX], visa[IDS_MAX], mc[IDS_MAX];
	struct bill_subscription sub;
	struct bill_payment_outcome pay;
	seed_account("US", acc);
	attach(acc, "pm_card_visa", visa);
	attach(acc, "pm_card_mastercard", mc);
	struct bill_subscribe_params p = {acc, "US", "standard", mc};
	assert_err(bill_subscribe(db, &p, &sub, &pay), ERR_OK);
	ck_assert_int_eq(q_int(db, "SELECT is_default FROM payment_methods WHERE id = ?1", mc), 1);
	ck_assert_int_eq(q_int(db, "SELECT is_default FROM payment_methods WHERE id = ?1", visa), 0);
	char used[IDS_MAX];
	q_text("SELECT payment_method_id FROM payment_attempts WHERE account_id = ?1", acc, used, sizeof used);
	ck_assert_str_eq(used, mc);
}
END_TEST

/* ---- plan changes ------------------------------------------------------------------ */

/* Upgrade 10 days into a 31-day period: 21 days left.  The invoice lines
 * are the proration rows above, with tax per line. */
START_TEST(upgrade_mid_period_us_jp_kw)
{
	static const struct {
		const char *country;
		int64_t credit, charge, credit_tax, charge_tax, subtotal, tax, total;
		size_t lines;
	} rows[] = {
		/* 1693-1219 = 474; tax added: 140-101 = 39; total 513 */
		{"US", -1219, 1693, -101, 140, 474, 39, 513, 3},
		/* tax contained: 141-98 = 43; total 474 */
		{"JP", -1077, 1551, -98, 141, 474, 43, 474, 2},
		/* no VAT: 2540-1694 = 846 fils */
		{"KW", -1694, 2540, 0, 0, 846, 0, 846, 2},
	};
	char accs[3][IDS_MAX];
	struct bill_subscription sub;
	for (size_t i = 0; i < N_ROWS(rows); i++)
		subscribed(rows[i].country, "standard", accs[i], &sub);
	move_to("2027-01-25T08:00:00Z");
	for (size_t i = 0; i < N_ROWS(rows); i++) {
		enum bill_change_kind kind;
		struct bill_payment_outcome pay;
		assert_err(bill_change_plan(db, accs[i], "premium", &sub, &kind, &pay), ERR_OK);
		ck_assert_int_eq(kind, BILL_CHANGE_UPGRADED);
		ck_assert(pay.succeeded);
		ck_assert_str_eq(sub.plan.code, "premium");
		ck_assert_int_eq(sub.current_period_end, at("2027-02-15T08:00:00Z")); /* period unchanged */
		json_t *inv = invoice(accs[i], pay.invoice_id);
		ck_assert_str_eq(json_string_value(json_object_get(inv, "billing_reason")), "subscription_update");
		json_t *lines = json_object_get(inv, "lines");
		ck_assert_int_eq(json_array_size(lines), rows[i].lines);
		json_t *cr = json_array_get(lines, 0), *ch = json_array_get(lines, 1);
		ck_assert_str_eq(json_string_value(json_object_get(cr, "kind")), "proration_credit");
		ck_assert_str_eq(json_string_value(json_object_get(ch, "kind")), "proration_charge");
		ck_assert_int_eq(amount_of(cr, "amount"), rows[i].credit);
		ck_assert_int_eq(amount_of(ch, "amount"), rows[i].charge);
		ck_assert_int_eq(amount_of(cr, "tax"), rows[i].credit_tax);
		ck_assert_int_eq(amount_of(ch, "tax"), rows[i].charge_tax);
		ck_assert_int_eq(amount_of(inv, "subtotal"), rows[i].subtotal);
		ck_assert_int_eq(amount_of(inv, "tax"), rows[i].tax);
		ck_assert_int_eq(amount_of(inv, "total"), rows[i].total);
		ck_assert_str_eq(json_string_value(json_object_get(inv, "status")), "paid");
		json_t *att = json_array_get(json_object_get(inv, "payment_attempts"), 0);
		ck_assert_int_eq(amount_of(att, "amount"), rows[i].total);
		json_decref(inv);
	}
	/* Entitlements follow at once. */
	struct bill_entitlements ent;
	assert_err(bill_entitlements(db, accs[0], &ent), ERR_OK);
	ck_assert_int_eq(ent.max_streams, 4);
	ck_assert_str_eq(ent.resolution, "UHD");
}
END_TEST

START_TEST(upgrade_declined_changes_nothing)
{
	char acc[IDS_MAX], bad[IDS_MAX];
	struct bill_subscription sub;
	enum bill_change_kind kind;
	struct bill_payment_outcome pay;
	struct bill_payment_method pm;
	subscribed("US", "standard", acc, &sub);
	attach(acc, "pm_card_insufficient_funds", bad);
	assert_err(bill_pm_set_default(db, acc, bad, &pm), ERR_OK);
	move_to("2027-01-25T08:00:00Z");
	assert_err(bill_change_plan(db, acc, "premium", &sub, &kind, &pay), ERR_PAYMENT_FAILED);
	ck_assert_str_eq(pay.failure_code, "insufficient_funds");
	assert_err(bill_subscription_get(db, acc, &sub), ERR_OK);
	ck_assert_str_eq(sub.plan.code, "standard");
	ck_assert_int_eq(sub.price.amount.amount, 1799);
	char status[16];
	q_text("SELECT status FROM invoices WHERE billing_reason = 'subscription_update'", NULL, status, sizeof status);
	ck_assert_str_eq(status, "void");
}
END_TEST

START_TEST(downgrade_is_scheduled_and_withdrawn)
{
	char acc[IDS_MAX];
	struct bill_subscription sub;
	enum bill_change_kind kind;
	struct bill_payment_outcome pay;
	subscribed("US", "premium", acc, &sub);
	move_to("2027-01-20T00:00:00Z");
	assert_err(bill_change_plan(db, acc, "standard", &sub, &kind, &pay), ERR_OK);
	ck_assert_int_eq(kind, BILL_CHANGE_SCHEDULED);
	ck_assert(!pay.attempted);
	ck_assert_str_eq(sub.plan.code, "premium"); /* until the period ends */
	ck_assert(sub.has_scheduled_change);
	ck_assert_str_eq(sub.scheduled_plan_code, "standard");
	ck_assert_int_eq(sub.scheduled_price.amount, 1799);
	ck_assert_int_eq(sub.scheduled_change_at, at("2027-02-15T08:00:00Z"));
	ck_assert_int_eq(q_int(db, "SELECT COUNT(*) FROM invoices", NULL), 1); /* no invoice now */
	/* PATCH back to the current plan withdraws it. */
	assert_err(bill_change_plan(db, acc, "premium", &sub, &kind, &pay), ERR_OK);
	ck_assert_int_eq(kind, BILL_CHANGE_WITHDRAWN);
	ck_assert(!sub.has_scheduled_change);
	/* And again: nothing to do. */
	assert_err(bill_change_plan(db, acc, "premium", &sub, &kind, &pay), ERR_OK);
	ck_assert_int_eq(kind, BILL_CHANGE_NONE);
	/* Schedule, then withdraw through the scheduled-change call. */
	assert_err(bill_change_plan(db, acc, "standard_with_ads", &sub, &kind, &pay), ERR_OK);
	ck_assert_str_eq(sub.scheduled_plan_code, "standard_with_ads");
	assert_err(bill_cancel_scheduled_change(db, acc, &sub), ERR_OK);
	ck_assert(!sub.has_scheduled_change);
	assert_err(bill_cancel_scheduled_change(db, acc, &sub), ERR_NOT_FOUND);
	ck_assert_int_eq(q_int(db, "SELECT COUNT(*) FROM events WHERE type = 'subscription.updated'", NULL), 4);
}
END_TEST

/* An upgrade while a downgrade is scheduled drops the schedule. */
START_TEST(upgrade_clears_a_scheduled_downgrade)
{
	char acc[IDS_MAX];
	struct bill_subscription sub;
	enum bill_change_kind kind;
	struct bill_payment_outcome pay;
	subscribed("US", "standard", acc, &sub);
	assert_err(bill_change_plan(db, acc, "standard_with_ads", &sub, &kind, &pay), ERR_OK);
	ck_assert(sub.has_scheduled_change);
	assert_err(bill_change_plan(db, acc, "premium", &sub, &kind, &pay), ERR_OK);
	ck_assert_int_eq(kind, BILL_CHANGE_UPGRADED);
	ck_assert(!sub.has_scheduled_change);
	/* At the first second the whole period is credited and charged. */
	json_t *inv = invoice(acc, pay.invoice_id);
	ck_assert_int_eq(amount_of(json_array_get(json_object_get(inv, "lines"), 0), "amount"), -1799);
	ck_assert_int_eq(amount_of(json_array_get(json_object_get(inv, "lines"), 1), "amount"), 2499);
	json_decref(inv);
}
END_TEST

START_TEST(upgrade_at_the_last_second_costs_nothing)
{
	char acc[IDS_MAX];
	struct bill_subscription sub;
	enum bill_change_kind kind;
	struct bill_payment_outcome pay;
	subscribed("US", "standard", acc, &sub);
	move_to("2027-02-15T07:59:59Z");
	assert_err(bill_change_plan(db, acc, "premium", &sub, &kind, &pay), ERR_OK);
	ck_assert_int_eq(kind, BILL_CHANGE_UPGRADED);
	ck_assert(!pay.attempted && pay.succeeded);
	json_t *inv = invoice(acc, pay.invoice_id);
	ck_assert_int_eq(amount_of(inv, "total"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(inv, "status")), "paid");
	json_decref(inv);
}
END_TEST

START_TEST(plan_change_refuses_unknown_and_unsold_plans)
{
	char acc[IDS_MAX];
	struct bill_subscription sub;
	enum bill_change_kind kind;
	struct bill_payment_outcome pay;
	subscribed("US", "standard", acc, &sub);
	int64_t events = q_int(db, "SELECT COUNT(*) FROM events", NULL);
	assert_err(bill_change_plan(db, acc, "gold", &sub, &kind, &pay), ERR_UNKNOWN_PLAN);
	assert_err(bill_change_plan(db, acc, "mobile", &sub, &kind, &pay), ERR_PLAN_NOT_AVAILABLE_IN_REGION);
	char nobody[IDS_MAX];
	seed_account("US", nobody);
	assert_err(bill_change_plan(db, nobody, "premium", &sub, &kind, &pay), ERR_NOT_FOUND);
	ck_assert_int_eq(q_int(db, "SELECT COUNT(*) FROM events", NULL), events);
}
END_TEST

/* ---- cancel, resume, entitlements --------------------------------------------------- */

START_TEST(cancel_and_resume)
{
	char acc[IDS_MAX];
	struct bill_subscription sub;
	struct bill_entitlements ent;
	enum bill_change_kind kind;
	struct bill_payment_outcome pay;
	subscribed("KW", "premium", acc, &sub);
	assert_err(bill_change_plan(db, acc, "standard", &sub, &kind, &pay), ERR_OK);
	assert_err(bill_cancel(db, acc, &sub), ERR_OK);
	ck_assert_int_eq(sub.state, BILL_CANCELED);
	ck_assert(sub.cancel_at_period_end);
	ck_assert(!sub.has_scheduled_change); /* dropped by the cancellation */
	assert_err(bill_entitlements(db, acc, &ent), ERR_OK);
	ck_assert(ent.playback_allowed); /* paid until the period end */
	assert_err(bill_resume(db, acc, &sub), ERR_OK);
	ck_assert_int_eq(sub.state, BILL_ACTIVE);
	ck_assert(!sub.cancel_at_period_end);
	ck_assert_int_eq(sub.canceled_at, 0);
	/* Cancel again, and let the period end: no resume, no playback. */
	assert_err(bill_cancel(db, acc, &sub), ERR_OK);
	move_to("2027-02-15T08:00:00Z");
	assert_err(bill_resume(db, acc, &sub), ERR_INVALID_STATE);
	assert_err(bill_entitlements(db, acc, &ent), ERR_OK);
	ck_assert(!ent.playback_allowed);
	ck_assert_str_eq(ent.reason, "subscription_ended");
	ck_assert_int_eq(q_int(db, "SELECT COUNT(*) FROM events WHERE type = 'subscription.canceled'", NULL), 2);
	ck_assert_int_eq(q_int(db, "SELECT COUNT(*) FROM events WHERE type = 'subscription.resumed'", NULL), 1);
}
END_TEST

START_TEST(cancel_while_past_due_ends_now)
{
	char acc[IDS_MAX];
	struct bill_subscription sub;
	struct bill_payment_outcome pay;
	subscribed("US", "standard", acc, &sub);
	exec("UPDATE subscriptions SET state = 'past_due' WHERE account_id = ?1", acc);
	assert_err(bill_cancel(db, acc, &sub), ERR_OK);
	ck_assert_int_eq(sub.state, BILL_ENDED);
	ck_assert_int_eq(sub.ended_at, T0);
	/* An ended subscription frees the account to subscribe again. */
	assert_err(subscribe(acc, "US", "premium", &sub, &pay), ERR_OK);
	ck_assert_int_eq(sub.state, BILL_ACTIVE);
	ck_assert_int_eq(q_int(db, "SELECT COUNT(*) FROM subscriptions WHERE account_id = ?1", acc), 2);
}
END_TEST

START_TEST(entitlements_by_state)
{
	char acc[IDS_MAX], none[IDS_MAX];
	struct bill_subscription sub;
	struct bill_entitlements ent;
	seed_account("IN", none);
	assert_err(bill_entitlements(db, none, &ent), ERR_OK);
	ck_assert(!ent.playback_allowed);
	ck_assert_str_eq(ent.reason, "no_subscription");

	subscribed("IN", "mobile", acc, &sub);
	assert_err(bill_entitlements(db, acc, &ent), ERR_OK);
	ck_assert(ent.playback_allowed);
	ck_assert_str_eq(ent.reason, "");
	ck_assert_int_eq(ent.max_streams, 1);
	ck_assert_str_eq(ent.resolution, "SD");
	ck_assert_uint_eq(ent.device_types, BILL_DEVICE_PHONE | BILL_DEVICE_TABLET);
	ck_assert(!ent.has_ads);

	static const struct {
		const char *state;
		bool allowed;
		const char *reason;
	} rows[] = {
		{"past_due", true, ""},
		{"on_hold", false, "payment_required"},
		{"canceled", true, ""},
		{"ended", false, "subscription_ended"},
	};
	for (size_t i = 0; i < N_ROWS(rows); i++) {
		struct db_stmt *st = NULL;
		ck_assert_int_eq(db_prepare(db, "UPDATE subscriptions SET state = ?1 WHERE account_id = ?2", &st), ERR_OK);
		db_bind_text(st, 1, rows[i].state);
		db_bind_text(st, 2, acc);
		ck_assert_int_eq(db_step_done(st), ERR_OK);
		db_done(st);
		assert_err(bill_entitlements(db, acc, &ent), ERR_OK);
		ck_assert_msg(ent.playback_allowed == rows[i].allowed, "state %s", rows[i].state);
		ck_assert_str_eq(ent.reason, rows[i].reason);
		ck_assert_int_eq(ent.max_streams, rows[i].allowed ? 1 : 0);
	}
}
END_TEST

/* ---- invoices ------------------------------------------------------------------------ */

START_TEST(invoice_list_pages_newest_first)
{
	char acc[IDS_MAX];
	struct bill_subscription sub;
	enum bill_change_kind kind;
	struct bill_payment_outcome pay;
	subscribed("US", "standard_with_ads", acc, &sub);
	/* Two upgrades in the same second, then one later. */
	assert_err(bill_change_plan(db, acc, "standard", &sub, &kind, &pay), ERR_OK);
	move_to("2027-01-16T00:00:00Z");
	assert_err(bill_change_plan(db, acc, "premium", &sub, &kind, &pay), ERR_OK);
	json_t *page = NULL;
	bool more = false;
	assert_err(bill_invoice_list(db, acc, 2, NULL, &page, &more), ERR_OK);
	ck_assert_int_eq(json_array_size(page), 2);
	ck_assert(more);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(page, 0), "number")), "HEA-2027-000003");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(page, 1), "number")), "HEA-2027-000002");
	char last[IDS_MAX];
	snprintf(last, sizeof last, "%s", json_string_value(json_object_get(json_array_get(page, 1), "id")));
	json_decref(page);
	assert_err(bill_invoice_list(db, acc, 2, last, &page, &more), ERR_OK);
	ck_assert_int_eq(json_array_size(page), 1);
	ck_assert(!more);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(page, 0), "number")), "HEA-2027-000001");
	json_decref(page);
	char other[IDS_MAX];
	seed_account("US", other);
	assert_err(bill_invoice_list(db, other, 2, last, &page, &more), ERR_NOT_FOUND);
	assert_err(bill_invoice_json(db, other, last, &page), ERR_NOT_FOUND);
}
END_TEST

START_TEST(receipt_is_escaped_html)
{
	char acc[IDS_MAX];
	struct bill_subscription sub;
	subscribed("US", "standard", acc, &sub);
	/* A plan name with markup, as a careless catalog might have it. */
	exec("UPDATE invoice_lines SET description = '<script>alert(\"x\")</script> & co' WHERE invoice_id = ?1",
	     sub.latest_invoice_id);
	char *html = NULL;
	size_t len = 0;
	assert_err(bill_invoice_receipt_html(db, acc, sub.latest_invoice_id, &html, &len), ERR_OK);
	ck_assert_int_eq(strlen(html), len);
	ck_assert_ptr_null(strstr(html, "<script>"));
	ck_assert_ptr_nonnull(strstr(html, "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co"));
	ck_assert_ptr_nonnull(strstr(html, "HEA-2027-000001"));
	ck_assert_ptr_nonnull(strstr(html, "$19.47"));
	free(html);
}
END_TEST

/* ---- gapless numbers under concurrency ----------------------------------------------- */

#define PER_THREAD 40

struct worker {
	int index;
	char accounts[PER_THREAD][IDS_MAX];
	int ok, declined, other;
};

static void *subscribe_many(void *arg)
{
	struct worker *w = arg;
	struct db_options o;
	struct db *h = NULL;
	db_options_init(&o);
	o.path = u.path;
	o.sync = DB_SYNC_NORMAL;
	if (db_open(&o, &h) != ERR_OK) {
		w->other = PER_THREAD;
		return NULL;
	}
	for (int i = 0; i < PER_THREAD; i++) {
		struct bill_subscription sub;
		struct bill_payment_outcome pay;
		struct bill_subscribe_params p = {w->accounts[i], "US", i % 2 ? "premium" : "standard", NULL};
		enum err e = bill_subscribe(h, &p, &sub, &pay);
		if (e == ERR_OK)
			w->ok++;
		else if (e == ERR_PAYMENT_FAILED)
			w->declined++;
		else
			w->other++;
	}
	db_close(h);
	return NULL;
}

START_TEST(invoice_numbers_are_gapless_under_concurrent_subscribes)
{
	struct worker w[2];
	memset(w, 0, sizeof w);
	for (int t = 0; t < 2; t++) {
		w[t].index = t;
		for (int i = 0; i < PER_THREAD; i++) {
			seed_account("US", w[t].accounts[i]);
			/* Every third account's card is declined: void invoices keep numbers too. */
			attach(w[t].accounts[i], i % 3 == 0 ? "pm_card_declined" : "pm_card_visa", NULL);
		}
	}
	pthread_t th[2];
	for (int t = 0; t < 2; t++)
		ck_assert_int_eq(pthread_create(&th[t], NULL, subscribe_many, &w[t]), 0);
	for (int t = 0; t < 2; t++)
		pthread_join(th[t], NULL);
	int total = 0;
	for (int t = 0; t < 2; t++) {
		ck_assert_int_eq(w[t].other, 0);
		ck_assert_int_eq(w[t].declined, (PER_THREAD + 2) / 3);
		total += w[t].ok + w[t].declined;
	}
	ck_assert_int_eq(total, 2 * PER_THREAD);
	/* The numbers are exactly HEA-2027-000001 .. HEA-2027-000080. */
	bool seen[2 * PER_THREAD + 1];
	memset(seen, 0, sizeof seen);
	struct db_stmt *st = NULL;
	ck_assert_int_eq(db_prepare(db, "SELECT number FROM invoices", &st), ERR_OK);
	bool row = false;
	int n = 0;
	while (db_step(st, &row) == ERR_OK && row) {
		const char *num = db_column_text(st, 0);
		ck_assert_int_eq(strncmp(num, "HEA-2027-", 9), 0);
		long v = strtol(num + 9, NULL, 10);
		ck_assert_msg(v >= 1 && v <= 2 * PER_THREAD && !seen[v], "number %s out of range or repeated", num);
		seen[v] = true;
		n++;
	}
	db_done(st);
	ck_assert_int_eq(n, 2 * PER_THREAD);
	ck_assert_int_eq(q_int(db, "SELECT last_value FROM invoice_counters WHERE year = 2027", NULL), 2 * PER_THREAD);
}
END_TEST

/* Numbering restarts with each year. */
START_TEST(invoice_numbers_restart_each_year)
{
	char a[IDS_MAX], b[IDS_MAX];
	struct bill_subscription sub;
	subscribed("US", "standard", a, &sub);
	move_to("2028-01-01T00:00:00Z");
	subscribed("US", "standard", b, &sub);
	char num[32];
	q_text("SELECT number FROM invoices WHERE account_id = ?1", b, num, sizeof num);
	ck_assert_str_eq(num, "HEA-2028-000001");
}
END_TEST

/* Invoices and credit notes number in separate gapless series per calendar
 * year (UTC), and a number that does not fit is refused. */
START_TEST(number_series_are_separate_and_yearly)
{
	char num[32];
	assert_err(inv_next_number(db, INV_SERIES_INVOICE, at("2027-03-01T00:00:00Z"), num, sizeof num), ERR_OK);
	ck_assert_str_eq(num, "HEA-2027-000001");
	assert_err(inv_next_number(db, INV_SERIES_INVOICE, at("2027-12-31T23:59:59Z"), num, sizeof num), ERR_OK);
	ck_assert_str_eq(num, "HEA-2027-000002");
	assert_err(inv_next_number(db, INV_SERIES_CREDIT_NOTE, at("2027-06-01T00:00:00Z"), num, sizeof num),
		   ERR_OK);
	ck_assert_str_eq(num, "HEA-CN-2027-000001");
	assert_err(inv_next_number(db, INV_SERIES_INVOICE, at("2028-01-01T00:00:00Z"), num, sizeof num), ERR_OK);
	ck_assert_str_eq(num, "HEA-2028-000001");
	assert_err(inv_next_number(db, INV_SERIES_CREDIT_NOTE, at("2027-06-02T00:00:00Z"), num, 12),
		   ERR_BUFFER_TOO_SMALL);
	ck_assert_int_eq(q_int(db, "SELECT last_value FROM invoice_counters WHERE year = 2027", NULL), 2);
}
END_TEST

/* The renewal key: one plan-period invoice per (subscription, period start). */
START_TEST(one_plan_invoice_per_subscription_period)
{
	char acc[IDS_MAX];
	struct bill_subscription sub;
	subscribed("US", "standard", acc, &sub);
	struct db_stmt *st = NULL;
	ck_assert_int_eq(db_prepare(db,
				    "INSERT INTO invoices (id, account_id, subscription_id, billing_reason, status,"
				    " currency, tax_inclusive, tax_rate_bps, tax_name, subtotal, tax, total,"
				    " period_start, period_end, plan_code, created_at)"
				    " VALUES ('inv_dup', ?1, ?2, 'subscription_cycle', 'draft', 'USD', 0, 825,"
				    " 'sales tax', 0, 0, 0, ?3, ?4, 'standard', ?3)",
				    &st),
			 ERR_OK);
	db_bind_text(st, 1, acc);
	db_bind_text(st, 2, sub.id);
	db_bind_int64(st, 3, sub.current_period_start);
	db_bind_int64(st, 4, sub.current_period_end);
	assert_err(db_step_done(st), ERR_CONFLICT);
	db_done(st);
}
END_TEST

static Suite *billing_suite(void)
{
	Suite *s = suite_create("billing");
	TCase *pure = tcase_create("arithmetic");
	tcase_add_test(pure, add_months_keeps_the_anchor_day);
	tcase_add_test(pure, periods_follow_the_anchor_through_short_months);
	tcase_add_test(pure, proration_table);
	tcase_add_test(pure, proration_refuses_mixed_currencies_and_empty_periods);
	tcase_add_test(pure, every_transition_allowed_or_refused);
	suite_add_tcase(s, pure);

	TCase *tc = tcase_create("domain");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, tax_inclusive_and_exclusive);
	tcase_add_test(tc, first_invoice_tax_exclusive_us_inclusive_gb);
	tcase_add_test(tc, refused_transitions_change_nothing);
	tcase_add_test(tc, catalog_names_each_bad_field);
	tcase_add_test(tc, catalog_reports_all_errors_at_once_and_bad_json_by_line);
	tcase_add_test(tc, catalog_import_makes_a_new_version_once);
	tcase_add_test(tc, default_catalog_sells_local_prices);
	tcase_add_test(tc, payment_methods_attach_default_remove);
	tcase_add_test(tc, last_payment_method_of_a_subscriber_stays);
	tcase_add_test(tc, payment_methods_are_limited);
	tcase_add_test(tc, subscribe_charges_the_first_period);
	tcase_add_test(tc, declined_first_charge_leaves_no_subscription);
	tcase_add_test(tc, processing_error_succeeds_on_retry);
	tcase_add_test(tc, subscribe_refuses_bad_requests_and_changes_nothing);
	tcase_add_test(tc, subscribe_with_a_named_method_makes_it_default);
	tcase_add_test(tc, upgrade_mid_period_us_jp_kw);
	tcase_add_test(tc, upgrade_declined_changes_nothing);
	tcase_add_test(tc, downgrade_is_scheduled_and_withdrawn);
	tcase_add_test(tc, upgrade_clears_a_scheduled_downgrade);
	tcase_add_test(tc, upgrade_at_the_last_second_costs_nothing);
	tcase_add_test(tc, plan_change_refuses_unknown_and_unsold_plans);
	tcase_add_test(tc, cancel_and_resume);
	tcase_add_test(tc, cancel_while_past_due_ends_now);
	tcase_add_test(tc, entitlements_by_state);
	tcase_add_test(tc, invoice_list_pages_newest_first);
	tcase_add_test(tc, receipt_is_escaped_html);
	tcase_add_test(tc, invoice_numbers_are_gapless_under_concurrent_subscribes);
	tcase_add_test(tc, invoice_numbers_restart_each_year);
	tcase_add_test(tc, number_series_are_separate_and_yearly);
	tcase_add_test(tc, one_plan_invoice_per_subscription_period);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	log_set_level(LOG_LEVEL_WARN);
	SRunner *sr = srunner_create(billing_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0;
}
