/*
 * paseto.h - PASETO version 4 tokens, and Hearth's signed access tokens.
 *
 * PASETO v4 has two purposes.  v4.public signs a payload with Ed25519 and
 * leaves it readable; v4.local encrypts it with XChaCha20 and authenticates
 * it with a keyed BLAKE2b.  A token reads
 *
 *   "v4.public." b64(payload || signature)        [ "." b64(footer) ]
 *   "v4.local."  b64(nonce || ciphertext || tag)  [ "." b64(footer) ]
 *
 * with b64 the base64url alphabet without padding.  The footer travels in
 * clear; the implicit assertion never travels.  Both are bound to the token
 * through PAE, the pre-authentication encoding that the signature or tag
 * covers, so a verifier must be given the same implicit assertion the
 * issuer used.
 *
 * On top of that, paseto_sign_claims() and paseto_verify_claims() are what
 * Hearth uses: a v4.public token whose footer is JSON {"kid":"k4.pid...."}
 * naming the signing key (see paserk.h), verified against a set of public
 * keys looked up by that kid.
 *
 * Invariants:
 *  - Parsing is exact.  The header must be "v4.public." or "v4.local." as
 *    the function expects; the body, and the footer when there is a ".",
 *    must be non-empty canonical unpadded base64url; nothing may follow; a
 *    body too short to hold its signature or nonce and tag is refused before
 *    any part of it is copied.  Any failure to parse, authenticate or match
 *    an expected footer is ERR_INVALID_TOKEN, and nothing more specific, so
 *    that a caller cannot tell an attacker which check failed.
 *  - No byte of a token's payload is returned before the token is verified.
 *    The only thing read from an unverified token is the footer's kid
 *    (paseto_footer_kid), and it is only ever used to pick a key.
 *  - Results are malloc'd and owned by the caller, who frees them with
 *    free().  A returned payload carries an extra NUL after its `len` bytes
 *    so that it can be handed to a JSON parser; it may still hold NULs of
 *    its own.  On failure every output pointer is NULL and every length 0.
 *  - Keys stay the caller's.  Derived keys and other intermediate secrets
 *    are wiped with sodium_memzero before returning.
 *  - A data pointer may be NULL only with a length of 0.
 *  - sodium_init() must have succeeded before any call.
 *
 * Errors beyond ERR_INVALID_TOKEN: ERR_NOMEM, and ERR_CRYPTO when the key
 * material is unusable (an Ed25519 secret key whose public half does not
 * belong to its seed) or libsodium fails.
 */
#ifndef HEARTH_AUTH_PASETO_H
#define HEARTH_AUTH_PASETO_H

#include <stddef.h>

#include "core/errors.h"

#define PASETO_V4_LOCAL_KEYBYTES 32
#define PASETO_V4_LOCAL_NONCEBYTES 32
#define PASETO_V4_PUBLIC_KEYBYTES 32 /* Ed25519 public key */
#define PASETO_V4_SECRET_KEYBYTES 64 /* Ed25519 secret key: seed || public key */

/* The longest decoded footer paseto_footer_kid() will parse as JSON. */
#define PASETO_FOOTER_JSON_MAX 512

/* One piece of a PAE input. */
struct paseto_piece {
	const unsigned char *data;
	size_t len;
};

/*
 * Computes PAE(pieces): LE64(count) then, for each piece, LE64(len) and its
 * bytes, where LE64 is little-endian with the top bit cleared.  Exposed for
 * tests and for anyone building another PASETO purpose.
 *   out, out_len  receive a malloc'd buffer and its length (caller frees)
 *   pieces, count the pieces; pieces may be NULL when count is 0
 * Returns ERR_OK or ERR_NOMEM.
 */
enum err paseto_pae(unsigned char **out, size_t *out_len, const struct paseto_piece *pieces,
                    size_t count);

/*
 * Signs a v4.public token.
 *   token_out            receives the NUL-terminated token (caller frees)
 *   secret_key           Ed25519 secret key, libsodium layout (seed || pk)
 *   payload, payload_len the message, any bytes (Hearth: JSON claims)
 *   footer, footer_len   the footer; empty means the token has none
 *   implicit, implicit_len  the implicit assertion; may be empty
 * Returns ERR_OK, ERR_CRYPTO (inconsistent key) or ERR_NOMEM.
 */
enum err paseto_v4_public_sign(char **token_out,
                               const unsigned char secret_key[PASETO_V4_SECRET_KEYBYTES],
                               const unsigned char *payload, size_t payload_len,
                               const unsigned char *footer, size_t footer_len,
                               const unsigned char *implicit, size_t implicit_len);

/*
 * Verifies a v4.public token and returns its payload.
 *   payload_out, payload_len_out  receive the malloc'd payload and its length
 *                        (caller frees)
 *   token, token_len     the token as received, not necessarily NUL-terminated
 *   public_key           the Ed25519 public key to verify with
 *   expected_footer, expected_footer_len  NULL to accept whatever footer the
 *                        signature covers; otherwise the token's footer must
 *                        be exactly these bytes (an empty one: no footer)
 *   implicit, implicit_len  the implicit assertion the issuer used
 * Returns ERR_OK, ERR_INVALID_TOKEN or ERR_NOMEM.
 */
enum err paseto_v4_public_verify(unsigned char **payload_out, size_t *payload_len_out,
                                 const char *token, size_t token_len,
                                 const unsigned char public_key[PASETO_V4_PUBLIC_KEYBYTES],
                                 const unsigned char *expected_footer, size_t expected_footer_len,
                                 const unsigned char *implicit, size_t implicit_len);

