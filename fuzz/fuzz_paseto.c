/*
 * fuzz_paseto.c - PASETO v4 token parsing and verification (auth/paseto.c)
 * and the PASERK k4 decoders (auth/paserk.c).
 *
 * Keys are fixed: the v4.local key and the Ed25519 key pair of the official
 * PASETO v4 test vectors, so that the official tokens in the seed corpus
 * verify and the fuzzer starts from the success paths too.
 *
 * Two modes, chosen by the first byte:
 *
 *  - Anything but 0x01: the whole input is a token or key string as it
 *    arrives from outside (not NUL-terminated).  It goes through
 *    paseto_v4_public_verify and paseto_v4_local_decrypt (no implicit
 *    assertion, any footer), paseto_footer_kid, paseto_verify_claims with a
 *    keyring holding the fixed public key, and every PASERK decoder.
 *    Properties: parsing is canonical, so a token that verifies is exactly
 *    the token re-signed (Ed25519 is deterministic) or re-encrypted under
 *    its own nonce from what it carried; a PASERK that decodes is exactly
 *    the re-encoding of the key; a kid returned is a k4.pid; on failure
 *    every output is empty.
 *
 *  - 0x01 then a byte p then m: m is split into payload, footer and
 *    implicit assertion, which are signed and encrypted with the fixed keys.
 *    Properties: each token verifies back to the payload; changing the
 *    token's byte at a position chosen by p makes it fail, and a wrong
 *    implicit assertion or expected footer makes it fail.
 */
#include <sodium.h>
#include <string.h>

#include "auth/paserk.h"
#include "auth/paseto.h"
#include "auth/paseto_int.h"
#include "fuzz/fuzz.h"

static unsigned char fps_local_key[PASETO_V4_LOCAL_KEYBYTES];
static unsigned char fps_public_key[PASETO_V4_PUBLIC_KEYBYTES];
static unsigned char fps_secret_key[PASETO_V4_SECRET_KEYBYTES];
static char fps_pid[PASERK_K4_PID_SIZE];
static unsigned char fps_sentinel; /* where outputs point before a call */

static void fps_init(void)
{
	static int done;
	static const char local_hex[] =
		"707172737475767778797a7b7c7d7e7f808182838485868788898a8b8c8d8e8f";
	static const char seed_hex[] =
		"b4cbfb43df4ce210727d953e4a713307fa19bb7d9f85041438d9e11b942a3774";
	unsigned char seed[crypto_sign_SEEDBYTES];
	if (done)
		return;
	FUZZ_ASSERT(sodium_init() >= 0, "sodium_init failed");
	FUZZ_ASSERT(sodium_hex2bin(fps_local_key, sizeof fps_local_key, local_hex,
				   sizeof local_hex - 1, NULL, NULL, NULL) == 0,
		    "bad local key");
	FUZZ_ASSERT(sodium_hex2bin(seed, sizeof seed, seed_hex, sizeof seed_hex - 1, NULL, NULL,
				   NULL) == 0,
		    "bad seed");
	FUZZ_ASSERT(crypto_sign_seed_keypair(fps_public_key, fps_secret_key, seed) == 0,
		    "keypair failed");
	FUZZ_ASSERT(paserk_k4_pid(fps_pid, sizeof fps_pid, fps_public_key,
				  sizeof fps_public_key) == ERR_OK,
		    "pid failed");
	done = 1;
}

static enum err fps_lookup(void *ctx, const char *kid,
			   unsigned char public_key_out[PASETO_V4_PUBLIC_KEYBYTES])
{
	(void)ctx;
	if (strcmp(kid, fps_pid) != 0)
		return ERR_NOT_FOUND;
	memcpy(public_key_out, fps_public_key, PASETO_V4_PUBLIC_KEYBYTES);
	return ERR_OK;
}

/* The footer of a token that verified: its base64 text decoded, or none. */
static unsigned char *fps_footer(const char *token, size_t len, size_t header_len,
				 size_t *footer_len)
{
	const char *dot = memchr(token + header_len, '.', len - header_len);
	*footer_len = 0;
	if (!dot)
		return NULL;
	size_t b64_len = len - (size_t)(dot + 1 - token);
	unsigned char *bin = malloc(b64_len);
	FUZZ_ASSERT(bin != NULL, "out of memory");
	FUZZ_ASSERT(paseto_b64url_decode(bin, b64_len, footer_len, dot + 1, b64_len),
		    "a verified token's footer does not decode");
	return bin;
}

/* Whether `token` is exactly the `len` bytes of `want`. */
static bool fps_same(const char *token, size_t len, const char *want)
{
	return want && strlen(want) == len && memcmp(want, token, len) == 0;
}

