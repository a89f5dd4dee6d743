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

/* The feed: events with id > `after`, oldest first, at most `limit`, of
 * `type` when not NULL ("account.created", or a prefix ending in '*':
 * "account.*").  *out gets a new JSON array of {id, type, subject, payload,
 * request_id, created_at}; *next the id to pass as `after` for the next
 * page (the last row's id, or `after` when there was none). */
enum err events_list(struct db *db, int64_t after, const char *type, int64_t limit, json_t **out,
		     int64_t *next);

#endif
