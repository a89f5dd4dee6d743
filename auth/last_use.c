/*
 * last_use.c - when and from where each sign-in (and its device) was last
 * used, recorded in memory and written in batches.
 *
 * An authenticated request used to write sessions.last_used_at and
 * devices.last_seen_at itself, on the request's thread, whenever its thread
 * had not recorded that sign-in in the last minute: a write (and a wait for
 * the database's write lock) on the path of a read.  Now the sign-in check
 * (sessions.c) hands the use to auth_last_use_record(), which keeps the
 * latest time and network per sign-in in one hash table behind a mutex
 * (touched at most once a minute per sign-in and thread, so the lock is
 * rarely wanted); a writer thread takes the table every --last-use-flush-ms
 * and writes it in short transactions of ROWS_PER_TX sign-ins, never moving
 * a time backwards.  The test clock's hook flushes too, and so does
 * auth_shutdown() after the server drained: a clean stop loses nothing; a
 * crash loses at most one flush interval of last-use times (never a
 * sign-in, a revocation or anything else: last use is informational).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_int.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/ticker.h"

#define ROWS_PER_TX 256
#define TABLE_MAX (1u << 20) /* sign-ins pending at once before new ones are dropped */

struct use {
	uint64_t hash;		/* 0: empty slot */
	char sid[IDS_MAX];
	int64_t at;
	char network[NETADDR_STRLEN]; /* "" when unknown */
};

static pthread_mutex_t table_mu = PTHREAD_MUTEX_INITIALIZER;
static struct use *table;
static size_t table_cap, table_used; /* cap: a power of two, or 0 */
static atomic_uint_fast64_t dropped;

static uint64_t hash_sid(const char *sid)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (const char *p = sid; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	return h ? h : 1;
}

static bool grow(void)
{
	size_t ncap = table_cap ? table_cap * 2 : 256;
	struct use *n = calloc(ncap, sizeof *n);
	if (!n)
		return false;
	for (size_t i = 0; i < table_cap; i++) {
		if (!table[i].hash)
			continue;
		size_t j = table[i].hash & (ncap - 1);
		while (n[j].hash)
			j = (j + 1) & (ncap - 1);
		n[j] = table[i];
	}
	free(table);
	table = n;
	table_cap = ncap;
	return true;
}

/* Keep the later of what is pending for `sid` and (at, network).  Called
 * with table_mu held. */
static void merge_locked(const char *sid, int64_t at, const char *network)
{
	uint64_t h = hash_sid(sid);
	if ((table_used + 1) * 2 > table_cap && (table_used >= TABLE_MAX || !grow())) {
		atomic_fetch_add(&dropped, 1);
		return;
	}
	size_t j = h & (table_cap - 1);
	while (table[j].hash && (table[j].hash != h || strcmp(table[j].sid, sid) != 0))
		j = (j + 1) & (table_cap - 1);
	struct use *u = &table[j];
	if (!u->hash) {
		u->hash = h;
		memcpy(u->sid, sid, strlen(sid) + 1);
		table_used++;
	} else if (at < u->at) {
		return;
	}
	u->at = at;
	/* A use without a known network keeps the one already pending. */
	if (network[0] || !u->network[0])
		memcpy(u->network, network, strlen(network) + 1);
}

void auth_last_use_record(const char *session_id, const char *network, int64_t at)
{
	if (strlen(session_id) >= IDS_MAX)
		return;
	if (!network || strlen(network) >= NETADDR_STRLEN)
		network = "";
	pthread_mutex_lock(&table_mu);
	merge_locked(session_id, at, network);
	pthread_mutex_unlock(&table_mu);
}

/* ---- writing ---- */

struct flush_ctx {
	const struct use *rows;
	size_t n;
};

/* Run `sql` with ?1 the sign-in, ?2 the time and ?3 the network of `u`. */
static enum err write_use(struct db *db, const char *sql, const struct use *u)
{
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db, sql, &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, u->sid);
	db_bind_int64(st, 2, u->at);
	db_bind_text(st, 3, u->network[0] ? u->network : NULL);
	e = db_step_done(st);
	db_done(st);
	return e;
}

