#include "core/netaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int netaddr_parse(const char *s, struct netaddr *out)
{
	memset(out, 0, sizeof *out);
	if (inet_pton(AF_INET, s, out->bytes) == 1) {
		out->family = 4;
		return 0;
	}
	if (inet_pton(AF_INET6, s, out->bytes) == 1) {
		out->family = 6;
		if (memcmp(out->bytes, v4mapped, sizeof v4mapped) == 0) {
			memmove(out->bytes, out->bytes + 12, 4);
			memset(out->bytes + 4, 0, 12);
			out->family = 4;
		}
		return 0;
	}
	return -1;
}

const char *netaddr_format(const struct netaddr *a, char *buf, size_t cap)
{
	if (!inet_ntop(a->family == 4 ? AF_INET : AF_INET6, a->bytes, buf, (socklen_t)cap) && cap)
		buf[0] = '\0';
	return buf;
}

static void mask(struct netaddr *a, int bits)
{
	int total = a->family == 4 ? 32 : 128;
	for (int i = 0; i < total / 8; i++) {
		int keep = bits - i * 8;
		if (keep >= 8)
			continue;
		a->bytes[i] = (uint8_t)(keep <= 0 ? 0 : (a->bytes[i] & (0xff << (8 - keep))));
	}
}

int cidr_parse(const char *s, struct cidr *out)
{
	char tmp[NETADDR_STRLEN];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	if (alen == 0 || alen >= sizeof tmp)
		return -1;
	memcpy(tmp, s, alen);
	tmp[alen] = '\0';
	if (netaddr_parse(tmp, &out->addr) != 0)
		return -1;
	int total = out->addr.family == 4 ? 32 : 128;
	out->bits = total;
	if (slash) {
		char *end = NULL;
		errno = 0;
		long b = strtol(slash + 1, &end, 10);
		if (slash[1] < '0' || slash[1] > '9' || errno || end == slash + 1 || *end || b < 0 ||
		    b > total)
			return -1;
		out->bits = (int)b;
	}
	mask(&out->addr, out->bits);
	return 0;
}

bool cidr_contains(const struct cidr *c, const struct netaddr *a)
{
	if (c->addr.family != a->family)
		return false;
	struct netaddr m = *a;
	mask(&m, c->bits);
	return memcmp(m.bytes, c->addr.bytes, 16) == 0;
}

int cidr_parse_list(const char *s, struct cidr *out, int max)
{
	int n = 0;
	const char *p = s;
	while (*p) {
		while (*p == ' ' || *p == ',')
			p++;
		if (!*p)
			break;
		const char *end = p;
		while (*end && *end != ',' && *end != ' ')
			end++;
		char item[NETADDR_STRLEN + 8];
		size_t len = (size_t)(end - p);
		if (len >= sizeof item || n >= max)
			return -1;
		memcpy(item, p, len);
		item[len] = '\0';
		if (cidr_parse(item, &out[n]) != 0)
			return -1;
		n++;
		p = end;
	}
	return n;
}

const char *netaddr_prefix(const struct netaddr *a, int v4_bits, int v6_bits, char *buf,
			   size_t cap)
{
	char addr[NETADDR_STRLEN];
	struct netaddr m = *a;
	int bits = a->family == 4 ? v4_bits : v6_bits;
	mask(&m, bits);
	netaddr_format(&m, addr, sizeof addr);
	int n = snprintf(buf, cap, "%s/%d", addr, bits);
	if (n < 0 || (size_t)n >= cap) {
		if (cap)
			buf[0] = '\0';
	}
	return buf;
}
