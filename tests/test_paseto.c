/*
 * test_paseto.c - PASETO v4 and PASERK k4: the official test vectors, every
 * one of them, then Hearth's own cases for tampering, strict parsing and
 * the kid-based access token helpers.
 */
#include <check.h>
#include <jansson.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/paserk.h"
#include "auth/paseto.h"
#include "core/errors.h"

#ifndef HEARTH_TEST_DATA
#define HEARTH_TEST_DATA "tests/data"
#endif

#define B64_VARIANT sodium_base64_VARIANT_URLSAFE_NO_PADDING
#define U(s) ((const unsigned char *)(s))

/* ---- vector files ------------------------------------------------------ */

struct paserk_kind {
	const char *file;
	enum err (*encode)(char *out, size_t out_size, const unsigned char *key, size_t key_len);
	enum err (*decode)(unsigned char *key_out, const char *paserk, size_t paserk_len);
	size_t key_len;
};

static const struct paserk_kind paserk_kinds[] = {
	{"k4.local.json", paserk_k4_local_encode, paserk_k4_local_decode, PASERK_K4_LOCAL_KEYBYTES},
	{"k4.public.json", paserk_k4_public_encode, paserk_k4_public_decode,
	 PASERK_K4_PUBLIC_KEYBYTES},
	{"k4.secret.json", paserk_k4_secret_encode, paserk_k4_secret_decode,
	 PASERK_K4_SECRET_KEYBYTES},
	{"k4.lid.json", paserk_k4_lid, NULL, PASERK_K4_LOCAL_KEYBYTES},
	{"k4.pid.json", paserk_k4_pid, NULL, PASERK_K4_PUBLIC_KEYBYTES},
};
#define PASERK_KINDS (sizeof paserk_kinds / sizeof paserk_kinds[0])

struct paserk_vector {
	const struct paserk_kind *kind;
	json_t *test;
};

/* Loaded once in main() before the runner forks; read-only afterwards. */
static json_t *v4_tests;
static json_t *paserk_files[PASERK_KINDS];
static struct paserk_vector paserk_vectors[64];
static size_t paserk_vector_count;

/* Returns the "tests" array of a vector file, or NULL after saying why. */
static json_t *load_tests(const char *file)
{
	char path[4096];
	json_error_t jerr;
	json_t *root, *tests;
	int n;

	n = snprintf(path, sizeof path, "%s/paseto/%s", HEARTH_TEST_DATA, file);
	if (n < 0 || (size_t)n >= sizeof path) {
		fprintf(stderr, "vector path too long: %s\n", file);
		return NULL;
	}
	root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		fprintf(stderr, "%s:%d: %s\n", path, jerr.line, jerr.text);
		return NULL;
	}
	tests = json_incref(json_object_get(root, "tests"));
	json_decref(root);
	if (!json_is_array(tests) || json_array_size(tests) == 0) {
		fprintf(stderr, "%s: no \"tests\" array\n", path);
		json_decref(tests);
		return NULL;
	}
	return tests;
}

static bool load_vectors(void)
{
	v4_tests = load_tests("v4.json");
	if (v4_tests == NULL)
		return false;
	for (size_t k = 0; k < PASERK_KINDS; k++) {
		size_t i;
		json_t *t;

		paserk_files[k] = load_tests(paserk_kinds[k].file);
		if (paserk_files[k] == NULL)
			return false;
		json_array_foreach(paserk_files[k], i, t) {
			if (paserk_vector_count == sizeof paserk_vectors / sizeof paserk_vectors[0]) {
				fprintf(stderr, "too many PASERK vectors\n");
				return false;
			}
			paserk_vectors[paserk_vector_count].kind = &paserk_kinds[k];
			paserk_vectors[paserk_vector_count].test = t;
			paserk_vector_count++;
		}
	}
	return true;
}

static void release_vectors(void)
{
	json_decref(v4_tests);
	for (size_t k = 0; k < PASERK_KINDS; k++)
		json_decref(paserk_files[k]);
}

