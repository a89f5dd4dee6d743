/*
 * accounts.c - members: settings, reading an account, sign-up, changes to
 * the account and its password.
 */
#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "accounts/accounts_int.h"
#include "core/clock.h"
#include "core/events.h"
#include "core/log.h"
#include "core/notify.h"

#define MAX_COUNTRIES 250

/* Set once by acct_init() before the server starts; read-only afterwards. */
static char countries[MAX_COUNTRIES][3];
static int ncountries;
static struct acct_settings settings;

enum err acct_init(const struct config *cfg)
{
	const char *p = cfg->countries;
	ncountries = 0;
	acct_cache_configure(cfg->account_cache_ms);
	while (*p) {
		while (*p == ' ' || *p == ',')
			p++;
		if (!*p)
			break;
		size_t n = strcspn(p, ", ");
		char code[3] = {0};
		if (n == 2) {
			code[0] = (char)toupper((unsigned char)p[0]);
			code[1] = (char)toupper((unsigned char)p[1]);
		}
		if (n != 2 || !acct_country_form_valid(code) || ncountries == MAX_COUNTRIES) {
			log_error("accounts.config", "problem=\"--countries holds a bad entry\"");
			return ERR_INVALID_PARAMETER;
		}
		memcpy(countries[ncountries++], code, 3);
		p += n;
	}
	settings.signin_account = (struct throttle_rule){cfg->signin_fail_limit, cfg->throttle_window_s, 30, 3600};
	settings.signin_ip = (struct throttle_rule){cfg->signin_ip_fail_limit, cfg->throttle_window_s, 30, 3600};
	settings.pin = (struct throttle_rule){cfg->pin_fail_limit, cfg->throttle_window_s, 30, 3600};
	/* Reset requests count every request, not only failures: the limit
	 * within an hour, then an hour's block. */
	settings.reset_email = (struct throttle_rule){cfg->reset_email_limit, 3600, 3600, 3600};
	settings.reset_ip = (struct throttle_rule){cfg->reset_ip_limit, 3600, 3600, 3600};
	return ERR_OK;
}

const struct acct_settings *acct_settings(void) { return &settings; }

bool acct_country_supported(const char *country)
{
	for (int i = 0; i < ncountries; i++)
		if (strcmp(countries[i], country) == 0)
			return true;
	return false;
}

void acct_ip_key(const char *prefix, const struct netaddr *client, char *out, size_t cap)
{
	char net[NETADDR_STRLEN];
	/* A whole IPv4 address, and the /64 an IPv6 host usually owns. */
	netaddr_prefix(client, 32, 64, net, sizeof net);
	snprintf(out, cap, "%s:%s", prefix, net);
}

enum err acct_throttle_check2(struct db *db, const char *key_a, const char *key_b,
			      int64_t *retry_after)
{
	int64_t wait_a = 0, wait_b = 0;
	enum err ea = throttle_check(db, key_a, &wait_a);
	if (ea != ERR_OK && ea != ERR_TOO_MANY_ATTEMPTS)
		return ea;
	enum err eb = throttle_check(db, key_b, &wait_b);
	if (eb != ERR_OK && eb != ERR_TOO_MANY_ATTEMPTS)
		return eb;
	*retry_after = wait_a > wait_b ? wait_a : wait_b;
	return ea == ERR_OK && eb == ERR_OK ? ERR_OK : ERR_TOO_MANY_ATTEMPTS;
}

enum err acct_email_key(const char *prefix, const char *email_norm, char *out, size_t cap)
{
	char h[AUTH_SECRET_HASH_SIZE];
	enum err e = auth_secret_hash("throttle_email", email_norm, h);
	if (e != ERR_OK)
		return e;
	int n = snprintf(out, cap, "%s:%.32s", prefix, h);
	return n < 0 || (size_t)n >= cap ? ERR_BUFFER_TOO_SMALL : ERR_OK;
}

static void copy_col(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

void acct_account_from_row(struct db_stmt *st, struct acct_account *a)
{
	copy_col(a->id, sizeof a->id, db_column_text(st, 0));
	copy_col(a->email, sizeof a->email, db_column_text(st, 1));
	copy_col(a->country, sizeof a->country, db_column_text(st, 2));
	copy_col(a->language, sizeof a->language, db_column_text(st, 3));
	copy_col(a->name, sizeof a->name, db_column_text(st, 4));
	copy_col(a->phone, sizeof a->phone, db_column_text(st, 5));
	copy_col(a->status, sizeof a->status, db_column_text(st, 6));
	a->created_at = db_column_int64(st, 7);
}

enum err acct_get(struct db *db, const char *id, struct acct_account *out)
{
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db, "SELECT " ACCT_ACCOUNT_COLUMNS " FROM accounts WHERE id = ?1", &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, id);
	e = db_step_row(st);
	if (e == ERR_OK)
		acct_account_from_row(st, out);
	db_done(st);
	return e;
}

