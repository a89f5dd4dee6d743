/*
 * test_auth.c - the auth area below HTTP: the password policy and Argon2id
 * hashes, the key file (creation, mode, rotation, retirement, refusals) and
 * access tokens (claims, expiry on the test clock, audience, issuer,
 * tampering, wrong purpose, unknown, retired and verify-only keys), and
 * the last-use table written in batches.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/auth.h"
#include "auth/auth_int.h"
#include "auth/keys.h"
#include "auth/paserk.h"
#include "auth/paseto.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/migrate.h"
#include "tests/unit.h"

#define CLOCK_START 1800000000LL

static char dir[64];
static char key_path[128];
static struct config cfg;

static void setup(void)
{
	ck_assert_int_ge(sodium_init(), 0);
	snprintf(dir, sizeof dir, "/tmp/hearth-auth-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(key_path, sizeof key_path, "%s/hearth.keys", dir);
	config_defaults(&cfg);
	cfg.key_file = key_path;
	cfg.pwhash_opslimit = 1;
	cfg.pwhash_memlimit = 8192;
	clock_use_test(CLOCK_START);
	ck_assert_int_eq(auth_init(&cfg), ERR_OK);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void teardown(void)
{
	auth_shutdown();
	nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* ---- passwords ---------------------------------------------------------- */

