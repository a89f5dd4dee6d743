/* core/db: pragmas, the statement cache, errors, transactions and busy retries. */
#include <check.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/db.h"
#include "tests/unit.h"

static struct unit_db u;

static void setup(void)
{
	unit_db_open(&u);
	ck_assert_int_eq(db_exec(u.db, "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE,"
				       " v INTEGER, b BLOB)"),
			 ERR_OK);
}

static void teardown(void) { unit_db_close(&u); }

static void ms_sleep(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static enum err insert_row(struct db *db, int64_t id, const char *name, int64_t v)
{
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db, "INSERT INTO t (id, name, v) VALUES (?1, ?2, ?3)", &st);
	if (e != ERR_OK)
		return e;
	db_bind_int64(st, 1, id);
	db_bind_text(st, 2, name);
	db_bind_int64(st, 3, v);
	e = db_step_done(st);
	db_done(st);
	return e;
}

static int64_t count_rows(struct db *db, const char *table_sql)
{
	return unit_query_int(db, table_sql);
}

/* --- opening ------------------------------------------------------------ */

START_TEST(options_have_documented_defaults)
{
	struct db_options o;
	enum db_sync sync = DB_SYNC_NORMAL;
	db_options_init(&o);
	ck_assert_str_eq(o.path, "./hearth.db");
	ck_assert_int_eq(o.sync, DB_SYNC_FULL);
	ck_assert_int_eq(o.busy_timeout_ms, 5000);
	ck_assert_int_eq(o.checkpoint_ms, 0);
	ck_assert_int_eq(db_parse_sync("full", &sync), 0);
	ck_assert_int_eq(sync, DB_SYNC_FULL);
	ck_assert_int_eq(db_parse_sync("normal", &sync), 0);
	ck_assert_int_eq(sync, DB_SYNC_NORMAL);
	ck_assert_int_eq(db_parse_sync("FULL", &sync), -1);
	ck_assert_int_eq(db_parse_sync("off", &sync), -1);
	ck_assert_int_eq(db_parse_sync("", &sync), -1);
	ck_assert_int_eq(sync, DB_SYNC_NORMAL);
}
END_TEST

START_TEST(open_sets_wal_foreign_keys_full_sync_and_busy_timeout)
{
	char buf[32];
	ck_assert_str_eq(unit_query_text(u.db, "PRAGMA journal_mode", buf, sizeof buf), "wal");
	ck_assert_int_eq(unit_query_int(u.db, "PRAGMA foreign_keys"), 1);
	ck_assert_int_eq(unit_query_int(u.db, "PRAGMA synchronous"), 2); /* FULL */
	ck_assert_int_eq(unit_query_int(u.db, "PRAGMA busy_timeout"), 5000);
}
END_TEST

START_TEST(open_with_normal_sync_sets_synchronous_normal)
{
	struct db_options o;
	struct db *db = NULL;
	db_options_init(&o);
	o.path = u.path;
	o.sync = DB_SYNC_NORMAL;
	o.busy_timeout_ms = 250;
	ck_assert_int_eq(db_open(&o, &db), ERR_OK);
	ck_assert_int_eq(unit_query_int(db, "PRAGMA synchronous"), 1); /* NORMAL */
	ck_assert_int_eq(unit_query_int(db, "PRAGMA busy_timeout"), 250);
	ck_assert_int_eq(unit_query_int(db, "PRAGMA foreign_keys"), 1);
	db_close(db);
}
END_TEST

START_TEST(open_of_unreachable_path_fails)
{
	struct db_options o;
	struct db *db = NULL;
	db_options_init(&o);
	o.path = "/nonexistent-hearth-dir/sub/hearth.db";
	ck_assert_int_eq(db_open(&o, &db), ERR_DB);
	ck_assert_ptr_null(db);
	db_close(NULL); /* ignored */
}
END_TEST

START_TEST(driver_version_names_sqlite)
{
	const char *v = db_driver_version();
	ck_assert_int_eq(strncmp(v, "sqlite 3.", 9), 0);
	ck_assert_ptr_eq(db_driver_version(), v);
}
END_TEST

/* --- statements ----------------------------------------------------------- */

START_TEST(cache_returns_the_same_working_statement)
{
	static const char *sql = "SELECT ?1 + 1";
	struct db_stmt *first = NULL, *st = NULL;
	for (int64_t i = 0; i < 5; i++) {
		ck_assert_int_eq(db_prepare(u.db, sql, &st), ERR_OK);
		if (i == 0)
			first = st;
		ck_assert_ptr_eq(st, first);
		db_bind_int64(st, 1, i * 10);
		ck_assert_int_eq(db_step_row(st), ERR_OK);
		ck_assert_int_eq(db_column_int64(st, 0), i * 10 + 1);
		db_done(st);
	}
}
END_TEST

