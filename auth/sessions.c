/*
 * sessions.c - sign-ins (sessions), their devices and refresh tokens.
 *
 * A sign-in is a row of `sessions`; it lives until it is revoked or until
 * refresh_ttl passes without a refresh (each refresh pushes expires_at).
 * Each refresh token is stored as auth_secret_hash("refresh", token); using
 * one marks it rotated and makes its successor.  A rotated token presented
 * again means two parties hold the chain (RFC 9700 section 4.14.2): the
 * whole sign-in is revoked.
 *
 * Requests check that their sign-in is live through a per-thread cache no
 * staler than revocation_cache_ms (on clock_cache_ms(), which the test clock
 * moves); revocations made by this process also bump an epoch that empties
 * every thread's cache at once.  The check records the sign-in's last use
 * in memory (last_use.c), at most once a minute per sign-in and thread.
 */
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_int.h"
#include "core/batch.h"
#include "core/clock.h"
#include "core/events.h"
#include "core/log.h"

#define REFRESH_BYTES 32
#define REFRESH_CHARS 43 /* unpadded base64url of 32 bytes */
#define TOUCH_EVERY_S 60

static atomic_ullong revocation_epoch = 1;

void auth_revocation_bump(void) { atomic_fetch_add(&revocation_epoch, 1); }

const char *auth_network_of(const struct netaddr *client, char *buf, size_t cap)
{
	if (!client || (client->family != 4 && client->family != 6))
		return NULL;
	netaddr_prefix(client, 24, 56, buf, cap);
	return buf[0] ? buf : NULL;
}

/* Make a refresh token for `session_id`, store its hash, and copy it to `out`. */
static enum err new_refresh_token(struct db *db, const char *session_id, int64_t now,
				  char out[AUTH_REFRESH_MAX])
{
	char hash[AUTH_SECRET_HASH_SIZE];
	struct db_stmt *st = NULL;
	enum err e = ids_random_token(REFRESH_BYTES, out, AUTH_REFRESH_MAX);
	if (e == ERR_OK)
		e = auth_secret_hash("refresh", out, hash);
	if (e == ERR_OK)
		e = db_prepare(db,
			       "INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at)"
			       " VALUES (?1, ?2, ?3, ?4)",
			       &st);
	if (e == ERR_OK) {
		db_bind_text(st, 1, hash);
		db_bind_text(st, 2, session_id);
		db_bind_int64(st, 3, now);
		db_bind_int64(st, 4, now + auth_settings.refresh_ttl_s);
		e = db_step_done(st);
	}
	db_done(st);
	if (e != ERR_OK)
		sodium_memzero(out, AUTH_REFRESH_MAX);
	return e;
}

/* Bind what both statements of upsert_device write: ?1 the device id, ?2
 * the account, ?3..?6 the device's own fields, ?7 now, ?8 the network. */
static void bind_device(struct db_stmt *st, const char *id, const char *account_id,
			const struct auth_device *dev, int64_t now, const char *network)
{
	db_bind_text(st, 1, id);
	db_bind_text(st, 2, account_id);
	db_bind_text(st, 3, dev->type);
	db_bind_text(st, 4, dev->name);
	db_bind_text(st, 5, dev->model);
	db_bind_text(st, 6, dev->client_id);
	db_bind_int64(st, 7, now);
	db_bind_text(st, 8, network);
}

/* Update the account's device `dev->id` or make a new one; its id goes to `out`. */
static enum err upsert_device(struct db *db, const char *account_id, const struct auth_device *dev,
			      const char *network, int64_t now, char out[IDS_MAX])
{
	struct db_stmt *st = NULL;
	enum err e;
	if (dev->id && ids_valid("dev_", dev->id)) {
		/* Only a live device of this very account is reused; any other id
		 * (another account's, a revoked one) silently gets a new device. */
		e = db_prepare(db,
			       "UPDATE devices SET type = ?3, name = ?4, model = ?5, client_id = ?6,"
			       " last_seen_at = ?7, last_network = ?8"
			       " WHERE id = ?1 AND account_id = ?2 AND revoked_at IS NULL RETURNING id",
			       &st);
		if (e != ERR_OK)
			return e;
		bind_device(st, dev->id, account_id, dev, now, network);
		e = db_step_row(st);
		db_done(st);
		if (e == ERR_OK) {
			memcpy(out, dev->id, strlen(dev->id) + 1);
			return ERR_OK;
		}
		if (e != ERR_NOT_FOUND)
			return e;
	}
	ids_new("dev_", out, IDS_MAX);
	e = db_prepare(db,
		       "INSERT INTO devices (id, account_id, type, name, model, client_id, first_seen_at,"
		       " last_seen_at, last_network) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8)",
		       &st);
	if (e != ERR_OK)
		return e;
	bind_device(st, out, account_id, dev, now, network);
	e = db_step_done(st);
	db_done(st);
	return e;
}

