#include "core/db.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"

#define CACHE_SLOTS 256 /* power of two; open addressing */

struct db_stmt {
	sqlite3_stmt *s;
	struct db *db;
	char *sql; /* the cache key (owned copy) */
	bool in_use;
	bool cached;
};

struct db {
	sqlite3 *h;
	struct db_stmt *cache[CACHE_SLOTS];
	struct db *next_thread_db; /* list of per-thread connections */
	int wal_frames;		   /* WAL frames after the last commit (db_checkpoint_manually) */
};

static atomic_uint_fast64_t busy_retries;

void db_options_init(struct db_options *o)
{
	o->path = "./hearth.db";
	o->sync = DB_SYNC_FULL;
	o->busy_timeout_ms = 5000;
}

int db_parse_sync(const char *s, enum db_sync *out)
{
	if (strcmp(s, "full") == 0)
		*out = DB_SYNC_FULL;
	else if (strcmp(s, "normal") == 0)
		*out = DB_SYNC_NORMAL;
	else
		return -1;
	return 0;
}

static enum err map_rc(struct db *db, int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return ERR_OK;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return ERR_DB_BUSY;
	case SQLITE_NOMEM:
		return ERR_NOMEM;
	case SQLITE_CONSTRAINT:
		if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
			return ERR_CONFLICT;
		break;
	default:
		break;
	}
	log_error("db.error", "rc=%d msg=\"%s\"", rc, db ? sqlite3_errmsg(db->h) : "");
	return ERR_DB;
}

enum err db_open(const struct db_options *o, struct db **out)
{
	struct db *db = calloc(1, sizeof *db);
	enum err e = ERR_OK;
	char pragmas[256];
	if (!db)
		return ERR_NOMEM;
	int rc = sqlite3_open_v2(o->path, &db->h,
				 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		log_error("db.open_failed", "path=\"%s\" msg=\"%s\"", o->path,
			  db->h ? sqlite3_errmsg(db->h) : "out of memory");
		e = ERR_DB;
		goto out;
	}
	sqlite3_extended_result_codes(db->h, 1);
	sqlite3_busy_timeout(db->h, o->busy_timeout_ms);
	int n = snprintf(pragmas, sizeof pragmas,
			 "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; PRAGMA synchronous=%s;"
			 " PRAGMA temp_store=MEMORY; PRAGMA cache_size=-16000;",
			 o->sync == DB_SYNC_FULL ? "FULL" : "NORMAL");
	if (n < 0 || (size_t)n >= sizeof pragmas) {
		e = ERR_INTERNAL;
		goto out;
	}
	e = db_exec(db, pragmas);
out:
	if (e != ERR_OK) {
		db_close(db);
		return e;
	}
	*out = db;
	return ERR_OK;
}

void db_close(struct db *db)
{
	if (!db)
		return;
	for (size_t i = 0; i < CACHE_SLOTS; i++) {
		struct db_stmt *st = db->cache[i];
		if (st) {
			sqlite3_finalize(st->s);
			free(st->sql);
			free(st);
		}
	}
	sqlite3_close_v2(db->h);
	free(db);
}

/* Per-thread connections. */
static pthread_mutex_t threads_lock = PTHREAD_MUTEX_INITIALIZER;
static struct db_options thread_opts;
static char *thread_path;
static struct db *thread_dbs;
static _Thread_local struct db *my_db;

enum err db_configure(const struct db_options *o)
{
	char *p = strdup(o->path);
	if (!p)
		return ERR_NOMEM;
	pthread_mutex_lock(&threads_lock);
	free(thread_path);
	thread_path = p;
	thread_opts = *o;
	thread_opts.path = thread_path;
	pthread_mutex_unlock(&threads_lock);
	return ERR_OK;
}

struct db *db_thread(void)
{
	if (my_db)
		return my_db;
	pthread_mutex_lock(&threads_lock);
	struct db_options o = thread_opts;
	pthread_mutex_unlock(&threads_lock);
	if (!o.path)
		return NULL;
	struct db *db = NULL;
	if (db_open(&o, &db) != ERR_OK)
		return NULL;
	pthread_mutex_lock(&threads_lock);
	db->next_thread_db = thread_dbs;
	thread_dbs = db;
	pthread_mutex_unlock(&threads_lock);
	my_db = db;
	return db;
}