static void fps_raw_public(const char *tok, size_t len)
{
	unsigned char *payload = &fps_sentinel;
	size_t plen = 1, flen;
	enum err rc = paseto_v4_public_verify(&payload, &plen, tok, len, fps_public_key, NULL, 0,
					      NULL, 0);
	if (rc != ERR_OK) {
		FUZZ_ASSERT(rc == ERR_INVALID_TOKEN, "verify failed with an unexpected error");
		FUZZ_ASSERT(payload == NULL && plen == 0, "a failed verify returned a payload");
		return;
	}
	FUZZ_ASSERT(payload != NULL && payload[plen] == '\0', "payload is not NUL-terminated");
	unsigned char *footer = fps_footer(tok, len, 10, &flen);
	char *again = NULL;
	FUZZ_ASSERT(paseto_v4_public_sign(&again, fps_secret_key, payload, plen, footer, flen, NULL,
					  0) == ERR_OK,
		    "re-signing failed");
	FUZZ_ASSERT(fps_same(tok, len, again), "a verified token is not the canonical one");
	free(again);
	free(footer);
	free(payload);
}

static void fps_raw_local(const char *tok, size_t len)
{
	unsigned char *payload = &fps_sentinel;
	size_t plen = 1, flen;
	enum err rc = paseto_v4_local_decrypt(&payload, &plen, tok, len, fps_local_key, NULL, 0,
					      NULL, 0);
	if (rc != ERR_OK) {
		FUZZ_ASSERT(rc == ERR_INVALID_TOKEN, "decrypt failed with an unexpected error");
		FUZZ_ASSERT(payload == NULL && plen == 0, "a failed decrypt returned a payload");
		return;
	}
	FUZZ_ASSERT(payload != NULL && payload[plen] == '\0', "payload is not NUL-terminated");
	/* The nonce is the first 32 bytes of the body. */
	const char *dot = memchr(tok + 9, '.', len - 9);
	size_t body_b64 = dot ? (size_t)(dot - tok - 9) : len - 9;
	unsigned char *body = malloc(body_b64);
	size_t body_len;
	FUZZ_ASSERT(body != NULL, "out of memory");
	FUZZ_ASSERT(paseto_b64url_decode(body, body_b64, &body_len, tok + 9, body_b64) &&
			    body_len >= PASETO_V4_LOCAL_NONCEBYTES,
		    "a decrypted token's body does not decode");
	unsigned char *footer = fps_footer(tok, len, 9, &flen);
	char *again = NULL;
	FUZZ_ASSERT(paseto_v4_local_encrypt_with_nonce(&again, fps_local_key, body, payload, plen,
						       footer, flen, NULL, 0) == ERR_OK,
		    "re-encrypting failed");
	FUZZ_ASSERT(fps_same(tok, len, again), "a decrypted token is not the canonical one");
	free(again);
	free(footer);
	free(body);
	sodium_memzero(payload, plen);
	free(payload);
}

static void fps_raw_kid(const char *tok, size_t len)
{
	char kid[PASERK_K4_PID_SIZE];
	unsigned char *claims = &fps_sentinel;
	size_t clen = 1;
	enum err rc = paseto_footer_kid(kid, sizeof kid, tok, len);
	if (rc == ERR_OK)
		FUZZ_ASSERT(paserk_is_k4_pid(kid, strlen(kid)), "the kid is not a k4.pid");
	else
		FUZZ_ASSERT(kid[0] == '\0', "a failed kid read left a kid");
	rc = paseto_verify_claims(&claims, &clen, tok, len, fps_lookup, NULL);
	if (rc == ERR_OK) {
		FUZZ_ASSERT(claims != NULL && claims[clen] == '\0', "claims not NUL-terminated");
		free(claims);
	} else {
		FUZZ_ASSERT(claims == NULL && clen == 0, "failed claims verify returned claims");
	}
}

/* A PASERK that decodes must be the canonical text of what it decoded to. */
static void fps_raw_paserk(const char *s, size_t len)
{
	unsigned char key[PASERK_K4_SECRET_KEYBYTES];
	char text[PASERK_K4_SECRET_SIZE];
	if (paserk_k4_local_decode(key, s, len) == ERR_OK) {
		FUZZ_ASSERT(paserk_k4_local_encode(text, sizeof text, key, 32) == ERR_OK &&
				    fps_same(s, len, text),
			    "k4.local is not canonical");
	}
	if (paserk_k4_public_decode(key, s, len) == ERR_OK) {
		FUZZ_ASSERT(paserk_k4_public_encode(text, sizeof text, key, 32) == ERR_OK &&
				    fps_same(s, len, text),
			    "k4.public is not canonical");
	}
	if (paserk_k4_secret_decode(key, s, len) == ERR_OK) {
		FUZZ_ASSERT(paserk_k4_secret_encode(text, sizeof text, key, 64) == ERR_OK &&
				    fps_same(s, len, text),
			    "k4.secret is not canonical");
	}
	if (paserk_is_k4_pid(s, len))
		FUZZ_ASSERT(len == PASERK_K4_PID_SIZE - 1 && memcmp(s, "k4.pid.", 7) == 0,
			    "a k4.pid of the wrong shape");
	sodium_memzero(key, sizeof key);
	sodium_memzero(text, sizeof text);
}

