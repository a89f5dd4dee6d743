/*
 * ticker.c - a background thread that runs one job every interval (see
 * ticker.h).
 */
#include <time.h>

#include "core/clock.h"
#include "core/ticker.h"

static void *ticker_main(void *arg)
{
	struct ticker *t = arg;
	pthread_mutex_lock(&t->mu);
	while (!t->stop) {
		struct timespec ts;
		clock_deadline_ms(&ts, t->interval_ms);
		pthread_cond_timedwait(&t->cv, &t->mu, &ts);
		if (t->stop)
			break;
		pthread_mutex_unlock(&t->mu);
		t->fn(t->arg);
		pthread_mutex_lock(&t->mu);
	}
	pthread_mutex_unlock(&t->mu);
	return NULL;
}

enum err ticker_start(struct ticker *t, int64_t interval_ms, ticker_fn fn, void *arg)
{
	if (t->running)
		return ERR_OK;
	t->interval_ms = interval_ms;
	t->fn = fn;
	t->arg = arg;
	t->stop = false;
	if (pthread_create(&t->thread, NULL, ticker_main, t) != 0)
		return ERR_INTERNAL;
	t->running = true;
	return ERR_OK;
}

void ticker_stop(struct ticker *t)
{
	if (!t->running)
		return;
	pthread_mutex_lock(&t->mu);
	t->stop = true;
	pthread_cond_signal(&t->cv);
	pthread_mutex_unlock(&t->mu);
	pthread_join(t->thread, NULL);
	t->running = false;
}
