/* core/netaddr: addresses, CIDR ranges, prefixes and proxy lists. */
#include <check.h>
#include <string.h>

#include "core/netaddr.h"
#include "tests/unit.h"

static const struct {
	const char *text;
	int family;
	const char *formatted;
} good_addrs[] = {
	{"203.0.113.77", 4, "203.0.113.77"},
	{"0.0.0.0", 4, "0.0.0.0"},
	{"255.255.255.255", 4, "255.255.255.255"},
	{"127.0.0.1", 4, "127.0.0.1"},
	{"::1", 6, "::1"},
	{"::", 6, "::"},
	{"2001:db8::1", 6, "2001:db8::1"},
	{"2001:DB8:0:0:0:0:0:1", 6, "2001:db8::1"},
	{"2001:db8:abcd:12ff::1", 6, "2001:db8:abcd:12ff::1"},
	{"fe80::1:2:3:4", 6, "fe80::1:2:3:4"},
	{"::ffff:192.0.2.1", 4, "192.0.2.1"},	/* v4-mapped reads as IPv4 */
	{"::FFFF:203.0.113.9", 4, "203.0.113.9"},
	{"::ffff:c000:0201", 4, "192.0.2.1"},
	{"64:ff9b::192.0.2.1", 6, "64:ff9b::c000:201"}, /* NAT64 is not mapped */
};

START_TEST(parse_accepts_v4_v6_and_v4_mapped)
{
	struct netaddr a;
	char buf[NETADDR_STRLEN];
	ck_assert_msg(netaddr_parse(good_addrs[_i].text, &a) == 0, "rejected %s", good_addrs[_i].text);
	ck_assert_int_eq(a.family, good_addrs[_i].family);
	ck_assert_str_eq(netaddr_format(&a, buf, sizeof buf), good_addrs[_i].formatted);
}
END_TEST

START_TEST(v4_mapped_equals_plain_v4)
{
	struct netaddr plain, mapped;
	ck_assert_int_eq(netaddr_parse("192.0.2.1", &plain), 0);
	ck_assert_int_eq(netaddr_parse("::ffff:192.0.2.1", &mapped), 0);
	ck_assert_int_eq(memcmp(&plain, &mapped, sizeof plain), 0);
	static const unsigned char want[16] = {192, 0, 2, 1};
	ck_assert_int_eq(memcmp(plain.bytes, want, sizeof want), 0);
}
END_TEST

static const char *const bad_addrs[] = {
	"",
	"junk",
	"1.2.3",
	"1.2.3.4.5",
	"256.0.0.1",
	"1.2.3.-4",
	"1.2.3.4 ",
	" 1.2.3.4",
	"1.2.3.4/24",
	"01.2.3.4x",
	"::g",
	"1:2:3:4:5:6:7:8:9",
	"2001:db8::1::2",
	"[::1]",
	"::1%eth0",
	"localhost",
};

START_TEST(parse_rejects_junk)
{
	struct netaddr a;
	ck_assert_msg(netaddr_parse(bad_addrs[_i], &a) == -1, "accepted \"%s\"", bad_addrs[_i]);
}
END_TEST

static const struct {
	const char *cidr;
	const char *addr;
	bool inside;
} containment[] = {
	{"10.0.0.0/8", "10.0.0.0", true},
	{"10.0.0.0/8", "10.255.255.255", true},
	{"10.0.0.0/8", "10.1.2.3", true},
	{"10.0.0.0/8", "11.0.0.0", false},
	{"10.0.0.0/8", "9.255.255.255", false},
	{"10.1.2.3/8", "10.200.0.1", true},	/* host bits are masked off */
	{"192.168.1.0/24", "192.168.1.254", true},
	{"192.168.1.0/24", "192.168.2.1", false},
	{"172.16.0.0/12", "172.31.255.255", true},
	{"172.16.0.0/12", "172.32.0.0", false},
	{"192.0.2.1", "192.0.2.1", true},	/* bare address: /32 */
	{"192.0.2.1", "192.0.2.2", false},
	{"192.0.2.1/32", "192.0.2.1", true},
	{"0.0.0.0/0", "203.0.113.77", true},
	{"0.0.0.0/0", "::1", false},		/* families never mix */
	{"10.0.0.0/8", "::ffff:10.9.9.9", true},	/* v4-mapped counts as v4 */
	{"::/0", "10.0.0.1", false},
	{"::/0", "2001:db8::1", true},
	{"2001:db8::/32", "2001:db8:ffff::1", true},
	{"2001:db8::/32", "2001:db9::1", false},
	{"2001:db8:abcd:1200::/56", "2001:db8:abcd:12ff::1", true},
	{"2001:db8:abcd:1200::/56", "2001:db8:abcd:1300::1", false},
	{"2001:db8::/33", "2001:db8:7fff::1", true},
	{"2001:db8::/33", "2001:db8:8000::1", false},
	{"::1", "::1", true},
	{"::1/128", "::2", false},
};

