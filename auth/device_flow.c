/*
 * device_flow.c - the OAuth 2.0 Device Authorization Grant (RFC 8628).
 *
 * A device asks for a code pair: the device_code (the 29 characters of its
 * row's time-ordered `dva_` id, then 256 random bits in base64url; stored
 * only as auth_secret_hash("device_code", ...) of the whole code, and found
 * by the id, so no index with random keys is needed for it) and the
 * user_code the member types (8 letters of BCDFGHJKLMNPQRSTVWXZ: no vowels,
 * so no words, and no lookalikes; 20^8 is about 2^34.6 codes, which is why
 * entering codes is throttled per member and per network).  The member
 * approves or denies the code; the device polls with its device_code and,
 * once approved, gets a sign-in exactly like a password sign-in, on a new
 * device.
 *
 * What stays true:
 * - A device code is single use: the exchange deletes its row, so a second
 *   exchange finds nothing (invalid_grant).  Expired codes answer
 *   expired_token until they are purged (an hour after expiry, by the next
 *   authorization request after that, at most once a minute per process);
 *   then they are unknown.  Decided and locked codes can never be approved again.
 * - A pending poll writes nothing: when each code was last polled, and the
 *   interval it must keep (a poll sooner than the interval after the
 *   previous one is slow_down and adds 5 s for this and every later poll,
 *   RFC 8628 section 3.5), live in this process's memory
 *   (device_flow_polls.c says why that is enough).  The row keeps the
 *   interval given out.
 * - Writes (a new authorization, the exchange of an approved code) go
 *   through core/batch's group-commit writer: the asynchronous variants
 *   let the HTTP adapter answer from the commit without holding a thread.
 * - A code locks after device_code_max_failures wrong confirmations (the
 *   web page: wrong passwords or forged forms that name it).
 */
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accounts/accounts.h"
#include "auth/auth_int.h"
#include "core/batch.h"
#include "core/clock.h"
#include "core/events.h"
#include "core/throttle.h"

#define DEVICE_CODE_BYTES 32
#define SECRET_CHARS 43		/* unpadded base64url of 32 bytes */
#define ID_PREFIX "dva_"
#define ID_BODY_CHARS 29	/* an id after its prefix (core/ids.c) */
#define DEVICE_CODE_CHARS (ID_BODY_CHARS + SECRET_CHARS)
#define LEGACY_CODE_CHARS SECRET_CHARS	/* codes issued before schema 0013: the secret alone */
#define PURGE_AFTER_S 3600	/* expired rows answer expired_token this long */
#define PURGE_EVERY_S 60	/* how often a process sweeps them */
#define WEB_CONFIRM_TTL_S 300
#define USER_CODE_TRIES 8	/* fresh user codes tried when one is taken */

static const char USER_CODE_ALPHABET[] = "BCDFGHJKLMNPQRSTVWXZ";

static _Atomic int64_t last_purge; /* clock_now() of this process's last sweep */

bool auth_user_code_normalize(const char *in, char out[AUTH_USER_CODE_LEN + 1])
{
	size_t n = 0;
	out[0] = '\0';
	if (!in)
		return false;
	for (const char *p = in; *p; p++) {
		char c = *p;
		if (c == '-' || c == ' ')
			continue;
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (n == AUTH_USER_CODE_LEN || !strchr(USER_CODE_ALPHABET, c))
			return false;
		out[n++] = c;
	}
	out[n] = '\0';
	return n == AUTH_USER_CODE_LEN;
}

static void user_code_display(const char *norm, char out[AUTH_USER_CODE_LEN + 2])
{
	memcpy(out, norm, 4);
	out[4] = '-';
	memcpy(out + 5, norm + 4, 4);
	out[9] = '\0';
}

static bool base64url_ok(const char *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char ch = t[i];
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		      ch == '-' || ch == '_'))
			return false;
	}
	return true;
}

/* A 43-character secret of base64url: the web page's confirm token. */
static bool secret_shape_ok(const char *t)
{
	return t && strlen(t) == SECRET_CHARS && base64url_ok(t, SECRET_CHARS);
}

