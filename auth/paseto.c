#include "auth/paseto.h"

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "auth/paserk.h"
#include "auth/paseto_int.h"

#define B64_VARIANT sodium_base64_VARIANT_URLSAFE_NO_PADDING

#define PUBLIC_HEADER "v4.public."
#define LOCAL_HEADER "v4.local."
#define HEADER_LEN(h) (sizeof(h) - 1)

#define SIG_BYTES crypto_sign_BYTES
#define TAG_BYTES 32
#define NONCE_BYTES PASETO_V4_LOCAL_NONCEBYTES
#define EK_BYTES crypto_stream_xchacha20_KEYBYTES
#define N2_BYTES crypto_stream_xchacha20_NONCEBYTES
#define AK_BYTES 32

/* Domain separators of the v4.local key derivation. */
#define ENC_KEY_INFO "paseto-encryption-key"
#define AUTH_KEY_INFO "paseto-auth-key-for-aead"

_Static_assert(PASETO_V4_SECRET_KEYBYTES == crypto_sign_SECRETKEYBYTES, "secret key size");
_Static_assert(PASETO_V4_PUBLIC_KEYBYTES == crypto_sign_PUBLICKEYBYTES, "public key size");
_Static_assert(PASETO_V4_LOCAL_KEYBYTES == crypto_generichash_KEYBYTES, "local key size");
_Static_assert(EK_BYTES + N2_BYTES == 56, "v4.local derives Ek || n2 as 56 bytes");

/* The base64 text parts of a token, pointing into the caller's string. */
struct token_parts {
	const char *body;
	size_t body_len;
	const char *footer; /* NULL when the token has no footer */
	size_t footer_len;
};

/* A parsed token: decoded body and footer, both malloc'd. */
struct decoded_token {
	unsigned char *body;
	size_t body_len;
	unsigned char *footer; /* NULL when the token has no footer */
	size_t footer_len;
};

static bool add_size(size_t *acc, size_t n)
{
	if (*acc > SIZE_MAX - n)
		return false;
	*acc += n;
	return true;
}

/* Length of the unpadded base64url text of `n` bytes, if representable. */
static bool b64_len_of(size_t n, size_t *out)
{
	if (n / 3 > (SIZE_MAX - 4) / 4)
		return false;
	*out = n / 3 * 4 + (n % 3 != 0 ? n % 3 + 1 : 0);
	return true;
}

bool paseto_b64url_decode(unsigned char *bin, size_t bin_maxlen, size_t *bin_len, const char *b64,
                          size_t b64_len)
{
	unsigned int high_bits = 0;

	*bin_len = 0;
	/* libsodium 1.0.18 classifies characters with arithmetic that assumes
	 * 0..255, but reads them as (signed) char: every byte from 0x80 up
	 * then decodes as some valid character, so "A" and "\xc1" would be
	 * the same token.  Those bytes are refused here, without branching on
	 * them; every other stray character libsodium refuses itself, as it
	 * does non-zero trailing bits, when given no end pointer. */
	for (size_t i = 0; i < b64_len; i++)
		high_bits |= (unsigned char)b64[i];
	if ((high_bits & 0x80) != 0)
		return false;
	if (sodium_base642bin(bin, bin_maxlen, b64, b64_len, NULL, bin_len, NULL, B64_VARIANT) != 0) {
		*bin_len = 0;
		return false;
	}
	return true;
}

/* Decodes canonical unpadded base64url into a malloc'd buffer. */
static enum err b64_decode(unsigned char **out, size_t *out_len, const char *b64, size_t b64_len)
{
	size_t max = b64_len / 4 * 3 + 2;
	unsigned char *bin = malloc(max);

	*out = NULL;
	*out_len = 0;
	if (bin == NULL)
		return ERR_NOMEM;
	if (!paseto_b64url_decode(bin, max, out_len, b64, b64_len)) {
		free(bin);
		return ERR_INVALID_TOKEN;
	}
	*out = bin;
	return ERR_OK;
}

