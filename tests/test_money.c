/*
 * test_money.c - the money module: currency table, exact arithmetic, the
 * half-away-from-zero rounding rule, tax, display and parsing.
 *
 * Expected values are worked out by hand in the comments, in integers, so a
 * reader can check each one without running anything.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/errors.h"
#include "core/money.h"

#define N_ROWS(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* A struct money that no test expects to see: proves an error left `out` alone. */
static const struct money untouched = {INT64_C(-4242), "ZZZ"};

static struct money mk(int64_t amount, const char *currency)
{
	struct money m;
	memset(&m, 0, sizeof m);
	m.amount = amount;
	/* Copies up to four bytes verbatim, so malformed codes can be built too. */
	memcpy(m.currency, currency, strnlen(currency, sizeof m.currency));
	return m;
}

static void assert_untouched(const struct money *m)
{
	ck_assert_int_eq(m->amount, untouched.amount);
	ck_assert_str_eq(m->currency, untouched.currency);
}

static void assert_err(enum err got, enum err want)
{
	ck_assert_msg(got == want, "got ERR_%s, want ERR_%s", err_name(got), err_name(want));
}

/* ---- the currency table ---------------------------------------------------------------- */

/* Every currency the brief asks for, with its ISO 4217 exponent. */
static const struct {
	const char *code;
	int exponent;
	const char *prefix;
} table_rows[] = {
	{"USD", 2, "$"},    {"EUR", 2, "€"},    {"GBP", 2, "£"},    {"INR", 2, "₹"},
	{"JPY", 0, "¥"},    {"BRL", 2, "R$"},   {"CAD", 2, "CA$"},  {"MXN", 2, "MX$"},
	{"KWD", 3, "KWD "}, {"AUD", 2, "A$"},   {"KRW", 0, "₩"},    {"CHF", 2, "CHF "},
	{"SEK", 2, "SEK "}, {"NOK", 2, "NOK "}, {"DKK", 2, "DKK "}, {"PLN", 2, "PLN "},
	{"NZD", 2, "NZ$"},  {"SGD", 2, "S$"},   {"HKD", 2, "HK$"},  {"ZAR", 2, "R"},
	{"TRY", 2, "₺"},    {"BHD", 3, "BHD "}, {"JOD", 3, "JOD "}, {"OMR", 3, "OMR "},
	{"TND", 3, "TND "}, {"CLP", 0, "CLP "}, {"VND", 0, "₫"},    {"IDR", 2, "Rp"},
	{"COP", 2, "COP "}, {"ARS", 2, "ARS "},
};

START_TEST(currency_found_with_iso_exponent)
{
	const struct money_currency *c = NULL;
	assert_err(money_currency_find(table_rows[_i].code, &c), ERR_OK);
	ck_assert_ptr_nonnull(c);
	ck_assert_str_eq(c->code, table_rows[_i].code);
	ck_assert_int_eq(c->exponent, table_rows[_i].exponent);
	ck_assert_str_eq(c->prefix, table_rows[_i].prefix);
}
END_TEST

/* Codes that must be refused: wrong case, wrong length, not in the table, not letters. */
static const char *const bad_codes[] = {
	"usd", "Usd", "uSD", "US", "XXXX", "", "USDX", "XXX", "U$D", "US ", " USD", "123", "USD\n",
};

START_TEST(currency_code_refused)
{
	const struct money_currency *c = &(const struct money_currency){"QQQ", 9, "q"};
	const struct money_currency *before = c;
	assert_err(money_currency_find(bad_codes[_i], &c), ERR_UNKNOWN_CURRENCY);
	ck_assert_ptr_eq(c, before);
}
END_TEST

START_TEST(init_with_unknown_code_changes_nothing)
{
	struct money m = untouched;
	assert_err(money_init(&m, 1799, bad_codes[_i]), ERR_UNKNOWN_CURRENCY);
	assert_untouched(&m);
}
END_TEST

START_TEST(init_fills_amount_and_code)
{
	struct money m = untouched;
	assert_err(money_init(&m, -150, "USD"), ERR_OK);
	ck_assert_int_eq(m.amount, -150);
	ck_assert_str_eq(m.currency, "USD");
}
END_TEST

/* ---- addition and subtraction ---------------------------------------------------------- */

enum op { ADD, SUB };

