/*
 * unit.h - small helpers shared by the Check unit suites (tests/test_*.c).
 *
 * Everything here is `static inline` so a suite that uses only part of it
 * compiles without unused-function warnings.  Databases live in unique
 * files under /tmp (mkstemp), and unit_db_close() removes the file together
 * with its -wal and -shm companions.
 */
#ifndef HEARTH_TESTS_UNIT_H
#define HEARTH_TESTS_UNIT_H

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/db.h"
#include "core/ids.h"
#include "core/migrate.h"

struct unit_db {
	char path[64];
	struct db *db;
};

/* Make a unique empty file under /tmp and write its name into `path`. */
static inline void unit_tmp_path(char *path, size_t cap)
{
	int n = snprintf(path, cap, "/tmp/hearth-unit-XXXXXX");
	ck_assert_msg(n > 0 && (size_t)n < cap, "temp path does not fit");
	int fd = mkstemp(path);
	ck_assert_msg(fd >= 0, "mkstemp failed");
	close(fd);
}

/* Open another connection to `path` with a given busy timeout. */
static inline struct db *unit_db_connect(const char *path, int busy_timeout_ms)
{
	struct db_options o;
	struct db *db = NULL;
	db_options_init(&o);
	o.path = path;
	o.busy_timeout_ms = busy_timeout_ms;
	ck_assert_int_eq(db_open(&o, &db), ERR_OK);
	ck_assert_ptr_nonnull(db);
	return db;
}

/* A fresh database in a new temporary file. */
static inline void unit_db_open(struct unit_db *u)
{
	unit_tmp_path(u->path, sizeof u->path);
	u->db = unit_db_connect(u->path, 5000);
}

/* A fresh database with every migration applied, at synchronous=NORMAL
 * (the suites that use it prove logic, not durability: test_powerloss and
 * api_crash do that). */
static inline void unit_db_open_migrated(struct unit_db *u)
{
	struct db_options o;
	unit_tmp_path(u->path, sizeof u->path);
	db_options_init(&o);
	o.path = u->path;
	o.sync = DB_SYNC_NORMAL;
	ck_assert_int_eq(db_open(&o, &u->db), ERR_OK);
	ck_assert_int_eq(migrate_apply(u->db, NULL), ERR_OK);
}

/* Remove the database file and its WAL companions. */
static inline void unit_db_unlink(const char *path)
{
	char side[96];
	unlink(path);
	if (snprintf(side, sizeof side, "%s-wal", path) < (int)sizeof side)
		unlink(side);
	if (snprintf(side, sizeof side, "%s-shm", path) < (int)sizeof side)
		unlink(side);
}

static inline void unit_db_close(struct unit_db *u)
{
	db_close(u->db);
	u->db = NULL;
	unit_db_unlink(u->path);
}

/* The integer in the first column of the first row of `sql`. */
static inline int64_t unit_query_int(struct db *db, const char *sql)
{
	struct db_stmt *st = NULL;
	ck_assert_int_eq(db_prepare(db, sql, &st), ERR_OK);
	ck_assert_int_eq(db_step_row(st), ERR_OK);
	int64_t v = db_column_int64(st, 0);
	db_done(st);
	return v;
}

/* The text in the first column of the first row of `sql`, copied to `buf`. */
static inline const char *unit_query_text(struct db *db, const char *sql, char *buf, size_t cap)
{
	struct db_stmt *st = NULL;
	ck_assert_int_eq(db_prepare(db, sql, &st), ERR_OK);
	ck_assert_int_eq(db_step_row(st), ERR_OK);
	const char *t = db_column_text(st, 0);
	int n = snprintf(buf, cap, "%s", t ? t : "(null)");
	db_done(st);
	ck_assert_msg(n >= 0 && (size_t)n < cap, "query result does not fit");
	return buf;
}

/* Run every test of `s`; the process exit status for main(). */
static inline int unit_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0;
}

/* ---- seeding rows the way their areas store them ----
 * For suites that need an account or a device to hang their own rows on
 * without going through the accounts or auth area. */

/* An account in `country` (email "<id>@example.com"); its id into `id`
 * (IDS_MAX bytes). */
static inline void unit_seed_account(struct db *db, const char *country, char *id)
{
	struct db_stmt *st = NULL;
	char email[96];
	ck_assert_int_eq(ids_new("acc_", id, IDS_MAX), ERR_OK);
	snprintf(email, sizeof email, "%s@example.com", id);
	ck_assert_int_eq(db_prepare(db,
				    "INSERT INTO accounts (id, email, email_norm, password_hash, country,"
				    " created_at, updated_at, password_changed_at)"
				    " VALUES (?1, ?2, ?2, 'x', ?3, ?4, ?4, ?4)",
				    &st),
			 ERR_OK);
	db_bind_text(st, 1, id);
	db_bind_text(st, 2, email);
	db_bind_text(st, 3, country);
	db_bind_int64(st, 4, clock_now());
	ck_assert_int_eq(db_step_done(st), ERR_OK);
	db_done(st);
}

/* A device of `type` (named after it) of `account`; its id into `id`. */
static inline void unit_seed_device(struct db *db, const char *account, const char *type, char *id)
{
	struct db_stmt *st = NULL;
	ck_assert_int_eq(ids_new("dev_", id, IDS_MAX), ERR_OK);
	ck_assert_int_eq(db_prepare(db,
				    "INSERT INTO devices (id, account_id, type, name, first_seen_at, last_seen_at)"
				    " VALUES (?1, ?2, ?3, ?3, ?4, ?4)",
				    &st),
			 ERR_OK);
	db_bind_text(st, 1, id);
	db_bind_text(st, 2, account);
	db_bind_text(st, 3, type);
	db_bind_int64(st, 4, clock_now());
	ck_assert_int_eq(db_step_done(st), ERR_OK);
	db_done(st);
}

#endif