enum err auth_signin_create(struct db *db, const char *account_id, const struct auth_device *dev,
			    const struct netaddr *client, struct auth_tokens *out)
{
	char netbuf[NETADDR_STRLEN];
	struct db_stmt *st = NULL;
	int64_t now = clock_now();
	memset(out, 0, sizeof *out);
	if (!dev || !dev->name || !dev->name[0] || !auth_device_type_ok(dev->type))
		return ERR_VALIDATION;
	const char *network = auth_network_of(client, netbuf, sizeof netbuf);
	enum err e = upsert_device(db, account_id, dev, network, now, out->device_id);
	if (e != ERR_OK)
		goto out;
	ids_new("ses_", out->session_id, sizeof out->session_id);
	e = db_prepare(db,
		       "INSERT INTO sessions (id, account_id, device_id, created_at, last_used_at,"
		       " last_network, expires_at, client_id) VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6, ?7)",
		       &st);
	if (e != ERR_OK)
		goto out;
	db_bind_text(st, 1, out->session_id);
	db_bind_text(st, 2, account_id);
	db_bind_text(st, 3, out->device_id);
	db_bind_int64(st, 4, now);
	db_bind_text(st, 5, network);
	db_bind_int64(st, 6, now + auth_settings.refresh_ttl_s);
	db_bind_text(st, 7, dev->client_id);
	e = db_step_done(st);
	db_done(st);
	if (e != ERR_OK)
		goto out;
	e = new_refresh_token(db, out->session_id, now, out->refresh_token);
	if (e != ERR_OK)
		goto out;
	e = auth_token_issue(AUTH_AUD_MEMBER, account_id, out->session_id, out->device_id,
			     auth_settings.access_ttl_s, out->access_token);
	if (e != ERR_OK)
		goto out;
	out->expires_in = auth_settings.access_ttl_s;
	e = events_emit(db, "session.created", out->session_id,
			json_pack("{s:s, s:s, s:s}", "account_id", account_id, "device_id",
				  out->device_id, "device_type", dev->type));
out:
	if (e != ERR_OK)
		sodium_memzero(out, sizeof *out);
	return e;
}

/* ---- refresh ---- */

struct refresh_ctx {
	char hash[AUTH_SECRET_HASH_SIZE];
	char client_id[AUTH_CLIENT_ID_MAX + 1];	/* the client the request named, "" for none */
	struct netaddr client;
	bool has_client;
	struct auth_tokens *out;
	bool reused;
	auth_done_fn done;
	void *done_ctx;
};

static enum err revoke_session_row(struct db *db, const char *session_id, const char *reason,
				   int64_t now)
{
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db,
				"UPDATE sessions SET revoked_at = ?2, revoke_reason = ?3"
				" WHERE id = ?1 AND revoked_at IS NULL",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, session_id);
	db_bind_int64(st, 2, now);
	db_bind_text(st, 3, reason);
	e = db_step_done(st);
	db_done(st);
	return e;
}

static enum err refresh_tx(struct db *db, void *arg)
{
	struct refresh_ctx *c = arg;
	struct db_stmt *st = NULL;
	char sid[IDS_MAX] = "", account[IDS_MAX] = "", device[IDS_MAX] = "";
	char netbuf[NETADDR_STRLEN];
	int64_t now = clock_now();
	c->reused = false;
	memset(c->out, 0, sizeof *c->out);
	enum err e = db_prepare(db,
				"SELECT r.session_id, r.expires_at, r.rotated_at, s.account_id, s.device_id,"
				" s.expires_at, s.revoked_at, s.client_id FROM refresh_tokens r"
				" JOIN sessions s ON s.id = r.session_id WHERE r.token_hash = ?1",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, c->hash);
	e = db_step_row(st);
	if (e == ERR_NOT_FOUND) {
		db_done(st);
		return ERR_REFRESH_TOKEN_INVALID;
	}
	if (e != ERR_OK) {
		db_done(st);
		return e;
	}
	snprintf(sid, sizeof sid, "%s", db_column_text(st, 0));
	int64_t token_expires = db_column_int64(st, 1);
	bool rotated = !db_column_is_null(st, 2);
	snprintf(account, sizeof account, "%s", db_column_text(st, 3));
	if (!db_column_is_null(st, 4))
		snprintf(device, sizeof device, "%s", db_column_text(st, 4));
	int64_t session_expires = db_column_int64(st, 5);
	bool revoked = !db_column_is_null(st, 6);
	/* A sign-in of an OAuth client is refreshed by that client only (RFC
	 * 6749 section 6); one without a client by anyone holding the token. */
	const char *bound = db_column_text(st, 7);
	bool other_client = bound && strcmp(bound, c->client_id) != 0;
	db_done(st);

