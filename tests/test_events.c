/* core/events: events_emit_flat writes the same payload text as events_emit. */
#include <check.h>
#include <jansson.h>
#include <stdint.h>
#include <string.h>

#include "core/events.h"
#include "core/migrate.h"
#include "tests/unit.h"

static struct unit_db u;

static void setup(void)
{
	unit_db_open(&u);
	ck_assert_int_eq(migrate_apply(u.db, NULL), ERR_OK);
}

static void teardown(void) { unit_db_close(&u); }

#define MAXF 8

/* Payloads of strings and integers, as the billing run and others write. */
static const struct {
	size_t n;
	struct events_field f[MAXF];
} cases[] = {
	{5,
	 {{"account", "acc_01k9x8h4b2c3d4e5f6g7h8j9km", 0},
	  {"number", "HEA-2027-000123", 0},
	  {"billing_reason", "subscription_cycle", 0},
	  {"total", NULL, 1947},
	  {"currency", "USD", 0}}},
	{8,
	 {{"account", "acc_x", 0},
	  {"invoice", "inv_y", 0},
	  {"plan", "standard", 0},
	  {"period_start", NULL, 1798761600},
	  {"total", NULL, 0},
	  {"currency", "JPY", 0},
	  {"period_index", NULL, -3},
	  {"change", "price_changed", 0}}},
	{0, {{NULL, NULL, 0}}},
	{2, {{"min", NULL, INT64_MIN}, {"max", NULL, INT64_MAX}}},
	{3, {{"quote", "say \"hi\"", 0}, {"back", "a\\b", 0}, {"ctl", "t\tn\nr\rb\bf\f\x01\x1f", 0}}},
	{2, {{"empty", "", 0}, {"slash", "a/b <c> & 'd' \x7f", 0}}},
	{2, {{"utf8", "S\xc3\xa3o Paulo \xe2\x82\xac", 0}, {"a", "x", 0}}}, /* not ASCII: through jansson */
	{1, {{"bad", "\xff\xfe", 0}}},					     /* not UTF-8: jansson's {} */
	{2, {{"b", NULL, 1}, {"B", NULL, 2}}},				     /* byte order: upper case first */
};

/* The payload of the last event. */
static const char *last_payload(char *buf, size_t cap)
{
	return unit_query_text(u.db, "SELECT payload FROM events ORDER BY id DESC LIMIT 1", buf, cap);
}

START_TEST(flat_payload_is_the_same_text_as_jansson_writes)
{
	char slow[1024], fast[1024];
	size_t n = cases[_i].n;
	json_t *o = json_object();
	for (size_t i = 0; i < n; i++) {
		const struct events_field *f = &cases[_i].f[i];
		json_object_set_new(o, f->key, f->str ? json_string(f->str) : json_integer((json_int_t)f->num));
	}
	ck_assert_int_eq(events_emit(u.db, "test.slow", "tst_1", o), ERR_OK);
	last_payload(slow, sizeof slow);
	ck_assert_int_eq(events_emit_flat(u.db, "test.fast", "tst_1", cases[_i].f, n), ERR_OK);
	last_payload(fast, sizeof fast);
	ck_assert_str_eq(fast, slow);
	ck_assert_int_eq(unit_query_int(u.db, "SELECT COUNT(*) FROM events WHERE type = 'test.fast'"
					      " AND subject = 'tst_1'"),
			 1);
}
END_TEST

START_TEST(flat_payload_too_long_for_the_buffer_goes_through_jansson)
{
	static char big[3000];
	char slow[4096], fast[4096];
	memset(big, 'x', sizeof big - 1);
	const struct events_field f[] = {{"big", big, 0}, {"n", NULL, 7}};
	ck_assert_int_eq(events_emit(u.db, "test.slow", "tst_2",
				     json_pack("{s:s, s:I}", "big", big, "n", (json_int_t)7)),
			 ERR_OK);
	last_payload(slow, sizeof slow);
	ck_assert_int_eq(events_emit_flat(u.db, "test.fast", "tst_2", f, 2), ERR_OK);
	last_payload(fast, sizeof fast);
	ck_assert_str_eq(fast, slow);
}
END_TEST

START_TEST(flat_refuses_more_than_sixteen_fields)
{
	struct events_field f[17];
	char keys[17][4];
	for (int i = 0; i < 17; i++) {
		snprintf(keys[i], sizeof keys[i], "k%d", i);
		f[i] = (struct events_field){keys[i], NULL, i};
	}
	int64_t before = unit_query_int(u.db, "SELECT COUNT(*) FROM events");
	ck_assert_int_eq(events_emit_flat(u.db, "test.fast", "tst_3", f, 17), ERR_INTERNAL);
	ck_assert_int_eq(unit_query_int(u.db, "SELECT COUNT(*) FROM events"), before);
	ck_assert_int_eq(events_emit_flat(u.db, "test.fast", "tst_3", f, 16), ERR_OK);
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *events_suite(void)
{
	Suite *s = suite_create("events");
	TCase *tc = tcase_create("flat");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, flat_payload_is_the_same_text_as_jansson_writes, 0, N(cases));
	tcase_add_test(tc, flat_payload_too_long_for_the_buffer_goes_through_jansson);
	tcase_add_test(tc, flat_refuses_more_than_sixteen_fields);
	suite_add_tcase(s, tc);
	return s;
}

int main(void) { return unit_run(events_suite()); }
