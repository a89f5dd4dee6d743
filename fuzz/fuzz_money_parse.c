/*
 * fuzz_money_parse.c - decimal amounts (money_parse in core/money.c), as
 * they arrive in catalog files and staff requests.
 *
 * The input, NUL-terminated, is parsed in every currency of the table (found
 * on the first call by asking money_currency_find() about every three-letter
 * code) and in a few codes that are not currencies.
 *
 * Properties checked beyond "no crash":
 *  - money_parse agrees with a reference written from its contract: an
 *    optional '-', one or more digits, optionally '.' and 1..exponent
 *    digits, and a value that fits in int64_t minor units; everything else
 *    is ERR_INVALID_AMOUNT, and nothing is written on error.
 *  - An unknown currency is ERR_UNKNOWN_CURRENCY whatever the text.
 *  - Every amount that parses formats with money_format() into
 *    MONEY_FORMAT_MAX bytes.
 */
#include <string.h>

#include "core/money.h"
#include "fuzz/fuzz.h"

#define FMN_MAX_CURRENCIES 64

static const struct money_currency *fmn_table[FMN_MAX_CURRENCIES];
static int fmn_count;

static void fmn_init(void)
{
	static int done;
	char code[4] = {0};
	if (done)
		return;
	done = 1;
	for (char x = 'A'; x <= 'Z'; x++)
		for (char y = 'A'; y <= 'Z'; y++)
			for (char z = 'A'; z <= 'Z'; z++) {
				const struct money_currency *c;
				code[0] = x;
				code[1] = y;
				code[2] = z;
				if (money_currency_find(code, &c) == ERR_OK &&
				    fmn_count < FMN_MAX_CURRENCIES)
					fmn_table[fmn_count++] = c;
			}
	FUZZ_ASSERT(fmn_count > 0, "no currency in the table");
}

/* The reference: true with *out when `s` is a valid amount for `exponent`. */
static bool fmn_reference(const char *s, int exponent, int64_t *out)
{
	bool negative = *s == '-';
	unsigned __int128 v = 0;
	int whole = 0, minor = 0;
	const unsigned __int128 limit = (unsigned __int128)INT64_MAX + 1;
	if (negative)
		s++;
	for (; *s >= '0' && *s <= '9'; s++, whole++) {
		v = v * 10 + (unsigned)(*s - '0');
		if (v > limit)
			return false;
	}
	if (whole == 0)
		return false;
	if (*s == '.') {
		for (s++; *s >= '0' && *s <= '9'; s++, minor++) {
			v = v * 10 + (unsigned)(*s - '0');
			if (minor >= exponent || v > limit)
				return false;
		}
		if (minor == 0)
			return false;
	}
	if (*s != '\0')
		return false;
	for (; minor < exponent; minor++)
		v *= 10;
	if (v > limit || (!negative && v == limit))
		return false;
	*out = negative ? (v == limit ? INT64_MIN : -(int64_t)v) : (int64_t)v;
	return true;
}

int fuzz_money_parse(const uint8_t *data, size_t size)
{
	static const char *const not_currencies[] = {"usd", "US", "XXX", "USDX", ""};
	char *s = fuzz_cstr(data, size);
	char buf[MONEY_FORMAT_MAX];

	if (!s)
		return 0;
	fmn_init();
	for (int i = 0; i < fmn_count; i++) {
		struct money m = {.amount = 42, .currency = "NIL"};
		int64_t want = 0;
		enum err rc = money_parse(s, fmn_table[i]->code, &m);
		bool ok = fmn_reference(s, fmn_table[i]->exponent, &want);
		if (!ok) {
			FUZZ_ASSERT(rc == ERR_INVALID_AMOUNT, "money_parse accepted an invalid amount");
			FUZZ_ASSERT(m.amount == 42 && strcmp(m.currency, "NIL") == 0,
				    "a refused amount was written");
			continue;
		}
		FUZZ_ASSERT(rc == ERR_OK, "money_parse refused a valid amount");
		FUZZ_ASSERT(m.amount == want, "money_parse read the wrong amount");
		FUZZ_ASSERT(strcmp(m.currency, fmn_table[i]->code) == 0, "wrong currency");
		FUZZ_ASSERT(money_format(&m, buf, sizeof buf) == ERR_OK, "a parsed amount does not format");
	}
	for (size_t i = 0; i < sizeof not_currencies / sizeof not_currencies[0]; i++) {
		struct money m;
		FUZZ_ASSERT(money_parse(s, not_currencies[i], &m) == ERR_UNKNOWN_CURRENCY,
			    "an unknown currency was accepted");
	}
	free(s);
	return 0;
}

#ifndef FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_money_parse(data, size);
}
#endif