	if (rotated) {
		/* Reuse: whoever holds the chain now, the sign-in is no longer safe. */
		c->reused = true;
		if (revoked)
			return ERR_OK;
		e = revoke_session_row(db, sid, "refresh_reuse", now);
		if (e == ERR_OK)
			e = events_emit(db, "session.refresh_reused", sid,
					json_pack("{s:s, s:s}", "account_id", account, "reason",
						  "refresh_reuse"));
		return e;
	}
	if (revoked || token_expires <= now || session_expires <= now || other_client)
		return ERR_REFRESH_TOKEN_INVALID;

	e = db_prepare(db, "UPDATE refresh_tokens SET rotated_at = ?2 WHERE token_hash = ?1", &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, c->hash);
	db_bind_int64(st, 2, now);
	e = db_step_done(st);
	db_done(st);
	if (e != ERR_OK)
		return e;
	const char *network =
		auth_network_of(c->has_client ? &c->client : NULL, netbuf, sizeof netbuf);
	e = db_prepare(db,
		       "UPDATE sessions SET expires_at = ?2, last_used_at = ?3, last_network = ?4"
		       " WHERE id = ?1",
		       &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, sid);
	db_bind_int64(st, 2, now + auth_settings.refresh_ttl_s);
	db_bind_int64(st, 3, now);
	db_bind_text(st, 4, network);
	e = db_step_done(st);
	db_done(st);
	if (e != ERR_OK)
		return e;
	if (device[0]) {
		e = db_prepare(db, "UPDATE devices SET last_seen_at = ?2, last_network = ?3 WHERE id = ?1",
			       &st);
		if (e != ERR_OK)
			return e;
		db_bind_text(st, 1, device);
		db_bind_int64(st, 2, now);
		db_bind_text(st, 3, network);
		e = db_step_done(st);
		db_done(st);
		if (e != ERR_OK)
			return e;
	}
	e = new_refresh_token(db, sid, now, c->out->refresh_token);
	if (e != ERR_OK)
		return e;
	e = auth_token_issue(AUTH_AUD_MEMBER, account, sid, device, auth_settings.access_ttl_s,
			     c->out->access_token);
	if (e != ERR_OK)
		return e;
	c->out->expires_in = auth_settings.access_ttl_s;
	memcpy(c->out->session_id, sid, sizeof sid);
	memcpy(c->out->device_id, device, sizeof device);
	/* No event: a refresh every few minutes per device would drown the feed. */
	return ERR_OK;
}

static bool refresh_shape_ok(const char *t)
{
	size_t n = strlen(t);
	if (n != REFRESH_CHARS)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = t[i];
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		      ch == '-' || ch == '_'))
			return false;
	}
	return true;
}

/* What the caller learns of a refresh once its transaction ended. */
static enum err refresh_finish(struct refresh_ctx *c, enum err e)
{
	sodium_memzero(c->hash, sizeof c->hash);
	if (e == ERR_OK && c->reused) {
		auth_revocation_bump();
		log_warn("auth.refresh_token_reused", "note=\"the sign-in was revoked\"");
		e = ERR_REFRESH_TOKEN_REUSED;
	}
	if (e != ERR_OK)
		sodium_memzero(c->out, sizeof *c->out);
	return e;
}

static void refresh_committed(void *arg, enum err e)
{
	struct refresh_ctx *c = arg;
	e = refresh_finish(c, e);
	c->done(c->done_ctx, e);
	free(c);
}

