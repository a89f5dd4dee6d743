/*
 * paseto_int.h - what paseto.c shares with paserk.c; not part of the API.
 *
 * Both modules read base64url from outside (tokens, key strings) and must
 * refuse every spelling but the canonical one, so they share one decoder;
 * both take Ed25519 secret keys and must refuse the same bad ones.
 */
#ifndef HEARTH_AUTH_PASETO_INT_H
#define HEARTH_AUTH_PASETO_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "auth/paseto.h"

/*
 * Decodes canonical unpadded base64url.  Refuses any byte outside
 * [A-Za-z0-9_-] (so '=', '.', '+', '/', whitespace and NUL), a length of
 * 1 mod 4, non-zero trailing bits, and output longer than bin_maxlen.
 * Runs in time independent of the characters, since key strings pass
 * through it.
 *   bin, bin_maxlen  destination and its size
 *   bin_len          receives the decoded length (0 on failure)
 *   b64, b64_len     the text, not necessarily NUL-terminated
 * Returns whether the text was canonical and fit.
 */
bool paseto_b64url_decode(unsigned char *bin, size_t bin_maxlen, size_t *bin_len, const char *b64,
                          size_t b64_len);

/*
 * Whether a 64-byte Ed25519 secret key (seed || public key) has as its
 * second half the public key of its seed.  libsodium signs with the stored
 * public half; with a mismatched one, two signatures over one message give
 * the secret key away, so such a key is neither used nor serialised.
 */
bool paseto_secret_key_is_consistent(const unsigned char sk[PASETO_V4_SECRET_KEYBYTES]);

#endif