START_TEST(done_clears_bindings)
{
	struct db_stmt *st = NULL;
	ck_assert_int_eq(db_prepare(u.db, "SELECT ?1", &st), ERR_OK);
	db_bind_int64(st, 1, 7);
	ck_assert_int_eq(db_step_row(st), ERR_OK);
	db_done(st);
	ck_assert_int_eq(db_prepare(u.db, "SELECT ?1", &st), ERR_OK);
	ck_assert_int_eq(db_step_row(st), ERR_OK);
	ck_assert(db_column_is_null(st, 0));
	db_done(st);
	db_done(NULL); /* ignored */
}
END_TEST

START_TEST(nested_use_of_the_same_sql_gets_a_private_statement)
{
	static const char *sql = "SELECT id, v FROM t WHERE id >= ?1 ORDER BY id";
	struct db_stmt *outer = NULL, *inner = NULL, *again = NULL;
	for (int64_t i = 1; i <= 3; i++)
		ck_assert_int_eq(insert_row(u.db, i, NULL, i * 100), ERR_OK);

	ck_assert_int_eq(db_prepare(u.db, sql, &outer), ERR_OK);
	db_bind_int64(outer, 1, 1);
	ck_assert_int_eq(db_step_row(outer), ERR_OK);
	ck_assert_int_eq(db_column_int64(outer, 0), 1);

	/* While `outer` is mid-iteration, the same SQL must not hand it out again. */
	ck_assert_int_eq(db_prepare(u.db, sql, &inner), ERR_OK);
	ck_assert_ptr_ne(inner, outer);
	db_bind_int64(inner, 1, 2);
	int64_t seen = 0;
	bool row = false;
	while (db_step(inner, &row) == ERR_OK && row)
		seen += db_column_int64(inner, 1);
	ck_assert_int_eq(seen, 200 + 300);
	db_done(inner);

	/* The outer iteration is undisturbed. */
	ck_assert_int_eq(db_step_row(outer), ERR_OK);
	ck_assert_int_eq(db_column_int64(outer, 0), 2);
	ck_assert_int_eq(db_step_row(outer), ERR_OK);
	ck_assert_int_eq(db_column_int64(outer, 0), 3);
	ck_assert_int_eq(db_step_row(outer), ERR_NOT_FOUND);
	db_done(outer);

	ck_assert_int_eq(db_prepare(u.db, sql, &again), ERR_OK);
	ck_assert_ptr_eq(again, outer);
	db_done(again);
}
END_TEST

START_TEST(more_distinct_statements_than_cache_slots_all_work)
{
	char sql[64];
	for (int64_t i = 0; i < 600; i++) {
		struct db_stmt *st = NULL;
		int n = snprintf(sql, sizeof sql, "SELECT %lld + ?1", (long long)i);
		ck_assert(n > 0 && (size_t)n < sizeof sql);
		ck_assert_int_eq(db_prepare(u.db, sql, &st), ERR_OK);
		db_bind_int64(st, 1, 1);
		ck_assert_int_eq(db_step_row(st), ERR_OK);
		ck_assert_int_eq(db_column_int64(st, 0), i + 1);
		db_done(st);
	}
	/* Early ones are still served (from the cache or freshly). */
	struct db_stmt *st = NULL;
	ck_assert_int_eq(db_prepare(u.db, "SELECT 0 + ?1", &st), ERR_OK);
	db_bind_int64(st, 1, 41);
	ck_assert_int_eq(db_step_row(st), ERR_OK);
	ck_assert_int_eq(db_column_int64(st, 0), 41);
	db_done(st);
}
END_TEST

START_TEST(bad_sql_is_err_db)
{
	struct db_stmt *st = NULL;
	ck_assert_int_eq(db_prepare(u.db, "SELEKT nonsense", &st), ERR_DB);
	ck_assert_ptr_null(st);
	ck_assert_int_eq(db_prepare(u.db, "SELECT nope FROM missing_table", &st), ERR_DB);
	ck_assert_int_eq(db_exec(u.db, "CREATE TABLE"), ERR_DB);
	ck_assert_ptr_nonnull(db_errmsg(u.db));
}
END_TEST

