#include "core/money.h"

#include <assert.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/*
 * The currencies, by ISO 4217 code, with their ISO minor-unit exponents.
 *
 * The display prefix is the currency's symbol where that symbol is written
 * before the amount and is not shared with another currency in the table
 * (the CLDR English forms: "CA$", "A$", "MX$" rather than a bare "$").  A
 * currency whose symbol is written after the amount ("kr", "zł") or is
 * ambiguous ("$" for CLP, COP and ARS) or has none in common use (the three-
 * digit dinars) is shown as its code and a space.
 */
static const struct money_currency currencies[] = {
	{"ARS", 2, "ARS "},
	{"AUD", 2, "A$"},
	{"BHD", 3, "BHD "},
	{"BRL", 2, "R$"},
	{"CAD", 2, "CA$"},
	{"CHF", 2, "CHF "},
	{"CLP", 0, "CLP "},
	{"COP", 2, "COP "},
	{"DKK", 2, "DKK "},
	{"EUR", 2, "€"},
	{"GBP", 2, "£"},
	{"HKD", 2, "HK$"},
	{"IDR", 2, "Rp"},
	{"INR", 2, "₹"},
	{"JOD", 3, "JOD "},
	{"JPY", 0, "¥"},
	{"KRW", 0, "₩"},
	{"KWD", 3, "KWD "},
	{"MXN", 2, "MX$"},
	{"NOK", 2, "NOK "},
	{"NZD", 2, "NZ$"},
	{"OMR", 3, "OMR "},
	{"PLN", 2, "PLN "},
	{"SEK", 2, "SEK "},
	{"SGD", 2, "S$"},
	{"TND", 3, "TND "},
	{"TRY", 2, "₺"},
	{"USD", 2, "$"},
	{"VND", 0, "₫"},
	{"ZAR", 2, "R"},
};

/* 10^exponent for every exponent the table uses. */
static const uint64_t minor_per_major[] = {1, 10, 100, 1000};

/*
 * The row for `code`, or NULL.  Reads `code` one byte at a time and stops at
 * the first byte that is not an uppercase letter, so it never reads past a
 * short string's NUL nor past the fourth byte of a struct money's code.
 */
static const struct money_currency *find(const char *code)
{
	for (int i = 0; i < 3; i++)
		if (code[i] < 'A' || code[i] > 'Z')
			return NULL;
	if (code[3] != '\0')
		return NULL;
	for (size_t i = 0; i < sizeof currencies / sizeof currencies[0]; i++)
		if (memcmp(code, currencies[i].code, 4) == 0)
			return &currencies[i];
	return NULL;
}

enum err money_currency_find(const char *code, const struct money_currency **out)
{
	assert(code != NULL && out != NULL);
	const struct money_currency *c = find(code);
	if (!c)
		return ERR_UNKNOWN_CURRENCY;
	*out = c;
	return ERR_OK;
}

enum err money_init(struct money *out, int64_t amount, const char *currency)
{
	assert(out != NULL && currency != NULL);
	const struct money_currency *c = find(currency);
	if (!c)
		return ERR_UNKNOWN_CURRENCY;
	out->amount = amount;
	memcpy(out->currency, c->code, sizeof out->currency);
	return ERR_OK;
}

/* A result in `c`'s currency; built whole, then assigned, so `out` may alias an input. */
static struct money make(const struct money_currency *c, int64_t amount)
{
	struct money m;
	m.amount = amount;
	memcpy(m.currency, c->code, sizeof m.currency);
	return m;
}

/* Checks both operands of a binary operation and returns `a`'s currency row. */
static enum err same_currency(const struct money *a, const struct money *b,
			      const struct money_currency **out)
{
	const struct money_currency *c = find(a->currency);
	if (!c)
		return ERR_UNKNOWN_CURRENCY;
	if (memcmp(a->currency, b->currency, sizeof a->currency) != 0)
		return ERR_CURRENCY_MISMATCH;
	*out = c;
	return ERR_OK;
}