START_TEST(test_password_policy_table)
{
	char long_ok[257], long_bad[258];
	memset(long_ok, 'q', 256);
	long_ok[256] = '\0';
	memset(long_bad, 'q', 257);
	long_bad[257] = '\0';
	static const struct {
		const char *password, *email, *reason; /* reason NULL: accepted */
	} cases[] = {
		{"abcdefg", NULL, "too_short"},			  /* 7 characters */
		{"Tr0ub4dor&3x", NULL, NULL},			  /* 12 characters */
		{"xkcdcorr", NULL, NULL},			  /* exactly 8 */
		/* 8 code points in 24 bytes (3-byte CJK): accepted. */
		{"\xe7\x81\xab\xe5\xb1\xb1\xe6\xb0\xb4\xe6\x9c\xa8\xe9\x87\x91\xe5\x9c\x9f\xe6\x97\xa5\xe6\x9c\x88", NULL, NULL},
		/* 7 code points in 28 bytes (4-byte emoji): too short although long in bytes. */
		{"\xf0\x9f\x94\xa5\xf0\x9f\x94\xa5\xf0\x9f\x94\xa5\xf0\x9f\x94\xa5\xf0\x9f\x94\xa5\xf0\x9f\x94\xa5\xf0\x9f\x94\xa5", NULL, "too_short"},
		/* 8 code points of 2-byte Latin: accepted. */
		{"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", NULL, NULL},
		{"ana@example.com", "ana@example.com", "equals_email"},
		{"ANA@Example.COM", "ana@example.com", "equals_email"},
		{"ana@example.co", "ana@example.com", NULL},
		{"password", NULL, "common"},
		{"PassWord", NULL, "common"},
		{"12345678", NULL, "common"},
		{"iloveyou", NULL, "common"},
		{"qwertyuiop", NULL, "common"},
		{"password1", NULL, "common"},
		{"password1234", NULL, NULL}, /* not among the 10,000 most common */
		{"correct horse battery staple", NULL, NULL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *reason = "unset";
		enum err e = auth_password_policy(cases[i].password, cases[i].email, &reason);
		if (cases[i].reason) {
			ck_assert_msg(e == ERR_WEAK_PASSWORD && reason && strcmp(reason, cases[i].reason) == 0,
				      "case %zu: want %s, got %s/%s", i, cases[i].reason, err_name(e),
				      reason ? reason : "(null)");
		} else {
			ck_assert_msg(e == ERR_OK && reason == NULL, "case %zu: want accepted, got %s/%s",
				      i, err_name(e), reason ? reason : "(null)");
		}
	}
	const char *reason = NULL;
	ck_assert_int_eq(auth_password_policy(long_ok, NULL, &reason), ERR_OK);
	ck_assert_int_eq(auth_password_policy(long_bad, NULL, &reason), ERR_WEAK_PASSWORD);
	ck_assert_str_eq(reason, "too_long");
}
END_TEST

START_TEST(test_hash_verify_and_rehash_after_parameter_change)
{
	char hash[AUTH_PWHASH_MAX];
	bool rehash = true;
	ck_assert_int_eq(auth_password_hash("correct horse", hash), ERR_OK);
	ck_assert_int_eq(strncmp(hash, "$argon2id$", 10), 0);
	ck_assert_int_eq(auth_password_verify(hash, "correct horse", &rehash), ERR_OK);
	ck_assert(!rehash);
	ck_assert_int_eq(auth_password_verify(hash, "correct horsf", &rehash), ERR_INVALID_CREDENTIALS);
	ck_assert_int_eq(auth_password_verify("not a hash", "x", &rehash), ERR_INVALID_CREDENTIALS);
	ck_assert_int_eq(auth_password_verify("", "", &rehash), ERR_INVALID_CREDENTIALS);
	auth_password_burn("anything"); /* spends the time, matches nothing */

	/* The operator raises the parameters: old hashes still verify and ask
	 * to be rehashed; new ones do not. */
	auth_shutdown();
	cfg.pwhash_opslimit = 2;
	cfg.pwhash_memlimit = 16384;
	ck_assert_int_eq(auth_init(&cfg), ERR_OK);
	ck_assert_int_eq(auth_password_verify(hash, "correct horse", &rehash), ERR_OK);
	ck_assert(rehash);
	char fresh[AUTH_PWHASH_MAX];
	ck_assert_int_eq(auth_password_hash("correct horse", fresh), ERR_OK);
	ck_assert_int_eq(auth_password_verify(fresh, "correct horse", &rehash), ERR_OK);
	ck_assert(!rehash);
	ck_assert_str_ne(hash, fresh);
}
END_TEST

/* ---- the key file ------------------------------------------------------- */

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	char *buf = calloc(1, 65536);
	size_t n = fread(buf, 1, 65535, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static size_t count_of(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

START_TEST(test_key_file_created_0600_with_one_current_key)
{
	struct stat sb;
	ck_assert_int_eq(stat(key_path, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 0777, 0600);
	struct auth_key_info *keys = NULL;
	size_t n = 0;
	char why[256] = "";
	ck_assert_int_eq(auth_keys_list(key_path, &keys, &n, why, sizeof why), ERR_OK);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(keys[0].status, AUTH_KEY_CURRENT);
	ck_assert(paserk_is_k4_pid(keys[0].kid, strlen(keys[0].kid)));
	ck_assert_int_eq(strncmp(keys[0].paserk, "k4.public.", 10), 0);
	ck_assert_int_eq(keys[0].created_at, CLOCK_START);
	free(keys);
	/* The published set is that key. */
	json_t *pub = auth_keyset_public_json();
	ck_assert_uint_eq(json_array_size(pub), 1);
	json_decref(pub);
	/* Never clobbered. */
	ck_assert_int_eq(auth_keys_create(key_path, why, sizeof why), ERR_CONFLICT);
	ck_assert_ptr_nonnull(strstr(why, "already exists"));
}
END_TEST

START_TEST(test_rotate_then_retire)
{
	struct auth_key_info *keys = NULL;
	size_t n = 0;
	char why[256] = "", kid2[PASERK_K4_PID_SIZE], kid3[PASERK_K4_PID_SIZE];
	ck_assert_int_eq(auth_keys_list(key_path, &keys, &n, why, sizeof why), ERR_OK);
	char kid1[PASERK_K4_PID_SIZE];
	memcpy(kid1, keys[0].kid, sizeof kid1);
	free(keys);

	clock_advance(60);
	ck_assert_int_eq(auth_keys_rotate(key_path, kid2, why, sizeof why), ERR_OK);
	ck_assert_int_eq(auth_keys_rotate(key_path, kid3, why, sizeof why), ERR_OK);
	ck_assert_str_ne(kid2, kid1);
	ck_assert_int_eq(auth_keys_list(key_path, &keys, &n, why, sizeof why), ERR_OK);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(keys[0].kid, kid1);
	ck_assert_int_eq(keys[0].status, AUTH_KEY_VERIFY_ONLY);
	ck_assert_int_eq(keys[1].status, AUTH_KEY_VERIFY_ONLY);
	ck_assert_str_eq(keys[2].kid, kid3);
	ck_assert_int_eq(keys[2].status, AUTH_KEY_CURRENT);
	ck_assert_int_eq(keys[2].created_at, CLOCK_START + 60);
	free(keys);

	struct stat sb;
	ck_assert_int_eq(stat(key_path, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 0777, 0600);

	/* The current key cannot be retired; an unknown one is not found. */
	ck_assert_int_eq(auth_keys_retire(key_path, kid3, why, sizeof why), ERR_INVALID_STATE);
	ck_assert_ptr_nonnull(strstr(why, "rotate first"));
	ck_assert_int_eq(auth_keys_retire(key_path, "k4.pid.nope", why, sizeof why), ERR_NOT_FOUND);

	char *before = slurp(key_path);
	ck_assert_uint_eq(count_of(before, "\"secret\""), 3);
	free(before);
	ck_assert_int_eq(auth_keys_retire(key_path, kid1, why, sizeof why), ERR_OK);
	ck_assert_int_eq(auth_keys_retire(key_path, kid1, why, sizeof why), ERR_OK); /* idempotent */
	char *after = slurp(key_path);
	ck_assert_uint_eq(count_of(after, "\"secret\""), 2); /* the retired secret is gone */
	ck_assert_ptr_nonnull(strstr(after, kid1));	     /* its record stays */
	free(after);
	ck_assert_int_eq(auth_keys_list(key_path, &keys, &n, why, sizeof why), ERR_OK);
	ck_assert_int_eq(keys[0].status, AUTH_KEY_RETIRED);
	free(keys);

	/* hearthd publishes what is current or verify_only, newest first. */
	auth_keyset_check_reload(true);
	json_t *pub = auth_keyset_public_json();
	ck_assert_uint_eq(json_array_size(pub), 2);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(pub, 0), "kid")), kid3);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(pub, 1), "kid")), kid2);
	json_decref(pub);
}
END_TEST

START_TEST(test_group_or_world_readable_key_file_refused)
{
	static const mode_t modes[] = {0644, 0640, 0604, 0660, 0606};
	for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
		char why[512] = "";
		struct auth_key_info *keys = NULL;
		size_t n = 0;
		char kid[PASERK_K4_PID_SIZE];
		ck_assert_int_eq(chmod(key_path, modes[i]), 0);
		ck_assert_int_eq(auth_keys_list(key_path, &keys, &n, why, sizeof why), ERR_FORBIDDEN);
		ck_assert_ptr_nonnull(strstr(why, "chmod 600"));
		ck_assert_int_eq(auth_keys_rotate(key_path, kid, why, sizeof why), ERR_FORBIDDEN);
		/* hearthd refuses to start with it. */
		auth_shutdown();
		ck_assert_int_eq(auth_init(&cfg), ERR_FORBIDDEN);
	}
	ck_assert_int_eq(chmod(key_path, 0600), 0);
	ck_assert_int_eq(auth_init(&cfg), ERR_OK);
	ck_assert_int_eq(chmod(key_path, 0400), 0); /* stricter is fine */
	auth_shutdown();
	ck_assert_int_eq(auth_init(&cfg), ERR_OK);
}
END_TEST

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