static const struct {
	enum op op;
	const char *a_cur;
	int64_t a;
	const char *b_cur;
	int64_t b;
	enum err err;
	int64_t want;
} addsub_rows[] = {
	{ADD, "USD", 1799, "USD", 300, ERR_OK, 2099},
	{ADD, "USD", 1799, "USD", -1799, ERR_OK, 0},
	{ADD, "JPY", 1590, "JPY", 1, ERR_OK, 1591},
	{ADD, "USD", INT64_MAX, "USD", INT64_MIN, ERR_OK, -1},
	{ADD, "USD", INT64_MAX - 1, "USD", 1, ERR_OK, INT64_MAX},
	/* INT64_MAX + 1 and INT64_MIN - 1 would wrap; they must be refused instead. */
	{ADD, "USD", INT64_MAX, "USD", 1, ERR_MONEY_OVERFLOW, 0},
	{ADD, "KWD", INT64_MIN, "KWD", -1, ERR_MONEY_OVERFLOW, 0},
	{ADD, "USD", 1799, "EUR", 300, ERR_CURRENCY_MISMATCH, 0},
	{ADD, "USD", 1799, "usd", 300, ERR_CURRENCY_MISMATCH, 0},
	{ADD, "usd", 1799, "usd", 300, ERR_UNKNOWN_CURRENCY, 0},
	{ADD, "XXX", 1799, "XXX", 300, ERR_UNKNOWN_CURRENCY, 0},
	{SUB, "USD", 1799, "USD", 300, ERR_OK, 1499},
	{SUB, "USD", 300, "USD", 1799, ERR_OK, -1499},
	{SUB, "USD", -1, "USD", INT64_MAX, ERR_OK, INT64_MIN},
	{SUB, "USD", 0, "USD", INT64_MIN, ERR_MONEY_OVERFLOW, 0},
	{SUB, "USD", INT64_MIN, "USD", 1, ERR_MONEY_OVERFLOW, 0},
	{SUB, "JPY", 1590, "KRW", 1590, ERR_CURRENCY_MISMATCH, 0},
	{SUB, "US", 1, "US", 1, ERR_UNKNOWN_CURRENCY, 0},
};

START_TEST(add_and_subtract)
{
	struct money a = mk(addsub_rows[_i].a, addsub_rows[_i].a_cur);
	struct money b = mk(addsub_rows[_i].b, addsub_rows[_i].b_cur);
	struct money out = untouched;
	enum err e = addsub_rows[_i].op == ADD ? money_add(&a, &b, &out) : money_sub(&a, &b, &out);
	assert_err(e, addsub_rows[_i].err);
	if (addsub_rows[_i].err != ERR_OK) {
		assert_untouched(&out);
		return;
	}
	ck_assert_int_eq(out.amount, addsub_rows[_i].want);
	ck_assert_str_eq(out.currency, addsub_rows[_i].a_cur);
}
END_TEST

START_TEST(add_into_an_operand)
{
	struct money a = mk(1799, "USD"), b = mk(300, "USD");
	assert_err(money_add(&a, &b, &a), ERR_OK);
	ck_assert_int_eq(a.amount, 2099);
	assert_err(money_sub(&a, &b, &b), ERR_OK);
	ck_assert_int_eq(b.amount, 1799);
	ck_assert_str_eq(b.currency, "USD");
}
END_TEST

/* ---- scaling: rounding and proration ------------------------------------------------- */

#define DAY INT64_C(86400)