enum err money_add(const struct money *a, const struct money *b, struct money *out)
{
	assert(a != NULL && b != NULL && out != NULL);
	const struct money_currency *c = NULL;
	int64_t sum;
	enum err e = same_currency(a, b, &c);
	if (e != ERR_OK)
		return e;
	if (__builtin_add_overflow(a->amount, b->amount, &sum))
		return ERR_MONEY_OVERFLOW;
	*out = make(c, sum);
	return ERR_OK;
}

enum err money_sub(const struct money *a, const struct money *b, struct money *out)
{
	assert(a != NULL && b != NULL && out != NULL);
	const struct money_currency *c = NULL;
	int64_t diff;
	enum err e = same_currency(a, b, &c);
	if (e != ERR_OK)
		return e;
	if (__builtin_sub_overflow(a->amount, b->amount, &diff))
		return ERR_MONEY_OVERFLOW;
	*out = make(c, diff);
	return ERR_OK;
}

/*
 * amount * num / den, rounded to the nearest integer with halves away from
 * zero.  |amount * num| <= 2^126 fits in a signed 128-bit integer, and so
 * does 2 * |remainder| < 2 * den <= 2^64, so no step here can overflow;
 * only the final quotient is range-checked.  C division truncates toward
 * zero and the remainder takes the dividend's sign, which is what makes the
 * rule symmetric for negative amounts.
 */
static enum err scale(int64_t amount, int64_t num, int64_t den, int64_t *out)
{
	if (den <= 0)
		return ERR_INTERNAL;
	__int128 product = (__int128)amount * num;
	__int128 quotient = product / den;
	__int128 remainder = product % den;
	if (remainder < 0)
		remainder = -remainder;
	if (2 * remainder >= den)
		quotient += product < 0 ? -1 : 1;
	if (quotient > INT64_MAX || quotient < INT64_MIN)
		return ERR_MONEY_OVERFLOW;
	*out = (int64_t)quotient;
	return ERR_OK;
}

enum err money_scale(const struct money *amount, int64_t num, int64_t den, struct money *out)
{
	assert(amount != NULL && out != NULL);
	int64_t scaled;
	const struct money_currency *c = find(amount->currency);
	if (!c)
		return ERR_UNKNOWN_CURRENCY;
	enum err e = scale(amount->amount, num, den, &scaled);
	if (e != ERR_OK)
		return e;
	*out = make(c, scaled);
	return ERR_OK;
}

enum err money_tax_included_in(const struct money *price, int32_t bps, struct money *tax)
{
	assert(price != NULL && tax != NULL);
	int64_t net, t;
	const struct money_currency *c = find(price->currency);
	if (!c)
		return ERR_UNKNOWN_CURRENCY;
	if (bps < 0 || bps > MONEY_TAX_BPS_MAX)
		return ERR_INTERNAL;
	enum err e = scale(price->amount, 10000, 10000 + (int64_t)bps, &net);
	if (e != ERR_OK)
		return e;
	/* net has price's sign and no greater magnitude, so this cannot overflow. */
	if (__builtin_sub_overflow(price->amount, net, &t))
		return ERR_MONEY_OVERFLOW;
	*tax = make(c, t);
	return ERR_OK;
}

enum err money_tax_added_to(const struct money *price, int32_t bps, struct money *tax)
{
	assert(price != NULL && tax != NULL);
	int64_t t;
	const struct money_currency *c = find(price->currency);
	if (!c)
		return ERR_UNKNOWN_CURRENCY;
	if (bps < 0 || bps > MONEY_TAX_BPS_MAX)
		return ERR_INTERNAL;
	enum err e = scale(price->amount, bps, 10000, &t);
	if (e != ERR_OK)
		return e;
	*tax = make(c, t);
	return ERR_OK;
}

/*
 * Writes `v` in decimal with "," between groups of three digits, ending just
 * before `end` (which receives the NUL), and returns where the text starts.
 * UINT64_MAX needs 20 digits and 6 commas, so 27 bytes before `end` suffice.
 */
