/* core/events: events_emit_flat writes the same payload text as events_emit;
 * events_purge deletes old events in batches, keeping what must stay. */
#include <check.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
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

/* ---- retention ---- */

#define DAY 86400
#define T0 1800000000LL

/* `n` events of `type` at test-clock time `at`. */
static void emit_at(int64_t at, const char *type, int n)
{
	ck_assert_int_eq(clock_set(at), ERR_OK);
	for (int i = 0; i < n; i++)
		ck_assert_int_eq(events_emit(u.db, type, "tst_1", NULL), ERR_OK);
}

static int64_t count_where(const char *where)
{
	char sql[256];
	snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM events WHERE %s", where);
	return unit_query_int(u.db, sql);
}

static void retention_setup(void)
{
	setup();
	clock_use_test(T0);
	ck_assert_int_eq(unit_query_int(u.db, "SELECT COUNT(*) FROM events"), 0);
}

START_TEST(purge_deletes_old_events_in_batches_and_keeps_newer_ones)
{
	emit_at(T0, "test.old", 10);
	emit_at(T0 + 5 * DAY, "test.new", 4);
	int64_t deleted = 0;
	/* Batches of 3: four transactions for the ten old events. */
	ck_assert_int_eq(events_purge(u.db, T0 + DAY, 3, &deleted), ERR_OK);
	ck_assert_int_eq(deleted, 10);
	ck_assert_int_eq(count_where("type = 'test.old'"), 0);
	ck_assert_int_eq(count_where("type = 'test.new'"), 4);
	/* Again: nothing is old any more. */
	deleted = 0;
	ck_assert_int_eq(events_purge(u.db, T0 + DAY, 3, &deleted), ERR_OK);
	ck_assert_int_eq(deleted, 0);
	ck_assert_int_eq(count_where("1"), 4);
}
END_TEST

START_TEST(purge_keeps_erasures_and_gets_past_them)
{
	/* Erasures first, more of them than a batch, then old events. */
	emit_at(T0, "account.erased", 5);
	emit_at(T0 + 1, "test.old", 7);
	emit_at(T0 + 2, "account.erased", 1);
	emit_at(T0 + 9 * DAY, "test.new", 1);
	int64_t deleted = 0;
	ck_assert_int_eq(events_purge(u.db, T0 + DAY, 2, &deleted), ERR_OK);
	ck_assert_int_eq(deleted, 7);
	ck_assert_int_eq(count_where("type = 'account.erased'"), 6);
	ck_assert_int_eq(count_where("type = 'test.old'"), 0);
	ck_assert_int_eq(count_where("type = 'test.new'"), 1);
}
END_TEST

START_TEST(purge_keeps_the_newest_event_so_ids_are_never_reused)
{
	emit_at(T0, "test.old", 5);
	int64_t newest = unit_query_int(u.db, "SELECT max(id) FROM events");
	int64_t deleted = 0;
	/* Every event is older than the cutoff: all go but the newest. */
	ck_assert_int_eq(events_purge(u.db, T0 + 100 * DAY, 100, &deleted), ERR_OK);
	ck_assert_int_eq(deleted, 4);
	ck_assert_int_eq(unit_query_int(u.db, "SELECT COUNT(*) FROM events"), 1);
	ck_assert_int_eq(unit_query_int(u.db, "SELECT id FROM events"), newest);
	/* So the next event's id follows it, and a feed reader at `newest` sees it. */
	emit_at(T0 + 100 * DAY, "test.next", 1);
	ck_assert_int_eq(unit_query_int(u.db, "SELECT max(id) FROM events"), newest + 1);
	json_t *page = NULL;
	int64_t next = 0;
	ck_assert_int_eq(events_list(u.db, newest, NULL, 10, &page, &next), ERR_OK);
	ck_assert_int_eq((int64_t)json_array_size(page), 1);
	ck_assert_int_eq(next, newest + 1);
	json_decref(page);
}
END_TEST

