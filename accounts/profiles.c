/*
 * profiles.c - the profiles of an account: at most ACCT_PROFILES_MAX,
 * names unique within the account ignoring ASCII case, one owner profile
 * that cannot be deleted, and an optional 4-digit PIN stored as Argon2id
 * and checked with per-profile throttling.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "accounts/accounts_int.h"
#include "core/clock.h"
#include "core/events.h"

#define PROFILE_COLUMNS \
	"id, account_id, name, language, is_owner, kids, pin_hash IS NOT NULL, created_at, updated_at"

static void read_profile(struct db_stmt *st, struct acct_profile *p)
{
	snprintf(p->id, sizeof p->id, "%s", db_column_text(st, 0));
	snprintf(p->account_id, sizeof p->account_id, "%s", db_column_text(st, 1));
	snprintf(p->name, sizeof p->name, "%s", db_column_text(st, 2));
	snprintf(p->language, sizeof p->language, "%s", db_column_text(st, 3));
	p->is_owner = db_column_int64(st, 4) != 0;
	p->kids = db_column_int64(st, 5) != 0;
	p->has_pin = db_column_int64(st, 6) != 0;
	p->created_at = db_column_int64(st, 7);
	p->updated_at = db_column_int64(st, 8);
}

/* Profile `profile_id` of `account_id`, with its PIN hash when `pin_hash`
 * is not NULL (AUTH_PWHASH_MAX bytes; "" without a PIN). */
static enum err get_profile(struct db *db, const char *account_id, const char *profile_id,
			    struct acct_profile *out, char *pin_hash)
{
	struct db_stmt *st = NULL;
	if (!ids_valid("prf_", profile_id))
		return ERR_NOT_FOUND;
	enum err e = db_prepare(db, "SELECT " PROFILE_COLUMNS ", pin_hash FROM profiles"
				    " WHERE id = ?1 AND account_id = ?2",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, profile_id);
	db_bind_text(st, 2, account_id);
	e = db_step_row(st);
	if (e == ERR_OK) {
		read_profile(st, out);
		if (pin_hash) {
			const char *h = db_column_text(st, 9);
			snprintf(pin_hash, AUTH_PWHASH_MAX, "%s", h ? h : "");
		}
	}
	db_done(st);
	return e;
}

enum err acct_profiles_list(struct db *db, const char *account_id,
			    struct acct_profile out[ACCT_PROFILES_MAX], int *count)
{
	struct db_stmt *st = NULL;
	bool row = false;
	*count = 0;
	enum err e = db_prepare(db, "SELECT " PROFILE_COLUMNS " FROM profiles WHERE account_id = ?1"
				    " ORDER BY is_owner DESC, created_at, id LIMIT ?2",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, account_id);
	db_bind_int64(st, 2, ACCT_PROFILES_MAX);
	while ((e = db_step(st, &row)) == ERR_OK && row)
		read_profile(st, &out[(*count)++]);
	db_done(st);
	return e;
}

/* Lock the account's row for the rest of the transaction, and learn its
 * language.  SQLite's BEGIN IMMEDIATE already serialises writers; on
 * PostgreSQL this UPDATE is the row lock that keeps two concurrent creates
 * from both seeing four profiles. */
static enum err lock_account(struct db *db, const char *account_id, char language[ACCT_LANGUAGE_MAX + 1])
{
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db, "UPDATE accounts SET updated_at = updated_at WHERE id = ?1"
				    " AND status <> 'erased' RETURNING language",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, account_id);
	e = db_step_row(st);
	if (e == ERR_OK)
		snprintf(language, ACCT_LANGUAGE_MAX + 1, "%s", db_column_text(st, 0));
	db_done(st);
	/* A profile is being added: cached reads of the account go. */
	if (e == ERR_OK)
		acct_cache_changed(db, account_id);
	return e;
}

struct profile_tx {
	const char *account_id;
	const char *profile_id;	/* update and delete */
	const struct acct_profile_input *in;
	const char *pin_hash;	/* made before the transaction, or NULL */
	struct acct_profile *out;
};

