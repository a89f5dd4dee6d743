/*
 * Crash durability: hearthd killed with SIGKILL at random moments under a
 * write load, restarted on the same files, and checked after every kill.
 *
 * Client threads sign up, attach cards, subscribe, upgrade, sign more
 * devices in, and start, heartbeat and stop streams, against one hearthd
 * at the default durability (--db-sync full).  A controller lets them run a
 * random while, then kills hearthd with SIGKILL, waits until every client
 * has seen its request end and parked, and opens the database the dead
 * process left to check:
 *
 *  - every request that got a 2xx (and every refused playback start, which
 *    is stored before it is answered) is in the database, by the ids its
 *    answer gave: nothing acknowledged is lost;
 *  - PRAGMA integrity_check is ok and foreign keys hold;
 *  - nothing is half done: each account has its owner profile, each
 *    subscription its paid first invoice, each paid invoice exactly one
 *    successful charge, each allowed playback decision its stream slot,
 *    and every kind of row has as many events as rows (events are written
 *    in the same transaction as the change);
 *  - no invoice is charged twice, no (subscription, period) is billed
 *    twice, no upgrade is charged twice;
 *  - invoice numbers are 1..N in each year, with no gap or duplicate;
 *  - no account has more live streams than its plan allows.
 *
 * Then it restarts hearthd (same database, key file and port), moves the
 * test clock 61 s (so Idempotency-Key claims the dead process left in
 * progress may be taken over, IN_PROGRESS_STALE_S) and lets the clients go
 * on.  A client whose request was in flight at the kill retries it with the
 * same Idempotency-Key, as a real client would: the retry must replay the
 * first answer, or find its effect already there (409 email_taken,
 * subscription_exists, an upgrade that is already applied), or act once if
 * the first attempt left nothing.  Its in-doubt outcome is counted.
 *
 * HEARTH_CRASH_SEED (printed when not set) fixes the kill moments and the
 * clients' choices; thread timing still varies from run to run.
 * HEARTH_CRASH_KILLS sets the number of kills (default 40, at least 20; 20
 * when hearthd runs under a wrapper such as valgrind).
 */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/procid.h"
#include "tests/api/harness.h"

#define PASSWORD "correct horse battery staple"
#define WORKERS 8
#define MAX_ACCOUNTS 160
#define MAX_DEVICES 6
#define HOT_ACCOUNTS 4
#define DEFAULT_KILLS 40
#define TOKEN_MAX 1200
#define ID_MAX 48

static struct api_server srv;
static uint64_t seed;

/* ---- a small random generator per thread (splitmix64 to seed, xorshift64*) ---- */

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

static unsigned below(uint64_t *s, unsigned n) { return (unsigned)(rnd(s) % n); }

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- a keep-alive client per thread, quiet about failures ---- */

struct client {
	CURL *curl;
	char base[64];
	char *buf;
	size_t len;
	bool replayed;
	long requests;
};

struct reply {
	long status;		/* 0: no answer (the server died or was down) */
	json_t *json;
	bool replayed;		/* Idempotent-Replayed: true */
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
	struct client *c = userp;
	size_t n = size * nmemb;
	char *p = realloc(c->buf, c->len + n + 1);
	if (!p)
		return 0;
	memcpy(p + c->len, data, n);
	c->buf = p;
	c->len += n;
	c->buf[c->len] = '\0';
	return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userp)
{
	struct client *c = userp;
	size_t n = size * nmemb;
	static const char name[] = "idempotent-replayed: true";
	if (n >= sizeof name - 1 && strncasecmp(data, name, sizeof name - 1) == 0)
		c->replayed = true;
	return n;
}

static void client_init(struct client *c)
{
	memset(c, 0, sizeof *c);
	c->curl = curl_easy_init();
	if (!c->curl)
		abort();
}

static void client_release(struct client *c)
{
	curl_easy_cleanup(c->curl);
	free(c->buf);
}

/* One request; `body` is stolen; `idem_key` and `reason` (X-Hearth-Reason,
 * for staff routes) may be NULL.  The reply's json is the caller's. */
static struct reply call_h(struct client *c, const char *method, const char *path, const char *token,
			   json_t *body, const char *idem_key, const char *reason)
{
	struct reply r = {0, NULL, false};
	char url[256], line[TOKEN_MAX + 32];
	struct curl_slist *h = NULL;
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	CURL *e = c->curl;
	curl_easy_reset(e);
	c->len = 0;
	c->replayed = false;
	snprintf(url, sizeof url, "%s%s", c->base, path);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, c);
	curl_easy_setopt(e, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	h = curl_slist_append(h, "Expect:");
	if (text) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, text);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(text));
		h = curl_slist_append(h, "Content-Type: application/json");
	}
	if (token) {
		snprintf(line, sizeof line, "Authorization: Bearer %s", token);
		h = curl_slist_append(h, line);
	}
	if (idem_key) {
		snprintf(line, sizeof line, "Idempotency-Key: %s", idem_key);
		h = curl_slist_append(h, line);
	}
	if (reason) {
		snprintf(line, sizeof line, "X-Hearth-Reason: %s", reason);
		h = curl_slist_append(h, line);
	}
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	c->requests++;
	if (curl_easy_perform(e) == CURLE_OK) {
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r.status);
		if (c->len)
			r.json = json_loadb(c->buf, c->len, 0, NULL);
		r.replayed = c->replayed;
	}
	curl_slist_free_all(h);
	free(text);
	return r;
}

/* The string at a dotted path ("session.device.id") of `j`, or NULL. */
static struct reply call(struct client *c, const char *method, const char *path, const char *token, json_t *body,
			 const char *idem_key)
{
	return call_h(c, method, path, token, body, idem_key, NULL);
}

static const char *jstr(json_t *j, const char *path)
{
	char key[64];
	const char *p = path;
	while (j && *p) {
		size_t n = strcspn(p, ".");
		if (n >= sizeof key)
			return NULL;
		memcpy(key, p, n);
		key[n] = '\0';
		j = json_object_get(j, key);
		p += n + (p[n] == '.');
	}
	return json_string_value(j);
}

static bool is_code(const struct reply *r, long status, const char *code)
{
	const char *c = jstr(r->json, "code");
	return r->status == status && c && strcmp(c, code) == 0;
}

