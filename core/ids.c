#include "core/ids.h"

#include <sodium.h>
#include <string.h>

static const char alphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";

#define ID_CHARS 26

enum err ids_new(const char *prefix, char *out, size_t cap)
{
	size_t plen = strlen(prefix);
	unsigned char raw[16];
	if (plen + ID_CHARS + 1 > cap)
		return ERR_INTERNAL;
	randombytes_buf(raw, sizeof raw);
	memcpy(out, prefix, plen);
	/* 128 bits as 26 base32 digits: 25 full 5-bit groups and a last 3-bit one. */
	unsigned int acc = 0, bits = 0;
	size_t o = plen;
	for (size_t i = 0; i < sizeof raw; i++) {
		acc = (acc << 8) | raw[i];
		bits += 8;
		while (bits >= 5) {
			out[o++] = alphabet[(acc >> (bits - 5)) & 31];
			bits -= 5;
		}
	}
	if (bits > 0)
		out[o++] = alphabet[(acc << (5 - bits)) & 31];
	out[o] = '\0';
	return ERR_OK;
}

bool ids_valid(const char *prefix, const char *s)
{
	size_t plen = strlen(prefix);
	if (!s || strncmp(s, prefix, plen) != 0 || strlen(s + plen) != ID_CHARS)
		return false;
	for (const char *p = s + plen; *p; p++)
		if (!strchr(alphabet, *p))
			return false;
	return true;
}

enum err ids_random_token(size_t nbytes, char *out, size_t cap)
{
	unsigned char raw[64];
	if (nbytes > sizeof raw ||
	    cap < sodium_base64_ENCODED_LEN(nbytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING))
		return ERR_INTERNAL;
	randombytes_buf(raw, nbytes);
	sodium_bin2base64(out, cap, raw, nbytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof raw);
	return ERR_OK;
}
