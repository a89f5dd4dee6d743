/*
 * devices.c - the device registry: the devices a member signed in on
 * (password sign-ins and the device login flow both create or update one
 * through auth_signin_create), listed for the member and signed out one by
 * one.
 *
 * What stays true: a revoked device has no live sign-in (revoking it
 * revokes them in the same transaction, and refresh refuses a revoked
 * sign-in), and is never reused by a later sign-in; the last network is a
 * prefix, never an address.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accounts/accounts.h"
#include "auth/auth_int.h"
#include "core/clock.h"
#include "core/events.h"

bool auth_device_type_ok(const char *t)
{
	static const char *const types[] = {"tv", "phone", "tablet", "web", "console", NULL};
	for (size_t i = 0; t && types[i]; i++)
		if (strcmp(t, types[i]) == 0)
			return true;
	return false;
}

static void read_device_row(struct db_stmt *st, void *row)
{
	struct auth_device_row *r = row;
	auth_copy_col(st, 0, r->id, sizeof r->id);
	auth_copy_col(st, 1, r->name, sizeof r->name);
	auth_copy_col(st, 2, r->type, sizeof r->type);
	auth_copy_col(st, 3, r->model, sizeof r->model);
	auth_copy_col(st, 4, r->client_id, sizeof r->client_id);
	auth_copy_col(st, 5, r->last_profile_id, sizeof r->last_profile_id);
	auth_copy_col(st, 6, r->last_network, sizeof r->last_network);
	r->first_seen_at = db_column_int64(st, 7);
	r->last_seen_at = db_column_int64(st, 8);
}

/* The name of the profile last used on device `r`, through the accounts
 * area (its profiles are its own); `prev` (the row before, or NULL) often
 * names the same profile and saves the lookup.  A profile deleted since is
 * no longer named: id and name are left empty. */
static enum err fill_profile_name(struct db *db, const char *account_id, struct auth_device_row *r,
				  const struct auth_device_row *prev)
{
	struct acct_profile_brief p;
	r->last_profile_name[0] = '\0';
	if (!r->last_profile_id[0])
		return ERR_OK;
	if (prev && strcmp(prev->last_profile_id, r->last_profile_id) == 0) {
		memcpy(r->last_profile_name, prev->last_profile_name, sizeof r->last_profile_name);
		return ERR_OK;
	}
	enum err e = acct_profile_brief_get(db, account_id, r->last_profile_id, &p);
	if (e == ERR_NOT_FOUND) {
		r->last_profile_id[0] = '\0';
		return ERR_OK;
	}
	if (e == ERR_OK)
		snprintf(r->last_profile_name, sizeof r->last_profile_name, "%s", p.name);
	return e;
}

/* Ordered by first sighting, which never changes, so pages are stable while
 * devices are in use. */
static const struct auth_page_query device_page = {
	.cursor_sql = "SELECT first_seen_at FROM devices WHERE id = ?1 AND account_id = ?2",
	.page_sql = "SELECT id, name, type, model, client_id, last_profile_id, last_network,"
		    " first_seen_at, last_seen_at FROM devices"
		    " WHERE account_id = ?1 AND revoked_at IS NULL"
		    " AND (?2 IS NULL OR first_seen_at < ?3 OR (first_seen_at = ?3 AND id < ?2))"
		    " ORDER BY first_seen_at DESC, id DESC LIMIT ?4",
	.row_size = sizeof(struct auth_device_row),
	.read = read_device_row,
};

enum err auth_devices_list(struct db *db, const char *account_id, int64_t limit,
			   const char *starting_after, struct auth_device_row **rows, size_t *n,
			   bool *has_more)
{
	void *list = NULL;
	enum err e = auth_page_list(db, &device_page, account_id, limit, starting_after, &list, n,
				    has_more);
	*rows = list;
	for (size_t i = 0; e == ERR_OK && i < *n; i++)
		e = fill_profile_name(db, account_id, &(*rows)[i], i ? &(*rows)[i - 1] : NULL);
	if (e != ERR_OK) {
		free(*rows);
		*rows = NULL;
		*n = 0;
		*has_more = false;
	}
	return e;
}

struct revoke_device_ctx {
	const char *account_id, *device_id, *reason;
	int64_t sessions;
};

static enum err revoke_device_tx(struct db *db, void *arg)
{
	struct revoke_device_ctx *c = arg;
	struct db_stmt *st = NULL;
	int64_t now = clock_now();
	c->sessions = 0;
	enum err e = db_prepare(db,
				"UPDATE devices SET revoked_at = ?3 WHERE id = ?1 AND account_id = ?2"
				" AND revoked_at IS NULL",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, c->device_id);
	db_bind_text(st, 2, c->account_id);
	db_bind_int64(st, 3, now);
	e = db_step_done(st);
	db_done(st);
	if (e != ERR_OK)
		return e;
	if (db_changes(db) != 1)
		return ERR_NOT_FOUND;
	int64_t n = 0;
	e = auth_device_sessions_revoke(db, c->account_id, c->device_id, c->reason, now, &n);
	if (e != ERR_OK)
		return e;
	c->sessions = n;
	return events_emit(db, "device.revoked", c->device_id,
			   json_pack("{s:s, s:s, s:I}", "account_id", c->account_id, "reason", c->reason,
				     "sessions_revoked", (json_int_t)n));
}

enum err auth_device_revoke(struct db *db, const char *account_id, const char *device_id,
			    const char *reason)
{
	if (!ids_valid("dev_", device_id))
		return ERR_NOT_FOUND;
	struct revoke_device_ctx c = {account_id, device_id, reason, 0};
	enum err e = db_transaction(db, revoke_device_tx, &c);
	if (e == ERR_OK)
		auth_revocation_bump();
	return e;
}
