/*
 * auth.h - the auth area's contract with the rest of Hearth: passwords,
 * sign-ins (sessions) with their device, access and refresh tokens, and the
 * authenticator every protected route goes through.
 *
 * Invariants:
 * - Passwords are only ever stored as libsodium Argon2id strings
 *   (crypto_pwhash_str); hashing is bounded (callers run on HTTP_OFFLOAD
 *   routes, whose pool size is the hash concurrency).
 * - Access tokens are PASETO v4.public, signed by the current key of the key
 *   file, with `kid` (PASERK k4.pid) in the footer; any holder of the public
 *   keys (GET /.well-known/paseto-keys) can verify them offline.
 * - Refresh tokens are 256-bit random strings stored only as a keyed BLAKE2b
 *   hash; each use rotates them; a rotated one presented again revokes its
 *   whole sign-in.
 * - A revoked sign-in stops authenticating requests within the revocation
 *   cache's staleness (config revocation_cache_ms, default 1 s).
 *
 * This area knows accounts only by id: it owns devices, sessions and
 * refresh_tokens, never the accounts table.
 */
#ifndef HEARTH_AUTH_AUTH_H
#define HEARTH_AUTH_AUTH_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"
#include "core/db.h"
#include "core/ids.h"
#include "core/netaddr.h"

#define AUTH_PWHASH_MAX 128	  /* crypto_pwhash_STRBYTES */
#define AUTH_TOKEN_MAX 1024	  /* an access token, with its NUL */
#define AUTH_REFRESH_MAX 48	  /* a refresh token (base64url of 32 bytes), with its NUL */

/* Audiences: member API tokens and staff (admin API) tokens. */
#define AUTH_AUD_MEMBER "hearth:api"
#define AUTH_AUD_STAFF "hearth:admin"

/* Read the settings (Argon2id parameters, lifetimes, issuer, key file) and
 * load the signing key set, creating the key file (mode 0600) when it does
 * not exist.  Call once at start, before serving. */
enum err auth_init(const struct config *cfg);

/* Release what auth_init() loaded. */
void auth_shutdown(void);

/* ---- passwords ---- */

/* NIST SP 800-63B policy: 8 characters (code points) to 256 bytes, not the
 * email, not on the bundled list of common passwords.  ERR_WEAK_PASSWORD
 * with *reason ("too_short", "too_long", "equals_email", "common") else ERR_OK. */
enum err auth_password_policy(const char *password, const char *email, const char **reason);

/* Hash with the configured Argon2id parameters into `out`. */
enum err auth_password_hash(const char *password, char out[AUTH_PWHASH_MAX]);

/* ERR_OK when `password` matches `hash` (then *needs_rehash tells whether
 * the hash used other parameters than the configured ones), else
 * ERR_INVALID_CREDENTIALS. */
enum err auth_password_verify(const char *hash, const char *password, bool *needs_rehash);

/* Spend the time of one verification without a stored hash, so an unknown
 * email costs what a wrong password costs. */
void auth_password_burn(const char *password);

/* ---- stored secrets ---- */

#define AUTH_SECRET_HASH_SIZE 65 /* 64 hex digits and a NUL */

/* Keyed BLAKE2b-256 of a secret token (the key is the key file's hash key,
 * never stored in the database), written as 64 lowercase hex digits: how
 * refresh tokens are stored, and how the accounts area stores password-reset
 * tokens.  `purpose` ("refresh", "password_reset") separates the uses, so
 * one kind of token can never be looked up as another.  ERR_OK, or
 * ERR_INTERNAL before auth_init(). */
enum err auth_secret_hash(const char *purpose, const char *secret, char out[AUTH_SECRET_HASH_SIZE]);

/* ---- sign-ins ---- */

