/*
 * money.h - amounts of money, the currencies Hearth sells in, and the one
 * rounding rule every charge, credit and tax is computed with.
 *
 * An amount is a whole number of the currency's minor units (cents for USD,
 * yen for JPY, fils for KWD), held in an int64_t next to its ISO 4217 code.
 * The number of minor-unit digits (the exponent) comes from ISO 4217 and the
 * table in money.c.  What stays true:
 *
 *  - No floating point.  Every value is an integer; division happens once, on
 *    a 128-bit product, and is rounded by the rule below.  scripts/lint-money
 *    fails the build if a floating type appears in this module or billing/.
 *  - Rounding: every result that is not a whole number of minor units is
 *    rounded to the nearest one, and an exact half is rounded away from zero
 *    (899.5 -> 900, -899.5 -> -900).  Credits therefore mirror charges exactly.
 *  - Nothing wraps.  A result that does not fit in int64_t is
 *    ERR_MONEY_OVERFLOW; an operation never returns a wrong amount.
 *  - Amounts of different currencies never mix: ERR_CURRENCY_MISMATCH.
 *  - A currency code is exactly three uppercase ASCII letters found in the
 *    table; anything else ("usd", "US", "XXXX", "") is ERR_UNKNOWN_CURRENCY.
 *  - On any error, out-parameters are left as they were (money_format() is
 *    the one exception, see there), so a caller never acts on half a result.
 *
 * The module has no state and allocates nothing: every function is safe to
 * call from any thread.
 */
#ifndef HEARTH_CORE_MONEY_H
#define HEARTH_CORE_MONEY_H

#include <stddef.h>
#include <stdint.h>

#include "core/errors.h"

/* An amount: `amount` minor units of `currency` (a NUL-terminated ISO 4217 code). */
struct money {
	int64_t amount;
	char currency[4];
};

/* One row of the currency table.  Rows are static and live as long as the program. */
struct money_currency {
	char code[4];       /* ISO 4217, three uppercase letters and a NUL */
	int exponent;       /* minor-unit digits: 0 (JPY), 2 (USD) or 3 (KWD) */
	const char *prefix; /* UTF-8 text written before the digits: "$", "CA$", "KWD " */
};

/*
 * Tax rates are basis points: 2000 is 20 %.  A rate above 100 % is taken to
 * be a data-entry slip (a percentage typed as basis points twice over), so
 * the tax helpers refuse it; importers should reject such rates up front.
 */
#define MONEY_TAX_BPS_MAX 10000

/*
 * A buffer of this many bytes holds any amount of any currency formatted by
 * money_format(), with its NUL: a sign, a prefix of at most four bytes and 25
 * characters of grouped digits (INT64_MIN in any exponent).  The test suite
 * formats INT64_MIN in every currency into exactly this many bytes.
 */
#define MONEY_FORMAT_MAX 32

/*
 * Look a currency up by its ISO 4217 code.
 *   code  NUL-terminated; must be exactly three uppercase ASCII letters.
 *   out   receives a pointer to the static table row; the caller does not own
 *         it and must not free it.  Untouched on error.
 * Returns ERR_OK, or ERR_UNKNOWN_CURRENCY if `code` is malformed or not in
 * the table.
 */
enum err money_currency_find(const char *code, const struct money_currency **out);

/*
 * Fill `*out` with `amount` minor units of `currency`.
 *   out       caller's struct; written only on success.
 *   amount    minor units, any int64_t value.
 *   currency  NUL-terminated ISO 4217 code; copied, not kept.
 * Returns ERR_OK or ERR_UNKNOWN_CURRENCY.
 */
enum err money_init(struct money *out, int64_t amount, const char *currency);

/*
 * `*out = *a + *b`.  `out` may point at `a` or `b`.
 * Returns ERR_OK; ERR_UNKNOWN_CURRENCY if `a`'s currency is not in the
 * table; ERR_CURRENCY_MISMATCH if the currencies differ; ERR_MONEY_OVERFLOW
 * if the sum does not fit in int64_t.
 */
