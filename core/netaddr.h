/*
 * netaddr.h - IP addresses, CIDR ranges and network prefixes.
 *
 * Used for the client address (trusted proxies), sign-in "last network"
 * and household networks, which are prefixes: by default an IPv4 /24 or an
 * IPv6 /56, never a full address in API output.
 */
#ifndef HEARTH_CORE_NETADDR_H
#define HEARTH_CORE_NETADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct netaddr {
	int family;		/* 4 or 6 */
	uint8_t bytes[16];	/* network order; IPv4 uses the first 4 */
};

struct cidr {
	struct netaddr addr;
	int bits;
};

/* Longest text form of an address or prefix, with its NUL. */
#define NETADDR_STRLEN 64

/* Parse an IPv4 or IPv6 address (IPv4-mapped IPv6 is read as IPv4).
 * Returns 0, or -1 when `s` is not an address. */
int netaddr_parse(const char *s, struct netaddr *out);

/* Write `a` as text into `buf`.  Returns `buf`. */
const char *netaddr_format(const struct netaddr *a, char *buf, size_t cap);

/* Parse "10.0.0.0/8" or "::1/128" (a bare address is a full-length range). */
int cidr_parse(const char *s, struct cidr *out);

/* True when `a` lies inside `c`. */
bool cidr_contains(const struct cidr *c, const struct netaddr *a);

/* Parse a comma-separated list of CIDRs into `out` (at most `max`);
 * returns how many, or -1 on a bad entry. */
int cidr_parse_list(const char *s, struct cidr *out, int max);

/* The network of `a` as "203.0.113.0/24": IPv4 masked to `v4_bits`, IPv6 to
 * `v6_bits`.  Returns `buf`. */
const char *netaddr_prefix(const struct netaddr *a, int v4_bits, int v6_bits, char *buf,
			   size_t cap);

#endif
