/*
 * auth_int.h - what the files of auth/ share and nobody else sees (tests
 * excepted): the settings, the loaded key set, token issue and
 * verification, and the sign-in functions behind the HTTP adapter.
 */
#ifndef HEARTH_AUTH_AUTH_INT_H
#define HEARTH_AUTH_AUTH_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/auth.h"
#include "auth/keys.h"
#include "auth/paseto.h"

/* The settings auth_init() copied from the configuration. */
struct auth_settings {
	char issuer[256];
	int64_t access_ttl_s;
	int64_t refresh_ttl_s;
	int64_t staff_ttl_s;
	int64_t revocation_cache_ms;
	/* the device login flow */
	int64_t device_code_ttl_s;
	int64_t device_poll_interval_s;
	int64_t device_code_max_failures;
	int64_t throttle_window_s;
	int64_t user_code_fail_limit;
	int64_t user_code_ip_fail_limit;
	char verification_uri[512];
	bool cookie_secure;
};
extern struct auth_settings auth_settings;

/* ---- password.c ---- */

/* Build the common-password index and the dummy hash for the configured
 * Argon2id parameters (0 = INTERACTIVE).  ERR_NOMEM, ERR_CRYPTO or ERR_IO
 * (the embedded list is missing). */
enum err auth_password_init(int64_t opslimit, int64_t memlimit);
void auth_password_release(void);

/* ---- keys.c: the key set hearthd runs with ---- */

/* Load `path`, creating it when missing.  Errors are logged with what to do. */
enum err auth_keyset_open(const char *path);
void auth_keyset_close(void);

/* Reload the key file if it changed since the last look.  Looks at most once
 * a second unless `force` (the test clock moved).  Cheap when nothing is due. */
void auth_keyset_check_reload(bool force);

/* The generation of the loaded key set: it changes every time a different
 * key set is loaded, so caches of verified tokens key on it. */
uint64_t auth_keyset_generation(void);

/* Sign `claims_json` with the current key (footer {"kid":...}).  *token_out
 * is malloc'd (caller frees). */
enum err auth_keyset_sign(const char *claims_json, char **token_out);

/* Verify a v4.public token against the current and verify_only keys; the
 * claims are malloc'd (caller frees); *generation is the key set's.
 * ERR_INVALID_TOKEN or ERR_NOMEM. */
enum err auth_keyset_verify(const char *token, size_t len, unsigned char **claims, size_t *claims_len,
			    uint64_t *generation);

/* The published keys (current and verify_only), newest first, as
 * [{"kid":..., "paserk":...}] (a new reference). */
json_t *auth_keyset_public_json(void);

/* Keyed BLAKE2b-256 of `purpose` and `secret` under the key file's hash key,
 * as 64 hex digits. */
enum err auth_keyset_hash(const char *purpose, const char *secret, size_t secret_len,
			  char out[65]);

/* ---- tokens.c ---- */

struct auth_claims {
	char sub[IDS_MAX];
	char sid[IDS_MAX];
	char dev[IDS_MAX];	/* "" when absent */
	char jti[IDS_MAX];
	int64_t iat;
	int64_t exp;
};

/* Issue an access token for `aud` lasting `ttl` seconds from now.  `dev` may
 * be NULL.  `out` holds AUTH_TOKEN_MAX bytes. */
enum err auth_token_issue(const char *aud, const char *sub, const char *sid, const char *dev,
			  int64_t ttl, char out[AUTH_TOKEN_MAX]);

/* Verify `token` (`len` bytes) for audience `aud`: signature through its
 * kid, iss, aud, exp and nbf against clock_now().  ERR_INVALID_TOKEN for any
 * failure.  Results of recent verifications are cached per thread. */
enum err auth_token_verify(const char *token, size_t len, const char *aud, struct auth_claims *out);

/* Switch the per-thread verification cache off or on (for measurements). */
void auth_token_cache_enable(bool on);

/* ---- listing.c: what the paged lists share ---- */

/* Copy text column `i` of `st` into `dst` (`cap` bytes); NULL reads as "". */
void auth_copy_col(struct db_stmt *st, int i, char *dst, size_t cap);

/* Fill the element at `row` from the current row of `st`. */
typedef void (*auth_row_reader)(struct db_stmt *st, void *row);

/* Read one page from `st` (bound, with LIMIT `limit` + 1) into a new array
 * of `size`-byte elements, each filled by `read`: *rows (malloc'd, the
 * caller frees), *n (at most `limit`) and *has_more (a further row exists).
 * On error *rows is NULL.  The caller still finishes `st` with db_done. */
