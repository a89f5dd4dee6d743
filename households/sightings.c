/*
 * sightings.c - where devices are seen, counted in memory and written in
 * batches.
 *
 * Every authenticated device request reaches hh_sighting_observe() through
 * the auth area's request observer.  It masks the client address to its
 * network, then adds one to the counter of (device, network, UTC day) in
 * one of SHARDS hash tables, each behind its own mutex, so threads rarely
 * wait for each other and no request writes to the database.  A writer
 * thread steals the tables every flush_ms and upserts them into
 * device_sightings in a few short transactions; the test clock's hook and
 * shutdown flush too.  A process that dies loses at most flush_ms of
 * counts, which only delays what trust is computed from (the playback gate
 * also counts the request it is deciding on).
 *
 * The flush also proposes a household for an account that has none when
 * one of the sightings is of a TV: the first TV seen proposes its network.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/ticker.h"
#include "households/households_int.h"

#define SHARDS 16
#define SHARD_MAX 65536		/* entries per shard before new keys are dropped */
#define ROWS_PER_TX 256
#define PURGE_EVERY_S 3600

struct entry {
	uint64_t hash;		/* 0: empty slot */
	char device[IDS_MAX];
	char account[IDS_MAX];
	struct netaddr net;	/* masked to the network */
	int64_t day;
	int64_t count;
	int64_t first_at;
	int64_t last_at;
};

struct shard {
	pthread_mutex_t mu;
	struct entry *slots;
	size_t cap;		/* power of two, or 0 */
	size_t used;
};

static struct shard shards[SHARDS] = {
#define SHARD_INIT {PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0}
	SHARD_INIT, SHARD_INIT, SHARD_INIT, SHARD_INIT, SHARD_INIT, SHARD_INIT, SHARD_INIT, SHARD_INIT,
	SHARD_INIT, SHARD_INIT, SHARD_INIT, SHARD_INIT, SHARD_INIT, SHARD_INIT, SHARD_INIT, SHARD_INIT,
#undef SHARD_INIT
};

static atomic_uint_fast64_t dropped;

/* ---- the counters ---- */

static void mask(struct netaddr *a, int v4_bits, int v6_bits)
{
	int bits = a->family == 4 ? v4_bits : v6_bits;
	int len = a->family == 4 ? 4 : 16;
	for (int i = 0; i < len; i++) {
		int keep = bits - i * 8;
		if (keep >= 8)
			continue;
		unsigned m = keep <= 0 ? 0u : 0xffu << (8 - keep);
		a->bytes[i] = (uint8_t)(a->bytes[i] & m);
	}
	if (a->family == 4)
		memset(a->bytes + 4, 0, 12);
}

static uint64_t hash_of(const char *device, const struct netaddr *net, int64_t day)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (const char *p = device; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	h = (h ^ (uint64_t)net->family) * 1099511628211ull;
	for (int i = 0; i < 16; i++)
		h = (h ^ net->bytes[i]) * 1099511628211ull;
	h = (h ^ (uint64_t)day) * 1099511628211ull;
	return h ? h : 1;
}

static bool same_key(const struct entry *e, uint64_t h, const char *device, const struct netaddr *net,
		     int64_t day)
{
	return e->hash == h && e->day == day && e->net.family == net->family &&
	       memcmp(e->net.bytes, net->bytes, 16) == 0 && strcmp(e->device, device) == 0;
}

/* Grow `s` to twice its size (or the first size).  False without memory. */
static bool grow(struct shard *s)
{
	size_t ncap = s->cap ? s->cap * 2 : 64;
	struct entry *n = calloc(ncap, sizeof *n);
	if (!n)
		return false;
	for (size_t i = 0; i < s->cap; i++) {
		struct entry *e = &s->slots[i];
		if (!e->hash)
			continue;
		size_t j = e->hash & (ncap - 1);
		while (n[j].hash)
			j = (j + 1) & (ncap - 1);
		n[j] = *e;
	}
	free(s->slots);
	s->slots = n;
	s->cap = ncap;
	return true;
}