/*
 * Encrypts a v4.local token under a fresh random nonce.
 *   token_out            receives the NUL-terminated token (caller frees)
 *   key                  the 32-byte symmetric key
 *   payload, payload_len the plaintext
 *   footer, footer_len   the footer, sent in clear; empty means none
 *   implicit, implicit_len  the implicit assertion; may be empty
 * Returns ERR_OK, ERR_CRYPTO or ERR_NOMEM.
 */
enum err paseto_v4_local_encrypt(char **token_out,
                                 const unsigned char key[PASETO_V4_LOCAL_KEYBYTES],
                                 const unsigned char *payload, size_t payload_len,
                                 const unsigned char *footer, size_t footer_len,
                                 const unsigned char *implicit, size_t implicit_len);

/*
 * paseto_v4_local_encrypt() with the caller's nonce, for known-answer tests
 * only: two tokens under one key and nonce reveal the XOR of their
 * plaintexts.  Production code calls paseto_v4_local_encrypt().
 */
enum err paseto_v4_local_encrypt_with_nonce(char **token_out,
                                            const unsigned char key[PASETO_V4_LOCAL_KEYBYTES],
                                            const unsigned char nonce[PASETO_V4_LOCAL_NONCEBYTES],
                                            const unsigned char *payload, size_t payload_len,
                                            const unsigned char *footer, size_t footer_len,
                                            const unsigned char *implicit, size_t implicit_len);

/*
 * Authenticates and decrypts a v4.local token.
 *   payload_out, payload_len_out  receive the malloc'd plaintext and its
 *                        length (caller frees; wipe first if it is secret)
 *   token, token_len     the token as received, not necessarily NUL-terminated
 *   key                  the 32-byte symmetric key
 *   expected_footer, expected_footer_len  as for paseto_v4_public_verify()
 *   implicit, implicit_len  the implicit assertion the issuer used
 * Returns ERR_OK, ERR_INVALID_TOKEN, ERR_CRYPTO or ERR_NOMEM.
 */
enum err paseto_v4_local_decrypt(unsigned char **payload_out, size_t *payload_len_out,
                                 const char *token, size_t token_len,
                                 const unsigned char key[PASETO_V4_LOCAL_KEYBYTES],
                                 const unsigned char *expected_footer, size_t expected_footer_len,
                                 const unsigned char *implicit, size_t implicit_len);

/*
 * Reads the kid from the footer of an UNVERIFIED v4.public token.  The
 * footer must be a JSON object of at most PASETO_FOOTER_JSON_MAX bytes,
 * without duplicate keys, whose "kid" is a string of k4.pid shape; other
 * members are ignored.  The answer is attacker-controlled until the token
 * is verified with the key it names: use it to choose a key and for
 * nothing else.
 *   kid_out, kid_size  destination and its size (PASERK_K4_PID_SIZE
 *                      suffices); set to "" on failure
 *   token, token_len   the token as received
 * Returns ERR_OK, ERR_INVALID_TOKEN, ERR_NOMEM or ERR_INTERNAL (kid_size
 * too small).
 */
enum err paseto_footer_kid(char *kid_out, size_t kid_size, const char *token, size_t token_len);

/*
 * Finds the Ed25519 public key named by `kid` (a k4.pid string).  Returns
 * ERR_OK and fills public_key_out, ERR_NOT_FOUND for a kid it does not
 * know, or another error (ERR_DB, ...) that the caller passes on.
 */
typedef enum err (*paseto_key_lookup_fn)(void *ctx, const char *kid,
                                         unsigned char public_key_out[PASETO_V4_PUBLIC_KEYBYTES]);

/*
 * Issues a Hearth access token: a v4.public token over `claims_json` with
 * `footer_json` as its footer and no implicit assertion.
 *   token_out    receives the NUL-terminated token (caller frees)
 *   secret_key   the Ed25519 signing key (seed || pk)
 *   claims_json  NUL-terminated JSON object; the caller has set exp, sub...
 *   footer_json  NUL-terminated JSON object whose "kid" is the k4.pid of
 *                secret_key's public half, so that verifiers can find it
 * Returns ERR_OK, ERR_NOMEM, ERR_CRYPTO (inconsistent key, or a footer kid
 * naming another key) or ERR_INTERNAL (claims or footer not such JSON).
 */
enum err paseto_sign_claims(char **token_out,
                            const unsigned char secret_key[PASETO_V4_SECRET_KEYBYTES],
                            const char *claims_json, const char *footer_json);

/*
 * Verifies a Hearth access token and returns its claims.  The footer's kid
 * picks the public key through `lookup`; the key returned must have that
 * kid as its k4.pid; the token is then verified with it, footer and all.
 * The claims are not interpreted: expiry and the rest are the caller's.
 *   claims_out, claims_len_out  receive the malloc'd claims JSON and its
 *                length (caller frees)
 *   token, token_len    the token as received
 *   lookup, lookup_ctx  the key lookup and its context
 * Returns ERR_OK, ERR_INVALID_TOKEN (malformed, unknown kid, bad signature),
 * ERR_NOMEM, ERR_CRYPTO (lookup gave a key that the kid does not name), or
 * whatever other error the lookup returned.
 */
enum err paseto_verify_claims(unsigned char **claims_out, size_t *claims_len_out,
                              const char *token, size_t token_len, paseto_key_lookup_fn lookup,
                              void *lookup_ctx);

#endif
