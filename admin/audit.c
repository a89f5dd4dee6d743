/*
 * audit.c - the audit log: who changed what, why, and what it was before.
 *
 * Rows are appended inside the transaction of the change they record, so a
 * change and its audit row commit or vanish together; the table's triggers
 * refuse UPDATE and DELETE.  The reason comes from the X-Hearth-Reason
 * header, read by admin_reason_or_reply() for every ADMIN_CHANGE route.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin_int.h"
#include "core/clock.h"
#include "core/log.h"

bool admin_reason_or_reply(struct http_req *req, char *out, size_t cap)
{
	const char *h = http_header(req, "X-Hearth-Reason");
	if (!h)
		h = "";
	while (*h == ' ' || *h == '\t')
		h++;
	size_t n = strlen(h);
	while (n > 0 && (h[n - 1] == ' ' || h[n - 1] == '\t'))
		n--;
	if (n == 0) {
		http_reply_problem(req, ERR_REASON_REQUIRED,
				   "Say why in the X-Hearth-Reason header (hearthctl --reason)");
		return false;
	}
	if (n > ADMIN_REASON_MAX || n >= cap) {
		http_reply_problem(req, ERR_INVALID_REQUEST, "X-Hearth-Reason is longer than 500 bytes");
		return false;
	}
	/* jansson refuses invalid UTF-8, and the reason is shown as JSON. */
	json_t *probe = json_stringn(h, n);
	if (!probe) {
		http_reply_problem(req, ERR_INVALID_REQUEST, "X-Hearth-Reason must be UTF-8 text");
		return false;
	}
	json_decref(probe);
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)h[i] < 0x20 || h[i] == 0x7f) {
			http_reply_problem(req, ERR_INVALID_REQUEST,
					   "X-Hearth-Reason must not hold control characters");
			return false;
		}
	}
	memcpy(out, h, n);
	out[n] = '\0';
	return true;
}

static char *dump_or_null(json_t *v)
{
	return v ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
}

enum err admin_audit(struct db *db, const char *staff_id, const char *action,
		     const char *target_type, const char *target_id, const char *reason,
		     json_t *before, json_t *after)
{
	struct db_stmt *st = NULL;
	char *b = dump_or_null(before), *a = dump_or_null(after);
	enum err e = ERR_OK;
	if ((before && !b) || (after && !a)) {
		e = ERR_NOMEM;
		goto out;
	}
	e = db_prepare(db,
		       "INSERT INTO audit_log (staff_id, action, target_type, target_id, reason,"
		       " request_id, before_json, after_json, created_at)"
		       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
		       &st);
	if (e != ERR_OK)
		goto out;
	const char *rid = log_request_id();
	db_bind_text(st, 1, staff_id);
	db_bind_text(st, 2, action);
	db_bind_text(st, 3, target_type);
	db_bind_text(st, 4, target_id);
	db_bind_text(st, 5, reason);
	db_bind_text(st, 6, rid[0] ? rid : NULL);
	db_bind_text(st, 7, b);
	db_bind_text(st, 8, a);
	db_bind_int64(st, 9, clock_now());
	e = db_step_done(st);
out:
	db_done(st);
	free(b);
	free(a);
	json_decref(before);
	json_decref(after);
	return e;
}

static json_t *parsed_or_null(const char *text)
{
	if (!text)
		return json_null();
	json_t *v = json_loads(text, 0, NULL);
	return v ? v : json_null();
}

enum err admin_audit_list(struct db *db, const struct admin_audit_filter *f, json_t **rows,
			  bool *has_more)
{
	struct db_stmt *st = NULL;
	json_t *out = json_array();
	bool row = false;
	int64_t n = 0;
	*has_more = false;
	*rows = NULL;
	if (!out)
		return ERR_NOMEM;
	/* ?1..?4 are NULL or 0 when their filter is not given, so one statement
	 * (one cached plan) serves every mix of filters. */
	enum err e = db_prepare(db,
				"SELECT id, staff_id, action, target_type, target_id, reason, request_id,"
				" before_json, after_json, created_at FROM audit_log"
				" WHERE (?1 IS NULL OR target_id = ?1) AND (?2 IS NULL OR staff_id = ?2)"
				" AND created_at >= ?3 AND (?4 = 0 OR id < ?4)"
				" ORDER BY id DESC LIMIT ?5",
				&st);
	if (e != ERR_OK)
		goto out;
	db_bind_text(st, 1, f->target_id);
	db_bind_text(st, 2, f->staff_id);
	db_bind_int64(st, 3, f->since);
	db_bind_int64(st, 4, f->before_id);
	db_bind_int64(st, 5, f->limit + 1);
	while ((e = db_step(st, &row)) == ERR_OK && row) {
		if (n++ == f->limit) {
			*has_more = true;
			break;
		}
		char at[32];
		json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s?, s:o, s:o, s:s}", "id",
				      (json_int_t)db_column_int64(st, 0), "staff_id",
				      db_column_text(st, 1), "action", db_column_text(st, 2),
				      "target_type", db_column_text(st, 3), "target_id",
				      db_column_text(st, 4), "reason", db_column_text(st, 5),
				      "request_id", db_column_text(st, 6), "before",
				      parsed_or_null(db_column_text(st, 7)), "after",
				      parsed_or_null(db_column_text(st, 8)), "created_at",
				      clock_format(db_column_int64(st, 9), at, sizeof at));
		if (!o || json_array_append_new(out, o) != 0) {
			e = ERR_NOMEM;
			break;
		}
	}
out:
	db_done(st);
	if (e != ERR_OK) {
		json_decref(out);
		return e;
	}
	*rows = out;
	return ERR_OK;
}