/* A string member of a vector, or NULL when absent or JSON null. */
static const char *member(const json_t *t, const char *key)
{
	const json_t *v = json_object_get(t, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static size_t from_hex(unsigned char *out, size_t cap, const char *hex)
{
	size_t len = 0;

	ck_assert_ptr_nonnull(hex);
	ck_assert_msg(sodium_hex2bin(out, cap, hex, strlen(hex), NULL, &len, NULL) == 0,
	              "bad hex in vector: %s", hex);
	return len;
}

static void assert_payload(const char *name, const unsigned char *got, size_t got_len,
                           const char *want)
{
	ck_assert_msg(got_len == strlen(want), "%s: payload length %zu, want %zu", name, got_len,
	              strlen(want));
	ck_assert_msg(memcmp(got, want, got_len) == 0, "%s: payload differs", name);
	ck_assert_msg(got[got_len] == '\0', "%s: payload not NUL-terminated", name);
}

/* ---- v4 vectors ------------------------------------------------------- */

static void check_local_vector(const json_t *t, const char *name, bool expect_fail)
{
	const char *token = member(t, "token"), *payload = member(t, "payload");
	const char *footer = member(t, "footer"), *implicit = member(t, "implicit-assertion");
	unsigned char key[PASETO_V4_LOCAL_KEYBYTES], nonce[PASETO_V4_LOCAL_NONCEBYTES];
	unsigned char *out = NULL;
	size_t out_len = 1;
	char *made = NULL;
	enum err rc;

	ck_assert_uint_eq(from_hex(key, sizeof key, member(t, "key")), sizeof key);
	ck_assert_ptr_nonnull(footer);
	ck_assert_ptr_nonnull(implicit);

	rc = paseto_v4_local_decrypt(&out, &out_len, token, strlen(token), key, U(footer),
	                             strlen(footer), U(implicit), strlen(implicit));
	if (expect_fail) {
		ck_assert_msg(rc == ERR_INVALID_TOKEN, "%s: decrypt gave %s", name, err_name(rc));
		ck_assert_ptr_null(out);
		ck_assert_uint_eq(out_len, 0);
		/* It must fail for its own reason, not only for the footer. */
		rc = paseto_v4_local_decrypt(&out, &out_len, token, strlen(token), key, NULL, 0,
		                             U(implicit), strlen(implicit));
		ck_assert_msg(rc == ERR_INVALID_TOKEN, "%s: decrypt (any footer) gave %s", name,
		              err_name(rc));
		ck_assert_ptr_null(out);
		return;
	}
	ck_assert_msg(rc == ERR_OK, "%s: decrypt gave %s", name, err_name(rc));
	assert_payload(name, out, out_len, payload);
	free(out);

	ck_assert_uint_eq(from_hex(nonce, sizeof nonce, member(t, "nonce")), sizeof nonce);
	rc = paseto_v4_local_encrypt_with_nonce(&made, key, nonce, U(payload), strlen(payload),
	                                        U(footer), strlen(footer), U(implicit),
	                                        strlen(implicit));
	ck_assert_msg(rc == ERR_OK, "%s: encrypt gave %s", name, err_name(rc));
	ck_assert_msg(strcmp(made, token) == 0, "%s: encrypt made\n%s\nwant\n%s", name, made, token);
	free(made);
}

static void check_public_vector(const json_t *t, const char *name, bool expect_fail)
{
	const char *token = member(t, "token"), *payload = member(t, "payload");
	const char *footer = member(t, "footer"), *implicit = member(t, "implicit-assertion");
	unsigned char pk[PASETO_V4_PUBLIC_KEYBYTES], sk[PASETO_V4_SECRET_KEYBYTES];
	unsigned char seed[crypto_sign_SEEDBYTES];
	unsigned char pk2[crypto_sign_PUBLICKEYBYTES], sk2[crypto_sign_SECRETKEYBYTES];
	unsigned char *out = NULL;
	size_t out_len = 1;
	char *made = NULL;
	enum err rc;

	ck_assert_uint_eq(from_hex(pk, sizeof pk, member(t, "public-key")), sizeof pk);
	ck_assert_ptr_nonnull(footer);
	ck_assert_ptr_nonnull(implicit);

	rc = paseto_v4_public_verify(&out, &out_len, token, strlen(token), pk, U(footer),
	                             strlen(footer), U(implicit), strlen(implicit));
	if (expect_fail) {
		ck_assert_msg(rc == ERR_INVALID_TOKEN, "%s: verify gave %s", name, err_name(rc));
		ck_assert_ptr_null(out);
		ck_assert_uint_eq(out_len, 0);
		rc = paseto_v4_public_verify(&out, &out_len, token, strlen(token), pk, NULL, 0,
		                             U(implicit), strlen(implicit));
		ck_assert_msg(rc == ERR_INVALID_TOKEN, "%s: verify (any footer) gave %s", name,
		              err_name(rc));
		ck_assert_ptr_null(out);
		return;
	}
	ck_assert_msg(rc == ERR_OK, "%s: verify gave %s", name, err_name(rc));
	assert_payload(name, out, out_len, payload);
	free(out);

	/* The vector's secret key is libsodium's expansion of its seed. */
	ck_assert_uint_eq(from_hex(sk, sizeof sk, member(t, "secret-key")), sizeof sk);
	ck_assert_uint_eq(from_hex(seed, sizeof seed, member(t, "secret-key-seed")), sizeof seed);
	ck_assert_int_eq(crypto_sign_seed_keypair(pk2, sk2, seed), 0);
	ck_assert_mem_eq(sk2, sk, sizeof sk);
	ck_assert_mem_eq(pk2, pk, sizeof pk);

	rc = paseto_v4_public_sign(&made, sk, U(payload), strlen(payload), U(footer), strlen(footer),
	                           U(implicit), strlen(implicit));
	ck_assert_msg(rc == ERR_OK, "%s: sign gave %s", name, err_name(rc));
	ck_assert_msg(strcmp(made, token) == 0, "%s: sign made\n%s\nwant\n%s", name, made, token);
	free(made);
}

START_TEST(test_v4_vector)
{
	const json_t *t = json_array_get(v4_tests, (size_t)_i);
	const char *name = member(t, "name");
	const json_t *fail = json_object_get(t, "expect-fail");

	ck_assert_ptr_nonnull(name);
	ck_assert_msg(json_is_boolean(fail), "%s: no expect-fail", name);
	ck_assert_msg(member(t, "token") != NULL, "%s: no token", name);
	/* A vector with a symmetric key is v4.local, one with a public key
	 * v4.public, whatever its token claims to be. */
	if (member(t, "key") != NULL)
		check_local_vector(t, name, json_is_true(fail));
	else if (member(t, "public-key") != NULL)
		check_public_vector(t, name, json_is_true(fail));
	else
		ck_abort_msg("%s: neither key nor public-key", name);
}
END_TEST

/* ---- PASERK vectors --------------------------------------------------- */

START_TEST(test_paserk_vector)
{
	const struct paserk_kind *kind = paserk_vectors[_i].kind;
	const json_t *t = paserk_vectors[_i].test;
	const char *name = member(t, "name");
	const char *key_hex = member(t, "key"), *paserk = member(t, "paserk");
	unsigned char key[128], decoded[PASERK_K4_SECRET_KEYBYTES];
	char out[128];
	size_t key_len = 0;
	enum err rc;

	ck_assert_ptr_nonnull(name);
	ck_assert_msg(json_is_boolean(json_object_get(t, "expect-fail")), "%s: no expect-fail", name);
	if (key_hex != NULL)
		key_len = from_hex(key, sizeof key, key_hex);

	if (json_is_true(json_object_get(t, "expect-fail"))) {
		ck_assert_msg(key_hex != NULL || paserk != NULL, "%s: nothing to test", name);
		if (key_hex != NULL) {
			rc = kind->encode(out, sizeof out, key, key_len);
			ck_assert_msg(rc == ERR_CRYPTO, "%s: encode gave %s", name, err_name(rc));
			ck_assert_str_eq(out, "");
		}
		if (paserk != NULL) {
			ck_assert_ptr_nonnull(kind->decode);
			rc = kind->decode(decoded, paserk, strlen(paserk));
			ck_assert_msg(rc == ERR_INVALID_TOKEN, "%s: decode gave %s", name, err_name(rc));
		}
		return;
	}

	ck_assert_ptr_nonnull(paserk);
	ck_assert_msg(key_len == kind->key_len, "%s: key of %zu bytes", name, key_len);
	rc = kind->encode(out, sizeof out, key, key_len);
	ck_assert_msg(rc == ERR_OK, "%s: encode gave %s", name, err_name(rc));
	ck_assert_str_eq(out, paserk);
	if (kind->decode != NULL) {
		rc = kind->decode(decoded, paserk, strlen(paserk));
		ck_assert_msg(rc == ERR_OK, "%s: decode gave %s", name, err_name(rc));
		ck_assert_mem_eq(decoded, key, key_len);
	}
	if (member(t, "secret-key-seed") != NULL) {
		unsigned char seed[crypto_sign_SEEDBYTES], pk[crypto_sign_PUBLICKEYBYTES];
		unsigned char want_pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];

		from_hex(seed, sizeof seed, member(t, "secret-key-seed"));
		from_hex(want_pk, sizeof want_pk, member(t, "public-key"));
		ck_assert_int_eq(crypto_sign_seed_keypair(pk, sk, seed), 0);
		ck_assert_mem_eq(pk, want_pk, sizeof pk);
		ck_assert_mem_eq(sk, key, sizeof sk);
	}
}
END_TEST

/* ---- helpers for Hearth's own cases ----------------------------------- */

struct keypair {
	unsigned char pk[PASETO_V4_PUBLIC_KEYBYTES];
	unsigned char sk[PASETO_V4_SECRET_KEYBYTES];
	char kid[PASERK_K4_PID_SIZE];
};

static void keypair_from_byte(struct keypair *kp, unsigned char b)
{
	unsigned char seed[crypto_sign_SEEDBYTES];

	memset(seed, b, sizeof seed);
	ck_assert_int_eq(crypto_sign_seed_keypair(kp->pk, kp->sk, seed), 0);
	ck_assert_int_eq(paserk_k4_pid(kp->kid, sizeof kp->kid, kp->pk, sizeof kp->pk), ERR_OK);
}

/* header || b64(body) [ "." b64(footer) ], malloc'd. */
static char *make_token(const char *header, const unsigned char *body, size_t body_len,
                        const unsigned char *footer, size_t footer_len)
{
	size_t header_len = strlen(header);
	size_t cap = header_len + sodium_base64_ENCODED_LEN(body_len, B64_VARIANT) + 1 +
	             sodium_base64_ENCODED_LEN(footer_len, B64_VARIANT);
	char *t = malloc(cap);

	ck_assert_ptr_nonnull(t);
	memcpy(t, header, header_len);
	sodium_bin2base64(t + header_len, cap - header_len, body, body_len, B64_VARIANT);
	if (footer_len > 0) {
		size_t pos = strlen(t);

		t[pos++] = '.';
		sodium_bin2base64(t + pos, cap - pos, footer, footer_len, B64_VARIANT);
	}
	return t;
}

/* Decodes the body and footer of a well-formed token into malloc'd buffers. */
static void split_token(const char *token, size_t header_len, unsigned char **body,
                        size_t *body_len, unsigned char **footer, size_t *footer_len)
{
	const char *b = token + header_len;
	const char *dot = strchr(b, '.');
	size_t b_len = dot != NULL ? (size_t)(dot - b) : strlen(b);
	size_t f_len = dot != NULL ? strlen(dot + 1) : 0;

	*body = malloc(b_len + 1);
	*footer = malloc(f_len + 1);
	ck_assert_ptr_nonnull(*body);
	ck_assert_ptr_nonnull(*footer);
	ck_assert_int_eq(sodium_base642bin(*body, b_len + 1, b, b_len, NULL, body_len, NULL,
	                                   B64_VARIANT),
	                 0);
	*footer_len = 0;
	if (dot != NULL)
		ck_assert_int_eq(sodium_base642bin(*footer, f_len + 1, dot + 1, f_len, NULL, footer_len,
		                                   NULL, B64_VARIANT),
		                 0);
}

static char *sign_or_fail(const struct keypair *kp, const char *payload, const char *footer,
                          const char *implicit)
{
	char *token = NULL;

	ck_assert_int_eq(paseto_v4_public_sign(&token, kp->sk, U(payload), strlen(payload), U(footer),
	                                       strlen(footer), U(implicit), strlen(implicit)),
	                 ERR_OK);
	ck_assert_ptr_nonnull(token);
	return token;
}

static char *encrypt_or_fail(const unsigned char *key, const char *payload, const char *footer,
                             const char *implicit)
{
	char *token = NULL;

	ck_assert_int_eq(paseto_v4_local_encrypt(&token, key, U(payload), strlen(payload), U(footer),
	                                         strlen(footer), U(implicit), strlen(implicit)),
	                 ERR_OK);
	ck_assert_ptr_nonnull(token);
	return token;
}

/* verify() must refuse the token and leave no output behind. */
static void assert_public_rejected(const char *token, size_t token_len, const unsigned char *pk,
                                   const char *footer, const char *implicit, const char *what)
{
	unsigned char *out = NULL;
	size_t out_len = 1;
	enum err rc;

	rc = paseto_v4_public_verify(&out, &out_len, token, token_len, pk, U(footer),
	                             footer != NULL ? strlen(footer) : 0, U(implicit),
	                             strlen(implicit));
	ck_assert_msg(rc == ERR_INVALID_TOKEN, "%s: verify gave %s", what, err_name(rc));
	ck_assert_ptr_null(out);
	ck_assert_uint_eq(out_len, 0);
}

static void assert_local_rejected(const char *token, size_t token_len, const unsigned char *key,
                                  const char *footer, const char *implicit, const char *what)
{
	unsigned char *out = NULL;
	size_t out_len = 1;
	enum err rc;

	rc = paseto_v4_local_decrypt(&out, &out_len, token, token_len, key, U(footer),
	                             footer != NULL ? strlen(footer) : 0, U(implicit),
	                             strlen(implicit));
	ck_assert_msg(rc == ERR_INVALID_TOKEN, "%s: decrypt gave %s", what, err_name(rc));
	ck_assert_ptr_null(out);
	ck_assert_uint_eq(out_len, 0);
}

static const unsigned char local_key[PASETO_V4_LOCAL_KEYBYTES] = {
	0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x7b, 0x7c, 0x7d, 0x7e, 0x7f,
	0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8b, 0x8c, 0x8d, 0x8e, 0x8f,
};

#define CLAIMS "{\"sub\":\"acct_1\",\"exp\":\"2030-01-01T00:00:00Z\"}"

/* ---- PAE -------------------------------------------------------------- */

START_TEST(test_pae_matches_spec_examples)
{
	static const unsigned char none[] = {0, 0, 0, 0, 0, 0, 0, 0};
	static const unsigned char one_empty[] = {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
	static const unsigned char test[] = {1, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0,
	                                     0, 0, 0, 0, 't', 'e', 's', 't'};
	struct paseto_piece empty = {U(""), 0}, word = {U("test"), 4};
	unsigned char *out;
	size_t len;

	ck_assert_int_eq(paseto_pae(&out, &len, NULL, 0), ERR_OK);
	ck_assert_uint_eq(len, sizeof none);
	ck_assert_mem_eq(out, none, len);
	free(out);
	ck_assert_int_eq(paseto_pae(&out, &len, &empty, 1), ERR_OK);
	ck_assert_uint_eq(len, sizeof one_empty);
	ck_assert_mem_eq(out, one_empty, len);
	free(out);
	ck_assert_int_eq(paseto_pae(&out, &len, &word, 1), ERR_OK);
	ck_assert_uint_eq(len, sizeof test);
	ck_assert_mem_eq(out, test, len);
	free(out);
}
END_TEST

/* ---- tampering -------------------------------------------------------- */

START_TEST(test_public_token_text_bit_flip_anywhere_fails)
{
	struct keypair kp;
	char *token, *copy;
	size_t len, flips = 0;
	unsigned char *out = NULL;
	size_t out_len;

	keypair_from_byte(&kp, 1);
	token = sign_or_fail(&kp, CLAIMS, "{\"kid\":\"k\"}", "aud");
	len = strlen(token);
	ck_assert_int_eq(paseto_v4_public_verify(&out, &out_len, token, len, kp.pk, NULL, 0, U("aud"), 3),
	                 ERR_OK);
	free(out);
	copy = malloc(len);
	ck_assert_ptr_nonnull(copy);
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			char what[64];

			memcpy(copy, token, len);
			copy[i] = (char)(copy[i] ^ (1 << bit));
			snprintf(what, sizeof what, "byte %zu bit %d", i, bit);
			assert_public_rejected(copy, len, kp.pk, NULL, "aud", what);
			flips++;
		}
	}
	ck_assert_uint_eq(flips, len * 8);
	free(copy);
	free(token);
}
END_TEST

