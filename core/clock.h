/*
 * clock.h - the one source of time in Hearth.
 *
 * All code reads "now" through clock_now().  In production it is the real
 * UTC clock; in test mode (hearthd --test-clock) it is a settable clock that
 * only moves when told, so billing periods, token expiry, verification codes
 * and the 31-day household rule are tested by moving time, never by sleeping.
 * Times are int64 seconds since the Unix epoch, UTC, everywhere inside.
 * The clock is process-wide and safe to read from any thread.
 */
#ifndef HEARTH_CORE_CLOCK_H
#define HEARTH_CORE_CLOCK_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/errors.h"

/* Seconds since the epoch: the real clock, or the test clock when enabled. */
int64_t clock_now(void);

/* Monotonic milliseconds for measuring durations; never the test clock. */
int64_t clock_mono_ms(void);

struct timespec;
/* `ms` milliseconds from now on the real-time clock: the deadline for a
 * pthread_cond_timedwait() on a condition variable with default
 * attributes (a background thread's "wake me in ms or when told"). */
void clock_deadline_ms(struct timespec *ts, int64_t ms);

/* Milliseconds for bounding how stale a cache may be: clock_mono_ms() plus
 * every second the test clock was moved forward (none in production).  So
 * a cache entry made at clock_cache_ms() t is too old once clock_cache_ms()
 * reaches t + bound, and tests age caches by moving the test clock instead
 * of sleeping. */
int64_t clock_cache_ms(void);

/* Switch to the settable test clock, starting at `start` (seconds). */
void clock_use_test(int64_t start);

/* True when the test clock is in use. */
bool clock_is_test(void);

/* Set the test clock to `t`.  Returns ERR_INVALID_STATE when the real clock
 * is in use or `t` is before the current test time (time never goes back). */
enum err clock_set(int64_t t);

/* Move the test clock forward by `seconds` (>= 0); same errors as clock_set. */
enum err clock_advance(int64_t seconds);

/* Write `t` as an RFC 3339 UTC string ("2026-11-21T23:28:47Z") into `buf`
 * (at least 21 bytes).  Returns `buf`. */
char *clock_format(int64_t t, char *buf, size_t cap);

/* `t` as that string in a new JSON string (what every API answer and
 * event payload shows for a time); clock_json_or_null gives JSON null for
 * 0 ("never", "not yet"). */
json_t *clock_json(int64_t t);
json_t *clock_json_or_null(int64_t t);

/* Parse an RFC 3339 time ("...Z" or with a numeric offset, optional
 * fractional seconds which are dropped) into epoch seconds.  The instant must
 * lie in 0000-01-01T00:00:00Z..9999-12-31T23:59:59Z, so that clock_format
 * can write it back.  Returns ERR_OK or ERR_INVALID_PARAMETER. */
enum err clock_parse(const char *s, int64_t *out);

#endif