static char *group_digits(uint64_t v, char *end)
{
	char *p = end;
	int n = 0;
	*p = '\0';
	do {
		if (n > 0 && n % 3 == 0)
			*--p = ',';
		*--p = (char)('0' + v % 10);
		v /= 10;
		n++;
	} while (v != 0);
	return p;
}

enum err money_format(const struct money *m, char *buf, size_t size)
{
	assert(m != NULL && buf != NULL);
	char digits[28];
	int n;
	if (size == 0)
		return ERR_BUFFER_TOO_SMALL;
	buf[0] = '\0';
	const struct money_currency *c = find(m->currency);
	if (!c)
		return ERR_UNKNOWN_CURRENCY;

	/* The magnitude in unsigned arithmetic, so that INT64_MIN has one too. */
	uint64_t magnitude = m->amount < 0 ? 0 - (uint64_t)m->amount : (uint64_t)m->amount;
	uint64_t per_major = minor_per_major[c->exponent];
	const char *sign = m->amount < 0 ? "-" : "";
	const char *major = group_digits(magnitude / per_major, &digits[sizeof digits - 1]);
	uint64_t minor = magnitude % per_major;

	if (minor == 0)
		n = snprintf(buf, size, "%s%s%s", sign, c->prefix, major);
	else
		n = snprintf(buf, size, "%s%s%s.%0*" PRIu64, sign, c->prefix, major, c->exponent,
			     minor);
	if (n < 0) {
		buf[0] = '\0';
		return ERR_INTERNAL;
	}
	if ((size_t)n >= size) {
		buf[0] = '\0';
		return ERR_BUFFER_TOO_SMALL;
	}
	return ERR_OK;
}

static bool is_digit(char ch) { return ch >= '0' && ch <= '9'; }

/* `*v = *v * 10 + digit`, false if that leaves uint64_t. */
static bool push_digit(uint64_t *v, unsigned digit)
{
	return !__builtin_mul_overflow(*v, 10u, v) && !__builtin_add_overflow(*v, digit, v);
}

enum err money_parse(const char *text, const char *currency, struct money *out)
{
	assert(text != NULL && currency != NULL && out != NULL);
	const struct money_currency *c = find(currency);
	if (!c)
		return ERR_UNKNOWN_CURRENCY;

	const char *p = text;
	bool negative = false;
	uint64_t magnitude = 0;
	int whole_digits = 0, minor_digits = 0;

	if (*p == '-') {
		negative = true;
		p++;
	}
	for (; is_digit(*p); p++, whole_digits++)
		if (!push_digit(&magnitude, (unsigned)(*p - '0')))
			return ERR_INVALID_AMOUNT;
	if (whole_digits == 0)
		return ERR_INVALID_AMOUNT;
	if (*p == '.') {
		for (p++; is_digit(*p); p++, minor_digits++)
			if (minor_digits == c->exponent || !push_digit(&magnitude, (unsigned)(*p - '0')))
				return ERR_INVALID_AMOUNT;
		if (minor_digits == 0)
			return ERR_INVALID_AMOUNT;
	}
	if (*p != '\0')
		return ERR_INVALID_AMOUNT;
	for (; minor_digits < c->exponent; minor_digits++)
		if (!push_digit(&magnitude, 0))
			return ERR_INVALID_AMOUNT;

	int64_t amount;
	if (!negative) {
		if (magnitude > (uint64_t)INT64_MAX)
			return ERR_INVALID_AMOUNT;
		amount = (int64_t)magnitude;
	} else if (magnitude == (uint64_t)INT64_MAX + 1) {
		amount = INT64_MIN;
	} else {
		if (magnitude > (uint64_t)INT64_MAX)
			return ERR_INVALID_AMOUNT;
		amount = -(int64_t)magnitude;
	}
	*out = make(c, amount);
	return ERR_OK;
}