START_TEST(test_public_token_raw_bit_flip_anywhere_fails)
{
	struct keypair kp;
	char *token;
	unsigned char *body, *footer;
	size_t body_len, footer_len;

	keypair_from_byte(&kp, 2);
	token = sign_or_fail(&kp, CLAIMS, "{\"kid\":\"k\"}", "");
	split_token(token, strlen("v4.public."), &body, &body_len, &footer, &footer_len);
	ck_assert_uint_eq(body_len, strlen(CLAIMS) + crypto_sign_BYTES);
	for (size_t i = 0; i < body_len + footer_len; i++) {
		unsigned char *p = i < body_len ? &body[i] : &footer[i - body_len];

		for (int bit = 0; bit < 8; bit++) {
			char what[64], *forged;

			*p = (unsigned char)(*p ^ (1u << bit));
			forged = make_token("v4.public.", body, body_len, footer, footer_len);
			snprintf(what, sizeof what, "raw byte %zu bit %d", i, bit);
			assert_public_rejected(forged, strlen(forged), kp.pk, NULL, "", what);
			free(forged);
			*p = (unsigned char)(*p ^ (1u << bit));
		}
	}
	free(body);
	free(footer);
	free(token);
}
END_TEST

START_TEST(test_local_token_raw_bit_flip_anywhere_fails)
{
	char *token;
	unsigned char *body, *footer;
	size_t body_len, footer_len;

	token = encrypt_or_fail(local_key, CLAIMS, "{\"kid\":\"k\"}", "aud");
	split_token(token, strlen("v4.local."), &body, &body_len, &footer, &footer_len);
	ck_assert_uint_eq(body_len, 32 + strlen(CLAIMS) + 32);
	for (size_t i = 0; i < body_len + footer_len; i++) {
		unsigned char *p = i < body_len ? &body[i] : &footer[i - body_len];

		for (int bit = 0; bit < 8; bit++) {
			char what[64], *forged;

			*p = (unsigned char)(*p ^ (1u << bit));
			forged = make_token("v4.local.", body, body_len, footer, footer_len);
			snprintf(what, sizeof what, "raw byte %zu bit %d", i, bit);
			assert_local_rejected(forged, strlen(forged), local_key, NULL, "aud", what);
			free(forged);
			*p = (unsigned char)(*p ^ (1u << bit));
		}
	}
	free(body);
	free(footer);
	free(token);
}
END_TEST

