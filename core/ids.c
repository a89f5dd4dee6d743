#include "core/ids.h"

#include <sodium.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

static const char alphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";

#define ID_CHARS 29 /* 144 bits: ceil(144 / 5) base32 digits, the last holding 4 bits */
#define TIME_BYTES 6 /* 48 bits of Unix milliseconds: enough until the year 10889 */

/* Milliseconds since the epoch from the system's real-time clock.  Not
 * clock_now(): this is no business time but where the id sorts, so it wants
 * milliseconds and the machine's clock even under the test clock. */
static uint64_t wall_ms(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_REALTIME, &ts) != 0 || ts.tv_sec < 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

enum err ids_new(const char *prefix, char *out, size_t cap)
{
	size_t plen = strlen(prefix);
	unsigned char raw[18];
	if (plen + ID_CHARS + 1 > cap)
		return ERR_INTERNAL;
	/* The creation time in milliseconds, big-endian (as in a ULID or a
	 * UUIDv7), then 96 random bits (DESIGN.md: ids carry at least 96).  Since the alphabet is in ASCII order, ids of one kind
	 * sort by creation time, so a new row's key lands at the right-hand end
	 * of every index keyed by it instead of on a random page. */
	uint64_t ms = wall_ms();
	for (int i = TIME_BYTES - 1; i >= 0; i--) {
		raw[i] = (unsigned char)(ms & 0xff);
		ms >>= 8;
	}
	randombytes_buf(raw + TIME_BYTES, sizeof raw - TIME_BYTES);
	memcpy(out, prefix, plen);
	/* 144 bits as 29 base32 digits: 28 full 5-bit groups and a last 4-bit one. */
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
