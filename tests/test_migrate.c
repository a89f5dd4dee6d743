/* core/migrate and core/events: embedded migrations, applied once, in order;
 * events written in the caller's transaction. */
#include <check.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/db.h"
#include "core/events.h"
#include "core/log.h"
#include "core/migrate.h"
#include "tests/unit.h"

static struct unit_db u;

static void setup(void) { unit_db_open(&u); }
static void teardown(void) { unit_db_close(&u); }

static int latest_version(void)
{
	return migrate_embedded_count ? migrate_embedded[migrate_embedded_count - 1].version : 0;
}

/* The database's tables, indexes and triggers, with their SQL, as one string
 * (caller frees): what "nothing changed" is judged by. */
static char *schema_snapshot(struct db *db)
{
	struct db_stmt *st = NULL;
	json_t *all = json_array();
	bool row = false;
	ck_assert_int_eq(db_prepare(db, "SELECT type, name, COALESCE(sql, '') FROM sqlite_master"
					" ORDER BY type, name", &st),
			 ERR_OK);
	while (db_step(st, &row) == ERR_OK && row)
		json_array_append_new(all, json_pack("[sss]", db_column_text(st, 0),
						     db_column_text(st, 1), db_column_text(st, 2)));
	db_done(st);
	char *s = json_dumps(all, JSON_COMPACT);
	json_decref(all);
	ck_assert_ptr_nonnull(s);
	return s;
}

START_TEST(embedded_migrations_are_sorted_named_and_start_at_one)
{
	ck_assert_uint_gt(migrate_embedded_count, 0);
	ck_assert_int_eq(migrate_embedded[0].version, 1);
	ck_assert_str_eq(migrate_embedded[0].name, "0001_foundation");
	for (size_t i = 0; i < migrate_embedded_count; i++) {
		const struct migration *m = &migrate_embedded[i];
		char prefix[16];
		int n = snprintf(prefix, sizeof prefix, "%04d_", m->version);
		ck_assert(n > 0 && (size_t)n < sizeof prefix);
		ck_assert_msg(strncmp(m->name, prefix, strlen(prefix)) == 0, "%s is not version %d",
			      m->name, m->version);
		ck_assert_msg(m->sql && m->sql[0], "%s is empty", m->name);
		if (i > 0)
			ck_assert_int_gt(m->version, migrate_embedded[i - 1].version);
	}
}
END_TEST

START_TEST(status_of_an_empty_database_is_zero_with_all_pending)
{
	struct migrate_status ms = {-1, -1, -1};
	ck_assert_int_eq(migrate_status(u.db, &ms), ERR_OK);
	ck_assert_int_eq(ms.current, 0);
	ck_assert_int_eq(ms.latest, latest_version());
	ck_assert_int_eq(ms.pending, (int)migrate_embedded_count);
	ck_assert(!db_has_table(u.db, "schema_migrations")); /* status only reads */
}
END_TEST

START_TEST(fresh_database_gets_every_migration)
{
	int applied = -1;
	clock_use_test(1795303727);
	ck_assert_int_eq(migrate_apply(u.db, &applied), ERR_OK);
	ck_assert_int_eq(applied, (int)migrate_embedded_count);

	struct migrate_status ms = {-1, -1, -1};
	ck_assert_int_eq(migrate_status(u.db, &ms), ERR_OK);
	ck_assert_int_eq(ms.current, latest_version());
	ck_assert_int_eq(ms.latest, latest_version());
	ck_assert_int_eq(ms.pending, 0);

	/* One schema_migrations row per embedded migration, named and timed. */
	ck_assert_int_eq(unit_query_int(u.db, "SELECT COUNT(*) FROM schema_migrations"),
			 (int64_t)migrate_embedded_count);
	struct db_stmt *st = NULL;
	ck_assert_int_eq(db_prepare(u.db, "SELECT version, name, applied_at FROM schema_migrations"
					  " ORDER BY version", &st),
			 ERR_OK);
	for (size_t i = 0; i < migrate_embedded_count; i++) {
		ck_assert_int_eq(db_step_row(st), ERR_OK);
		ck_assert_int_eq(db_column_int64(st, 0), migrate_embedded[i].version);
		ck_assert_str_eq(db_column_text(st, 1), migrate_embedded[i].name);
		ck_assert_int_eq(db_column_int64(st, 2), 1795303727);
	}
	ck_assert_int_eq(db_step_row(st), ERR_NOT_FOUND);
	db_done(st);
	ck_assert(db_has_table(u.db, "events"));
}
END_TEST

START_TEST(applied_may_be_null)
{
	ck_assert_int_eq(migrate_apply(u.db, NULL), ERR_OK);
	ck_assert_int_eq(unit_query_int(u.db, "SELECT MAX(version) FROM schema_migrations"),
			 latest_version());
}
END_TEST