START_TEST(columns_round_trip_text_int_blob_and_null)
{
	static const unsigned char blob[] = {0, 1, 2, 0xfe, 0xff, 0};
	struct db_stmt *st = NULL;
	ck_assert_int_eq(db_prepare(u.db, "INSERT INTO t (id, name, v, b) VALUES (?1, ?2, ?3, ?4)", &st),
			 ERR_OK);
	db_bind_int64(st, 1, 1);
	db_bind_text(st, 2, "zoë");
	db_bind_int64(st, 3, INT64_MIN);
	db_bind_blob(st, 4, blob, sizeof blob);
	ck_assert_int_eq(db_step_done(st), ERR_OK);
	db_done(st);
	ck_assert_int_eq(db_prepare(u.db, "INSERT INTO t (id, name, v, b) VALUES (?1, ?2, ?3, ?4)", &st),
			 ERR_OK);
	db_bind_int64(st, 1, 2);
	db_bind_text(st, 2, NULL);
	db_bind_null(st, 3);
	db_bind_null(st, 4);
	ck_assert_int_eq(db_step_done(st), ERR_OK);
	db_done(st);

	ck_assert_int_eq(db_prepare(u.db, "SELECT name, v, b FROM t ORDER BY id", &st), ERR_OK);
	ck_assert_int_eq(db_step_row(st), ERR_OK);
	ck_assert_str_eq(db_column_text(st, 0), "zoë");
	ck_assert_int_eq(db_column_int64(st, 1), INT64_MIN);
	size_t len = 0;
	const void *p = db_column_blob(st, 2, &len);
	ck_assert_uint_eq(len, sizeof blob);
	ck_assert_int_eq(memcmp(p, blob, sizeof blob), 0);
	ck_assert(!db_column_is_null(st, 0));
	ck_assert_int_eq(db_step_row(st), ERR_OK);
	ck_assert_ptr_null(db_column_text(st, 0));
	ck_assert(db_column_is_null(st, 0));
	ck_assert(db_column_is_null(st, 1));
	ck_assert(db_column_is_null(st, 2));
	ck_assert_int_eq(db_step_row(st), ERR_NOT_FOUND);
	db_done(st);
}
END_TEST

START_TEST(has_table_and_changes)
{
	ck_assert(db_has_table(u.db, "t"));
	ck_assert(!db_has_table(u.db, "nope"));
	ck_assert(!db_has_table(u.db, "T'; DROP TABLE t; --"));
	for (int64_t i = 1; i <= 4; i++)
		ck_assert_int_eq(insert_row(u.db, i, NULL, i), ERR_OK);
	ck_assert_int_eq(db_exec(u.db, "UPDATE t SET v = v + 1 WHERE id <= 3"), ERR_OK);
	ck_assert_int_eq(db_changes(u.db), 3);
	ck_assert(db_has_table(u.db, "t"));
}
END_TEST

/* --- constraint errors ------------------------------------------------------ */

START_TEST(unique_violation_is_conflict_and_changes_nothing)
{
	ck_assert_int_eq(insert_row(u.db, 1, "alice", 1), ERR_OK);
	ck_assert_int_eq(insert_row(u.db, 2, "alice", 2), ERR_CONFLICT);
	ck_assert_int_eq(insert_row(u.db, 1, "bob", 3), ERR_CONFLICT); /* primary key */
	ck_assert_int_eq(count_rows(u.db, "SELECT COUNT(*) FROM t"), 1);
	ck_assert_int_eq(unit_query_int(u.db, "SELECT v FROM t WHERE id = 1"), 1);
	/* The statement that failed is reusable. */
	ck_assert_int_eq(insert_row(u.db, 2, "bob", 2), ERR_OK);
	ck_assert_int_eq(count_rows(u.db, "SELECT COUNT(*) FROM t"), 2);
}
END_TEST

START_TEST(not_null_violation_is_err_db_not_conflict)
{
	ck_assert_int_eq(db_exec(u.db, "CREATE TABLE nn (x TEXT NOT NULL)"), ERR_OK);
	struct db_stmt *st = NULL;
	ck_assert_int_eq(db_prepare(u.db, "INSERT INTO nn (x) VALUES (?1)", &st), ERR_OK);
	db_bind_null(st, 1);
	ck_assert_int_eq(db_step_done(st), ERR_DB);
	db_done(st);
	ck_assert_int_eq(count_rows(u.db, "SELECT COUNT(*) FROM nn"), 0);
}
END_TEST

START_TEST(foreign_keys_are_enforced)
{
	ck_assert_int_eq(db_exec(u.db, "CREATE TABLE parent (id TEXT PRIMARY KEY);"
				       "CREATE TABLE child (id TEXT PRIMARY KEY,"
				       " parent_id TEXT NOT NULL REFERENCES parent (id));"),
			 ERR_OK);
	struct db_stmt *st = NULL;
	ck_assert_int_eq(db_prepare(u.db, "INSERT INTO child (id, parent_id) VALUES (?1, ?2)", &st),
			 ERR_OK);
	db_bind_text(st, 1, "c1");
	db_bind_text(st, 2, "p_missing");
	ck_assert_int_eq(db_step_done(st), ERR_DB);
	db_done(st);
	ck_assert_int_eq(count_rows(u.db, "SELECT COUNT(*) FROM child"), 0);

	ck_assert_int_eq(db_exec(u.db, "INSERT INTO parent (id) VALUES ('p1')"), ERR_OK);
	ck_assert_int_eq(db_prepare(u.db, "INSERT INTO child (id, parent_id) VALUES (?1, ?2)", &st),
			 ERR_OK);
	db_bind_text(st, 1, "c1");
	db_bind_text(st, 2, "p1");
	ck_assert_int_eq(db_step_done(st), ERR_OK);
	db_done(st);

	/* A parent with children cannot be deleted. */
	ck_assert_int_ne(db_exec(u.db, "DELETE FROM parent WHERE id = 'p1'"), ERR_OK);
	ck_assert_int_eq(count_rows(u.db, "SELECT COUNT(*) FROM parent"), 1);
}
END_TEST

