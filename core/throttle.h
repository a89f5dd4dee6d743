/*
 * throttle.h - attempt limits that survive restarts and are shared by every
 * hearthd process (they live in the database).
 *
 * A key names what is limited ("signin:acct:acc_...", "signin:ip:203.0.113.0/24",
 * "pin:prf_...").  Failures are counted in a window; once `limit` failures are
 * reached the key is blocked, and each further failure doubles the block
 * (exponential backoff, from `base_block_s` up to `max_block_s`).  A
 * success resets the key.
 */
#ifndef HEARTH_CORE_THROTTLE_H
#define HEARTH_CORE_THROTTLE_H

#include <stdint.h>

#include "core/db.h"

struct throttle_rule {
	int64_t limit;		/* failures allowed in the window before blocking */
	int64_t window_s;	/* how long failures are remembered */
	int64_t base_block_s;	/* first block length */
	int64_t max_block_s;	/* longest block */
};

/* ERR_OK when `key` may try now; ERR_TOO_MANY_ATTEMPTS with *retry_after
 * (seconds, >= 1) when blocked.  Reads only. */
enum err throttle_check(struct db *db, const char *key, int64_t *retry_after);

/* Count a failure for `key` under `rule` (inside the caller's transaction). */
enum err throttle_fail(struct db *db, const char *key, const struct throttle_rule *rule);

/* Forget `key`'s failures (after a success). */
enum err throttle_reset(struct db *db, const char *key);

#endif