enum err auth_refresh_async(struct db *db, const char *refresh_token, const char *client_id,
			    const struct netaddr *client, struct auth_tokens *out, auth_done_fn done,
			    void *done_ctx, bool *pending)
{
	*pending = false;
	memset(out, 0, sizeof *out);
	if (!refresh_token || !refresh_shape_ok(refresh_token))
		return ERR_REFRESH_TOKEN_INVALID;
	struct refresh_ctx *c = calloc(1, sizeof *c);
	if (!c)
		return ERR_NOMEM;
	enum err e = auth_secret_hash("refresh", refresh_token, c->hash);
	if (e != ERR_OK) {
		free(c);
		return e;
	}
	snprintf(c->client_id, sizeof c->client_id, "%s", client_id ? client_id : "");
	if (client) {
		c->client = *client;
		c->has_client = true;
	}
	c->out = out;
	c->done = done;
	c->done_ctx = done_ctx;
	if (done && batch_submit(refresh_tx, c, refresh_committed, c)) {
		*pending = true;
		return ERR_OK;
	}
	e = refresh_finish(c, batch_run(db, refresh_tx, c));
	free(c);
	return e;
}

enum err auth_refresh(struct db *db, const char *refresh_token, const struct netaddr *client,
		      struct auth_tokens *out)
{
	bool pending = false;
	return auth_refresh_async(db, refresh_token, NULL, client, out, NULL, NULL, &pending);
}

/* ---- revocation ---- */

/* Revoke at `now` the sign-ins of `account_id` not yet revoked: only the
 * live `only_id` (when not NULL), all but `keep_id` (when not NULL), only
 * those on device `device_id` (when not NULL); each gets a session.revoked
 * event, and *count how many there were. */
static enum err revoke_where(struct db *db, const char *account_id, const char *only_id,
			     const char *keep_id, const char *device_id, const char *reason,
			     int64_t now, int64_t *count)
{
	struct db_stmt *st = NULL;
	size_t n = 0, cap = 0;
	char (*ids)[IDS_MAX] = NULL;
	*count = 0;
	enum err e = db_prepare(db,
				"UPDATE sessions SET revoked_at = ?4, revoke_reason = ?5"
				" WHERE account_id = ?1 AND revoked_at IS NULL"
				" AND (?2 IS NULL OR id = ?2) AND (?3 IS NULL OR id <> ?3)"
				" AND (?6 IS NULL OR device_id = ?6)"
				" AND (?2 IS NULL OR expires_at > ?4) RETURNING id",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, account_id);
	db_bind_text(st, 2, only_id);
	db_bind_text(st, 3, keep_id);
	db_bind_int64(st, 4, now);
	db_bind_text(st, 5, reason);
	db_bind_text(st, 6, device_id);
	for (;;) {
		bool row = false;
		e = db_step(st, &row);
		if (e != ERR_OK || !row)
			break;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			void *p = realloc(ids, ncap * sizeof *ids);
			if (!p) {
				e = ERR_NOMEM;
				break;
			}
			ids = p;
			cap = ncap;
		}
		snprintf(ids[n++], IDS_MAX, "%s", db_column_text(st, 0));
	}
	db_done(st);
	for (size_t i = 0; e == ERR_OK && i < n; i++)
		e = events_emit(db, "session.revoked", ids[i],
				json_pack("{s:s, s:s}", "account_id", account_id, "reason", reason));
	free(ids);
	if (e == ERR_OK)
		*count = (int64_t)n;
	return e;
}

enum err auth_device_sessions_revoke(struct db *db, const char *account_id, const char *device_id,
				     const char *reason, int64_t now, int64_t *count)
{
	return revoke_where(db, account_id, NULL, NULL, device_id, reason, now, count);
}

static void bump_after_commit(const char *key)
{
	(void)key;
	auth_revocation_bump();
}

enum err auth_revoke_account_sessions(struct db *db, const char *account_id,
				      const char *keep_session_id, const char *reason)
{
	int64_t n = 0;
	enum err e = revoke_where(db, account_id, NULL, keep_session_id, NULL, reason, clock_now(), &n);
	/* The caller has not committed yet.  Bumped now, a request could reload
	 * the sign-in before the commit and cache it live for the staleness
	 * bound; bumped after the commit, the next request of any thread sees
	 * the revocation. */
	if (e == ERR_OK && n > 0)
		db_after_commit(db, bump_after_commit, NULL);
	return e;
}

struct revoke_ctx {
	const char *account_id, *only_id, *reason;
	int64_t count;
};

static enum err revoke_tx(struct db *db, void *arg)
{
	struct revoke_ctx *c = arg;
	return revoke_where(db, c->account_id, c->only_id, NULL, NULL, c->reason, clock_now(),
			    &c->count);
}