void db_close_all(void)
{
	pthread_mutex_lock(&threads_lock);
	struct db *db = thread_dbs;
	thread_dbs = NULL;
	pthread_mutex_unlock(&threads_lock);
	while (db) {
		struct db *next = db->next_thread_db;
		db_close(db);
		db = next;
	}
	my_db = NULL;
}

static uint32_t hash_sql(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

enum err db_prepare(struct db *db, const char *sql, struct db_stmt **out)
{
	uint32_t h = hash_sql(sql);
	size_t slot = SIZE_MAX;
	for (size_t i = 0; i < CACHE_SLOTS; i++) {
		size_t k = (h + i) & (CACHE_SLOTS - 1);
		struct db_stmt *st = db->cache[k];
		if (!st) {
			slot = k;
			break;
		}
		if (strcmp(st->sql, sql) == 0) {
			if (st->in_use)
				break; /* nested use of the same SQL: a private statement */
			st->in_use = true;
			*out = st;
			return ERR_OK;
		}
	}
	struct db_stmt *st = calloc(1, sizeof *st);
	if (!st)
		return ERR_NOMEM;
	int rc = sqlite3_prepare_v3(db->h, sql, -1, slot != SIZE_MAX ? SQLITE_PREPARE_PERSISTENT : 0,
				    &st->s, NULL);
	if (rc != SQLITE_OK) {
		log_error("db.prepare_failed", "msg=\"%s\"", sqlite3_errmsg(db->h));
		free(st);
		return ERR_DB;
	}
	st->db = db;
	st->in_use = true;
	if (slot != SIZE_MAX) {
		st->sql = strdup(sql);
		if (!st->sql) {
			sqlite3_finalize(st->s);
			free(st);
			return ERR_NOMEM;
		}
		st->cached = true;
		db->cache[slot] = st;
	}
	*out = st;
	return ERR_OK;
}

void db_bind_text(struct db_stmt *st, int idx, const char *s)
{
	if (s)
		sqlite3_bind_text(st->s, idx, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st->s, idx);
}

void db_bind_int64(struct db_stmt *st, int idx, int64_t v) { sqlite3_bind_int64(st->s, idx, v); }

void db_bind_blob(struct db_stmt *st, int idx, const void *p, size_t len)
{
	sqlite3_bind_blob64(st->s, idx, p, (sqlite3_uint64)len, SQLITE_TRANSIENT);
}

void db_bind_null(struct db_stmt *st, int idx) { sqlite3_bind_null(st->s, idx); }

enum err db_step(struct db_stmt *st, bool *is_row)
{
	int rc = sqlite3_step(st->s);
	*is_row = rc == SQLITE_ROW;
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		return ERR_OK;
	return map_rc(st->db, sqlite3_extended_errcode(st->db->h));
}

enum err db_step_row(struct db_stmt *st)
{
	bool row;
	enum err e = db_step(st, &row);
	if (e != ERR_OK)
		return e;
	return row ? ERR_OK : ERR_NOT_FOUND;
}

enum err db_step_done(struct db_stmt *st)
{
	bool row;
	enum err e;
	do {
		e = db_step(st, &row);
	} while (e == ERR_OK && row);
	return e;
}

const char *db_column_text(struct db_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st->s, i);
}

int64_t db_column_int64(struct db_stmt *st, int i) { return sqlite3_column_int64(st->s, i); }

const void *db_column_blob(struct db_stmt *st, int i, size_t *len)
{
	const void *p = sqlite3_column_blob(st->s, i);
	*len = (size_t)sqlite3_column_bytes(st->s, i);
	return p;
}

bool db_column_is_null(struct db_stmt *st, int i)
{
	return sqlite3_column_type(st->s, i) == SQLITE_NULL;
}

void db_done(struct db_stmt *st)
{
	if (!st)
		return;
	sqlite3_reset(st->s);
	sqlite3_clear_bindings(st->s);
	if (st->cached) {
		st->in_use = false;
	} else {
		sqlite3_finalize(st->s);
		free(st);
	}
}

