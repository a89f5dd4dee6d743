/*
 * fuzz_netaddr.c - IP addresses and CIDR ranges (core/netaddr.c): client
 * addresses from X-Forwarded-For, trusted-proxy lists from the
 * configuration, household networks.
 *
 * The input, NUL-terminated, goes through netaddr_parse(), cidr_parse() and
 * cidr_parse_list() (room for 4 entries, as a small proxy list).
 *
 * Properties checked beyond "no crash":
 *  - An address that parses formats to text that parses to the same address
 *    (IPv4-mapped IPv6 is IPv4 throughout); an IPv4 address leaves bytes
 *    4..15 zero.
 *  - A range that parses has 0..32 or 0..128 bits, holds its own address,
 *    has no host bits set, and its netaddr_prefix() text parses back to it.
 *  - cidr_parse_list() returns -1 or a count within 0..max, and each range
 *    it returns holds its own address.
 */
#include <string.h>

#include "core/netaddr.h"
#include "fuzz/fuzz.h"

#define FNA_LIST_MAX 4

static void fna_same_addr(const struct netaddr *a, const struct netaddr *b, const char *what)
{
	FUZZ_ASSERT(a->family == b->family && memcmp(a->bytes, b->bytes, sizeof a->bytes) == 0,
		    what);
}

static void fna_check_range(const struct cidr *c)
{
	int total = c->addr.family == 4 ? 32 : 128;
	FUZZ_ASSERT(c->addr.family == 4 || c->addr.family == 6, "a range of no family");
	FUZZ_ASSERT(c->bits >= 0 && c->bits <= total, "prefix length out of range");
	FUZZ_ASSERT(cidr_contains(c, &c->addr), "a range does not hold its own address");
	for (int bit = c->bits; bit < 128; bit++)
		FUZZ_ASSERT(!(c->addr.bytes[bit / 8] & (0x80 >> (bit % 8))), "host bits are set");
}

int fuzz_netaddr(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	char text[NETADDR_STRLEN];
	struct netaddr a, b;
	struct cidr c, d, list[FNA_LIST_MAX];

	if (!s)
		return 0;
	if (netaddr_parse(s, &a) == 0) {
		FUZZ_ASSERT(a.family == 4 || a.family == 6, "an address of no family");
		if (a.family == 4)
			for (int i = 4; i < 16; i++)
				FUZZ_ASSERT(a.bytes[i] == 0, "an IPv4 address with bytes past 4");
		netaddr_format(&a, text, sizeof text);
		FUZZ_ASSERT(netaddr_parse(text, &b) == 0, "a formatted address does not parse");
		fna_same_addr(&a, &b, "format and parse do not round-trip");
	}
	if (cidr_parse(s, &c) == 0) {
		fna_check_range(&c);
		netaddr_prefix(&c.addr, c.bits, c.bits, text, sizeof text);
		FUZZ_ASSERT(cidr_parse(text, &d) == 0, "a formatted prefix does not parse");
		fna_same_addr(&c.addr, &d.addr, "prefix and parse do not round-trip");
		FUZZ_ASSERT(c.bits == d.bits, "prefix length changed on the round trip");
	}
	int n = cidr_parse_list(s, list, FNA_LIST_MAX);
	FUZZ_ASSERT(n >= -1 && n <= FNA_LIST_MAX, "list count out of range");
	for (int i = 0; i < n; i++)
		fna_check_range(&list[i]);
	free(s);
	return 0;
}

#ifndef FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_netaddr(data, size); }
#endif
