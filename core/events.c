#include "core/events.h"

#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"

enum err events_emit(struct db *db, const char *type, const char *subject, json_t *payload)
{
	struct db_stmt *st = NULL;
	if (!payload)
		payload = json_object();
	char *text = json_dumps(payload, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(payload);
	if (!text)
		return ERR_NOMEM;
	enum err e = db_prepare(db,
				"INSERT INTO events (type, subject, payload, request_id, created_at)"
				" VALUES (?1, ?2, ?3, ?4, ?5)",
				&st);
	if (e == ERR_OK) {
		const char *rid = log_request_id();
		db_bind_text(st, 1, type);
		db_bind_text(st, 2, subject);
		db_bind_text(st, 3, text);
		db_bind_text(st, 4, rid[0] ? rid : NULL);
		db_bind_int64(st, 5, clock_now());
		e = db_step_done(st);
	}
	db_done(st);
	free(text);
	return e;
}

enum err events_list(struct db *db, int64_t after, const char *type, int64_t limit, json_t **out,
		     int64_t *next)
{
	struct db_stmt *st = NULL;
	json_t *rows = json_array();
	char prefix[128] = "";
	const char *exact = type;
	bool row = false;
	*out = NULL;
	*next = after;
	if (!rows)
		return ERR_NOMEM;
	size_t tn = type ? strlen(type) : 0;
	if (tn > 0 && type[tn - 1] == '*') {
		if (tn > sizeof prefix)
			tn = sizeof prefix;
		memcpy(prefix, type, tn - 1);
		prefix[tn - 1] = '\0';
		exact = NULL;
	}
	/* ?2 filters an exact type, ?3 a prefix; NULL or '' switch them off so
	 * one cached statement serves every case. */
	enum err e = db_prepare(db,
				"SELECT id, type, subject, payload, request_id, created_at FROM events"
				" WHERE id > ?1 AND (?2 IS NULL OR type = ?2)"
				" AND (?3 = '' OR substr(type, 1, length(?3)) = ?3)"
				" ORDER BY id LIMIT ?4",
				&st);
	if (e != ERR_OK)
		goto out;
	db_bind_int64(st, 1, after);
	db_bind_text(st, 2, exact);
	db_bind_text(st, 3, prefix);
	db_bind_int64(st, 4, limit);
	while ((e = db_step(st, &row)) == ERR_OK && row) {
		char at[32];
		json_t *payload = json_loads(db_column_text(st, 3), 0, NULL);
		int64_t id = db_column_int64(st, 0);
		json_t *o = json_pack("{s:I, s:s, s:s, s:o, s:s?, s:s}", "id", (json_int_t)id, "type",
				      db_column_text(st, 1), "subject", db_column_text(st, 2),
				      "payload", payload ? payload : json_object(), "request_id",
				      db_column_text(st, 4), "created_at",
				      clock_format(db_column_int64(st, 5), at, sizeof at));
		if (!o || json_array_append_new(rows, o) != 0) {
			e = ERR_NOMEM;
			break;
		}
		*next = id;
	}
out:
	db_done(st);
	if (e != ERR_OK) {
		json_decref(rows);
		*next = after;
		return e;
	}
	*out = rows;
	return ERR_OK;
}
