#include "core/throttle.h"

#include "core/clock.h"

enum err throttle_check(struct db *db, const char *key, int64_t *retry_after)
{
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db, "SELECT blocked_until FROM throttle WHERE key = ?1", &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, key);
	e = db_step_row(st);
	int64_t until = e == ERR_OK ? db_column_int64(st, 0) : 0;
	db_done(st);
	if (e != ERR_OK && e != ERR_NOT_FOUND)
		return e;
	int64_t now = clock_now();
	if (until > now) {
		*retry_after = until - now;
		return ERR_TOO_MANY_ATTEMPTS;
	}
	*retry_after = 0;
	return ERR_OK;
}

enum err throttle_fail(struct db *db, const char *key, const struct throttle_rule *rule)
{
	struct db_stmt *st = NULL;
	int64_t now = clock_now();
	int64_t failures = 0, window_start = now;
	enum err e = db_prepare(db, "SELECT failures, window_start FROM throttle WHERE key = ?1", &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, key);
	e = db_step_row(st);
	if (e == ERR_OK) {
		failures = db_column_int64(st, 0);
		window_start = db_column_int64(st, 1);
	}
	db_done(st);
	if (e != ERR_OK && e != ERR_NOT_FOUND)
		return e;
	if (now - window_start > rule->window_s) {
		failures = 0;
		window_start = now;
	}
	failures++;
	int64_t blocked_until = 0;
	if (failures >= rule->limit) {
		int64_t over = failures - rule->limit;
		int64_t block = rule->base_block_s;
		for (int64_t i = 0; i < over && block < rule->max_block_s; i++)
			block *= 2;
		if (block > rule->max_block_s)
			block = rule->max_block_s;
		blocked_until = now + block;
	}
	e = db_prepare(db,
		       "INSERT INTO throttle (key, failures, window_start, blocked_until) VALUES (?1, ?2, ?3, ?4)"
		       " ON CONFLICT (key) DO UPDATE SET failures = excluded.failures,"
		       " window_start = excluded.window_start, blocked_until = excluded.blocked_until",
		       &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, key);
	db_bind_int64(st, 2, failures);
	db_bind_int64(st, 3, window_start);
	db_bind_int64(st, 4, blocked_until);
	e = db_step_done(st);
	db_done(st);
	return e;
}

enum err throttle_reset(struct db *db, const char *key)
{
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db, "DELETE FROM throttle WHERE key = ?1", &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, key);
	e = db_step_done(st);
	db_done(st);
	return e;
}
