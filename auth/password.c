/*
 * password.c - Argon2id password hashes and the NIST SP 800-63B policy.
 *
 * The common-password list is data/common-passwords.txt, embedded in the
 * binary: one lowercase password per line.  At init it is copied, sorted and
 * searched by bisection, case-insensitively.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_int.h"
#include "core/data.h"
#include "core/log.h"

#define POLICY_MIN_CODE_POINTS 8
#define POLICY_MAX_BYTES 256
#define COMMON_MAX_BYTES 64 /* longer passwords are not looked up */

static unsigned long long opslimit;
static size_t memlimit;
static char dummy_hash[crypto_pwhash_STRBYTES];
static char *common_text;	/* the list, one NUL-terminated password after another */
static const char **common;	/* sorted pointers into common_text */
static size_t ncommon;

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static char ascii_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static enum err load_common(void)
{
	const struct data_file *f = data_find("common-passwords.txt");
	if (!f) {
		log_error("auth.common_passwords_missing", "file=common-passwords.txt");
		return ERR_IO;
	}
	common_text = malloc(f->len + 1);
	size_t lines = 1;
	for (size_t i = 0; i < f->len; i++)
		lines += f->bytes[i] == '\n';
	common = calloc(lines, sizeof *common);
	if (!common_text || !common)
		return ERR_NOMEM;
	size_t start = 0;
	ncommon = 0;
	for (size_t i = 0; i <= f->len; i++) {
		char c = i < f->len ? f->bytes[i] : '\n';
		if (c == '\r')
			c = '\0';
		common_text[i] = c == '\n' ? '\0' : ascii_lower(c);
		if (c == '\n') {
			if (common_text[start])
				common[ncommon++] = common_text + start;
			start = i + 1;
		}
	}
	qsort(common, ncommon, sizeof *common, cmp_str);
	return ERR_OK;
}

enum err auth_password_init(int64_t ops, int64_t mem)
{
	auth_password_release();
	opslimit = ops > 0 ? (unsigned long long)ops : crypto_pwhash_OPSLIMIT_INTERACTIVE;
	memlimit = mem > 0 ? (size_t)mem : crypto_pwhash_MEMLIMIT_INTERACTIVE;
	if (opslimit < crypto_pwhash_OPSLIMIT_MIN || memlimit < crypto_pwhash_MEMLIMIT_MIN) {
		log_error("auth.pwhash_params_invalid", "opslimit=%llu memlimit=%zu", opslimit, memlimit);
		return ERR_INTERNAL;
	}
	enum err e = load_common();
	if (e != ERR_OK)
		return e;
	/* The dummy hash has the configured parameters, so verifying against
	 * it costs what verifying a real account's password costs. */
	char pw[33];
	randombytes_buf(pw, sizeof pw - 1);
	pw[sizeof pw - 1] = '\0';
	int rc = crypto_pwhash_str(dummy_hash, pw, sizeof pw - 1, opslimit, memlimit);
	sodium_memzero(pw, sizeof pw);
	if (rc != 0) {
		log_error("auth.pwhash_failed", "opslimit=%llu memlimit=%zu", opslimit, memlimit);
		return ERR_CRYPTO;
	}
	return ERR_OK;
}

void auth_password_release(void)
{
	free(common);
	free(common_text);
	common = NULL;
	common_text = NULL;
	ncommon = 0;
	dummy_hash[0] = '\0';
}

static size_t code_points(const char *s)
{
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		n += (*p & 0xC0) != 0x80; /* count every byte that is not a continuation */
	return n;
}

static bool equals_ignoring_case(const char *a, const char *b)
{
	for (; *a && *b; a++, b++)
		if (ascii_lower(*a) != ascii_lower(*b))
			return false;
	return *a == *b;
}

static bool is_common(const char *password, size_t len)
{
	char low[COMMON_MAX_BYTES + 1];
	if (len > COMMON_MAX_BYTES || !common)
		return false;
	for (size_t i = 0; i < len; i++)
		low[i] = ascii_lower(password[i]);
	low[len] = '\0';
	const char *key = low;
	bool found = bsearch(&key, common, ncommon, sizeof *common, cmp_str) != NULL;
	sodium_memzero(low, sizeof low);
	return found;
}

enum err auth_password_policy(const char *password, const char *email, const char **reason)
{
	size_t len = strlen(password);
	*reason = NULL;
	if (len > POLICY_MAX_BYTES)
		*reason = "too_long";
	else if (code_points(password) < POLICY_MIN_CODE_POINTS)
		*reason = "too_short";
	else if (email && equals_ignoring_case(password, email))
		*reason = "equals_email";
	else if (is_common(password, len))
		*reason = "common";
	return *reason ? ERR_WEAK_PASSWORD : ERR_OK;
}

enum err auth_password_hash(const char *password, char out[AUTH_PWHASH_MAX])
{
	if (crypto_pwhash_str(out, password, strlen(password), opslimit, memlimit) != 0) {
		out[0] = '\0';
		return ERR_NOMEM; /* libsodium fails here only when it cannot get the memory */
	}
	return ERR_OK;
}

enum err auth_password_verify(const char *hash, const char *password, bool *needs_rehash)
{
	*needs_rehash = false;
	if (crypto_pwhash_str_verify(hash, password, strlen(password)) != 0)
		return ERR_INVALID_CREDENTIALS;
	*needs_rehash = crypto_pwhash_str_needs_rehash(hash, opslimit, memlimit) != 0;
	return ERR_OK;
}

void auth_password_burn(const char *password)
{
	/* The answer is irrelevant (the dummy matches nothing); the time spent is the point. */
	if (dummy_hash[0] && crypto_pwhash_str_verify(dummy_hash, password, strlen(password)) == 0)
		log_warn("auth.dummy_hash_matched", "%s", "");
}
