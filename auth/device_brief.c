/*
 * device_brief.c - read-only views of devices for the households area
 * (auth.h, "devices and requests as the households area sees them").
 */
#include <stdio.h>
#include <string.h>

#include "auth/auth_int.h"

#define BRIEF_COLUMNS "id, account_id, type, name, first_seen_at, last_seen_at, revoked_at"

static void copy_text(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

static void read_brief(struct db_stmt *st, struct auth_device_brief *out)
{
	memset(out, 0, sizeof *out);
	copy_text(out->id, sizeof out->id, db_column_text(st, 0));
	copy_text(out->account_id, sizeof out->account_id, db_column_text(st, 1));
	copy_text(out->type, sizeof out->type, db_column_text(st, 2));
	copy_text(out->name, sizeof out->name, db_column_text(st, 3));
	out->first_seen_at = db_column_int64(st, 4);
	out->last_seen_at = db_column_int64(st, 5);
	out->revoked = !db_column_is_null(st, 6);
}

enum err auth_device_brief_get(struct db *db, const char *device_id, struct auth_device_brief *out)
{
	struct db_stmt *st = NULL;
	if (!ids_valid("dev_", device_id))
		return ERR_NOT_FOUND;
	enum err e = db_prepare(db, "SELECT " BRIEF_COLUMNS " FROM devices WHERE id = ?1", &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, device_id);
	e = db_step_row(st);
	if (e == ERR_OK)
		read_brief(st, out);
	db_done(st);
	return e;
}

enum err auth_device_briefs_of_account(struct db *db, const char *account_id,
				       struct auth_device_brief *out, size_t cap, size_t *n)
{
	struct db_stmt *st = NULL;
	*n = 0;
	enum err e = db_prepare(db,
				"SELECT " BRIEF_COLUMNS " FROM devices WHERE account_id = ?1"
				" AND revoked_at IS NULL ORDER BY first_seen_at, id",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, account_id);
	while (*n < cap) {
		bool row = false;
		e = db_step(st, &row);
		if (e != ERR_OK || !row)
			break;
		read_brief(st, &out[(*n)++]);
	}
	db_done(st);
	return e;
}
