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

/* Start the thread that writes the last use of sign-ins and devices every
 * `flush_ms` (--last-use-flush-ms).  Call once, after auth_init() and after
 * the process has blocked the signals its threads must not take. */
enum err auth_last_use_start(int64_t flush_ms);

/* Release what auth_init() loaded; first stop the last-use writer and write
 * what it had not (so call it after the server drained). */
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

/* ---- credential checks (credentials.c) ---- */

struct throttle_rule;

/* One email-and-password check, shared by member sign-in, the device page's
 * sign-in and staff sign-in so that they keep one set of rules: throttling
 * is checked before any hashing; an unknown email (`hash` NULL) costs a
 * wrong password's work; a failure counts against both throttle keys; the
 * holder's state (`is_active`) is only revealed to someone who knows the
 * password; a hash made with old Argon2id parameters is replaced.  The
 * caller owns every pointer; nothing is kept after the call. */
struct auth_credential_check {
	const char *hash;		/* the stored hash, or NULL when nobody has the email */
	bool is_active;			/* may the holder sign in now */
	enum err inactive_error;	/* the answer to a right password when !is_active */
	const char *subject_key;	/* throttle key of the holder (of the email when unknown) */
	const char *ip_key;		/* throttle key of the client network */
	const struct throttle_rule *subject_rule;
	const struct throttle_rule *ip_rule;
	/* ERR_OK when both keys may try now, else ERR_TOO_MANY_ATTEMPTS with
	 * *retry_after (or another error).  Reads only. */
	enum err (*throttle_check)(struct db *db, const char *ip_key, const char *subject_key,
				   int64_t *retry_after);
	/* Run in the write transaction once the password verified: confirm
	 * `hash` is still the holder's and the holder still active (else
	 * ERR_INVALID_CREDENTIALS), store `new_hash` when not NULL, and do the
	 * sign-in's own work.  The subject key is reset in the same
	 * transaction.  Must be safe to rerun (see db_transaction). */
	enum err (*accept)(struct db *db, const char *new_hash, void *ctx);
	void *ctx;
};

/* Check `password` as `c` describes.  ERR_OK after `accept` committed;
 * ERR_TOO_MANY_ATTEMPTS with *retry_after (seconds) when throttled;
 * ERR_INVALID_CREDENTIALS (the failure counted) for a wrong password or
 * unknown email; c->inactive_error; or what `accept` or the database
 * returned. */
enum err auth_credentials_check(struct db *db, const char *password,
				const struct auth_credential_check *c, int64_t *retry_after);

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

/* Is `t` one of the device types: tv, phone, tablet, web, console?  NULL
 * is not. */
bool auth_device_type_ok(const char *t);

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

/* Exchange a refresh token: ERR_REFRESH_TOKEN_INVALID when unknown, expired,
 * its sign-in is revoked, or its sign-in belongs to an OAuth client (those
 * are refreshed by their client at /oauth/token); ERR_REFRESH_TOKEN_REUSED
 * (and the sign-in is revoked) when it was already rotated.  Runs its own
 * transaction (through core/batch's writer when it runs). */
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

/* ---- OAuth clients (oauth_clients.c) ----
 *
 * The registered device apps (TVs, consoles) that may use the device login
 * flow.  Clients are public: they prove nothing but their client_id, so a
 * disabled client is refused (at once by the process that disabled it,
 * within --revocation-cache-ms by others: lookups are cached per thread)
 * and its sign-ins are not affected. */

#define AUTH_CLIENT_ID_MAX 64
#define AUTH_CLIENT_NAME_MAX 64

/* Grant types a client may use (a bit set). */
enum auth_grant {
	AUTH_GRANT_DEVICE_CODE = 1u << 0,	/* urn:ietf:params:oauth:grant-type:device_code */
	AUTH_GRANT_REFRESH_TOKEN = 1u << 1,	/* refresh_token */
};

struct auth_oauth_client {
	char id[AUTH_CLIENT_ID_MAX + 1];
	char name[AUTH_CLIENT_NAME_MAX * 4 + 1];	/* UTF-8 */
	char device_type[16];				/* tv | phone | tablet | web | console */
	unsigned grants;				/* enum auth_grant bits */
	bool active;
	int64_t created_at;
	int64_t disabled_at;				/* 0 while active */
};

/* The client `client_id`: ERR_OK, or ERR_NOT_FOUND (also for ids that are
 * not of the client id shape). */
enum err auth_oauth_client_get(struct db *db, const char *client_id, struct auth_oauth_client *out);

/* Register a client (event oauth_client.created; inside the caller's
 * transaction, where the support-staff area writes its audit row).
 * `in->id` is 1 to 64 of [a-z0-9._-] starting with a letter or digit,
 * `in->name` 1 to 64 characters, `in->device_type` a device type,
 * `in->grants` includes AUTH_GRANT_DEVICE_CODE.  ERR_VALIDATION with *field
 * naming the bad one; ERR_CONFLICT when the id exists; else ERR_OK with
 * `out` filled. */