START_TEST(second_run_applies_nothing)
{
	int applied = -1;
	ck_assert_int_eq(migrate_apply(u.db, &applied), ERR_OK);
	char *before = schema_snapshot(u.db);
	int64_t rows = unit_query_int(u.db, "SELECT COUNT(*) FROM schema_migrations");

	ck_assert_int_eq(migrate_apply(u.db, &applied), ERR_OK);
	ck_assert_int_eq(applied, 0);
	char *after = schema_snapshot(u.db);
	ck_assert_str_eq(after, before);
	ck_assert_int_eq(unit_query_int(u.db, "SELECT COUNT(*) FROM schema_migrations"), rows);

	/* A second connection (another process, say) sees nothing pending either. */
	struct db *other = unit_db_connect(u.path, 1000);
	ck_assert_int_eq(migrate_apply(other, &applied), ERR_OK);
	ck_assert_int_eq(applied, 0);
	db_close(other);
	free(before);
	free(after);
}
END_TEST

START_TEST(newer_schema_than_binary_is_refused_after_migrating)
{
	ck_assert_int_eq(migrate_apply(u.db, NULL), ERR_OK);
	struct db_stmt *st = NULL;
	ck_assert_int_eq(db_prepare(u.db, "INSERT INTO schema_migrations (version, name, applied_at)"
					  " VALUES (?1, 'from_the_future', 0)", &st),
			 ERR_OK);
	db_bind_int64(st, 1, latest_version() + 1);
	ck_assert_int_eq(db_step_done(st), ERR_OK);
	db_done(st);
	char *before = schema_snapshot(u.db);

	int applied = -1;
	ck_assert_int_eq(migrate_apply(u.db, &applied), ERR_SCHEMA_TOO_NEW);
	ck_assert_int_eq(applied, 0);
	char *after = schema_snapshot(u.db);
	ck_assert_str_eq(after, before);
	ck_assert_int_eq(unit_query_int(u.db, "SELECT COUNT(*) FROM schema_migrations"),
			 (int64_t)migrate_embedded_count + 1);

	struct migrate_status ms;
	ck_assert_int_eq(migrate_status(u.db, &ms), ERR_OK);
	ck_assert_int_eq(ms.current, latest_version() + 1);
	ck_assert_int_eq(ms.pending, 0);
	free(before);
	free(after);
}
END_TEST

START_TEST(newer_schema_on_a_bare_ledger_creates_nothing)
{
	/* Only the ledger exists, recording a version this binary does not know:
	 * not even migration 0001 may run. */
	struct db_stmt *st = NULL;
	ck_assert_int_eq(db_exec(u.db, "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY,"
				       " name TEXT NOT NULL, applied_at INTEGER NOT NULL)"),
			 ERR_OK);
	ck_assert_int_eq(db_prepare(u.db, "INSERT INTO schema_migrations (version, name, applied_at)"
					  " VALUES (?1, 'from_the_future', 0)", &st),
			 ERR_OK);
	db_bind_int64(st, 1, latest_version() + 1);
	ck_assert_int_eq(db_step_done(st), ERR_OK);
	db_done(st);
	char *before = schema_snapshot(u.db);
	int applied = -1;
	ck_assert_int_eq(migrate_apply(u.db, &applied), ERR_SCHEMA_TOO_NEW);
	ck_assert_int_eq(applied, 0);
	char *after = schema_snapshot(u.db);
	ck_assert_str_eq(after, before);
	ck_assert(!db_has_table(u.db, "events"));
	ck_assert_int_eq(unit_query_int(u.db, "SELECT COUNT(*) FROM schema_migrations"), 1);
	free(before);
	free(after);
}
END_TEST

/* --- events ------------------------------------------------------------------ */

struct emit_ctx {
	const char *type;
	const char *subject;
	json_t *payload; /* stolen by events_emit */
	enum err result;
};

static enum err emit_fn(struct db *db, void *arg)
{
	struct emit_ctx *c = arg;
	enum err e = events_emit(db, c->type, c->subject, c->payload);
	c->payload = NULL;
	if (e != ERR_OK)
		return e;
	return c->result;
}

static void migrated_setup(void)
{
	unit_db_open(&u);
	ck_assert_int_eq(migrate_apply(u.db, NULL), ERR_OK);
	clock_use_test(1795303727);
	log_set_request_id(NULL);
}