enum err auth_session_revoke(struct db *db, const char *account_id, const char *session_id,
			     const char *reason)
{
	if (!ids_valid("ses_", session_id))
		return ERR_NOT_FOUND;
	struct revoke_ctx c = {account_id, session_id, reason, 0};
	enum err e = db_transaction(db, revoke_tx, &c);
	if (e != ERR_OK)
		return e;
	if (c.count == 0)
		return ERR_NOT_FOUND;
	auth_revocation_bump();
	return ERR_OK;
}

enum err auth_sessions_revoke_all(struct db *db, const char *account_id, const char *reason,
				  int64_t *count)
{
	struct revoke_ctx c = {account_id, NULL, reason, 0};
	enum err e = db_transaction(db, revoke_tx, &c);
	*count = e == ERR_OK ? c.count : 0;
	if (e == ERR_OK)
		auth_revocation_bump();
	return e;
}

/* ---- listing ---- */

static void read_session_row(struct db_stmt *st, void *row)
{
	struct auth_session_row *r = row;
	auth_copy_col(st, 0, r->id, sizeof r->id);
	auth_copy_col(st, 1, r->device_id, sizeof r->device_id);
	auth_copy_col(st, 2, r->device_name, sizeof r->device_name);
	auth_copy_col(st, 3, r->device_type, sizeof r->device_type);
	auth_copy_col(st, 4, r->device_model, sizeof r->device_model);
	r->created_at = db_column_int64(st, 5);
	r->last_used_at = db_column_int64(st, 6);
	r->expires_at = db_column_int64(st, 7);
	auth_copy_col(st, 8, r->last_network, sizeof r->last_network);
}

static const struct auth_page_query session_page = {
	.cursor_sql = "SELECT created_at FROM sessions WHERE id = ?1 AND account_id = ?2",
	.page_sql = "SELECT s.id, s.device_id, d.name, d.type, d.model, s.created_at, s.last_used_at,"
		    " s.expires_at, s.last_network FROM sessions s"
		    " LEFT JOIN devices d ON d.id = s.device_id"
		    " WHERE s.account_id = ?1 AND s.revoked_at IS NULL AND s.expires_at > ?5"
		    " AND (?2 IS NULL OR s.created_at < ?3 OR (s.created_at = ?3 AND s.id < ?2))"
		    " ORDER BY s.created_at DESC, s.id DESC LIMIT ?4",
	.binds_now = true,
	.row_size = sizeof(struct auth_session_row),
	.read = read_session_row,
};

enum err auth_sessions_list(struct db *db, const char *account_id, int64_t limit,
			    const char *starting_after, struct auth_session_row **rows, size_t *n,
			    bool *has_more)
{
	void *list = NULL;
	enum err e = auth_page_list(db, &session_page, account_id, limit, starting_after, &list, n,
				    has_more);
	*rows = list;
	return e;
}

/* ---- the per-request check ---- */

/* CHECK_SETS sets of CHECK_WAYS entries per thread (~120 bytes each: 1 MiB
 * a thread), allocated on the thread's first check.  A direct-mapped table
 * of 4096 let about a quarter of 1000 sign-ins in rotation evict each other
 * and read the database on every round. */
#define CHECK_SETS 2048
#define CHECK_WAYS 4

struct check_entry {
	char sid[IDS_MAX];
	char account[IDS_MAX];
	bool live;
	int64_t expires_at;
	int64_t checked_ms;	/* clock_cache_ms() */
	int64_t touched_at;	/* clock_now() of the last recorded use */
	unsigned long long epoch;
	uint64_t used;		/* the thread's check count when last used */
};

static _Thread_local struct check_entry (*checks)[CHECK_WAYS]; /* CHECK_SETS sets */
static _Thread_local uint64_t check_count;
static pthread_key_t checks_key; /* frees a thread's table when the thread ends */
static pthread_once_t checks_key_once = PTHREAD_ONCE_INIT;

static void make_checks_key(void) { pthread_key_create(&checks_key, free); }

/* The entry for `sid`: its own, else an empty or the least recently used
 * way of its set, emptied. */