static const struct {
	const char *why;
	const char *cur;
	int64_t amount, num, den;
	enum err err;
	int64_t want;
} scale_rows[] = {
	/* Exact halves go away from zero, in both directions. */
	{"1799/2 = 899.5", "USD", 1799, 1, 2, ERR_OK, 900},
	{"-1799/2 = -899.5", "USD", -1799, 1, 2, ERR_OK, -900},
	{"1799 * -1/2 = -899.5", "USD", 1799, -1, 2, ERR_OK, -900},
	{"5/2 = 2.5 (half-even would give 2)", "USD", 5, 1, 2, ERR_OK, 3},
	{"-5/2 = -2.5", "USD", -5, 1, 2, ERR_OK, -3},
	{"1/2 = 0.5", "USD", 1, 1, 2, ERR_OK, 1},
	{"-1/2 = -0.5", "USD", -1, 1, 2, ERR_OK, -1},
	{"1590/4 = 397.5", "JPY", 1590, 1, 4, ERR_OK, 398},
	{"-1590/4 = -397.5", "JPY", -1590, 1, 4, ERR_OK, -398},
	{"1591/4 = 397.75", "JPY", 1591, 1, 4, ERR_OK, 398},
	{"1589/4 = 397.25", "JPY", 1589, 1, 4, ERR_OK, 397},
	{"-1589/4 = -397.25", "JPY", -1589, 1, 4, ERR_OK, -397},
	{"1/3 = 0.33", "JPY", 1, 1, 3, ERR_OK, 0},
	{"2/3 = 0.67", "JPY", 2, 1, 3, ERR_OK, 1},
	{"2501/2 = 1250.5 (half-even would give 1250)", "KWD", 2501, 1, 2, ERR_OK, 1251},
	{"-2501/2 = -1250.5", "KWD", -2501, 1, 2, ERR_OK, -1251},
	{"2500/3 = 833.33", "KWD", 2500, 1, 3, ERR_OK, 833},
	{"2500*2/3 = 1666.67", "KWD", 2500, 2, 3, ERR_OK, 1667},
	{"-2500*2/3 = -1666.67", "KWD", -2500, 2, 3, ERR_OK, -1667},

	/* Proration: price * remaining / period. */
	{"1799 * 17d/30d = 30583/30 = 1019 r 13 -> 1019.43", "USD", 1799, 17, 30, ERR_OK, 1019},
	{"same in seconds, 1468800/2592000", "USD", 1799, 17 * DAY, 30 * DAY, ERR_OK, 1019},
	{"credit for 17 unused days, -1019.43", "USD", -1799, 17 * DAY, 30 * DAY, ERR_OK, -1019},
	{"1799 * 15d/30d = 899.5", "USD", 1799, 15 * DAY, 30 * DAY, ERR_OK, 900},
	{"1799 * 1234567s/2592000s = 2220986033/2592000 = 856 r 2234033 -> 856.86", "USD", 1799,
	 1234567, 30 * DAY, ERR_OK, 857},
	{"2299 * 1d/31d = 74 r 5 -> 74.16", "USD", 2299, DAY, 31 * DAY, ERR_OK, 74},
	{"2299 * 30d/31d = 68970/31 = 2224 r 26 -> 2224.84 (74 + 2225 = 2299)", "USD", 2299,
	 30 * DAY, 31 * DAY, ERR_OK, 2225},
	{"1799 * 31d/30d = 55769/30 = 1858 r 29 -> 1858.97", "USD", 1799, 31, 30, ERR_OK, 1859},
	{"whole period", "USD", 1799, 31 * DAY, 31 * DAY, ERR_OK, 1799},
	{"nothing left", "USD", 1799, 0, 30 * DAY, ERR_OK, 0},
	{"1590 * 17/30 = 27030/30 = 901 exactly", "JPY", 1590, 17, 30, ERR_OK, 901},
	{"1590 * 11/31 = 17490/31 = 564 r 6 -> 564.19", "JPY", 1590, 11, 31, ERR_OK, 564},
	{"2500 * 17/30 = 42500/30 = 1416 r 20 -> 1416.67", "KWD", 2500, 17, 30, ERR_OK, 1417},
	{"2500 * 13/28 = 32500/28 = 1160 r 20 -> 1160.71", "KWD", 2500, 13 * DAY, 28 * DAY, ERR_OK,
	 1161},
	{"64900 * 10/30 = 649000/30 = 21633 r 10 -> 21633.33", "INR", 64900, 10, 30, ERR_OK, 21633},

	/* Range: the 128-bit product never overflows, the int64 result is checked. */
	{"INT64_MAX * 3/2", "USD", INT64_MAX, 3, 2, ERR_MONEY_OVERFLOW, 0},
	{"INT64_MAX * INT64_MAX / INT64_MAX", "USD", INT64_MAX, INT64_MAX, INT64_MAX, ERR_OK,
	 INT64_MAX},
	{"INT64_MIN * 1/1", "USD", INT64_MIN, 1, 1, ERR_OK, INT64_MIN},
	{"INT64_MIN * -1/1 = 2^63", "USD", INT64_MIN, -1, 1, ERR_MONEY_OVERFLOW, 0},
	{"INT64_MAX/2 = 4611686018427387903.5", "USD", INT64_MAX, 1, 2, ERR_OK,
	 INT64_C(4611686018427387904)},
	/* (2^64 - 1)/3 * 3/2 = 2^63 - 0.5: truncated it fits, rounded it does not. */
	{"rounding past INT64_MAX", "USD", INT64_C(6148914691236517205), 3, 2, ERR_MONEY_OVERFLOW, 0},
	{"rounding onto INT64_MIN", "USD", -INT64_C(6148914691236517205), 3, 2, ERR_OK, INT64_MIN},

	/* Preconditions. */
	{"den 0", "USD", 1799, 1, 0, ERR_INTERNAL, 0},
	{"den < 0", "USD", 1799, 1, -30, ERR_INTERNAL, 0},
	{"unknown currency", "usd", 1799, 1, 2, ERR_UNKNOWN_CURRENCY, 0},
	{"empty currency", "", 1799, 1, 2, ERR_UNKNOWN_CURRENCY, 0},
};

