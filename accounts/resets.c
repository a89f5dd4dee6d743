/*
 * resets.c - password reset by emailed token.
 *
 * What must stay true: asking for a reset answers the same, and throttles
 * the same, whether or not an account has the email (no enumeration); the
 * token is 256 random bits that exist in clear only in the notification,
 * stored as its keyed BLAKE2b hash (auth_secret_hash), valid for 30 minutes
 * and once; using it sets the password, uses up every other outstanding
 * token of the account and signs out every sign-in.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "accounts/accounts_int.h"
#include "core/clock.h"
#include "core/events.h"
#include "core/notify.h"

struct request_tx {
	const char *email_norm;
	const char *email_key;
	const char *ip_key;
	int64_t *retry_after;
	bool blocked;
};

static enum err request_fn(struct db *db, void *arg)
{
	struct request_tx *r = arg;
	const struct acct_settings *cfg = acct_settings();
	struct db_stmt *st = NULL;
	char account_id[IDS_MAX] = "", email[ACCT_EMAIL_MAX + 1] = "";
	char token[64] = "", token_hash[AUTH_SECRET_HASH_SIZE], expires[32];
	int64_t now = clock_now();
	r->blocked = false;
	/* Checked inside the transaction so that concurrent requests cannot
	 * all slip past the count. */
	enum err e = acct_throttle_check2(db, r->ip_key, r->email_key, r->retry_after);
	if (e == ERR_TOO_MANY_ATTEMPTS) {
		r->blocked = true;
		return ERR_OK;
	}
	/* Every request counts, known email or not. */
	if (e == ERR_OK)
		e = throttle_fail(db, r->ip_key, &cfg->reset_ip);
	if (e == ERR_OK)
		e = throttle_fail(db, r->email_key, &cfg->reset_email);
	if (e != ERR_OK)
		return e;

	e = db_prepare(db, "SELECT id, email FROM accounts WHERE email_norm = ?1 AND status = 'active'",
		       &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, r->email_norm);
	e = db_step_row(st);
	if (e == ERR_OK) {
		snprintf(account_id, sizeof account_id, "%s", db_column_text(st, 0));
		snprintf(email, sizeof email, "%s", db_column_text(st, 1));
	}
	db_done(st);
	if (e == ERR_NOT_FOUND)
		return ERR_OK; /* nothing to send, and nothing to say so */
	if (e != ERR_OK)
		return e;

	e = ids_random_token(ACCT_RESET_TOKEN_BYTES, token, sizeof token);
	if (e == ERR_OK)
		e = auth_secret_hash("password_reset", token, token_hash);
	if (e != ERR_OK)
		goto out;
	e = db_prepare(db,
		       "INSERT INTO password_resets (token_hash, account_id, created_at, expires_at, used_at)"
		       " VALUES (?1, ?2, ?3, ?4, NULL)",
		       &st);
	if (e != ERR_OK)
		goto out;
	db_bind_text(st, 1, token_hash);
	db_bind_text(st, 2, account_id);
	db_bind_int64(st, 3, now);
	db_bind_int64(st, 4, now + ACCT_RESET_TTL_S);
	e = db_step_done(st);
	db_done(st);
	if (e == ERR_OK)
		e = events_emit(db, "account.password_reset_requested", account_id, NULL);
	if (e == ERR_OK)
		e = notify_queue(db, account_id, NOTIFY_EMAIL, email, "password_reset",
				 json_pack("{s:s, s:s}", "reset_token", token, "expires_at",
					   clock_format(now + ACCT_RESET_TTL_S, expires, sizeof expires)),
				 NULL);
out:
	sodium_memzero(token, sizeof token);
	return e;
}

enum err acct_reset_request(struct db *db, const char *email_norm, const struct netaddr *client,
			    int64_t *retry_after)
{
	char email_key[64], ip_key[96];
	*retry_after = 0;
	enum err e = acct_email_key("reset:email", email_norm, email_key, sizeof email_key);
	if (e != ERR_OK)
		return e;
	acct_ip_key("reset:ip", client, ip_key, sizeof ip_key);
	struct request_tx r = {email_norm, email_key, ip_key, retry_after, false};
	e = db_transaction(db, request_fn, &r);
	if (e == ERR_OK && r.blocked)
		e = ERR_TOO_MANY_ATTEMPTS;
	return e;
}