START_TEST(test_broken_key_files_refused)
{
	char *good = slurp(key_path);
	char *two_current = NULL;
	char kid[PASERK_K4_PID_SIZE], why[512];
	ck_assert_int_eq(auth_keys_rotate(key_path, kid, why, sizeof why), ERR_OK);
	char *rotated = slurp(key_path);
	/* Make the verify_only key current too. */
	two_current = strdup(rotated);
	char *p = strstr(two_current, "verify_only");
	ck_assert_ptr_nonnull(p);
	memcpy(p, "current\",  ", 11);
	static const char *const broken[] = {"", "not json", "[]", "{\"version\":1}",
					     "{\"version\":2,\"keys\":[]}"};
	for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++) {
		struct auth_key_info *keys = NULL;
		size_t n = 0;
		write_file(key_path, broken[i]);
		ck_assert_int_eq(auth_keys_list(key_path, &keys, &n, why, sizeof why), ERR_IO);
		ck_assert_ptr_nonnull(strstr(why, "unusable"));
	}
	/* A kid that does not name its key. */
	char *wrong_kid = strdup(good);
	char *k = strstr(wrong_kid, "k4.pid.");
	ck_assert_ptr_nonnull(k);
	k[10] = k[10] == 'A' ? 'B' : 'A';
	static const char *const names[] = {"two current", "wrong kid"};
	char *texts[] = {two_current, wrong_kid};
	for (size_t i = 0; i < 2; i++) {
		struct auth_key_info *keys = NULL;
		size_t n = 0;
		write_file(key_path, texts[i]);
		ck_assert_msg(auth_keys_list(key_path, &keys, &n, why, sizeof why) == ERR_IO, "%s", names[i]);
		auth_shutdown();
		ck_assert_msg(auth_init(&cfg) != ERR_OK, "hearthd started with %s", names[i]);
	}
	write_file(key_path, good);
	ck_assert_int_eq(auth_init(&cfg), ERR_OK);
	free(good);
	free(rotated);
	free(two_current);
	free(wrong_kid);
}
END_TEST

START_TEST(test_missing_key_file_for_the_commands)
{
	char why[256] = "", kid[PASERK_K4_PID_SIZE];
	char other[160];
	snprintf(other, sizeof other, "%s/none.keys", dir);
	ck_assert_int_eq(auth_keys_rotate(other, kid, why, sizeof why), ERR_NOT_FOUND);
	ck_assert_ptr_nonnull(strstr(why, "no key file"));
	ck_assert_int_eq(access(other, F_OK), -1); /* rotate never creates one */
}
END_TEST

START_TEST(test_secret_hash_is_keyed_and_separated_by_purpose)
{
	char a[AUTH_SECRET_HASH_SIZE], b[AUTH_SECRET_HASH_SIZE], c[AUTH_SECRET_HASH_SIZE];
	ck_assert_int_eq(auth_secret_hash("refresh", "tok", a), ERR_OK);
	ck_assert_int_eq(auth_secret_hash("refresh", "tok", b), ERR_OK);
	ck_assert_str_eq(a, b);
	ck_assert_uint_eq(strlen(a), 64);
	ck_assert_int_eq(auth_secret_hash("password_reset", "tok", c), ERR_OK);
	ck_assert_str_ne(a, c);
	ck_assert_int_eq(auth_secret_hash("refreshtok", "", c), ERR_OK);
	ck_assert_str_ne(a, c);
	/* Another key file, another key: the hashes in the database are useless without it. */
	auth_shutdown();
	unlink(key_path);
	ck_assert_int_eq(auth_init(&cfg), ERR_OK);
	ck_assert_int_eq(auth_secret_hash("refresh", "tok", c), ERR_OK);
	ck_assert_str_ne(a, c);
}
END_TEST

/* ---- tokens ------------------------------------------------------------- */

/* The current signing key, read from the key file as another tool would. */
static void current_secret(unsigned char sk[64], char kid[PASERK_K4_PID_SIZE])
{
	json_t *root = json_load_file(key_path, 0, NULL);
	ck_assert_ptr_nonnull(root);
	json_t *keys = json_object_get(root, "keys");
	for (size_t i = 0; i < json_array_size(keys); i++) {
		json_t *k = json_array_get(keys, i);
		if (strcmp(json_string_value(json_object_get(k, "status")), "current") != 0)
			continue;
		const char *sec = json_string_value(json_object_get(k, "secret"));
		ck_assert_int_eq(paserk_k4_secret_decode(sk, sec, strlen(sec)), ERR_OK);
		snprintf(kid, PASERK_K4_PID_SIZE, "%s", json_string_value(json_object_get(k, "kid")));
	}
	json_decref(root);
}

static enum err verify(const char *token, const char *aud, struct auth_claims *c)
{
	return auth_token_verify(token, strlen(token), aud, c);
}