static enum err create_fn(struct db *db, void *arg)
{
	struct profile_tx *c = arg;
	struct db_stmt *st = NULL;
	char account_language[ACCT_LANGUAGE_MAX + 1];
	char name_norm[ACCT_PROFILE_NAME_BYTES + 1];
	int64_t n = 0, now = clock_now();
	enum err e = lock_account(db, c->account_id, account_language);
	if (e == ERR_OK)
		e = acct_profile_count(db, c->account_id, &n);
	if (e != ERR_OK)
		return e;
	if (n >= ACCT_PROFILES_MAX)
		return ERR_PROFILE_LIMIT_REACHED;
	struct acct_profile *p = c->out;
	e = ids_new("prf_", p->id, sizeof p->id);
	if (e != ERR_OK)
		return e;
	snprintf(p->account_id, sizeof p->account_id, "%s", c->account_id);
	snprintf(p->name, sizeof p->name, "%s", c->in->name);
	snprintf(p->language, sizeof p->language, "%s",
		 c->in->language ? c->in->language : account_language);
	p->is_owner = false;
	p->kids = c->in->set_kids && c->in->kids;
	p->has_pin = c->pin_hash != NULL;
	p->created_at = p->updated_at = now;
	acct_lower(p->name, name_norm, sizeof name_norm);
	e = db_prepare(db,
		       "INSERT INTO profiles (id, account_id, name, name_norm, is_owner, kids, language,"
		       " pin_hash, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6, ?7, ?8, ?8)",
		       &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, p->id);
	db_bind_text(st, 2, p->account_id);
	db_bind_text(st, 3, p->name);
	db_bind_text(st, 4, name_norm);
	db_bind_int64(st, 5, p->kids);
	db_bind_text(st, 6, p->language);
	db_bind_text(st, 7, c->pin_hash);
	db_bind_int64(st, 8, now);
	e = db_step_done(st);
	db_done(st);
	if (e == ERR_CONFLICT)
		return ERR_PROFILE_NAME_TAKEN;
	if (e != ERR_OK)
		return e;
	return events_emit(db, "profile.created", p->id,
			   json_pack("{s:s, s:b, s:b, s:b}", "account_id", p->account_id, "is_owner", 0,
				     "kids", p->kids, "has_pin", p->has_pin));
}

/* Hash a PIN to set, when the input sets one. */
static enum err hash_pin(const struct acct_profile_input *in, char hash[AUTH_PWHASH_MAX],
			 const char **out)
{
	*out = NULL;
	if (!in->set_pin || !in->pin)
		return ERR_OK;
	enum err e = auth_password_hash(in->pin, hash);
	if (e == ERR_OK)
		*out = hash;
	return e;
}

enum err acct_profile_create(struct db *db, const char *account_id,
			     const struct acct_profile_input *in, struct acct_profile *out)
{
	char hash[AUTH_PWHASH_MAX];
	struct profile_tx c = {account_id, NULL, in, NULL, out};
	enum err e = hash_pin(in, hash, &c.pin_hash);
	if (e == ERR_OK)
		e = db_transaction(db, create_fn, &c);
	sodium_memzero(hash, sizeof hash);
	return e;
}

static enum err update_fn(struct db *db, void *arg)
{
	struct profile_tx *u = arg;
	const struct acct_profile_input *in = u->in;
	struct db_stmt *st = NULL;
	char name_norm[ACCT_PROFILE_NAME_BYTES + 1] = "";
	if (in->name)
		acct_lower(in->name, name_norm, sizeof name_norm);
	enum err e = db_prepare(db,
				"UPDATE profiles SET"
				" name = COALESCE(?3, name), name_norm = COALESCE(?4, name_norm),"
				" kids = CASE WHEN ?5 THEN ?6 ELSE kids END,"
				" language = COALESCE(?7, language),"
				" pin_hash = CASE WHEN ?8 THEN ?9 ELSE pin_hash END,"
				" updated_at = ?10"
				" WHERE id = ?1 AND account_id = ?2",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, u->profile_id);
	db_bind_text(st, 2, u->account_id);
	db_bind_text(st, 3, in->name);
	db_bind_text(st, 4, in->name ? name_norm : NULL);
	db_bind_int64(st, 5, in->set_kids);
	db_bind_int64(st, 6, in->kids);
	db_bind_text(st, 7, in->language);
	db_bind_int64(st, 8, in->set_pin);
	db_bind_text(st, 9, u->pin_hash);
	db_bind_int64(st, 10, clock_now());
	e = db_step_done(st);
	db_done(st);
	if (e == ERR_CONFLICT)
		return ERR_PROFILE_NAME_TAKEN;
	if (e != ERR_OK)
		return e;
	if (db_changes(db) == 0)
		return ERR_NOT_FOUND;
	acct_cache_changed(db, u->account_id);
	json_t *fields = json_array();
	if (in->name)
		json_array_append_new(fields, json_string("name"));
	if (in->set_kids)
		json_array_append_new(fields, json_string("kids"));
	if (in->language)
		json_array_append_new(fields, json_string("language"));
	if (in->set_pin)
		json_array_append_new(fields, json_string("pin"));
	return events_emit(db, "profile.updated", u->profile_id,
			   json_pack("{s:s, s:o}", "account_id", u->account_id, "fields", fields));
}

