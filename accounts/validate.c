/*
 * validate.c - the accounts area's input checks: email, phone, language,
 * country form, PIN and display names.  Pure functions over strings, so the
 * unit suite tests them without a database.
 */
#include <string.h>

#include "accounts/accounts_int.h"

static bool is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
static bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static bool is_alpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static unsigned char to_lower(unsigned char c) { return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c; }
static unsigned char to_upper(unsigned char c) { return c >= 'a' && c <= 'z' ? (unsigned char)(c - 32) : c; }

/* The bounds of `in` without leading and trailing ASCII white space. */
static void trim(const char *in, const char **start, size_t *len)
{
	const char *s = in;
	while (is_space((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n > 0 && is_space((unsigned char)s[n - 1]))
		n--;
	*start = s;
	*len = n;
}

void acct_lower(const char *in, char *out, size_t cap)
{
	size_t i = 0;
	if (cap == 0)
		return;
	for (; in[i] && i + 1 < cap; i++)
		out[i] = (char)to_lower((unsigned char)in[i]);
	out[i] = '\0';
}

/* RFC 5322 specials that have no place in an unquoted address. */
static bool is_special(unsigned char c) { return c != '\0' && strchr("\"(),:;<>[\\]", c) != NULL; }

/* A dot-separated run where no part is empty. */
static bool dots_ok(const char *s, size_t n)
{
	if (n == 0 || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (size_t i = 1; i < n; i++)
		if (s[i] == '.' && s[i - 1] == '.')
			return false;
	return true;
}

static bool domain_ok(const char *d, size_t n)
{
	if (n > 253 || !dots_ok(d, n) || memchr(d, '.', n) == NULL)
		return false;
	size_t label_start = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && d[i] != '.') {
			unsigned char c = (unsigned char)d[i];
			/* Letters, digits, '-', and UTF-8 bytes of internationalised names. */
			if (!(is_alpha(c) || is_digit(c) || c == '-' || c >= 0x80))
				return false;
			continue;
		}
		size_t len = i - label_start;
		if (len > 63 || d[label_start] == '-' || d[i - 1] == '-')
			return false;
		if (i == n && len < 2) /* top-level label */
			return false;
		label_start = i + 1;
	}
	return true;
}

const char *acct_email_parse(const char *in, char *email, char *norm)
{
	const char *s;
	size_t n;
	trim(in, &s, &n);
	if (n > ACCT_EMAIL_MAX)
		return "too_long";
	const char *at = NULL;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		/* C1 controls (U+0080..U+009F) are control characters too. */
		if (c <= 0x20 || c == 0x7f || is_special(c) ||
		    (c == 0xC2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 && (unsigned char)s[i + 1] <= 0x9F))
			return "invalid_format";
		if (c == '@') {
			if (at)
				return "invalid_format";
			at = s + i;
		}
	}
	if (!at)
		return "invalid_format";
	size_t local_len = (size_t)(at - s);
	if (local_len > 64 || !dots_ok(s, local_len) || !domain_ok(at + 1, n - local_len - 1))
		return "invalid_format";
	memcpy(email, s, n);
	email[n] = '\0';
	acct_lower(email, norm, ACCT_EMAIL_MAX + 1);
	return NULL;
}

bool acct_email_normalize(const char *in, char *norm)
{
	const char *s;
	size_t n;
	trim(in, &s, &n);
	if (n == 0 || n > ACCT_EMAIL_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		norm[i] = (char)to_lower((unsigned char)s[i]);
	norm[n] = '\0';
	return true;
}

bool acct_phone_valid(const char *s)
{
	if (s[0] != '+' || s[1] < '1' || s[1] > '9')
		return false;
	size_t n = 0;
	for (const char *p = s + 1; *p; p++, n++)
		if (!is_digit((unsigned char)*p))
			return false;
	return n >= 8 && n <= 15;
}

bool acct_language_parse(const char *s, char *out)
{
	size_t lang = 0;
	while (is_alpha((unsigned char)s[lang]))
		lang++;
	if (lang < 2 || lang > 3)
		return false;
	size_t o = 0;
	for (size_t i = 0; i < lang; i++)
		out[o++] = (char)to_lower((unsigned char)s[i]);
	const char *r = s + lang;
	if (*r == '\0') {
		out[o] = '\0';
		return true;
	}
	if (*r != '-')
		return false;
	r++;
	size_t rlen = strlen(r);
	bool letters = rlen == 2 && is_alpha((unsigned char)r[0]) && is_alpha((unsigned char)r[1]);
	bool digits = rlen == 3 && is_digit((unsigned char)r[0]) && is_digit((unsigned char)r[1]) &&
		      is_digit((unsigned char)r[2]);
	if (!letters && !digits)
		return false;
	out[o++] = '-';
	for (size_t i = 0; i < rlen; i++)
		out[o++] = (char)to_upper((unsigned char)r[i]);
	out[o] = '\0';
	return true;
}

bool acct_country_form_valid(const char *s)
{
	return s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z' && s[2] == '\0';
}

bool acct_pin_valid(const char *s)
{
	for (int i = 0; i < ACCT_PIN_LEN; i++)
		if (!is_digit((unsigned char)s[i]))
			return false;
	return s[ACCT_PIN_LEN] == '\0';
}

/* Code points in s[0..n): the bytes that do not continue a character. */
static size_t utf8_chars(const char *s, size_t n)
{
	size_t chars = 0;
	for (size_t i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			chars++;
	return chars;
}

const char *acct_name_parse(const char *in, size_t max_chars, size_t max_bytes, char *out,
			    size_t cap)
{
	const char *s;
	size_t n;
	trim(in, &s, &n);
	if (n == 0)
		return "too_short";
	if (n > max_bytes || n >= cap || utf8_chars(s, n) > max_chars)
		return "too_long";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		/* C0 controls and DEL; C1 controls are U+0080..U+009F, "\xC2\x80".."\xC2\x9F". */
		if (c < 0x20 || c == 0x7f ||
		    (c == 0xC2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 && (unsigned char)s[i + 1] <= 0x9F))
			return "invalid_characters";
	}
	memcpy(out, s, n);
	out[n] = '\0';
	return NULL;
}

void acct_utf8_copy_prefix(const char *in, size_t max_chars, char *out, size_t cap)
{
	size_t i = 0, chars = 0;
	if (cap == 0)
		return;
	while (in[i]) {
		/* The length of the character starting at i. */
		size_t len = 1;
		while (in[i + len] && ((unsigned char)in[i + len] & 0xC0) == 0x80)
			len++;
		if (chars == max_chars || i + len + 1 > cap)
			break;
		i += len;
		chars++;
	}
	memcpy(out, in, i);
	out[i] = '\0';
}