START_TEST(scale_rounds_half_away_from_zero)
{
	struct money in = mk(scale_rows[_i].amount, scale_rows[_i].cur);
	struct money out = untouched;
	enum err e = money_scale(&in, scale_rows[_i].num, scale_rows[_i].den, &out);
	ck_assert_msg(e == scale_rows[_i].err, "%s: got ERR_%s, want ERR_%s", scale_rows[_i].why,
		      err_name(e), err_name(scale_rows[_i].err));
	if (scale_rows[_i].err != ERR_OK) {
		assert_untouched(&out);
		return;
	}
	ck_assert_msg(out.amount == scale_rows[_i].want, "%s: got %jd, want %jd", scale_rows[_i].why,
		      (intmax_t)out.amount, (intmax_t)scale_rows[_i].want);
	ck_assert_str_eq(out.currency, scale_rows[_i].cur);
}
END_TEST

START_TEST(scale_into_its_input)
{
	struct money m = mk(1799, "USD");
	assert_err(money_scale(&m, 1, 2, &m), ERR_OK);
	ck_assert_int_eq(m.amount, 900);
	ck_assert_str_eq(m.currency, "USD");
}
END_TEST

/* ---- tax ------------------------------------------------------------------------------ */

enum tax_kind { INCLUDED, ADDED };

static const struct {
	const char *why;
	enum tax_kind kind;
	const char *cur;
	int64_t amount;
	int32_t bps;
	enum err err;
	int64_t want;
} tax_rows[] = {
	{"1799 - round(17990000/12000 = 1499.17) = 1799 - 1499", INCLUDED, "USD", 1799, 2000, ERR_OK,
	 300},
	{"credit mirrors the charge", INCLUDED, "USD", -1799, 2000, ERR_OK, -300},
	{"1099 - round(915.83) = 1099 - 916", INCLUDED, "GBP", 1099, 2000, ERR_OK, 183},
	{"1000 - round(833.33) = 1000 - 833", INCLUDED, "EUR", 1000, 2000, ERR_OK, 167},
	{"GST 18%: 64900 - 649000000/11800 = 64900 - 55000 exactly", INCLUDED, "INR", 64900, 1800,
	 ERR_OK, 9900},
	{"JP 10%: 1590 - round(1445.45) = 1590 - 1445", INCLUDED, "JPY", 1590, 1000, ERR_OK, 145},
	{"3 - round(1.5) = 3 - 2", INCLUDED, "JPY", 3, 10000, ERR_OK, 1},
	{"-3 - round(-1.5) = -3 + 2", INCLUDED, "JPY", -3, 10000, ERR_OK, -1},
	{"KW has no VAT", INCLUDED, "KWD", 2500, 0, ERR_OK, 0},
	{"2500 - round(25000000/10500 = 2380.95) = 2500 - 2381", INCLUDED, "KWD", 2500, 500, ERR_OK,
	 119},
	{"largest price, 100%: INT64_MAX - round(INT64_MAX/2)", INCLUDED, "USD", INT64_MAX, 10000,
	 ERR_OK, INT64_C(4611686018427387903)},
	{"1799 * 2000/10000 = 359.8", ADDED, "USD", 1799, 2000, ERR_OK, 360},
	{"-359.8", ADDED, "USD", -1799, 2000, ERR_OK, -360},
	{"1445 * 1000/10000 = 144.5", ADDED, "JPY", 1445, 1000, ERR_OK, 145},
	{"-144.5", ADDED, "JPY", -1445, 1000, ERR_OK, -145},
	{"1 * 5000/10000 = 0.5", ADDED, "USD", 1, 5000, ERR_OK, 1},
	{"1 * 4999/10000 = 0.4999", ADDED, "USD", 1, 4999, ERR_OK, 0},
	{"2500 * 500/10000 = 125 exactly", ADDED, "KWD", 2500, 500, ERR_OK, 125},
	{"1999 * 825/10000 = 164.9175 (NY sales tax 8.25%)", ADDED, "USD", 1999, 825, ERR_OK, 165},
	{"100% of INT64_MAX", ADDED, "USD", INT64_MAX, 10000, ERR_OK, INT64_MAX},
	{"rate below 0", INCLUDED, "USD", 1799, -1, ERR_INTERNAL, 0},
	{"rate above 100%", INCLUDED, "USD", 1799, 10001, ERR_INTERNAL, 0},
	{"rate below 0", ADDED, "USD", 1799, -1, ERR_INTERNAL, 0},
	{"rate above 100%", ADDED, "USD", 1799, 200000, ERR_INTERNAL, 0},
	{"unknown currency", INCLUDED, "XXX", 1799, 2000, ERR_UNKNOWN_CURRENCY, 0},
	{"unknown currency", ADDED, "Usd", 1799, 2000, ERR_UNKNOWN_CURRENCY, 0},
};