/* --- transactions ----------------------------------------------------------- */

struct tx_ctx {
	int calls;
	int rows;		/* rows to insert */
	int64_t first_id;
	enum err result;	/* what fn returns after inserting */
};

static enum err insert_rows_fn(struct db *db, void *arg)
{
	struct tx_ctx *c = arg;
	c->calls++;
	for (int i = 0; i < c->rows; i++) {
		enum err e = insert_row(db, c->first_id + i, NULL, i);
		if (e != ERR_OK)
			return e;
	}
	return c->result;
}

START_TEST(transaction_commits_when_fn_succeeds)
{
	struct tx_ctx c = {0, 3, 1, ERR_OK};
	ck_assert_int_eq(db_transaction(u.db, insert_rows_fn, &c), ERR_OK);
	ck_assert_int_eq(c.calls, 1);
	ck_assert_int_eq(count_rows(u.db, "SELECT COUNT(*) FROM t"), 3);

	/* Committed means visible to another connection. */
	struct db *other = unit_db_connect(u.path, 1000);
	ck_assert_int_eq(count_rows(other, "SELECT COUNT(*) FROM t"), 3);
	db_close(other);
}
END_TEST

static const enum err fn_failures[] = {ERR_VALIDATION, ERR_NOT_FOUND, ERR_INTERNAL,
				       ERR_INVALID_STATE};

START_TEST(transaction_rolls_back_when_fn_fails)
{
	ck_assert_int_eq(insert_row(u.db, 100, "kept", 1), ERR_OK);
	struct tx_ctx c = {0, 3, 1, fn_failures[_i]};
	ck_assert_int_eq(db_transaction(u.db, insert_rows_fn, &c), fn_failures[_i]);
	ck_assert_int_eq(c.calls, 1); /* only busy is retried */
	ck_assert_int_eq(count_rows(u.db, "SELECT COUNT(*) FROM t"), 1);
	ck_assert_int_eq(count_rows(u.db, "SELECT COUNT(*) FROM t WHERE id < 100"), 0);
	/* The connection is usable afterwards: no transaction is left open. */
	struct tx_ctx ok = {0, 1, 5, ERR_OK};
	ck_assert_int_eq(db_transaction(u.db, insert_rows_fn, &ok), ERR_OK);
	ck_assert_int_eq(count_rows(u.db, "SELECT COUNT(*) FROM t"), 2);
}
END_TEST

START_TEST(transaction_rolls_back_on_a_conflict_midway)
{
	ck_assert_int_eq(insert_row(u.db, 3, NULL, 0), ERR_OK);
	struct tx_ctx c = {0, 5, 1, ERR_OK}; /* ids 1, 2 go in, 3 collides */
	ck_assert_int_eq(db_transaction(u.db, insert_rows_fn, &c), ERR_CONFLICT);
	ck_assert_int_eq(c.calls, 1);
	ck_assert_int_eq(count_rows(u.db, "SELECT COUNT(*) FROM t"), 1);
}
END_TEST

static enum err nested_fn(struct db *db, void *arg)
{
	enum err *inner = arg;
	struct tx_ctx c = {0, 1, 50, ERR_OK};
	*inner = db_transaction(db, insert_rows_fn, &c);
	return insert_row(db, 60, NULL, 0);
}

/* A transaction begun inside another on the same thread is refused at once
 * (it would otherwise wait for itself), and the outer one still commits. */
START_TEST(nested_transaction_is_refused_not_a_hang)
{
	enum err inner = ERR_OK;
	ck_assert_int_eq(db_transaction(u.db, nested_fn, &inner), ERR_OK);
	ck_assert_int_eq(inner, ERR_INTERNAL);
	ck_assert_int_eq(count_rows(u.db, "SELECT COUNT(*) FROM t WHERE id = 50"), 0);
	ck_assert_int_eq(count_rows(u.db, "SELECT COUNT(*) FROM t WHERE id = 60"), 1);
}
END_TEST

START_TEST(begin_rollback_by_hand_leaves_nothing)
{
	ck_assert_int_eq(db_begin(u.db), ERR_OK);
	ck_assert_int_eq(insert_row(u.db, 1, NULL, 1), ERR_OK);
	db_rollback(u.db);
	db_rollback(u.db); /* harmless outside a transaction */
	ck_assert_int_eq(count_rows(u.db, "SELECT COUNT(*) FROM t"), 0);
	ck_assert_int_eq(db_begin(u.db), ERR_OK);
	ck_assert_int_eq(insert_row(u.db, 1, NULL, 1), ERR_OK);
	ck_assert_int_eq(db_commit(u.db), ERR_OK);
	ck_assert_int_eq(count_rows(u.db, "SELECT COUNT(*) FROM t"), 1);
}
END_TEST