enum err auth_page_read(struct db_stmt *st, int64_t limit, size_t size, auth_row_reader read,
			void **rows, size_t *n, bool *has_more);

/* An account's list, paged by an integer sort key (newest first, say) and
 * the row id to break ties. */
struct auth_page_query {
	/* The sort key of the row ?1 of account ?2: one integer column. */
	const char *cursor_sql;
	/* The page: ?1 the account, ?2 starting_after (NULL: from the start),
	 * ?3 its sort key, ?4 the limit plus one, ?5 now when `binds_now`. */
	const char *page_sql;
	bool binds_now;
	size_t row_size;
	auth_row_reader read;
};

/* Read the page of `account_id`'s list `q` of at most `limit` rows after
 * the row `starting_after` (NULL: the first page), as auth_page_read does.
 * ERR_INVALID_PARAMETER when starting_after is not one of the account's. */
enum err auth_page_list(struct db *db, const struct auth_page_query *q, const char *account_id,
			int64_t limit, const char *starting_after, void **rows, size_t *n,
			bool *has_more);

/* ---- sessions.c ---- */

struct auth_session_row {
	char id[IDS_MAX];
	char device_id[IDS_MAX];
	char device_name[129];
	char device_type[16];
	char device_model[129];
	int64_t created_at;
	int64_t last_used_at;
	int64_t expires_at;
	char last_network[NETADDR_STRLEN];
};

/* The live (unrevoked, unexpired) sign-ins of `account_id`, newest first,
 * at most `limit`, after the sign-in `starting_after` (NULL: from the
 * start).  *rows is malloc'd.  ERR_INVALID_PARAMETER when starting_after
 * is not one of the account's sign-ins. */
enum err auth_sessions_list(struct db *db, const char *account_id, int64_t limit,
			    const char *starting_after, struct auth_session_row **rows, size_t *n,
			    bool *has_more);

/* The network a sign-in or a device authorization records for `client`:
 * its /24 (IPv4) or /56 (IPv6) prefix, written to `buf` (`cap` bytes,
 * NETADDR_STRLEN will do); NULL when the client is unknown. */
const char *auth_network_of(const struct netaddr *client, char *buf, size_t cap);

/* Revoke the live sign-in `session_id` of `account_id` (own transaction).
 * ERR_NOT_FOUND when it is not a live sign-in of that account. */
enum err auth_session_revoke(struct db *db, const char *account_id, const char *session_id,
			     const char *reason);

/* Revoke, in the caller's transaction at `now`, the sign-ins of `account_id`
 * on its device `device_id` not yet revoked, each with a session.revoked
 * event; *count receives how many. */
enum err auth_device_sessions_revoke(struct db *db, const char *account_id, const char *device_id,
				     const char *reason, int64_t now, int64_t *count);

/* Revoke every live sign-in of `account_id` (own transaction); *count
 * receives how many. */
enum err auth_sessions_revoke_all(struct db *db, const char *account_id, const char *reason,
				  int64_t *count);

/* Is `session_id` a live sign-in of `account_id`?  ERR_OK or
 * ERR_INVALID_TOKEN.  Answers from a per-thread cache no staler than
 * revocation_cache_ms; records last use (at most once a minute per sign-in). */
enum err auth_session_check(struct db *db, const char *account_id, const char *session_id,
			    const struct netaddr *client);

/* Tell this process's revocation caches that a revocation committed. */
void auth_revocation_bump(void);

/* ---- last_use.c: last use of sign-ins, written in batches ---- */

/* Note that sign-in `session_id` was used at `at` from `network` (a prefix,
 * or NULL when unknown).  Memory only: cheap, never blocks on the database. */
void auth_last_use_record(const char *session_id, const char *network, int64_t at);

/* Write every recorded use to sessions.last_used_at / last_network and to
 * its device's last_seen_at / last_network (never moving a time back), in
 * transactions of a few hundred; what could not be written stays for the
 * next flush.  *written (may be NULL) gets how many sign-ins were written. */
enum err auth_last_use_flush(struct db *db, int64_t *written);

/* Delete refresh tokens that expired, then sign-ins 30 days after they
 * expired (with no refresh token left), in transactions of a bounded size;
 * *deleted (may be NULL) counts the rows.  Run hourly by the last-use
 * writer thread. */
enum err auth_sessions_purge(struct db *db, int64_t now, int64_t *deleted);

/* Stop the writer thread of auth_last_use_start (if running) and flush
 * what is left. */
void auth_last_use_stop(void);

/* ---- the device login flow and the device registry ---- */

/* Told, on core/batch's writer thread, that an asynchronous write below
 * committed (ERR_OK) or failed; its out-parameters are filled by then. */