START_TEST(emit_writes_type_subject_payload_request_id_and_time)
{
	log_set_request_id("req_7f3a");
	ck_assert_int_eq(clock_advance(13), ERR_OK);
	struct emit_ctx c = {"subscription.created", "sub_0123456789abcdefghjkmnpq",
			     json_pack("{s:s, s:{s:i, s:s}, s:b}", "plan", "standard", "price",
				       "amount", 1799, "currency", "USD", "trial", 0),
			     ERR_OK};
	ck_assert_ptr_nonnull(c.payload);
	ck_assert_int_eq(db_transaction(u.db, emit_fn, &c), ERR_OK);

	struct db_stmt *st = NULL;
	ck_assert_int_eq(db_prepare(u.db, "SELECT id, type, subject, payload, request_id, created_at"
					  " FROM events", &st),
			 ERR_OK);
	ck_assert_int_eq(db_step_row(st), ERR_OK);
	ck_assert_int_gt(db_column_int64(st, 0), 0);
	ck_assert_str_eq(db_column_text(st, 1), "subscription.created");
	ck_assert_str_eq(db_column_text(st, 2), "sub_0123456789abcdefghjkmnpq");
	json_error_t jerr;
	json_t *payload = json_loads(db_column_text(st, 3), 0, &jerr);
	ck_assert_msg(payload != NULL, "payload is not JSON: %s", jerr.text);
	ck_assert_str_eq(json_string_value(json_object_get(payload, "plan")), "standard");
	json_t *price = json_object_get(payload, "price");
	ck_assert_int_eq(json_integer_value(json_object_get(price, "amount")), 1799);
	ck_assert_str_eq(json_string_value(json_object_get(price, "currency")), "USD");
	ck_assert(json_is_false(json_object_get(payload, "trial")));
	json_decref(payload);
	ck_assert_str_eq(db_column_text(st, 4), "req_7f3a");
	ck_assert_int_eq(db_column_int64(st, 5), 1795303727 + 13);
	ck_assert_int_eq(db_step_row(st), ERR_NOT_FOUND);
	db_done(st);
}
END_TEST

START_TEST(emit_without_payload_or_request_id_writes_empty_object_and_null)
{
	struct emit_ctx c = {"account.created", "acc_0123456789abcdefghjkmnpq", NULL, ERR_OK};
	ck_assert_int_eq(db_transaction(u.db, emit_fn, &c), ERR_OK);
	char buf[64];
	ck_assert_str_eq(unit_query_text(u.db, "SELECT payload FROM events", buf, sizeof buf), "{}");
	ck_assert_int_eq(unit_query_int(u.db, "SELECT request_id IS NULL FROM events"), 1);
	ck_assert_int_eq(unit_query_int(u.db, "SELECT created_at FROM events"), 1795303727);
}
END_TEST

START_TEST(emit_is_rolled_back_with_its_transaction)
{
	log_set_request_id("req_rollback");
	struct emit_ctx c = {"account.created", "acc_0123456789abcdefghjkmnpq",
			     json_pack("{s:s}", "email", "a@example.com"), ERR_VALIDATION};
	ck_assert_int_eq(db_transaction(u.db, emit_fn, &c), ERR_VALIDATION);
	ck_assert_int_eq(unit_query_int(u.db, "SELECT COUNT(*) FROM events"), 0);
}
END_TEST

START_TEST(event_ids_increase_in_emit_order)
{
	static const char *const types[] = {"a.one", "a.two", "a.three"};
	for (size_t i = 0; i < 3; i++) {
		struct emit_ctx c = {types[i], "acc_x", json_pack("{s:I}", "n", (json_int_t)i), ERR_OK};
		ck_assert_int_eq(db_transaction(u.db, emit_fn, &c), ERR_OK);
		ck_assert_int_eq(clock_advance(1), ERR_OK);
	}
	struct db_stmt *st = NULL;
	int64_t last_id = 0;
	ck_assert_int_eq(db_prepare(u.db, "SELECT id, type, created_at FROM events ORDER BY id", &st),
			 ERR_OK);
	for (size_t i = 0; i < 3; i++) {
		ck_assert_int_eq(db_step_row(st), ERR_OK);
		ck_assert_int_gt(db_column_int64(st, 0), last_id);
		last_id = db_column_int64(st, 0);
		ck_assert_str_eq(db_column_text(st, 1), types[i]);
		ck_assert_int_eq(db_column_int64(st, 2), 1795303727 + (int64_t)i);
	}
	db_done(st);
}
END_TEST

static Suite *migrate_suite(void)
{
	Suite *s = suite_create("migrate");
	TCase *tc = tcase_create("migrations");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, embedded_migrations_are_sorted_named_and_start_at_one);
	tcase_add_test(tc, status_of_an_empty_database_is_zero_with_all_pending);
	tcase_add_test(tc, fresh_database_gets_every_migration);
	tcase_add_test(tc, applied_may_be_null);
	tcase_add_test(tc, second_run_applies_nothing);
	tcase_add_test(tc, newer_schema_than_binary_is_refused_after_migrating);
	tcase_add_test(tc, newer_schema_on_a_bare_ledger_creates_nothing);
	suite_add_tcase(s, tc);

	tc = tcase_create("events");
	tcase_add_checked_fixture(tc, migrated_setup, teardown);
	tcase_add_test(tc, emit_writes_type_subject_payload_request_id_and_time);
	tcase_add_test(tc, emit_without_payload_or_request_id_writes_empty_object_and_null);
	tcase_add_test(tc, emit_is_rolled_back_with_its_transaction);
	tcase_add_test(tc, event_ids_increase_in_emit_order);
	suite_add_tcase(s, tc);
	return s;
}

int main(void) { return unit_run(migrate_suite()); }