struct holder {
	struct db *db;
	long hold_ms;
};

static void *release_later(void *arg)
{
	struct holder *h = arg;
	ms_sleep(h->hold_ms);
	db_rollback(h->db);
	return NULL;
}

START_TEST(transaction_retries_while_another_connection_holds_the_lock)
{
	struct db *holder_db = unit_db_connect(u.path, 5000);
	struct db *waiter = unit_db_connect(u.path, 50);
	ck_assert_int_eq(db_begin(holder_db), ERR_OK); /* BEGIN IMMEDIATE: the write lock */
	ck_assert_int_eq(insert_row(holder_db, 999, "holder", 0), ERR_OK);

	/* A single statement on the waiter gives up after its 50 ms timeout. */
	ck_assert_int_eq(db_begin(waiter), ERR_DB_BUSY);

	uint64_t before = db_busy_retries();
	struct holder h = {holder_db, 100};
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, release_later, &h), 0);
	struct tx_ctx c = {0, 2, 1, ERR_OK};
	enum err e = db_transaction(waiter, insert_rows_fn, &c);
	ck_assert_int_eq(pthread_join(th, NULL), 0);

	ck_assert_int_eq(e, ERR_OK);
	ck_assert_int_eq(c.calls, 1); /* fn runs only once the lock is had */
	ck_assert_uint_gt(db_busy_retries(), before);
	ck_assert_int_eq(count_rows(u.db, "SELECT COUNT(*) FROM t"), 2);
	ck_assert_int_eq(count_rows(u.db, "SELECT COUNT(*) FROM t WHERE id = 999"), 0);
	db_close(waiter);
	db_close(holder_db);
}
END_TEST

START_TEST(transaction_gives_up_busy_when_the_lock_never_frees)
{
	struct db *holder_db = unit_db_connect(u.path, 5000);
	struct db *waiter = unit_db_connect(u.path, 20);
	ck_assert_int_eq(db_begin(holder_db), ERR_OK);
	uint64_t before = db_busy_retries();
	struct tx_ctx c = {0, 1, 1, ERR_OK};
	ck_assert_int_eq(db_transaction(waiter, insert_rows_fn, &c), ERR_DB_BUSY);
	ck_assert_int_eq(c.calls, 0);
	ck_assert_uint_gt(db_busy_retries(), before);
	db_rollback(holder_db);
	/* Once free, the same connection works. */
	ck_assert_int_eq(db_transaction(waiter, insert_rows_fn, &c), ERR_OK);
	ck_assert_int_eq(count_rows(u.db, "SELECT COUNT(*) FROM t"), 1);
	db_close(waiter);
	db_close(holder_db);
}
END_TEST

/* --- deferred commit (one request's writes and its stored reply) ---------------- */

/* Rows committed, as another connection sees them. */
static int64_t committed_rows(const char *sql)
{
	struct db *other = unit_db_connect(u.path, 1000);
	int64_t n = count_rows(other, sql);
	db_close(other);
	return n;
}

/* Arm the thread and write ids 1, 2 and 10 in two transactions: the first
 * stays open, the second is a savepoint inside it. */
static void defer_and_write_twice(void)
{
	struct tx_ctx first = {0, 2, 1, ERR_OK}, second = {0, 1, 10, ERR_OK};
	db_defer_commit();
	ck_assert(!db_deferred_is_open());
	ck_assert_int_eq(db_transaction(u.db, insert_rows_fn, &first), ERR_OK);
	ck_assert(db_deferred_is_open());
	ck_assert_int_eq(db_transaction(u.db, insert_rows_fn, &second), ERR_OK);
}

START_TEST(deferred_commit_keeps_every_transaction_open_until_the_commit)
{
	defer_and_write_twice();
	/* This connection sees its writes; nobody else does yet. */
	ck_assert_int_eq(count_rows(u.db, "SELECT COUNT(*) FROM t"), 3);
	ck_assert_int_eq(committed_rows("SELECT COUNT(*) FROM t"), 0);
	ck_assert_int_eq(insert_row(u.db, 20, "reply", 0), ERR_OK); /* what the caller stores last */
	ck_assert_int_eq(db_deferred_commit(u.db), ERR_OK);
	ck_assert(!db_deferred_is_open());
	ck_assert_int_eq(committed_rows("SELECT COUNT(*) FROM t"), 4);
	/* The mode ended: the next transaction commits on its own. */
	struct tx_ctx after = {0, 1, 30, ERR_OK};
	ck_assert_int_eq(db_transaction(u.db, insert_rows_fn, &after), ERR_OK);
	ck_assert(!db_deferred_is_open());
	ck_assert_int_eq(committed_rows("SELECT COUNT(*) FROM t"), 5);
}
END_TEST