/* Where a device code's row is: by its id (`id`, for codes of the current
 * shape), or, for a code issued before schema 0013 (`id` empty), by
 * legacy_code_hash.  `hash` is the keyed hash of the whole code either way. */
struct code_key {
	char id[IDS_MAX];
	char hash[AUTH_SECRET_HASH_SIZE];
};

/* The key of `code`: false when it has neither shape (no row can match). */
static bool code_key_of(const char *code, struct code_key *k)
{
	size_t n = code ? strlen(code) : 0;
	memset(k, 0, sizeof *k);
	if (n == DEVICE_CODE_CHARS && base64url_ok(code, n)) {
		memcpy(k->id, ID_PREFIX, strlen(ID_PREFIX));
		memcpy(k->id + strlen(ID_PREFIX), code, ID_BODY_CHARS);
		if (!ids_valid(ID_PREFIX, k->id))
			return false;
	} else if (n != LEGACY_CODE_CHARS || !base64url_ok(code, n)) {
		return false;
	}
	return auth_secret_hash("device_code", code, k->hash) == ERR_OK;
}

static void code_key_wipe(struct code_key *k) { sodium_memzero(k, sizeof *k); }

/* ---- starting an authorization ---- */

struct authorize_ctx {
	const struct auth_device_request *in;
	const char *hash;
	const char *network;
	struct auth_device_grant *out;
	/* Drawn before the transaction, so that the writer thread every
	 * authorization waits on does not make the ~10 getrandom calls. */
	char id[IDS_MAX];
	char code[AUTH_USER_CODE_LEN + 1];
};

static void draw_user_code(char code[AUTH_USER_CODE_LEN + 1])
{
	for (size_t i = 0; i < AUTH_USER_CODE_LEN; i++)
		code[i] = USER_CODE_ALPHABET[randombytes_uniform(sizeof USER_CODE_ALPHABET - 1)];
	code[AUTH_USER_CODE_LEN] = '\0';
}

static enum err authorize_tx(struct db *db, void *arg)
{
	struct authorize_ctx *c = arg;
	struct db_stmt *st = NULL;
	char code[AUTH_USER_CODE_LEN + 1];
	const char *id = c->id;
	int64_t now = clock_now();
	enum err e = ERR_OK;
	/* Purging is a sweep, not per-request work: at most once a minute per
	 * process (a rolled-back purge just happens on a later request). */
	int64_t last = atomic_load(&last_purge);
	if (now - last >= PURGE_EVERY_S && atomic_compare_exchange_strong(&last_purge, &last, now)) {
		e = db_prepare(db, "DELETE FROM device_authorizations WHERE expires_at < ?1", &st);
		if (e != ERR_OK)
			return e;
		db_bind_int64(st, 1, now - PURGE_AFTER_S);
		e = db_step_done(st);
		db_done(st);
		if (e != ERR_OK)
			return e;
	}
	for (int attempt = 0; attempt < USER_CODE_TRIES; attempt++) {
		/* The pre-drawn code first (again on a rerun: its insert was
		 * rolled back); a fresh one only when it is taken. */
		if (attempt == 0)
			memcpy(code, c->code, sizeof code);
		else
			draw_user_code(code);
		e = db_prepare(db,
			       "INSERT INTO device_authorizations (id, device_code_hash, user_code, client_id,"
			       " scope, device_name, device_model, device_ref, network, created_at, expires_at,"
			       " interval_s) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
			       " ON CONFLICT (user_code) DO NOTHING",
			       &st);
		if (e != ERR_OK)
			return e;
		db_bind_text(st, 1, id);
		db_bind_text(st, 2, c->hash);
		db_bind_text(st, 3, code);
		db_bind_text(st, 4, c->in->client_id);
		db_bind_text(st, 5, c->in->scope);
		db_bind_text(st, 6, c->in->device_name);
		db_bind_text(st, 7, c->in->device_model);
		db_bind_text(st, 8, c->in->device_ref);
		db_bind_text(st, 9, c->network);
		db_bind_int64(st, 10, now);
		db_bind_int64(st, 11, now + auth_settings.device_code_ttl_s);
		db_bind_int64(st, 12, auth_settings.device_poll_interval_s);
		e = db_step_done(st);
		db_done(st);
		if (e != ERR_OK)
			return e;
		if (db_changes(db) == 1) {
			/* The caller was given the pre-drawn code; a redrawn one
			 * replaces it (the caller compares).  Always written: a
			 * rerun may end with another code than an earlier run. */
			user_code_display(code, c->out->user_code);
			struct events_field f[2] = {{"client_id", c->in->client_id, 0},
						    {"network", c->network, 0}};
			return events_emit_flat(db, "device_authorization.created", id, f, c->network ? 2 : 1);
		}
	}
	/* Eight taken codes in a row means the live codes fill the space. */
	return ERR_INTERNAL;
}

