#include "core/events.h"

#include <stdlib.h>

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
