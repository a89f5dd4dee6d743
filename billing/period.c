/*
 * Pure billing arithmetic: calendar months on epoch seconds (UTC),
 * proration and per-line tax.  No database, no clock, no state.
 *
 * The civil-date conversions are Howard Hinnant's days_from_civil and
 * civil_from_days (proleptic Gregorian, exact for every int64 day we use),
 * so nothing depends on the C library's time zone handling.
 */
#include <stdio.h>
#include <string.h>

#include "billing/billing_int.h"

#define DAY 86400

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	if ((a % b != 0) && ((a < 0) != (b < 0)))
		q--;
	return q;
}

static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
	y -= m <= 2;
	int64_t era = floor_div(y, 400);
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int64_t *m, int64_t *d)
{
	z += 719468;
	int64_t era = floor_div(z, 146097);
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = yoe + era * 400 + (*m <= 2);
}

static bool is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int64_t days_in_month(int64_t y, int64_t m)
{
	static const int64_t dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

int64_t bill_add_months(int64_t anchor, int64_t months)
{
	int64_t days = floor_div(anchor, DAY);
	int64_t sod = anchor - days * DAY;
	int64_t y, m, d;
	civil_from_days(days, &y, &m, &d);
	int64_t total = y * 12 + (m - 1) + months;
	int64_t y2 = floor_div(total, 12);
	int64_t m2 = total - y2 * 12 + 1;
	int64_t dim = days_in_month(y2, m2);
	int64_t d2 = d < dim ? d : dim;
	return days_from_civil(y2, m2, d2) * DAY + sod;
}

void bill_period_bounds(int64_t anchor, int64_t n, int64_t *start, int64_t *end)
{
	*start = bill_add_months(anchor, n);
	*end = bill_add_months(anchor, n + 1);
}

enum err bill_prorate(const struct money *old_price, const struct money *new_price, int64_t start,
		      int64_t end, int64_t at, struct bill_proration *out)
{
	if (end <= start)
		return ERR_INTERNAL;
	if (strcmp(old_price->currency, new_price->currency) != 0)
		return ERR_CURRENCY_MISMATCH;
	if (at < start)
		at = start;
	if (at > end)
		at = end;
	struct bill_proration p;
	p.period_seconds = end - start;
	p.remaining = end - at;
	enum err e = money_scale(old_price, -p.remaining, p.period_seconds, &p.credit);
	if (e == ERR_OK)
		e = money_scale(new_price, p.remaining, p.period_seconds, &p.charge);
	if (e != ERR_OK)
		return e;
	*out = p;
	return ERR_OK;
}

enum err bill_line_tax(const struct money *amount, bool tax_inclusive, int32_t tax_rate_bps,
		       struct money *tax)
{
	return tax_inclusive ? money_tax_included_in(amount, tax_rate_bps, tax)
			     : money_tax_added_to(amount, tax_rate_bps, tax);
}

enum err bill_tax_note(bool inclusive, int32_t bps, const char *tax_name, char *buf, size_t cap)
{
	char pct[16];
	int n;
	if (bps < 0 || bps > MONEY_TAX_BPS_MAX)
		return ERR_INTERNAL;
	if (bps == 0) {
		n = snprintf(buf, cap, "no tax");
	} else {
		/* Basis points as a percentage with no trailing zeros: 2000 -> "20",
		 * 825 -> "8.25", 1950 -> "19.5". */
		int32_t whole = bps / 100, frac = bps % 100;
		if (frac == 0)
			n = snprintf(pct, sizeof pct, "%d", (int)whole);
		else if (frac % 10 == 0)
			n = snprintf(pct, sizeof pct, "%d.%d", (int)whole, (int)(frac / 10));
		else
			n = snprintf(pct, sizeof pct, "%d.%02d", (int)whole, (int)frac);
		if (n < 0 || (size_t)n >= sizeof pct)
			return ERR_INTERNAL;
		n = snprintf(buf, cap, "%s %s %s%%", inclusive ? "includes" : "plus", tax_name, pct);
	}
	if (n < 0 || (size_t)n >= cap) {
		if (cap)
			buf[0] = '\0';
		return ERR_BUFFER_TOO_SMALL;
	}
	return ERR_OK;
}

static const char *const device_names[BILL_DEVICE_COUNT] = {"tv", "web", "phone", "tablet", "console"};

const char *bill_device_name(int i)
{
	return i >= 0 && i < BILL_DEVICE_COUNT ? device_names[i] : "";
}

const char *bill_line_kind_name(enum bill_line_kind k)
{
	switch (k) {
	case BILL_LINE_PLAN:
		return "plan";
	case BILL_LINE_ADDON:
		return "addon";
	case BILL_LINE_PRORATION_CREDIT:
		return "proration_credit";
	case BILL_LINE_PRORATION_CHARGE:
		return "proration_charge";
	case BILL_LINE_TAX:
		return "tax";
	}
	return "";
}

void bill_civil_date(int64_t t, int64_t *y, int64_t *m, int64_t *d)
{
	civil_from_days(floor_div(t, DAY), y, m, d);
}

void bill_date_text(int64_t t, char *buf, size_t cap)
{
	static const char *const months[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	int64_t y, m, d;
	bill_civil_date(t, &y, &m, &d);
	snprintf(buf, cap, "%lld %s %lld", (long long)d, months[m - 1], (long long)y);
}
