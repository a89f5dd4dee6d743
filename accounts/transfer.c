/*
 * transfer.c - what the households area asks of accounts: a profile's
 * flags, how many profiles an account has, and moving a profile into a new
 * account of its own (POST /v1/profiles/{id}/transfer).
 *
 * A transfer keeps the profile row (its id, name and language) and changes
 * its account, so whatever refers to the profile follows it.  Kids profiles
 * and PIN-locked ones stay: a kids profile belongs to the family that set it
 * up, and a PIN means its holder keeps it private from the account owner,
 * who is the one asking.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "accounts/accounts_int.h"
#include "core/clock.h"
#include "core/events.h"
#include "core/notify.h"

enum err acct_profile_brief_get(struct db *db, const char *account_id, const char *profile_id,
				struct acct_profile_brief *out)
{
	struct db_stmt *st = NULL;
	memset(out, 0, sizeof *out);
	if (!ids_valid("prf_", profile_id))
		return ERR_NOT_FOUND;
	enum err e = db_prepare(db,
				"SELECT id, name, language, is_owner, kids, pin_hash IS NOT NULL FROM profiles"
				" WHERE id = ?1 AND account_id = ?2",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, profile_id);
	db_bind_text(st, 2, account_id);
	e = db_step_row(st);
	if (e == ERR_OK) {
		snprintf(out->id, sizeof out->id, "%s", db_column_text(st, 0));
		snprintf(out->name, sizeof out->name, "%s", db_column_text(st, 1));
		snprintf(out->language, sizeof out->language, "%s", db_column_text(st, 2));
		out->is_owner = db_column_int64(st, 3) != 0;
		out->kids = db_column_int64(st, 4) != 0;
		out->has_pin = db_column_int64(st, 5) != 0;
	}
	db_done(st);
	return e;
}

bool acct_email_canonical(const char *in, char *email, char *norm)
{
	return acct_email_parse(in, email, norm) == NULL;
}

enum err acct_profile_count(struct db *db, const char *account_id, int64_t *count)
{
	struct db_stmt *st = NULL;
	*count = 0;
	enum err e = db_prepare(db, "SELECT COUNT(*) FROM profiles WHERE account_id = ?1", &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, account_id);
	e = db_step_row(st);
	if (e == ERR_OK)
		*count = db_column_int64(st, 0);
	db_done(st);
	return e;
}

/* Why profile `p` cannot move to an account of its own, or NULL when it can. */
static const char *refusal(const struct acct_profile_brief *p)
{
	if (p->is_owner)
		return "owner_profile";
	if (p->kids)
		return "kids_profile";
	return p->has_pin ? "pin_locked" : NULL;
}

struct transfer_tx {
	const char *account_id, *profile_id;
	const char *email, *email_norm, *hash;
	struct acct_account *out;
	const char **why;
};

static enum err transfer_fn(struct db *db, void *arg)
{
	struct transfer_tx *t = arg;
	struct acct_profile_brief p;
	struct acct_account old;
	struct db_stmt *st = NULL;
	int64_t now = clock_now();
	enum err e = acct_profile_brief_get(db, t->account_id, t->profile_id, &p);
	if (e == ERR_OK)
		e = acct_get(db, t->account_id, &old);
	if (e != ERR_OK)
		return e;
	*t->why = refusal(&p);
	if (*t->why)
		return ERR_PROFILE_NOT_TRANSFERABLE;
	memset(t->out, 0, sizeof *t->out);
	e = ids_new("acc_", t->out->id, sizeof t->out->id);
	if (e != ERR_OK)
		return e;
	const struct acct_signup in = {.email = t->email, .email_norm = t->email_norm,
				       .country = old.country, .language = p.language};
	e = acct_insert_account(db, t->out->id, &in, t->hash, now);
	if (e != ERR_OK)
		return e;
	e = db_prepare(db,
		       "UPDATE profiles SET account_id = ?3, is_owner = 1, updated_at = ?4"
		       " WHERE id = ?1 AND account_id = ?2",
		       &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, t->profile_id);
	db_bind_text(st, 2, t->account_id);
	db_bind_text(st, 3, t->out->id);
	db_bind_int64(st, 4, now);
	e = db_step_done(st);
	db_done(st);
	if (e != ERR_OK)
		return e;
	acct_cache_changed(db, t->account_id);
	e = events_emit(db, "account.created", t->out->id,
			json_pack("{s:s, s:s, s:s}", "country", old.country, "language", p.language,
				  "transferred_from", t->account_id));
	if (e == ERR_OK)
		e = events_emit(db, "profile.transferred", t->profile_id,
				json_pack("{s:s, s:s}", "from_account", t->account_id, "to_account",
					  t->out->id));
	if (e == ERR_OK)
		e = notify_queue(db, t->out->id, NOTIFY_EMAIL, t->email, "profile_transferred",
				 json_pack("{s:s}", "name", p.name), NULL);
	if (e != ERR_OK)
		return e;
	snprintf(t->out->email, sizeof t->out->email, "%s", t->email);
	memcpy(t->out->country, old.country, sizeof t->out->country);
	snprintf(t->out->language, sizeof t->out->language, "%s", p.language);
	snprintf(t->out->status, sizeof t->out->status, "active");
	t->out->created_at = now;
	return ERR_OK;
}

enum err acct_profile_transfer(struct db *db, const char *account_id, const char *profile_id,
			       const char *email, const char *password,
			       struct acct_account *new_account, const char **why)
{
	char addr[ACCT_EMAIL_MAX + 1], norm[ACCT_EMAIL_MAX + 1];
	char hash[AUTH_PWHASH_MAX];
	struct acct_profile_brief p;
	*why = NULL;
	/* Cheap checks first: no hashing for a profile that cannot move. */
	enum err e = acct_profile_brief_get(db, account_id, profile_id, &p);
	if (e != ERR_OK)
		return e;
	*why = refusal(&p);
	if (*why)
		return ERR_PROFILE_NOT_TRANSFERABLE;
	if (acct_email_parse(email, addr, norm) != NULL) {
		*why = "email";
		return ERR_VALIDATION;
	}
	e = auth_password_policy(password, addr, why);
	if (e != ERR_OK)
		return e;
	e = auth_password_hash(password, hash);
	if (e != ERR_OK)
		return e;
	struct transfer_tx t = {account_id, profile_id, addr, norm, hash, new_account, why};
	e = db_transaction(db, transfer_fn, &t);
	sodium_memzero(hash, sizeof hash);
	return e;
}