enum err acct_profile_update(struct db *db, const char *account_id, const char *profile_id,
			     const struct acct_profile_input *in, struct acct_profile *out)
{
	char hash[AUTH_PWHASH_MAX];
	struct profile_tx u = {account_id, profile_id, in, NULL, out};
	/* Look first: no hashing for a profile that is not there. */
	enum err e = get_profile(db, account_id, profile_id, out, NULL);
	if (e != ERR_OK)
		return e;
	bool changes = in->name || in->set_kids || in->language || in->set_pin;
	if (!changes)
		return ERR_OK;
	e = hash_pin(in, hash, &u.pin_hash);
	if (e == ERR_OK)
		e = db_transaction(db, update_fn, &u);
	sodium_memzero(hash, sizeof hash);
	if (e == ERR_OK)
		e = get_profile(db, account_id, profile_id, out, NULL);
	return e;
}

static enum err delete_fn(struct db *db, void *arg)
{
	struct profile_tx *d = arg;
	struct db_stmt *st = NULL;
	struct acct_profile p = {0};
	enum err e = get_profile(db, d->account_id, d->profile_id, &p, NULL);
	if (e != ERR_OK)
		return e;
	if (p.is_owner)
		return ERR_OWNER_PROFILE;
	e = db_prepare(db, "DELETE FROM profiles WHERE id = ?1 AND account_id = ?2", &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, d->profile_id);
	db_bind_text(st, 2, d->account_id);
	e = db_step_done(st);
	db_done(st);
	if (e == ERR_OK) {
		char key[64];
		acct_cache_changed(db, d->account_id);
		snprintf(key, sizeof key, "pin:%s", d->profile_id);
		e = throttle_reset(db, key);
	}
	if (e == ERR_OK)
		e = events_emit(db, "profile.deleted", d->profile_id,
				json_pack("{s:s}", "account_id", d->account_id));
	return e;
}

enum err acct_profile_delete(struct db *db, const char *account_id, const char *profile_id)
{
	if (!ids_valid("prf_", profile_id))
		return ERR_NOT_FOUND;
	struct profile_tx d = {account_id, profile_id, NULL, NULL, NULL};
	return db_transaction(db, delete_fn, &d);
}

struct unlock_tx {
	const char *key;
	bool ok;
};

static enum err unlock_fn(struct db *db, void *arg)
{
	struct unlock_tx *u = arg;
	if (u->ok)
		return throttle_reset(db, u->key);
	return throttle_fail(db, u->key, &acct_settings()->pin);
}

enum err acct_profile_unlock(struct db *db, const char *account_id, const char *profile_id,
			     const char *pin, int64_t *retry_after)
{
	struct acct_profile p = {0};
	char hash[AUTH_PWHASH_MAX] = "";
	char key[64];
	bool needs_rehash = false;
	*retry_after = 0;
	enum err e = get_profile(db, account_id, profile_id, &p, hash);
	if (e != ERR_OK)
		goto out;
	if (!hash[0]) /* a profile without a PIN is always open */
		goto out;
	snprintf(key, sizeof key, "pin:%s", p.id);
	e = throttle_check(db, key, retry_after);
	if (e != ERR_OK)
		goto out;
	struct unlock_tx u = {key, auth_password_verify(hash, pin, &needs_rehash) == ERR_OK};
	e = db_transaction(db, unlock_fn, &u);
	if (e == ERR_OK && !u.ok)
		e = ERR_INVALID_PIN;
out:
	sodium_memzero(hash, sizeof hash);
	return e;
}