START_TEST(test_token_round_trip_claims)
{
	char tok[AUTH_TOKEN_MAX], kid[PASERK_K4_PID_SIZE];
	struct auth_claims c;
	ck_assert_int_eq(auth_token_issue(AUTH_AUD_MEMBER, "acc_1", "ses_1", "dev_1", 900, tok), ERR_OK);
	ck_assert_int_eq(strncmp(tok, "v4.public.", 10), 0);
	ck_assert_int_eq(verify(tok, AUTH_AUD_MEMBER, &c), ERR_OK);
	ck_assert_str_eq(c.sub, "acc_1");
	ck_assert_str_eq(c.sid, "ses_1");
	ck_assert_str_eq(c.dev, "dev_1");
	ck_assert_int_eq(strncmp(c.jti, "tok_", 4), 0);
	ck_assert_int_eq(c.iat, CLOCK_START);
	ck_assert_int_eq(c.exp, CLOCK_START + 900);

	/* The payload is what the spec says: RFC 3339 times, our issuer. */
	unsigned char sk[64], *payload = NULL;
	size_t plen = 0;
	current_secret(sk, kid);
	ck_assert_int_eq(paseto_v4_public_verify(&payload, &plen, tok, strlen(tok), sk + 32, NULL, 0, NULL, 0), ERR_OK);
	json_t *claims = json_loadb((const char *)payload, plen, 0, NULL);
	ck_assert_str_eq(json_string_value(json_object_get(claims, "exp")), "2027-01-15T08:15:00Z");
	ck_assert_str_eq(json_string_value(json_object_get(claims, "iat")), "2027-01-15T08:00:00Z");
	ck_assert_str_eq(json_string_value(json_object_get(claims, "iss")), cfg.issuer);
	ck_assert_str_eq(json_string_value(json_object_get(claims, "aud")), "hearth:api");
	json_decref(claims);
	free(payload);
	char footer_kid[PASERK_K4_PID_SIZE];
	ck_assert_int_eq(paseto_footer_kid(footer_kid, sizeof footer_kid, tok, strlen(tok)), ERR_OK);
	ck_assert_str_eq(footer_kid, kid);
	sodium_memzero(sk, sizeof sk);

	/* Two tokens, two jtis. */
	char tok2[AUTH_TOKEN_MAX];
	struct auth_claims c2;
	ck_assert_int_eq(auth_token_issue(AUTH_AUD_MEMBER, "acc_1", "ses_1", NULL, 900, tok2), ERR_OK);
	ck_assert_int_eq(verify(tok2, AUTH_AUD_MEMBER, &c2), ERR_OK);
	ck_assert_str_ne(c.jti, c2.jti);
	ck_assert_str_eq(c2.dev, "");
}
END_TEST

static void check_expiry(bool cached)
{
	char tok[AUTH_TOKEN_MAX];
	struct auth_claims c;
	auth_token_cache_enable(cached);
	ck_assert_int_eq(auth_token_issue(AUTH_AUD_MEMBER, "acc_1", "ses_1", NULL, 900, tok), ERR_OK);
	ck_assert_int_eq(verify(tok, AUTH_AUD_MEMBER, &c), ERR_OK);
	clock_advance(899);
	ck_assert_int_eq(verify(tok, AUTH_AUD_MEMBER, &c), ERR_OK);
	clock_advance(1);
	ck_assert_int_eq(verify(tok, AUTH_AUD_MEMBER, &c), ERR_INVALID_TOKEN);
	ck_assert_str_eq(c.sub, ""); /* nothing leaks out of a failure */
	auth_token_cache_enable(true);
}

START_TEST(test_token_expires_on_the_test_clock) { check_expiry(false); }
END_TEST

START_TEST(test_cached_token_still_expires) { check_expiry(true); }
END_TEST

START_TEST(test_token_audience_is_checked)
{
	char member[AUTH_TOKEN_MAX], staff[AUTH_TOKEN_MAX];
	int64_t expires_in = 0;
	struct auth_claims c;
	ck_assert_int_eq(auth_token_issue(AUTH_AUD_MEMBER, "acc_1", "ses_1", NULL, 900, member), ERR_OK);
	ck_assert_int_eq(auth_staff_token("stf_1", "sss_1", staff, sizeof staff, &expires_in), ERR_OK);
	ck_assert_int_eq(expires_in, cfg.staff_ttl_s);
	for (int round = 0; round < 2; round++) { /* the second round answers from the cache */
		ck_assert_int_eq(verify(member, AUTH_AUD_STAFF, &c), ERR_INVALID_TOKEN);
		ck_assert_int_eq(verify(staff, AUTH_AUD_MEMBER, &c), ERR_INVALID_TOKEN);
		ck_assert_int_eq(verify(member, AUTH_AUD_MEMBER, &c), ERR_OK);
		ck_assert_int_eq(verify(staff, AUTH_AUD_STAFF, &c), ERR_OK);
		ck_assert_str_eq(c.sub, "stf_1");
	}
}
END_TEST

START_TEST(test_token_tampered_at_every_byte_rejected)
{
	char tok[AUTH_TOKEN_MAX], bad[AUTH_TOKEN_MAX];
	struct auth_claims c;
	ck_assert_int_eq(auth_token_issue(AUTH_AUD_MEMBER, "acc_1", "ses_1", "dev_1", 900, tok), ERR_OK);
	ck_assert_int_eq(verify(tok, AUTH_AUD_MEMBER, &c), ERR_OK); /* now cached */
	size_t len = strlen(tok);
	for (size_t i = 0; i < len; i++) {
		for (unsigned bit = 0; bit < 8; bit++) {
			memcpy(bad, tok, len + 1);
			bad[i] = (char)(bad[i] ^ (1u << bit));
			if (bad[i] == '\0')
				continue; /* a shorter string: truncation is covered below */
			ck_assert_msg(verify(bad, AUTH_AUD_MEMBER, &c) == ERR_INVALID_TOKEN,
				      "byte %zu bit %u flipped still verified", i, bit);
		}
	}
	for (size_t cut = 0; cut < len; cut++) {
		memcpy(bad, tok, cut);
		bad[cut] = '\0';
		ck_assert_msg(verify(bad, AUTH_AUD_MEMBER, &c) == ERR_INVALID_TOKEN, "cut at %zu", cut);
	}
	/* Extra bytes after the token. */
	static const char *const tails[] = {".", "A", " ", "\n"};
	for (size_t t = 0; t < sizeof tails / sizeof tails[0]; t++) {
		memcpy(bad, tok, len);
		memcpy(bad + len, tails[t], 2);
		ck_assert_int_eq(verify(bad, AUTH_AUD_MEMBER, &c), ERR_INVALID_TOKEN);
	}
	ck_assert_int_eq(verify(tok, AUTH_AUD_MEMBER, &c), ERR_OK);
}
END_TEST

