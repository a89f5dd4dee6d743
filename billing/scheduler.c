/*
 * The billing thread of hearthd and the test-clock hook.
 *
 * One thread executes queued runs (a staff request queues one and kicks the
 * thread) and, when an interval is configured, starts a run every interval.
 * It waits on a condition variable with the real monotonic clock: the
 * interval is operational time, not billing time.  Under the test clock the
 * hook registered with server_on_clock_moved() runs what became due
 * synchronously, on the request's thread, before the clock route answers.
 *
 * Runs from the thread, the hook and staff may overlap: the billing run is
 * safe to run concurrently (renewal.c), so no lock is needed here beyond
 * the thread's own bookkeeping.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#include "billing/renewal.h"
#include "core/clock.h"
#include "core/db.h"
#include "core/log.h"
#include "server/server.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake;
static pthread_t thread;
static bool running, stopping, kicked;
static int64_t interval_s;
static _Atomic bool stop_flag;
static int batch;
static int64_t cache_mb;

static void deadline_after(struct timespec *ts, int64_t seconds)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += (time_t)seconds;
}

static bool should_stop(void) { return atomic_load(&stop_flag); }

static void *billing_thread(void *arg)
{
	(void)arg;
	struct timespec next;
	bool tuned = false;
	deadline_after(&next, interval_s > 0 ? interval_s : 3600);
	pthread_mutex_lock(&lock);
	while (!stopping) {
		if (!kicked) {
			int rc = pthread_cond_timedwait(&wake, &lock, &next);
			if (stopping)
				break;
			if (rc != 0 && interval_s <= 0) {
				deadline_after(&next, 3600);
				continue;
			}
		}
		bool scheduled = !kicked;
		kicked = false;
		pthread_mutex_unlock(&lock);

		struct db *db = db_thread();
		if (db && !tuned) {
			char pragmas[128];
			bill_run_pragmas(cache_mb, pragmas, sizeof pragmas);
			tuned = db_exec(db, pragmas) == ERR_OK;
		}
		if (db) {
			/* Staff runs first, then the periodic one if its time came. */
			bool found = true;
			while (found && !should_stop()) {
				struct bill_run_stats s;
				enum err e = bill_run_execute_queued(db, batch, should_stop, &found, &s);
				if (e != ERR_OK) {
					log_error("billing.queued_run_failed", "error=%s", err_name(e));
					break;
				}
			}
			/* A scheduled run starts only when something is due: every run
			 * is a row staff page through (hearthctl billing runs) and two
			 * events, and one every few minutes that found nothing would
			 * bury the ones that did. */
			int64_t due = 0;
			if (scheduled && interval_s > 0 && bill_run_due_count(db, clock_now(), &due) == ERR_OK &&
			    due > 0) {
				struct bill_run_options o = {.started_by = "scheduler", .batch_size = batch,
							     .should_stop = should_stop};
				struct bill_run_stats s;
				enum err e = bill_run(db, &o, &s);
				if (e != ERR_OK)
					log_error("billing.scheduled_run_failed", "error=%s", err_name(e));
			}
		}

		pthread_mutex_lock(&lock);
		if (scheduled && interval_s > 0)
			deadline_after(&next, interval_s);
	}
	pthread_mutex_unlock(&lock);
	return NULL;
}

/* The test clock moved: run what became due now, before the reply. */
static void clock_moved(void)
{
	struct db *db = db_thread();
	if (!db)
		return;
	struct bill_run_options o = {.started_by = "clock", .until = clock_now(), .batch_size = batch};
	struct bill_run_stats s;
	enum err e = bill_run(db, &o, &s);
	if (e != ERR_OK)
		log_error("billing.clock_run_failed", "error=%s", err_name(e));
}

void bill_run_pragmas(int64_t mb, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "PRAGMA cache_size=-%lld; PRAGMA wal_autocheckpoint=20000;",
			 (long long)mb * 1024);
	if (n < 0 || (size_t)n >= cap)
		buf[0] = '\0';
}

enum err bill_scheduler_start(int64_t every_s, int batch_size, int64_t cache)
{
	pthread_condattr_t attr;
	interval_s = every_s;
	batch = batch_size;
	cache_mb = cache;
	server_on_clock_moved(clock_moved);
	if (pthread_condattr_init(&attr) != 0 || pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&wake, &attr) != 0)
		return ERR_INTERNAL;
	pthread_condattr_destroy(&attr);
	stopping = false;
	atomic_store(&stop_flag, false);
	/* Runs staff queued (and were answered 202) before a crash are still
	 * queued: take them first, not only at the next kick. */
	kicked = true;
	if (pthread_create(&thread, NULL, billing_thread, NULL) != 0)
		return ERR_INTERNAL;
	running = true;
	log_info("billing.scheduler_started", "interval_s=%lld batch=%d", (long long)every_s, batch_size);
	return ERR_OK;
}

void bill_scheduler_kick(void)
{
	pthread_mutex_lock(&lock);
	kicked = true;
	pthread_cond_signal(&wake);
	pthread_mutex_unlock(&lock);
}

void bill_scheduler_stop(void)
{
	if (!running)
		return;
	atomic_store(&stop_flag, true);
	pthread_mutex_lock(&lock);
	stopping = true;
	pthread_cond_signal(&wake);
	pthread_mutex_unlock(&lock);
	pthread_join(thread, NULL);
	running = false;
}