static enum err flush_tx(struct db *db, void *arg)
{
	const struct flush_ctx *c = arg;
	/* "< ?2": a batch never moves a time back (a sign-in or a refresh
	 * written meanwhile may be later than what was pending). */
	for (size_t i = 0; i < c->n; i++) {
		enum err e = write_use(db,
				       "UPDATE sessions SET last_used_at = ?2,"
				       " last_network = COALESCE(?3, last_network)"
				       " WHERE id = ?1 AND last_used_at < ?2",
				       &c->rows[i]);
		if (e == ERR_OK)
			e = write_use(db,
				      "UPDATE devices SET last_seen_at = ?2,"
				      " last_network = COALESCE(?3, last_network)"
				      " WHERE id = (SELECT device_id FROM sessions WHERE id = ?1)"
				      " AND last_seen_at < ?2",
				      &c->rows[i]);
		if (e != ERR_OK)
			return e;
	}
	return ERR_OK;
}

enum err auth_last_use_flush(struct db *db, int64_t *written)
{
	if (written)
		*written = 0;
	pthread_mutex_lock(&table_mu);
	struct use *rows = table;
	size_t cap = table_cap, n = 0;
	table = NULL;
	table_cap = table_used = 0;
	pthread_mutex_unlock(&table_mu);
	/* Compact the taken table in place. */
	for (size_t i = 0; i < cap; i++)
		if (rows[i].hash)
			rows[n++] = rows[i];
	enum err e = ERR_OK;
	size_t done = 0;
	while (done < n) {
		size_t chunk = n - done < ROWS_PER_TX ? n - done : ROWS_PER_TX;
		struct flush_ctx c = {rows + done, chunk};
		e = db_transaction(db, flush_tx, &c);
		if (e != ERR_OK)
			break;
		done += chunk;
	}
	if (done < n) {
		/* Keep what was not written for the next flush. */
		pthread_mutex_lock(&table_mu);
		for (size_t i = done; i < n; i++)
			merge_locked(rows[i].sid, rows[i].at, rows[i].network);
		pthread_mutex_unlock(&table_mu);
		log_warn("auth.last_use_flush_failed", "error=%s kept=%zu", err_name(e), n - done);
	}
	free(rows);
	if (written)
		*written = (int64_t)done;
	uint64_t lost = atomic_exchange(&dropped, 0);
	if (lost)
		log_warn("auth.last_use_dropped", "count=%llu note=\"too many sign-ins pending at once\"",
			 (unsigned long long)lost);
	return e;
}

/* ---- the writer thread ---- */

static struct ticker writer = TICKER_INIT;
static int64_t last_purge; /* the writer's own; 0 again when it stops, so a new one purges first */

#define PURGE_EVERY_S 3600 /* expired sign-ins and refresh tokens (auth_sessions_purge) */

static void writer_tick(void *arg)
{
	(void)arg;
	struct db *db = db_thread();
	if (!db)
		return;
	auth_last_use_flush(db, NULL);
	int64_t now = clock_now(), gone = 0;
	if (now - last_purge >= PURGE_EVERY_S && auth_sessions_purge(db, now, &gone) == ERR_OK) {
		last_purge = now;
		if (gone > 0)
			log_info("auth.sessions_purged", "rows=%lld", (long long)gone);
	}
}

enum err auth_last_use_start(int64_t flush_ms)
{
	enum err e = ticker_start(&writer, flush_ms > 0 ? flush_ms : 5000, writer_tick, NULL);
	if (e != ERR_OK)
		log_error("auth.last_use_writer_failed", "%s", "note=\"cannot start the thread\"");
	return e;
}

void auth_last_use_stop(void)
{
	ticker_stop(&writer);
	last_purge = 0;
	/* What the last requests recorded. */
	pthread_mutex_lock(&table_mu);
	bool pending = table_used > 0;
	pthread_mutex_unlock(&table_mu);
	struct db *db = pending ? db_thread() : NULL;
	if (db)
		auth_last_use_flush(db, NULL);
}