START_TEST(test_wrong_purpose_rejected)
{
	struct keypair kp;
	char *public_token, *local_token, *relabelled;

	keypair_from_byte(&kp, 3);
	public_token = sign_or_fail(&kp, CLAIMS, "", "");
	local_token = encrypt_or_fail(local_key, CLAIMS, "", "");

	assert_public_rejected(local_token, strlen(local_token), kp.pk, NULL, "", "local to public");
	assert_local_rejected(public_token, strlen(public_token), local_key, NULL, "",
	                      "public to local");

	/* The same body under the other purpose's header. */
	relabelled = malloc(strlen(public_token) + 1);
	ck_assert_ptr_nonnull(relabelled);
	memcpy(relabelled, "v4.local.", 9);
	memcpy(relabelled + 9, public_token + 10, strlen(public_token + 10) + 1);
	assert_local_rejected(relabelled, strlen(relabelled), local_key, NULL, "", "relabelled");
	free(relabelled);

	/* Other versions and spellings of the header. */
	static const char *const headers[] = {"v3.public.", "v2.public.", "V4.public.", "v4.PUBLIC.",
	                                      "v4.publi.", "v4-public."};
	for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
		size_t hl = strlen(headers[i]), rest = strlen(public_token + 10);
		char *t = malloc(hl + rest + 1);

		ck_assert_ptr_nonnull(t);
		memcpy(t, headers[i], hl);
		memcpy(t + hl, public_token + 10, rest + 1);
		assert_public_rejected(t, strlen(t), kp.pk, NULL, "", headers[i]);
		free(t);
	}
	free(public_token);
	free(local_token);
}
END_TEST

START_TEST(test_footer_mismatch_rejected)
{
	struct keypair kp;
	char *with_footer, *without_footer, *local_with, *swapped;
	unsigned char *body, *footer, *out = NULL;
	size_t body_len, footer_len, out_len;
	const char *f = "{\"kid\":\"one\"}";

	keypair_from_byte(&kp, 4);
	with_footer = sign_or_fail(&kp, CLAIMS, f, "");
	without_footer = sign_or_fail(&kp, CLAIMS, "", "");
	local_with = encrypt_or_fail(local_key, CLAIMS, f, "");

	ck_assert_int_eq(paseto_v4_public_verify(&out, &out_len, with_footer, strlen(with_footer),
	                                         kp.pk, U(f), strlen(f), NULL, 0),
	                 ERR_OK);
	free(out);
	assert_public_rejected(with_footer, strlen(with_footer), kp.pk, "{\"kid\":\"two\"}", "",
	                       "other footer");
	assert_public_rejected(with_footer, strlen(with_footer), kp.pk, "", "", "no footer expected");
	assert_public_rejected(with_footer, strlen(with_footer), kp.pk, "{\"kid\":\"one\"} ", "",
	                       "longer footer");
	assert_public_rejected(without_footer, strlen(without_footer), kp.pk, f, "",
	                       "footer expected");
	ck_assert_int_eq(paseto_v4_public_verify(&out, &out_len, without_footer,
	                                         strlen(without_footer), kp.pk, U(""), 0, NULL, 0),
	                 ERR_OK);
	free(out);
	assert_local_rejected(local_with, strlen(local_with), local_key, "{\"kid\":\"two\"}", "",
	                      "local other footer");
	assert_local_rejected(local_with, strlen(local_with), local_key, "", "",
	                      "local no footer expected");

	/* A footer swapped in is caught by the signature even when the caller
	 * expects nothing in particular. */
	split_token(with_footer, 10, &body, &body_len, &footer, &footer_len);
	swapped = make_token("v4.public.", body, body_len, U("{\"kid\":\"two\"}"), 13);
	assert_public_rejected(swapped, strlen(swapped), kp.pk, NULL, "", "swapped footer");
	free(swapped);
	/* So is a footer dropped. */
	swapped = make_token("v4.public.", body, body_len, NULL, 0);
	assert_public_rejected(swapped, strlen(swapped), kp.pk, NULL, "", "dropped footer");
	free(swapped);

	free(body);
	free(footer);
	free(with_footer);
	free(without_footer);
	free(local_with);
}
END_TEST

