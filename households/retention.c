/*
 * retention.c - playback history is kept for --playback-retention-days
 * (default 90, at least 31: the sharing assessment and the 31-day trust
 * window read the last 30 days), then deleted.
 *
 * Every start writes a decision and, when allowed, a stream slot: a busy
 * service adds gigabytes a day (docs/reliability.md).  The households
 * writer thread purges them once an hour, oldest first, PURGE_BATCH rows
 * per transaction, so the write lock is never held for long and a purge
 * interrupted by a crash simply continues next time.
 *
 * Slots go first: one started before the cutoff whose last heartbeat's
 * expiry is also before it (freed, even if nothing marked it ended).  Then
 * decisions made before the cutoff whose slot, if they had one, is gone:
 * a slot never outlives the decision that explains it.
 */
#include "households/households_int.h"

#define PURGE_BATCH 2000

enum err hh_playback_purge(struct db *db, int64_t now, int64_t *deleted)
{
	int64_t gone = 0;
	int64_t cutoff = now - hh_settings()->playback_retention_s;
	enum err e = db_purge(db,
				 "DELETE FROM stream_slots WHERE id IN (SELECT id FROM stream_slots"
				 " WHERE started_at < ?1 AND expires_at < ?1 ORDER BY started_at LIMIT ?2)",
				 cutoff, PURGE_BATCH, &gone);
	if (e == ERR_OK)
		e = db_purge(db,
				"DELETE FROM playback_decisions WHERE id IN (SELECT d.id FROM playback_decisions d"
				" WHERE d.created_at < ?1 AND NOT EXISTS (SELECT 1 FROM stream_slots s"
				" WHERE s.id = d.slot_id) ORDER BY d.created_at LIMIT ?2)",
				cutoff, PURGE_BATCH, &gone);
	if (deleted)
		*deleted = gone;
	return e;
}