START_TEST(test_v4_local_token_rejected)
{
	unsigned char key[32];
	char kid[PASERK_K4_PID_SIZE], footer[128], claims[512], ts[32], ts2[32];
	unsigned char sk[64];
	char *tok = NULL;
	struct auth_claims c;
	current_secret(sk, kid);
	snprintf(footer, sizeof footer, "{\"kid\":\"%s\"}", kid);
	snprintf(claims, sizeof claims,
		 "{\"iss\":\"%s\",\"sub\":\"acc_1\",\"aud\":\"hearth:api\",\"iat\":\"%s\",\"exp\":\"%s\","
		 "\"jti\":\"tok_1\",\"sid\":\"ses_1\"}",
		 cfg.issuer, clock_format(CLOCK_START, ts, sizeof ts), clock_format(CLOCK_START + 900, ts2, sizeof ts2));
	/* Even keyed with bytes of the real public key (the classic confusion). */
	memcpy(key, sk + 32, 32);
	ck_assert_int_eq(paseto_v4_local_encrypt(&tok, key, (const unsigned char *)claims, strlen(claims),
						 (const unsigned char *)footer, strlen(footer), NULL, 0),
			 ERR_OK);
	ck_assert_int_eq(strncmp(tok, "v4.local.", 9), 0);
	ck_assert_int_eq(verify(tok, AUTH_AUD_MEMBER, &c), ERR_INVALID_TOKEN);
	free(tok);
	sodium_memzero(sk, sizeof sk);
}
END_TEST

START_TEST(test_unknown_kid_rejected)
{
	unsigned char pk[32], sk[64];
	char kid[PASERK_K4_PID_SIZE], footer[128], *tok = NULL;
	struct auth_claims c;
	crypto_sign_keypair(pk, sk);
	ck_assert_int_eq(paserk_k4_pid(kid, sizeof kid, pk, sizeof pk), ERR_OK);
	snprintf(footer, sizeof footer, "{\"kid\":\"%s\"}", kid);
	ck_assert_int_eq(paseto_sign_claims(&tok, sk,
					    "{\"iss\":\"https://hearth.example\",\"sub\":\"acc_1\",\"aud\":\"hearth:api\","
					    "\"iat\":\"2027-01-15T08:00:00Z\",\"exp\":\"2027-01-15T09:00:00Z\","
					    "\"jti\":\"tok_1\",\"sid\":\"ses_1\"}",
					    footer),
			 ERR_OK);
	ck_assert_int_eq(verify(tok, AUTH_AUD_MEMBER, &c), ERR_INVALID_TOKEN);
	free(tok);
}
END_TEST

START_TEST(test_verify_only_kid_accepted_retired_kid_rejected)
{
	char old_tok[AUTH_TOKEN_MAX], new_tok[AUTH_TOKEN_MAX];
	char old_kid[PASERK_K4_PID_SIZE], new_kid[PASERK_K4_PID_SIZE], got[PASERK_K4_PID_SIZE];
	char why[256];
	unsigned char sk[64];
	struct auth_claims c;
	current_secret(sk, old_kid);
	sodium_memzero(sk, sizeof sk);
	ck_assert_int_eq(auth_token_issue(AUTH_AUD_MEMBER, "acc_1", "ses_1", NULL, 900, old_tok), ERR_OK);
	ck_assert_int_eq(verify(old_tok, AUTH_AUD_MEMBER, &c), ERR_OK);

	ck_assert_int_eq(auth_keys_rotate(key_path, new_kid, why, sizeof why), ERR_OK);
	auth_keyset_check_reload(true);
	ck_assert_int_eq(auth_token_issue(AUTH_AUD_MEMBER, "acc_1", "ses_1", NULL, 900, new_tok), ERR_OK);
	ck_assert_int_eq(paseto_footer_kid(got, sizeof got, new_tok, strlen(new_tok)), ERR_OK);
	ck_assert_str_eq(got, new_kid);
	ck_assert_int_eq(verify(old_tok, AUTH_AUD_MEMBER, &c), ERR_OK); /* verify_only still verifies */
	ck_assert_int_eq(verify(new_tok, AUTH_AUD_MEMBER, &c), ERR_OK);

	ck_assert_int_eq(auth_keys_retire(key_path, old_kid, why, sizeof why), ERR_OK);
	auth_keyset_check_reload(true);
	ck_assert_int_eq(verify(old_tok, AUTH_AUD_MEMBER, &c), ERR_INVALID_TOKEN); /* cache emptied too */
	ck_assert_int_eq(verify(new_tok, AUTH_AUD_MEMBER, &c), ERR_OK);
}
END_TEST

