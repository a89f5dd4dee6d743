/*
 * batch.h - group commit: many small write transactions share one commit.
 *
 * A durable commit waits for the disk (an fsync of the WAL at the default
 * --db-sync full, milliseconds), so one transaction per request caps a
 * process at one write request per fsync, and threads waiting for each
 * other's BEGIN IMMEDIATE sleep.  Instead, writes are submitted as jobs to
 * one writer thread, which takes every job queued at that moment (up to a
 * batch limit), runs them one after the other inside one transaction and
 * commits once for all of them; then it tells each job's submitter.  WAL
 * checkpoints run on core/db's checkpoint thread (--db-checkpoint-ms), so
 * that work seldom lands inside a commit that a whole batch waits on.
 *
 * What stays true:
 * - Jobs run in the order they were queued, each in its own SAVEPOINT
 *   (or, batch_submit_whole, as if it had one): a
 *   job sees what the jobs before it in the batch wrote (exactly as if each
 *   had been its own transaction, one after the other), and a job that
 *   returns an error has only its own writes rolled back; the others
 *   commit.  A job's result is its own error, or, when the batch as a
 *   whole fails (the commit, or a busy database after the retries), that
 *   error: then nothing of the batch is durable.
 * - A job is told its result only after the commit is durable, so nothing
 *   it wrote is acknowledged before it is on disk.
 * - A job runs, and its callback is told, with its submitter's request id
 *   (core/log.h), so its log lines and events name the request as they
 *   would on the submitting thread.
 * - A busy database (another process holding the write lock) retries the
 *   whole batch, as db_transaction() does, so a job function must be safe
 *   to rerun from the start, like any db_transaction() function.  It runs
 *   on the writer thread, inside a transaction: it must not call
 *   db_transaction() or batch_run() (they return ERR_INTERNAL there, as
 *   batch_run() does inside any db_transaction(), rather than deadlock).
 * - The queue is bounded: a submitter waits for room (back-pressure) rather
 *   than the queue growing without limit.
 * - When no writer runs (tools, unit tests, or after batch_stop()),
 *   batch_run() is a plain db_transaction() on the caller's connection and
 *   batch_submit() declines, so code that uses the writer works without it.
 */
#ifndef HEARTH_CORE_BATCH_H
#define HEARTH_CORE_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/db.h"
#include "core/errors.h"

/* Told the result of an asynchronous job, on the writer thread, after the
 * commit (or the batch's failure).  It should be quick (format and send a
 * reply): the next batch waits for it.  It must not wait for the writer. */
typedef void (*batch_done_fn)(void *done_ctx, enum err result);

struct batch_options {
	size_t queue_max;	/* jobs queued at most; submitters wait beyond (0: 4096) */
	size_t batch_max;	/* jobs in one transaction at most (0: 256) */
};

/* Start the writer thread; its connection is db_thread()'s, so call
 * db_configure() first.  `o` may be NULL for the defaults.  Starting a
 * running writer does nothing.  ERR_OK, or ERR_INTERNAL when the thread
 * cannot be made. */
enum err batch_start(const struct batch_options *o);

/* Stop the writer: jobs already queued still run and are told; later
 * submissions take the fallbacks above.  Returns when the thread is gone.
 * Stopping a writer that does not run does nothing. */
void batch_stop(void);

/* True while the writer runs and takes jobs. */
bool batch_running(void);

/* Run `fn(db, ctx)` as a job of the writer and wait for its result (see
 * above).  `db` is the caller's connection, used only when no writer runs
 * (then this is db_transaction(db, fn, ctx)).  `ctx` stays the caller's. */
enum err batch_run(struct db *db, db_tx_fn fn, void *ctx);

/* Queue `fn(db, ctx)` without waiting: true when queued, and then
 * `done(done_ctx, result)` is called exactly once, on the writer thread;
 * `ctx` and `done_ctx` must stay valid until then.  False when no writer
 * runs: nothing was queued and `done` will not be called (the caller runs
 * the work itself, e.g. with batch_run()).  Waits while the queue is full. */
bool batch_submit(db_tx_fn fn, void *ctx, batch_done_fn done, void *done_ctx);

/* batch_submit for a job that runs without a SAVEPOINT of its own: for
 * small jobs that seldom fail, where opening and releasing a savepoint
 * (and SQLite's copies of the pages it dirties that earlier jobs of the
 * batch had dirtied) is a real part of the job's cost.  Should it return
 * an error other than busy, its writes cannot be undone alone: the batch
 * is rolled back and run again without it (it is told its own error), so
 * the outcome is the same as with a savepoint, only slower. */
bool batch_submit_whole(db_tx_fn fn, void *ctx, batch_done_fn done, void *done_ctx);

/* Jobs of committed batches (whatever each job returned) and batches run
 * since start, for /metrics and tests. */
void batch_stats(uint64_t *jobs, uint64_t *batches);

#endif
