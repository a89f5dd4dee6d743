#include "core/db.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"

#define CACHE_SLOTS 256 /* power of two; open addressing */

struct db_stmt {
	sqlite3_stmt *s;
	struct db *db;
	char *sql; /* the cache key (owned copy) */
	bool in_use;
	bool cached;
};

#define AFTER_COMMIT_MAX 16

struct after_commit {
	db_commit_fn fn;
	bool any;			/* run as fn(NULL) */
	char key[DB_COMMIT_KEY_MAX];
};

#define HINT_SLOTS 256 /* power of two; direct-mapped on the SQL text's address */

struct db {
	sqlite3 *h;
	struct db_stmt *cache[CACHE_SLOTS];
	/* Where a given SQL address was last found in `cache`: callers pass
	 * string literals, so the same address comes back, and hashing a few
	 * hundred bytes of SQL on every db_prepare was 4% of a billing run.
	 * Only a hint: the text is still compared.  Cached statements live
	 * until db_close, so a hint never dangles. */
	struct {
		const char *sql;
		struct db_stmt *st;
	} hint[HINT_SLOTS];
	struct db *next_thread_db; /* list of per-thread connections */
	struct after_commit after[AFTER_COMMIT_MAX]; /* db_after_commit of the open transaction */
	int nafter;
};

static atomic_uint_fast64_t busy_retries;

