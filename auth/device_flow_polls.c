/*
 * device_flow_polls.c - when each pending device code was last polled, and
 * the interval it must keep, in this process's memory (RFC 8628 section
 * 3.5: a poll sooner than the interval after the previous one is answered
 * slow_down, and the interval grows by 5 seconds for it and every later poll).
 *
 * Why memory, not the code's row: this is the only state a pending poll
 * changes, and writing it made every poll a durable transaction (an fsync
 * each at the default --db-sync full) for a rule that only tells a client
 * to poll less often.  Losing it costs little: after a restart, or when the
 * device polls another hearthd behind the same load balancer, or when the
 * table is full and its entry was evicted, the next poll counts as the
 * first one, so at most one slow_down answer is forgone and the interval
 * starts again from the one given out.  A client that polls too fast is
 * still answered slow_down by the process it keeps polling.
 *
 * What stays true: the table is bounded (SHARDS x SETS x WAYS entries, set
 * associative, so a lookup touches one set of WAYS entries under its
 * shard's lock); an entry goes at its code's expiry (its slot is reused),
 * or, in a full set, the entry polled longest ago is evicted.  Keys are the
 * first 128 bits of the device code's keyed hash, never the code.
 */
#include <pthread.h>
#include <sodium.h>
#include <string.h>

#include "auth/auth_int.h"

#define SHARDS 16
#define SETS 256
#define WAYS 8
#define KEY_BYTES 16
#define SLOW_DOWN_STEP_S 5

struct poll_entry {
	unsigned char key[KEY_BYTES];
	int64_t last_poll_at;
	int64_t interval_s;
	int64_t expires_at;	/* 0: a free slot */
};

struct shard {
	pthread_mutex_t mu;
	struct poll_entry sets[SETS][WAYS];
};

#define SHARD_INIT {.mu = PTHREAD_MUTEX_INITIALIZER}
static struct shard shards[SHARDS] = {SHARD_INIT, SHARD_INIT, SHARD_INIT, SHARD_INIT,
				      SHARD_INIT, SHARD_INIT, SHARD_INIT, SHARD_INIT,
				      SHARD_INIT, SHARD_INIT, SHARD_INIT, SHARD_INIT,
				      SHARD_INIT, SHARD_INIT, SHARD_INIT, SHARD_INIT};

/* The key of a hex hash, and where it lives; false when `hash` is not hex. */
static bool locate(const char *hash, unsigned char key[KEY_BYTES], struct shard **sh,
		   struct poll_entry **set)
{
	size_t len = 0;
	if (strlen(hash) < KEY_BYTES * 2 ||
	    sodium_hex2bin(key, KEY_BYTES, hash, KEY_BYTES * 2, NULL, &len, NULL) != 0 || len != KEY_BYTES)
		return false;
	/* The hash is uniformly random: its bytes pick the shard and set. */
	*sh = &shards[key[0] % SHARDS];
	*set = (*sh)->sets[((unsigned)key[1] | (unsigned)key[2] << 8) % SETS];
	return true;
}

static struct poll_entry *find(struct poll_entry *set, const unsigned char key[KEY_BYTES], int64_t now)
{
	for (int w = 0; w < WAYS; w++)
		if (set[w].expires_at > now && memcmp(set[w].key, key, KEY_BYTES) == 0)
			return &set[w];
	return NULL;
}

enum auth_poll auth_device_polls_note(const char *hash, int64_t now, int64_t interval_s,
				      int64_t expires_at)
{
	unsigned char key[KEY_BYTES];
	struct shard *sh = NULL;
	struct poll_entry *set = NULL;
	if (!locate(hash, key, &sh, &set))
		return AUTH_POLL_PENDING;
	pthread_mutex_lock(&sh->mu);
	struct poll_entry *e = find(set, key, now);
	enum auth_poll r = AUTH_POLL_PENDING;
	if (e) {
		if (now - e->last_poll_at < e->interval_s) {
			r = AUTH_POLL_SLOW_DOWN;
			e->interval_s += SLOW_DOWN_STEP_S;
			/* Never beyond the code's whole life: a device that
			 * hammers gets a wait that outlives its code. */
			if (e->interval_s > auth_settings.device_code_ttl_s)
				e->interval_s = auth_settings.device_code_ttl_s;
		}
		e->last_poll_at = now;
	} else {
		/* A free or expired slot, else the one polled longest ago. */
		e = &set[0];
		for (int w = 0; w < WAYS; w++) {
			if (set[w].expires_at <= now) {
				e = &set[w];
				break;
			}
			if (set[w].last_poll_at < e->last_poll_at)
				e = &set[w];
		}
		memcpy(e->key, key, KEY_BYTES);
		e->last_poll_at = now;
		e->interval_s = interval_s;
		e->expires_at = expires_at;
	}
	pthread_mutex_unlock(&sh->mu);
	return r;
}

void auth_device_polls_forget(const char *hash)
{
	unsigned char key[KEY_BYTES];
	struct shard *sh = NULL;
	struct poll_entry *set = NULL;
	if (!locate(hash, key, &sh, &set))
		return;
	pthread_mutex_lock(&sh->mu);
	for (int w = 0; w < WAYS; w++)
		if (memcmp(set[w].key, key, KEY_BYTES) == 0)
			memset(&set[w], 0, sizeof set[w]);
	pthread_mutex_unlock(&sh->mu);
}

bool auth_device_polls_get(const char *hash, int64_t now, int64_t *interval_s, int64_t *last_poll_at)
{
	unsigned char key[KEY_BYTES];
	struct shard *sh = NULL;
	struct poll_entry *set = NULL;
	if (!locate(hash, key, &sh, &set))
		return false;
	pthread_mutex_lock(&sh->mu);
	struct poll_entry *e = find(set, key, now);
	if (e) {
		*interval_s = e->interval_s;
		*last_poll_at = e->last_poll_at;
	}
	pthread_mutex_unlock(&sh->mu);
	return e != NULL;
}