START_TEST(cidr_contains_exactly_its_range)
{
	struct cidr c;
	struct netaddr a;
	ck_assert_int_eq(cidr_parse(containment[_i].cidr, &c), 0);
	ck_assert_int_eq(netaddr_parse(containment[_i].addr, &a), 0);
	ck_assert_msg(cidr_contains(&c, &a) == containment[_i].inside, "%s %s %s",
		      containment[_i].cidr, containment[_i].inside ? "should contain" : "should not contain",
		      containment[_i].addr);
}
END_TEST

START_TEST(cidr_parse_masks_and_defaults_to_full_length)
{
	struct cidr c;
	char buf[NETADDR_STRLEN];
	ck_assert_int_eq(cidr_parse("10.1.2.3/8", &c), 0);
	ck_assert_int_eq(c.bits, 8);
	ck_assert_str_eq(netaddr_format(&c.addr, buf, sizeof buf), "10.0.0.0");
	ck_assert_int_eq(cidr_parse("192.0.2.7", &c), 0);
	ck_assert_int_eq(c.bits, 32);
	ck_assert_int_eq(cidr_parse("2001:db8::1", &c), 0);
	ck_assert_int_eq(c.bits, 128);
	ck_assert_int_eq(cidr_parse("2001:db8:abcd:12ff::1/56", &c), 0);
	ck_assert_str_eq(netaddr_format(&c.addr, buf, sizeof buf), "2001:db8:abcd:1200::");
}
END_TEST

static const char *const bad_cidrs[] = {
	"",
	"/8",
	"10.0.0.0/",
	"10.0.0.0/33",
	"10.0.0.0/-1",
	"10.0.0.0/+8",
	"10.0.0.0/ 8",
	"10.0.0.0/8x",
	"10.0.0.0/8/8",
	"10.0.0.0/abc",
	"::/129",
	"junk/8",
	"10.0.0/8",
	"10.0.0.0/99999999999999999999",
	"0000000000000000000000000000000000000000000000000000000000000000000000/8",
};

START_TEST(cidr_parse_rejects_junk)
{
	struct cidr c;
	ck_assert_msg(cidr_parse(bad_cidrs[_i], &c) == -1, "accepted \"%s\"", bad_cidrs[_i]);
}
END_TEST

static const struct {
	const char *addr;
	int v4_bits, v6_bits;
	const char *prefix;
} prefixes[] = {
	{"203.0.113.77", 24, 56, "203.0.113.0/24"},
	{"203.0.113.77", 16, 56, "203.0.0.0/16"},
	{"203.0.113.77", 32, 56, "203.0.113.77/32"},
	{"203.0.113.77", 0, 56, "0.0.0.0/0"},
	{"203.0.113.77", 20, 56, "203.0.112.0/20"},
	{"::ffff:203.0.113.77", 24, 56, "203.0.113.0/24"},
	{"2001:db8:abcd:12ff::1", 24, 56, "2001:db8:abcd:1200::/56"},
	{"2001:db8:abcd:12ff::1", 24, 48, "2001:db8:abcd::/48"},
	{"2001:db8:abcd:12ff::1", 24, 64, "2001:db8:abcd:12ff::/64"},
	{"2001:db8:abcd:12ff::1", 24, 60, "2001:db8:abcd:12f0::/60"},
	{"2001:db8:abcd:12ff::1", 24, 128, "2001:db8:abcd:12ff::1/128"},
};

