/*
 * batch.c - group commit: one writer thread runs the queued write jobs in
 * one transaction, each in its own savepoint, and commits once (batch.h).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/batch.h"
#include "core/log.h"

#define DEFAULT_QUEUE_MAX 4096
#define DEFAULT_BATCH_MAX 256

struct job {
	db_tx_fn fn;
	void *ctx;
	/* Asynchronous: told through `done`, and the job is on the heap. */
	batch_done_fn done;
	void *done_ctx;
	/* Waiting (batch_run): its own condition, so a commit wakes exactly
	 * the submitters it carried; `finished` is set under q_mu. */
	pthread_cond_t *cv;
	bool finished;
	enum err result;
	/* No savepoint of its own (batch_submit_whole); `dropped` once it
	 * failed: the batch was rolled back and runs again without it. */
	bool whole;
	bool dropped;
	/* The submitter's request id, which the job's log lines and events
	 * (events_emit records it) carry on the writer thread. */
	char request_id[80];
	struct job *next;
};

static pthread_mutex_t q_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_work = PTHREAD_COND_INITIALIZER;	/* the writer waits for jobs */
static pthread_cond_t q_room = PTHREAD_COND_INITIALIZER;	/* submitters wait for room */
static struct job *q_head, *q_tail;
static size_t q_len, q_max = DEFAULT_QUEUE_MAX, b_max = DEFAULT_BATCH_MAX;
static bool q_running, q_stopping;
static pthread_t q_thread;
static _Thread_local bool on_writer;

static atomic_uint_fast64_t stat_jobs, stat_batches;

struct batch_pass {
	struct job *jobs;
	bool redo; /* a whole job failed: roll back, run the others again */
};

static enum err batch_tx(struct db *db, void *arg)
{
	struct batch_pass *pass = arg;
	pass->redo = false;
	for (struct job *j = pass->jobs; j; j = j->next) {
		if (j->dropped)
			continue;
		enum err e = j->whole ? ERR_OK : db_run(db, "SAVEPOINT batch_job");
		if (e != ERR_OK)
			return e;
		log_set_request_id(j->request_id);
		j->result = j->fn(db, j->ctx);
		log_set_request_id(NULL);
		/* Busy inside the transaction: the whole batch is retried. */
		if (j->result == ERR_DB_BUSY)
			return ERR_DB_BUSY;
		if (j->whole) {
			/* Its writes cannot be undone alone: undo the batch's. */
			if (j->result != ERR_OK) {
				j->dropped = true;
				pass->redo = true;
				return j->result;
			}
			continue;
		}
		if (j->result != ERR_OK)
			e = db_run(db, "ROLLBACK TO batch_job");
		if (e == ERR_OK)
			e = db_run(db, "RELEASE batch_job");
		/* The savepoint is gone (the engine rolled the whole transaction
		 * back on a hard error): nothing of the batch can be kept. */
		if (e != ERR_OK)
			return e;
	}
	return ERR_OK;
}

/* Run one batch and tell its jobs. */
static void run_batch(struct job *jobs, size_t n)
{
	struct db *db = db_thread();
	struct batch_pass pass = {jobs, false};
	enum err e = ERR_DB;
	/* Each further pass has one job fewer (a failed whole job). */
	do
		e = db ? db_transaction(db, batch_tx, &pass) : ERR_DB;
	while (e != ERR_OK && pass.redo);
	if (e != ERR_OK)
		log_warn("batch.failed", "jobs=%zu err=%s", n, err_code(e));
	else
		atomic_fetch_add(&stat_jobs, n);
	atomic_fetch_add(&stat_batches, 1);
	/* Asynchronous jobs first, outside the lock: they reply now. */
	struct job *waiting = NULL;
	for (struct job *j = jobs, *next; j; j = next) {
		next = j->next;
		if (e != ERR_OK && !j->dropped)
			j->result = e;
		if (j->done) {
			log_set_request_id(j->request_id);
			j->done(j->done_ctx, j->result);
			log_set_request_id(NULL);
			free(j);
		} else {
			j->next = waiting;
			waiting = j;
		}
	}
	pthread_mutex_lock(&q_mu);
	for (struct job *j = waiting, *next; j; j = next) {
		next = j->next; /* the waiter may leave as soon as it is signalled */
		j->finished = true;
		pthread_cond_signal(j->cv);
	}
	pthread_mutex_unlock(&q_mu);
}

static void *writer(void *arg)
{
	(void)arg;
	on_writer = true;
	pthread_mutex_lock(&q_mu);
	for (;;) {
		while (!q_head && !q_stopping)
			pthread_cond_wait(&q_work, &q_mu);
		if (!q_head)
			break; /* stopping, and everything queued has run */
		struct job *jobs = q_head, *last = q_head;
		size_t n = 1;
		while (n < b_max && last->next) {
			last = last->next;
			n++;
		}
		q_head = last->next;
		if (!q_head)
			q_tail = NULL;
		last->next = NULL;
		q_len -= n;
		pthread_cond_broadcast(&q_room);
		pthread_mutex_unlock(&q_mu);
		run_batch(jobs, n);
		pthread_mutex_lock(&q_mu);
	}
	pthread_mutex_unlock(&q_mu);
	return NULL;
}

