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

struct purge_ctx {
	const char *sql;
	int64_t cutoff;
	int64_t deleted;
};

static enum err purge_batch_tx(struct db *db, void *arg)
{
	struct purge_ctx *c = arg;
	struct db_stmt *st = NULL;
	c->deleted = 0;
	enum err e = db_prepare(db, c->sql, &st);
	if (e != ERR_OK)
		return e;
	db_bind_int64(st, 1, c->cutoff);
	db_bind_int64(st, 2, PURGE_BATCH);
	e = db_step_done(st);
	db_done(st);
	if (e == ERR_OK)
		c->deleted = db_changes(db);
	return e;
}

/* Delete by `sql` (?1 the cutoff, ?2 the batch size) until a batch comes
 * back short; adds what went to *deleted. */
static enum err purge_table(struct db *db, const char *sql, int64_t cutoff, int64_t *deleted)
{
	struct purge_ctx c = {sql, cutoff, 0};
	enum err e;
	do {
		e = db_transaction(db, purge_batch_tx, &c);
		if (e == ERR_OK)
			*deleted += c.deleted;
	} while (e == ERR_OK && c.deleted == PURGE_BATCH);
	return e;
}

enum err hh_playback_purge(struct db *db, int64_t now, int64_t *deleted)
{
	int64_t gone = 0;
	int64_t cutoff = now - hh_settings()->playback_retention_s;
	enum err e = purge_table(db,
				 "DELETE FROM stream_slots WHERE id IN (SELECT id FROM stream_slots"
				 " WHERE started_at < ?1 AND expires_at < ?1 ORDER BY started_at LIMIT ?2)",
				 cutoff, &gone);
	if (e == ERR_OK)
		e = purge_table(db,
				"DELETE FROM playback_decisions WHERE id IN (SELECT d.id FROM playback_decisions d"
				" WHERE d.created_at < ?1 AND NOT EXISTS (SELECT 1 FROM stream_slots s"
				" WHERE s.id = d.slot_id) ORDER BY d.created_at LIMIT ?2)",
				cutoff, &gone);
	if (deleted)
		*deleted = gone;
	return e;
}
