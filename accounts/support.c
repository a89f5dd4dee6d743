/*
 * support.c - what the support-staff area needs of accounts: finding an
 * account, its profiles as staff see them, lock and unlock, and the
 * privacy pair export and erasure.
 *
 * What must stay true: an erased account keeps its id (invoices and the
 * audit log refer to it) and nothing else that names the member: its email
 * is replaced by erased+<id>@invalid, which no one can sign in with or
 * receive mail at, and its password hash by a string that is not an
 * Argon2id hash, so no password verifies against it.
 */
#include <stdio.h>
#include <string.h>

#include "accounts/accounts_int.h"
#include "core/clock.h"
#include "core/events.h"

/* "+1 (415) 555-0100" -> "+14155550100"; false when it cannot be a phone. */
static bool phone_normalize(const char *in, char *out, size_t cap)
{
	size_t n = 0;
	for (const char *p = in; *p; p++) {
		if (*p == ' ' || *p == '-' || *p == '.' || *p == '(' || *p == ')')
			continue;
		if (n + 1 >= cap)
			return false;
		out[n++] = *p;
	}
	out[n] = '\0';
	return acct_phone_valid(out);
}

static enum err search_by(struct db *db, const char *sql, const char *value, struct acct_account *out,
			  size_t max, size_t *n)
{
	struct db_stmt *st = NULL;
	bool row = false;
	enum err e = db_prepare(db, sql, &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, value);
	db_bind_int64(st, 2, (int64_t)max);
	while (*n < max && (e = db_step(st, &row)) == ERR_OK && row)
		acct_account_from_row(st, &out[(*n)++]);
	db_done(st);
	return e;
}

enum err acct_search(struct db *db, const char *query, struct acct_account *out, size_t max,
		     size_t *n, const char **matched)
{
	char norm[ACCT_EMAIL_MAX + 1], phone[40];
	*n = 0;
	*matched = NULL;
	if (max == 0)
		return ERR_OK;
	if (ids_valid("acc_", query)) {
		*matched = "id";
		return search_by(db, "SELECT " ACCT_ACCOUNT_COLUMNS " FROM accounts WHERE id = ?1 LIMIT ?2", query,
				 out, max, n);
	}
	if (strchr(query, '@') && acct_email_normalize(query, norm)) {
		*matched = "email";
		return search_by(db, "SELECT " ACCT_ACCOUNT_COLUMNS " FROM accounts WHERE email_norm = ?1 LIMIT ?2",
				 norm, out, max, n);
	}
	if (phone_normalize(query, phone, sizeof phone)) {
		*matched = "phone";
		return search_by(db,
				 "SELECT " ACCT_ACCOUNT_COLUMNS " FROM accounts WHERE phone = ?1"
				 " ORDER BY created_at DESC LIMIT ?2",
				 phone, out, max, n);
	}
	return ERR_OK;
}

enum err acct_profiles_json(struct db *db, const char *account_id, json_t **out)
{
	struct acct_profile p[ACCT_PROFILES_MAX];
	int count = 0;
	char at[32];
	enum err e = acct_profiles_list(db, account_id, p, &count);
	if (e != ERR_OK)
		return e;
	json_t *arr = json_array();
	for (int i = 0; arr && i < count; i++)
		json_array_append_new(arr, json_pack("{s:s, s:s, s:b, s:b, s:s, s:b, s:s}", "id", p[i].id,
						     "name", p[i].name, "is_owner", p[i].is_owner, "kids",
						     p[i].kids, "language", p[i].language, "has_pin",
						     p[i].has_pin, "created_at",
						     clock_format(p[i].created_at, at, sizeof at)));
	if (!arr)
		return ERR_NOMEM;
	*out = arr;
	return ERR_OK;
}

enum err acct_set_locked(struct db *db, const char *id, bool locked, char before[12])
{
	struct acct_account a;
	struct db_stmt *st = NULL;
	enum err e = acct_get(db, id, &a);
	if (e != ERR_OK)
		return e;
	snprintf(before, 12, "%s", a.status);
	if (strcmp(a.status, "erased") == 0)
		return ERR_INVALID_STATE;
	const char *want = locked ? "locked" : "active";
	if (strcmp(a.status, want) == 0)
		return ERR_OK;
	e = db_prepare(db, "UPDATE accounts SET status = ?2, updated_at = ?3 WHERE id = ?1", &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, id);
	db_bind_text(st, 2, want);
	db_bind_int64(st, 3, clock_now());
	e = db_step_done(st);
	db_done(st);
	if (e == ERR_OK) {
		acct_cache_changed(db, id);
		e = events_emit(db, locked ? "account.locked" : "account.unlocked", id, NULL);
	}
	return e;
}