/* Sign and encrypt m; check the round trips and that one changed byte fails. */
static void fps_roundtrip(uint8_t p, const uint8_t *m, size_t mlen)
{
	size_t third = mlen / 3;
	const unsigned char *payload = m, *footer = m + third, *implicit = m + 2 * third;
	size_t plen = third, flen = third, ilen = mlen - 2 * third;
	unsigned char nonce[PASETO_V4_LOCAL_NONCEBYTES];
	char *tok = NULL;
	unsigned char *out = NULL;
	size_t olen = 0;

	/* v4.public */
	FUZZ_ASSERT(paseto_v4_public_sign(&tok, fps_secret_key, payload, plen, footer, flen,
					  implicit, ilen) == ERR_OK,
		    "sign failed");
	size_t tlen = strlen(tok);
	FUZZ_ASSERT(paseto_v4_public_verify(&out, &olen, tok, tlen, fps_public_key, footer, flen,
					    implicit, ilen) == ERR_OK &&
			    olen == plen && (plen == 0 || memcmp(out, payload, plen) == 0),
		    "a signed token does not verify to its payload");
	free(out);
	FUZZ_ASSERT(paseto_v4_public_verify(&out, &olen, tok, tlen, fps_public_key, footer, flen,
					    (const unsigned char *)"x", 1) != ERR_OK ||
			    (ilen == 1 && implicit[0] == 'x'),
		    "a signed token verified with another implicit assertion");
	free(out);
	out = NULL;
	size_t at = (size_t)p * tlen / 256;
	tok[at] = (char)(tok[at] ^ (1 + (p & 0x3f)));
	FUZZ_ASSERT(paseto_v4_public_verify(&out, &olen, tok, tlen, fps_public_key, NULL, 0,
					    implicit, ilen) == ERR_INVALID_TOKEN &&
			    out == NULL,
		    "a changed v4.public token verified");
	free(tok);
	tok = NULL;

	/* v4.local, under a nonce taken from the input for repeatability. */
	crypto_generichash(nonce, sizeof nonce, m, mlen, NULL, 0);
	FUZZ_ASSERT(paseto_v4_local_encrypt_with_nonce(&tok, fps_local_key, nonce, payload, plen,
						       footer, flen, implicit, ilen) == ERR_OK,
		    "encrypt failed");
	tlen = strlen(tok);
	FUZZ_ASSERT(paseto_v4_local_decrypt(&out, &olen, tok, tlen, fps_local_key, footer, flen,
					    implicit, ilen) == ERR_OK &&
			    olen == plen && (plen == 0 || memcmp(out, payload, plen) == 0),
		    "an encrypted token does not decrypt to its payload");
	free(out);
	out = NULL;
	FUZZ_ASSERT(paseto_v4_local_decrypt(&out, &olen, tok, tlen, fps_local_key,
					    (const unsigned char *)"", 0, implicit,
					    ilen) != ERR_OK ||
			    flen == 0,
		    "a footer mismatch was not refused");
	free(out);
	out = NULL;
	at = (size_t)p * tlen / 256;
	tok[at] = (char)(tok[at] ^ (1 + (p & 0x3f)));
	FUZZ_ASSERT(paseto_v4_local_decrypt(&out, &olen, tok, tlen, fps_local_key, NULL, 0,
					    implicit, ilen) == ERR_INVALID_TOKEN &&
			    out == NULL,
		    "a changed v4.local token decrypted");
	free(tok);
}

int fuzz_paseto(const uint8_t *data, size_t size)
{
	fps_init();
	if (size >= 2 && data[0] == 0x01) {
		fps_roundtrip(data[1], data + 2, size - 2);
		return 0;
	}
	const char *tok = (const char *)data;
	fps_raw_public(tok, size);
	fps_raw_local(tok, size);
	fps_raw_kid(tok, size);
	fps_raw_paserk(tok, size);
	return 0;
}

#ifndef FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_paseto(data, size); }
#endif