void db_options_init(struct db_options *o)
{
	o->path = "./hearth.db";
	o->sync = DB_SYNC_FULL;
	o->busy_timeout_ms = 5000;
	o->checkpoint_ms = 0;
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

static pthread_once_t sqlite_setup_once = PTHREAD_ONCE_INIT;

/* SQLite's process-wide settings, before its first use.  Memory statistics
 * off: nothing reads them, and keeping them takes a global mutex around
 * every allocation SQLite makes (3% of a billing run).  When SQLite was
 * already initialised the call fails harmlessly. */
static void sqlite_setup(void) { (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); }

static int wal_hook(void *arg, sqlite3 *h, const char *name, int frames);

enum err db_open(const struct db_options *o, struct db **out)
{
	struct db *db = calloc(1, sizeof *db);
	enum err e = ERR_OK;
	char pragmas[256];
	if (!db)
		return ERR_NOMEM;
	pthread_once(&sqlite_setup_once, sqlite_setup);
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
	if (e == ERR_OK && o->checkpoint_ms > 0)
		sqlite3_wal_hook(db->h, wal_hook, NULL); /* replaces SQLite's automatic checkpoint */
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

/* ---- the checkpoint thread ----
 *
 * In WAL mode every commit appends pages to the -wal file; a checkpoint
 * copies them back into the database file (and fsyncs it) so the WAL can
 * start over.  SQLite runs one inside whichever commit pushes the WAL past
 * 1000 pages, so that request pays for everyone's writes: a single writer
 * batching many requests (core/batch) makes the whole batch wait for it.
 *
 * With checkpoint_ms > 0 each connection's WAL hook replaces SQLite's: a
 * commit that leaves CKPT_WAKE_FRAMES or more in the WAL wakes this
 * thread, which runs a PASSIVE checkpoint (it never blocks a reader or a
 * writer), and the thread also runs one every checkpoint_ms.  Beside a
 * busy writer a checkpoint never catches up with the whole WAL, and the
 * WAL file starts over from its beginning only after a checkpoint copied
 * all of it, so it would grow without end (~870 MB in 6 s of device
 * authorizations): a commit that leaves CKPT_BACKSTOP_FRAMES or more runs
 * the (passive) checkpoint itself, copying the few pages the thread has
 * not, and the next writer rewinds the file.  So the -wal file stays near
 * CKPT_BACKSTOP_FRAMES pages (~16 MB) and commits seldom wait.  Durability
 * is untouched: a commit is durable in the WAL before it is acknowledged;
 * a checkpoint only moves it.  Should readers keep the WAL from being
 * copied for long, a RESTART checkpoint (which waits for them, holding new
 * writers back for at most the busy timeout) bounds its size. */

#define CKPT_WAKE_FRAMES 256
#define CKPT_BACKSTOP_FRAMES 4000
#define CKPT_RESTART_FRAMES 262144 /* ~1 GiB of 4 KiB pages */

static pthread_mutex_t ckpt_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ckpt_cv = PTHREAD_COND_INITIALIZER;
static pthread_t ckpt_thread;
static bool ckpt_running, ckpt_stop;
static long ckpt_ms; /* under ckpt_mu */
static atomic_uint_fast64_t ckpt_count, ckpt_backstops;
static atomic_bool ckpt_wanted;

/* Every connection's WAL hook, after each commit (checkpoint_ms > 0). */
static int wal_hook(void *arg, sqlite3 *h, const char *name, int frames)
{
	(void)arg;
	if (frames >= CKPT_BACKSTOP_FRAMES) {
		/* Busy: the thread is checkpointing; the next commit tries again. */
		if (sqlite3_wal_checkpoint_v2(h, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL) == SQLITE_OK)
			atomic_fetch_add(&ckpt_backstops, 1);
	} else if (frames >= CKPT_WAKE_FRAMES && !atomic_exchange(&ckpt_wanted, true)) {
		pthread_mutex_lock(&ckpt_mu);
		pthread_cond_signal(&ckpt_cv);
		pthread_mutex_unlock(&ckpt_mu);
	}
	return SQLITE_OK;
}

static void *checkpointer(void *arg)
{
	struct db *db = arg;
	pthread_mutex_lock(&ckpt_mu);
	while (!ckpt_stop) {
		if (!atomic_load(&ckpt_wanted)) {
			struct timespec until;
			clock_deadline_ms(&until, ckpt_ms);
			pthread_cond_timedwait(&ckpt_cv, &ckpt_mu, &until);
		}
		if (ckpt_stop)
			break;
		atomic_store(&ckpt_wanted, false);
		pthread_mutex_unlock(&ckpt_mu);
		int log = 0, done = 0;
		int rc = sqlite3_wal_checkpoint_v2(db->h, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
		if (rc == SQLITE_OK && log > 0)
			atomic_fetch_add(&ckpt_count, 1);
		if (rc == SQLITE_OK && log >= CKPT_RESTART_FRAMES && done < log) {
			log_warn("db.checkpoint_restart", "wal_frames=%d copied=%d", log, done);
			rc = sqlite3_wal_checkpoint_v2(db->h, NULL, SQLITE_CHECKPOINT_RESTART, &log, &done);
		}
		if (rc != SQLITE_OK && rc != SQLITE_BUSY)
			log_warn("db.checkpoint_failed", "rc=%d msg=\"%s\"", rc, sqlite3_errmsg(db->h));
		pthread_mutex_lock(&ckpt_mu);
	}
	pthread_mutex_unlock(&ckpt_mu);
	db_close(db);
	return NULL;
}

static void checkpointer_start(const struct db_options *o)
{
	struct db *db = NULL;
	pthread_mutex_lock(&ckpt_mu);
	bool start = !ckpt_running && o->checkpoint_ms > 0;
	pthread_mutex_unlock(&ckpt_mu);
	if (!start || db_open(o, &db) != ERR_OK) {
		if (start)
			log_warn("db.checkpoint_thread", "%s", "cannot open a connection; SQLite checkpoints on commit");
		return;
	}
	sqlite3_busy_timeout(db->h, o->busy_timeout_ms);
	pthread_mutex_lock(&ckpt_mu);
	ckpt_stop = false;
	ckpt_ms = o->checkpoint_ms;
	if (pthread_create(&ckpt_thread, NULL, checkpointer, db) == 0) {
		ckpt_running = true;
		db = NULL;
	}
	pthread_mutex_unlock(&ckpt_mu);
	if (db) { /* no thread: let SQLite checkpoint on commit after all */
		log_warn("db.checkpoint_thread", "%s", "cannot start; SQLite checkpoints on commit");
		db_close(db);
		pthread_mutex_lock(&threads_lock);
		thread_opts.checkpoint_ms = 0;
		pthread_mutex_unlock(&threads_lock);
	}
}

static void checkpointer_stop(void)
{
	pthread_mutex_lock(&ckpt_mu);
	bool running = ckpt_running;
	ckpt_stop = true;
	pthread_cond_signal(&ckpt_cv);
	pthread_mutex_unlock(&ckpt_mu);
	if (running)
		pthread_join(ckpt_thread, NULL);
	pthread_mutex_lock(&ckpt_mu);
	ckpt_running = false;
	pthread_mutex_unlock(&ckpt_mu);
}

uint64_t db_checkpoints(void)
{
	return atomic_load(&ckpt_count);
}

uint64_t db_checkpoint_backstops(void)
{
	return atomic_load(&ckpt_backstops);
}

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
	struct db_options now = thread_opts;
	pthread_mutex_unlock(&threads_lock);
	checkpointer_start(&now);
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
	checkpointer_stop();
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
	size_t hk = ((uintptr_t)sql >> 3) & (HINT_SLOTS - 1);
	struct db_stmt *hs = db->hint[hk].sql == sql ? db->hint[hk].st : NULL;
	if (hs && !hs->in_use && strcmp(hs->sql, sql) == 0) {
		hs->in_use = true;
		*out = hs;
		return ERR_OK;
	}
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
			db->hint[hk].sql = sql;
			db->hint[hk].st = st;
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
		db->hint[hk].sql = sql;
		db->hint[hk].st = st;
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

enum err db_run(struct db *db, const char *sql)
{
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db, sql, &st);
	if (e == ERR_OK)
		e = db_step_done(st);
	db_done(st);
	return e;
}

struct purge_ctx {
	const char *sql;
	int64_t cutoff, batch, deleted;
};

static enum err purge_batch_tx(struct db *db, void *arg)
{
	struct purge_ctx *c = arg;
	struct db_stmt *st = NULL;
	c->deleted = 0;
	enum err e = db_prepare(db, c->sql, &st);
	if (e != ERR_OK)
		return e;
	db_bind_int64(st, 1, c->cutoff);
	db_bind_int64(st, 2, c->batch);
	e = db_step_done(st);
	db_done(st);
	if (e == ERR_OK)
		c->deleted = db_changes(db);
	return e;
}

enum err db_purge(struct db *db, const char *sql, int64_t cutoff, int64_t batch, int64_t *deleted)
{
	struct purge_ctx c = {sql, cutoff, batch, 0};
	enum err e;
	do {
		e = db_transaction(db, purge_batch_tx, &c);
		if (e == ERR_OK && deleted)
			*deleted += c.deleted;
	} while (e == ERR_OK && c.deleted == batch);
	return e;
}

enum err db_begin(struct db *db)
{
	db->nafter = 0;
	return db_exec(db, "BEGIN IMMEDIATE");
}

void db_after_commit(struct db *db, db_commit_fn fn, const char *key)
{
	size_t len = key ? strlen(key) : 0;
	bool any = !key || len >= DB_COMMIT_KEY_MAX;
	if (sqlite3_get_autocommit(db->h)) {
		fn(any ? NULL : key);
		return;
	}
	for (int i = 0; i < db->nafter; i++) {
		struct after_commit *a = &db->after[i];
		if (a->fn != fn)
			continue;
		if (a->any || (!any && strcmp(a->key, key) == 0))
			return;
	}
	if (db->nafter == AFTER_COMMIT_MAX || any) {
		/* Out of room (or no key): this fn runs once, as fn(NULL). */
		for (int i = 0; i < db->nafter; i++)
			if (db->after[i].fn == fn) {
				db->after[i].any = true;
				return;
			}
		if (db->nafter == AFTER_COMMIT_MAX) {
			log_error("db.after_commit_full", "note=\"running a cache hook before the commit\"");
			fn(NULL);
			return;
		}
	}
	struct after_commit *a = &db->after[db->nafter++];
	a->fn = fn;
	a->any = any;
	if (!any)
		memcpy(a->key, key, len + 1);
}

enum err db_commit(struct db *db)
{
	enum err e = db_exec(db, "COMMIT");
	if (e != ERR_OK) {
		db_rollback(db);
		return e;
	}
	/* Copied first: a hook may register for a later transaction. */
	struct after_commit run[AFTER_COMMIT_MAX];
	int n = db->nafter;
	memcpy(run, db->after, (size_t)n * sizeof run[0]);
	db->nafter = 0;
	for (int i = 0; i < n; i++)
		run[i].fn(run[i].any ? NULL : run[i].key);
	return e;
}

void db_rollback(struct db *db)
{
	db->nafter = 0;
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
/* Deferred commit (db.h): armed by db_defer_commit(); held_db is the
 * connection whose transaction is open and holds write_turn. */
static _Thread_local bool defer_armed;
static _Thread_local struct db *held_db;

/* Run `fn` inside the thread's open deferred transaction, as a savepoint. */
static enum err savepoint_run(struct db *db, db_tx_fn fn, void *ctx)
{
	if (db != held_db) {
		/* The held turn would make this connection wait for itself. */
		log_error("db.deferred_other_connection", "%s", "db_transaction on a second connection");
		return ERR_INTERNAL;
	}
	enum err e = db_exec(db, "SAVEPOINT hearth_tx");
	if (e != ERR_OK)
		return e;
	in_write_turn = true;
	e = fn(db, ctx);
	in_write_turn = false;
	if (e != ERR_OK)
		db_exec(db, "ROLLBACK TO hearth_tx");
	enum err re = db_exec(db, "RELEASE hearth_tx");
	return e != ERR_OK ? e : re;
}

bool db_in_transaction(void) { return in_write_turn || held_db != NULL; }

enum err db_transaction(struct db *db, db_tx_fn fn, void *ctx)
{
	enum err e = ERR_DB_BUSY;
	/* A transaction started from inside another on the same thread would
	 * wait for itself forever: say so instead of hanging. */
	if (in_write_turn) {
		log_error("db.nested_transaction", "%s", "db_transaction called inside a transaction");
		return ERR_INTERNAL;
	}
	if (held_db)
		return savepoint_run(db, fn, ctx);
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
			if (e == ERR_OK && defer_armed) {
				/* Keep the transaction and the turn for db_deferred_commit. */
				in_write_turn = false;
				held_db = db;
				return ERR_OK;
			}
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

void db_defer_commit(void) { defer_armed = true; }

bool db_deferred_is_open(void) { return held_db != NULL; }

/* End the deferred mode: give the write turn back if it was held. */
static void deferred_end(void)
{
	defer_armed = false;
	if (held_db) {
		held_db = NULL;
		pthread_mutex_unlock(&write_turn);
	}
}

enum err db_deferred_commit(struct db *db)
{
	enum err e = ERR_OK;
	if (held_db) {
		e = db == held_db ? db_commit(db) : ERR_INTERNAL;
		if (e != ERR_OK)
			db_rollback(held_db);
	}
	deferred_end();
	return e;
}

void db_deferred_rollback(struct db *db)
{
	(void)db; /* the held connection is the one to roll back */
	if (held_db)
		db_rollback(held_db);
	deferred_end();
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