START_TEST(tax_on_basis_points)
{
	struct money price = mk(tax_rows[_i].amount, tax_rows[_i].cur);
	struct money tax = untouched;
	enum err e = tax_rows[_i].kind == INCLUDED
			     ? money_tax_included_in(&price, tax_rows[_i].bps, &tax)
			     : money_tax_added_to(&price, tax_rows[_i].bps, &tax);
	ck_assert_msg(e == tax_rows[_i].err, "%s: got ERR_%s, want ERR_%s", tax_rows[_i].why,
		      err_name(e), err_name(tax_rows[_i].err));
	if (tax_rows[_i].err != ERR_OK) {
		assert_untouched(&tax);
		return;
	}
	ck_assert_msg(tax.amount == tax_rows[_i].want, "%s: got %jd, want %jd", tax_rows[_i].why,
		      (intmax_t)tax.amount, (intmax_t)tax_rows[_i].want);
	ck_assert_str_eq(tax.currency, tax_rows[_i].cur);
}
END_TEST

/*
 * Over a run of prices, the net left by an inclusive 20 % tax is the nearest
 * whole cent to price / 1.2, with a half going away from zero.  Checked with
 * multiplication only: off = 10000 * price - 12000 * net must lie within
 * half of 12000, and be -6000 (not +6000) on a positive half, +6000 on a
 * negative one.  Net plus tax is the price by construction of the sum.
 */
START_TEST(included_tax_leaves_nearest_net)
{
	for (int64_t amount = -2000; amount <= 2000; amount++) {
		struct money price = mk(amount, "USD"), tax, net;
		assert_err(money_tax_included_in(&price, 2000, &tax), ERR_OK);
		assert_err(money_sub(&price, &tax, &net), ERR_OK);
		int64_t off = amount * 10000 - net.amount * 12000;
		int ok = amount >= 0 ? off >= -6000 && off < 6000 : off > -6000 && off <= 6000;
		ck_assert_msg(ok, "price %jd: net %jd", (intmax_t)amount, (intmax_t)net.amount);
	}
}
END_TEST

/* ---- formatting ---------------------------------------------------------------------- */

static const struct {
	const char *cur;
	int64_t amount;
	const char *want;
} format_rows[] = {
	/* One real price per currency in the table. */
	{"USD", 1799, "$17.99"},
	{"EUR", 999, "€9.99"},
	{"GBP", 1099, "£10.99"},
	{"INR", 64900, "₹649"},
	{"JPY", 1590, "¥1,590"},
	{"BRL", 3990, "R$39.90"},
	{"CAD", 1649, "CA$16.49"},
	{"MXN", 21900, "MX$219"},
	{"KWD", 2500, "KWD 2.500"},
	{"AUD", 1899, "A$18.99"},
	{"KRW", 13500, "₩13,500"},
	{"CHF", 2190, "CHF 21.90"},
	{"SEK", 14900, "SEK 149"},
	{"NOK", 17900, "NOK 179"},
	{"DKK", 11900, "DKK 119"},
	{"PLN", 4300, "PLN 43"},
	{"NZD", 2599, "NZ$25.99"},
	{"SGD", 1998, "S$19.98"},
	{"HKD", 9300, "HK$93"},
	{"ZAR", 19900, "R199"},
	{"TRY", 14999, "₺149.99"},
	{"BHD", 3500, "BHD 3.500"},
	{"JOD", 4990, "JOD 4.990"},
	{"OMR", 3100, "OMR 3.100"},
	{"TND", 24500, "TND 24.500"},
	{"CLP", 7990, "CLP 7,990"},
	{"VND", 260000, "₫260,000"},
	{"IDR", 18600000, "Rp186,000"},
	{"COP", 3890000, "COP 38,900"},
	{"ARS", 449900, "ARS 4,499"},
	/* Signs, small amounts, zero minor parts and grouping. */
	{"USD", -150, "-$1.50"},
	{"USD", -1799, "-$17.99"},
	{"JPY", -1590, "-¥1,590"},
	{"KWD", -2500, "-KWD 2.500"},
	{"USD", 0, "$0"},
	{"USD", 5, "$0.05"},
	{"USD", -5, "-$0.05"},
	{"USD", 100, "$1"},
	{"USD", 1800, "$18"},
	{"USD", 1810, "$18.10"},
	{"KWD", 1, "KWD 0.001"},
	{"KWD", 2550, "KWD 2.550"},
	{"JPY", 999, "¥999"},
	{"JPY", 1000, "¥1,000"},
	{"USD", 99999, "$999.99"},
	{"USD", 100000, "$1,000"},
	{"USD", 123456789, "$1,234,567.89"},
	{"KWD", 1234567, "KWD 1,234.567"},
	{"USD", INT64_MAX, "$92,233,720,368,547,758.07"},
	{"USD", INT64_MIN, "-$92,233,720,368,547,758.08"},
	{"JPY", INT64_MIN, "-¥9,223,372,036,854,775,808"},
	{"KWD", INT64_MIN, "-KWD 9,223,372,036,854,775.808"},
};

