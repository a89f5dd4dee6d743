#include "auth/paserk.h"

#include <assert.h>
#include <string.h>

#include <sodium.h>

#include "auth/paseto_int.h"

#define B64_VARIANT sodium_base64_VARIANT_URLSAFE_NO_PADDING
#define ID_BYTES 33

/* One PASERK type: its header and the raw length of what follows it. */
struct paserk_type {
	const char *header;
	size_t header_len;
	size_t key_len;
};

static const struct paserk_type k4_local = {"k4.local.", 9, PASERK_K4_LOCAL_KEYBYTES};
static const struct paserk_type k4_public = {"k4.public.", 10, PASERK_K4_PUBLIC_KEYBYTES};
static const struct paserk_type k4_secret = {"k4.secret.", 10, PASERK_K4_SECRET_KEYBYTES};
static const struct paserk_type k4_lid = {"k4.lid.", 7, ID_BYTES};
static const struct paserk_type k4_pid = {"k4.pid.", 7, ID_BYTES};

_Static_assert(PASERK_K4_LOCAL_SIZE == 9 + sodium_base64_ENCODED_LEN(32, B64_VARIANT),
               "k4.local size");
_Static_assert(PASERK_K4_PUBLIC_SIZE == 10 + sodium_base64_ENCODED_LEN(32, B64_VARIANT),
               "k4.public size");
_Static_assert(PASERK_K4_SECRET_SIZE == 10 + sodium_base64_ENCODED_LEN(64, B64_VARIANT),
               "k4.secret size");
_Static_assert(PASERK_K4_LID_SIZE == 7 + sodium_base64_ENCODED_LEN(ID_BYTES, B64_VARIANT),
               "k4.lid size");
_Static_assert(PASERK_K4_PID_SIZE == PASERK_K4_LID_SIZE, "k4.pid size");
_Static_assert(PASERK_K4_SECRET_KEYBYTES == crypto_sign_SECRETKEYBYTES, "secret key size");
_Static_assert(PASERK_K4_PUBLIC_KEYBYTES == crypto_sign_PUBLICKEYBYTES, "public key size");

/* Length of the unpadded base64url text of `n` bytes. */
static size_t b64_len(size_t n)
{
	return sodium_base64_ENCODED_LEN(n, B64_VARIANT) - 1;
}

static size_t string_len(const struct paserk_type *type)
{
	return type->header_len + b64_len(type->key_len);
}

static void clear_out(char *out, size_t out_size)
{
	if (out != NULL && out_size > 0)
		out[0] = '\0';
}

/* Writes header || b64(bytes); `bytes` has exactly type->key_len bytes. */
static enum err write_paserk(const struct paserk_type *type, char *out, size_t out_size,
                             const unsigned char *bytes)
{
	if (out == NULL || out_size < string_len(type) + 1) {
		clear_out(out, out_size);
		return ERR_INTERNAL;
	}
	memcpy(out, type->header, type->header_len);
	sodium_bin2base64(out + type->header_len, out_size - type->header_len, bytes, type->key_len,
	                  B64_VARIANT);
	return ERR_OK;
}

static enum err encode(const struct paserk_type *type, char *out, size_t out_size,
                       const unsigned char *key, size_t key_len)
{
	if (key == NULL || key_len != type->key_len) {
		clear_out(out, out_size);
		return ERR_CRYPTO;
	}
	return write_paserk(type, out, out_size, key);
}

/* Reads header || b64(key_len bytes) into key_out; key_out is wiped on failure. */
static enum err decode(const struct paserk_type *type, unsigned char *key_out, const char *s,
                       size_t len)
{
	size_t bin_len = 0;

	if (s == NULL || len != string_len(type) || memcmp(s, type->header, type->header_len) != 0)
		goto fail;
	if (!paseto_b64url_decode(key_out, type->key_len, &bin_len, s + type->header_len,
	                          len - type->header_len) ||
	    bin_len != type->key_len)
		goto fail;
	return ERR_OK;

fail:
	sodium_memzero(key_out, type->key_len);
	return ERR_INVALID_TOKEN;
}