enum err acct_profile_check(struct db *db, const char *account_id, const char *profile_id)
{
	struct db_stmt *st = NULL;
	if (!ids_valid("prf_", profile_id))
		return ERR_NOT_FOUND;
	enum err e = db_prepare(db, "SELECT 1 FROM profiles WHERE id = ?1 AND account_id = ?2", &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, profile_id);
	db_bind_text(st, 2, account_id);
	e = db_step_row(st);
	db_done(st);
	return e;
}

/* ---- sign-up ---- */

enum err acct_insert_account(struct db *db, const char *id, const struct acct_signup *in,
			     const char *password_hash, int64_t now)
{
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db,
				"INSERT INTO accounts (id, email, email_norm, password_hash, country, name, phone,"
				" language, status, created_at, updated_at, password_changed_at)"
				" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'active', ?9, ?9, ?9)",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, id);
	db_bind_text(st, 2, in->email);
	db_bind_text(st, 3, in->email_norm);
	db_bind_text(st, 4, password_hash);
	db_bind_text(st, 5, in->country);
	db_bind_text(st, 6, in->name);
	db_bind_text(st, 7, in->phone);
	db_bind_text(st, 8, in->language);
	db_bind_int64(st, 9, now);
	e = db_step_done(st);
	db_done(st);
	return e == ERR_CONFLICT ? ERR_EMAIL_TAKEN : e;
}

struct create_tx {
	const struct acct_signup *in;
	const char *hash;
	const char *profile_name;
	struct acct_account *acct;
	struct acct_profile *owner;
	struct auth_tokens *tokens;
};

static enum err create_fn(struct db *db, void *arg)
{
	struct create_tx *c = arg;
	const struct acct_signup *in = c->in;
	struct db_stmt *st = NULL;
	int64_t now = clock_now();
	enum err e = ids_new("acc_", c->acct->id, sizeof c->acct->id);
	if (e == ERR_OK)
		e = ids_new("prf_", c->owner->id, sizeof c->owner->id);
	if (e != ERR_OK)
		return e;
	e = acct_insert_account(db, c->acct->id, in, c->hash, now);
	if (e != ERR_OK)
		return e;

	char name_norm[ACCT_PROFILE_NAME_BYTES + 1];
	acct_lower(c->profile_name, name_norm, sizeof name_norm);
	e = db_prepare(db,
		       "INSERT INTO profiles (id, account_id, name, name_norm, is_owner, kids, language,"
		       " pin_hash, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, 1, 0, ?5, NULL, ?6, ?6)",
		       &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, c->owner->id);
	db_bind_text(st, 2, c->acct->id);
	db_bind_text(st, 3, c->profile_name);
	db_bind_text(st, 4, name_norm);
	db_bind_text(st, 5, in->language);
	db_bind_int64(st, 6, now);
	e = db_step_done(st);
	db_done(st);
	if (e != ERR_OK)
		return e;

	e = events_emit(db, "account.created", c->acct->id,
			json_pack("{s:s, s:s}", "country", in->country, "language", in->language));
	if (e == ERR_OK)
		e = events_emit(db, "profile.created", c->owner->id,
				json_pack("{s:s, s:b, s:b}", "account_id", c->acct->id, "is_owner", 1,
					  "kids", 0));
	if (e == ERR_OK)
		e = notify_queue(db, c->acct->id, NOTIFY_EMAIL, in->email, "welcome",
				 json_pack("{s:s}", "name", c->profile_name), NULL);
	if (e == ERR_OK)
		e = auth_signin_create(db, c->acct->id, &in->device, in->client, c->tokens);
	if (e != ERR_OK)
		return e;

