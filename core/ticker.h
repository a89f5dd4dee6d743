/*
 * ticker.h - a background thread that runs one job every so many
 * milliseconds until it is stopped: the writers that keep counts in memory
 * and write them in batches (auth's last use of sign-ins, households'
 * sightings) each run on one.
 *
 * What stays true: the job runs on the ticker's thread only, one call at a
 * time, and never after ticker_stop() returned.  ticker_stop() wakes the
 * thread at once (it does not wait out the interval) and does not run the
 * job itself: a caller that must not lose what is pending does a last
 * flush after it.
 */
#ifndef HEARTH_CORE_TICKER_H
#define HEARTH_CORE_TICKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/errors.h"

/* The job: `arg` is what ticker_start was given. */
typedef void (*ticker_fn)(void *arg);

/* One ticker; initialise with TICKER_INIT, then touch it only through the
 * functions below. */
struct ticker {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	bool running;		/* the thread exists (start and stop only) */
	bool stop;		/* under mu */
	int64_t interval_ms;
	ticker_fn fn;
	void *arg;
};

#define TICKER_INIT {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER}

/* Start the thread of `t`: it calls fn(arg) every `interval_ms` (> 0)
 * milliseconds, the first time one interval after the start.  ERR_OK, also
 * when it already runs (then nothing changes); ERR_INTERNAL when the thread
 * cannot be created.  Not thread-safe against ticker_stop of the same `t`. */
enum err ticker_start(struct ticker *t, int64_t interval_ms, ticker_fn fn, void *arg);

/* Stop the thread of `t`, if it runs: wake it, let a running call of the
 * job finish, and join it.  `t` may be started again afterwards. */
void ticker_stop(struct ticker *t);

#endif
