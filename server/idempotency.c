/*
 * Idempotency-Key middleware for routes flagged HTTP_IDEMPOTENT.
 *
 * The first request with a key claims it (a row in state in_progress), runs,
 * and stores its response; a retry with the same key and the same request
 * (method, path and body fingerprint) replays that response with
 * `Idempotent-Replayed: true`; the same key with a different request is 409
 * idempotency_key_reused; a retry while the first is still running is 409
 * idempotency_key_in_use.  Keys are scoped to the authenticated principal
 * (or '-' for anonymous routes: a replay then needs the identical body, so
 * it reveals nothing the caller did not send) and kept 24 hours.
 *
 * The claim commits on its own, before the handler runs, so that a
 * concurrent duplicate sees it at once (and so that sign-up hashes the
 * password without holding the write lock).  The handler then runs with
 * core/db's deferred commit armed on its thread: its first transaction is
 * left open when it succeeds, later ones nest in it as savepoints, and
 * idempotency_finish() writes the reply into the claimed row inside that
 * same transaction and commits once.  So the effect and the stored reply
 * are durable together or not at all: a crash before the commit leaves
 * neither (the key stays in_progress with nothing done), a crash after it
 * leaves both (a retry replays).  Begin, handler and finish run on one
 * thread, the slow-work pool's for HTTP_OFFLOAD routes; HTTP_IDEMPOTENT
 * routes may not http_defer().  Between the handler's first write and the
 * commit this process's write turn is held: nothing slow may run there.
 *
 * Responses of 5xx are not stored and the key is released, so the client
 * may retry; what the handler's transactions did before it answered 5xx is
 * committed, as it would be without a key (a charge made inside one must
 * not be forgotten).  If storing the reply or the commit fails, nothing of
 * the request is kept and the reply becomes that 5xx.
 * If the process dies while a request is in progress, the claim is taken
 * over after IN_PROGRESS_STALE_S, and the re-run finds nothing of the first
 * attempt.
 */
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/db.h"
#include "core/log.h"
#include "server/server_int.h"

#define KEY_TTL_S (24 * 3600)
#define IN_PROGRESS_STALE_S 60
#define SWEEP_EVERY_S 600

static _Atomic int64_t last_sweep;

static bool key_is_valid(const char *k)
{
	size_t n = strlen(k);
	if (n == 0 || n > 255)
		return false;
	for (size_t i = 0; i < n; i++)
		if (k[i] < 0x21 || k[i] > 0x7e)
			return false;
	return true;
}

static void fingerprint(const char *method, const char *path, const char *body, size_t len,
			char out[65])
{
	unsigned char h[32];
	crypto_generichash_state st;
	crypto_generichash_init(&st, NULL, 0, sizeof h);
	crypto_generichash_update(&st, (const unsigned char *)method, strlen(method) + 1);
	crypto_generichash_update(&st, (const unsigned char *)path, strlen(path) + 1);
	crypto_generichash_update(&st, (const unsigned char *)body, len);
	crypto_generichash_final(&st, h, sizeof h);
	sodium_bin2hex(out, 65, h, sizeof h);
}

static void sweep(struct db *db, int64_t now)
{
	int64_t prev = atomic_load(&last_sweep);
	struct db_stmt *st = NULL;
	if (now - prev < SWEEP_EVERY_S || !atomic_compare_exchange_strong(&last_sweep, &prev, now))
		return;
	if (db_prepare(db, "DELETE FROM idempotency_keys WHERE expires_at < ?1", &st) == ERR_OK) {
		db_bind_int64(st, 1, now);
		db_step_done(st);
	}
	db_done(st);
}

struct claim {
	const char *principal, *key, *fp;
	int64_t now;
	/* result */
	enum { CLAIMED, REPLAY, IN_USE, REUSED } outcome;
	int status;
	char *content_type, *body;
};