/* An authorization on its way to the writer: everything authorize_tx
 * reads, owned here (the caller's `in` may be on its stack). */
struct authorize_job {
	struct auth_device_request in;
	char client_id[AUTH_CLIENT_ID_MAX + 1];
	char hash[AUTH_SECRET_HASH_SIZE];
	char network[NETADDR_STRLEN];
	struct authorize_ctx c;
	auth_done_fn done;
	void *done_ctx;
};

static void authorize_finish(struct authorize_job *j, enum err e)
{
	if (e != ERR_OK)
		sodium_memzero(j->c.out, sizeof *j->c.out);
	sodium_memzero(j->hash, sizeof j->hash);
}

static void authorize_committed(void *arg, enum err e)
{
	struct authorize_job *j = arg;
	authorize_finish(j, e);
	j->done(j->done_ctx, e);
	free(j);
}

/* Everything that needs no transaction, on the caller's thread: the id,
 * the device code (the id's characters, then the secret) and its hash,
 * the first user code.  Fills `out` as the answer will be. */
static enum err authorize_prepare(const struct auth_device_request *in, struct auth_device_grant *out,
				  struct authorize_job *j)
{
	char secret[SECRET_CHARS + 1];
	j->in = *in;
	snprintf(j->client_id, sizeof j->client_id, "%s", in->client_id);
	j->in.client_id = j->client_id;
	j->c.in = &j->in;
	j->c.hash = j->hash;
	j->c.network = auth_network_of(in->client, j->network, sizeof j->network);
	j->c.out = out;
	enum err e = ids_new(ID_PREFIX, j->c.id, sizeof j->c.id);
	if (e == ERR_OK)
		e = ids_random_token(DEVICE_CODE_BYTES, secret, sizeof secret);
	if (e == ERR_OK) {
		int n = snprintf(out->device_code, sizeof out->device_code, "%s%s",
				 j->c.id + strlen(ID_PREFIX), secret);
		if (n != DEVICE_CODE_CHARS)
			e = ERR_INTERNAL;
	}
	sodium_memzero(secret, sizeof secret);
	if (e == ERR_OK)
		e = auth_secret_hash("device_code", out->device_code, j->hash);
	draw_user_code(j->c.code);
	user_code_display(j->c.code, out->user_code);
	out->expires_in = auth_settings.device_code_ttl_s;
	out->interval = auth_settings.device_poll_interval_s;
	return e;
}

enum err auth_device_authorize_async(struct db *db, const struct auth_device_request *in,
				     struct auth_device_grant *out, auth_ready_fn ready, auth_done_fn done,
				     void *done_ctx, bool *pending)
{
	*pending = false;
	memset(out, 0, sizeof *out);
	struct authorize_job *j = calloc(1, sizeof *j);
	if (!j)
		return ERR_NOMEM;
	j->done = done;
	j->done_ctx = done_ctx;
	enum err e = authorize_prepare(in, out, j);
	if (e == ERR_OK && ready)
		ready(done_ctx, out);
	if (e == ERR_OK && done && batch_submit_whole(authorize_tx, &j->c, authorize_committed, j)) {
		*pending = true;
		return ERR_OK;
	}
	if (e == ERR_OK)
		e = batch_run(db, authorize_tx, &j->c);
	authorize_finish(j, e);
	free(j);
	return e;
}

enum err auth_device_authorize(struct db *db, const struct auth_device_request *in,
			       struct auth_device_grant *out)
{
	bool pending = false;
	return auth_device_authorize_async(db, in, out, NULL, NULL, NULL, &pending);
}