enum err auth_oauth_client_add(struct db *db, const struct auth_oauth_client *in,
			       struct auth_oauth_client *out, const char **field);

/* Clients ordered by id after `starting_after` (NULL: from the start), at
 * most `limit`; *rows is malloc'd (caller frees). */
enum err auth_oauth_clients_list(struct db *db, int64_t limit, const char *starting_after,
				 struct auth_oauth_client **rows, size_t *n, bool *has_more);

/* Disable a client (event oauth_client.disabled with `reason`; inside the
 * caller's transaction): it can start no new device authorization and
 * exchange no code; sign-ins it already made go on.  ERR_NOT_FOUND;
 * disabling a disabled client is ERR_OK and changes nothing. */
enum err auth_oauth_client_disable(struct db *db, const char *client_id, const char *reason,
				   struct auth_oauth_client *out);

/* Parse a space-separated grant list ("device_code refresh_token"); false on
 * an unknown or empty list.  And the reverse, into `buf`. */
bool auth_grants_parse(const char *s, unsigned *out);
const char *auth_grants_format(unsigned grants, char *buf, size_t cap);

/* ---- the device login flow (device_flow.c): RFC 8628 ---- */

#define AUTH_USER_CODE_LEN 8	 /* normalised: 8 of BCDFGHJKLMNPQRSTVWXZ */
#define AUTH_DEVICE_CODE_MAX 80	 /* 72: an id's 29 characters, 43 of base64url; its NUL */
#define AUTH_DEVICE_TEXT_MAX 64	 /* device_name, device_model, device_id: characters */

struct auth_device_request {
	const char *client_id;
	const char *scope;	/* checked by the caller */
	const char *device_name; /* may be NULL */
	const char *device_model;
	const char *device_ref;	/* the device's own id, may be NULL */
	const struct netaddr *client;
};

struct auth_device_grant {
	char device_code[AUTH_DEVICE_CODE_MAX];
	char user_code[AUTH_USER_CODE_LEN + 2];	/* "BCDF-GHJK" */
	int64_t expires_in;
	int64_t interval;
};

/* Start a device authorization for an active client that may use the
 * device_code grant (the caller checked that).  Stores only the device
 * code's hash (the code begins with its row's id, by which polls find it);
 * event device_authorization.created.  Own transaction. */
enum err auth_device_authorize(struct db *db, const struct auth_device_request *in,
			       struct auth_device_grant *out);

/* What polling with a device code found. */
enum auth_poll {
	AUTH_POLL_TOKENS,	/* approved: *tokens filled, the code is gone */
	AUTH_POLL_PENDING,	/* authorization_pending */
	AUTH_POLL_SLOW_DOWN,	/* slow_down: polled within the interval, which grew by 5 s */
	AUTH_POLL_DENIED,	/* access_denied (denied by the member, or locked) */
	AUTH_POLL_EXPIRED,	/* expired_token */
	AUTH_POLL_INVALID,	/* invalid_grant: unknown, used, or another client's code */
};

/* Poll with `device_code` for `client_id` (an active client allowed the
 * grant).  On approval the code is deleted and a sign-in is created for the
 * approving member on a new device (type from the client, name and model
 * from the authorization request, client_id set).  Own transaction. */
enum err auth_device_poll(struct db *db, const char *client_id, const char *device_code,
			  const struct netaddr *client, enum auth_poll *result,
			  struct auth_tokens *tokens);

/* Normalise a code as a member typed it: case-insensitive, '-' and spaces
 * ignored.  True with the 8 letters in `out` when it has the shape of a
 * user code. */
bool auth_user_code_normalize(const char *in, char out[AUTH_USER_CODE_LEN + 1]);

/* A pending authorization as the member sees it before deciding. */
struct auth_device_pending {
	char id[IDS_MAX];
	char user_code[AUTH_USER_CODE_LEN + 2];	/* "BCDF-GHJK" */
	char client_id[AUTH_CLIENT_ID_MAX + 1];
	char client_name[AUTH_CLIENT_NAME_MAX * 4 + 1];
	char device_type[16];
	char device_name[AUTH_DEVICE_TEXT_MAX * 4 + 1];	/* "" when not given */
	char device_model[AUTH_DEVICE_TEXT_MAX * 4 + 1];
	char device_ref[AUTH_DEVICE_TEXT_MAX * 4 + 1];
	char network[NETADDR_STRLEN];		/* "" when unknown */
	int64_t requested_at;
	int64_t expires_at;
};

/* User-code entry is throttled per member and per client network; these
 * say whether `account_id` (may be NULL on the web page before the member
 * is known) and `client` may try a code now (ERR_TOO_MANY_ATTEMPTS with
 * *retry_after), and count a wrong code against both. */
enum err auth_user_code_throttle_check(struct db *db, const char *account_id,
				       const struct netaddr *client, int64_t *retry_after);
enum err auth_user_code_throttle_fail(struct db *db, const char *account_id,
				      const struct netaddr *client);

