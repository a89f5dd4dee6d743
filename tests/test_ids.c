/* Ids: prefixed, 29 base32 characters (creation time, then randomness), unique, ordered by
 * creation, and checkable. */
#include <check.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/ids.h"
#include "tests/unit.h"

#define ID_ALPHABET "0123456789abcdefghjkmnpqrstvwxyz"
#define ID_CHARS 29

static const char *const prefixes[] = {"acc_", "prf_", "dev_", "sub_", "inv_", "hh_", ""};

START_TEST(new_id_is_prefix_and_29_alphabet_chars)
{
	const char *prefix = prefixes[_i];
	char id[IDS_MAX];
	for (int round = 0; round < 200; round++) {
		ck_assert_int_eq(ids_new(prefix, id, sizeof id), ERR_OK);
		ck_assert_uint_eq(strlen(id), strlen(prefix) + ID_CHARS);
		ck_assert_int_eq(strncmp(id, prefix, strlen(prefix)), 0);
		const char *body = id + strlen(prefix);
		ck_assert_uint_eq(strspn(body, ID_ALPHABET), ID_CHARS);
		ck_assert_msg(ids_valid(prefix, id), "ids_valid rejects new id %s", id);
	}
}
END_TEST

static int cmp_str(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

START_TEST(ten_thousand_ids_are_unique)
{
	enum { COUNT = 10000 };
	char (*ids)[IDS_MAX] = calloc(COUNT, IDS_MAX);
	ck_assert_ptr_nonnull(ids);
	for (int i = 0; i < COUNT; i++)
		ck_assert_int_eq(ids_new("acc_", ids[i], IDS_MAX), ERR_OK);
	qsort(ids, COUNT, IDS_MAX, cmp_str);
	for (int i = 1; i < COUNT; i++)
		ck_assert_msg(strcmp(ids[i - 1], ids[i]) != 0, "duplicate id %s", ids[i]);
	free(ids);
}
END_TEST

START_TEST(every_alphabet_char_appears)
{
	/* 29 x 2000 characters: a missing one would mean a biased encoder. */
	char id[IDS_MAX];
	bool seen[128] = {false};
	for (int i = 0; i < 2000; i++) {
		ck_assert_int_eq(ids_new("", id, sizeof id), ERR_OK);
		for (const char *p = id; *p; p++)
			seen[(unsigned char)*p & 127] = true;
	}
	for (const char *a = ID_ALPHABET; *a; a++)
		ck_assert_msg(seen[(unsigned char)*a], "'%c' never appeared", *a);
}
END_TEST

/* Milliseconds of the real-time clock, as ids_new reads it. */
static uint64_t now_ms(void)
{
	struct timespec ts;
	ck_assert_int_eq(clock_gettime(CLOCK_REALTIME, &ts), 0);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The first 48 bits of an id's body: ten base32 digits hold 50 bits. */
static uint64_t id_time_ms(const char *body)
{
	uint64_t v = 0;
	for (int i = 0; i < 10; i++) {
		const char *p = strchr(ID_ALPHABET, body[i]);
		ck_assert_ptr_nonnull(p);
		v = (v << 5) | (uint64_t)(p - ID_ALPHABET);
	}
	return v >> 2;
}

START_TEST(new_id_starts_with_its_creation_time)
{
	char id[IDS_MAX];
	uint64_t before = now_ms();
	ck_assert_int_eq(ids_new("inv_", id, sizeof id), ERR_OK);
	uint64_t after = now_ms();
	uint64_t t = id_time_ms(id + 4);
	ck_assert_msg(t >= before && t <= after, "id %s says %llu ms, made between %llu and %llu", id,
		      (unsigned long long)t, (unsigned long long)before, (unsigned long long)after);
}
END_TEST

START_TEST(ids_made_in_later_milliseconds_sort_after)
{
	/* What the storage relies on: the text order is the creation order, so
	 * new keys go to the end of an index.  Within one millisecond the order
	 * is random. */
	char prev[IDS_MAX], id[IDS_MAX];
	ck_assert_int_eq(ids_new("pay_", prev, sizeof prev), ERR_OK);
	for (int i = 0; i < 20; i++) {
		uint64_t t = id_time_ms(prev + 4);
		while (now_ms() <= t)
			; /* the next millisecond */
		ck_assert_int_eq(ids_new("pay_", id, sizeof id), ERR_OK);
		ck_assert_msg(strcmp(prev, id) < 0, "%s made before %s sorts after it", prev, id);
		memcpy(prev, id, sizeof prev);
	}
}
END_TEST

START_TEST(new_id_refuses_a_buffer_too_small)
{
	char id[IDS_MAX];
	memset(id, 'x', sizeof id);
	ck_assert_int_eq(ids_new("acc_", id, 4 + ID_CHARS), ERR_INTERNAL); /* no room for NUL */
	ck_assert_int_eq(id[0], 'x');
	ck_assert_int_eq(ids_new("acc_", id, 4 + ID_CHARS + 1), ERR_OK);
	ck_assert_uint_eq(strlen(id), 4 + ID_CHARS);
	ck_assert_int_eq(ids_new("a_very_long_prefix_that_wont_fit_", id, sizeof id), ERR_INTERNAL);
}
END_TEST

static const struct {
	const char *prefix;
	const char *s;
	bool valid;
} validity[] = {
	{"acc_", "acc_0123456789abcdefghjkmnpqrtvws", true},
	{"acc_", "acc_tvwxyz0123456789abcdefghjkmnp", true},
	{"hh_", "hh_0123456789abcdefghjkmnpqrtvws", true},
	{"acc_", "prf_0123456789abcdefghjkmnpqrtvws", false}, /* wrong prefix */
	{"acc_", "acc0123456789abcdefghjkmnpqrtvwss", false}, /* prefix without its '_' */
	{"acc_", "ACC_0123456789abcdefghjkmnpqrtvws", false},
	{"acc_", "0123456789abcdefghjkmnpqrtvws", false}, /* no prefix */
	{"hh_", "acc_0123456789abcdefghjkmnpqrtvws", false},
	{"acc_", "acc_0123456789abcdefghjkmnpqrtvw", false}, /* 28 chars */
	{"acc_", "acc_0123456789abcdefghjkmnpqrtvwst", false}, /* 30 chars */
	{"acc_", "acc_", false},
	{"acc_", "", false},
	{"acc_", "acc_0123456789abcdefghjkmnpqrtvwi", false}, /* letters base32 leaves out */
	{"acc_", "acc_0123456789abcdefghjkmnpqrtvwl", false},
	{"acc_", "acc_0123456789abcdefghjkmnpqrtvwo", false},
	{"acc_", "acc_0123456789abcdefghjkmnpqrtvwu", false},
	{"acc_", "acc_0123456789ABCDEFGHJKMNPQRTVWS", false}, /* upper case */
	{"acc_", "acc_0123456789abcdefghjkmnpqrtvwS", false},
	{"acc_", "acc_0123456789abcdefghjkmnpqrtvw-", false},
	{"acc_", "acc_0123456789abcdefghjkmnpqrtvw ", false},
	{"acc_", "acc_0123456789abcdefghjkmnpqrtvw_", false},
	{"acc_", "acc_0123456789/bcdefghjkmnpqrtvws", false},
	{"acc_", "acc_0123456789abcdefghjkmnpqrtvw\xc3", false},
};

START_TEST(valid_checks_prefix_length_and_alphabet)
{
	ck_assert_msg(ids_valid(validity[_i].prefix, validity[_i].s) == validity[_i].valid,
		      "ids_valid(\"%s\", \"%s\") should be %s", validity[_i].prefix, validity[_i].s,
		      validity[_i].valid ? "true" : "false");
}
END_TEST

START_TEST(valid_rejects_null)
{
	ck_assert(!ids_valid("acc_", NULL));
}
END_TEST

#define B64URL "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

static const struct {
	size_t nbytes;
	size_t chars;
} token_sizes[] = {
	{1, 2}, {2, 3}, {3, 4}, {16, 22}, {24, 32}, {32, 43}, {48, 64}, {64, 86},
};

START_TEST(random_token_is_unpadded_base64url)
{
	char tok[128];
	char prev[128] = "";
	for (int round = 0; round < 50; round++) {
		ck_assert_int_eq(ids_random_token(token_sizes[_i].nbytes, tok, sizeof tok), ERR_OK);
		ck_assert_uint_eq(strlen(tok), token_sizes[_i].chars);
		ck_assert_uint_eq(strspn(tok, B64URL), token_sizes[_i].chars);
		if (token_sizes[_i].nbytes >= 16)
			ck_assert_str_ne(tok, prev);
		int n = snprintf(prev, sizeof prev, "%s", tok);
		ck_assert_int_gt(n, 0);
	}
}
END_TEST

START_TEST(random_token_covers_the_url_safe_alphabet)
{
	char tok[128];
	bool seen[128] = {false};
	for (int i = 0; i < 500; i++) {
		ck_assert_int_eq(ids_random_token(48, tok, sizeof tok), ERR_OK);
		for (const char *p = tok; *p; p++)
			seen[(unsigned char)*p & 127] = true;
	}
	for (const char *a = B64URL; *a; a++)
		ck_assert_msg(seen[(unsigned char)*a], "'%c' never appeared", *a);
	ck_assert(!seen['+'] && !seen['/'] && !seen['=']);
}
END_TEST

START_TEST(random_token_refuses_small_buffer_or_too_many_bytes)
{
	char tok[128];
	ck_assert_int_eq(ids_random_token(32, tok, 43), ERR_INTERNAL); /* no room for NUL */
	ck_assert_int_eq(ids_random_token(65, tok, sizeof tok), ERR_INTERNAL);
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *ids_suite(void)
{
	Suite *s = suite_create("ids");
	TCase *tc = tcase_create("ids");
	tcase_add_loop_test(tc, new_id_is_prefix_and_29_alphabet_chars, 0, N(prefixes));
	tcase_add_test(tc, ten_thousand_ids_are_unique);
	tcase_add_test(tc, every_alphabet_char_appears);
	tcase_add_test(tc, new_id_starts_with_its_creation_time);
	tcase_add_test(tc, ids_made_in_later_milliseconds_sort_after);
	tcase_add_test(tc, new_id_refuses_a_buffer_too_small);
	tcase_add_loop_test(tc, valid_checks_prefix_length_and_alphabet, 0, N(validity));
	tcase_add_test(tc, valid_rejects_null);
	suite_add_tcase(s, tc);

	tc = tcase_create("tokens");
	tcase_add_loop_test(tc, random_token_is_unpadded_base64url, 0, N(token_sizes));
	tcase_add_test(tc, random_token_covers_the_url_safe_alphabet);
	tcase_add_test(tc, random_token_refuses_small_buffer_or_too_many_bytes);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	return unit_run(ids_suite());
}