START_TEST(deferred_rollback_leaves_none_of_the_transactions)
{
	struct tx_ctx first = {0, 2, 1, ERR_OK};
	defer_and_write_twice();
	db_deferred_rollback(u.db);
	ck_assert(!db_deferred_is_open());
	ck_assert_int_eq(count_rows(u.db, "SELECT COUNT(*) FROM t"), 0);
	/* Ending a mode that opened nothing is harmless, and so is a commit. */
	db_defer_commit();
	db_deferred_rollback(u.db);
	db_defer_commit();
	ck_assert_int_eq(db_deferred_commit(u.db), ERR_OK);
	ck_assert_int_eq(db_transaction(u.db, insert_rows_fn, &first), ERR_OK);
	ck_assert_int_eq(committed_rows("SELECT COUNT(*) FROM t"), 2);
}
END_TEST

/* A failed transaction inside the deferred one is undone alone; a failed
 * first one leaves the thread armed for the next. */
START_TEST(deferred_failures_roll_back_only_their_own_writes)
{
	struct tx_ctx failing = {0, 2, 50, ERR_VALIDATION}, ok = {0, 1, 1, ERR_OK};
	db_defer_commit();
	ck_assert_int_eq(db_transaction(u.db, insert_rows_fn, &failing), ERR_VALIDATION);
	ck_assert(!db_deferred_is_open());
	ck_assert_int_eq(db_transaction(u.db, insert_rows_fn, &ok), ERR_OK);
	ck_assert(db_deferred_is_open());
	ck_assert_int_eq(db_transaction(u.db, insert_rows_fn, &failing), ERR_VALIDATION);
	struct tx_ctx dup = {0, 1, 1, ERR_OK}; /* id 1 again: a conflict midway */
	ck_assert_int_eq(db_transaction(u.db, insert_rows_fn, &dup), ERR_CONFLICT);
	ck_assert(db_deferred_is_open());
	ck_assert_int_eq(db_deferred_commit(u.db), ERR_OK);
	ck_assert_int_eq(committed_rows("SELECT COUNT(*) FROM t"), 1);
	ck_assert_int_eq(committed_rows("SELECT COUNT(*) FROM t WHERE id = 1"), 1);
}
END_TEST

/* While one thread holds a deferred transaction, another thread's
 * transaction waits for its commit and then sees it. */
struct waiter_ctx {
	const char *path;
	enum err result;
	int64_t seen;
};

static enum err count_then_insert_fn(struct db *db, void *arg)
{
	struct waiter_ctx *w = arg;
	w->seen = count_rows(db, "SELECT COUNT(*) FROM t");
	return insert_row(db, 99, "waiter", 0);
}

static void *write_from_another_thread(void *arg)
{
	struct waiter_ctx *w = arg;
	struct db *db = unit_db_connect(w->path, 5000);
	w->result = db_transaction(db, count_then_insert_fn, w);
	db_close(db);
	return NULL;
}

START_TEST(another_thread_writes_after_the_deferred_commit)
{
	struct tx_ctx first = {0, 2, 1, ERR_OK};
	struct waiter_ctx w = {u.path, ERR_INTERNAL, -1};
	pthread_t th;
	db_defer_commit();
	ck_assert_int_eq(db_transaction(u.db, insert_rows_fn, &first), ERR_OK);
	ck_assert_int_eq(pthread_create(&th, NULL, write_from_another_thread, &w), 0);
	ms_sleep(50); /* give it time to queue behind the held turn (not asserted) */
	ck_assert_int_eq(db_deferred_commit(u.db), ERR_OK);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(w.result, ERR_OK);
	ck_assert_int_eq(w.seen, 2);
	ck_assert_int_eq(count_rows(u.db, "SELECT COUNT(*) FROM t"), 3);
}
END_TEST

/* A process that dies with the deferred transaction open (the crash between
 * a request's effect and the commit of its stored reply) leaves nothing. */
START_TEST(a_crash_before_the_deferred_commit_leaves_nothing)
{
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct db *db = unit_db_connect(u.path, 1000);
		struct tx_ctx effect = {0, 3, 1, ERR_OK};
		db_defer_commit();
		if (db_transaction(db, insert_rows_fn, &effect) != ERR_OK || insert_row(db, 20, "reply", 0) != ERR_OK)
			_exit(2);
		_exit(0); /* no commit, no close: as a SIGKILL here */
	}
	int status = 0;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_int_eq(committed_rows("SELECT COUNT(*) FROM t"), 0);
}
END_TEST

/* --- per-thread connections ---------------------------------------------------- */

static void *thread_db_of_new_thread(void *arg)
{
	(void)arg;
	return db_thread();
}

/* --- hooks after commit ---------------------------------------------------- */

static char hook_log[512];

