/*
 * tokens.c - Hearth's access tokens: PASETO v4.public with JSON claims
 * (iss, sub, aud, iat, exp, jti, sid, dev; times in RFC 3339 as the PASETO
 * spec asks) and the footer {"kid": "k4.pid..."}.
 *
 * Verification is on every authenticated request, so each thread keeps a
 * small cache of the tokens it verified lately, keyed by a keyed 128-bit
 * SipHash (libsodium's siphashx24) of the whole token under a random
 * per-process key: a PRF made for keying hash tables with untrusted input,
 * so nobody without the key can make a token that finds another's entry,
 * and about four times cheaper than the keyed BLAKE2b it replaced (which
 * was the largest cost of a cache hit).  A hit skips the Ed25519 check and the JSON parse; it is
 * only used while the token has not expired and the key set it was checked
 * against is still the loaded one (a rotation or retirement empties it).
 */
#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_int.h"
#include "core/clock.h"

/* Behind a proxy every server thread sees every active member's token, so
 * the cache holds thousands: CACHE_SETS sets of CACHE_WAYS entries (~200
 * bytes each: 1.6 MiB a thread), allocated on a thread's first verification.
 * Four ways per set keep colliding tokens from evicting each other on every
 * request: with two, 1000 tokens in rotation left a dozen sets holding three
 * or more, and their tokens missed (an Ed25519 check each) on every round,
 * about 400 verifications a second in the me benchmark. */
#define CACHE_SETS 2048
#define CACHE_WAYS 4
#define CACHE_HASHBYTES crypto_shorthash_siphashx24_BYTES

struct cache_entry {
	unsigned char hash[CACHE_HASHBYTES];
	uint64_t generation; /* 0: empty */
	uint64_t used;	     /* the thread's lookup count when last hit or filled */
	char aud[16];
	struct auth_claims claims;
};

static _Thread_local struct cache_entry (*cache)[CACHE_WAYS]; /* CACHE_SETS sets */
static _Thread_local uint64_t cache_clock;
static pthread_key_t cache_free_key; /* frees a thread's cache when it ends */
static unsigned char cache_key[crypto_shorthash_siphashx24_KEYBYTES];
static pthread_once_t cache_key_once = PTHREAD_ONCE_INIT;
static atomic_bool cache_on = true;

static void make_cache_key(void)
{
	randombytes_buf(cache_key, sizeof cache_key);
	pthread_key_create(&cache_free_key, free);
}

void auth_token_cache_enable(bool on) { atomic_store(&cache_on, on); }

enum err auth_token_issue(const char *aud, const char *sub, const char *sid, const char *dev,
			  int64_t ttl, char out[AUTH_TOKEN_MAX])
{
	char iat[32], exp[32], jti[IDS_MAX];
	char *claims = NULL, *token = NULL;
	enum err e = ERR_NOMEM;
	int64_t now = clock_now();
	out[0] = '\0';
	ids_new("tok_", jti, sizeof jti);
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "iss", auth_settings.issuer,
			      "sub", sub, "aud", aud, "iat", clock_format(now, iat, sizeof iat), "exp",
			      clock_format(now + ttl, exp, sizeof exp), "jti", jti, "sid", sid);
	if (!o)
		goto out;
	if (dev && dev[0])
		json_object_set_new(o, "dev", json_string(dev));
	claims = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!claims)
		goto out;
	e = auth_keyset_sign(claims, &token);
	if (e != ERR_OK)
		goto out;
	size_t len = strlen(token);
	if (len >= AUTH_TOKEN_MAX) {
		e = ERR_BUFFER_TOO_SMALL;
		goto out;
	}
	memcpy(out, token, len + 1);
out:
	json_decref(o);
	free(claims);
	free(token);
	return e;
}

/* Copy a claim that must be an id-sized string; false when it is not. */
static bool claim_str(json_t *o, const char *name, char *dst, size_t cap, bool required)
{
	json_t *v = json_object_get(o, name);
	if (!v) {
		dst[0] = '\0';
		return !required;
	}
	const char *s = json_string_value(v);
	if (!s)
		return false;
	size_t n = strlen(s);
	if (n == 0 || n >= cap || n != json_string_length(v))
		return false;
	memcpy(dst, s, n + 1);
	return true;
}