START_TEST(format_for_display)
{
	struct money m = mk(format_rows[_i].amount, format_rows[_i].cur);
	char buf[MONEY_FORMAT_MAX];
	assert_err(money_format(&m, buf, sizeof buf), ERR_OK);
	ck_assert_str_eq(buf, format_rows[_i].want);
}
END_TEST

START_TEST(format_max_fits_every_currency)
{
	struct money m = mk(INT64_MIN, table_rows[_i].code);
	char buf[MONEY_FORMAT_MAX];
	assert_err(money_format(&m, buf, sizeof buf), ERR_OK);
	ck_assert_ptr_nonnull(strstr(buf, table_rows[_i].prefix));
}
END_TEST

START_TEST(format_reports_truncation)
{
	struct money m = mk(1799, "USD");
	char buf[16];

	/* "$17.99" is six bytes and a NUL: six bytes must fail and leave no partial amount. */
	memset(buf, 'x', sizeof buf);
	assert_err(money_format(&m, buf, 6), ERR_BUFFER_TOO_SMALL);
	ck_assert_str_eq(buf, "");
	assert_err(money_format(&m, buf, 7), ERR_OK);
	ck_assert_str_eq(buf, "$17.99");

	memset(buf, 'x', sizeof buf);
	assert_err(money_format(&m, buf, 0), ERR_BUFFER_TOO_SMALL);
	ck_assert_int_eq(buf[0], 'x');

	/* Multi-byte prefixes count in bytes: "₩13,500" is 3 + 6 bytes. */
	m = mk(13500, "KRW");
	assert_err(money_format(&m, buf, 9), ERR_BUFFER_TOO_SMALL);
	ck_assert_str_eq(buf, "");
	assert_err(money_format(&m, buf, 10), ERR_OK);
	ck_assert_str_eq(buf, "₩13,500");
}
END_TEST

START_TEST(format_unknown_currency)
{
	char buf[MONEY_FORMAT_MAX];
	struct money m = mk(1799, bad_codes[_i]);
	memset(buf, 'x', sizeof buf);
	assert_err(money_format(&m, buf, sizeof buf), ERR_UNKNOWN_CURRENCY);
	ck_assert_str_eq(buf, "");
}
END_TEST

START_TEST(format_code_without_nul)
{
	/* A struct money filled by hand with four letters must be refused, not over-read. */
	struct money m;
	char buf[MONEY_FORMAT_MAX];
	m.amount = 1799;
	memcpy(m.currency, "USDX", 4);
	assert_err(money_format(&m, buf, sizeof buf), ERR_UNKNOWN_CURRENCY);
}
END_TEST

/* ---- parsing ------------------------------------------------------------------------- */