struct reset_target {
	char account_id[IDS_MAX];
	char email[ACCT_EMAIL_MAX + 1];
};

/* The active account a live, unused token belongs to, else ERR_INVALID_RESET_TOKEN. */
static enum err find_token(struct db *db, const char *token_hash, struct reset_target *t)
{
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db,
				"SELECT a.id, a.email FROM password_resets r JOIN accounts a ON a.id = r.account_id"
				" WHERE r.token_hash = ?1 AND r.used_at IS NULL AND r.expires_at > ?2"
				" AND a.status = 'active'",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, token_hash);
	db_bind_int64(st, 2, clock_now());
	e = db_step_row(st);
	if (e == ERR_OK) {
		snprintf(t->account_id, sizeof t->account_id, "%s", db_column_text(st, 0));
		snprintf(t->email, sizeof t->email, "%s", db_column_text(st, 1));
	}
	db_done(st);
	return e == ERR_NOT_FOUND ? ERR_INVALID_RESET_TOKEN : e;
}

struct confirm_tx {
	const char *token_hash;
	const char *new_hash;
	struct reset_target *t;
};

static enum err confirm_fn(struct db *db, void *arg)
{
	struct confirm_tx *c = arg;
	struct db_stmt *st = NULL;
	int64_t now = clock_now();
	/* Use the token up (again checked here: two confirms may race). */
	enum err e = db_prepare(db,
				"UPDATE password_resets SET used_at = ?2 WHERE token_hash = ?1"
				" AND used_at IS NULL AND expires_at > ?2 AND account_id = ?3",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, c->token_hash);
	db_bind_int64(st, 2, now);
	db_bind_text(st, 3, c->t->account_id);
	e = db_step_done(st);
	db_done(st);
	if (e != ERR_OK)
		return e;
	if (db_changes(db) == 0)
		return ERR_INVALID_RESET_TOKEN;
	/* Every other outstanding link of the account dies with this one. */
	e = db_prepare(db, "UPDATE password_resets SET used_at = ?2 WHERE account_id = ?1 AND used_at IS NULL",
		       &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, c->t->account_id);
	db_bind_int64(st, 2, now);
	e = db_step_done(st);
	db_done(st);
	if (e != ERR_OK)
		return e;
	e = db_prepare(db,
		       "UPDATE accounts SET password_hash = ?2, password_changed_at = ?3, updated_at = ?3"
		       " WHERE id = ?1 AND status = 'active'",
		       &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, c->t->account_id);
	db_bind_text(st, 2, c->new_hash);
	db_bind_int64(st, 3, now);
	e = db_step_done(st);
	db_done(st);
	if (e != ERR_OK)
		return e;
	if (db_changes(db) == 0)
		return ERR_INVALID_RESET_TOKEN;
	return acct_password_replaced(db, c->t->account_id, c->t->email, NULL, true);
}

enum err acct_reset_confirm(struct db *db, const char *token, const char *new_password,
			    const char **weak_reason)
{
	char token_hash[AUTH_SECRET_HASH_SIZE], new_hash[AUTH_PWHASH_MAX] = "";
	struct reset_target t;
	*weak_reason = NULL;
	enum err e = auth_secret_hash("password_reset", token, token_hash);
	if (e == ERR_OK)
		e = find_token(db, token_hash, &t);
	if (e == ERR_OK)
		e = auth_password_policy(new_password, t.email, weak_reason);
	if (e == ERR_OK)
		e = auth_password_hash(new_password, new_hash);
	if (e == ERR_OK) {
		struct confirm_tx c = {token_hash, new_hash, &t};
		e = db_transaction(db, confirm_fn, &c);
	}
	sodium_memzero(new_hash, sizeof new_hash);
	return e;
}