START_TEST(test_malformed_tokens_rejected)
{
	static const char *const suffixes[] = {".", "=", "==", ".=", "..", ".e30.", ".e30.e30",
	                                       " ", "\n", "x", "%", "+", "/"};
	struct keypair kp;
	char *tokens[3];
	unsigned char short_body[crypto_sign_BYTES - 1] = {0};
	unsigned char local_body[63] = {0}, empty_local[64] = {0};
	char *t;

	keypair_from_byte(&kp, 5);
	tokens[0] = sign_or_fail(&kp, CLAIMS, "", "");
	tokens[1] = sign_or_fail(&kp, CLAIMS, "{\"kid\":\"k\"}", "");
	tokens[2] = encrypt_or_fail(local_key, CLAIMS, "{\"kid\":\"k\"}", "");

	for (size_t k = 0; k < 3; k++) {
		size_t len = strlen(tokens[k]);
		char *buf = malloc(len + 16);

		ck_assert_ptr_nonnull(buf);
		for (size_t s = 0; s < sizeof suffixes / sizeof suffixes[0]; s++) {
			char what[64];

			memcpy(buf, tokens[k], len);
			memcpy(buf + len, suffixes[s], strlen(suffixes[s]) + 1);
			snprintf(what, sizeof what, "token %zu + \"%s\"", k, suffixes[s]);
			if (k < 2)
				assert_public_rejected(buf, strlen(buf), kp.pk, NULL, "", what);
			else
				assert_local_rejected(buf, strlen(buf), local_key, NULL, "", what);
		}
		/* An embedded NUL, counted in the length. */
		memcpy(buf, tokens[k], len);
		buf[len] = '\0';
		if (k < 2)
			assert_public_rejected(buf, len + 1, kp.pk, NULL, "", "trailing NUL");
		else
			assert_local_rejected(buf, len + 1, local_key, NULL, "", "trailing NUL");
		/* A leading space. */
		buf[0] = ' ';
		memcpy(buf + 1, tokens[k], len + 1);
		if (k < 2)
			assert_public_rejected(buf, len + 1, kp.pk, NULL, "", "leading space");
		else
			assert_local_rejected(buf, len + 1, local_key, NULL, "", "leading space");
		free(buf);
	}

	assert_public_rejected("", 0, kp.pk, NULL, "", "empty");
	assert_public_rejected("v4.public", 9, kp.pk, NULL, "", "header without dot");
	assert_public_rejected("v4.public.", 10, kp.pk, NULL, "", "header only");
	assert_public_rejected("v4.public..e30", 14, kp.pk, NULL, "", "empty body");
	assert_local_rejected("v4.local.", 9, local_key, NULL, "", "local header only");
	t = make_token("v4.public.", short_body, sizeof short_body, NULL, 0);
	assert_public_rejected(t, strlen(t), kp.pk, NULL, "", "body shorter than a signature");
	free(t);
	t = make_token("v4.local.", local_body, sizeof local_body, NULL, 0);
	assert_local_rejected(t, strlen(t), local_key, NULL, "", "body shorter than nonce + tag");
	free(t);
	t = make_token("v4.local.", empty_local, sizeof empty_local, NULL, 0);
	assert_local_rejected(t, strlen(t), local_key, NULL, "", "zero nonce and tag");
	free(t);

	for (size_t k = 0; k < 3; k++)
		free(tokens[k]);
}
END_TEST

START_TEST(test_implicit_assertion_mismatch_rejected)
{
	struct keypair kp;
	char *public_token, *local_token;

	keypair_from_byte(&kp, 6);
	public_token = sign_or_fail(&kp, CLAIMS, "", "{\"aud\":\"hearth\"}");
	local_token = encrypt_or_fail(local_key, CLAIMS, "", "{\"aud\":\"hearth\"}");
	assert_public_rejected(public_token, strlen(public_token), kp.pk, NULL, "", "no implicit");
	assert_public_rejected(public_token, strlen(public_token), kp.pk, NULL, "{\"aud\":\"other\"}",
	                       "other implicit");
	assert_local_rejected(local_token, strlen(local_token), local_key, NULL, "", "no implicit");
	assert_local_rejected(local_token, strlen(local_token), local_key, NULL,
	                      "{\"aud\":\"other\"}", "other implicit");
	free(public_token);
	free(local_token);
}
END_TEST

/* ---- round trips and keys --------------------------------------------- */

START_TEST(test_local_round_trip_uses_fresh_nonces)
{
	unsigned char other_key[PASETO_V4_LOCAL_KEYBYTES];
	char *a, *b, *empty;
	unsigned char *out = NULL;
	size_t out_len;

	a = encrypt_or_fail(local_key, CLAIMS, "", "");
	b = encrypt_or_fail(local_key, CLAIMS, "", "");
	ck_assert_str_ne(a, b);
	ck_assert_int_eq(paseto_v4_local_decrypt(&out, &out_len, a, strlen(a), local_key, NULL, 0,
	                                         NULL, 0),
	                 ERR_OK);
	assert_payload("a", out, out_len, CLAIMS);
	free(out);
	ck_assert_int_eq(paseto_v4_local_decrypt(&out, &out_len, b, strlen(b), local_key, NULL, 0,
	                                         NULL, 0),
	                 ERR_OK);
	assert_payload("b", out, out_len, CLAIMS);
	free(out);

	empty = encrypt_or_fail(local_key, "", "", "");
	ck_assert_int_eq(paseto_v4_local_decrypt(&out, &out_len, empty, strlen(empty), local_key,
	                                         NULL, 0, NULL, 0),
	                 ERR_OK);
	ck_assert_uint_eq(out_len, 0);
	ck_assert_int_eq(out[0], '\0');
	free(out);

	memcpy(other_key, local_key, sizeof other_key);
	other_key[31] ^= 1;
	assert_local_rejected(a, strlen(a), other_key, NULL, "", "wrong key");
	free(a);
	free(b);
	free(empty);
}
END_TEST

START_TEST(test_public_wrong_key_rejected)
{
	struct keypair kp, other;
	char *token;

	keypair_from_byte(&kp, 7);
	keypair_from_byte(&other, 8);
	token = sign_or_fail(&kp, CLAIMS, "", "");
	assert_public_rejected(token, strlen(token), other.pk, NULL, "", "other key");
	free(token);
}
END_TEST