static const struct {
	const char *text;
	const char *cur;
	int64_t want;
} parse_ok_rows[] = {
	{"17.99", "USD", 1799},
	{"1590", "JPY", 1590},
	{"2.5", "KWD", 2500},
	{"2.500", "KWD", 2500},
	{"0.001", "KWD", 1},
	{"17", "USD", 1700},
	{"17.9", "USD", 1790},
	{"0.05", "USD", 5},
	{"0", "USD", 0},
	{"-0", "USD", 0},
	{"-1.50", "USD", -150},
	{"-1590", "JPY", -1590},
	{"649", "INR", 64900},
	{"13500", "KRW", 13500},
	{"007.10", "USD", 710},
	{"92233720368547758.07", "USD", INT64_MAX},
	{"-92233720368547758.08", "USD", INT64_MIN},
	{"9223372036854775807", "JPY", INT64_MAX},
	{"-9223372036854775808", "JPY", INT64_MIN},
	{"9223372036854775.807", "KWD", INT64_MAX},
};

START_TEST(parse_valid)
{
	struct money out = untouched;
	assert_err(money_parse(parse_ok_rows[_i].text, parse_ok_rows[_i].cur, &out), ERR_OK);
	ck_assert_int_eq(out.amount, parse_ok_rows[_i].want);
	ck_assert_str_eq(out.currency, parse_ok_rows[_i].cur);
}
END_TEST

static const struct {
	const char *text;
	const char *cur;
	enum err err;
} parse_bad_rows[] = {
	{"17.999", "USD", ERR_INVALID_AMOUNT}, /* finer than a cent */
	{"2.5001", "KWD", ERR_INVALID_AMOUNT},
	{"1590.0", "JPY", ERR_INVALID_AMOUNT}, /* JPY has no minor digits at all */
	{"1590.", "JPY", ERR_INVALID_AMOUNT},
	{"17.", "USD", ERR_INVALID_AMOUNT},
	{".99", "USD", ERR_INVALID_AMOUNT},
	{"-.99", "USD", ERR_INVALID_AMOUNT},
	{"1e3", "USD", ERR_INVALID_AMOUNT},
	{"1E3", "JPY", ERR_INVALID_AMOUNT},
	{"", "USD", ERR_INVALID_AMOUNT},
	{"-", "USD", ERR_INVALID_AMOUNT},
	{" 1", "USD", ERR_INVALID_AMOUNT},
	{"1 ", "USD", ERR_INVALID_AMOUNT},
	{"+1", "USD", ERR_INVALID_AMOUNT},
	{"--1", "USD", ERR_INVALID_AMOUNT},
	{"- 1", "USD", ERR_INVALID_AMOUNT},
	{"1,590", "JPY", ERR_INVALID_AMOUNT},
	{"17,99", "EUR", ERR_INVALID_AMOUNT},
	{"1.2.3", "USD", ERR_INVALID_AMOUNT},
	{"$17.99", "USD", ERR_INVALID_AMOUNT},
	{"17.99USD", "USD", ERR_INVALID_AMOUNT},
	{"0x10", "USD", ERR_INVALID_AMOUNT},
	{"inf", "USD", ERR_INVALID_AMOUNT},
	{"NaN", "USD", ERR_INVALID_AMOUNT},
	{"1\n", "USD", ERR_INVALID_AMOUNT},
	{"١٢", "USD", ERR_INVALID_AMOUNT}, /* Arabic-Indic digits are not ASCII digits */
	{"92233720368547758.08", "USD", ERR_INVALID_AMOUNT}, /* INT64_MAX + 1 cents */
	{"-92233720368547758.09", "USD", ERR_INVALID_AMOUNT},
	{"9223372036854775808", "JPY", ERR_INVALID_AMOUNT},
	{"18446744073709551616", "JPY", ERR_INVALID_AMOUNT}, /* 2^64: overflows while reading */
	{"99999999999999999999999999", "USD", ERR_INVALID_AMOUNT},
	{"9223372036854775807", "USD", ERR_INVALID_AMOUNT}, /* fits as digits, not as cents */
	{"17.99", "usd", ERR_UNKNOWN_CURRENCY},
	{"17.99", "US", ERR_UNKNOWN_CURRENCY},
	{"17.99", "XXXX", ERR_UNKNOWN_CURRENCY},
	{"17.99", "", ERR_UNKNOWN_CURRENCY},
	{"17.99", "XXX", ERR_UNKNOWN_CURRENCY},
};

START_TEST(parse_invalid_changes_nothing)
{
	struct money out = untouched;
	enum err e = money_parse(parse_bad_rows[_i].text, parse_bad_rows[_i].cur, &out);
	ck_assert_msg(e == parse_bad_rows[_i].err, "\"%s\" %s: got ERR_%s, want ERR_%s",
		      parse_bad_rows[_i].text, parse_bad_rows[_i].cur, err_name(e),
		      err_name(parse_bad_rows[_i].err));
	assert_untouched(&out);
}
END_TEST