	struct acct_account *a = c->acct;
	copy_col(a->email, sizeof a->email, in->email);
	copy_col(a->country, sizeof a->country, in->country);
	copy_col(a->language, sizeof a->language, in->language);
	copy_col(a->name, sizeof a->name, in->name);
	copy_col(a->phone, sizeof a->phone, in->phone);
	copy_col(a->status, sizeof a->status, "active");
	a->created_at = now;
	struct acct_profile *p = c->owner;
	copy_col(p->account_id, sizeof p->account_id, a->id);
	copy_col(p->name, sizeof p->name, c->profile_name);
	copy_col(p->language, sizeof p->language, in->language);
	p->is_owner = true;
	p->kids = false;
	p->has_pin = false;
	p->created_at = p->updated_at = now;
	return ERR_OK;
}

enum err acct_create(struct db *db, const struct acct_signup *in, struct acct_account *acct,
		     struct acct_profile *owner, struct auth_tokens *tokens, const char **weak_reason)
{
	char hash[AUTH_PWHASH_MAX];
	char profile_name[ACCT_PROFILE_NAME_BYTES + 1];
	*weak_reason = NULL;
	if (!acct_country_supported(in->country))
		return ERR_COUNTRY_NOT_SUPPORTED;
	enum err e = auth_password_policy(in->password, in->email, weak_reason);
	if (e != ERR_OK)
		return e;
	/* The owner profile is named after the member, else the email's local part. */
	if (in->name) {
		acct_utf8_copy_prefix(in->name, ACCT_PROFILE_NAME_CHARS, profile_name, sizeof profile_name);
	} else {
		char local[ACCT_EMAIL_MAX + 1];
		size_t n = strcspn(in->email, "@");
		memcpy(local, in->email, n);
		local[n] = '\0';
		acct_utf8_copy_prefix(local, ACCT_PROFILE_NAME_CHARS, profile_name, sizeof profile_name);
	}
	e = auth_password_hash(in->password, hash);
	if (e != ERR_OK)
		return e;
	struct create_tx c = {in, hash, profile_name, acct, owner, tokens};
	e = db_transaction(db, create_fn, &c);
	sodium_memzero(hash, sizeof hash);
	return e;
}

/* ---- changes ---- */

struct update_tx {
	const char *id;
	const struct acct_changes *ch;
};

static enum err update_fn(struct db *db, void *arg)
{
	struct update_tx *u = arg;
	const struct acct_changes *ch = u->ch;
	struct db_stmt *st = NULL;
	/* ?3/?5 say whether to set name/phone, so one statement serves every mix. */
	enum err e = db_prepare(db,
				"UPDATE accounts SET"
				" name = CASE WHEN ?3 THEN ?2 ELSE name END,"
				" phone = CASE WHEN ?5 THEN ?4 ELSE phone END,"
				" language = COALESCE(?6, language),"
				" updated_at = ?7"
				" WHERE id = ?1 AND status <> 'erased'",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, u->id);
	db_bind_text(st, 2, ch->name);
	db_bind_int64(st, 3, ch->set_name);
	db_bind_text(st, 4, ch->phone);
	db_bind_int64(st, 5, ch->set_phone);
	db_bind_text(st, 6, ch->language);
	db_bind_int64(st, 7, clock_now());
	e = db_step_done(st);
	db_done(st);
	if (e != ERR_OK)
		return e;
	if (db_changes(db) == 0)
		return ERR_NOT_FOUND;
	acct_cache_changed(db, u->id);
	json_t *fields = json_array();
	if (ch->set_name)
		json_array_append_new(fields, json_string("name"));
	if (ch->set_phone)
		json_array_append_new(fields, json_string("phone"));
	if (ch->language)
		json_array_append_new(fields, json_string("language"));
	return events_emit(db, "account.updated", u->id, json_pack("{s:o}", "fields", fields));
}

enum err acct_update(struct db *db, const char *id, const struct acct_changes *ch,
		     struct acct_account *out)
{
	enum err e = ERR_OK;
	if (ch->set_name || ch->set_phone || ch->language) {
		struct update_tx u = {id, ch};
		e = db_transaction(db, update_fn, &u);
	}
	if (e == ERR_OK)
		e = acct_get(db, id, out);
	return e;
}

/* The stored hash and email of `id`: ERR_NOT_FOUND when there is no such
 * account (or it was erased), ERR_ACCOUNT_LOCKED when it is locked. */
static enum err read_credentials(struct db *db, const char *id, char hash[AUTH_PWHASH_MAX],
				 char email[ACCT_EMAIL_MAX + 1])
{
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db, "SELECT password_hash, email, status FROM accounts WHERE id = ?1",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, id);
	e = db_step_row(st);
	if (e == ERR_OK) {
		const char *status = db_column_text(st, 2);
		copy_col(hash, AUTH_PWHASH_MAX, db_column_text(st, 0));
		copy_col(email, ACCT_EMAIL_MAX + 1, db_column_text(st, 1));
		if (strcmp(status, "erased") == 0)
			e = ERR_NOT_FOUND;
		else if (strcmp(status, "active") != 0)
			e = ERR_ACCOUNT_LOCKED;
	}
	db_done(st);
	return e;
}