enum err acct_export(struct db *db, const char *id, json_t **out)
{
	struct db_stmt *st = NULL;
	char c[32], u[32], pc[32];
	json_t *account = NULL, *profiles = NULL;
	enum err e = db_prepare(db,
				"SELECT id, email, country, language, name, phone, status, created_at,"
				" updated_at, password_changed_at FROM accounts WHERE id = ?1",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, id);
	e = db_step_row(st);
	if (e == ERR_OK)
		account = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s?, s:s, s:s, s:s, s:s}", "id",
				    db_column_text(st, 0), "email", db_column_text(st, 1), "country",
				    db_column_text(st, 2), "language", db_column_text(st, 3), "name",
				    db_column_text(st, 4), "phone", db_column_text(st, 5), "status",
				    db_column_text(st, 6), "created_at",
				    clock_format(db_column_int64(st, 7), c, sizeof c), "updated_at",
				    clock_format(db_column_int64(st, 8), u, sizeof u), "password_changed_at",
				    clock_format(db_column_int64(st, 9), pc, sizeof pc));
	db_done(st);
	if (e != ERR_OK)
		return e;
	e = acct_profiles_json(db, id, &profiles);
	if (e != ERR_OK || !account) {
		json_decref(account);
		return e != ERR_OK ? e : ERR_NOMEM;
	}
	*out = json_pack("{s:o, s:o}", "account", account, "profiles", profiles);
	return *out ? ERR_OK : ERR_NOMEM;
}

enum err acct_erase(struct db *db, const char *id)
{
	struct acct_account a;
	struct acct_profile p[ACCT_PROFILES_MAX];
	int count = 0;
	struct db_stmt *st = NULL;
	char email[ACCT_EMAIL_MAX + 1];
	enum err e = acct_get(db, id, &a);
	if (e != ERR_OK)
		return e;
	if (strcmp(a.status, "erased") == 0)
		return ERR_INVALID_STATE;
	int64_t now = clock_now();
	snprintf(email, sizeof email, "erased+%s@invalid", id);
	/* "!erased" is not a crypto_pwhash_str string: nothing verifies against it. */
	e = db_prepare(db,
		       "UPDATE accounts SET email = ?2, email_norm = ?2, name = NULL, phone = NULL,"
		       " password_hash = '!erased', status = 'erased', updated_at = ?3 WHERE id = ?1",
		       &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, id);
	db_bind_text(st, 2, email);
	db_bind_int64(st, 3, now);
	e = db_step_done(st);
	db_done(st);
	if (e == ERR_OK) {
		acct_cache_changed(db, id);
		e = acct_profiles_list(db, id, p, &count);
	}
	/* Profiles are unique by name within the account and a member may have
	 * named one "Profile 1": park every name on the profile's id first. */
	if (e == ERR_OK)
		e = db_prepare(db, "UPDATE profiles SET name = id, name_norm = id WHERE account_id = ?1", &st);
	if (e == ERR_OK) {
		db_bind_text(st, 1, id);
		e = db_step_done(st);
		db_done(st);
	}
	for (int i = 0; e == ERR_OK && i < count; i++) {
		char name[32];
		snprintf(name, sizeof name, "Profile %d", i + 1);
		e = db_prepare(db,
			       "UPDATE profiles SET name = ?2, name_norm = ?3, pin_hash = NULL, updated_at = ?4"
			       " WHERE id = ?1",
			       &st);
		if (e != ERR_OK)
			break;
		char norm[32];
		acct_lower(name, norm, sizeof norm);
		db_bind_text(st, 1, p[i].id);
		db_bind_text(st, 2, name);
		db_bind_text(st, 3, norm);
		db_bind_int64(st, 4, now);
		e = db_step_done(st);
		db_done(st);
	}
	if (e == ERR_OK)
		e = db_prepare(db, "DELETE FROM password_resets WHERE account_id = ?1", &st);
	if (e == ERR_OK) {
		db_bind_text(st, 1, id);
		e = db_step_done(st);
		db_done(st);
	}
	if (e == ERR_OK)
		e = events_emit(db, "account.erased", id, NULL);
	return e;
}