/* ---- polling ---- */

struct code_row {
	char id[IDS_MAX];
	char client_id[AUTH_CLIENT_ID_MAX + 1];
	char status[16];
	int64_t expires_at;
	int64_t interval_s;
	char account[IDS_MAX];
	char profile[IDS_MAX];
	char name[AUTH_DEVICE_TEXT_MAX * 4 + 1];
	char model[AUTH_DEVICE_TEXT_MAX * 4 + 1];
};

#define POLL_COLS "SELECT client_id, status, expires_at, interval_s, device_code_hash"
#define WHOLE_COLS POLL_COLS ", id, account_id, profile_id, device_name, device_model"

/* The authorization of device code key `k`, or ERR_NOT_FOUND (also when
 * the row's hash is not the code's: the id is no secret).  With `whole`
 * false only what a poll needs to answer without writing (client, status,
 * expiry, interval); the rest of `r` is left empty. */
static enum err read_code(struct db *db, const struct code_key *k, bool whole, struct code_row *r)
{
	struct db_stmt *st = NULL;
	bool by_id = k->id[0] != '\0';
	const char *sql;
	memset(r, 0, sizeof *r);
	if (by_id)
		sql = whole ? WHOLE_COLS " FROM device_authorizations WHERE id = ?1"
			    : POLL_COLS " FROM device_authorizations WHERE id = ?1";
	else
		sql = whole ? WHOLE_COLS " FROM device_authorizations WHERE legacy_code_hash = ?1"
			    : POLL_COLS " FROM device_authorizations WHERE legacy_code_hash = ?1";
	enum err e = db_prepare(db, sql, &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, by_id ? k->id : k->hash);
	e = db_step_row(st);
	if (e == ERR_OK) {
		const char *stored = db_column_text(st, 4);
		if (!stored || strlen(stored) != AUTH_SECRET_HASH_SIZE - 1 ||
		    sodium_memcmp(stored, k->hash, AUTH_SECRET_HASH_SIZE - 1) != 0)
			e = ERR_NOT_FOUND;
	}
	if (e == ERR_OK) {
		auth_copy_col(st, 0, r->client_id, sizeof r->client_id);
		auth_copy_col(st, 1, r->status, sizeof r->status);
		r->expires_at = db_column_int64(st, 2);
		r->interval_s = db_column_int64(st, 3);
	}
	if (e == ERR_OK && whole) {
		auth_copy_col(st, 5, r->id, sizeof r->id);
		auth_copy_col(st, 6, r->account, sizeof r->account);
		auth_copy_col(st, 7, r->profile, sizeof r->profile);
		auth_copy_col(st, 8, r->name, sizeof r->name);
		auth_copy_col(st, 9, r->model, sizeof r->model);
	}
	db_done(st);
	return e;
}

/* What a poll by `client_id` at `now` answers for row `r`, except for a
 * pending code (AUTH_POLL_PENDING: the caller applies the pace rule) and
 * an approved one (AUTH_POLL_TOKENS: the caller exchanges it). */
static enum auth_poll classify(const struct code_row *r, const char *client_id, int64_t now)
{
	/* Another client's code is as good as unknown to this one (RFC 6749 5.2). */
	if (strcmp(r->client_id, client_id) != 0)
		return AUTH_POLL_INVALID;
	if (now >= r->expires_at)
		return AUTH_POLL_EXPIRED;
	if (strcmp(r->status, "denied") == 0 || strcmp(r->status, "locked") == 0)
		return AUTH_POLL_DENIED;
	if (strcmp(r->status, "approved") == 0)
		return AUTH_POLL_TOKENS;
	return AUTH_POLL_PENDING;
}

struct exchange_ctx {
	char client_id[AUTH_CLIENT_ID_MAX + 1];
	struct code_key key;
	struct netaddr client;
	bool has_client;
	enum auth_poll *result;
	struct auth_tokens *tokens;
	auth_done_fn done;
	void *done_ctx;
};

/* Exchange an approved code: read it again under the write lock (another
 * poll may have taken it meanwhile), delete it, sign the member in. */