static bool claim_time(json_t *o, const char *name, int64_t *t, bool required)
{
	json_t *v = json_object_get(o, name);
	if (!v)
		return !required;
	const char *s = json_string_value(v);
	return s && clock_parse(s, t) == ERR_OK;
}

/* Check the claims of a token whose signature verified. */
static enum err check_claims(const unsigned char *text, size_t len, const char *aud,
			     struct auth_claims *c)
{
	json_t *o = json_loadb((const char *)text, len, JSON_REJECT_DUPLICATES, NULL);
	enum err e = ERR_INVALID_TOKEN;
	int64_t nbf = 0, now = clock_now();
	if (!json_is_object(o))
		goto out;
	const char *iss = json_string_value(json_object_get(o, "iss"));
	const char *a = json_string_value(json_object_get(o, "aud"));
	if (!iss || strcmp(iss, auth_settings.issuer) != 0 || !a || strcmp(a, aud) != 0)
		goto out;
	if (!claim_str(o, "sub", c->sub, sizeof c->sub, true) ||
	    !claim_str(o, "sid", c->sid, sizeof c->sid, true) ||
	    !claim_str(o, "jti", c->jti, sizeof c->jti, true) ||
	    !claim_str(o, "dev", c->dev, sizeof c->dev, false))
		goto out;
	if (!claim_time(o, "exp", &c->exp, true) || !claim_time(o, "iat", &c->iat, true))
		goto out;
	json_t *nbf_v = json_object_get(o, "nbf");
	if (nbf_v && !claim_time(o, "nbf", &nbf, true))
		goto out;
	if (now >= c->exp || (nbf_v && now < nbf))
		goto out;
	e = ERR_OK;
out:
	json_decref(o);
	if (e != ERR_OK)
		memset(c, 0, sizeof *c);
	return e;
}

enum err auth_token_verify(const char *token, size_t len, const char *aud, struct auth_claims *out)
{
	unsigned char h[CACHE_HASHBYTES];
	unsigned char *claims = NULL;
	size_t claims_len = 0;
	uint64_t generation = 0;
	memset(out, 0, sizeof *out);
	if (len == 0 || len >= AUTH_TOKEN_MAX)
		return ERR_INVALID_TOKEN;
	auth_keyset_check_reload(false);
	bool use_cache = atomic_load(&cache_on);
	struct cache_entry *slot = NULL;
	if (use_cache) {
		pthread_once(&cache_key_once, make_cache_key);
		crypto_shorthash_siphashx24(h, (const unsigned char *)token, len, cache_key);
		if (!cache && (cache = calloc(CACHE_SETS, sizeof *cache)) != NULL)
			pthread_setspecific(cache_free_key, cache);
	}
	if (use_cache && cache) {
		uint32_t index;
		memcpy(&index, h, sizeof index);
		struct cache_entry *set = cache[index % CACHE_SETS];
		uint64_t current = auth_keyset_generation();
		cache_clock++;
		for (int w = 0; w < CACHE_WAYS; w++) {
			struct cache_entry *c = &set[w];
			if (c->generation && c->generation == current && memcmp(c->hash, h, sizeof h) == 0 &&
			    strcmp(c->aud, aud) == 0) {
				if (clock_now() < c->claims.exp) {
					c->used = cache_clock;
					*out = c->claims;
					return ERR_OK;
				}
				c->generation = 0;
				return ERR_INVALID_TOKEN;
			}
		}
		/* Fill the empty or stale way, else the least recently used. */
		slot = &set[0];
		for (int w = 0; w < CACHE_WAYS; w++) {
			struct cache_entry *c = &set[w];
			if (!c->generation || c->generation != current) {
				slot = c;
				break;
			}
			if (c->used < slot->used)
				slot = c;
		}
	}
	enum err e = auth_keyset_verify(token, len, &claims, &claims_len, &generation);
	if (e == ERR_OK)
		e = check_claims(claims, claims_len, aud, out);
	free(claims);
	if (e == ERR_OK && slot && strlen(aud) < sizeof slot->aud) {
		memcpy(slot->hash, h, sizeof h);
		slot->generation = generation;
		memcpy(slot->aud, aud, strlen(aud) + 1);
		slot->claims = *out;
		slot->used = cache_clock;
	}
	return e == ERR_NOMEM ? e : (e == ERR_OK ? ERR_OK : ERR_INVALID_TOKEN);
}