START_TEST(test_inconsistent_secret_key_refused)
{
	struct keypair a, b;
	unsigned char mixed[PASETO_V4_SECRET_KEYBYTES];
	char *token = NULL, paserk[PASERK_K4_SECRET_SIZE], forged[PASERK_K4_SECRET_SIZE];
	unsigned char decoded[PASERK_K4_SECRET_KEYBYTES];

	keypair_from_byte(&a, 9);
	keypair_from_byte(&b, 10);
	memcpy(mixed, a.sk, 32);
	memcpy(mixed + 32, b.pk, 32);

	ck_assert_int_eq(paseto_v4_public_sign(&token, mixed, U(CLAIMS), strlen(CLAIMS), NULL, 0,
	                                       NULL, 0),
	                 ERR_CRYPTO);
	ck_assert_ptr_null(token);
	ck_assert_int_eq(paserk_k4_secret_encode(paserk, sizeof paserk, mixed, sizeof mixed),
	                 ERR_CRYPTO);
	ck_assert_str_eq(paserk, "");

	/* The same mismatch arriving as a PASERK string. */
	memcpy(forged, "k4.secret.", 10);
	sodium_bin2base64(forged + 10, sizeof forged - 10, mixed, sizeof mixed, B64_VARIANT);
	ck_assert_int_eq(paserk_k4_secret_decode(decoded, forged, strlen(forged)), ERR_INVALID_TOKEN);
	ck_assert(sodium_is_zero(decoded, sizeof decoded));
}
END_TEST

START_TEST(test_paserk_decoding_is_strict)
{
	char good[PASERK_K4_LOCAL_SIZE], bad[PASERK_K4_LOCAL_SIZE + 8], pub[PASERK_K4_PUBLIC_SIZE];
	char small[PASERK_K4_LOCAL_SIZE - 1];
	unsigned char key[PASERK_K4_LOCAL_KEYBYTES];
	struct keypair kp;
	size_t n;

	ck_assert_int_eq(paserk_k4_local_encode(good, sizeof good, local_key, sizeof local_key),
	                 ERR_OK);
	n = strlen(good);
	ck_assert_uint_eq(n + 1, PASERK_K4_LOCAL_SIZE);

	/* Padding, trailing and foreign characters. */
	static const char *const suffixes[] = {"=", "A", ".", " ", "\n"};
	for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
		memcpy(bad, good, n);
		memcpy(bad + n, suffixes[i], strlen(suffixes[i]) + 1);
		ck_assert_int_eq(paserk_k4_local_decode(key, bad, strlen(bad)), ERR_INVALID_TOKEN);
	}
	memcpy(bad, good, n + 1);
	bad[12] = '+';
	ck_assert_int_eq(paserk_k4_local_decode(key, bad, n), ERR_INVALID_TOKEN);
	memcpy(bad, good, n + 1);
	bad[12] = '/';
	ck_assert_int_eq(paserk_k4_local_decode(key, bad, n), ERR_INVALID_TOKEN);
	/* libsodium 1.0.18 alone would read any byte >= 0x80 as a letter. */
	memcpy(bad, good, n + 1);
	bad[12] = (char)(bad[12] | 0x80);
	ck_assert_int_eq(paserk_k4_local_decode(key, bad, n), ERR_INVALID_TOKEN);
	/* 43 characters carry 258 bits for 256: the last two must be zero. */
	memcpy(bad, good, n + 1);
	ck_assert_int_eq(bad[n - 1], '8');
	bad[n - 1] = '9';
	ck_assert_int_eq(paserk_k4_local_decode(key, bad, n), ERR_INVALID_TOKEN);
	ck_assert(sodium_is_zero(key, sizeof key));
	/* The right bytes under another header. */
	memcpy(bad, "K4", 2);
	memcpy(bad + 2, good + 2, n - 1);
	ck_assert_int_eq(paserk_k4_local_decode(key, bad, n), ERR_INVALID_TOKEN);
	ck_assert_int_eq(paserk_k4_public_decode(key, good, n), ERR_INVALID_TOKEN);
	ck_assert_int_eq(paserk_k4_public_encode(pub, sizeof pub, local_key, sizeof local_key),
	                 ERR_OK);
	ck_assert_int_eq(paserk_k4_local_decode(key, pub, strlen(pub)), ERR_INVALID_TOKEN);
	ck_assert_int_eq(paserk_k4_secret_decode((unsigned char[64]){0}, pub, strlen(pub)),
	                 ERR_INVALID_TOKEN);
	/* A string cut short and a NULL. */
	ck_assert_int_eq(paserk_k4_local_decode(key, good, n - 1), ERR_INVALID_TOKEN);
	ck_assert_int_eq(paserk_k4_local_decode(key, NULL, 0), ERR_INVALID_TOKEN);

	/* A buffer one byte short is the caller's bug. */
	ck_assert_int_eq(paserk_k4_local_encode(small, sizeof small, local_key, sizeof local_key),
	                 ERR_INTERNAL);
	ck_assert_str_eq(small, "");

	/* pid shape. */
	keypair_from_byte(&kp, 11);
	ck_assert(paserk_is_k4_pid(kp.kid, strlen(kp.kid)));
	ck_assert(!paserk_is_k4_pid(kp.kid, strlen(kp.kid) - 1));
	ck_assert(!paserk_is_k4_pid("zVhMiPBP9fRf2snEcT7gFTioeA9COcNy9DfgL1W60haN", 44));
	memcpy(bad, kp.kid, strlen(kp.kid) + 1);
	bad[4] = 'l'; /* "k4.lid." */
	ck_assert(!paserk_is_k4_pid(bad, strlen(bad)));
}
END_TEST

/* ---- Hearth's kid-based helpers ------------------------------------- */

struct keyring {
	size_t count;
	const struct keypair *keys[3];
	int calls;
	char last_kid[PASERK_K4_PID_SIZE];
	enum err fail_with;       /* returned instead of looking, unless ERR_OK */
	const struct keypair *liar; /* if set, returned for every kid */
};

static enum err keyring_lookup(void *ctx, const char *kid,
                               unsigned char public_key_out[PASETO_V4_PUBLIC_KEYBYTES])
{
	struct keyring *ring = ctx;

	ring->calls++;
	snprintf(ring->last_kid, sizeof ring->last_kid, "%s", kid);
	if (ring->fail_with != ERR_OK)
		return ring->fail_with;
	if (ring->liar != NULL) {
		memcpy(public_key_out, ring->liar->pk, PASETO_V4_PUBLIC_KEYBYTES);
		return ERR_OK;
	}
	for (size_t i = 0; i < ring->count; i++) {
		if (strcmp(ring->keys[i]->kid, kid) == 0) {
			memcpy(public_key_out, ring->keys[i]->pk, PASETO_V4_PUBLIC_KEYBYTES);
			return ERR_OK;
		}
	}
	return ERR_NOT_FOUND;
}

static char *kid_footer(const char *kid)
{
	char *f = malloc(128);
	int n;

	ck_assert_ptr_nonnull(f);
	n = snprintf(f, 128, "{\"kid\":\"%s\"}", kid);
	ck_assert(n > 0 && n < 128);
	return f;
}

static void assert_claims_rejected(const char *token, struct keyring *ring, enum err want,
                                   const char *what)
{
	unsigned char *claims = NULL;
	size_t claims_len = 1;
	enum err rc;

	rc = paseto_verify_claims(&claims, &claims_len, token, strlen(token), keyring_lookup, ring);
	ck_assert_msg(rc == want, "%s: verify_claims gave %s, want %s", what, err_name(rc),
	              err_name(want));
	ck_assert_ptr_null(claims);
	ck_assert_uint_eq(claims_len, 0);
}

