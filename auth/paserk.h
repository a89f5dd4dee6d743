/*
 * paserk.h - PASERK strings for version 4 keys and key IDs.
 *
 * PASERK is PASETO's companion format for keys: a typed string that says
 * which version and kind of key it holds, so that a key meant for one use
 * cannot be mistaken for another.  Hearth uses five of its types, all of
 * version 4:
 *
 *   k4.local.<b64>   a 32-byte v4.local symmetric key
 *   k4.public.<b64>  a 32-byte Ed25519 public key (v4.public)
 *   k4.secret.<b64>  a 64-byte Ed25519 secret key: seed || public key
 *   k4.lid.<b64>     the ID of a k4.local key
 *   k4.pid.<b64>     the ID of a k4.public key; Hearth puts it in the
 *                    footer of every token as the "kid"
 *
 * where <b64> is base64url without padding.  An ID is the 33-byte BLAKE2b
 * digest of its own header followed by the PASERK of the key
 * ("k4.pid." || "k4.public.<b64>"), so it names a key without revealing it
 * and may appear in logs and in tokens.
 *
 * Invariants:
 *  - Only version 4 is spoken.  Any other version or type is refused.
 *  - Decoding is strict: the header must match byte for byte, the base64
 *    part must have exactly the length its key needs, use only the URL-safe
 *    alphabet, and carry neither padding nor non-canonical trailing bits.
 *  - A k4.secret is written and read only if its second half is the public
 *    key of its first half (the seed); Ed25519 with a mismatched public half
 *    can leak the secret key.
 *  - Encoders write a NUL-terminated string into the caller's buffer, whose
 *    size is checked; the PASERK_K4_*_SIZE macros give the size needed, NUL
 *    included.  Decoders write raw key bytes into a caller's fixed-size
 *    array and wipe it on failure.
 *
 * Errors: a PASERK string that does not parse is ERR_INVALID_TOKEN (it may
 * come from outside, as a token footer's kid does).  A key of the wrong
 * length, or an inconsistent secret key, handed to an encoder is a
 * configuration error: ERR_CRYPTO.  An output buffer that is too small is a
 * programming error: ERR_INTERNAL.  On any error an output string is set to
 * "" when the buffer has room for it.
 *
 * sodium_init() must have succeeded before any call.
 */
#ifndef HEARTH_AUTH_PASERK_H
#define HEARTH_AUTH_PASERK_H

#include <stdbool.h>
#include <stddef.h>

#include "core/errors.h"

#define PASERK_K4_LOCAL_KEYBYTES 32
#define PASERK_K4_PUBLIC_KEYBYTES 32
#define PASERK_K4_SECRET_KEYBYTES 64

/* Buffer sizes for the strings, NUL included. */
#define PASERK_K4_LOCAL_SIZE (9 + 43 + 1)   /* "k4.local."  + b64(32) */
#define PASERK_K4_PUBLIC_SIZE (10 + 43 + 1) /* "k4.public." + b64(32) */
#define PASERK_K4_SECRET_SIZE (10 + 86 + 1) /* "k4.secret." + b64(64) */
#define PASERK_K4_LID_SIZE (7 + 44 + 1)     /* "k4.lid."    + b64(33) */
#define PASERK_K4_PID_SIZE (7 + 44 + 1)     /* "k4.pid."    + b64(33) */

/*
 * Writes the k4.local PASERK of a symmetric key.
 *   out, out_size  destination and its size (PASERK_K4_LOCAL_SIZE suffices)
 *   key, key_len   the key; key_len must be PASERK_K4_LOCAL_KEYBYTES
 * Returns ERR_OK, ERR_CRYPTO (wrong key length) or ERR_INTERNAL (buffer).
 * The key stays the caller's.  The result is as secret as the key.
 */
enum err paserk_k4_local_encode(char *out, size_t out_size, const unsigned char *key,
                                size_t key_len);