static void decoded_token_release(struct decoded_token *t)
{
	free(t->body);
	free(t->footer);
	memset(t, 0, sizeof *t);
}

/*
 * Splits `token` into its base64 parts after checking the header.  The body
 * must be non-empty; a "." must be followed by a non-empty footer; further
 * dots are left for the base64 decoder to refuse.
 */
static enum err split_token(struct token_parts *parts, const char *token, size_t token_len,
                            const char *header, size_t header_len)
{
	const char *rest, *dot;
	size_t rest_len;

	memset(parts, 0, sizeof *parts);
	if (token == NULL || token_len <= header_len || memcmp(token, header, header_len) != 0)
		return ERR_INVALID_TOKEN;
	rest = token + header_len;
	rest_len = token_len - header_len;
	dot = memchr(rest, '.', rest_len);
	if (dot == NULL) {
		parts->body = rest;
		parts->body_len = rest_len;
		return ERR_OK;
	}
	parts->body = rest;
	parts->body_len = (size_t)(dot - rest);
	parts->footer = dot + 1;
	parts->footer_len = rest_len - parts->body_len - 1;
	if (parts->body_len == 0 || parts->footer_len == 0)
		return ERR_INVALID_TOKEN;
	return ERR_OK;
}

/*
 * Parses a token of the given header, decoding body and footer.  The body
 * must decode to at least `min_body` bytes; the base64 length is checked
 * against that bound before anything is allocated.
 */
static enum err decode_token(struct decoded_token *t, const char *token, size_t token_len,
                             const char *header, size_t header_len, size_t min_body)
{
	struct token_parts parts;
	size_t min_b64;
	enum err rc;

	memset(t, 0, sizeof *t);
	rc = split_token(&parts, token, token_len, header, header_len);
	if (rc != ERR_OK)
		return rc;
	if (!b64_len_of(min_body, &min_b64) || parts.body_len < min_b64)
		return ERR_INVALID_TOKEN;
	rc = b64_decode(&t->body, &t->body_len, parts.body, parts.body_len);
	if (rc != ERR_OK)
		goto out;
	if (t->body_len < min_body) {
		rc = ERR_INVALID_TOKEN;
		goto out;
	}
	if (parts.footer != NULL)
		rc = b64_decode(&t->footer, &t->footer_len, parts.footer, parts.footer_len);

out:
	if (rc != ERR_OK)
		decoded_token_release(t);
	return rc;
}

/* Whether the token's footer is what the caller expects (NULL: anything). */
static bool footer_matches(const struct decoded_token *t, const unsigned char *expected,
                           size_t expected_len)
{
	if (expected == NULL)
		return true;
	if (t->footer_len != expected_len)
		return false;
	return expected_len == 0 || sodium_memcmp(t->footer, expected, expected_len) == 0;
}

/* Builds header || b64(body) [ || "." || b64(footer) ] as a malloc'd string. */
static enum err assemble_token(char **token_out, const char *header, size_t header_len,
                               const unsigned char *body, size_t body_len,
                               const unsigned char *footer, size_t footer_len)
{
	size_t body_b64, footer_b64 = 0, total = header_len, pos;
	char *token;

	*token_out = NULL;
	if (!b64_len_of(body_len, &body_b64) || !add_size(&total, body_b64) || !add_size(&total, 1))
		return ERR_NOMEM;
	if (footer_len > 0 && (!b64_len_of(footer_len, &footer_b64) ||
	                       !add_size(&total, footer_b64) || !add_size(&total, 1)))
		return ERR_NOMEM;
	token = malloc(total);
	if (token == NULL)
		return ERR_NOMEM;
	memcpy(token, header, header_len);
	sodium_bin2base64(token + header_len, total - header_len, body, body_len, B64_VARIANT);
	pos = header_len + body_b64;
	if (footer_len > 0) {
		token[pos] = '.';
		sodium_bin2base64(token + pos + 1, total - pos - 1, footer, footer_len, B64_VARIANT);
	}
	*token_out = token;
	return ERR_OK;
}

