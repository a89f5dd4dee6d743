/*
 * db.h - Hearth's small, driver-neutral database API.
 *
 * Areas talk to storage only through this header: prepare, bind, step,
 * column, transaction.  SQLite is the driver today; the API hides it so a
 * PostgreSQL driver can be a new file in core/ rather than a rewrite.  For
 * that, SQL passed here keeps to the subset both engines accept: numbered
 * parameters `?1 ?2 ...` (a PostgreSQL driver rewrites them to `$1 $2`),
 * explicit column lists, `INSERT ... ON CONFLICT ... DO UPDATE`,
 * `RETURNING`, integer times, text ids, no `rowid`, no `INSERT OR REPLACE`.
 *
 * Invariants:
 * - A `struct db` is one connection, used by one thread at a time.  The
 *   server gives each of its threads its own through db_thread().
 * - Statements come from a per-connection cache: db_prepare() is cheap after
 *   the first call with the same SQL text, and every statement must be given
 *   back with db_done() (which resets it) on every path.
 * - Write transactions start with BEGIN IMMEDIATE, so a transaction that
 *   began never fails later for lack of the write lock; db_transaction()
 *   retries a whole transaction when the database stays busy.
 * - Durability is the `sync` option: DB_SYNC_FULL (the default) fsyncs the
 *   WAL at every commit, so nothing acknowledged to a client is lost even on
 *   power failure; DB_SYNC_NORMAL survives a process crash but may lose the
 *   last commits on power loss.
 */
#ifndef HEARTH_CORE_DB_H
#define HEARTH_CORE_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/errors.h"

struct db;
struct db_stmt;

enum db_sync { DB_SYNC_FULL, DB_SYNC_NORMAL };

struct db_options {
	const char *path;	/* database file; created when missing */
	enum db_sync sync;	/* durability, see above */
	int busy_timeout_ms;	/* how long a statement waits for a lock */
	/* Storage upkeep off the committing thread: with SQLite, > 0 turns off
	 * the WAL checkpoint a commit runs every 1000 pages, and a thread that
	 * db_configure() starts (db_close_all() stops it) checkpoints every
	 * checkpoint_ms and whenever commits have filled 256 WAL pages, so
	 * requests seldom wait for one; a commit finishes one itself only past
	 * 4000 pages, to keep the WAL file bounded (db.c).  0: SQLite's
	 * automatic checkpoint in whichever connection commits. */
	int checkpoint_ms;
};

/* Fill `o` with the defaults: path "./hearth.db", DB_SYNC_FULL, 5000 ms,
 * checkpoint_ms 0. */
void db_options_init(struct db_options *o);

/* Parse "full" or "normal"; returns 0, or -1 when unknown. */
int db_parse_sync(const char *s, enum db_sync *out);

/* Open one connection with WAL, foreign keys on, the busy timeout and the
 * sync level.  On success *out owns the connection (free with db_close). */
enum err db_open(const struct db_options *o, struct db **out);

/* Close a connection and its cached statements; NULL is ignored. */
void db_close(struct db *db);

/* Remember `o` (copied) for the per-thread connections of db_thread(), and
 * start the checkpoint thread when o->checkpoint_ms > 0 (once). */
enum err db_configure(const struct db_options *o);

/* The calling thread's connection, opened on first use with the options of
 * db_configure(); NULL if it cannot be opened (logged).  Owned by the module:
 * closed by db_close_all() at shutdown (server threads live as long as the
 * process, so a connection per thread is never orphaned). */
struct db *db_thread(void);

/* Checkpoints the checkpoint thread has made that copied pages (for
 * metrics and tests). */
uint64_t db_checkpoints(void);

/* Checkpoints commits ran themselves because the WAL passed 4000 pages. */
uint64_t db_checkpoint_backstops(void);

/* Stop the checkpoint thread and close every per-thread connection (at
 * shutdown, after the threads stop). */
void db_close_all(void);

/* A cached statement for `sql` on `db`.  Returns ERR_OK or ERR_DB (the SQL
 * is wrong: a bug, logged).  Give it back with db_done(). */
enum err db_prepare(struct db *db, const char *sql, struct db_stmt **out);

/* Bind parameter `idx` (1-based).  Text and blobs are copied. */
void db_bind_text(struct db_stmt *st, int idx, const char *s); /* NULL binds NULL */
void db_bind_int64(struct db_stmt *st, int idx, int64_t v);
void db_bind_blob(struct db_stmt *st, int idx, const void *p, size_t len);
void db_bind_null(struct db_stmt *st, int idx);

/* Step once.  ERR_OK with *is_row true when a row is ready, false when the
 * statement is finished.  ERR_CONFLICT for a UNIQUE or PRIMARY KEY violation,
 * ERR_DB_BUSY when the lock could not be had, ERR_DB otherwise. */
enum err db_step(struct db_stmt *st, bool *is_row);

/* Step once expecting a row: ERR_OK with a row, ERR_NOT_FOUND without. */
enum err db_step_row(struct db_stmt *st);