static void copy_id(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

/* ---- what the clients know, and what they were told ---- */

enum stage {
	ST_NEW,		/* signing up */
	ST_LOST_TOKEN,	/* the account exists (a retry found it) but its sign-up answer was lost */
	ST_SIGNED_UP,	/* no card yet */
	ST_CARD,	/* a card, no subscription */
	ST_STANDARD,	/* subscribed to standard (2 streams) */
	ST_PREMIUM,	/* upgraded to premium (4 streams) */
};

enum op { OP_SIGNUP, OP_CARD, OP_SUBSCRIBE, OP_UPGRADE, OP_NOPS };
static const char *const op_names[OP_NOPS] = {"sign-up", "card", "subscribe", "upgrade"};

struct device {
	char id[ID_MAX];
	char token[TOKEN_MAX];
	char refresh[128];	/* "" once a refresh got no answer: sign in again instead */
	char type[16];
	char slot[ID_MAX];	/* the stream it plays, as far as it knows */
	bool busy;		/* a client is using it */
};

struct account {
	char email[96];
	char id[ID_MAX];
	char profile[ID_MAX];
	enum stage stage;
	bool busy;		/* a lifecycle request is running */
	bool in_doubt;		/* the last lifecycle request got no answer: retry it */
	enum op doubt_op;
	char doubt_key[40];	/* ... with this Idempotency-Key */
	int ndev;
	struct device dev[MAX_DEVICES];
};

enum ack_kind {
	ACK_ACCOUNT,	/* a: account id */
	ACK_SESSION,	/* a: session id, b: device id */
	ACK_CARD,	/* a: payment method id */
	ACK_SUBSCRIBE,	/* a: subscription id, b: its first invoice */
	ACK_UPGRADE,	/* a: subscription id, b: the upgrade invoice */
	ACK_START,	/* a: slot id, b: decision id */
	ACK_REFUSED,	/* a: decision id (409 stream_limit_reached) */
	ACK_HEARTBEAT,	/* a: slot id, n: expires_at it answered */
	ACK_STOP,	/* a: slot id */
	ACK_RUN,	/* a: billing run id (202 from POST /admin/v1/billing-runs) */
	ACK_NKINDS
};
static const char *const ack_names[ACK_NKINDS] = {
	"sign-ups", "sign-ins", "cards", "subscribes", "upgrades", "stream starts",
	"refused starts", "heartbeats", "stops", "staff billing runs"};

struct ack {
	enum ack_kind kind;
	char a[ID_MAX], b[ID_MAX];
	int64_t n;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t resume_cv = PTHREAD_COND_INITIALIZER, parked_cv = PTHREAD_COND_INITIALIZER;
static bool down, finished;
static int parked;
static struct account accounts[MAX_ACCOUNTS];
static int naccounts;
static struct ack *acks;
static size_t nacks, cap_acks;
static long ack_count[ACK_NKINDS];
/* In-doubt lifecycle requests and what their retry found. */
static long doubt[OP_NOPS], doubt_replayed[OP_NOPS], doubt_found[OP_NOPS], doubt_fresh[OP_NOPS];
static long doubt_other; /* sign-ins, starts, heartbeats, stops with no answer */
static long ended_heartbeats, refreshes;
static char unexpected[4096];
static long nunexpected;

static void add_ack(enum ack_kind kind, const char *a, const char *b, int64_t n)
{
	pthread_mutex_lock(&mu);
	if (nacks == cap_acks) {
		cap_acks = cap_acks ? cap_acks * 2 : 1024;
		acks = realloc(acks, cap_acks * sizeof *acks);
		if (!acks)
			abort();
	}
	struct ack *k = &acks[nacks++];
	k->kind = kind;
	copy_id(k->a, sizeof k->a, a);
	copy_id(k->b, sizeof k->b, b);
	k->n = n;
	ack_count[kind]++;
	pthread_mutex_unlock(&mu);
}

/* An answer no client should get: kept for the controller to fail on. */
static void note_unexpected(const char *what, const struct reply *r)
{
	char *text = r->json ? json_dumps(r->json, JSON_COMPACT) : NULL;
	pthread_mutex_lock(&mu);
	if (nunexpected++ < 5) {
		size_t used = strlen(unexpected);
		snprintf(unexpected + used, sizeof unexpected - used, "%s: HTTP %ld %.300s\n", what, r->status,
			 text ? text : "");
	}
	pthread_mutex_unlock(&mu);
	free(text);
}

/* No answer: fine while the controller is killing hearthd, a failure
 * otherwise (hearthd died on its own, or hung). */
static void note_no_answer(const char *what)
{
	pthread_mutex_lock(&mu);
	bool expected = down;
	pthread_mutex_unlock(&mu);
	if (!expected) {
		struct reply r = {0, NULL, false};
		note_unexpected(what, &r);
	}
}

/* ---- the lifecycle requests ---- */

struct worker {
	int index;
	uint64_t rng;
	struct client cl;
};

static void random_key(struct worker *w, char *buf, size_t cap)
{
	snprintf(buf, cap, "crash-%016" PRIx64 "%016" PRIx64, rnd(&w->rng), rnd(&w->rng));
}

/* Record a retry's outcome for an in-doubt request. */
static void count_retry(struct account *a, enum op op, bool replayed, bool found)
{
	pthread_mutex_lock(&mu);
	if (a->in_doubt) {
		if (replayed)
			doubt_replayed[op]++;
		else if (found)
			doubt_found[op]++;
		else
			doubt_fresh[op]++;
	}
	a->in_doubt = false;
	pthread_mutex_unlock(&mu);
}

static void mark_in_doubt(struct account *a, enum op op, const char *key)
{
	pthread_mutex_lock(&mu);
	if (!a->in_doubt)
		doubt[op]++;
	a->in_doubt = true;
	a->doubt_op = op;
	copy_id(a->doubt_key, sizeof a->doubt_key, key);
	pthread_mutex_unlock(&mu);
}

/* Fill `d` from a sign-up or sign-in answer. */
static void take_device(struct device *d, json_t *doc, const char *type)
{
	copy_id(d->id, sizeof d->id, jstr(doc, "session.device.id"));
	copy_id(d->token, sizeof d->token, jstr(doc, "access_token"));
	copy_id(d->refresh, sizeof d->refresh, jstr(doc, "refresh_token"));
	copy_id(d->type, sizeof d->type, type);
	d->slot[0] = '\0';
}

static void add_device(struct account *a, json_t *doc, const char *type)
{
	pthread_mutex_lock(&mu);
	if (a->ndev < MAX_DEVICES) {
		struct device *d = &a->dev[a->ndev];
		take_device(d, doc, type);
		d->busy = false;
		a->ndev++;
	}
	pthread_mutex_unlock(&mu);
}

static void set_stage(struct account *a, enum stage s)
{
	pthread_mutex_lock(&mu);
	a->stage = s;
	pthread_mutex_unlock(&mu);
}

static void do_signup(struct worker *w, struct account *a)
{
	char key[40];
	if (a->in_doubt)
		copy_id(key, sizeof key, a->doubt_key);
	else
		random_key(w, key, sizeof key);
	struct reply r = call(&w->cl, "POST", "/v1/accounts", NULL,
			      json_pack("{s:s, s:s, s:s}", "email", a->email, "password", PASSWORD, "country", "US"),
			      key);
	if (r.status == 201) {
		const char *id = jstr(r.json, "account.id");
		count_retry(a, OP_SIGNUP, r.replayed, false);
		copy_id(a->id, sizeof a->id, id);
		copy_id(a->profile, sizeof a->profile, jstr(r.json, "profile.id"));
		add_ack(ACK_ACCOUNT, id, NULL, 0);
		add_ack(ACK_SESSION, jstr(r.json, "session.id"), jstr(r.json, "session.device.id"), 0);
		add_device(a, r.json, "web");
		set_stage(a, ST_SIGNED_UP);
	} else if (a->in_doubt && is_code(&r, 409, "email_taken")) {
		/* The first attempt committed; its Idempotency-Key was not yet
		 * marked done when hearthd died. */
		count_retry(a, OP_SIGNUP, false, true);
		set_stage(a, ST_LOST_TOKEN);
	} else if (r.status == 0) {
		note_no_answer("sign-up");
		mark_in_doubt(a, OP_SIGNUP, key);
	} else {
		note_unexpected("sign-up", &r);
	}
	json_decref(r.json);
}

/* Sign a device in (`type` NULL picks one): a new device of the account,
 * or, with `into`, in place of a device whose sign-in is lost. */
static bool sign_in(struct worker *w, struct account *a, const char *type, struct device *into)
{
	/* No TV: a TV proposes a household, whose network lapses when the
	 * test clock jumps past the 31-day window; households are not what
	 * this test is about. */
	static const char *const types[] = {"phone", "tablet", "web", "console"};
	const char *t = type ? type : types[below(&w->rng, 4)];
	bool ok = false;
	struct reply r = call(&w->cl, "POST", "/v1/sessions", NULL,
			      json_pack("{s:s, s:s, s:{s:s, s:s}}", "email", a->email, "password", PASSWORD,
					"device", "name", "Crash test device", "type", t),
			      NULL);
	if (r.status == 201) {
		add_ack(ACK_SESSION, jstr(r.json, "session.id"), jstr(r.json, "session.device.id"), 0);
		if (into)
			take_device(into, r.json, t);
		else
			add_device(a, r.json, t);
		ok = true;
	} else if (r.status == 0) {
		note_no_answer("sign-in");
		pthread_mutex_lock(&mu);
		doubt_other++;
		pthread_mutex_unlock(&mu);
	} else {
		note_unexpected("sign-in", &r);
	}
	json_decref(r.json);
	return ok;
}

/* The device's access token expired (the test clock jumped): exchange its
 * refresh token, or sign in again when that is no longer possible.  A
 * refresh that got no answer may have rotated the token, so it is never
 * retried with the old one (docs/auth.md). */
static bool renew_device(struct worker *w, struct account *a, struct device *d)
{
	if (d->refresh[0]) {
		struct reply r = call(&w->cl, "POST", "/v1/tokens/refresh", NULL,
				      json_pack("{s:s}", "refresh_token", d->refresh), NULL);
		const char *token = jstr(r.json, "access_token"), *refresh = jstr(r.json, "refresh_token");
		bool done = r.status == 200 && token && refresh;
		if (done) {
			copy_id(d->token, sizeof d->token, token);
			copy_id(d->refresh, sizeof d->refresh, refresh);
			pthread_mutex_lock(&mu);
			refreshes++;
			pthread_mutex_unlock(&mu);
		} else if (r.status == 0) {
			note_no_answer("refresh");
			d->refresh[0] = '\0';
		} else if (!is_code(&r, 401, "refresh_token_invalid")) {
			note_unexpected("refresh", &r);
		}
		json_decref(r.json);
		if (done || r.status == 0)
			return done;
	}
	char type[sizeof d->type];
	copy_id(type, sizeof type, d->type); /* sign_in rewrites d */
	return sign_in(w, a, type, d);
}

/* A member request from device `d` (`body` stolen); when its access token
 * has expired, the device renews it and the request is made again (more
 * than once: a clock move may expire the new token too). */
static struct reply member_call(struct worker *w, struct account *a, struct device *d, const char *method,
				const char *path, json_t *body, const char *idem_key)
{
	struct reply r = call(&w->cl, method, path, d->token, json_incref(body), idem_key);
	for (int tries = 0; tries < 3 && is_code(&r, 401, "invalid_token"); tries++) {
		json_decref(r.json);
		r = (struct reply){0, NULL, false};
		if (!renew_device(w, a, d))
			break;
		r = call(&w->cl, method, path, d->token, json_incref(body), idem_key);
	}
	json_decref(body);
	return r;
}

/* The sign-up answer was lost: sign in and read the account back. */
static void do_recover(struct worker *w, struct account *a)
{
	if (a->ndev == 0 && !sign_in(w, a, "web", NULL))
		return;
	struct device *d = &a->dev[0];
	struct reply me = member_call(w, a, d, "GET", "/v1/me", NULL, NULL);
	struct reply prof = member_call(w, a, d, "GET", "/v1/profiles", NULL, NULL);
	json_t *data = json_object_get(prof.json, "data");
	const char *owner = NULL;
	for (size_t i = 0; i < json_array_size(data); i++)
		if (json_is_true(json_object_get(json_array_get(data, i), "is_owner")))
			owner = jstr(json_array_get(data, i), "id");
	if (me.status == 200 && prof.status == 200 && owner) {
		copy_id(a->id, sizeof a->id, jstr(me.json, "id"));
		copy_id(a->profile, sizeof a->profile, owner);
		set_stage(a, ST_SIGNED_UP);
	} else if (me.status == 0 || prof.status == 0) {
		note_no_answer("recovery");
	} else {
		note_unexpected("recovery", me.status != 200 ? &me : &prof);
	}
	json_decref(me.json);
	json_decref(prof.json);
}

static void do_card(struct worker *w, struct account *a)
{
	char key[40];
	if (a->in_doubt)
		copy_id(key, sizeof key, a->doubt_key);
	else
		random_key(w, key, sizeof key);
	struct reply r = member_call(w, a, &a->dev[0], "POST", "/v1/payment-methods",
				     json_pack("{s:s}", "token", "pm_card_visa"), key);
	if (r.status == 201) {
		count_retry(a, OP_CARD, r.replayed, false);
		add_ack(ACK_CARD, jstr(r.json, "id"), NULL, 0);
		set_stage(a, ST_CARD);
	} else if (r.status == 0) {
		note_no_answer("card");
		mark_in_doubt(a, OP_CARD, key);
	} else {
		note_unexpected("card", &r);
	}
	json_decref(r.json);
}

static void do_subscribe(struct worker *w, struct account *a)
{
	char key[40];
	if (a->in_doubt)
		copy_id(key, sizeof key, a->doubt_key);
	else
		random_key(w, key, sizeof key);
	struct reply r = member_call(w, a, &a->dev[0], "POST", "/v1/subscription",
				     json_pack("{s:s}", "plan", "standard"), key);
	if (r.status == 201) {
		count_retry(a, OP_SUBSCRIBE, r.replayed, false);
		add_ack(ACK_SUBSCRIBE, jstr(r.json, "id"), jstr(r.json, "latest_invoice.id"), 0);
		set_stage(a, ST_STANDARD);
	} else if (a->in_doubt && is_code(&r, 409, "subscription_exists")) {
		count_retry(a, OP_SUBSCRIBE, false, true);
		set_stage(a, ST_STANDARD);
	} else if (r.status == 0) {
		note_no_answer("subscribe");
		mark_in_doubt(a, OP_SUBSCRIBE, key);
	} else {
		note_unexpected("subscribe", &r);
	}
	json_decref(r.json);
}

static void do_upgrade(struct worker *w, struct account *a)
{
	char key[40];
	if (a->in_doubt)
		copy_id(key, sizeof key, a->doubt_key);
	else
		random_key(w, key, sizeof key);
	struct reply r = member_call(w, a, &a->dev[0], "PATCH", "/v1/subscription",
				     json_pack("{s:s}", "plan", "premium"), key);
	const char *change = jstr(r.json, "change");
	if (r.status == 200 && change && strcmp(change, "upgraded") == 0) {
		count_retry(a, OP_UPGRADE, r.replayed, false);
		add_ack(ACK_UPGRADE, jstr(r.json, "id"), jstr(r.json, "latest_invoice.id"), 0);
		set_stage(a, ST_PREMIUM);
	} else if (a->in_doubt && r.status == 200 && change && strcmp(change, "none") == 0) {
		/* Already premium: the first attempt committed. */
		count_retry(a, OP_UPGRADE, false, true);
		set_stage(a, ST_PREMIUM);
	} else if (r.status == 0) {
		note_no_answer("upgrade");
		mark_in_doubt(a, OP_UPGRADE, key);
	} else {
		note_unexpected("upgrade", &r);
	}
	json_decref(r.json);
}

static void do_lifecycle(struct worker *w, struct account *a)
{
	if (a->in_doubt) {
		switch (a->doubt_op) {
		case OP_SIGNUP: do_signup(w, a); return;
		case OP_CARD: do_card(w, a); return;
		case OP_SUBSCRIBE: do_subscribe(w, a); return;
		case OP_UPGRADE: do_upgrade(w, a); return;
		case OP_NOPS: break;
		}
	}
	switch (a->stage) {
	case ST_NEW: do_signup(w, a); break;
	case ST_LOST_TOKEN: do_recover(w, a); break;
	case ST_SIGNED_UP: do_card(w, a); break;
	case ST_CARD: do_subscribe(w, a); break;
	case ST_STANDARD:
		if (a->ndev < MAX_DEVICES && below(&w->rng, 3) > 0)
			sign_in(w, a, NULL, NULL);
		else
			do_upgrade(w, a);
		break;
	case ST_PREMIUM:
		sign_in(w, a, NULL, NULL);
		break;
	}
}

/* ---- playback ---- */

static void do_playback(struct worker *w, struct account *a, struct device *d)
{
	char path[128], slot[ID_MAX];
	unsigned pick = below(&w->rng, 100);
	/* The device may sign in again inside member_call (its old sign-in
	 * lost), which forgets its stream: keep the id. */
	copy_id(slot, sizeof slot, d->slot);
	if (d->slot[0] && pick < 40) {
		snprintf(path, sizeof path, "/v1/playback/sessions/%s", slot);
		struct reply r = member_call(w, a, d, "PUT", path, NULL, NULL);
		int64_t expires = 0;
		const char *e = jstr(r.json, "expires_at");
		if (r.status == 200 && e && clock_parse(e, &expires) == ERR_OK) {
			add_ack(ACK_HEARTBEAT, slot, NULL, expires);
		} else if (is_code(&r, 410, "stream_ended")) {
			/* Replaced by a start whose answer was lost, or timed out
			 * while the clock moved over restarts. */
			pthread_mutex_lock(&mu);
			ended_heartbeats++;
			pthread_mutex_unlock(&mu);
			d->slot[0] = '\0';
		} else if (r.status == 0) {
			note_no_answer("heartbeat");
			pthread_mutex_lock(&mu);
			doubt_other++;
			pthread_mutex_unlock(&mu);
		} else {
			note_unexpected("heartbeat", &r);
		}
		json_decref(r.json);
		return;
	}
	if (d->slot[0] && pick < 55) {
		snprintf(path, sizeof path, "/v1/playback/sessions/%s", slot);
		struct reply r = member_call(w, a, d, "DELETE", path, NULL, NULL);
		if (r.status == 204) {
			add_ack(ACK_STOP, slot, NULL, 0);
			d->slot[0] = '\0';
		} else if (r.status == 0) {
			note_no_answer("stop");
			pthread_mutex_lock(&mu);
			doubt_other++;
			pthread_mutex_unlock(&mu);
		} else {
			note_unexpected("stop", &r);
		}
		json_decref(r.json);
		return;
	}
	struct reply r = member_call(w, a, d, "POST", "/v1/playback/sessions",
				     json_pack("{s:s}", "profile_id", a->profile), NULL);
	if (r.status == 201) {
		const char *started = jstr(r.json, "stream.id");
		add_ack(ACK_START, started, jstr(r.json, "decision_id"), 0);
		copy_id(d->slot, sizeof d->slot, started);
	} else if (is_code(&r, 409, "stream_limit_reached")) {
		add_ack(ACK_REFUSED, jstr(r.json, "decision_id"), NULL, 0);
		d->slot[0] = '\0';
	} else if (r.status == 0) {
		note_no_answer("playback start");
		pthread_mutex_lock(&mu);
		doubt_other++;
		pthread_mutex_unlock(&mu);
		d->slot[0] = '\0';
	} else {
		note_unexpected("playback start", &r);
	}
	json_decref(r.json);
}

/* ---- the client threads ---- */

/* Wait while hearthd is down; false once the run is over.  Called with mu held. */
static bool wait_while_down(struct worker *w)
{
	while (down && !finished) {
		parked++;
		pthread_cond_signal(&parked_cv);
		pthread_cond_wait(&resume_cv, &mu);
		parked--;
		copy_id(w->cl.base, sizeof w->cl.base, srv.base);
	}
	return !finished;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	pthread_mutex_lock(&mu);
	copy_id(w->cl.base, sizeof w->cl.base, srv.base);
	while (wait_while_down(w)) {
		struct account *a = NULL;
		struct device *d = NULL;
		bool lifecycle = false;
		if (naccounts < MAX_ACCOUNTS && (naccounts < WORKERS || below(&w->rng, 100) < 5)) {
			a = &accounts[naccounts++];
			snprintf(a->email, sizeof a->email, "crash-%" PRIx64 "-%d-%d@example.com", seed, w->index,
				 naccounts);
			a->stage = ST_NEW;
			lifecycle = true;
		} else if (naccounts > 0) {
			/* Half the time one of the first few accounts, so that
			 * clients often play on the same account at once. */
			unsigned hot = naccounts < HOT_ACCOUNTS ? (unsigned)naccounts : HOT_ACCOUNTS;
			a = &accounts[below(&w->rng, below(&w->rng, 2) ? hot : (unsigned)naccounts)];
			unsigned r = below(&w->rng, 100);
			bool wants = a->in_doubt || a->stage < ST_STANDARD || (a->stage == ST_STANDARD && r < 25) ||
				     (a->stage == ST_PREMIUM && a->ndev < MAX_DEVICES && r < 8);
			/* A lifecycle request uses the first device's token, so it
			 * holds that device too. */
			if (wants && !a->busy && (a->ndev == 0 || !a->dev[0].busy))
				lifecycle = true;
			else if (a->stage >= ST_STANDARD && a->ndev > 0 && !a->in_doubt)
				d = &a->dev[below(&w->rng, (unsigned)a->ndev)];
			if (d && d->busy)
				d = NULL;
		}
		struct device *held = NULL;
		if (lifecycle) {
			a->busy = true;
			if (a->ndev > 0)
				held = &a->dev[0];
		} else if (d) {
			held = d;
		} else {
			a = NULL;
		}
		if (held)
			held->busy = true;
		pthread_mutex_unlock(&mu);
		if (a && lifecycle)
			do_lifecycle(w, a);
		else if (a && d)
			do_playback(w, a, d);
		else
			sleep_ms(1);
		pthread_mutex_lock(&mu);
		if (a && lifecycle)
			a->busy = false;
		if (held)
			held->busy = false;
	}
	pthread_mutex_unlock(&mu);
	return NULL;
}

/* ---- the operator: renewals through the test clock, and staff billing runs ----
 *
 * In some rounds the controller moves the test clock JUMP_S ahead (hearthd
 * runs the billing run up to the new time before it answers the move, in
 * batches of --billing-batch subscriptions, so a kill often lands inside
 * it), and a staff member queues a billing run at the same moment (the
 * billing thread runs it, racing the clock's run).  A move answered 200
 * means every renewal due by then committed. */

#define JUMP_S (16 * 86400)	/* under the shortest period: a new subscription is never due at once */
#define STAFF_EMAIL "crash-admin@staff.test"

static int64_t clock_acked;		/* the latest clock move answered 200 (under mu) */
static long jumps, jumps_acked, runs_in_doubt, tokens_expired_by_move;

struct operator {
	pthread_t thread;
	bool started;
	bool staff_run;		/* queue a staff run (else move the clock) */
	bool racing;		/* a staff run racing a clock move */
	int64_t target;		/* the clock move's time */
	unsigned delay_ms;	/* a staff run waits this long first */
	struct client cl;
};

static void *operator_main(void *arg)
{
	struct operator *o = arg;
	if (!o->staff_run) {
		char to[32];
		clock_format(o->target, to, sizeof to);
		struct reply r = call(&o->cl, "POST", "/test/v1/clock", NULL, json_pack("{s:s}", "to", to), NULL);
		if (r.status == 200) {
			pthread_mutex_lock(&mu);
			if (o->target > clock_acked)
				clock_acked = o->target;
			jumps_acked++;
			pthread_mutex_unlock(&mu);
		} else if (r.status == 0) {
			note_no_answer("clock move");
		} else {
			note_unexpected("clock move", &r);
		}
		json_decref(r.json);
		return NULL;
	}
	sleep_ms(o->delay_ms);
	struct reply r;
	/* A staff token lives 8 hours of the test clock: when the racing
	 * clock move lands between the sign-in and the run, the token has
	 * expired (401 invalid_token, as it should).  The member of staff
	 * then signs in again, once, at the new time. */
	for (int attempt = 0;; attempt++) {
		r = call(&o->cl, "POST", "/admin/v1/sessions", NULL,
			 json_pack("{s:s, s:s}", "email", STAFF_EMAIL, "password", PASSWORD), NULL);
		char token[TOKEN_MAX];
		copy_id(token, sizeof token, jstr(r.json, "access_token"));
		if (r.status != 201) {
			if (r.status)
				note_unexpected("staff sign-in", &r);
			else
				note_no_answer("staff sign-in");
			json_decref(r.json);
			return NULL;
		}
		json_decref(r.json);
		r = call_h(&o->cl, "POST", "/admin/v1/billing-runs", token, json_object(), NULL, "crash test");
		const char *code = jstr(r.json, "code");
		if (attempt == 0 && o->racing && r.status == 401 && code && strcmp(code, "invalid_token") == 0) {
			pthread_mutex_lock(&mu);
			tokens_expired_by_move++;
			pthread_mutex_unlock(&mu);
			json_decref(r.json);
			continue;
		}
		break;
	}
	if (r.status == 202) {
		add_ack(ACK_RUN, jstr(r.json, "id"), NULL, 0);
	} else if (r.status == 0) {
		note_no_answer("staff billing run");
		pthread_mutex_lock(&mu);
		runs_in_doubt++;
		pthread_mutex_unlock(&mu);
	} else {
		note_unexpected("staff billing run", &r);
	}
	json_decref(r.json);
	return NULL;
}

static void operator_start(struct operator *o, bool staff_run, bool racing, int64_t target, unsigned delay_ms)
{
	o->staff_run = staff_run;
	o->racing = racing;
	o->target = target;
	o->delay_ms = delay_ms;
	copy_id(o->cl.base, sizeof o->cl.base, srv.base);
	ck_assert_int_eq(pthread_create(&o->thread, NULL, operator_main, o), 0);
	o->started = true;
}

static void operator_join(struct operator *o)
{
	if (o->started)
		pthread_join(o->thread, NULL);
	o->started = false;
}

/* ---- the checks on the dead process's database ---- */

static int64_t q_int(struct db *db, const char *sql, const char *a, const char *b, int64_t n)
{
	struct db_stmt *st = NULL;
	int64_t v = -1;
	ck_assert_msg(db_prepare(db, sql, &st) == ERR_OK, "bad SQL in the crash test: %s", sql);
	if (a)
		db_bind_text(st, 1, a);
	if (b)
		db_bind_text(st, 2, b);
	if (n)
		db_bind_int64(st, 3, n);
	if (db_step_row(st) == ERR_OK)
		v = db_column_int64(st, 0);
	db_done(st);
	return v;
}

/* Every query must count 0 rows (the name says what a row would mean). */
static const struct {
	const char *what;
	const char *sql;
} never[] = {
	{"an account without exactly one owner profile",
	 "SELECT COUNT(*) FROM accounts a WHERE (SELECT COUNT(*) FROM profiles p"
	 " WHERE p.account_id = a.id AND p.is_owner = 1) <> 1"},
	{"an account without its account.created event",
	 "SELECT COUNT(*) FROM accounts WHERE id NOT IN (SELECT subject FROM events WHERE type = 'account.created')"},
	{"an account.created event without its account",
	 "SELECT COUNT(*) FROM events e WHERE e.type = 'account.created'"
	 " AND NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = e.subject)"},
	{"a session without its device", "SELECT COUNT(*) FROM sessions s WHERE s.device_id IS NULL"
					 " OR NOT EXISTS (SELECT 1 FROM devices d WHERE d.id = s.device_id)"},
	{"a payment method without its event",
	 "SELECT COUNT(*) FROM payment_methods WHERE id NOT IN"
	 " (SELECT subject FROM events WHERE type = 'payment_method.attached')"},
	{"a subscription without a paid first invoice",
	 "SELECT COUNT(*) FROM subscriptions s WHERE NOT EXISTS (SELECT 1 FROM invoices i"
	 " WHERE i.subscription_id = s.id AND i.billing_reason = 'subscription_create' AND i.status = 'paid')"},
	{"a subscription without its subscription.created event",
	 "SELECT COUNT(*) FROM subscriptions WHERE id NOT IN"
	 " (SELECT subject FROM events WHERE type = 'subscription.created')"},
	{"a subscription.created event without its subscription",
	 "SELECT COUNT(*) FROM events e WHERE e.type = 'subscription.created'"
	 " AND NOT EXISTS (SELECT 1 FROM subscriptions s WHERE s.id = e.subject)"},
	{"an account with two live subscriptions",
	 "SELECT COUNT(*) FROM (SELECT account_id FROM subscriptions WHERE state <> 'ended'"
	 " GROUP BY account_id HAVING COUNT(*) > 1)"},
	{"an invoice charged twice (two successful attempts)",
	 "SELECT COUNT(*) FROM (SELECT invoice_id FROM payment_attempts WHERE status = 'succeeded'"
	 " GROUP BY invoice_id HAVING COUNT(*) > 1)"},
	{"a (subscription, period) billed twice",
	 "SELECT COUNT(*) FROM (SELECT subscription_id, period_start FROM invoices"
	 " WHERE billing_reason IN ('subscription_create', 'subscription_cycle')"
	 " GROUP BY subscription_id, period_start HAVING COUNT(*) > 1)"},
	{"a subscription upgraded (charged) twice",
	 "SELECT COUNT(*) FROM (SELECT subscription_id FROM invoices WHERE billing_reason = 'subscription_update'"
	 " AND status = 'paid' GROUP BY subscription_id HAVING COUNT(*) > 1)"},
	{"a paid invoice with a total but no successful charge",
	 "SELECT COUNT(*) FROM invoices i WHERE i.status = 'paid' AND i.total > 0 AND (SELECT COUNT(*)"
	 " FROM payment_attempts p WHERE p.invoice_id = i.id AND p.status = 'succeeded') <> 1"},
	{"a successful charge on an invoice that is not paid",
	 "SELECT COUNT(*) FROM payment_attempts p JOIN invoices i ON i.id = p.invoice_id"
	 " WHERE p.status = 'succeeded' AND i.status <> 'paid'"},
	{"an invoice that is not open, paid or void, or has no number",
	 "SELECT COUNT(*) FROM invoices WHERE status NOT IN ('open', 'paid', 'void') OR number IS NULL"},
	{"a void invoice (every card here is accepted)", "SELECT COUNT(*) FROM invoices WHERE status = 'void'"},
	{"an invoice without lines", "SELECT COUNT(*) FROM invoices i WHERE NOT EXISTS"
				     " (SELECT 1 FROM invoice_lines l WHERE l.invoice_id = i.id)"},
	{"a paid invoice without its invoice.paid event",
	 "SELECT COUNT(*) FROM invoices WHERE status = 'paid' AND id NOT IN"
	 " (SELECT subject FROM events WHERE type = 'invoice.paid')"},
	{"a successful charge without its payment.succeeded event",
	 "SELECT COUNT(*) FROM payment_attempts WHERE status = 'succeeded' AND id NOT IN"
	 " (SELECT subject FROM events WHERE type = 'payment.succeeded')"},
	{"a premium subscription without a paid upgrade invoice (or the reverse)",
	 "SELECT COUNT(*) FROM subscriptions s WHERE (s.plan_code = 'premium') <> EXISTS (SELECT 1"
	 " FROM invoices i WHERE i.subscription_id = s.id AND i.billing_reason = 'subscription_update'"
	 " AND i.status = 'paid')"},
	{"a subscription whose renewed periods are not each billed exactly once",
	 "SELECT COUNT(*) FROM subscriptions s WHERE s.period_index <> (SELECT COUNT(*) FROM invoices i"
	 " WHERE i.subscription_id = s.id AND i.billing_reason = 'subscription_cycle' AND i.status = 'paid')"},
	{"a subscription whose current period has no paid plan invoice",
	 "SELECT COUNT(*) FROM subscriptions s WHERE NOT EXISTS (SELECT 1 FROM invoices i"
	 " WHERE i.subscription_id = s.id AND i.period_start = s.current_period_start AND i.status = 'paid'"
	 " AND i.billing_reason IN ('subscription_create', 'subscription_cycle'))"},
	{"a renewal without its subscription.renewed event (or the reverse)",
	 "WITH renewed AS (SELECT subject, COUNT(*) AS n FROM events WHERE type = 'subscription.renewed'"
	 " GROUP BY subject)"
	 " SELECT COUNT(*) FROM subscriptions s LEFT JOIN renewed r ON r.subject = s.id"
	 " WHERE COALESCE(r.n, 0) <> (SELECT COUNT(*) FROM invoices i"
	 " WHERE i.subscription_id = s.id AND i.billing_reason = 'subscription_cycle')"},
	{"a subscription still due at a clock move hearthd acknowledged",
	 /* ?3: the latest move answered 200 (NULL before any) */
	 "SELECT COUNT(*) FROM subscriptions WHERE state <> 'ended' AND current_period_end <= ?3"},
	{"a subscription not active (every card here is accepted)",
	 "SELECT COUNT(*) FROM subscriptions WHERE state <> 'active'"},
	{"an allowed playback decision without its stream slot",
	 "SELECT COUNT(*) FROM playback_decisions d WHERE d.outcome = 'allowed'"
	 " AND NOT EXISTS (SELECT 1 FROM stream_slots s WHERE s.id = d.slot_id AND s.decision_id = d.id)"},
	{"a stream slot without its allowed decision",
	 "SELECT COUNT(*) FROM stream_slots s WHERE NOT EXISTS (SELECT 1 FROM playback_decisions d"
	 " WHERE d.id = s.decision_id AND d.outcome = 'allowed' AND d.slot_id = s.id)"},
	{"a stream slot without its stream.started event",
	 "SELECT COUNT(*) FROM stream_slots WHERE id NOT IN (SELECT subject FROM events WHERE type = 'stream.started')"},
	{"a device playing two streams at once",
	 "SELECT COUNT(*) FROM (SELECT device_id FROM stream_slots WHERE ended_at IS NULL"
	 " GROUP BY device_id HAVING COUNT(*) > 1)"},
	{"an account with more live streams than its plan allows",
	 "SELECT COUNT(*) FROM (SELECT s.account_id, COUNT(*) AS live FROM stream_slots s"
	 " WHERE s.ended_at IS NULL GROUP BY s.account_id) l"
	 " JOIN subscriptions sub ON sub.account_id = l.account_id AND sub.state <> 'ended'"
	 " JOIN plans p ON p.catalog_version = sub.catalog_version AND p.code = sub.plan_code"
	 " WHERE l.live > p.max_streams"},
	{"live streams on an account with no live subscription",
	 "SELECT COUNT(*) FROM stream_slots s WHERE s.ended_at IS NULL AND NOT EXISTS"
	 " (SELECT 1 FROM subscriptions sub WHERE sub.account_id = s.account_id AND sub.state <> 'ended')"},
};

/* Invoice numbers HEA-YYYY-NNNNNN are exactly 1..N in each year, and N is
 * the year's counter. */
static void check_invoice_numbers(struct db *db, int kill_no)
{
	struct db_stmt *st = NULL;
	ck_assert(db_prepare(db,
			     "SELECT CAST(substr(number, 5, 4) AS INTEGER) AS y, CAST(substr(number, 10) AS INTEGER)"
			     " FROM invoices WHERE number IS NOT NULL ORDER BY y, 2",
			     &st) == ERR_OK);
	int64_t year = -1, expect = 1;
	bool is_row = false;
	while (db_step(st, &is_row) == ERR_OK && is_row) {
		int64_t y = db_column_int64(st, 0), n = db_column_int64(st, 1);
		if (y != year) {
			if (year >= 0)
				ck_assert_int_eq(q_int(db, "SELECT last_value FROM invoice_counters WHERE year = ?3",
						       NULL, NULL, year),
						 expect - 1);
			year = y;
			expect = 1;
		}
		ck_assert_msg(n == expect,
			      "kill %d: invoice numbers of %" PRId64 " are not 1..N: expected %" PRId64
			      ", found %" PRId64 " (seed %" PRIu64 ")",
			      kill_no, y, expect, n, seed);
		expect++;
	}
	db_done(st);
	if (year >= 0)
		ck_assert_int_eq(q_int(db, "SELECT last_value FROM invoice_counters WHERE year = ?3", NULL, NULL, year),
				 expect - 1);
}

static const char *const ack_sql[ACK_NKINDS] = {
	[ACK_ACCOUNT] = "SELECT COUNT(*) FROM accounts WHERE id = ?1 AND ?2 IS NULL",
	[ACK_SESSION] = "SELECT COUNT(*) FROM sessions WHERE id = ?1 AND device_id = ?2",
	[ACK_CARD] = "SELECT COUNT(*) FROM payment_methods WHERE id = ?1 AND ?2 IS NULL",
	[ACK_SUBSCRIBE] = "SELECT COUNT(*) FROM subscriptions s JOIN invoices i ON i.subscription_id = s.id"
			  " WHERE s.id = ?1 AND i.id = ?2 AND i.status = 'paid'"
			  " AND i.billing_reason = 'subscription_create'",
	[ACK_UPGRADE] = "SELECT COUNT(*) FROM subscriptions s JOIN invoices i ON i.subscription_id = s.id"
			" WHERE s.id = ?1 AND i.id = ?2 AND i.status = 'paid' AND s.plan_code = 'premium'"
			" AND i.billing_reason = 'subscription_update'",
	[ACK_START] = "SELECT COUNT(*) FROM stream_slots s JOIN playback_decisions d ON d.id = s.decision_id"
		      " WHERE s.id = ?1 AND d.id = ?2 AND d.outcome = 'allowed'",
	[ACK_REFUSED] = "SELECT COUNT(*) FROM playback_decisions WHERE id = ?1 AND ?2 IS NULL"
			" AND outcome = 'stream_limit_reached'",
	[ACK_HEARTBEAT] = "SELECT COUNT(*) FROM stream_slots WHERE id = ?1 AND ?2 IS NULL AND expires_at >= ?3",
	[ACK_STOP] = "SELECT COUNT(*) FROM stream_slots WHERE id = ?1 AND ?2 IS NULL AND ended_at IS NOT NULL",
	[ACK_RUN] = "SELECT COUNT(*) FROM billing_runs WHERE id = ?1 AND ?2 IS NULL",
};

/* Everything, on the files the killed process left (no server running). */
static void verify(int kill_no)
{
	struct db *db = api_db(&srv);
	struct db_stmt *st = NULL;
	ck_assert(db_prepare(db, "PRAGMA integrity_check", &st) == ERR_OK);
	ck_assert(db_step_row(st) == ERR_OK);
	ck_assert_msg(strcmp(db_column_text(st, 0), "ok") == 0, "kill %d: integrity_check: %s (seed %" PRIu64 ")",
		      kill_no, db_column_text(st, 0), seed);
	db_done(st);
	ck_assert(db_prepare(db, "PRAGMA foreign_key_check", &st) == ERR_OK);
	ck_assert_msg(db_step_row(st) == ERR_NOT_FOUND, "kill %d: foreign_key_check found a row (seed %" PRIu64 ")",
		      kill_no, seed);
	db_done(st);

	pthread_mutex_lock(&mu);
	int64_t acked = clock_acked;
	pthread_mutex_unlock(&mu);
	for (size_t i = 0; i < sizeof never / sizeof never[0]; i++) {
		int64_t n = q_int(db, never[i].sql, NULL, NULL, acked);
		ck_assert_msg(n == 0, "kill %d: %s: %" PRId64 " (seed %" PRIu64 ")", kill_no, never[i].what, n, seed);
	}
	check_invoice_numbers(db, kill_no);

	/* Nothing acknowledged is lost: every id an answer gave is there. */
	pthread_mutex_lock(&mu);
	size_t n = nacks;
	pthread_mutex_unlock(&mu);
	for (size_t i = 0; i < n; i++) {
		const struct ack *k = &acks[i];
		int64_t found = q_int(db, ack_sql[k->kind], k->a, k->b[0] ? k->b : NULL, k->n);
		ck_assert_msg(found == 1, "kill %d: an acknowledged %s is missing or changed: %s %s (seed %" PRIu64 ")",
			      kill_no, ack_names[k->kind], k->a, k->b, seed);
	}
	db_close(db);
}

/* ---- the test ---- */

static void fail_on_unexpected(int kill_no)
{
	pthread_mutex_lock(&mu);
	long n = nunexpected;
	pthread_mutex_unlock(&mu);
	ck_assert_msg(n == 0, "kill %d: %ld unexpected answers (seed %" PRIu64 "); first ones:\n%s", kill_no, n, seed,
		      unexpected);
}

/* A billing run staff queued (202) is executed even when hearthd died
 * before its billing thread took it: after a restart none stays queued.
 * Waits (for the new process's billing thread) up to 30 s, 300 s under a
 * wrapper such as valgrind. */
static void expect_no_queued_run(int kill_no)
{
	int64_t queued = -1;
	int tries = api_wrapped() ? 3000 : 300; /* valgrind: 10 times longer */
	for (int i = 0; i < tries; i++) {
		queued = api_db_int(&srv, "SELECT COUNT(*) FROM billing_runs WHERE status = 'queued'", NULL);
		if (queued == 0)
			return;
		sleep_ms(100);
	}
	ck_abort_msg("kill %d: %" PRId64 " acknowledged billing runs still queued %d s after the restart (seed %" PRIu64
		     ")",
		     kill_no, queued, tries / 10, seed);
}

/* hearthd marks, before it listens, the runs a dead process left running
 * as interrupted: after a restart every run still running is the new
 * process's own (its pid is in the run's runner, core/procid.h). */
static void expect_no_run_of_a_dead_process(int kill_no)
{
	char pid[32];
	snprintf(pid, sizeof pid, "%%:%ld:%%", (long)srv.pid);
	int64_t left = api_db_int(&srv, "SELECT COUNT(*) FROM billing_runs WHERE status = 'running'"
					" AND (runner IS NULL OR runner NOT LIKE ?1)", pid);
	ck_assert_msg(left == 0, "kill %d: %" PRId64 " billing runs of a dead process still running (seed %" PRIu64 ")",
		      kill_no, left, seed);
}

START_TEST(sigkill_under_load_loses_nothing_acknowledged)
{
	/* Tokens and sign-ins outlive the clock moves' months, and so does the
	 * playback history every acknowledged start is checked against; small
	 * billing batches make a billing run many transactions long. */
	static const char *const flags[] = {"--access-ttl", "86400", "--refresh-ttl", "31536000", "--billing-batch",
					    "3", "--playback-retention-days", "3650", "--log-level", "warn", NULL};
	const char *env_kills = getenv("HEARTH_CRASH_KILLS");
	/* Under a wrapper (valgrind) each restart takes seconds: the fewest kills. */
	int kills = env_kills ? (int)strtol(env_kills, NULL, 10) : api_wrapped() ? 20 : DEFAULT_KILLS;
	if (kills < 20)
		kills = 20;
	uint64_t ctl = seed ^ 0x5eedULL;
	double t0 = now_s(), load_s = 0, verify_s = 0, restart_s = 0;

	api_start(&srv, flags);
	const char *argv[] = {"staff", "create", "--email", STAFF_EMAIL, "--role", "admin", "--db", srv.db_path,
			      "--name", "Crash Admin", "--password-stdin", NULL};
	char *out = NULL, *err = NULL;
	int rc = api_ctl(&srv, argv, NULL, PASSWORD "\n", &out, &err);
	ck_assert_msg(rc == 0, "staff create: %s%s", out, err);
	free(out);
	free(err);

	struct worker workers[WORKERS];
	pthread_t threads[WORKERS];
	for (int i = 0; i < WORKERS; i++) {
		workers[i].index = i;
		uint64_t x = seed + (uint64_t)i + 1;
		workers[i].rng = splitmix(&x) | 1;
		client_init(&workers[i].cl);
		ck_assert_int_eq(pthread_create(&threads[i], NULL, worker_main, &workers[i]), 0);
	}
	struct operator ops[2];
	memset(ops, 0, sizeof ops);
	client_init(&ops[0].cl);
	client_init(&ops[1].cl);
	(void)splitmix(&ctl);
	ctl |= 1;

	for (int k = 1; k <= kills; k++) {
		/* Every third round the clock moves past renewals with a staff
		 * run racing the clock's run; every third a staff run alone. */
		if (k % 3 == 0) {
			srv.clock += JUMP_S; /* the restart keeps it, answered or not */
			jumps++;
			operator_start(&ops[0], false, false, srv.clock, 0);
			operator_start(&ops[1], true, true, 0, below(&ctl, 50));
		} else if (k % 3 == 1) {
			operator_start(&ops[1], true, false, 0, below(&ctl, 200));
		}
		/* Let the load run a random while: often short, sometimes long
		 * enough for every account to move on. */
		double t_load = now_s();
		if (k % 3 == 0) /* short: the kill should often land inside the billing run */
			sleep_ms(10 + (long)below(&ctl, 150));
		else
			sleep_ms(30 + (long)below(&ctl, 300) + (below(&ctl, 4) == 0 ? (long)below(&ctl, 900) : 0));
		double t_kill = now_s();
		load_s += t_kill - t_load;
		pthread_mutex_lock(&mu);
		down = true;
		pthread_mutex_unlock(&mu);
		api_kill(&srv);
		pthread_mutex_lock(&mu);
		while (parked < WORKERS)
			pthread_cond_wait(&parked_cv, &mu);
		pthread_mutex_unlock(&mu);
		operator_join(&ops[0]);
		operator_join(&ops[1]);

		fail_on_unexpected(k);
		verify(k);
		double t_verified = now_s();
		verify_s += t_verified - t_kill;

		api_restart(&srv);
		expect_no_run_of_a_dead_process(k);
		/* Claims the dead process left in progress become stale (60 s);
		 * the move also runs what a killed billing run left due. */
		api_advance(&srv, 61);
		expect_no_queued_run(k);
		restart_s += now_s() - t_verified;
		pthread_mutex_lock(&mu);
		down = false;
		pthread_cond_broadcast(&resume_cv);
		pthread_mutex_unlock(&mu);
	}
	client_release(&ops[0].cl);
	client_release(&ops[1].cl);

	/* A last stretch of load, a clean stop, and the same checks. */
	sleep_ms(200);
	pthread_mutex_lock(&mu);
	finished = true;
	pthread_cond_broadcast(&resume_cv);
	pthread_mutex_unlock(&mu);
	long requests = 0;
	for (int i = 0; i < WORKERS; i++) {
		pthread_join(threads[i], NULL);
		requests += workers[i].cl.requests;
		client_release(&workers[i].cl);
	}
	fail_on_unexpected(kills + 1);
	/* A clean stop (SIGTERM) must exit 0; the files stay for the checks. */
	int status = 0;
	kill(srv.pid, SIGTERM);
	ck_assert_int_eq(waitpid(srv.pid, &status, 0), srv.pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "hearthd did not stop cleanly on SIGTERM");
	srv.pid = 0;
	verify(kills + 1);

	struct db *db = api_db(&srv);
	int64_t n_inv = q_int(db, "SELECT COUNT(*) FROM invoices WHERE ?1 IS NULL AND ?2 IS NULL", NULL, NULL, 0);
	int64_t n_live = q_int(db, "SELECT COUNT(*) FROM stream_slots WHERE ended_at IS NULL", NULL, NULL, 0);
	int64_t n_renewals = q_int(db, "SELECT COUNT(*) FROM invoices WHERE billing_reason = 'subscription_cycle'"
				       " AND ?1 IS NULL AND ?2 IS NULL", NULL, NULL, 0);
	/* Runs a kill stopped half way were marked interrupted by the next
	 * start; none is left running after the clean stop (a run the stop
	 * cut short is failed: "stopped"). */
	int64_t n_cut = q_int(db, "SELECT COUNT(*) FROM billing_runs WHERE status = 'interrupted' AND ?1 IS NULL",
			      NULL, NULL, 0);
	int64_t n_cut_done = q_int(db, "SELECT COALESCE(SUM(renewed), 0) FROM billing_runs WHERE status = 'interrupted'"
				       " AND ?1 IS NULL", NULL, NULL, 0);
	int64_t n_interrupted_events = q_int(db, "SELECT COUNT(*) FROM events WHERE type = 'billing_run.interrupted'"
						 " AND ?1 IS NULL", NULL, NULL, 0);
	int64_t n_still_running = q_int(db, "SELECT COUNT(*) FROM billing_runs WHERE status = 'running' AND ?1 IS NULL",
					NULL, NULL, 0);
	/* A card attached again by a retry: the first attempt committed, but
	 * its Idempotency-Key was not marked done with it.  The reply is now
	 * stored in the attach's own transaction (server/idempotency.c), so a
	 * retry either replays or finds nothing done: never a second card. */
	int64_t n_dup_cards = q_int(db, "SELECT COUNT(*) FROM (SELECT account_id FROM payment_methods"
				       " GROUP BY account_id HAVING COUNT(*) > 1)", NULL, NULL, 0);
	/* Except where the retry came after a clock move had expired the key
	 * (24 h; the moves are 16 days): the server cannot know it then. */
	int64_t n_dup_cards_in_ttl = q_int(db, "SELECT COUNT(*) FROM (SELECT account_id FROM payment_methods"
					      " GROUP BY account_id HAVING COUNT(*) > 1"
					      " AND MAX(created_at) - MIN(created_at) < 86400)", NULL, NULL, 0);
	int64_t n_cards = q_int(db, "SELECT COUNT(*) FROM payment_methods WHERE ?1 IS NULL AND ?2 IS NULL", NULL, NULL, 0);
	db_close(db);
	api_stop(&srv);
	ck_assert_int_eq(n_still_running, 0);
	ck_assert_int_eq(n_interrupted_events, n_cut);
	ck_assert_msg(n_dup_cards_in_ttl == 0, "%" PRId64 " accounts have a card attached twice by a retry",
		      n_dup_cards_in_ttl);
	ck_assert_int_le(n_cards - ack_count[ACK_CARD], doubt[OP_CARD]);

	printf("api_crash: seed %" PRIu64 ": %d SIGKILLs survived, nothing acknowledged lost; %.1f s (load %.1f s,"
	       " checks %.1f s, restarts %.1f s), %ld requests, %d accounts, %" PRId64 " invoices, %" PRId64
	       " live streams at the end\n",
	       seed, kills, now_s() - t0, load_s, verify_s, restart_s, requests, naccounts, n_inv, n_live);
	printf("api_crash: acknowledged and found after every kill:");
	for (int i = 0; i < ACK_NKINDS; i++)
		printf(" %ld %s%s", ack_count[i], ack_names[i], i + 1 < ACK_NKINDS ? "," : "\n");
	printf("api_crash: in flight at a kill, retried with the same Idempotency-Key (replayed / effect found /"
	       " done afresh):");
	for (int i = 0; i < OP_NOPS; i++)
		printf(" %s %ld (%ld/%ld/%ld)%s", op_names[i], doubt[i], doubt_replayed[i], doubt_found[i],
		       doubt_fresh[i], i + 1 < OP_NOPS ? "," : "\n");
	printf("api_crash: renewals: %d clock moves of %d days (%ld answered before a kill), %" PRId64
	       " renewals paid once each; %" PRId64 " billing runs killed half way and marked interrupted at the"
	       " restart (%" PRId64 " renewals committed by them, the rest by the next run); staff billing runs: %ld acknowledged,"
	       " %ld in doubt at a kill, %ld staff tokens expired by the racing clock move (signed in again)\n",
	       (int)jumps, JUMP_S / 86400, jumps_acked, n_renewals, n_cut, n_cut_done, ack_count[ACK_RUN],
	       runs_in_doubt, tokens_expired_by_move);
	printf("api_crash: other requests with no answer at a kill: %ld; heartbeats of ended streams: %ld;"
	       " accounts with a card attached twice by a retry: %" PRId64 " (%" PRId64 " within the key's 24 h);"
	       " %ld token refreshes after clock moves; %zu invariants checked after each kill\n",
	       doubt_other, ended_heartbeats, n_dup_cards, n_dup_cards_in_ttl, refreshes, sizeof never / sizeof never[0] + 4);
	free(acks);
}
END_TEST

/* The scheduler fix api_crash found, made deterministic: a run left
 * queued by a dead process is run by the next one. */
START_TEST(a_billing_run_queued_before_a_crash_runs_after_the_restart)
{
	struct api_server s2;
	api_start(&s2, NULL);
	api_kill(&s2);
	struct db *db = api_db(&s2);
	ck_assert(db_exec(db, "INSERT INTO billing_runs (id, started_by, until_at, status, created_at)"
			      " VALUES ('brun_queuedbeforethecrash00000', 'tool', 0, 'queued', 1800000000)") == ERR_OK);
	db_close(db);
	api_restart(&s2);
	const char *sql = "SELECT COUNT(*) FROM billing_runs WHERE id = ?1 AND status = 'succeeded'";
	int64_t done = 0;
	int tries = api_wrapped() ? 3000 : 300;
	for (int i = 0; i < tries && done != 1; i++) {
		done = api_db_int(&s2, sql, "brun_queuedbeforethecrash00000");
		if (done != 1)
			sleep_ms(100); /* the billing thread is asynchronous: wait for it */
	}
	ck_assert_int_eq(done, 1);
	ck_assert_int_eq(api_stop(&s2), 0);
}
END_TEST

/* Run a statement with text parameters ?1 ?2 (NULL binds NULL) on `s`'s database. */
static void db_write(struct api_server *s, const char *sql, const char *a, const char *b)
{
	struct db *db = api_db(s);
	struct db_stmt *st = NULL;
	ck_assert_int_eq(db_prepare(db, sql, &st), ERR_OK);
	db_bind_text(st, 1, a);
	db_bind_text(st, 2, b);
	ck_assert_int_eq(db_step_done(st), ERR_OK);
	db_done(st);
	db_close(db);
}

static int64_t run_is(struct api_server *s, const char *id, const char *status)
{
	return api_db_int(s, status[0] == 'i' ? "SELECT COUNT(*) FROM billing_runs WHERE id = ?1 AND status = 'interrupted'"
					      : "SELECT COUNT(*) FROM billing_runs WHERE id = ?1 AND status = 'running'",
			  id);
}

/* issue 9: a run a killed hearthd left running is marked interrupted by the
 * next start (and shown so); a run of a live process, or of a process on
 * another host, is left alone; a second start marks nothing again. */
START_TEST(a_billing_run_a_killed_hearthd_left_running_is_marked_interrupted)
{
	static const char dead_run[] = "brun_deadrvn0000000000000000000000", live_run[] = "brun_ofalivingprocess00000000",
			  legacy_run[] = "brun_frombeforemigration00009", remote_run[] = "brun_ofanotherhost00000000000";
	struct api_server s2;
	api_start(&s2, NULL);
	const char *argv[] = {"staff", "create", "--email", STAFF_EMAIL, "--role", "admin", "--db", s2.db_path,
			      "--name", "Crash Admin", "--password-stdin", NULL};
	ck_assert_int_eq(api_ctl(&s2, argv, NULL, PASSWORD "\n", NULL, NULL), 0);
	/* A clock move runs a billing run in this hearthd: its runner is this process. */
	api_advance(&s2, 60);
	api_kill(&s2);
	/* As if the kill had cut that run short, and with three more running. */
	db_write(&s2, "UPDATE billing_runs SET id = ?1, status = 'running', finished_at = NULL WHERE id ="
		      " (SELECT id FROM billing_runs WHERE started_by = 'clock' ORDER BY created_at DESC LIMIT 1)",
		 dead_run, NULL);
	ck_assert_int_eq(api_db_int(&s2, "SELECT COUNT(*) FROM billing_runs WHERE id = ?1 AND runner LIKE '%:%:%:%'",
				    dead_run), 1);
	const char *insert = "INSERT INTO billing_runs (id, started_by, until_at, status, created_at, started_at, runner)"
			     " VALUES (?1, 'tool', 1800000000, 'running', 1800000000, 1800000000, ?2)";
	db_write(&s2, insert, live_run, procid_self()); /* this test process: alive */
	db_write(&s2, insert, legacy_run, NULL);
	db_write(&s2, insert, remote_run, "another-host:00000000-0000-0000-0000-000000000000:4242:12345");
	api_restart(&s2);

	ck_assert_int_eq(run_is(&s2, dead_run, "interrupted"), 1);
	ck_assert_int_eq(run_is(&s2, legacy_run, "interrupted"), 1);
	ck_assert_int_eq(run_is(&s2, live_run, "running"), 1);
	ck_assert_int_eq(run_is(&s2, remote_run, "running"), 1);
	const char *events = "SELECT COUNT(*) FROM events WHERE type = 'billing_run.interrupted'";
	ck_assert_int_eq(api_db_int(&s2, events, NULL), 2);
	ck_assert_int_eq(api_db_int(&s2, "SELECT finished_at FROM billing_runs WHERE id = ?1", dead_run), s2.clock);

	struct api_resp *r = api_json(&s2, "POST", "/admin/v1/sessions", NULL,
				      json_pack("{s:s, s:s}", "email", STAFF_EMAIL, "password", PASSWORD));
	ck_assert_status(r, 201);
	char token[TOKEN_MAX], path[96];
	snprintf(token, sizeof token, "%s", api_str(r, "access_token"));
	api_resp_free(r);
	snprintf(path, sizeof path, "/admin/v1/billing-runs/%s", dead_run);
	r = api_get(&s2, path, token);
	ck_assert_status(r, 200);
	ck_assert_str_eq(api_str(r, "status"), "interrupted");
	ck_assert_str_eq(api_str(r, "error"), "interrupted: the process running it stopped");
	ck_assert_ptr_nonnull(api_str(r, "finished_at"));
	api_resp_free(r);
	/* And hearthctl lists it so. */
	char env_token[TOKEN_MAX + 16], *out = NULL;
	snprintf(env_token, sizeof env_token, "HEARTH_TOKEN=%s", token);
	const char *const env[] = {env_token, NULL}, *const list[] = {"billing", "runs", NULL};
	ck_assert_int_eq(api_ctl(&s2, list, env, NULL, &out, NULL), 0);
	const char *line = out ? strstr(out, dead_run) : NULL;
	const char *status = line ? strstr(line, "interrupted") : NULL, *eol = line ? strchr(line, '\n') : NULL;
	ck_assert_msg(status && (!eol || status < eol), "hearthctl billing runs: %s", out ? out : "");
	free(out);

	/* Marking is done once: a second start finds nothing more to mark. */
	api_restart(&s2);
	ck_assert_int_eq(api_db_int(&s2, events, NULL), 2);
	ck_assert_int_eq(run_is(&s2, live_run, "running"), 1);
	ck_assert_int_eq(api_stop(&s2), 0);
}
END_TEST

static Suite *crash_suite(void)
{
	Suite *s = suite_create("api_crash");
	TCase *tc = tcase_create("crash");
	tcase_set_timeout(tc, 280);
	tcase_add_test(tc, sigkill_under_load_loses_nothing_acknowledged);
	tcase_add_test(tc, a_billing_run_queued_before_a_crash_runs_after_the_restart);
	tcase_add_test(tc, a_billing_run_a_killed_hearthd_left_running_is_marked_interrupted);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	const char *env = getenv("HEARTH_CRASH_SEED");
	if (env && *env) {
		seed = strtoull(env, NULL, 0);
	} else {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		seed = (uint64_t)ts.tv_sec * 1000003u ^ (uint64_t)ts.tv_nsec ^ (uint64_t)getpid();
	}
	printf("api_crash: HEARTH_CRASH_SEED=%" PRIu64 " (set it to replay these kill moments and choices)\n", seed);
	fflush(stdout);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	SRunner *sr = srunner_create(crash_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	curl_global_cleanup();
	return failed ? 1 : 0;
}