static enum err exchange_tx(struct db *db, void *arg)
{
	struct exchange_ctx *c = arg;
	struct db_stmt *st = NULL;
	struct code_row r;
	struct auth_oauth_client cl;
	struct acct_account member;
	*c->result = AUTH_POLL_INVALID;
	memset(c->tokens, 0, sizeof *c->tokens);
	enum err e = read_code(db, &c->key, true, &r);
	if (e != ERR_OK)
		return e == ERR_NOT_FOUND ? ERR_OK : e;
	*c->result = classify(&r, c->client_id, clock_now());
	if (*c->result != AUTH_POLL_TOKENS) {
		/* Never pending again once approved; answer what it is now. */
		return ERR_OK;
	}
	*c->result = AUTH_POLL_INVALID;
	e = auth_oauth_client_get(db, r.client_id, &cl);
	if (e != ERR_OK)
		return e;
	e = db_prepare(db, "DELETE FROM device_authorizations WHERE id = ?1", &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, r.id);
	e = db_step_done(st);
	db_done(st);
	if (e != ERR_OK)
		return e;
	/* Locked or erased since approving: no sign-in, and the code is spent. */
	e = acct_get(db, r.account, &member);
	if (e == ERR_NOT_FOUND || (e == ERR_OK && strcmp(member.status, "active") != 0)) {
		*c->result = AUTH_POLL_DENIED;
		return ERR_OK;
	}
	if (e != ERR_OK)
		return e;
	struct auth_device dev = {NULL, r.name[0] ? r.name : cl.name, cl.device_type,
				  r.model[0] ? r.model : NULL, r.client_id};
	e = auth_signin_create(db, r.account, &dev, c->has_client ? &c->client : NULL, c->tokens);
	if (e != ERR_OK)
		return e;
	if (r.profile[0]) {
		e = db_prepare(db, "UPDATE devices SET last_profile_id = ?2 WHERE id = ?1", &st);
		if (e != ERR_OK)
			return e;
		db_bind_text(st, 1, c->tokens->device_id);
		db_bind_text(st, 2, r.profile);
		e = db_step_done(st);
		db_done(st);
		if (e != ERR_OK)
			return e;
	}
	*c->result = AUTH_POLL_TOKENS;
	return ERR_OK;
}

static void exchange_finish(struct exchange_ctx *c, enum err e)
{
	if (e != ERR_OK || *c->result != AUTH_POLL_TOKENS)
		sodium_memzero(c->tokens, sizeof *c->tokens);
	if (e != ERR_OK)
		*c->result = AUTH_POLL_INVALID;
	if (e == ERR_OK && *c->result != AUTH_POLL_PENDING)
		auth_device_polls_forget(c->key.hash);
}

static void exchange_committed(void *arg, enum err e)
{
	struct exchange_ctx *c = arg;
	exchange_finish(c, e);
	c->done(c->done_ctx, e);
	code_key_wipe(&c->key);
	free(c);
}

enum err auth_device_poll_check(struct db *db, const char *client_id, const char *device_code,
				enum auth_poll *result)
{
	struct code_key k;
	struct code_row r;
	int64_t now = clock_now();
	*result = AUTH_POLL_INVALID;
	if (!code_key_of(device_code, &k))
		return ERR_OK;
	enum err e = read_code(db, &k, false, &r);
	if (e == ERR_OK) {
		*result = classify(&r, client_id, now);
		/* Pending: a read, and the pace rule from memory. */
		if (*result == AUTH_POLL_PENDING)
			*result = auth_device_polls_note(k.hash, now, r.interval_s, r.expires_at);
	}
	code_key_wipe(&k);
	return e == ERR_NOT_FOUND ? ERR_OK : e;
}