typedef void (*auth_done_fn)(void *done_ctx, enum err result);

/* Told, on the caller's thread before the write is queued, the grant a
 * device authorization will answer with, so the caller can prepare its
 * reply off the writer thread.  The write may still fail, or replace the
 * user code with a fresh one (a taken code): compare out->user_code when
 * told done. */
typedef void (*auth_ready_fn)(void *done_ctx, const struct auth_device_grant *g);

/* A poll, in two steps.  auth_device_poll_check answers it from a read:
 * AUTH_POLL_PENDING and AUTH_POLL_SLOW_DOWN (the pace kept in memory, no
 * write), DENIED, EXPIRED, INVALID; or AUTH_POLL_TOKENS: the code is
 * approved, exchange it with auth_device_exchange_async, which reads it
 * again in the write transaction (a racing poll may have taken it) and
 * gives any answer auth_device_poll gives. */
enum err auth_device_poll_check(struct db *db, const char *client_id, const char *device_code,
				enum auth_poll *result);

/* auth_device_authorize, the exchange of an approved code and a refresh,
 * without waiting for the commit: when the work was queued to the writer,
 * *pending is true, ERR_OK is returned and `done(done_ctx, e)` is called
 * once after the commit, with the result then in the out-parameters
 * (which, and the strings passed, must live until then).  Otherwise (no
 * writer, or `done` NULL) *pending is false, the result is returned as by
 * the waiting functions, and `done` is not called.  A refresh names the
 * client it comes from (`client_id`, NULL for none): a sign-in made by an
 * OAuth client is refreshed by that client only (ERR_REFRESH_TOKEN_INVALID
 * for any other, or none).  An authorization tells `ready` (may be NULL)
 * first, see auth_ready_fn. */
enum err auth_device_authorize_async(struct db *db, const struct auth_device_request *in,
				     struct auth_device_grant *out, auth_ready_fn ready, auth_done_fn done,
				     void *done_ctx, bool *pending);
enum err auth_device_exchange_async(struct db *db, const char *client_id, const char *device_code,
				    const struct netaddr *client, enum auth_poll *result,
				    struct auth_tokens *tokens, auth_done_fn done, void *done_ctx,
				    bool *pending);
enum err auth_refresh_async(struct db *db, const char *refresh_token, const char *client_id,
			    const struct netaddr *client, struct auth_tokens *out, auth_done_fn done,
			    void *done_ctx, bool *pending);

/* device_flow_polls.c: the pace of polling of pending codes, in memory (the
 * file says why).  Note a poll of the code whose hash is `hash` at `now`:
 * AUTH_POLL_PENDING, or AUTH_POLL_SLOW_DOWN when it came sooner than the
 * code's interval after its previous poll (the interval then grows by 5 s,
 * at most to the code lifetime).  `interval_s` is the interval given out and
 * `expires_at` when the code, and so its entry, expires.  Thread-safe. */
enum auth_poll auth_device_polls_note(const char *hash, int64_t now, int64_t interval_s,
				      int64_t expires_at);
/* Drop the entry of `hash` (the code was exchanged or is answered for good). */
void auth_device_polls_forget(const char *hash);
/* The entry of `hash` at `now` (tests): false when there is none. */
bool auth_device_polls_get(const char *hash, int64_t now, int64_t *interval_s, int64_t *last_poll_at);

/* 1 to `max` code points of valid UTF-8 without control characters. */
bool auth_text_ok(const char *s, size_t max);

/* 429 too_many_attempts with Retry-After for user-code guessing. */
struct http_req;
void auth_reply_user_code_throttled(struct http_req *req, int64_t retry_after);

/* Fill `data` (a JSON array) with the page of at most `limit` rows after
 * `after` (NULL: the first page) of the member `a`'s list, and *has_more. */
struct http_auth;
typedef enum err (*auth_page_fill)(struct db *db, const struct http_auth *a, int64_t limit,
				   const char *after, json_t *data, bool *has_more);

/* Answer a member's paged list (auth_http.c): read the page parameters
 * (or reply 400), fill the page, reply 200 {data, has_more}, or the problem
 * of the error, with the detail `foreign_cursor` when starting_after is
 * not one of the member's rows. */
void auth_reply_member_page(struct http_req *req, auth_page_fill fill, const char *foreign_cursor);

/* Route registration of device_flow_http.c, device_flow_page.c and
 * devices_http.c; auth_http_register() calls the first, which calls the
 * others. */
void auth_device_flow_http_register(void);
void auth_device_page_register(void);
void auth_devices_http_register(void);

#endif