static enum err claim_tx(struct db *db, void *arg)
{
	struct claim *c = arg;
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db,
				"SELECT fingerprint, state, status, content_type, body, created_at, expires_at"
				" FROM idempotency_keys WHERE principal = ?1 AND key = ?2",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, c->principal);
	db_bind_text(st, 2, c->key);
	e = db_step_row(st);
	bool take_over = false;
	if (e == ERR_OK) {
		const char *fp = db_column_text(st, 0);
		bool done = strcmp(db_column_text(st, 1), "done") == 0;
		int64_t created = db_column_int64(st, 5), expires = db_column_int64(st, 6);
		if (expires < c->now) { // NOLINT(bugprone-branch-clone): an abandoned key (below) is taken over like an expired one
			take_over = true;
		} else if (strcmp(fp, c->fp) != 0) {
			c->outcome = REUSED;
		} else if (done) {
			c->outcome = REPLAY;
			c->status = (int)db_column_int64(st, 2);
			const char *ct = db_column_text(st, 3), *b = db_column_text(st, 4);
			c->content_type = ct ? strdup(ct) : NULL;
			c->body = strdup(b ? b : "");
		} else if (c->now - created > IN_PROGRESS_STALE_S) {
			take_over = true;
		} else {
			c->outcome = IN_USE;
		}
	}
	db_done(st);
	if (e != ERR_OK && e != ERR_NOT_FOUND)
		return e;
	if (e == ERR_OK && !take_over)
		return ERR_OK;
	c->outcome = CLAIMED;
	e = db_prepare(db,
		       "INSERT INTO idempotency_keys (principal, key, fingerprint, state, created_at, expires_at)"
		       " VALUES (?1, ?2, ?3, 'in_progress', ?4, ?5)"
		       " ON CONFLICT (principal, key) DO UPDATE SET fingerprint = excluded.fingerprint,"
		       " state = 'in_progress', status = NULL, content_type = NULL, body = NULL,"
		       " created_at = excluded.created_at, expires_at = excluded.expires_at",
		       &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, c->principal);
	db_bind_text(st, 2, c->key);
	db_bind_text(st, 3, c->fp);
	db_bind_int64(st, 4, c->now);
	db_bind_int64(st, 5, c->now + KEY_TTL_S);
	e = db_step_done(st);
	db_done(st);
	return e;
}

/* Replies keep a pointer to their content type, so a stored one is mapped
 * back to the static string it came from. */
static const char *static_content_type(const char *stored)
{
	static const char *const known[] = {"application/problem+json", "application/json",
					    "text/html; charset=utf-8", "text/plain; charset=utf-8"};
	for (size_t i = 0; stored && i < sizeof known / sizeof known[0]; i++)
		if (strcmp(stored, known[i]) == 0)
			return known[i];
	return "application/json";
}

static const char *principal_of(const struct http_req *r)
{
	const struct http_auth *a = http_auth(r);
	return a->kind != HTTP_PRINCIPAL_NONE && a->subject[0] ? a->subject : "-";
}

bool idempotency_begin(struct http_req *r)
{
	const char *key = http_header(r, "Idempotency-Key");
	if (!key)
		return true;
	if (!key_is_valid(key)) {
		http_reply_problem(r, ERR_INVALID_IDEMPOTENCY_KEY, NULL);
		return false;
	}
	struct db *db = db_thread();
	if (!db) {
		http_reply_problem(r, ERR_DB, "no database connection");
		return false;
	}
	size_t len;
	const char *body = http_body(r, &len);
	char fp[65];
	fingerprint(http_method(r), http_path(r), body, len, fp);
	struct claim c = {principal_of(r), key, fp, clock_now(), CLAIMED, 0, NULL, NULL};
	sweep(db, c.now);
	enum err e = db_transaction(db, claim_tx, &c);
	if (e != ERR_OK) {
		http_reply_problem(r, e, "idempotency claim failed");
		return false;
	}
	switch (c.outcome) {
	case CLAIMED:
		return true;
	case REPLAY:
		http_add_header(r, "Idempotent-Replayed", "true");
		http_reply_raw(r, c.status, static_content_type(c.content_type), c.body, strlen(c.body));
		break;
	case IN_USE:
		http_reply_problem(r, ERR_IDEMPOTENCY_KEY_IN_USE, NULL);
		break;
	case REUSED:
		http_reply_problem(r, ERR_IDEMPOTENCY_KEY_REUSED,
				   "This Idempotency-Key was used with a different request; use a new key");
		break;
	}
	free(c.content_type);
	free(c.body);
	return false;
}