/* The pending, unexpired authorization with `user_code` (normalised).
 * ERR_NOT_FOUND for unknown, expired, decided, used and locked codes (a
 * wrong code is not counted here: see auth_user_code_throttle_fail). */
enum err auth_device_pending_get(struct db *db, const char *user_code,
				 struct auth_device_pending *out);

/* Approve (`approve` true, `profile_id` may be NULL; the caller checked it
 * is the member's) or deny the pending authorization `user_code` for
 * `account_id`.  Events device_authorization.approved / .denied.  ERR_NOT_FOUND
 * as for auth_device_pending_get.  Own transaction. */
enum err auth_device_decide(struct db *db, const char *user_code, const char *account_id,
			    const char *profile_id, bool approve, struct auth_device_pending *out);

/* Count a wrong confirmation against the pending code `user_code` (the web
 * page: a wrong password or a forged form naming it); at the limit the code
 * is locked for good (the device gets access_denied).  Unknown codes are
 * ignored.  Own transaction. */
enum err auth_device_code_fail(struct db *db, const char *user_code);

/* The web page's confirm step: bind a random token (returned in `token`,
 * AUTH_DEVICE_CODE_MAX bytes) to the pending code and the member whose
 * password just verified, for a few minutes; redeem it (single use) with
 * auth_device_web_decide.  ERR_NOT_FOUND as for auth_device_pending_get. */
enum err auth_device_web_begin(struct db *db, const char *user_code, const char *account_id,
			       char token[AUTH_DEVICE_CODE_MAX]);
enum err auth_device_web_decide(struct db *db, const char *token, bool approve,
				struct auth_device_pending *out);

/* ---- the device registry (devices.c) ---- */

struct auth_device_row {
	char id[IDS_MAX];
	char name[129];
	char type[16];
	char model[129];		/* "" when unknown */
	char client_id[AUTH_CLIENT_ID_MAX + 1];	/* "" for password sign-ins */
	char last_profile_id[IDS_MAX];	/* "" when none, or the profile was deleted */
	char last_profile_name[201];	/* its name (accounts area), "" when no id */
	char last_network[NETADDR_STRLEN];	/* a prefix, "" when unknown */
	int64_t first_seen_at;
	int64_t last_seen_at;
};

/* The live (not revoked) devices of `account_id`, newest first, at most
 * `limit` after `starting_after` (NULL: from the start); *rows is malloc'd.
 * ERR_INVALID_PARAMETER when starting_after is not one of the account's. */
enum err auth_devices_list(struct db *db, const char *account_id, int64_t limit,
			   const char *starting_after, struct auth_device_row **rows, size_t *n,
			   bool *has_more);

/* Sign device `device_id` of `account_id` out: the device is marked revoked,
 * its live sign-ins are revoked (their refresh tokens die with them),
 * events device.revoked and session.revoked.  ERR_NOT_FOUND when it is not
 * a live device of that account.  Own transaction. */
enum err auth_device_revoke(struct db *db, const char *account_id, const char *device_id,
			    const char *reason);
/* ---- devices and requests as the households area sees them ----
 *
 * Households judges devices by their type and by where their requests come
 * from; these read-only views and the request observer are all it needs of
 * this area (device_brief.c, auth_http.c). */

struct auth_device_brief {
	char id[IDS_MAX];
	char account_id[IDS_MAX];
	char type[16];		/* tv | phone | tablet | web | console */
	char name[129];
	int64_t first_seen_at;
	int64_t last_seen_at;
	bool revoked;
};

/* The device `device_id` (revoked ones too): ERR_OK or ERR_NOT_FOUND. */
enum err auth_device_brief_get(struct db *db, const char *device_id, struct auth_device_brief *out);

/* The live (not revoked) devices of `account_id`, oldest first: at most
 * `cap` into `out`, *n gets how many. */
enum err auth_device_briefs_of_account(struct db *db, const char *account_id,
				       struct auth_device_brief *out, size_t cap, size_t *n);

/* Called after every member request that authenticated with a token that
 * names a device, with the account, the device and the client address
 * (trusted proxies already applied).  It runs on the request's thread
 * before the handler, so it must be cheap and must not block: the
 * households area counts a sighting in memory.  One observer; NULL
 * removes it.  Set before the server starts. */
typedef void (*auth_request_observer)(const char *account_id, const char *device_id,
				      const struct netaddr *client);
void auth_set_request_observer(auth_request_observer fn);

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
 * revocation, /.well-known/paseto-keys, the device login flow's /oauth/...,
 * /v1/device-codes/... and /device pages, /v1/devices) and install the
 * authenticator. */
void auth_http_register(void);

/* For staff routes: the support-staff area supplies how a staff session and
 * role are checked (called after the token verified with aud
 * AUTH_AUD_STAFF).  Returns ERR_OK and *role, or an error to answer. */
typedef enum err (*auth_staff_resolver)(struct db *db, const char *staff_id,
					const char *staff_session_id, int *role);
void auth_set_staff_resolver(auth_staff_resolver fn);

#endif