enum err acct_password_replaced(struct db *db, const char *account_id, const char *email,
				const char *keep_session_id, bool by_reset)
{
	char key[64];
	snprintf(key, sizeof key, "signin:acct:%s", account_id);
	acct_cache_changed(db, account_id);
	enum err e = auth_revoke_account_sessions(db, account_id, keep_session_id,
						  by_reset ? "password_reset" : "password_changed");
	if (e == ERR_OK)
		e = throttle_reset(db, key);
	if (e == ERR_OK)
		e = events_emit(db, by_reset ? "account.password_reset" : "account.password_changed", account_id,
				NULL);
	if (e == ERR_OK)
		e = notify_queue(db, account_id, NOTIFY_EMAIL, email, "password_changed",
				 json_pack("{s:s}", "how", by_reset ? "reset" : "changed"), NULL);
	return e;
}

struct password_tx {
	const char *id;
	const char *keep_session_id;
	const char *old_hash;
	const char *new_hash;
	const char *email;
	const char *account_key;
	const char *ip_key;
	bool verified;
};

static enum err password_fn(struct db *db, void *arg)
{
	struct password_tx *p = arg;
	const struct acct_settings *cfg = acct_settings();
	struct db_stmt *st = NULL;
	if (!p->verified) {
		enum err e = throttle_fail(db, p->account_key, &cfg->signin_account);
		if (e == ERR_OK)
			e = throttle_fail(db, p->ip_key, &cfg->signin_ip);
		return e;
	}
	int64_t now = clock_now();
	/* Only over the hash that was verified: a concurrent change wins. */
	enum err e = db_prepare(db,
				"UPDATE accounts SET password_hash = ?2, password_changed_at = ?3, updated_at = ?3"
				" WHERE id = ?1 AND password_hash = ?4 AND status = 'active'",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, p->id);
	db_bind_text(st, 2, p->new_hash);
	db_bind_int64(st, 3, now);
	db_bind_text(st, 4, p->old_hash);
	e = db_step_done(st);
	db_done(st);
	if (e != ERR_OK)
		return e;
	if (db_changes(db) == 0)
		return ERR_CONFLICT;
	return acct_password_replaced(db, p->id, p->email, p->keep_session_id, false);
}

enum err acct_change_password(struct db *db, const char *id, const char *keep_session_id,
			      const char *current, const char *new_password,
			      const struct netaddr *client, const char **weak_reason,
			      int64_t *retry_after)
{
	char old_hash[AUTH_PWHASH_MAX] = "";
	char new_hash[AUTH_PWHASH_MAX] = "";
	char email[ACCT_EMAIL_MAX + 1];
	char account_key[64], ip_key[96];
	bool needs_rehash = false;
	*weak_reason = NULL;
	*retry_after = 0;
	enum err e = read_credentials(db, id, old_hash, email);
	if (e != ERR_OK)
		goto out;
	e = auth_password_policy(new_password, email, weak_reason);
	if (e != ERR_OK)
		goto out;
	snprintf(account_key, sizeof account_key, "signin:acct:%s", id);
	acct_ip_key("signin:ip", client, ip_key, sizeof ip_key);
	e = acct_throttle_check2(db, ip_key, account_key, retry_after);
	if (e != ERR_OK)
		goto out;
	struct password_tx p = {id, keep_session_id, old_hash, new_hash, email, account_key, ip_key, false};
	if (auth_password_verify(old_hash, current, &needs_rehash) != ERR_OK) {
		e = db_transaction(db, password_fn, &p);
		if (e == ERR_OK)
			e = ERR_INVALID_CREDENTIALS;
		goto out;
	}
	e = auth_password_hash(new_password, new_hash);
	if (e != ERR_OK)
		goto out;
	p.verified = true;
	e = db_transaction(db, password_fn, &p);
	if (e == ERR_CONFLICT) /* the password changed meanwhile: `current` is no longer it */
		e = ERR_INVALID_CREDENTIALS;
out:
	sodium_memzero(old_hash, sizeof old_hash);
	sodium_memzero(new_hash, sizeof new_hash);
	return e;
}