/*
 * Reads a k4.local PASERK.
 *   key_out            receives the 32-byte key; wiped on failure
 *   paserk, paserk_len the string, not necessarily NUL-terminated
 * Returns ERR_OK or ERR_INVALID_TOKEN.
 */
enum err paserk_k4_local_decode(unsigned char key_out[PASERK_K4_LOCAL_KEYBYTES], const char *paserk,
                                size_t paserk_len);

/*
 * Writes the k4.public PASERK of an Ed25519 public key.
 *   out, out_size  destination and its size (PASERK_K4_PUBLIC_SIZE suffices)
 *   key, key_len   the public key; key_len must be PASERK_K4_PUBLIC_KEYBYTES
 * Returns ERR_OK, ERR_CRYPTO (wrong key length) or ERR_INTERNAL (buffer).
 */
enum err paserk_k4_public_encode(char *out, size_t out_size, const unsigned char *key,
                                 size_t key_len);

/*
 * Reads a k4.public PASERK.
 *   key_out            receives the 32-byte public key; zeroed on failure
 *   paserk, paserk_len the string, not necessarily NUL-terminated
 * Returns ERR_OK or ERR_INVALID_TOKEN.
 */
enum err paserk_k4_public_decode(unsigned char key_out[PASERK_K4_PUBLIC_KEYBYTES],
                                 const char *paserk, size_t paserk_len);

/*
 * Writes the k4.secret PASERK of an Ed25519 secret key in libsodium's
 * layout (32-byte seed || 32-byte public key).
 *   out, out_size  destination and its size (PASERK_K4_SECRET_SIZE suffices)
 *   key, key_len   the secret key; key_len must be PASERK_K4_SECRET_KEYBYTES
 *                  and the public half must belong to the seed
 * Returns ERR_OK, ERR_CRYPTO (wrong length or mismatched halves) or
 * ERR_INTERNAL (buffer).  The result is as secret as the key: wipe it with
 * sodium_memzero when done.
 */
enum err paserk_k4_secret_encode(char *out, size_t out_size, const unsigned char *key,
                                 size_t key_len);

/*
 * Reads a k4.secret PASERK.
 *   key_out            receives the 64-byte secret key; wiped on failure
 *   paserk, paserk_len the string, not necessarily NUL-terminated
 * Returns ERR_OK or ERR_INVALID_TOKEN (also when the public half does not
 * belong to the seed).
 */
enum err paserk_k4_secret_decode(unsigned char key_out[PASERK_K4_SECRET_KEYBYTES],
                                 const char *paserk, size_t paserk_len);

/*
 * Writes the k4.lid (local key ID) of a symmetric key.
 *   out, out_size  destination and its size (PASERK_K4_LID_SIZE suffices)
 *   key, key_len   the key; key_len must be PASERK_K4_LOCAL_KEYBYTES
 * Returns ERR_OK, ERR_CRYPTO (wrong key length) or ERR_INTERNAL (buffer).
 * The ID reveals nothing of the key and may be logged.
 */
enum err paserk_k4_lid(char *out, size_t out_size, const unsigned char *key, size_t key_len);

/*
 * Writes the k4.pid (public key ID) of an Ed25519 public key.
 *   out, out_size  destination and its size (PASERK_K4_PID_SIZE suffices)
 *   key, key_len   the public key; key_len must be PASERK_K4_PUBLIC_KEYBYTES
 * Returns ERR_OK, ERR_CRYPTO (wrong key length) or ERR_INTERNAL (buffer).
 */
enum err paserk_k4_pid(char *out, size_t out_size, const unsigned char *key, size_t key_len);

/*
 * Whether `s` (`len` bytes, not necessarily NUL-terminated) has the exact
 * shape of a k4.pid: the header and the canonical base64url of 33 bytes.
 * This is syntax only; it says nothing about which key, if any, it names.
 */
bool paserk_is_k4_pid(const char *s, size_t len);

#endif