/*
 * Writes the ID of a key: id_header || b64(BLAKE2b-264(id_header || paserk)),
 * where paserk is the key's own PASERK string.
 */
static enum err write_id(const struct paserk_type *id_type, const struct paserk_type *key_type,
                         char *out, size_t out_size, const unsigned char *key, size_t key_len)
{
	char msg[7 + PASERK_K4_PUBLIC_SIZE];
	unsigned char digest[ID_BYTES];
	size_t key_paserk_len;
	enum err rc;

	_Static_assert(PASERK_K4_PUBLIC_SIZE >= PASERK_K4_LOCAL_SIZE, "msg fits either key");
	assert(id_type->header_len == 7);

	rc = encode(key_type, msg + id_type->header_len, sizeof msg - id_type->header_len, key,
	            key_len);
	if (rc != ERR_OK) {
		clear_out(out, out_size);
		goto out;
	}
	memcpy(msg, id_type->header, id_type->header_len);
	key_paserk_len = string_len(key_type);
	if (crypto_generichash(digest, sizeof digest, (const unsigned char *)msg,
	                       id_type->header_len + key_paserk_len, NULL, 0) != 0) {
		clear_out(out, out_size);
		rc = ERR_CRYPTO;
		goto out;
	}
	rc = write_paserk(id_type, out, out_size, digest);

out:
	/* A k4.local PASERK is the key itself. */
	sodium_memzero(msg, sizeof msg);
	return rc;
}

enum err paserk_k4_local_encode(char *out, size_t out_size, const unsigned char *key,
                                size_t key_len)
{
	return encode(&k4_local, out, out_size, key, key_len);
}

enum err paserk_k4_local_decode(unsigned char key_out[PASERK_K4_LOCAL_KEYBYTES], const char *paserk,
                                size_t paserk_len)
{
	return decode(&k4_local, key_out, paserk, paserk_len);
}

enum err paserk_k4_public_encode(char *out, size_t out_size, const unsigned char *key,
                                 size_t key_len)
{
	return encode(&k4_public, out, out_size, key, key_len);
}

enum err paserk_k4_public_decode(unsigned char key_out[PASERK_K4_PUBLIC_KEYBYTES],
                                 const char *paserk, size_t paserk_len)
{
	return decode(&k4_public, key_out, paserk, paserk_len);
}

enum err paserk_k4_secret_encode(char *out, size_t out_size, const unsigned char *key,
                                 size_t key_len)
{
	if (key == NULL || key_len != PASERK_K4_SECRET_KEYBYTES ||
	    !paseto_secret_key_is_consistent(key)) {
		clear_out(out, out_size);
		return ERR_CRYPTO;
	}
	return encode(&k4_secret, out, out_size, key, key_len);
}

enum err paserk_k4_secret_decode(unsigned char key_out[PASERK_K4_SECRET_KEYBYTES],
                                 const char *paserk, size_t paserk_len)
{
	enum err rc = decode(&k4_secret, key_out, paserk, paserk_len);

	if (rc == ERR_OK && !paseto_secret_key_is_consistent(key_out)) {
		sodium_memzero(key_out, PASERK_K4_SECRET_KEYBYTES);
		rc = ERR_INVALID_TOKEN;
	}
	return rc;
}

enum err paserk_k4_lid(char *out, size_t out_size, const unsigned char *key, size_t key_len)
{
	return write_id(&k4_lid, &k4_local, out, out_size, key, key_len);
}

enum err paserk_k4_pid(char *out, size_t out_size, const unsigned char *key, size_t key_len)
{
	return write_id(&k4_pid, &k4_public, out, out_size, key, key_len);
}

bool paserk_is_k4_pid(const char *s, size_t len)
{
	unsigned char digest[ID_BYTES];

	return decode(&k4_pid, digest, s, len) == ERR_OK;
}