enum err batch_start(const struct batch_options *o)
{
	pthread_mutex_lock(&q_mu);
	if (q_running) {
		pthread_mutex_unlock(&q_mu);
		return ERR_OK;
	}
	q_max = o && o->queue_max ? o->queue_max : DEFAULT_QUEUE_MAX;
	b_max = o && o->batch_max ? o->batch_max : DEFAULT_BATCH_MAX;
	q_stopping = false;
	if (pthread_create(&q_thread, NULL, writer, NULL) != 0) {
		pthread_mutex_unlock(&q_mu);
		log_error("batch.start_failed", "%s", "note=\"cannot start the writer thread\"");
		return ERR_INTERNAL;
	}
	q_running = true;
	pthread_mutex_unlock(&q_mu);
	return ERR_OK;
}

void batch_stop(void)
{
	pthread_mutex_lock(&q_mu);
	if (!q_running || q_stopping) {
		pthread_mutex_unlock(&q_mu);
		return;
	}
	q_stopping = true;
	pthread_cond_signal(&q_work);
	pthread_cond_broadcast(&q_room);
	pthread_mutex_unlock(&q_mu);
	pthread_join(q_thread, NULL);
	pthread_mutex_lock(&q_mu);
	q_running = false;
	q_stopping = false;
	pthread_mutex_unlock(&q_mu);
}

bool batch_running(void)
{
	pthread_mutex_lock(&q_mu);
	bool r = q_running && !q_stopping;
	pthread_mutex_unlock(&q_mu);
	return r;
}

/* Append `j` once there is room; false (nothing queued) when no writer
 * takes jobs.  Called and returns with q_mu held. */
static bool enqueue_locked(struct job *j)
{
	while (q_running && !q_stopping && q_len >= q_max)
		pthread_cond_wait(&q_room, &q_mu);
	if (!q_running || q_stopping)
		return false;
	j->next = NULL;
	if (q_tail)
		q_tail->next = j;
	else
		q_head = j;
	q_tail = j;
	q_len++;
	pthread_cond_signal(&q_work);
	return true;
}

enum err batch_run(struct db *db, db_tx_fn fn, void *ctx)
{
	/* A completion callback that writes again runs after the commit, with
	 * no transaction open on this thread: it must not wait for itself.  A
	 * job, or a caller inside its own transaction, would wait for a writer
	 * that waits for it: db_transaction() refuses those (ERR_INTERNAL,
	 * logged) instead of hanging. */
	if (on_writer || db_in_transaction())
		return db_transaction(on_writer ? db_thread() : db, fn, ctx);
	pthread_cond_t cv;
	struct job j;
	memset(&j, 0, sizeof j);
	j.fn = fn;
	j.ctx = ctx;
	j.cv = &cv;
	snprintf(j.request_id, sizeof j.request_id, "%s", log_request_id());
	pthread_cond_init(&cv, NULL);
	pthread_mutex_lock(&q_mu);
	if (!enqueue_locked(&j)) {
		pthread_mutex_unlock(&q_mu);
		pthread_cond_destroy(&cv);
		return db_transaction(db, fn, ctx);
	}
	while (!j.finished)
		pthread_cond_wait(&cv, &q_mu);
	pthread_mutex_unlock(&q_mu);
	pthread_cond_destroy(&cv);
	/* The writer unlinked the job before setting finished, so no queue
	 * pointer refers to it any more. */
	return j.result; // NOLINT(clang-analyzer-core.StackAddressEscape): dequeued before finished
}

static bool submit(db_tx_fn fn, void *ctx, batch_done_fn done, void *done_ctx, bool whole)
{
	if (on_writer || db_in_transaction())
		return false;
	struct job *j = calloc(1, sizeof *j);
	if (!j)
		return false;
	j->fn = fn;
	j->ctx = ctx;
	j->done = done;
	j->done_ctx = done_ctx;
	j->whole = whole;
	snprintf(j->request_id, sizeof j->request_id, "%s", log_request_id());
	pthread_mutex_lock(&q_mu);
	bool queued = enqueue_locked(j);
	pthread_mutex_unlock(&q_mu);
	if (!queued)
		free(j);
	return queued;
}

bool batch_submit(db_tx_fn fn, void *ctx, batch_done_fn done, void *done_ctx)
{
	return submit(fn, ctx, done, done_ctx, false);
}

bool batch_submit_whole(db_tx_fn fn, void *ctx, batch_done_fn done, void *done_ctx)
{
	return submit(fn, ctx, done, done_ctx, true);
}

void batch_stats(uint64_t *jobs, uint64_t *batches)
{
	*jobs = (uint64_t)atomic_load(&stat_jobs);
	*batches = (uint64_t)atomic_load(&stat_batches);
}
