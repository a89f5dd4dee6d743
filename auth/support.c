/*
 * support.c - what the support-staff area needs of auth: a device's
 * account, a member's sign-ins and devices as staff see them, and the
 * privacy pair export and erasure.  Password hashing setup for tools.
 */
#include <stdio.h>
#include <string.h>

#include "auth/auth_int.h"
#include "core/clock.h"

enum err auth_password_setup(const struct config *cfg)
{
	return auth_password_init(cfg->pwhash_opslimit, cfg->pwhash_memlimit);
}

enum err auth_device_account(struct db *db, const char *device_id, char *account_id)
{
	struct db_stmt *st = NULL;
	if (!ids_valid("dev_", device_id))
		return ERR_NOT_FOUND;
	enum err e = db_prepare(db, "SELECT account_id FROM devices WHERE id = ?1", &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, device_id);
	e = db_step_row(st);
	if (e == ERR_OK)
		snprintf(account_id, IDS_MAX, "%s", db_column_text(st, 0));
	db_done(st);
	return e;
}

enum err auth_account_live_sessions(struct db *db, const char *account_id, int64_t *count)
{
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db,
				"SELECT count(*) FROM sessions WHERE account_id = ?1 AND revoked_at IS NULL"
				" AND expires_at > ?2",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, account_id);
	db_bind_int64(st, 2, clock_now());
	e = db_step_row(st);
	*count = e == ERR_OK ? db_column_int64(st, 0) : 0;
	db_done(st);
	return e;
}

static const char *time_or_null(struct db_stmt *st, int i, char *buf, size_t cap)
{
	return db_column_is_null(st, i) ? NULL : clock_format(db_column_int64(st, i), buf, cap);
}

/* Devices of the account, most recently seen first. */
static enum err devices_json(struct db *db, const char *account_id, bool with_client, json_t **out)
{
	struct db_stmt *st = NULL;
	json_t *arr = json_array();
	bool row = false;
	enum err e = db_prepare(db,
				"SELECT id, type, name, model, client_id, first_seen_at, last_seen_at,"
				" last_network, revoked_at FROM devices WHERE account_id = ?1"
				" ORDER BY last_seen_at DESC, id",
				&st);
	if (e == ERR_OK) {
		db_bind_text(st, 1, account_id);
		while ((e = db_step(st, &row)) == ERR_OK && row) {
			char f[32], l[32], r[32];
			json_t *d = json_pack("{s:s, s:s, s:s, s:s?, s:s, s:s, s:s?, s:s?}", "id",
					      db_column_text(st, 0), "type", db_column_text(st, 1), "name",
					      db_column_text(st, 2), "model", db_column_text(st, 3),
					      "first_seen_at", clock_format(db_column_int64(st, 5), f, sizeof f),
					      "last_seen_at", clock_format(db_column_int64(st, 6), l, sizeof l),
					      "last_network", db_column_text(st, 7), "revoked_at",
					      time_or_null(st, 8, r, sizeof r));
			if (d && with_client && !db_column_is_null(st, 4))
				json_object_set_new(d, "client_id", json_string(db_column_text(st, 4)));
			json_array_append_new(arr, d);
		}
	}
	db_done(st);
	if (e != ERR_OK) {
		json_decref(arr);
		return e;
	}
	*out = arr;
	return ERR_OK;
}

/* Sign-ins of the account with their device, newest first; `live_only`
 * keeps the unrevoked, unexpired ones. */
static enum err sessions_json(struct db *db, const char *account_id, bool live_only, json_t **out)
{
	struct db_stmt *st = NULL;
	json_t *arr = json_array();
	bool row = false;
	enum err e = db_prepare(db,
				"SELECT s.id, s.device_id, d.type, d.name, s.created_at, s.last_used_at,"
				" s.last_network, s.expires_at, s.revoked_at, s.revoke_reason"
				" FROM sessions s LEFT JOIN devices d ON d.id = s.device_id"
				" WHERE s.account_id = ?1"
				" AND (?2 = 0 OR (s.revoked_at IS NULL AND s.expires_at > ?3))"
				" ORDER BY s.created_at DESC, s.id",
				&st);
	if (e == ERR_OK) {
		db_bind_text(st, 1, account_id);
		db_bind_int64(st, 2, live_only);
		db_bind_int64(st, 3, clock_now());
		while ((e = db_step(st, &row)) == ERR_OK && row) {
			char c[32], u[32], x[32], r[32];
			json_t *s = json_pack("{s:s, s:s?, s:s?, s:s?, s:s, s:s, s:s?, s:s}", "id",
					      db_column_text(st, 0), "device_id", db_column_text(st, 1),
					      "device_type", db_column_text(st, 2), "device_name",
					      db_column_text(st, 3), "created_at",
					      clock_format(db_column_int64(st, 4), c, sizeof c), "last_used_at",
					      clock_format(db_column_int64(st, 5), u, sizeof u), "last_network",
					      db_column_text(st, 6), "expires_at",
					      clock_format(db_column_int64(st, 7), x, sizeof x));
			if (s && !live_only) {
				const char *rv = time_or_null(st, 8, r, sizeof r);
				json_object_set_new(s, "revoked_at", rv ? json_string(rv) : json_null());
				const char *why = db_column_text(st, 9);
				json_object_set_new(s, "revoke_reason", why ? json_string(why) : json_null());
			}
			json_array_append_new(arr, s);
		}
	}
	db_done(st);
	if (e != ERR_OK) {
		json_decref(arr);
		return e;
	}
	*out = arr;
	return ERR_OK;
}

static enum err both_json(struct db *db, const char *account_id, bool export_all, json_t **out)
{
	json_t *devices = NULL, *sessions = NULL;
	enum err e = devices_json(db, account_id, export_all, &devices);
	if (e == ERR_OK)
		e = sessions_json(db, account_id, !export_all, &sessions);
	if (e != ERR_OK) {
		json_decref(devices);
		return e;
	}
	*out = json_pack("{s:o, s:o}", "devices", devices, "sessions", sessions);
	return *out ? ERR_OK : ERR_NOMEM;
}

enum err auth_account_signins_json(struct db *db, const char *account_id, json_t **out)
{
	return both_json(db, account_id, false, out);
}

enum err auth_account_export(struct db *db, const char *account_id, json_t **out)
{
	return both_json(db, account_id, true, out);
}

static enum err run_with_account(struct db *db, const char *sql, const char *account_id)
{
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db, sql, &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, account_id);
	e = db_step_done(st);
	db_done(st);
	return e;
}

enum err auth_account_erase(struct db *db, const char *account_id)
{
	enum err e = auth_revoke_account_sessions(db, account_id, NULL, "account_erased");
	if (e == ERR_OK)
		e = run_with_account(db,
				     "DELETE FROM refresh_tokens WHERE session_id IN"
				     " (SELECT id FROM sessions WHERE account_id = ?1)",
				     account_id);
	if (e == ERR_OK)
		e = run_with_account(db, "UPDATE sessions SET last_network = NULL WHERE account_id = ?1",
				     account_id);
	if (e == ERR_OK)
		e = run_with_account(db,
				     "UPDATE devices SET name = '', model = NULL, last_network = NULL"
				     " WHERE account_id = ?1",
				     account_id);
	/* Device login requests the member answered (or was confirming on the
	 * web page) hold the device's name and network: gone with the member. */
	if (e == ERR_OK)
		e = run_with_account(db,
				     "DELETE FROM device_authorizations WHERE account_id = ?1 OR web_account_id = ?1",
				     account_id);
	return e;
}