enum err auth_device_exchange_async(struct db *db, const char *client_id, const char *device_code,
				    const struct netaddr *client, enum auth_poll *result,
				    struct auth_tokens *tokens, auth_done_fn done, void *done_ctx,
				    bool *pending)
{
	*pending = false;
	*result = AUTH_POLL_INVALID;
	memset(tokens, 0, sizeof *tokens);
	struct exchange_ctx *c = calloc(1, sizeof *c);
	if (!c)
		return ERR_NOMEM;
	if (!code_key_of(device_code, &c->key)) {
		free(c);
		return ERR_OK;
	}
	enum err e = ERR_OK;
	snprintf(c->client_id, sizeof c->client_id, "%s", client_id);
	if (client) {
		c->client = *client;
		c->has_client = true;
	}
	c->result = result;
	c->tokens = tokens;
	c->done = done;
	c->done_ctx = done_ctx;
	if (done && batch_submit(exchange_tx, c, exchange_committed, c)) {
		*pending = true;
		return ERR_OK;
	}
	e = batch_run(db, exchange_tx, c);
	exchange_finish(c, e);
	code_key_wipe(&c->key);
	free(c);
	return e;
}

enum err auth_device_poll(struct db *db, const char *client_id, const char *device_code,
			  const struct netaddr *client, enum auth_poll *result,
			  struct auth_tokens *tokens)
{
	bool pending = false;
	memset(tokens, 0, sizeof *tokens);
	enum err e = auth_device_poll_check(db, client_id, device_code, result);
	if (e != ERR_OK || *result != AUTH_POLL_TOKENS)
		return e;
	return auth_device_exchange_async(db, client_id, device_code, client, result, tokens, NULL, NULL,
					  &pending);
}

/* ---- the member's side ---- */

static enum err throttle_keys(const char *account_id, const struct netaddr *client, char *acct_key,
			      size_t acct_cap, char *ip_key, size_t ip_cap)
{
	char net[NETADDR_STRLEN] = "";
	acct_key[0] = '\0';
	if (account_id)
		snprintf(acct_key, acct_cap, "usercode:acct:%s", account_id);
	/* A whole IPv4 address, and the /64 an IPv6 host usually owns. */
	if (client && (client->family == 4 || client->family == 6))
		netaddr_prefix(client, 32, 64, net, sizeof net);
	snprintf(ip_key, ip_cap, "usercode:ip:%s", net[0] ? net : "unknown");
	return ERR_OK;
}

enum err auth_user_code_throttle_check(struct db *db, const char *account_id,
				       const struct netaddr *client, int64_t *retry_after)
{
	char acct_key[96], ip_key[96];
	int64_t wait_a = 0, wait_b = 0;
	*retry_after = 0;
	throttle_keys(account_id, client, acct_key, sizeof acct_key, ip_key, sizeof ip_key);
	enum err e = throttle_check(db, ip_key, &wait_a);
	if (e != ERR_OK && e != ERR_TOO_MANY_ATTEMPTS)
		return e;
	enum err e2 = acct_key[0] ? throttle_check(db, acct_key, &wait_b) : ERR_OK;
	if (e2 != ERR_OK && e2 != ERR_TOO_MANY_ATTEMPTS)
		return e2;
	if (e == ERR_OK && e2 == ERR_OK)
		return ERR_OK;
	*retry_after = wait_a > wait_b ? wait_a : wait_b;
	return ERR_TOO_MANY_ATTEMPTS;
}

struct fail_ctx {
	const char *acct_key, *ip_key;
};

static enum err fail_tx(struct db *db, void *arg)
{
	struct fail_ctx *c = arg;
	struct throttle_rule ip = {auth_settings.user_code_ip_fail_limit, auth_settings.throttle_window_s,
				   30, 3600};
	struct throttle_rule acct = {auth_settings.user_code_fail_limit, auth_settings.throttle_window_s,
				     30, 3600};
	enum err e = throttle_fail(db, c->ip_key, &ip);
	if (e == ERR_OK && c->acct_key[0])
		e = throttle_fail(db, c->acct_key, &acct);
	return e;
}

enum err auth_user_code_throttle_fail(struct db *db, const char *account_id,
				      const struct netaddr *client)
{
	char acct_key[96], ip_key[96];
	throttle_keys(account_id, client, acct_key, sizeof acct_key, ip_key, sizeof ip_key);
	struct fail_ctx c = {acct_key, ip_key};
	return db_transaction(db, fail_tx, &c);
}