START_TEST(purge_stops_at_the_first_newer_event)
{
	/* An old event after a newer one (a clock step back) waits for the
	 * purge that passes the newer one: the purge never scans past it. */
	emit_at(T0, "test.old", 2);
	emit_at(T0 + 10 * DAY, "test.new", 1);
	ck_assert_int_eq(db_exec(u.db, "INSERT INTO events (type, subject, payload, created_at)"
				       " VALUES ('test.late', 'tst_1', '{}', 1800000000)"),
			 ERR_OK);
	emit_at(T0 + 10 * DAY, "test.new", 1);
	int64_t deleted = 0;
	ck_assert_int_eq(events_purge(u.db, T0 + DAY, 100, &deleted), ERR_OK);
	ck_assert_int_eq(deleted, 2);
	ck_assert_int_eq(count_where("type = 'test.late'"), 1);
}
END_TEST

START_TEST(retention_purges_once_an_hour_of_the_clock)
{
	emit_at(T0, "test.old", 3);
	emit_at(T0 + 20 * DAY, "test.mid", 2);
	emit_at(T0 + 40 * DAY, "test.new", 1);
	/* Keep 30 days: the thread is started, but the tick is called here. */
	ck_assert_int_eq(events_retention_start(30, 3600000), ERR_OK);
	int64_t gone = -1;
	ck_assert_int_eq(events_retention_tick(u.db, &gone), ERR_OK);
	ck_assert_int_eq(gone, 3);
	ck_assert_int_eq(count_where("1"), 3);
	/* 55 days on, the 20-day events are past 30 days: the next tick
	 * (over an hour after the first) deletes them... */
	emit_at(T0 + 55 * DAY - 3600, "test.filler", 1);
	ck_assert_int_eq(clock_set(T0 + 55 * DAY - 1), ERR_OK);
	ck_assert_int_eq(events_retention_tick(u.db, &gone), ERR_OK);
	ck_assert_int_eq(gone, 2);
	/* ...at 70 days the 40-day one goes... */
	emit_at(T0 + 70 * DAY + 10, "test.later", 1);
	ck_assert_int_eq(events_retention_tick(u.db, &gone), ERR_OK);
	ck_assert_int_eq(gone, 1);
	/* ...and within the hour after a purge nothing runs, even when an
	 * event has become due meanwhile (the filler, at 85 days less an hour). */
	int64_t quiet = T0 + 85 * DAY - 3600 - 600;
	ck_assert_int_eq(clock_set(quiet), ERR_OK);
	ck_assert_int_eq(events_retention_tick(u.db, &gone), ERR_OK);
	ck_assert_int_eq(gone, 0); /* a purge: nothing was due yet */
	ck_assert_int_eq(clock_set(quiet + 1200), ERR_OK);
	ck_assert_int_eq(events_retention_tick(u.db, &gone), ERR_OK);
	ck_assert_int_eq(gone, 0); /* due, but within the hour */
	ck_assert_int_eq(clock_set(quiet + 3600), ERR_OK);
	ck_assert_int_eq(events_retention_tick(u.db, &gone), ERR_OK);
	ck_assert_int_eq(gone, 1);
	ck_assert_int_eq(count_where("type = 'test.mid' OR type = 'test.new' OR type = 'test.filler'"), 0);
	ck_assert_int_eq(count_where("1"), 1); /* the later one */
	events_retention_stop();
	/* 0 keeps everything: no purge however old. */
	ck_assert_int_eq(events_retention_start(0, 1000), ERR_OK);
	emit_at(T0 + 100 * DAY, "test.kept", 1);
	ck_assert_int_eq(clock_set(T0 + 900 * DAY), ERR_OK);
	ck_assert_int_eq(events_retention_tick(u.db, &gone), ERR_OK);
	ck_assert_int_eq(gone, 0);
	ck_assert_int_eq(count_where("1"), 2);
	events_retention_stop();
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
	tc = tcase_create("retention");
	tcase_add_checked_fixture(tc, retention_setup, teardown);
	tcase_add_test(tc, purge_deletes_old_events_in_batches_and_keeps_newer_ones);
	tcase_add_test(tc, purge_keeps_erasures_and_gets_past_them);
	tcase_add_test(tc, purge_keeps_the_newest_event_so_ids_are_never_reused);
	tcase_add_test(tc, purge_stops_at_the_first_newer_event);
	tcase_add_test(tc, retention_purges_once_an_hour_of_the_clock);
	suite_add_tcase(s, tc);
	return s;
}

int main(void) { return unit_run(events_suite()); }