START_TEST(test_claims_round_trip_with_kid_lookup)
{
	struct keypair a, b;
	struct keyring ring = {0};
	char *footer_a, *footer_b, *token_a = NULL, *token_b = NULL, kid[PASERK_K4_PID_SIZE];
	unsigned char *claims = NULL;
	size_t claims_len;

	keypair_from_byte(&a, 20);
	keypair_from_byte(&b, 21);
	ring.keys[0] = &a;
	ring.keys[1] = &b;
	ring.count = 2;
	footer_a = kid_footer(a.kid);
	footer_b = kid_footer(b.kid);

	ck_assert_int_eq(paseto_sign_claims(&token_b, b.sk, CLAIMS, footer_b), ERR_OK);
	ck_assert_int_eq(paseto_footer_kid(kid, sizeof kid, token_b, strlen(token_b)), ERR_OK);
	ck_assert_str_eq(kid, b.kid);
	ck_assert_int_eq(paseto_verify_claims(&claims, &claims_len, token_b, strlen(token_b),
	                                      keyring_lookup, &ring),
	                 ERR_OK);
	assert_payload("claims b", claims, claims_len, CLAIMS);
	ck_assert_int_eq(ring.calls, 1);
	ck_assert_str_eq(ring.last_kid, b.kid);
	free(claims);

	ck_assert_int_eq(paseto_sign_claims(&token_a, a.sk, CLAIMS, footer_a), ERR_OK);
	ck_assert_int_eq(paseto_verify_claims(&claims, &claims_len, token_a, strlen(token_a),
	                                      keyring_lookup, &ring),
	                 ERR_OK);
	assert_payload("claims a", claims, claims_len, CLAIMS);
	ck_assert_str_eq(ring.last_kid, a.kid);
	free(claims);

	/* The helper's tokens are plain v4.public tokens. */
	ck_assert_int_eq(paseto_v4_public_verify(&claims, &claims_len, token_a, strlen(token_a), a.pk,
	                                         U(footer_a), strlen(footer_a), NULL, 0),
	                 ERR_OK);
	free(claims);

	free(footer_a);
	free(footer_b);
	free(token_a);
	free(token_b);
}
END_TEST

START_TEST(test_claims_unknown_kid_rejected)
{
	struct keypair a, stranger;
	struct keyring ring = {0};
	char *footer, *token = NULL;

	keypair_from_byte(&a, 22);
	keypair_from_byte(&stranger, 23);
	ring.keys[0] = &a;
	ring.count = 1;
	footer = kid_footer(stranger.kid);
	ck_assert_int_eq(paseto_sign_claims(&token, stranger.sk, CLAIMS, footer), ERR_OK);
	assert_claims_rejected(token, &ring, ERR_INVALID_TOKEN, "unknown kid");
	ck_assert_int_eq(ring.calls, 1);
	ck_assert_str_eq(ring.last_kid, stranger.kid);
	free(footer);
	free(token);
}
END_TEST

START_TEST(test_claims_kid_of_another_key_rejected)
{
	struct keypair a, b, attacker;
	struct keyring ring = {0};
	char *footer, *token;

	keypair_from_byte(&a, 24);
	keypair_from_byte(&b, 25);
	keypair_from_byte(&attacker, 26);
	ring.keys[0] = &a;
	ring.keys[1] = &b;
	ring.count = 2;

	/* Signed by a, claiming to be b's. */
	footer = kid_footer(b.kid);
	token = sign_or_fail(&a, CLAIMS, footer, "");
	assert_claims_rejected(token, &ring, ERR_INVALID_TOKEN, "a's token with b's kid");
	free(token);
	/* Signed by an outsider, naming a trusted key. */
	token = sign_or_fail(&attacker, CLAIMS, footer, "");
	assert_claims_rejected(token, &ring, ERR_INVALID_TOKEN, "outsider with b's kid");
	free(token);
	free(footer);
}
END_TEST

START_TEST(test_claims_footer_is_not_trusted)
{
	struct keypair a;
	struct keyring ring = {0};
	char big[PASETO_FOOTER_JSON_MAX + 64], lid[PASERK_K4_LID_SIZE], lid_kid[128], dup[256];
	char nul[256];
	int n;

	keypair_from_byte(&a, 27);
	ring.keys[0] = &a;
	ring.count = 1;
	ck_assert_int_eq(paserk_k4_lid(lid, sizeof lid, local_key, sizeof local_key), ERR_OK);
	n = snprintf(lid_kid, sizeof lid_kid, "{\"kid\":\"%s\"}", lid);
	ck_assert(n > 0 && (size_t)n < sizeof lid_kid);
	n = snprintf(dup, sizeof dup, "{\"kid\":\"%s\",\"kid\":\"%s\"}", a.kid, a.kid);
	ck_assert(n > 0 && (size_t)n < sizeof dup);
	n = snprintf(nul, sizeof nul, "{\"kid\":\"%s\\u0000\"}", a.kid);
	ck_assert(n > 0 && (size_t)n < sizeof nul);
	n = snprintf(big, sizeof big, "{\"kid\":\"%s\",\"pad\":\"%*s\"}", a.kid,
	             PASETO_FOOTER_JSON_MAX - 60, "");
	ck_assert(n > PASETO_FOOTER_JSON_MAX && (size_t)n < sizeof big);

	const char *const footers[] = {
		"",
		"not json",
		"[]",
		"{}",
		"\"k4.pid.\"",
		"{\"kid\":1}",
		"{\"kid\":null}",
		"{\"kid\":\"zVhMiPBP9fRf2snEcT7gFTioeA9COcNy9DfgL1W60haN\"}",
		"{\"KID\":\"x\"}",
		lid,
		lid_kid,
		dup,
		nul,
		big,
	};
	for (size_t i = 0; i < sizeof footers / sizeof footers[0]; i++) {
		char what[32], kid[PASERK_K4_PID_SIZE];
		/* Each is validly signed by a trusted key: only the footer is wrong. */
		char *token = sign_or_fail(&a, CLAIMS, footers[i], "");

		snprintf(what, sizeof what, "footer %zu", i);
		ck_assert_int_eq(paseto_footer_kid(kid, sizeof kid, token, strlen(token)),
		                 ERR_INVALID_TOKEN);
		ck_assert_str_eq(kid, "");
		assert_claims_rejected(token, &ring, ERR_INVALID_TOKEN, what);
		free(token);
	}
	ck_assert_int_eq(ring.calls, 0);
}
END_TEST