static struct check_entry *entry_for(const char *sid)
{
	static _Thread_local struct check_entry spare; /* without memory for the table */
	uint32_t h = 2166136261u; /* FNV-1a: ids are random, any mix will do */
	for (const char *p = sid; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	if (!checks) {
		pthread_once(&checks_key_once, make_checks_key);
		checks = calloc(CHECK_SETS, sizeof *checks);
		if (!checks) {
			memset(&spare, 0, sizeof spare);
			return &spare;
		}
		pthread_setspecific(checks_key, checks);
	}
	struct check_entry *set = checks[h % CHECK_SETS], *victim = &set[0];
	check_count++;
	for (int w = 0; w < CHECK_WAYS; w++) {
		struct check_entry *c = &set[w];
		if (strcmp(c->sid, sid) == 0) {
			c->used = check_count;
			return c;
		}
		if (victim->sid[0] && (!c->sid[0] || c->used < victim->used))
			victim = c;
	}
	memset(victim, 0, sizeof *victim);
	victim->used = check_count;
	return victim;
}

static enum err load_check(struct db *db, const char *sid, struct check_entry *c)
{
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db,
				"SELECT account_id, revoked_at, expires_at, last_used_at FROM sessions"
				" WHERE id = ?1",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, sid);
	e = db_step_row(st);
	snprintf(c->sid, sizeof c->sid, "%s", sid);
	if (e == ERR_OK) {
		auth_copy_col(st, 0, c->account, sizeof c->account);
		c->live = db_column_is_null(st, 1);
		c->expires_at = db_column_int64(st, 2);
		int64_t used = db_column_int64(st, 3);
		if (used > c->touched_at)
			c->touched_at = used;
	} else if (e == ERR_NOT_FOUND) {
		c->account[0] = '\0';
		c->live = false;
		e = ERR_OK;
	}
	db_done(st);
	if (e != ERR_OK)
		c->sid[0] = '\0';
	return e;
}

/* Record that the sign-in was used now from `client`, in memory: the
 * writer of last_use.c stores it with the next batch. */
static void touch(const char *sid, const struct netaddr *client, int64_t now)
{
	char netbuf[NETADDR_STRLEN];
	auth_last_use_record(sid, auth_network_of(client, netbuf, sizeof netbuf), now);
}

enum err auth_session_check(struct db *db, const char *account_id, const char *session_id,
			    const struct netaddr *client)
{
	struct check_entry *c = entry_for(session_id);
	int64_t mono = clock_cache_ms();
	unsigned long long epoch = atomic_load(&revocation_epoch);
	bool fresh = c->sid[0] && c->epoch == epoch &&
		     mono - c->checked_ms < auth_settings.revocation_cache_ms;
	if (!fresh) {
		enum err e = load_check(db, session_id, c);
		if (e != ERR_OK)
			return e;
		c->checked_ms = mono;
		c->epoch = epoch;
	}
	int64_t now = clock_now();
	if (!c->live || c->expires_at <= now || strcmp(c->account, account_id) != 0)
		return ERR_INVALID_TOKEN;
	if (now - c->touched_at >= TOUCH_EVERY_S) {
		c->touched_at = now;
		touch(session_id, client, now);
	}
	return ERR_OK;
}

/* ---- purging what expired ----
 *
 * A refresh token is kept after it was exchanged so that presenting it
 * again revokes its sign-in (reuse detection); once it has expired it is
 * refused anyway, so it goes.  A sign-in goes SESSION_KEEP_S after it
 * expired (a revoked one stops sliding, so it expires within the refresh
 * lifetime of its revocation): the member's list and staff's account page
 * show recent ended sign-ins for a while.  Its refresh tokens went first
 * (they expire no later than it). */

#define PURGE_BATCH 2000
#define SESSION_KEEP_S (30 * 86400)

enum err auth_sessions_purge(struct db *db, int64_t now, int64_t *deleted)
{
	int64_t gone = 0;
	enum err e = db_purge(db,
			      "DELETE FROM refresh_tokens WHERE token_hash IN (SELECT token_hash FROM refresh_tokens"
			      " WHERE expires_at < ?1 ORDER BY expires_at LIMIT ?2)",
			      now, PURGE_BATCH, &gone);
	if (e == ERR_OK)
		e = db_purge(db,
			     "DELETE FROM sessions WHERE id IN (SELECT s.id FROM sessions s WHERE s.expires_at < ?1"
			     " AND NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.session_id = s.id)"
			     " ORDER BY s.expires_at LIMIT ?2)",
			     now - SESSION_KEEP_S, PURGE_BATCH, &gone);
	if (deleted)
		*deleted = gone;
	return e;
}