/* Tokens signed with the real key but with claims Hearth never issues. */
START_TEST(test_bad_claims_rejected_even_when_signed)
{
	unsigned char sk[64];
	char kid[PASERK_K4_PID_SIZE], footer[128];
	struct auth_claims c;
	current_secret(sk, kid);
	snprintf(footer, sizeof footer, "{\"kid\":\"%s\"}", kid);
	static const struct {
		const char *claims;
		enum err want;
	} cases[] = {
		{"{\"iss\":\"https://hearth.example\",\"sub\":\"acc_1\",\"aud\":\"hearth:api\",\"iat\":\"2027-01-15T08:00:00Z\",\"exp\":\"2027-01-15T09:00:00Z\",\"jti\":\"tok_1\",\"sid\":\"ses_1\"}", ERR_OK},
		{"{\"iss\":\"https://evil.example\",\"sub\":\"acc_1\",\"aud\":\"hearth:api\",\"iat\":\"2027-01-15T08:00:00Z\",\"exp\":\"2027-01-15T09:00:00Z\",\"jti\":\"tok_1\",\"sid\":\"ses_1\"}", ERR_INVALID_TOKEN},
		{"{\"sub\":\"acc_1\",\"aud\":\"hearth:api\",\"iat\":\"2027-01-15T08:00:00Z\",\"exp\":\"2027-01-15T09:00:00Z\",\"jti\":\"tok_1\",\"sid\":\"ses_1\"}", ERR_INVALID_TOKEN},
		{"{\"iss\":\"https://hearth.example\",\"sub\":\"acc_1\",\"aud\":\"hearth:api\",\"iat\":\"2027-01-15T08:00:00Z\",\"jti\":\"tok_1\",\"sid\":\"ses_1\"}", ERR_INVALID_TOKEN},
		{"{\"iss\":\"https://hearth.example\",\"sub\":\"acc_1\",\"aud\":\"hearth:api\",\"iat\":\"2027-01-15T08:00:00Z\",\"exp\":1800009999,\"jti\":\"tok_1\",\"sid\":\"ses_1\"}", ERR_INVALID_TOKEN},
		{"{\"iss\":\"https://hearth.example\",\"sub\":\"acc_1\",\"aud\":\"hearth:api\",\"iat\":\"2027-01-15T08:00:00Z\",\"exp\":\"2027-01-15T09:00:00Z\",\"nbf\":\"2027-01-15T08:30:00Z\",\"jti\":\"tok_1\",\"sid\":\"ses_1\"}", ERR_INVALID_TOKEN},
		{"{\"iss\":\"https://hearth.example\",\"sub\":\"acc_1\",\"aud\":\"hearth:api\",\"iat\":\"2027-01-15T08:00:00Z\",\"exp\":\"2027-01-15T09:00:00Z\",\"nbf\":\"2027-01-15T07:30:00Z\",\"jti\":\"tok_1\",\"sid\":\"ses_1\"}", ERR_OK},
		{"{\"iss\":\"https://hearth.example\",\"aud\":\"hearth:api\",\"iat\":\"2027-01-15T08:00:00Z\",\"exp\":\"2027-01-15T09:00:00Z\",\"jti\":\"tok_1\",\"sid\":\"ses_1\"}", ERR_INVALID_TOKEN},
		{"{\"iss\":\"https://hearth.example\",\"sub\":\"acc_1\",\"aud\":\"hearth:api\",\"iat\":\"2027-01-15T08:00:00Z\",\"exp\":\"2027-01-15T09:00:00Z\",\"jti\":\"tok_1\"}", ERR_INVALID_TOKEN},
		{"{\"iss\":\"https://hearth.example\",\"sub\":\"acc_1\",\"aud\":[\"hearth:api\"],\"iat\":\"2027-01-15T08:00:00Z\",\"exp\":\"2027-01-15T09:00:00Z\",\"jti\":\"tok_1\",\"sid\":\"ses_1\"}", ERR_INVALID_TOKEN},
		{"{\"iss\":\"https://hearth.example\",\"sub\":\"acc_1\",\"aud\":\"hearth:api\",\"iat\":\"2027-01-15T08:00:00Z\",\"exp\":\"not a time\",\"jti\":\"tok_1\",\"sid\":\"ses_1\"}", ERR_INVALID_TOKEN},
		{"{\"iss\":\"https://hearth.example\",\"sub\":\"acc_1\",\"aud\":\"hearth:api\",\"iat\":\"2027-01-15T08:00:00Z\",\"exp\":\"2027-01-15T07:59:59Z\",\"jti\":\"tok_1\",\"sid\":\"ses_1\"}", ERR_INVALID_TOKEN},
		{"{\"iss\":\"https://hearth.example\",\"sub\":\"acc_1\",\"aud\":\"hearth:api\",\"iat\":\"2027-01-15T08:00:00Z\",\"exp\":\"2027-01-15T09:00:00Z\",\"jti\":\"tok_1\",\"sid\":\"ses_1\",\"dev\":7}", ERR_INVALID_TOKEN},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *tok = NULL;
		ck_assert_int_eq(paseto_sign_claims(&tok, sk, cases[i].claims, footer), ERR_OK);
		ck_assert_msg(verify(tok, AUTH_AUD_MEMBER, &c) == cases[i].want, "case %zu", i);
		free(tok);
	}
	sodium_memzero(sk, sizeof sk);
}
END_TEST