struct stored_reply {
	const char *principal, *key, *content_type;
	int status;
	char *body;
};

static enum err store_tx(struct db *db, void *arg)
{
	const struct stored_reply *sr = arg;
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db,
				"UPDATE idempotency_keys SET state = 'done', status = ?3, content_type = ?4,"
				" body = ?5 WHERE principal = ?1 AND key = ?2",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, sr->principal);
	db_bind_text(st, 2, sr->key);
	db_bind_int64(st, 3, sr->status);
	db_bind_text(st, 4, sr->content_type);
	db_bind_text(st, 5, sr->body);
	e = db_step_done(st);
	db_done(st);
	return e;
}

static enum err release_tx(struct db *db, void *arg)
{
	const struct stored_reply *sr = arg;
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db, "DELETE FROM idempotency_keys WHERE principal = ?1 AND key = ?2", &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, sr->principal);
	db_bind_text(st, 2, sr->key);
	e = db_step_done(st);
	db_done(st);
	return e;
}

/* A fault the test-mode route POST /test/v1/faults set for the next stored
 * reply (enum idempotency_fault). */
static atomic_int next_fault;

void idempotency_set_fault(enum idempotency_fault f) { atomic_store(&next_fault, (int)f); }

/* Write the reply into the claimed row, inside the request's deferred
 * transaction when the handler opened one, and commit the two together. */
static enum err store_and_commit(struct db *db, struct stored_reply *sr)
{
	enum err e = db_transaction(db, store_tx, sr);
	if (e != ERR_OK) {
		db_deferred_rollback(db);
		return e;
	}
	switch ((enum idempotency_fault)atomic_exchange(&next_fault, IDEMPOTENCY_FAULT_NONE)) {
	case IDEMPOTENCY_FAULT_CRASH:
		log_error("idempotency.test_crash", "%s", "exiting before the commit, as a SIGKILL would");
		_exit(70);
	case IDEMPOTENCY_FAULT_FAIL:
		db_deferred_rollback(db);
		return ERR_DB;
	case IDEMPOTENCY_FAULT_NONE:
		break;
	}
	return db_deferred_commit(db);
}

enum err idempotency_finish(struct http_req *r, int status, const char *content_type, const char *body,
			    size_t len)
{
	struct db *db = db_thread();
	const char *key = http_header(r, "Idempotency-Key");
	struct stored_reply sr = {principal_of(r), key, content_type, status, NULL};
	enum err e = ERR_OK;
	if (!db || !key) {
		/* Not reached: idempotency_begin() had both.  End the mode. */
		db_deferred_rollback(db);
		return ERR_OK;
	}
	if (status < 500) {
		sr.body = strndup(body ? body : "", len);
		e = sr.body ? store_and_commit(db, &sr) : ERR_NOMEM;
		free(sr.body);
		if (e == ERR_OK)
			return ERR_OK;
		log_error("idempotency.commit_failed", "error=%s", err_name(e));
	} else {
		/* A 5xx is not stored.  What the handler's transactions did
		 * stays, as it would without a key: db_transaction() told the
		 * handler it committed, and it may have charged a card. */
		enum err ce = db_deferred_commit(db);
		if (ce != ERR_OK)
			log_error("idempotency.commit_failed", "error=%s status=%d", err_name(ce), status);
	}
	db_deferred_rollback(db); /* ends the mode where nothing above did */
	enum err re = db_transaction(db, release_tx, &sr);
	if (re != ERR_OK)
		log_error("idempotency.release_failed", "error=%s", err_name(re));
	return e;
}

enum err http_idempotency_forget(struct db *db, const char *id)
{
	struct db_stmt *st = NULL;
	/* LIKE, not instr(): both engines have it.  '_' in an id matches any
	 * character, which can only forget a few more cached replies. */
	enum err e = db_prepare(db,
				"DELETE FROM idempotency_keys WHERE principal = ?1"
				" OR body LIKE '%' || ?1 || '%'",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, id);
	e = db_step_done(st);
	db_done(st);
	return e;
}
