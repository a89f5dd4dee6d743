/*
 * cache.c - the account cache in front of the accounts table, for the
 * reads every authenticated member request may make (GET /v1/me).
 *
 * Each server thread keeps its own table of recently read accounts, so a
 * hit takes no lock and reads no shared memory but two atomic counters.
 * An entry is used only while all of these hold:
 *   - it is younger than --account-cache-ms (measured on clock_cache_ms(),
 *     which the test clock moves): changes made by other processes sharing
 *     the database are seen within that bound;
 *   - the change stamp of its account is what it was before the entry was
 *     read: every write this area makes to an account row calls
 *     acct_cache_changed(), which bumps the stamp once the transaction has
 *     committed (db_after_commit), so this process sees its own changes
 *     (PATCH /v1/me, password changes, profile changes, locking, erasure) on
 *     the very next read, on every thread;
 *   - the epoch is unchanged (acct_cache_changed without an id: anything).
 * The stamp is read before the row and bumped after the commit, so an entry
 * filled from a row older than a change always carries an older stamp than
 * the one the change left.  Stamps live in STAMP_SLOTS shared counters
 * chosen by a hash of the id: two accounts sharing one only cost each other
 * a re-read.
 *
 * An entry may also hold the account's JSON as the HTTP adapter rendered it
 * (acct_view_set_json), so a hit neither reads the database nor builds JSON.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "accounts/accounts_int.h"
#include "core/clock.h"

#define CACHE_SETS 2048	/* per thread; four ways each (see auth/tokens.c) */
#define CACHE_WAYS 4
#define STAMP_SLOTS 4096

struct cache_entry {
	uint64_t hash;		/* of the id; 0: empty */
	uint64_t stamp;		/* the account's stamp before the row was read */
	uint64_t epoch;
	int64_t loaded_ms;	/* clock_cache_ms() when read */
	uint64_t used;		/* the thread's lookup count when last used */
	struct acct_view *view;	/* malloc'd; kept (and reused) when the entry is refilled */
};

static atomic_uint_fast64_t stamps[STAMP_SLOTS];
static atomic_uint_fast64_t epoch = 1;
static _Atomic int64_t max_age_ms = 1000;

static _Thread_local struct cache_entry (*sets)[CACHE_WAYS];
static _Thread_local uint64_t lookups;
static pthread_key_t sets_key; /* frees a thread's table when the thread ends */
static pthread_once_t sets_key_once = PTHREAD_ONCE_INIT;

static void free_sets(void *p)
{
	struct cache_entry (*t)[CACHE_WAYS] = p;
	for (size_t i = 0; i < CACHE_SETS; i++)
		for (int w = 0; w < CACHE_WAYS; w++) {
			if (t[i][w].view)
				free(t[i][w].view->json);
			free(t[i][w].view);
		}
	free(t);
}

static void make_sets_key(void) { pthread_key_create(&sets_key, free_sets); }

static uint64_t hash_id(const char *id)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a: ids are random, any mix will do */
	for (const char *p = id; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	return h ? h : 1;
}

static atomic_uint_fast64_t *stamp_of(uint64_t h) { return &stamps[(h >> 20) % STAMP_SLOTS]; }

void acct_cache_configure(int64_t ms) { atomic_store(&max_age_ms, ms < 0 ? 0 : ms); }

/* The db_after_commit hook: the account `id` (NULL: any) changed. */
static void bump(const char *id)
{
	if (id)
		atomic_fetch_add(stamp_of(hash_id(id)), 1);
	else
		atomic_fetch_add(&epoch, 1);
}

void acct_cache_changed(struct db *db, const char *id) { db_after_commit(db, bump, id); }

static void view_release(struct acct_view *v)
{
	free(v->json);
	v->json = NULL;
	v->json_len = 0;
}

void acct_view_set_json(struct acct_view *v, char *json, size_t len)
{
	view_release(v);
	v->json = json;
	v->json_len = len;
}

enum err acct_view_get(struct db *db, const char *id, struct acct_view **out)
{
	*out = NULL;
	int64_t age = atomic_load(&max_age_ms);
	uint64_t h = hash_id(id);
	if (!sets) {
		pthread_once(&sets_key_once, make_sets_key);
		sets = calloc(CACHE_SETS, sizeof *sets);
		if (!sets)
			return ERR_NOMEM;
		pthread_setspecific(sets_key, sets);
	}
	/* With the cache off (age 0) nothing is fresh: every read is a reload. */
	struct cache_entry *set = sets[h % CACHE_SETS];
	/* Read before the row (see the top of the file). */
	uint64_t stamp = atomic_load(stamp_of(h));
	uint64_t ep = atomic_load(&epoch);
	int64_t now = clock_cache_ms();
	lookups++;
	struct cache_entry *slot = NULL;
	for (int w = 0; w < CACHE_WAYS; w++) {
		struct cache_entry *c = &set[w];
		if (c->hash != h || !c->view || strcmp(c->view->account.id, id) != 0)
			continue;
		if (c->stamp == stamp && c->epoch == ep && now - c->loaded_ms < age) {
			c->used = lookups;
			*out = c->view;
			return ERR_OK;
		}
		slot = c;
		break;
	}
	if (!slot) {
		/* An empty way, else the least recently used. */
		slot = &set[0];
		for (int w = 0; w < CACHE_WAYS; w++) {
			if (!set[w].hash) {
				slot = &set[w];
				break;
			}
			if (set[w].used < slot->used)
				slot = &set[w];
		}
	}
	slot->hash = 0;
	if (!slot->view && !(slot->view = calloc(1, sizeof *slot->view)))
		return ERR_NOMEM;
	view_release(slot->view);
	enum err e = acct_get(db, id, &slot->view->account);
	if (e != ERR_OK) {
		/* Not cached: an unknown id is not worth remembering. */
		memset(&slot->view->account, 0, sizeof slot->view->account);
		return e;
	}
	slot->hash = h;
	slot->stamp = stamp;
	slot->epoch = ep;
	slot->loaded_ms = now;
	slot->used = lookups;
	*out = slot->view;
	return ERR_OK;
}