struct auth_device {
	const char *id;		/* an existing device of the account to reuse, or NULL */
	const char *name;	/* "Living room TV" */
	const char *type;	/* tv | phone | tablet | web | console */
	const char *model;	/* may be NULL */
	const char *client_id;	/* OAuth client for device-flow sign-ins, or NULL */
};

struct auth_tokens {
	char access_token[AUTH_TOKEN_MAX];
	char refresh_token[AUTH_REFRESH_MAX];
	int64_t expires_in;	/* access token lifetime, seconds */
	char session_id[IDS_MAX];
	char device_id[IDS_MAX];
};

/* Create a sign-in for `account_id` from `dev` seen at `client`: creates or
 * updates the device, creates the session and its first refresh token, and
 * signs an access token.  Runs inside the caller's transaction and writes
 * the `session.created` event. */
enum err auth_signin_create(struct db *db, const char *account_id, const struct auth_device *dev,
			    const struct netaddr *client, struct auth_tokens *out);

/* Exchange a refresh token: ERR_REFRESH_TOKEN_INVALID when unknown, expired
 * or its sign-in is revoked; ERR_REFRESH_TOKEN_REUSED (and the sign-in is
 * revoked) when it was already rotated.  Runs its own transaction. */
enum err auth_refresh(struct db *db, const char *refresh_token, const struct netaddr *client,
		      struct auth_tokens *out);

/* Revoke every live sign-in of `account_id` except `keep_session_id` (NULL
 * keeps none), recording `reason`.  Inside the caller's transaction. */
enum err auth_revoke_account_sessions(struct db *db, const char *account_id,
				      const char *keep_session_id, const char *reason);

/* Sign a staff access token (aud AUTH_AUD_STAFF) for `staff_id` with the
 * staff lifetime; used by the support-staff area. */
enum err auth_staff_token(const char *staff_id, const char *staff_session_id, char *out, size_t cap,
			  int64_t *expires_in);

/* ---- for the support-staff area (auth/support.c) ---- */

/* Read the Argon2id parameters and the common-password list from `cfg`
 * without loading keys: for tools that hash passwords without serving
 * (hearthctl staff create).  auth_init() does this itself. */
enum err auth_password_setup(const struct config *cfg);

/* The account that device `device_id` belongs to (IDS_MAX bytes):
 * ERR_OK or ERR_NOT_FOUND. */
enum err auth_device_account(struct db *db, const char *device_id, char *account_id);

/* How many live sign-ins `account_id` has. */
enum err auth_account_live_sessions(struct db *db, const char *account_id, int64_t *count);

/* What staff see of a member's sign-ins: *out a new {devices: [{id, type,
 * name, model, first_seen_at, last_seen_at, last_network, revoked}],
 * sessions: [{id, device_id, device_type, device_name, created_at,
 * last_used_at, last_network, expires_at}]} (live sign-ins, newest first). */
enum err auth_account_signins_json(struct db *db, const char *account_id, json_t **out);

/* Everything auth holds about the member, for a data export: every device
 * and every sign-in (revoked ones too) with times and networks. */
enum err auth_account_export(struct db *db, const char *account_id, json_t **out);

/* Privacy erasure: revoke every sign-in (reason account_erased), drop their
 * refresh tokens, clear device names, models and networks and sign-in
 * networks.  Inside the caller's transaction. */
enum err auth_account_erase(struct db *db, const char *account_id);

/* ---- HTTP ---- */

/* Register the auth routes (/v1/tokens/refresh, /v1/sessions listing and
 * revocation, /.well-known/paseto-keys) and install the authenticator. */
void auth_http_register(void);

/* For staff routes: the support-staff area supplies how a staff session and
 * role are checked (called after the token verified with aud
 * AUTH_AUD_STAFF).  Returns ERR_OK and *role, or an error to answer. */
typedef enum err (*auth_staff_resolver)(struct db *db, const char *staff_id,
					const char *staff_session_id, int *role);
void auth_set_staff_resolver(auth_staff_resolver fn);

#endif