/* Add `count` requests between first_at and last_at to the key. */
static void add(const char *account, const char *device, const struct netaddr *net, int64_t day,
		int64_t count, int64_t first_at, int64_t last_at)
{
	uint64_t h = hash_of(device, net, day);
	struct shard *s = &shards[h % SHARDS];
	pthread_mutex_lock(&s->mu);
	if ((s->used + 1) * 2 > s->cap && (s->used >= SHARD_MAX || !grow(s))) {
		pthread_mutex_unlock(&s->mu);
		atomic_fetch_add(&dropped, 1);
		return;
	}
	size_t j = h & (s->cap - 1);
	while (s->slots[j].hash && !same_key(&s->slots[j], h, device, net, day))
		j = (j + 1) & (s->cap - 1);
	struct entry *e = &s->slots[j];
	if (!e->hash) {
		e->hash = h;
		snprintf(e->device, sizeof e->device, "%s", device);
		snprintf(e->account, sizeof e->account, "%s", account);
		e->net = *net;
		e->day = day;
		e->first_at = first_at;
		e->last_at = last_at;
		s->used++;
	}
	e->count += count;
	if (first_at < e->first_at)
		e->first_at = first_at;
	if (last_at > e->last_at)
		e->last_at = last_at;
	pthread_mutex_unlock(&s->mu);
}

void hh_sighting_observe(const char *account_id, const char *device_id, const struct netaddr *client)
{
	const struct hh_settings *cfg = hh_settings();
	if (cfg->sightings_off || !client || (client->family != 4 && client->family != 6))
		return;
	if (strlen(device_id) >= IDS_MAX || strlen(account_id) >= IDS_MAX)
		return;
	struct netaddr net = *client;
	mask(&net, cfg->v4_bits, cfg->v6_bits);
	int64_t now = clock_now();
	add(account_id, device_id, &net, now / HH_DAY, 1, now, now);
}

/* ---- writing ---- */

/* Take every counter out of memory: *out (malloc'd) holds *n entries. */
static bool steal_all(struct entry **out, size_t *n)
{
	size_t total = 0, cap = 0;
	struct entry *all = NULL;
	*out = NULL;
	*n = 0;
	for (int i = 0; i < SHARDS; i++) {
		struct shard *s = &shards[i];
		pthread_mutex_lock(&s->mu);
		struct entry *slots = s->slots;
		size_t scap = s->cap, used = s->used;
		s->slots = NULL;
		s->cap = 0;
		s->used = 0;
		pthread_mutex_unlock(&s->mu);
		if (!used) {
			free(slots);
			continue;
		}
		if (total + used > cap) {
			size_t ncap = cap ? cap : 256;
			while (ncap < total + used)
				ncap *= 2;
			struct entry *p = realloc(all, ncap * sizeof *p);
			if (!p) {
				/* Keep what fits; the rest goes back into memory. */
				for (size_t j = 0; j < scap; j++)
					if (slots[j].hash)
						add(slots[j].account, slots[j].device, &slots[j].net,
						    slots[j].day, slots[j].count, slots[j].first_at,
						    slots[j].last_at);
				free(slots);
				continue;
			}
			all = p;
			cap = ncap;
		}
		for (size_t j = 0; j < scap; j++)
			if (slots[j].hash)
				all[total++] = slots[j];
		free(slots);
	}
	*out = all;
	*n = total;
	return true;
}

static int by_first_at(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	return x->first_at < y->first_at ? -1 : x->first_at > y->first_at;
}

struct flush_ctx {
	const struct entry *rows;
	size_t n;
};

/* After a TV's sighting is written: propose its network when the account
 * has no household (the first TV seen proposes), else store as household
 * TVs the TVs seen on a household network, so they keep the household
 * after the sighting that made them one is older than the window. */
static enum err after_tv_sighting(struct db *db, const struct entry *e, const char *network)
{
	struct db_stmt *st = NULL;
	struct auth_device_brief dev;
	enum err err = auth_device_brief_get(db, e->device, &dev);
	if (err == ERR_NOT_FOUND)
		return ERR_OK;
	if (err != ERR_OK)
		return err;
	if (strcmp(dev.type, "tv") != 0 || dev.revoked || strcmp(dev.account_id, e->account) != 0)
		return ERR_OK;
	err = db_prepare(db, "SELECT 1 FROM households WHERE account_id = ?1", &st);
	if (err != ERR_OK)
		return err;
	db_bind_text(st, 1, e->account);
	err = db_step_row(st);
	db_done(st);
	if (err == ERR_NOT_FOUND)
		return hh_household_propose(db, e->account, e->device, network, e->first_at);
	if (err != ERR_OK)
		return err;
	struct hh_policy pol;
	struct hh_view v;
	char country[3];
	err = hh_account_policy(db, e->account, country, &pol);
	if (err == ERR_OK)
		err = hh_view_load(db, e->account, &pol, clock_now(), &v);
	for (size_t i = 0; err == ERR_OK && i < v.ntvs; i++)
		err = hh_household_tv_add(db, e->account, v.tvs[i], e->last_at);
	return err;
}