START_TEST(prefix_masks_to_the_family_length)
{
	struct netaddr a;
	char buf[NETADDR_STRLEN];
	ck_assert_int_eq(netaddr_parse(prefixes[_i].addr, &a), 0);
	ck_assert_str_eq(netaddr_prefix(&a, prefixes[_i].v4_bits, prefixes[_i].v6_bits, buf, sizeof buf),
			 prefixes[_i].prefix);
	/* The caller's address is not modified. */
	char full[NETADDR_STRLEN];
	struct netaddr again;
	ck_assert_int_eq(netaddr_parse(prefixes[_i].addr, &again), 0);
	ck_assert_str_eq(netaddr_format(&a, full, sizeof full), netaddr_format(&again, buf, sizeof buf));
}
END_TEST

START_TEST(prefix_into_a_too_small_buffer_writes_empty)
{
	struct netaddr a;
	char buf[10];
	ck_assert_int_eq(netaddr_parse("203.0.113.77", &a), 0);
	ck_assert_str_eq(netaddr_prefix(&a, 24, 56, buf, sizeof buf), "");
	char tiny[4];
	ck_assert_str_eq(netaddr_format(&a, tiny, sizeof tiny), "");
}
END_TEST

START_TEST(list_parses_comma_and_space_separated_cidrs)
{
	struct cidr c[8];
	struct netaddr a;
	ck_assert_int_eq(cidr_parse_list("10.0.0.0/8, 192.168.0.0/16,::1 ,2001:db8::/32", c, 8), 4);
	ck_assert_int_eq(c[0].bits, 8);
	ck_assert_int_eq(c[1].bits, 16);
	ck_assert_int_eq(c[2].bits, 128);
	ck_assert_int_eq(c[3].bits, 32);
	ck_assert_int_eq(netaddr_parse("192.168.44.1", &a), 0);
	ck_assert(!cidr_contains(&c[0], &a));
	ck_assert(cidr_contains(&c[1], &a));
	ck_assert_int_eq(cidr_parse_list("", c, 8), 0);
	ck_assert_int_eq(cidr_parse_list(" , ,", c, 8), 0);
	ck_assert_int_eq(cidr_parse_list("127.0.0.1", c, 8), 1);
}
END_TEST

static const char *const bad_lists[] = {
	"10.0.0.0/8,bogus",
	"bogus,10.0.0.0/8",
	"10.0.0.0/8,10.0.0.0/33",
	"10.0.0.0/8;192.168.0.0/16",
	"10.0.0.0 /8",
	"1.1.1.1,2.2.2.2,3.3.3.3,4.4.4.4,5.5.5.5", /* more than max (4) */
	"10.0.0.0/8,000000000000000000000000000000000000000000000000000000000000000000000000000",
};

START_TEST(list_with_a_bad_entry_is_refused)
{
	struct cidr c[4];
	ck_assert_msg(cidr_parse_list(bad_lists[_i], c, 4) == -1, "accepted \"%s\"", bad_lists[_i]);
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *netaddr_suite(void)
{
	Suite *s = suite_create("netaddr");
	TCase *tc = tcase_create("addresses");
	tcase_add_loop_test(tc, parse_accepts_v4_v6_and_v4_mapped, 0, N(good_addrs));
	tcase_add_test(tc, v4_mapped_equals_plain_v4);
	tcase_add_loop_test(tc, parse_rejects_junk, 0, N(bad_addrs));
	suite_add_tcase(s, tc);

	tc = tcase_create("cidr");
	tcase_add_loop_test(tc, cidr_contains_exactly_its_range, 0, N(containment));
	tcase_add_test(tc, cidr_parse_masks_and_defaults_to_full_length);
	tcase_add_loop_test(tc, cidr_parse_rejects_junk, 0, N(bad_cidrs));
	suite_add_tcase(s, tc);

	tc = tcase_create("prefixes");
	tcase_add_loop_test(tc, prefix_masks_to_the_family_length, 0, N(prefixes));
	tcase_add_test(tc, prefix_into_a_too_small_buffer_writes_empty);
	suite_add_tcase(s, tc);

	tc = tcase_create("lists");
	tcase_add_test(tc, list_parses_comma_and_space_separated_cidrs);
	tcase_add_loop_test(tc, list_with_a_bad_entry_is_refused, 0, N(bad_lists));
	suite_add_tcase(s, tc);
	return s;
}

int main(void) { return unit_run(netaddr_suite()); }