/* Read the pending, unexpired authorization `user_code` into `out`. */
static enum err load_pending(struct db *db, const char *user_code, struct auth_device_pending *out)
{
	struct db_stmt *st = NULL;
	char norm[AUTH_USER_CODE_LEN + 1];
	memset(out, 0, sizeof *out);
	if (!auth_user_code_normalize(user_code, norm))
		return ERR_NOT_FOUND;
	enum err e = db_prepare(db,
				"SELECT a.id, a.user_code, a.client_id, c.name, c.device_type, a.device_name,"
				" a.device_model, a.device_ref, a.network, a.created_at, a.expires_at"
				" FROM device_authorizations a JOIN oauth_clients c ON c.id = a.client_id"
				" WHERE a.user_code = ?1 AND a.status = 'pending' AND a.expires_at > ?2"
				" AND c.active = 1",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, norm);
	db_bind_int64(st, 2, clock_now());
	e = db_step_row(st);
	if (e == ERR_OK) {
		char code[AUTH_USER_CODE_LEN + 1];
		auth_copy_col(st, 0, out->id, sizeof out->id);
		auth_copy_col(st, 1, code, sizeof code);
		user_code_display(code, out->user_code);
		auth_copy_col(st, 2, out->client_id, sizeof out->client_id);
		auth_copy_col(st, 3, out->client_name, sizeof out->client_name);
		auth_copy_col(st, 4, out->device_type, sizeof out->device_type);
		auth_copy_col(st, 5, out->device_name, sizeof out->device_name);
		auth_copy_col(st, 6, out->device_model, sizeof out->device_model);
		auth_copy_col(st, 7, out->device_ref, sizeof out->device_ref);
		auth_copy_col(st, 8, out->network, sizeof out->network);
		out->requested_at = db_column_int64(st, 9);
		out->expires_at = db_column_int64(st, 10);
	}
	db_done(st);
	return e;
}

enum err auth_device_pending_get(struct db *db, const char *user_code,
				 struct auth_device_pending *out)
{
	return load_pending(db, user_code, out);
}

struct decide_ctx {
	const char *user_code;
	const char *account_id;
	const char *profile_id;
	const char *web_hash;	/* the web page's confirm token instead of a code */
	bool approve;
	struct auth_device_pending *out;
};

static enum err decide_row(struct db *db, struct decide_ctx *c)
{
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db,
				"UPDATE device_authorizations SET status = ?2, account_id = ?3, profile_id = ?4,"
				" decided_at = ?5, web_confirm_hash = NULL WHERE id = ?1 AND status = 'pending'",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, c->out->id);
	db_bind_text(st, 2, c->approve ? "approved" : "denied");
	db_bind_text(st, 3, c->account_id);
	db_bind_text(st, 4, c->approve ? c->profile_id : NULL);
	db_bind_int64(st, 5, clock_now());
	e = db_step_done(st);
	db_done(st);
	if (e != ERR_OK)
		return e;
	return events_emit(db, c->approve ? "device_authorization.approved" : "device_authorization.denied",
			   c->out->id,
			   json_pack("{s:s, s:s, s:s?}", "account_id", c->account_id, "client_id",
				     c->out->client_id, "profile_id", c->approve ? c->profile_id : NULL));
}

static enum err decide_tx(struct db *db, void *arg)
{
	struct decide_ctx *c = arg;
	enum err e = load_pending(db, c->user_code, c->out);
	return e == ERR_OK ? decide_row(db, c) : e;
}

enum err auth_device_decide(struct db *db, const char *user_code, const char *account_id,
			    const char *profile_id, bool approve, struct auth_device_pending *out)
{
	struct decide_ctx c = {user_code, account_id, profile_id, NULL, approve, out};
	return db_transaction(db, decide_tx, &c);
}

struct codefail_ctx {
	const char *norm;
};

