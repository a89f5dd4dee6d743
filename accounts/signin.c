/*
 * signin.c - member sign-in with email and password.
 *
 * What must stay true: an unknown email and a wrong password cost the same
 * work and give the same answer; throttling is checked before any hashing,
 * counts failures per account (per email when no account has it, so a
 * blocked unknown email looks like a blocked account) and per client
 * network; a locked account is only revealed to someone who knows its
 * password.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "accounts/accounts_int.h"
#include "core/clock.h"
#include "core/events.h"

struct found {
	bool known;
	char id[IDS_MAX];
	char hash[AUTH_PWHASH_MAX];
	char status[12];
};

static enum err find_by_email(struct db *db, const char *norm, struct found *f)
{
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db, "SELECT id, password_hash, status FROM accounts WHERE email_norm = ?1",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, norm);
	e = db_step_row(st);
	if (e == ERR_OK) {
		f->known = true;
		snprintf(f->id, sizeof f->id, "%s", db_column_text(st, 0));
		snprintf(f->hash, sizeof f->hash, "%s", db_column_text(st, 1));
		snprintf(f->status, sizeof f->status, "%s", db_column_text(st, 2));
	}
	db_done(st);
	return e == ERR_NOT_FOUND ? ERR_OK : e;
}

struct signin_ctx {
	const struct found *f;
	const struct auth_device *dev;
	const struct netaddr *client;
	struct auth_tokens *tokens;
};

static enum err accept_signin(struct db *db, const char *new_hash, void *arg)
{
	struct signin_ctx *s = arg;
	struct db_stmt *st = NULL;
	/* The password was verified against this hash outside the transaction;
	 * if it changed since, the password given is no longer the password. */
	enum err e = db_prepare(db, "SELECT 1 FROM accounts WHERE id = ?1 AND password_hash = ?2"
				    " AND status = 'active'",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, s->f->id);
	db_bind_text(st, 2, s->f->hash);
	e = db_step_row(st);
	db_done(st);
	if (e == ERR_NOT_FOUND)
		return ERR_INVALID_CREDENTIALS;
	if (e != ERR_OK)
		return e;
	if (new_hash) {
		e = db_prepare(db, "UPDATE accounts SET password_hash = ?2 WHERE id = ?1", &st);
		if (e != ERR_OK)
			return e;
		db_bind_text(st, 1, s->f->id);
		db_bind_text(st, 2, new_hash);
		e = db_step_done(st);
		db_done(st);
		if (e == ERR_OK) {
			acct_cache_changed(db, s->f->id);
			e = events_emit(db, "account.password_rehashed", s->f->id, NULL);
		}
		if (e != ERR_OK)
			return e;
	}
	if (s->dev)
		e = auth_signin_create(db, s->f->id, s->dev, s->client, s->tokens);
	return e;
}

/* Sign in, or with `dev` NULL only verify (then `account_id` receives the
 * account and no sign-in is created). */
static enum err signin_or_verify(struct db *db, const char *email, const char *password,
				 const struct auth_device *dev, const struct netaddr *client,
				 struct auth_tokens *tokens, char *account_id, int64_t *retry_after)
{
	const struct acct_settings *cfg = acct_settings();
	struct found f = {0};
	char norm[ACCT_EMAIL_MAX + 1];
	char account_key[96], ip_key[96];
	enum err e = ERR_OK;
	*retry_after = 0;
	if (acct_email_normalize(email, norm))
		e = find_by_email(db, norm, &f);
	else
		snprintf(norm, sizeof norm, "%.*s", ACCT_EMAIL_MAX, email);
	if (e != ERR_OK)
		goto out;
	if (f.known)
		snprintf(account_key, sizeof account_key, "signin:acct:%s", f.id);
	else
		e = acct_email_key("signin:email", norm, account_key, sizeof account_key);
	if (e != ERR_OK)
		goto out;
	acct_ip_key("signin:ip", client, ip_key, sizeof ip_key);

	struct signin_ctx s = {&f, dev, client, tokens};
	const struct auth_credential_check check = {
		.hash = f.known ? f.hash : NULL,
		.is_active = strcmp(f.status, "active") == 0,
		.inactive_error = ERR_ACCOUNT_LOCKED,
		.subject_key = account_key,
		.ip_key = ip_key,
		.subject_rule = &cfg->signin_account,
		.ip_rule = &cfg->signin_ip,
		.throttle_check = acct_throttle_check2,
		.accept = accept_signin,
		.ctx = &s,
	};
	e = auth_credentials_check(db, password, &check, retry_after);
	if (e == ERR_OK && account_id)
		memcpy(account_id, f.id, sizeof f.id);
out:
	sodium_memzero(f.hash, sizeof f.hash);
	return e;
}

enum err acct_signin(struct db *db, const char *email, const char *password,
		     const struct auth_device *dev, const struct netaddr *client,
		     struct auth_tokens *tokens, int64_t *retry_after)
{
	return signin_or_verify(db, email, password, dev, client, tokens, NULL, retry_after);
}

enum err acct_verify_credentials(struct db *db, const char *email, const char *password,
				 const struct netaddr *client, char account_id[IDS_MAX],
				 int64_t *retry_after)
{
	account_id[0] = '\0';
	if (!email || !password || !email[0] || !password[0] || strlen(email) > 1024 ||
	    strlen(password) > 4096) {
		*retry_after = 0;
		return ERR_INVALID_CREDENTIALS;
	}
	return signin_or_verify(db, email, password, NULL, client, NULL, account_id, retry_after);
}