/* Step to completion (an INSERT/UPDATE/DELETE without RETURNING). */
enum err db_step_done(struct db_stmt *st);

/* Column `i` (0-based) of the current row.  Text is NULL for SQL NULL and
 * stays valid until the next step or db_done(). */
const char *db_column_text(struct db_stmt *st, int i);
int64_t db_column_int64(struct db_stmt *st, int i);
const void *db_column_blob(struct db_stmt *st, int i, size_t *len);
bool db_column_is_null(struct db_stmt *st, int i);

/* Reset `st` and give it back to the cache; NULL is ignored. */
void db_done(struct db_stmt *st);

/* Run a script of statements without parameters (migrations). */
enum err db_exec(struct db *db, const char *sql);

/* One statement without parameters (SAVEPOINT, RELEASE...), prepared once
 * through the statement cache and stepped to its end. */
enum err db_run(struct db *db, const char *sql);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK. */
enum err db_begin(struct db *db);
enum err db_commit(struct db *db);
void db_rollback(struct db *db);

/* What a cache in front of the database runs once a change is visible to
 * every connection: `key` names what changed (NULL: anything may have). */
typedef void (*db_commit_fn)(const char *key);
#define DB_COMMIT_KEY_MAX 64 /* bytes of a key, with its NUL */

/* Have fn(key) run right after the transaction open on `db` commits, once
 * per distinct (fn, key), so a cache drops what the change made stale only
 * when no reader can still see the old rows.  A transaction that rolls back
 * (db_transaction retrying it included) runs nothing.  Outside a transaction
 * fn runs at once: call it after the write.  `key` is copied (a longer one,
 * or more pending keys than the connection holds, become fn(NULL)). */
void db_after_commit(struct db *db, db_commit_fn fn, const char *key);

/* Run `fn(db, ctx)` inside one write transaction: commit when it returns
 * ERR_OK, roll back otherwise and return its error.  When the database is
 * busy (ERR_DB_BUSY from begin, fn or commit) the whole transaction is
 * retried with backoff, up to a few times, so `fn` must be safe to rerun. */
typedef enum err (*db_tx_fn)(struct db *db, void *ctx);
enum err db_transaction(struct db *db, db_tx_fn fn, void *ctx);

/* ---- deferred commit: one request's writes and its stored reply in one
 * transaction (server/idempotency.c) ----
 *
 * db_defer_commit() arms the calling thread.  The next outermost
 * db_transaction() on that thread then runs BEGIN IMMEDIATE and `fn` as
 * usual (retried on busy), but when `fn` succeeds it leaves the transaction
 * open, still holding this process's write turn, instead of committing.
 * Every later db_transaction() on the thread runs inside it as a SAVEPOINT
 * (rolled back alone when its `fn` fails; never retried: the write lock is
 * held).  A transaction whose `fn` fails is rolled back as usual and the
 * thread stays armed.  Exactly one of db_deferred_commit() or
 * db_deferred_rollback() ends the mode, on the same thread, whether or not
 * a transaction was opened; the write turn is held until then, so nothing
 * slow (password hashing, waiting for another thread that writes) may run
 * between the first transaction and the end.  Reads on the thread's
 * connection in between see the uncommitted writes; other connections do
 * not, and a crash before the commit leaves none of them. */
void db_defer_commit(void);

/* True when the calling thread holds a deferred transaction open (one
 * db_transaction() succeeded since db_defer_commit()). */
bool db_deferred_is_open(void);

/* Commit the thread's deferred transaction on `db` (ERR_OK when none was
 * opened) and end the mode.  On failure everything is rolled back and the
 * error returned (ERR_DB_BUSY is not retried: `fn` cannot be rerun). */
enum err db_deferred_commit(struct db *db);

/* Roll back the thread's deferred transaction on `db`, if any, and end the
 * mode. */
void db_deferred_rollback(struct db *db);

/* Delete old rows in transactions of at most `batch` rows, until a batch
 * comes back short: `sql` is a DELETE taking the cutoff as ?1 and the batch
 * size as ?2 (typically "... WHERE id IN (SELECT id ... WHERE t < ?1 ORDER
 * BY t LIMIT ?2)"), so the write lock is never held for long and a purge cut
 * short by a crash continues next time.  Adds the rows deleted to *deleted. */
enum err db_purge(struct db *db, const char *sql, int64_t cutoff, int64_t batch, int64_t *deleted);

/* True while the calling thread is inside db_transaction()'s function, or
 * holds a deferred transaction open (db_defer_commit). */
bool db_in_transaction(void);

/* True when a table called `name` exists (a catalog query: each driver
 * asks its own catalog). */
bool db_has_table(struct db *db, const char *name);

/* Rows changed by the last INSERT/UPDATE/DELETE on `db`. */
int64_t db_changes(struct db *db);

/* Total busy retries since start, for /metrics. */
uint64_t db_busy_retries(void);

/* One line describing the last error of `db`, for logs only (never clients). */
const char *db_errmsg(struct db *db);

/* The driver's name and version, e.g. "sqlite 3.40.1". */
const char *db_driver_version(void);

#endif