static enum err codefail_tx(struct db *db, void *arg)
{
	struct codefail_ctx *c = arg;
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db,
				"UPDATE device_authorizations SET failures = failures + 1,"
				" status = CASE WHEN failures + 1 >= ?2 THEN 'locked' ELSE status END,"
				" web_confirm_hash = CASE WHEN failures + 1 >= ?2 THEN NULL ELSE web_confirm_hash END"
				" WHERE user_code = ?1 AND status = 'pending' RETURNING id, status",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, c->norm);
	db_bind_int64(st, 2, auth_settings.device_code_max_failures);
	e = db_step_row(st);
	char id[IDS_MAX] = "";
	bool locked = false;
	if (e == ERR_OK) {
		auth_copy_col(st, 0, id, sizeof id);
		const char *s = db_column_text(st, 1);
		locked = s && strcmp(s, "locked") == 0;
	}
	db_done(st);
	if (e == ERR_NOT_FOUND)
		return ERR_OK;
	if (e != ERR_OK || !locked)
		return e;
	return events_emit(db, "device_authorization.locked", id, NULL);
}

enum err auth_device_code_fail(struct db *db, const char *user_code)
{
	char norm[AUTH_USER_CODE_LEN + 1];
	if (!auth_user_code_normalize(user_code, norm))
		return ERR_OK;
	struct codefail_ctx c = {norm};
	return db_transaction(db, codefail_tx, &c);
}

/* ---- the web page's confirm step ---- */

struct web_begin_ctx {
	const char *user_code, *account_id, *hash;
};

static enum err web_begin_tx(struct db *db, void *arg)
{
	struct web_begin_ctx *c = arg;
	struct auth_device_pending p;
	struct db_stmt *st = NULL;
	enum err e = load_pending(db, c->user_code, &p);
	if (e != ERR_OK)
		return e;
	e = db_prepare(db,
		       "UPDATE device_authorizations SET web_confirm_hash = ?2, web_account_id = ?3,"
		       " web_confirm_expires = ?4 WHERE id = ?1",
		       &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, p.id);
	db_bind_text(st, 2, c->hash);
	db_bind_text(st, 3, c->account_id);
	db_bind_int64(st, 4, clock_now() + WEB_CONFIRM_TTL_S);
	e = db_step_done(st);
	db_done(st);
	return e;
}

enum err auth_device_web_begin(struct db *db, const char *user_code, const char *account_id,
			       char token[AUTH_DEVICE_CODE_MAX])
{
	char hash[AUTH_SECRET_HASH_SIZE];
	enum err e = ids_random_token(DEVICE_CODE_BYTES, token, AUTH_DEVICE_CODE_MAX);
	if (e == ERR_OK)
		e = auth_secret_hash("device_web_confirm", token, hash);
	if (e == ERR_OK) {
		struct web_begin_ctx c = {user_code, account_id, hash};
		e = db_transaction(db, web_begin_tx, &c);
	}
	if (e != ERR_OK)
		sodium_memzero(token, AUTH_DEVICE_CODE_MAX);
	return e;
}

static enum err web_decide_tx(struct db *db, void *arg)
{
	struct decide_ctx *c = arg;
	struct db_stmt *st = NULL;
	char code[AUTH_USER_CODE_LEN + 1], account[IDS_MAX];
	enum err e = db_prepare(db,
				"SELECT user_code, web_account_id FROM device_authorizations"
				" WHERE web_confirm_hash = ?1 AND web_confirm_expires > ?2",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, c->web_hash);
	db_bind_int64(st, 2, clock_now());
	e = db_step_row(st);
	if (e == ERR_OK) {
		auth_copy_col(st, 0, code, sizeof code);
		auth_copy_col(st, 1, account, sizeof account);
	}
	db_done(st);
	if (e != ERR_OK)
		return e;
	e = load_pending(db, code, c->out);
	if (e != ERR_OK)
		return e;
	c->account_id = account;
	e = decide_row(db, c);
	c->account_id = NULL; /* points into this frame */
	return e;
}

enum err auth_device_web_decide(struct db *db, const char *token, bool approve,
				struct auth_device_pending *out)
{
	char hash[AUTH_SECRET_HASH_SIZE];
	memset(out, 0, sizeof *out);
	if (!secret_shape_ok(token))
		return ERR_NOT_FOUND;
	enum err e = auth_secret_hash("device_web_confirm", token, hash);
	if (e != ERR_OK)
		return e;
	struct decide_ctx c = {NULL, NULL, NULL, hash, approve, out};
	return db_transaction(db, web_decide_tx, &c);
}