START_TEST(test_garbage_tokens_rejected)
{
	static const char *const garbage[] = {"", "x", "v4.public.", "v4.public..", "v3.public.AAAA",
					      "Bearer", "v4.public.AAAA.AAAA", "v2.local.abc"};
	struct auth_claims c;
	for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++)
		ck_assert_int_eq(verify(garbage[i], AUTH_AUD_MEMBER, &c), ERR_INVALID_TOKEN);
	char *huge = malloc(AUTH_TOKEN_MAX + 10);
	memset(huge, 'A', AUTH_TOKEN_MAX + 9);
	memcpy(huge, "v4.public.", 10);
	huge[AUTH_TOKEN_MAX + 9] = '\0';
	ck_assert_int_eq(verify(huge, AUTH_AUD_MEMBER, &c), ERR_INVALID_TOKEN);
	free(huge);
}
END_TEST

/* ---- last use, in memory and in batches (last_use.c) ---- */

static void exec_text(struct db *db, const char *sql, const char *arg)
{
	struct db_stmt *st = NULL;
	ck_assert_int_eq(db_prepare(db, sql, &st), ERR_OK);
	db_bind_text(st, 1, arg);
	ck_assert_int_eq(db_step_done(st), ERR_OK);
	db_done(st);
}

static int64_t int_of(struct db *db, const char *sql, const char *arg)
{
	struct db_stmt *st = NULL;
	ck_assert_int_eq(db_prepare(db, sql, &st), ERR_OK);
	db_bind_text(st, 1, arg);
	ck_assert_int_eq(db_step_row(st), ERR_OK);
	int64_t v = db_column_int64(st, 0);
	db_done(st);
	return v;
}

static const char *text_of(struct db *db, const char *sql, const char *arg, char *buf, size_t cap)
{
	struct db_stmt *st = NULL;
	ck_assert_int_eq(db_prepare(db, sql, &st), ERR_OK);
	db_bind_text(st, 1, arg);
	ck_assert_int_eq(db_step_row(st), ERR_OK);
	const char *t = db_column_text(st, 0);
	snprintf(buf, cap, "%s", t ? t : "(null)");
	db_done(st);
	return buf;
}

START_TEST(test_last_use_flush_writes_the_latest_and_never_goes_back)
{
	struct unit_db u;
	char buf[64];
	int64_t written = -1;
	unit_db_open(&u);
	ck_assert_int_eq(migrate_apply(u.db, NULL), ERR_OK);
	ck_assert_int_eq(db_exec(u.db, "PRAGMA foreign_keys = OFF"), ERR_OK);
	ck_assert_int_eq(db_exec(u.db,
				 "INSERT INTO devices (id, account_id, type, name, first_seen_at, last_seen_at,"
				 " last_network) VALUES ('dev_a', 'acc_a', 'tv', 'TV', 100, 100, '10.0.0.0/24');"
				 "INSERT INTO sessions (id, account_id, device_id, created_at, last_used_at,"
				 " last_network, expires_at) VALUES ('ses_a', 'acc_a', 'dev_a', 100, 100,"
				 " '10.0.0.0/24', 99999), ('ses_b', 'acc_a', NULL, 100, 500, NULL, 99999)"),
			 ERR_OK);
	/* Nothing recorded: nothing written. */
	ck_assert_int_eq(auth_last_use_flush(u.db, &written), ERR_OK);
	ck_assert_int_eq(written, 0);
	/* Uses of one sign-in from several threads coalesce to the latest; a
	 * use without a network keeps the one pending. */
	auth_last_use_record("ses_a", "192.0.2.0/24", 200);
	auth_last_use_record("ses_a", NULL, 300);
	auth_last_use_record("ses_a", "198.51.100.0/24", 250);
	/* An older use than what is stored moves nothing back. */
	auth_last_use_record("ses_b", "203.0.113.0/24", 400);
	ck_assert_int_eq(int_of(u.db, "SELECT last_used_at FROM sessions WHERE id = ?1", "ses_a"), 100);
	ck_assert_int_eq(auth_last_use_flush(u.db, &written), ERR_OK);
	ck_assert_int_eq(written, 2);
	ck_assert_int_eq(int_of(u.db, "SELECT last_used_at FROM sessions WHERE id = ?1", "ses_a"), 300);
	ck_assert_str_eq(text_of(u.db, "SELECT last_network FROM sessions WHERE id = ?1", "ses_a", buf, sizeof buf),
			 "192.0.2.0/24");
	ck_assert_int_eq(int_of(u.db, "SELECT last_seen_at FROM devices WHERE id = ?1", "dev_a"), 300);
	ck_assert_str_eq(text_of(u.db, "SELECT last_network FROM devices WHERE id = ?1", "dev_a", buf, sizeof buf),
			 "192.0.2.0/24");
	ck_assert_int_eq(int_of(u.db, "SELECT last_used_at FROM sessions WHERE id = ?1", "ses_b"), 500);
	ck_assert_str_eq(text_of(u.db, "SELECT last_network FROM sessions WHERE id = ?1", "ses_b", buf, sizeof buf),
			 "(null)");
	/* Taken by the flush: a second one writes nothing again. */
	exec_text(u.db, "UPDATE sessions SET last_used_at = 100 WHERE id = ?1", "ses_a");
	ck_assert_int_eq(auth_last_use_flush(u.db, &written), ERR_OK);
	ck_assert_int_eq(written, 0);
	ck_assert_int_eq(int_of(u.db, "SELECT last_used_at FROM sessions WHERE id = ?1", "ses_a"), 100);
	unit_db_close(&u);
}
END_TEST

/* Expired refresh tokens go; sign-ins go 30 days after they expired, once
 * no refresh token of theirs is left; live ones and recent ones stay.  More
 * than a batch of 2,000 goes in several transactions. */
