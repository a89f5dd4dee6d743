/*
 * credentials.c - the password check that member sign-in, the device page
 * and staff sign-in share (see struct auth_credential_check in auth.h).
 *
 * What must stay true: nothing is hashed while either throttle key is
 * blocked; a wrong password and an unknown email do the same work and give
 * the same answer; only a verified password learns that the holder is
 * inactive; the stored hash is compared again inside the transaction that
 * accepts it, so a password changed meanwhile is not accepted.
 */
#include <sodium.h>

#include "auth/auth_int.h"
#include "core/throttle.h"

struct check_tx {
	const struct auth_credential_check *c;
	bool verified;
	const char *new_hash; /* a rehash to store, or NULL */
};

static enum err check_fn(struct db *db, void *arg)
{
	struct check_tx *t = arg;
	const struct auth_credential_check *c = t->c;
	enum err e;
	if (!t->verified) {
		e = throttle_fail(db, c->subject_key, c->subject_rule);
		if (e == ERR_OK)
			e = throttle_fail(db, c->ip_key, c->ip_rule);
		return e;
	}
	e = c->accept(db, t->new_hash, c->ctx);
	if (e == ERR_OK)
		e = throttle_reset(db, c->subject_key);
	return e;
}

enum err auth_credentials_check(struct db *db, const char *password,
				const struct auth_credential_check *c, int64_t *retry_after)
{
	char new_hash[AUTH_PWHASH_MAX];
	bool needs_rehash = false;
	*retry_after = 0;
	enum err e = c->throttle_check(db, c->ip_key, c->subject_key, retry_after);
	if (e != ERR_OK)
		goto out;

	bool ok = false;
	if (c->hash)
		ok = auth_password_verify(c->hash, password, &needs_rehash) == ERR_OK;
	else
		auth_password_burn(password);
	struct check_tx t = {c, false, NULL};
	if (!ok) {
		e = db_transaction(db, check_fn, &t);
		if (e == ERR_OK)
			e = ERR_INVALID_CREDENTIALS;
		goto out;
	}
	if (!c->is_active) {
		e = c->inactive_error;
		goto out;
	}
	if (needs_rehash) {
		e = auth_password_hash(password, new_hash);
		if (e != ERR_OK)
			goto out;
		t.new_hash = new_hash;
	}
	t.verified = true;
	e = db_transaction(db, check_fn, &t);
out:
	sodium_memzero(new_hash, sizeof new_hash);
	return e;
}