static enum err flush_tx(struct db *db, void *arg)
{
	struct flush_ctx *c = arg;
	const struct hh_settings *cfg = hh_settings();
	struct db_stmt *st = NULL;
	char network[NETADDR_STRLEN];
	for (size_t i = 0; i < c->n; i++) {
		const struct entry *e = &c->rows[i];
		netaddr_prefix(&e->net, cfg->v4_bits, cfg->v6_bits, network, sizeof network);
		/* CASE rather than MIN/MAX: the same SQL runs on PostgreSQL. */
		enum err err = db_prepare(
			db,
			"INSERT INTO device_sightings (device_id, account_id, network, day, requests,"
			" first_at, last_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
			" ON CONFLICT (device_id, network, day) DO UPDATE SET"
			" requests = device_sightings.requests + excluded.requests,"
			" first_at = CASE WHEN excluded.first_at < device_sightings.first_at"
			"   THEN excluded.first_at ELSE device_sightings.first_at END,"
			" last_at = CASE WHEN excluded.last_at > device_sightings.last_at"
			"   THEN excluded.last_at ELSE device_sightings.last_at END",
			&st);
		if (err != ERR_OK)
			return err;
		db_bind_text(st, 1, e->device);
		db_bind_text(st, 2, e->account);
		db_bind_text(st, 3, network);
		db_bind_int64(st, 4, e->day);
		db_bind_int64(st, 5, e->count);
		db_bind_int64(st, 6, e->first_at);
		db_bind_int64(st, 7, e->last_at);
		err = db_step_done(st);
		db_done(st);
		if (err == ERR_OK)
			err = after_tv_sighting(db, e, network);
		if (err != ERR_OK)
			return err;
	}
	return ERR_OK;
}

enum err hh_sightings_flush(struct db *db, int64_t *written)
{
	struct entry *rows = NULL;
	size_t n = 0;
	enum err e = ERR_OK;
	if (written)
		*written = 0;
	steal_all(&rows, &n);
	if (n == 0) {
		free(rows);
		return ERR_OK;
	}
	/* Oldest first, so the first TV seen is the one that proposes. */
	qsort(rows, n, sizeof *rows, by_first_at);
	size_t done = 0;
	while (done < n) {
		size_t chunk = n - done < ROWS_PER_TX ? n - done : ROWS_PER_TX;
		struct flush_ctx c = {rows + done, chunk};
		e = db_transaction(db, flush_tx, &c);
		if (e != ERR_OK)
			break;
		done += chunk;
	}
	if (e != ERR_OK) {
		/* Keep what was not written for the next flush. */
		for (size_t i = done; i < n; i++)
			add(rows[i].account, rows[i].device, &rows[i].net, rows[i].day, rows[i].count,
			    rows[i].first_at, rows[i].last_at);
		log_warn("households.sightings_flush_failed", "error=%s kept=%zu", err_name(e), n - done);
	}
	if (written)
		*written = (int64_t)done;
	/* A flush may have proposed a household or added household TVs. */
	if (done > 0)
		hh_cache_bump();
	free(rows);
	uint64_t lost = atomic_exchange(&dropped, 0);
	if (lost)
		log_warn("households.sightings_dropped", "count=%llu note=\"a shard was full\"",
			 (unsigned long long)lost);
	return e;
}

enum err hh_sightings_purge(struct db *db, int64_t now)
{
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db, "DELETE FROM device_sightings WHERE last_at < ?1", &st);
	if (e != ERR_OK)
		return e;
	db_bind_int64(st, 1, now - hh_settings()->retention_s);
	e = db_step_done(st);
	db_done(st);
	return e;
}

/* ---- the writer thread ---- */

static struct ticker writer = TICKER_INIT;
static int64_t last_purge; /* the writer's own; 0 again when it stops, so a new one purges first */

static void writer_tick(void *arg)
{
	(void)arg;
	struct db *db = db_thread();
	if (!db)
		return;
	hh_sightings_flush(db, NULL);
	int64_t now = clock_now();
	if (now - last_purge >= PURGE_EVERY_S) {
		int64_t gone = 0;
		enum err e = hh_sightings_purge(db, now);
		if (e == ERR_OK)
			e = hh_playback_purge(db, now, &gone);
		if (e == ERR_OK)
			last_purge = now;
		if (gone > 0)
			log_info("households.playback_purged", "rows=%lld", (long long)gone);
	}
}

enum err hh_sightings_start(void)
{
	/* Runs with sightings off too: it also purges playback history. */
	return ticker_start(&writer, hh_settings()->flush_ms, writer_tick, NULL);
}

void hh_sightings_stop(void)
{
	ticker_stop(&writer);
	last_purge = 0;
	struct db *db = db_thread();
	if (db)
		hh_sightings_flush(db, NULL);
}