START_TEST(test_expired_sign_ins_and_refresh_tokens_are_purged)
{
	struct unit_db u;
	const int64_t now = 100 * 86400, day = 86400;
	unit_db_open(&u);
	ck_assert_int_eq(migrate_apply(u.db, NULL), ERR_OK);
	ck_assert_int_eq(db_exec(u.db, "PRAGMA foreign_keys = OFF"), ERR_OK);
	char sql[1024];
	/* old: expired 40 days ago; recent: expired 10 days ago; live: expires in 20 days. */
	snprintf(sql, sizeof sql,
		 "INSERT INTO sessions (id, account_id, created_at, last_used_at, expires_at) VALUES"
		 " ('ses_old', 'acc_a', 0, 0, %lld), ('ses_recent', 'acc_a', 0, 0, %lld),"
		 " ('ses_live', 'acc_a', 0, 0, %lld);"
		 "INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at, rotated_at) VALUES"
		 " ('h_old', 'ses_old', 0, %lld, NULL), ('h_recent', 'ses_recent', 0, %lld, NULL),"
		 " ('h_live_rotated', 'ses_live', 0, %lld, 1), ('h_live', 'ses_live', 0, %lld, NULL)",
		 (long long)(now - 40 * day), (long long)(now - 10 * day), (long long)(now + 20 * day),
		 (long long)(now - 40 * day), (long long)(now - 10 * day), (long long)(now + 5 * day),
		 (long long)(now + 20 * day));
	ck_assert_int_eq(db_exec(u.db, sql), ERR_OK);
	/* 4,500 rotated tokens of the live sign-in that expired yesterday. */
	ck_assert_int_eq(db_exec(u.db, "BEGIN"), ERR_OK);
	for (int i = 0; i < 4500; i++) {
		snprintf(sql, sizeof sql,
			 "INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at, rotated_at)"
			 " VALUES ('h_rot_%d', 'ses_live', 0, %lld, 1)",
			 i, (long long)(now - day + i));
		ck_assert_int_eq(db_exec(u.db, sql), ERR_OK);
	}
	ck_assert_int_eq(db_exec(u.db, "COMMIT"), ERR_OK);
	int64_t gone = -1;
	ck_assert_int_eq(auth_sessions_purge(u.db, now, &gone), ERR_OK);
	ck_assert_int_eq(gone, 4500 + 2 + 1); /* the tokens, h_old, h_recent; ses_old */
	ck_assert_int_eq(int_of(u.db, "SELECT COUNT(*) FROM refresh_tokens WHERE ?1 IS NOT NULL", "x"), 2);
	ck_assert_int_eq(int_of(u.db, "SELECT COUNT(*) FROM refresh_tokens WHERE session_id = ?1", "ses_live"), 2);
	ck_assert_int_eq(int_of(u.db, "SELECT COUNT(*) FROM sessions WHERE id = ?1", "ses_old"), 0);
	ck_assert_int_eq(int_of(u.db, "SELECT COUNT(*) FROM sessions WHERE id = ?1", "ses_recent"), 1);
	ck_assert_int_eq(int_of(u.db, "SELECT COUNT(*) FROM sessions WHERE id = ?1", "ses_live"), 1);
	/* Nothing more to do. */
	ck_assert_int_eq(auth_sessions_purge(u.db, now, &gone), ERR_OK);
	ck_assert_int_eq(gone, 0);
	unit_db_close(&u);
}
END_TEST

static Suite *auth_suite(void)
{
	Suite *s = suite_create("auth");
	TCase *pw = tcase_create("passwords");
	tcase_add_checked_fixture(pw, setup, teardown);
	tcase_add_test(pw, test_password_policy_table);
	tcase_add_test(pw, test_hash_verify_and_rehash_after_parameter_change);
	suite_add_tcase(s, pw);
	TCase *keys = tcase_create("key file");
	tcase_add_checked_fixture(keys, setup, teardown);
	tcase_add_test(keys, test_key_file_created_0600_with_one_current_key);
	tcase_add_test(keys, test_rotate_then_retire);
	tcase_add_test(keys, test_group_or_world_readable_key_file_refused);
	tcase_add_test(keys, test_broken_key_files_refused);
	tcase_add_test(keys, test_missing_key_file_for_the_commands);
	tcase_add_test(keys, test_secret_hash_is_keyed_and_separated_by_purpose);
	suite_add_tcase(s, keys);
	TCase *tokens = tcase_create("tokens");
	tcase_add_checked_fixture(tokens, setup, teardown);
	tcase_add_test(tokens, test_token_round_trip_claims);
	tcase_add_test(tokens, test_token_expires_on_the_test_clock);
	tcase_add_test(tokens, test_cached_token_still_expires);
	tcase_add_test(tokens, test_token_audience_is_checked);
	tcase_add_test(tokens, test_token_tampered_at_every_byte_rejected);
	tcase_add_test(tokens, test_v4_local_token_rejected);
	tcase_add_test(tokens, test_unknown_kid_rejected);
	tcase_add_test(tokens, test_verify_only_kid_accepted_retired_kid_rejected);
	tcase_add_test(tokens, test_bad_claims_rejected_even_when_signed);
	tcase_add_test(tokens, test_garbage_tokens_rejected);
	suite_add_tcase(s, tokens);
	TCase *last_use = tcase_create("last use");
	tcase_add_checked_fixture(last_use, setup, teardown);
	tcase_add_test(last_use, test_last_use_flush_writes_the_latest_and_never_goes_back);
	tcase_add_test(last_use, test_expired_sign_ins_and_refresh_tokens_are_purged);
	suite_add_tcase(s, last_use);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(auth_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