static void hook(const char *key)
{
	size_t n = strlen(hook_log);
	snprintf(hook_log + n, sizeof hook_log - n, "%s;", key ? key : "(any)");
}

struct hook_tx {
	int64_t calls;
	bool fail;
	int keys;
};

static enum err hook_fn(struct db *db, void *arg)
{
	struct hook_tx *h = arg;
	char key[16];
	h->calls++;
	for (int i = 0; i < h->keys; i++) {
		snprintf(key, sizeof key, "k%d", i);
		db_after_commit(db, hook, key);
		db_after_commit(db, hook, key); /* once per key */
	}
	/* The hook has not run yet: the change is not visible to others. */
	ck_assert_str_eq(hook_log, "");
	enum err e = insert_row(db, h->calls + 100 * h->keys, NULL, 1);
	return e == ERR_OK && h->fail ? ERR_CONFLICT : e;
}

START_TEST(after_commit_hooks_run_once_committed_and_never_on_rollback)
{
	hook_log[0] = '\0';
	struct hook_tx h = {0, false, 2};
	ck_assert_int_eq(db_transaction(u.db, hook_fn, &h), ERR_OK);
	ck_assert_str_eq(hook_log, "k0;k1;");
	hook_log[0] = '\0';
	h = (struct hook_tx){0, true, 1};
	ck_assert_int_eq(db_transaction(u.db, hook_fn, &h), ERR_CONFLICT);
	ck_assert_str_eq(hook_log, "");
	/* A later transaction does not inherit what a rolled-back one asked. */
	ck_assert_int_eq(db_begin(u.db), ERR_OK);
	ck_assert_int_eq(db_commit(u.db), ERR_OK);
	ck_assert_str_eq(hook_log, "");
	/* More keys than the connection holds become one fn(NULL). */
	h = (struct hook_tx){0, false, 40};
	ck_assert_int_eq(db_transaction(u.db, hook_fn, &h), ERR_OK);
	ck_assert_ptr_nonnull(strstr(hook_log, "(any);"));
	ck_assert_ptr_null(strstr(hook_log, "k39;"));
	/* Outside a transaction: at once. */
	hook_log[0] = '\0';
	db_after_commit(u.db, hook, "now");
	ck_assert_str_eq(hook_log, "now;");
}
END_TEST

START_TEST(each_thread_gets_its_own_connection)
{
	struct db_options o;
	db_options_init(&o);
	o.path = u.path;
	ck_assert_int_eq(db_configure(&o), ERR_OK);
	struct db *mine = db_thread();
	ck_assert_ptr_nonnull(mine);
	ck_assert_ptr_eq(db_thread(), mine);
	ck_assert_int_eq(count_rows(mine, "SELECT COUNT(*) FROM t"), 0);

	pthread_t th;
	void *theirs = NULL;
	ck_assert_int_eq(pthread_create(&th, NULL, thread_db_of_new_thread, NULL), 0);
	ck_assert_int_eq(pthread_join(th, &theirs), 0);
	ck_assert_ptr_nonnull(theirs);
	ck_assert_ptr_ne(theirs, mine);
	db_close_all();
}
END_TEST

/* With checkpoint_ms, commits never checkpoint (a connection's automatic
 * checkpoint is off) and the checkpoint thread copies the WAL back into
 * the database file. */
START_TEST(the_checkpoint_thread_copies_the_wal_instead_of_the_commits)
{
	struct db_options o;
	db_options_init(&o);
	o.path = u.path;
	o.checkpoint_ms = 20;
	uint64_t before = db_checkpoints();
	ck_assert_int_eq(db_configure(&o), ERR_OK);
	struct db *db = db_thread();
	ck_assert_ptr_nonnull(db);
	ck_assert_int_eq(count_rows(db, "PRAGMA wal_autocheckpoint"), 0);
	/* ~3 MB of rows in ten commits: over 700 WAL pages. */
	for (int txn = 0; txn < 10; txn++) {
		ck_assert_int_eq(db_exec(db, "BEGIN IMMEDIATE"), ERR_OK);
		for (int i = 0; i < 300; i++) {
			struct db_stmt *st = NULL;
			ck_assert_int_eq(db_prepare(db, "INSERT INTO t (v, b) VALUES (?1, zeroblob(1000))", &st), ERR_OK);
			db_bind_int64(st, 1, txn * 1000 + i);
			ck_assert_int_eq(db_step_done(st), ERR_OK);
			db_done(st);
		}
		ck_assert_int_eq(db_exec(db, "COMMIT"), ERR_OK);
	}
	/* The thread is asynchronous: wait for it (at most 10 s).  Only a
	 * checkpoint writes the database file itself, which the 3 MB of rows
	 * then fill. */
	struct stat sb = {0};
	for (int i = 0; i < 500 && sb.st_size < 3000000; i++) {
		ms_sleep(20);
		ck_assert_int_eq(stat(u.path, &sb), 0);
	}
	ck_assert_int_ge(sb.st_size, 3000000);
	ck_assert_uint_gt(db_checkpoints(), before);
	ck_assert_int_eq(count_rows(db, "SELECT COUNT(*) FROM t"), 3000);
	db_close_all();
}
END_TEST