START_TEST(test_claims_footer_extra_members_ignored)
{
	struct keypair a;
	struct keyring ring = {0};
	char footer[256], *token = NULL;
	unsigned char *claims = NULL;
	size_t claims_len;
	int n;

	keypair_from_byte(&a, 28);
	ring.keys[0] = &a;
	ring.count = 1;
	n = snprintf(footer, sizeof footer, "{\"v\":2,\"kid\":\"%s\"}", a.kid);
	ck_assert(n > 0 && (size_t)n < sizeof footer);
	ck_assert_int_eq(paseto_sign_claims(&token, a.sk, CLAIMS, footer), ERR_OK);
	ck_assert_int_eq(paseto_verify_claims(&claims, &claims_len, token, strlen(token),
	                                      keyring_lookup, &ring),
	                 ERR_OK);
	assert_payload("extra members", claims, claims_len, CLAIMS);
	free(claims);
	free(token);
}
END_TEST

START_TEST(test_claims_lookup_failures)
{
	struct keypair a, b;
	struct keyring ring = {0};
	char *footer, *token = NULL, *local_token;

	keypair_from_byte(&a, 29);
	keypair_from_byte(&b, 30);
	ring.keys[0] = &a;
	ring.count = 1;
	footer = kid_footer(a.kid);
	ck_assert_int_eq(paseto_sign_claims(&token, a.sk, CLAIMS, footer), ERR_OK);

	/* An internal error of the keyring is passed on, not hidden as a bad token. */
	ring.fail_with = ERR_DB;
	assert_claims_rejected(token, &ring, ERR_DB, "keyring down");
	ring.fail_with = ERR_OK;

	/* A keyring that answers with a key the kid does not name is a bug. */
	ring.liar = &b;
	assert_claims_rejected(token, &ring, ERR_CRYPTO, "lying keyring");
	ring.liar = NULL;

	/* A v4.local token with the same footer never reaches the keyring. */
	ring.calls = 0;
	local_token = encrypt_or_fail(local_key, CLAIMS, footer, "");
	assert_claims_rejected(local_token, &ring, ERR_INVALID_TOKEN, "local token");
	ck_assert_int_eq(ring.calls, 0);

	free(local_token);
	free(footer);
	free(token);
}
END_TEST

START_TEST(test_sign_claims_refuses_bad_input)
{
	struct keypair a, b;
	char *footer_a, *footer_b, *token = NULL, kid[PASERK_K4_PID_SIZE - 1];
	char big[PASETO_FOOTER_JSON_MAX + 64];
	int n;

	keypair_from_byte(&a, 31);
	keypair_from_byte(&b, 32);
	footer_a = kid_footer(a.kid);
	footer_b = kid_footer(b.kid);

	ck_assert_int_eq(paseto_sign_claims(&token, a.sk, CLAIMS, footer_b), ERR_CRYPTO);
	ck_assert_ptr_null(token);
	ck_assert_int_eq(paseto_sign_claims(&token, a.sk, CLAIMS, "{}"), ERR_INTERNAL);
	ck_assert_ptr_null(token);
	ck_assert_int_eq(paseto_sign_claims(&token, a.sk, CLAIMS, "kid"), ERR_INTERNAL);
	ck_assert_ptr_null(token);
	n = snprintf(big, sizeof big, "{\"kid\":\"%s\",\"pad\":\"%*s\"}", a.kid,
	             PASETO_FOOTER_JSON_MAX - 60, "");
	ck_assert(n > PASETO_FOOTER_JSON_MAX && (size_t)n < sizeof big);
	ck_assert_int_eq(paseto_sign_claims(&token, a.sk, CLAIMS, big), ERR_INTERNAL);
	ck_assert_ptr_null(token);
	ck_assert_int_eq(paseto_sign_claims(&token, a.sk, "[1]", footer_a), ERR_INTERNAL);
	ck_assert_ptr_null(token);
	ck_assert_int_eq(paseto_sign_claims(&token, a.sk, "{\"a\":1} x", footer_a), ERR_INTERNAL);
	ck_assert_ptr_null(token);

	/* paseto_footer_kid() checks the caller's buffer. */
	ck_assert_int_eq(paseto_sign_claims(&token, a.sk, CLAIMS, footer_a), ERR_OK);
	ck_assert_int_eq(paseto_footer_kid(kid, sizeof kid, token, strlen(token)), ERR_INTERNAL);
	ck_assert_str_eq(kid, "");

	free(token);
	free(footer_a);
	free(footer_b);
}
END_TEST

/* ---- suite ------------------------------------------------------------ */

static Suite *paseto_suite(void)
{
	Suite *s = suite_create("paseto");
	TCase *vectors = tcase_create("vectors");
	TCase *tamper = tcase_create("tampering");
	TCase *keys = tcase_create("keys");
	TCase *claims = tcase_create("claims");

	tcase_add_loop_test(vectors, test_v4_vector, 0, (int)json_array_size(v4_tests));
	tcase_add_loop_test(vectors, test_paserk_vector, 0, (int)paserk_vector_count);
	tcase_add_test(vectors, test_pae_matches_spec_examples);
	suite_add_tcase(s, vectors);

	/* Thousands of verifications under the sanitizers. */
	tcase_set_timeout(tamper, 120);
	tcase_add_test(tamper, test_public_token_text_bit_flip_anywhere_fails);
	tcase_add_test(tamper, test_public_token_raw_bit_flip_anywhere_fails);
	tcase_add_test(tamper, test_local_token_raw_bit_flip_anywhere_fails);
	tcase_add_test(tamper, test_wrong_purpose_rejected);
	tcase_add_test(tamper, test_footer_mismatch_rejected);
	tcase_add_test(tamper, test_malformed_tokens_rejected);
	tcase_add_test(tamper, test_implicit_assertion_mismatch_rejected);
	suite_add_tcase(s, tamper);

	tcase_add_test(keys, test_local_round_trip_uses_fresh_nonces);
	tcase_add_test(keys, test_public_wrong_key_rejected);
	tcase_add_test(keys, test_inconsistent_secret_key_refused);
	tcase_add_test(keys, test_paserk_decoding_is_strict);
	suite_add_tcase(s, keys);

	tcase_add_test(claims, test_claims_round_trip_with_kid_lookup);
	tcase_add_test(claims, test_claims_unknown_kid_rejected);
	tcase_add_test(claims, test_claims_kid_of_another_key_rejected);
	tcase_add_test(claims, test_claims_footer_is_not_trusted);
	tcase_add_test(claims, test_claims_footer_extra_members_ignored);
	tcase_add_test(claims, test_claims_lookup_failures);
	tcase_add_test(claims, test_sign_claims_refuses_bad_input);
	suite_add_tcase(s, claims);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	if (sodium_init() < 0) {
		fprintf(stderr, "sodium_init failed\n");
		return EXIT_FAILURE;
	}
	if (!load_vectors()) {
		release_vectors();
		return EXIT_FAILURE;
	}
	printf("paseto: %zu v4 vectors, %zu PASERK k4 vectors\n", json_array_size(v4_tests),
	       paserk_vector_count);
	sr = srunner_create(paseto_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	release_vectors();
	return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