enum err money_add(const struct money *a, const struct money *b, struct money *out);

/*
 * `*out = *a - *b`.  `out` may point at `a` or `b`.
 * Returns as money_add().
 */
enum err money_sub(const struct money *a, const struct money *b, struct money *out);

/*
 * `*out = *amount * num / den`, rounded half away from zero; proration is
 * money_scale(&price, remaining_seconds, period_seconds, &due).
 *   amount  the amount to scale; negative amounts (credits) round as the
 *           mirror image of positive ones.
 *   num     any int64_t; the product with `amount` is taken in 128 bits, so
 *           it cannot overflow on the way.
 *   den     must be > 0.
 *   out     receives the result in `amount`'s currency.  May point at `amount`.
 * Returns ERR_OK; ERR_UNKNOWN_CURRENCY; ERR_INTERNAL if den <= 0 (a caller
 * bug: a period of no length); ERR_MONEY_OVERFLOW if the rounded result
 * does not fit in int64_t.
 */
enum err money_scale(const struct money *amount, int64_t num, int64_t den, struct money *out);

/*
 * The tax contained in a tax-inclusive price:
 * `price - round(price * 10000 / (10000 + bps))`, rounded as money_scale().
 * Net plus tax always equals the price exactly.
 *   price  the price the member pays, tax included.
 *   bps    the tax rate in basis points, 0 ..= MONEY_TAX_BPS_MAX.
 *   tax    receives the tax, in `price`'s currency.  May point at `price`.
 * Returns ERR_OK; ERR_UNKNOWN_CURRENCY; ERR_INTERNAL if `bps` is out of range.
 */
enum err money_tax_included_in(const struct money *price, int32_t bps, struct money *tax);

/*
 * The tax to add to a tax-exclusive price: `round(price * bps / 10000)`,
 * rounded as money_scale().
 *   price  the price before tax.
 *   bps    the tax rate in basis points, 0 ..= MONEY_TAX_BPS_MAX.
 *   tax    receives the tax, in `price`'s currency.  May point at `price`.
 * Returns ERR_OK; ERR_UNKNOWN_CURRENCY; ERR_INTERNAL if `bps` is out of range.
 */
enum err money_tax_added_to(const struct money *price, int32_t bps, struct money *tax);

/*
 * Write `*m` for display into `buf`: an optional "-", the currency's prefix,
 * the integer part grouped with "," every three digits, then "." and exactly
 * `exponent` minor digits, unless they are all zero, in which case they are
 * left out: "$17.99", "-$1.50", "KWD 2.500", "¥1,590", "₹649", "MX$219".
 * The same separators are used for every currency; this is display text for
 * people, never an interchange format (that is the integer and the code).
 *   buf   the caller's buffer of `size` bytes; MONEY_FORMAT_MAX always fits.
 *         On error it holds "" (when size > 0), never a truncated amount.
 * Returns ERR_OK; ERR_UNKNOWN_CURRENCY; ERR_BUFFER_TOO_SMALL if the text and
 * its NUL do not fit; ERR_INTERNAL if snprintf fails.
 */
enum err money_format(const struct money *m, char *buf, size_t size);

/*
 * Read a decimal amount such as "17.99" into minor units of `currency`.
 * The accepted form is: an optional "-", one or more ASCII digits, and
 * optionally "." followed by one to `exponent` digits (none for an exponent
 * of 0).  Nothing else: no "+", spaces, group separators, exponents or
 * symbols.  "2.5" KWD is 2500; "17.999" USD and "1590.0" JPY are errors,
 * because they are finer than the currency's minor unit and would have to be
 * rounded, which a price in a catalog must never be silently.
 *   text      NUL-terminated input; not kept.
 *   currency  NUL-terminated ISO 4217 code; not kept.
 *   out       written only on success.
 * Returns ERR_OK; ERR_UNKNOWN_CURRENCY; ERR_INVALID_AMOUNT if `text` is not
 * of the form above or its value does not fit in int64_t minor units.
 */
enum err money_parse(const char *text, const char *currency, struct money *out);

#endif