/* Formatting then stripping the prefix and commas parses back to the same amount. */
START_TEST(format_then_parse_round_trips)
{
	static const int64_t amounts[] = {0, 1, -1, 5, 10, 99, 100, 1799, -1799, 123456789,
					  INT64_MAX, INT64_MIN};
	for (int k = 0; k < N_ROWS(amounts); k++) {
		struct money m = mk(amounts[k], table_rows[_i].code), back = untouched;
		char shown[MONEY_FORMAT_MAX], plain[MONEY_FORMAT_MAX];
		size_t n = 0;
		ck_assert_int_eq(money_format(&m, shown, sizeof shown), ERR_OK);
		const char *p = shown;
		if (*p == '-')
			plain[n++] = *p++;
		p += strlen(table_rows[_i].prefix);
		for (; *p; p++)
			if (*p != ',')
				plain[n++] = *p;
		plain[n] = '\0';
		assert_err(money_parse(plain, table_rows[_i].code, &back), ERR_OK);
		ck_assert_int_eq(back.amount, amounts[k]);
	}
}
END_TEST

/* ---- error rows ---------------------------------------------------------------------- */

START_TEST(money_error_rows)
{
	ck_assert_int_eq(err_status(ERR_UNKNOWN_CURRENCY), 422);
	ck_assert_str_eq(err_code(ERR_UNKNOWN_CURRENCY), "unknown_currency");
	ck_assert_int_eq(err_status(ERR_CURRENCY_MISMATCH), 422);
	ck_assert_str_eq(err_code(ERR_CURRENCY_MISMATCH), "currency_mismatch");
	ck_assert_int_eq(err_status(ERR_INVALID_AMOUNT), 422);
	ck_assert_str_eq(err_code(ERR_INVALID_AMOUNT), "invalid_amount");
	/* Internal: a client sees only the generic code. */
	ck_assert_int_eq(err_status(ERR_MONEY_OVERFLOW), 500);
	ck_assert_str_eq(err_code(ERR_MONEY_OVERFLOW), "internal_error");
	ck_assert_int_eq(err_status(ERR_BUFFER_TOO_SMALL), 500);
	ck_assert_str_eq(err_code(ERR_BUFFER_TOO_SMALL), "internal_error");
}
END_TEST

static Suite *money_suite(void)
{
	Suite *s = suite_create("money");
	TCase *tc;

	tc = tcase_create("currencies");
	tcase_add_loop_test(tc, currency_found_with_iso_exponent, 0, N_ROWS(table_rows));
	tcase_add_loop_test(tc, currency_code_refused, 0, N_ROWS(bad_codes));
	tcase_add_loop_test(tc, init_with_unknown_code_changes_nothing, 0, N_ROWS(bad_codes));
	tcase_add_test(tc, init_fills_amount_and_code);
	tcase_add_test(tc, money_error_rows);
	suite_add_tcase(s, tc);

	tc = tcase_create("arithmetic");
	tcase_add_loop_test(tc, add_and_subtract, 0, N_ROWS(addsub_rows));
	tcase_add_test(tc, add_into_an_operand);
	tcase_add_loop_test(tc, scale_rounds_half_away_from_zero, 0, N_ROWS(scale_rows));
	tcase_add_test(tc, scale_into_its_input);
	suite_add_tcase(s, tc);

	tc = tcase_create("tax");
	tcase_add_loop_test(tc, tax_on_basis_points, 0, N_ROWS(tax_rows));
	tcase_add_test(tc, included_tax_leaves_nearest_net);
	suite_add_tcase(s, tc);

	tc = tcase_create("format");
	tcase_add_loop_test(tc, format_for_display, 0, N_ROWS(format_rows));
	tcase_add_loop_test(tc, format_max_fits_every_currency, 0, N_ROWS(table_rows));
	tcase_add_test(tc, format_reports_truncation);
	tcase_add_loop_test(tc, format_unknown_currency, 0, N_ROWS(bad_codes));
	tcase_add_test(tc, format_code_without_nul);
	suite_add_tcase(s, tc);

	tc = tcase_create("parse");
	tcase_add_loop_test(tc, parse_valid, 0, N_ROWS(parse_ok_rows));
	tcase_add_loop_test(tc, parse_invalid_changes_nothing, 0, N_ROWS(parse_bad_rows));
	tcase_add_loop_test(tc, format_then_parse_round_trips, 0, N_ROWS(table_rows));
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(money_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