static void le64(unsigned char out[8], size_t n)
{
	uint64_t v = (uint64_t)n & UINT64_C(0x7fffffffffffffff);

	for (int i = 0; i < 8; i++) {
		out[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
}

enum err paseto_pae(unsigned char **out, size_t *out_len, const struct paseto_piece *pieces,
                    size_t count)
{
	size_t total = 8, pos;
	unsigned char *buf;

	*out = NULL;
	*out_len = 0;
	for (size_t i = 0; i < count; i++) {
		assert(pieces[i].data != NULL || pieces[i].len == 0);
		if (!add_size(&total, 8) || !add_size(&total, pieces[i].len))
			return ERR_NOMEM;
	}
	buf = malloc(total);
	if (buf == NULL)
		return ERR_NOMEM;
	le64(buf, count);
	pos = 8;
	for (size_t i = 0; i < count; i++) {
		le64(buf + pos, pieces[i].len);
		pos += 8;
		if (pieces[i].len > 0)
			memcpy(buf + pos, pieces[i].data, pieces[i].len);
		pos += pieces[i].len;
	}
	*out = buf;
	*out_len = total;
	return ERR_OK;
}

/* Returns a malloc'd copy of `len` bytes with a NUL after them. */
static enum err copy_payload(unsigned char **out, size_t *out_len, const unsigned char *src,
                             size_t len)
{
	unsigned char *p;

	if (len == SIZE_MAX)
		return ERR_NOMEM;
	p = malloc(len + 1);
	if (p == NULL)
		return ERR_NOMEM;
	if (len > 0)
		memcpy(p, src, len);
	p[len] = '\0';
	*out = p;
	*out_len = len;
	return ERR_OK;
}

bool paseto_secret_key_is_consistent(const unsigned char sk[PASETO_V4_SECRET_KEYBYTES])
{
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	unsigned char sk2[crypto_sign_SECRETKEYBYTES];
	bool ok;

	ok = crypto_sign_seed_keypair(pk, sk2, sk) == 0 &&
	     sodium_memcmp(pk, sk + crypto_sign_SEEDBYTES, sizeof pk) == 0;
	sodium_memzero(sk2, sizeof sk2);
	return ok;
}

/* m2 = PAE("v4.public.", m, f, i), the message Ed25519 signs. */
static enum err public_pae(unsigned char **m2, size_t *m2_len, const unsigned char *m,
                           size_t m_len, const unsigned char *footer, size_t footer_len,
                           const unsigned char *implicit, size_t implicit_len)
{
	static const unsigned char header[] = PUBLIC_HEADER;
	const struct paseto_piece pieces[] = {
		{header, HEADER_LEN(PUBLIC_HEADER)},
		{m, m_len},
		{footer, footer_len},
		{implicit, implicit_len},
	};

	return paseto_pae(m2, m2_len, pieces, sizeof pieces / sizeof pieces[0]);
}

enum err paseto_v4_public_sign(char **token_out,
                               const unsigned char secret_key[PASETO_V4_SECRET_KEYBYTES],
                               const unsigned char *payload, size_t payload_len,
                               const unsigned char *footer, size_t footer_len,
                               const unsigned char *implicit, size_t implicit_len)
{
	unsigned char *m2 = NULL, *body = NULL;
	size_t m2_len, body_len = payload_len;
	enum err rc;

	*token_out = NULL;
	assert(payload != NULL || payload_len == 0);
	assert(footer != NULL || footer_len == 0);
	assert(implicit != NULL || implicit_len == 0);

	if (!paseto_secret_key_is_consistent(secret_key))
		return ERR_CRYPTO;
	rc = public_pae(&m2, &m2_len, payload, payload_len, footer, footer_len, implicit,
	                implicit_len);
	if (rc != ERR_OK)
		goto out;
	if (!add_size(&body_len, SIG_BYTES)) {
		rc = ERR_NOMEM;
		goto out;
	}
	body = malloc(body_len);
	if (body == NULL) {
		rc = ERR_NOMEM;
		goto out;
	}
	if (payload_len > 0)
		memcpy(body, payload, payload_len);
	if (crypto_sign_detached(body + payload_len, NULL, m2, m2_len, secret_key) != 0) {
		rc = ERR_CRYPTO;
		goto out;
	}
	rc = assemble_token(token_out, PUBLIC_HEADER, HEADER_LEN(PUBLIC_HEADER), body, body_len,
	                    footer, footer_len);

out:
	free(m2);
	free(body);
	return rc;
}

enum err paseto_v4_public_verify(unsigned char **payload_out, size_t *payload_len_out,
                                 const char *token, size_t token_len,
                                 const unsigned char public_key[PASETO_V4_PUBLIC_KEYBYTES],
                                 const unsigned char *expected_footer, size_t expected_footer_len,
                                 const unsigned char *implicit, size_t implicit_len)
{
	struct decoded_token t = {0};
	unsigned char *m2 = NULL;
	size_t m2_len, m_len;
	enum err rc;

	*payload_out = NULL;
	*payload_len_out = 0;
	assert(expected_footer != NULL || expected_footer_len == 0);
	assert(implicit != NULL || implicit_len == 0);

	rc = decode_token(&t, token, token_len, PUBLIC_HEADER, HEADER_LEN(PUBLIC_HEADER), SIG_BYTES);
	if (rc != ERR_OK)
		goto out;
	if (!footer_matches(&t, expected_footer, expected_footer_len)) {
		rc = ERR_INVALID_TOKEN;
		goto out;
	}
	m_len = t.body_len - SIG_BYTES;
	rc = public_pae(&m2, &m2_len, t.body, m_len, t.footer, t.footer_len, implicit, implicit_len);
	if (rc != ERR_OK)
		goto out;
	if (crypto_sign_verify_detached(t.body + m_len, m2, m2_len, public_key) != 0) {
		rc = ERR_INVALID_TOKEN;
		goto out;
	}
	rc = copy_payload(payload_out, payload_len_out, t.body, m_len);

out:
	free(m2);
	decoded_token_release(&t);
	return rc;
}

/*
 * Derives the v4.local keys from the key and the nonce:
 * Ek || n2 = BLAKE2b-448(key=k, "paseto-encryption-key" || n) and
 * Ak = BLAKE2b-256(key=k, "paseto-auth-key-for-aead" || n).
 */
static enum err derive_local_keys(unsigned char ek_n2[EK_BYTES + N2_BYTES],
                                  unsigned char ak[AK_BYTES],
                                  const unsigned char key[PASETO_V4_LOCAL_KEYBYTES],
                                  const unsigned char nonce[NONCE_BYTES])
{
	unsigned char msg[HEADER_LEN(AUTH_KEY_INFO) + NONCE_BYTES];
	size_t info_len;

	_Static_assert(HEADER_LEN(AUTH_KEY_INFO) >= HEADER_LEN(ENC_KEY_INFO), "msg fits both");

	info_len = HEADER_LEN(ENC_KEY_INFO);
	memcpy(msg, ENC_KEY_INFO, info_len);
	memcpy(msg + info_len, nonce, NONCE_BYTES);
	if (crypto_generichash(ek_n2, EK_BYTES + N2_BYTES, msg, info_len + NONCE_BYTES, key,
	                       PASETO_V4_LOCAL_KEYBYTES) != 0)
		goto fail;
	info_len = HEADER_LEN(AUTH_KEY_INFO);
	memcpy(msg, AUTH_KEY_INFO, info_len);
	memcpy(msg + info_len, nonce, NONCE_BYTES);
	if (crypto_generichash(ak, AK_BYTES, msg, info_len + NONCE_BYTES, key,
	                       PASETO_V4_LOCAL_KEYBYTES) != 0)
		goto fail;
	return ERR_OK;

fail:
	sodium_memzero(ek_n2, EK_BYTES + N2_BYTES);
	sodium_memzero(ak, AK_BYTES);
	return ERR_CRYPTO;
}

/* tag = BLAKE2b-256(key=Ak, PAE(h, n, c, f, i)) */
static enum err local_tag(unsigned char tag[TAG_BYTES], const unsigned char ak[AK_BYTES],
                          const unsigned char *nonce, const unsigned char *c, size_t c_len,
                          const unsigned char *footer, size_t footer_len,
                          const unsigned char *implicit, size_t implicit_len)
{
	static const unsigned char header[] = LOCAL_HEADER;
	const struct paseto_piece pieces[] = {
		{header, HEADER_LEN(LOCAL_HEADER)},
		{nonce, NONCE_BYTES},
		{c, c_len},
		{footer, footer_len},
		{implicit, implicit_len},
	};
	unsigned char *pre_auth = NULL;
	size_t pre_auth_len;
	enum err rc;

	rc = paseto_pae(&pre_auth, &pre_auth_len, pieces, sizeof pieces / sizeof pieces[0]);
	if (rc != ERR_OK)
		return rc;
	if (crypto_generichash(tag, TAG_BYTES, pre_auth, pre_auth_len, ak, AK_BYTES) != 0)
		rc = ERR_CRYPTO;
	free(pre_auth);
	return rc;
}

enum err paseto_v4_local_encrypt_with_nonce(char **token_out,
                                            const unsigned char key[PASETO_V4_LOCAL_KEYBYTES],
                                            const unsigned char nonce[PASETO_V4_LOCAL_NONCEBYTES],
                                            const unsigned char *payload, size_t payload_len,
                                            const unsigned char *footer, size_t footer_len,
                                            const unsigned char *implicit, size_t implicit_len)
{
	unsigned char ek_n2[EK_BYTES + N2_BYTES], ak[AK_BYTES];
	unsigned char *body = NULL, *c;
	size_t body_len = NONCE_BYTES;
	enum err rc;

	*token_out = NULL;
	assert(payload != NULL || payload_len == 0);
	assert(footer != NULL || footer_len == 0);
	assert(implicit != NULL || implicit_len == 0);

	if (!add_size(&body_len, payload_len) || !add_size(&body_len, TAG_BYTES))
		return ERR_NOMEM;
	rc = derive_local_keys(ek_n2, ak, key, nonce);
	if (rc != ERR_OK)
		return rc;
	body = malloc(body_len);
	if (body == NULL) {
		rc = ERR_NOMEM;
		goto out;
	}
	memcpy(body, nonce, NONCE_BYTES);
	c = body + NONCE_BYTES;
	if (payload_len > 0 &&
	    crypto_stream_xchacha20_xor(c, payload, payload_len, ek_n2 + EK_BYTES, ek_n2) != 0) {
		rc = ERR_CRYPTO;
		goto out;
	}
	rc = local_tag(c + payload_len, ak, body, c, payload_len, footer, footer_len, implicit,
	               implicit_len);
	if (rc != ERR_OK)
		goto out;
	rc = assemble_token(token_out, LOCAL_HEADER, HEADER_LEN(LOCAL_HEADER), body, body_len, footer,
	                    footer_len);

out:
	sodium_memzero(ek_n2, sizeof ek_n2);
	sodium_memzero(ak, sizeof ak);
	free(body);
	return rc;
}

enum err paseto_v4_local_encrypt(char **token_out,
                                 const unsigned char key[PASETO_V4_LOCAL_KEYBYTES],
                                 const unsigned char *payload, size_t payload_len,
                                 const unsigned char *footer, size_t footer_len,
                                 const unsigned char *implicit, size_t implicit_len)
{
	unsigned char nonce[NONCE_BYTES];

	randombytes_buf(nonce, sizeof nonce);
	return paseto_v4_local_encrypt_with_nonce(token_out, key, nonce, payload, payload_len, footer,
	                                          footer_len, implicit, implicit_len);
}

enum err paseto_v4_local_decrypt(unsigned char **payload_out, size_t *payload_len_out,
                                 const char *token, size_t token_len,
                                 const unsigned char key[PASETO_V4_LOCAL_KEYBYTES],
                                 const unsigned char *expected_footer, size_t expected_footer_len,
                                 const unsigned char *implicit, size_t implicit_len)
{
	struct decoded_token t = {0};
	unsigned char ek_n2[EK_BYTES + N2_BYTES], ak[AK_BYTES], tag[TAG_BYTES];
	unsigned char *plain = NULL;
	const unsigned char *c;
	size_t c_len;
	enum err rc;

	*payload_out = NULL;
	*payload_len_out = 0;
	assert(expected_footer != NULL || expected_footer_len == 0);
	assert(implicit != NULL || implicit_len == 0);

	rc = decode_token(&t, token, token_len, LOCAL_HEADER, HEADER_LEN(LOCAL_HEADER),
	                  NONCE_BYTES + TAG_BYTES);
	if (rc != ERR_OK)
		goto out;
	if (!footer_matches(&t, expected_footer, expected_footer_len)) {
		rc = ERR_INVALID_TOKEN;
		goto out;
	}
	c = t.body + NONCE_BYTES;
	c_len = t.body_len - NONCE_BYTES - TAG_BYTES;
	rc = derive_local_keys(ek_n2, ak, key, t.body);
	if (rc != ERR_OK)
		goto out;
	rc = local_tag(tag, ak, t.body, c, c_len, t.footer, t.footer_len, implicit, implicit_len);
	if (rc != ERR_OK)
		goto out;
	if (sodium_memcmp(tag, c + c_len, TAG_BYTES) != 0) {
		rc = ERR_INVALID_TOKEN;
		goto out;
	}
	if (c_len == SIZE_MAX || (plain = malloc(c_len + 1)) == NULL) {
		rc = ERR_NOMEM;
		goto out;
	}
	if (c_len > 0 && crypto_stream_xchacha20_xor(plain, c, c_len, ek_n2 + EK_BYTES, ek_n2) != 0) {
		sodium_memzero(plain, c_len);
		free(plain);
		rc = ERR_CRYPTO;
		goto out;
	}
	plain[c_len] = '\0';
	*payload_out = plain;
	*payload_len_out = c_len;

out:
	sodium_memzero(ek_n2, sizeof ek_n2);
	sodium_memzero(ak, sizeof ak);
	decoded_token_release(&t);
	return rc;
}

/*
 * Reads the kid of a footer: a JSON object, no longer than
 * PASETO_FOOTER_JSON_MAX, without duplicate keys, whose "kid" is a string
 * of k4.pid shape.  The length cap comes before the parser sees a byte.
 */
static enum err kid_from_footer_json(char *kid_out, size_t kid_size, const unsigned char *footer,
                                     size_t footer_len)
{
	json_t *root = NULL, *kid;
	json_error_t jerr;
	const char *s;
	size_t n;
	enum err rc = ERR_INVALID_TOKEN;

	if (kid_size < PASERK_K4_PID_SIZE) {
		rc = ERR_INTERNAL;
		goto out;
	}
	if (footer == NULL || footer_len == 0 || footer_len > PASETO_FOOTER_JSON_MAX)
		goto out;
	root = json_loadb((const char *)footer, footer_len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL || !json_is_object(root))
		goto out;
	kid = json_object_get(root, "kid");
	if (!json_is_string(kid))
		goto out;
	s = json_string_value(kid);
	n = json_string_length(kid);
	if (!paserk_is_k4_pid(s, n))
		goto out;
	memcpy(kid_out, s, n);
	kid_out[n] = '\0';
	rc = ERR_OK;

out:
	if (rc != ERR_OK && kid_out != NULL && kid_size > 0)
		kid_out[0] = '\0';
	json_decref(root);
	return rc;
}

enum err paseto_footer_kid(char *kid_out, size_t kid_size, const char *token, size_t token_len)
{
	struct token_parts parts;
	unsigned char *footer = NULL;
	size_t footer_len = 0, max_b64;
	enum err rc;

	if (kid_out != NULL && kid_size > 0)
		kid_out[0] = '\0';
	if (kid_out == NULL || kid_size < PASERK_K4_PID_SIZE)
		return ERR_INTERNAL;
	rc = split_token(&parts, token, token_len, PUBLIC_HEADER, HEADER_LEN(PUBLIC_HEADER));
	if (rc != ERR_OK)
		return rc;
	/* Refuse an oversized footer before decoding it. */
	if (!b64_len_of(PASETO_FOOTER_JSON_MAX, &max_b64) || parts.footer == NULL ||
	    parts.footer_len > max_b64)
		return ERR_INVALID_TOKEN;
	rc = b64_decode(&footer, &footer_len, parts.footer, parts.footer_len);
	if (rc != ERR_OK)
		return rc;
	rc = kid_from_footer_json(kid_out, kid_size, footer, footer_len);
	free(footer);
	return rc;
}

/* Whether `json` is a JSON object (and nothing after it). */
static bool is_json_object(const char *json)
{
	json_error_t jerr;
	json_t *root = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
	bool ok = json_is_object(root);

	json_decref(root);
	return ok;
}

enum err paseto_sign_claims(char **token_out,
                            const unsigned char secret_key[PASETO_V4_SECRET_KEYBYTES],
                            const char *claims_json, const char *footer_json)
{
	char footer_kid[PASERK_K4_PID_SIZE], key_kid[PASERK_K4_PID_SIZE];
	size_t footer_len;
	enum err rc;

	*token_out = NULL;
	assert(claims_json != NULL && footer_json != NULL);

	if (!is_json_object(claims_json))
		return ERR_INTERNAL;
	footer_len = strlen(footer_json);
	rc = kid_from_footer_json(footer_kid, sizeof footer_kid, (const unsigned char *)footer_json,
	                          footer_len);
	if (rc != ERR_OK)
		return ERR_INTERNAL;
	rc = paserk_k4_pid(key_kid, sizeof key_kid, secret_key + crypto_sign_SEEDBYTES,
	                   PASETO_V4_PUBLIC_KEYBYTES);
	if (rc != ERR_OK)
		return rc;
	/* A token whose kid names another key could never be verified. */
	if (strcmp(footer_kid, key_kid) != 0)
		return ERR_CRYPTO;
	return paseto_v4_public_sign(token_out, secret_key, (const unsigned char *)claims_json,
	                             strlen(claims_json), (const unsigned char *)footer_json,
	                             footer_len, NULL, 0);
}

enum err paseto_verify_claims(unsigned char **claims_out, size_t *claims_len_out,
                              const char *token, size_t token_len, paseto_key_lookup_fn lookup,
                              void *lookup_ctx)
{
	char kid[PASERK_K4_PID_SIZE], key_kid[PASERK_K4_PID_SIZE];
	unsigned char public_key[PASETO_V4_PUBLIC_KEYBYTES];
	enum err rc;

	*claims_out = NULL;
	*claims_len_out = 0;
	assert(lookup != NULL);

	rc = paseto_footer_kid(kid, sizeof kid, token, token_len);
	if (rc != ERR_OK)
		return rc;
	rc = lookup(lookup_ctx, kid, public_key);
	if (rc == ERR_NOT_FOUND)
		return ERR_INVALID_TOKEN;
	if (rc != ERR_OK)
		return rc;
	/* The kid only chose the key; make sure the keyring gave the key it names. */
	rc = paserk_k4_pid(key_kid, sizeof key_kid, public_key, sizeof public_key);
	if (rc != ERR_OK)
		return rc;
	if (strcmp(kid, key_kid) != 0)
		return ERR_CRYPTO;
	return paseto_v4_public_verify(claims_out, claims_len_out, token, token_len, public_key, NULL,
	                               0, NULL, 0);
}