/* Under sustained writes the -wal file stays bounded: the checkpoint
 * thread alone never catches up with a busy writer, and the WAL starts
 * over only after a complete checkpoint, so past 4000 pages a commit
 * finishes one itself.  40 MB written; the file stays near 16 MB. */
START_TEST(the_wal_stays_bounded_under_sustained_writes)
{
	struct db_options o;
	db_options_init(&o);
	o.path = u.path;
	o.checkpoint_ms = 20;
	ck_assert_int_eq(db_configure(&o), ERR_OK);
	struct db *db = db_thread();
	ck_assert_ptr_nonnull(db);
	char wal[96];
	snprintf(wal, sizeof wal, "%s-wal", u.path);
	off_t most = 0;
	for (int txn = 0; txn < 100; txn++) {
		ck_assert_int_eq(db_exec(db, "BEGIN IMMEDIATE"), ERR_OK);
		for (int i = 0; i < 100; i++) {
			struct db_stmt *st = NULL;
			ck_assert_int_eq(db_prepare(db, "INSERT INTO t (v, b) VALUES (?1, zeroblob(4000))", &st), ERR_OK);
			db_bind_int64(st, 1, txn * 1000 + i);
			ck_assert_int_eq(db_step_done(st), ERR_OK);
			db_done(st);
		}
		ck_assert_int_eq(db_exec(db, "COMMIT"), ERR_OK);
		struct stat sb;
		if (stat(wal, &sb) == 0 && sb.st_size > most)
			most = sb.st_size;
	}
	ck_assert_int_eq(count_rows(db, "SELECT COUNT(*) FROM t"), 10000);
	ck_assert_msg(most < 24 * 1024 * 1024, "the WAL file reached %lld bytes", (long long)most);
	db_close_all();
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *db_suite(void)
{
	Suite *s = suite_create("db");
	TCase *tc = tcase_create("open");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, options_have_documented_defaults);
	tcase_add_test(tc, open_sets_wal_foreign_keys_full_sync_and_busy_timeout);
	tcase_add_test(tc, open_with_normal_sync_sets_synchronous_normal);
	tcase_add_test(tc, open_of_unreachable_path_fails);
	tcase_add_test(tc, driver_version_names_sqlite);
	suite_add_tcase(s, tc);

	tc = tcase_create("statements");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, cache_returns_the_same_working_statement);
	tcase_add_test(tc, done_clears_bindings);
	tcase_add_test(tc, nested_use_of_the_same_sql_gets_a_private_statement);
	tcase_add_test(tc, more_distinct_statements_than_cache_slots_all_work);
	tcase_add_test(tc, bad_sql_is_err_db);
	tcase_add_test(tc, columns_round_trip_text_int_blob_and_null);
	tcase_add_test(tc, has_table_and_changes);
	suite_add_tcase(s, tc);

	tc = tcase_create("constraints");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, unique_violation_is_conflict_and_changes_nothing);
	tcase_add_test(tc, not_null_violation_is_err_db_not_conflict);
	tcase_add_test(tc, foreign_keys_are_enforced);
	suite_add_tcase(s, tc);

	tc = tcase_create("transactions");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, transaction_commits_when_fn_succeeds);
	tcase_add_loop_test(tc, transaction_rolls_back_when_fn_fails, 0, N(fn_failures));
	tcase_add_test(tc, transaction_rolls_back_on_a_conflict_midway);
	tcase_add_test(tc, nested_transaction_is_refused_not_a_hang);
	tcase_add_test(tc, begin_rollback_by_hand_leaves_nothing);
	tcase_add_test(tc, transaction_retries_while_another_connection_holds_the_lock);
	tcase_add_test(tc, transaction_gives_up_busy_when_the_lock_never_frees);
	tcase_add_test(tc, each_thread_gets_its_own_connection);
	tcase_add_test(tc, the_checkpoint_thread_copies_the_wal_instead_of_the_commits);
	tcase_add_test(tc, the_wal_stays_bounded_under_sustained_writes);
	tcase_add_test(tc, deferred_commit_keeps_every_transaction_open_until_the_commit);
	tcase_add_test(tc, deferred_rollback_leaves_none_of_the_transactions);
	tcase_add_test(tc, deferred_failures_roll_back_only_their_own_writes);
	tcase_add_test(tc, another_thread_writes_after_the_deferred_commit);
	tcase_add_test(tc, a_crash_before_the_deferred_commit_leaves_nothing);
	tcase_add_test(tc, after_commit_hooks_run_once_committed_and_never_on_rollback);
	suite_add_tcase(s, tc);
	return s;
}

int main(void) { return unit_run(db_suite()); }