enum err db_exec(struct db *db, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db->h, sql, NULL, NULL, &msg);
	if (rc == SQLITE_OK)
		return ERR_OK;
	enum err e = map_rc(db, sqlite3_extended_errcode(db->h));
	if (e == ERR_OK)
		e = ERR_DB;
	if (msg) {
		/* Busy is expected under contention and retried by db_transaction. */
		log_msg(e == ERR_DB_BUSY ? LOG_LEVEL_DEBUG : LOG_LEVEL_ERROR, "db.exec_failed",
			"msg=\"%s\"", msg);
		sqlite3_free(msg);
	}
	return e;
}

enum err db_begin(struct db *db) { return db_exec(db, "BEGIN IMMEDIATE"); }

enum err db_commit(struct db *db)
{
	enum err e = db_exec(db, "COMMIT");
	if (e != ERR_OK)
		db_rollback(db);
	return e;
}

void db_rollback(struct db *db)
{
	if (!sqlite3_get_autocommit(db->h))
		sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
}

/* Write transactions of this process take turns on a mutex before BEGIN
 * IMMEDIATE: SQLite's own busy handler makes a waiting writer sleep 1, 2,
 * 5, 10... ms, so under contention threads slept far longer than the
 * writes they waited for.  The busy handler still arbitrates between
 * processes. */
static pthread_mutex_t write_turn = PTHREAD_MUTEX_INITIALIZER;
static _Thread_local bool in_write_turn;

bool db_in_transaction(void) { return in_write_turn; }

enum err db_transaction(struct db *db, db_tx_fn fn, void *ctx)
{
	enum err e = ERR_DB_BUSY;
	/* A transaction started from inside another on the same thread would
	 * wait for itself forever: say so instead of hanging. */
	if (in_write_turn) {
		log_error("db.nested_transaction", "%s", "db_transaction called inside a transaction");
		return ERR_INTERNAL;
	}
	for (int attempt = 0; attempt < 8; attempt++) {
		if (attempt > 0) {
			atomic_fetch_add(&busy_retries, 1);
			struct timespec ts = {0, (long)(1000000L << (attempt < 6 ? attempt : 6))};
			nanosleep(&ts, NULL);
		}
		pthread_mutex_lock(&write_turn);
		in_write_turn = true;
		e = db_begin(db);
		if (e == ERR_OK) {
			e = fn(db, ctx);
			if (e == ERR_OK)
				e = db_commit(db);
			else
				db_rollback(db);
		}
		in_write_turn = false;
		pthread_mutex_unlock(&write_turn);
		if (e != ERR_DB_BUSY)
			return e;
	}
	return e;
}

static int note_wal_frames(void *arg, sqlite3 *h, const char *name, int frames)
{
	(void)h;
	(void)name;
	((struct db *)arg)->wal_frames = frames;
	return SQLITE_OK;
}

/* The engine's automatic checkpoint is itself a WAL hook: this one replaces
 * it and only remembers the size. */
void db_checkpoint_manually(struct db *db) { sqlite3_wal_hook(db->h, note_wal_frames, db); }

int db_wal_frames(const struct db *db) { return db->wal_frames; }

enum err db_checkpoint(struct db *db)
{
	int rc = sqlite3_wal_checkpoint_v2(db->h, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	return rc == SQLITE_OK ? ERR_OK : map_rc(db, rc);
}

bool db_has_table(struct db *db, const char *name)
{
	struct db_stmt *st = NULL;
	bool found = false;
	if (db_prepare(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1", &st) != ERR_OK)
		return false;
	db_bind_text(st, 1, name);
	found = db_step_row(st) == ERR_OK;
	db_done(st);
	return found;
}

int64_t db_changes(struct db *db) { return sqlite3_changes64(db->h); }

uint64_t db_busy_retries(void) { return (uint64_t)atomic_load(&busy_retries); }

const char *db_errmsg(struct db *db) { return sqlite3_errmsg(db->h); }

const char *db_driver_version(void)
{
	static char v[32];
	if (!v[0])
		snprintf(v, sizeof v, "sqlite %s", sqlite3_libversion());
	return v;
}
