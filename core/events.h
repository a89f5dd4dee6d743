/*
 * events.h - the events table: one row per state change.
 *
 * Every domain function that changes state calls events_emit() inside the
 * same transaction, so the change and its event commit or vanish together.
 * The rows are the audit trail and the feed other services read in order
 * of `id`.
 */
#ifndef HEARTH_CORE_EVENTS_H
#define HEARTH_CORE_EVENTS_H

#include <jansson.h>
#include <stdint.h>

#include "core/db.h"

/* Write an event `type` ("account.created") about `subject` ("acc_...") with
 * `payload` (stolen: the reference is released; NULL means {}).  The calling
 * thread's request id is recorded.  Must run inside the caller's transaction. */
enum err events_emit(struct db *db, const char *type, const char *subject, json_t *payload);

/* One member of a flat payload for events_emit_flat: a string (`str`
 * non-NULL) or an integer (`num`). */
struct events_field {
	const char *key;
	const char *str;
	int64_t num;
};

/* events_emit for a payload that is one flat object of strings and
 * integers, written straight to text: the same row, byte for byte, as
 * events_emit with the equivalent json_pack (keys sorted, compact), without
 * building a JSON tree and dumping it, which was an eighth of a billing
 * run's CPU time.  `fields` (n of them, keys distinct) may come in any
 * order.  Returns as events_emit; ERR_INTERNAL when n > 16. */
enum err events_emit_flat(struct db *db, const char *type, const char *subject,
			  const struct events_field *fields, size_t n);

/* The feed: events with id > `after`, oldest first, at most `limit`, of
 * `type` when not NULL ("account.created", or a prefix ending in '*':
 * "account.*").  *out gets a new JSON array of {id, type, subject, payload,
 * request_id, created_at}; *next the id to pass as `after` for the next
 * page (the last row's id, or `after` when there was none). */
enum err events_list(struct db *db, int64_t after, const char *type, int64_t limit, json_t **out,
		     int64_t *next);

/* Delete the events created before `cutoff` (unix seconds), oldest first,
 * in transactions of at most `batch` rows (the write lock is never held for
 * long; a purge cut short continues next time).  Kept whatever their age:
 * `account.erased` events (restoring a backup re-applies the erasures they
 * list: docs/privacy.md) and the newest event (ids are never reused, so a
 * feed reader's `after` stays valid).  Events are appended in time order,
 * so a purge reads from the oldest and stops at the first newer one.  Adds
 * the number deleted to *deleted. */
enum err events_purge(struct db *db, int64_t cutoff, int64_t batch, int64_t *deleted);

/* Keep events for `days` days (0: forever, and no thread starts): a thread
 * looks every `check_ms` milliseconds and, once an hour of clock_now() (so
 * the test clock drives it), purges what is older in batches of 2,000
 * (log event `events.purged`).  ERR_INTERNAL when the thread cannot start. */
enum err events_retention_start(int64_t days, int64_t check_ms);
void events_retention_stop(void);

/* One look of that thread, on `db`: purges when an hour has passed since
 * the last purge of this process (or none happened yet).  The number of
 * events deleted goes to *deleted (may be NULL); ERR_OK when it was not
 * time yet. */
enum err events_retention_tick(struct db *db, int64_t *deleted);

#endif
