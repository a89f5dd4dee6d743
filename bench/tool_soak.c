/*
 * bench_tool_soak - a soak load on a running hearthd: a realistic mix of
 * member traffic for a while, with throughput and latency per operation,
 * every answer that was not a success counted by its status and code, and
 * the server's memory at the start and the end (scripts/bench soak).
 *
 *   bench_tool_soak --url URL --pid PID [--seconds N] [--clients C]
 *                   [--members M] [--progress SECONDS]
 *
 * First (not measured) each client thread makes its share of M members:
 * sign-up, the sandbox card, a standard subscription, and one more device
 * signed in.  Then for N seconds (default 300) each of C threads (default
 * 16) loops without pause over its own members, choosing each time, by
 * weight (per mille):
 *
 *   heartbeat 260  PUT /v1/playback/sessions/{id} of a stream it plays
 *   start     150  POST /v1/playback/sessions from one of the member's devices
 *   me        110  GET /v1/me
 *   plans      80  GET /v1/plans?country=XX (a random country)
 *   subscription 50, entitlements 50, invoices 30   authenticated reads
 *   stop       40  DELETE /v1/playback/sessions/{id}
 *   refresh    40  POST /v1/tokens/refresh (or /oauth/token for a TV)
 *   plan change 40 PATCH /v1/subscription: standard -> premium (charged),
 *                  premium -> standard (scheduled), back (withdrawn)
 *   device flow 15 POST /oauth/device_authorization, the member approves
 *                  (POST /v1/device-codes/{code}/approve), the TV's
 *                  POST /oauth/token: a new TV of the member
 *   sign-in     8  POST /v1/sessions (Argon2id with hearthd's parameters)
 *   new member  8  sign-up, card, subscribe
 *
 * A device refreshes its tokens when they are 10 minutes old, as a client
 * does before they expire.  Each thread keeps one HTTP connection.
 *
 * Expected refusals are counted apart, not as errors: 409
 * stream_limit_reached (a member starting more streams than the plan has),
 * 410 stream_ended (a heartbeat after a start from the same device).
 * Anything else that is not a 2xx (every 5xx, a failed connection) is an
 * error.  Prints a table, progress every --progress seconds (default 30)
 * to stderr, and one line scripts/bench parses:
 *   RESULT seconds=... requests=... rps=... errors=... expected=...
 *          rss_start_kb=... rss_end_kb=... rss_peak_kb=...
 * Exit status 0 when there was no error, 1 otherwise, 2 on bad usage.
 */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define PASSWORD "soak password, long enough"
#define TV_CLIENT "hearth-tv-demo"
#define MAX_CLIENTS 128
#define MAX_DEVICES 6
#define TOKEN_MAX 1200
#define ID_MAX 48
#define REFRESH_AFTER_S 600.0

enum op {
	OP_HEARTBEAT, OP_START, OP_STOP, OP_ME, OP_PLANS, OP_SUBSCRIPTION, OP_ENTITLEMENTS,
	OP_INVOICES, OP_REFRESH, OP_PLAN_CHANGE, OP_DEVICE_AUTHORIZATION, OP_DEVICE_APPROVE,
	OP_DEVICE_TOKEN, OP_SIGN_IN, OP_SIGN_UP, OP_CARD, OP_SUBSCRIBE, OP_N
};

static const char *const op_names[OP_N] = {
	"heartbeat", "playback_start", "playback_stop", "me", "plans", "subscription", "entitlements",
	"invoices", "refresh", "plan_change", "device_authorization", "device_approve", "device_token",
	"sign_in", "sign_up", "card", "subscribe",
};

/* Each operation's route as hearthd's /metrics names it. */
static const char *const op_routes[OP_N][2] = {
	{"PUT", "/v1/playback/sessions/{id}"}, {"POST", "/v1/playback/sessions"},
	{"DELETE", "/v1/playback/sessions/{id}"}, {"GET", "/v1/me"}, {"GET", "/v1/plans"},
	{"GET", "/v1/subscription"}, {"GET", "/v1/me/entitlements"}, {"GET", "/v1/invoices"},
	{"POST", "/v1/tokens/refresh"}, {"PATCH", "/v1/subscription"},
	{"POST", "/oauth/device_authorization"}, {"POST", "/v1/device-codes/{user_code}/approve"},
	{"POST", "/oauth/token"}, {"POST", "/v1/sessions"}, {"POST", "/v1/accounts"},
	{"POST", "/v1/payment-methods"}, {"POST", "/v1/subscription"},
};

/* What a thread chooses to do; some actions are several requests. */
enum action {
	ACT_HEARTBEAT, ACT_START, ACT_ME, ACT_PLANS, ACT_SUBSCRIPTION, ACT_ENTITLEMENTS, ACT_INVOICES,
	ACT_STOP, ACT_REFRESH, ACT_PLAN_CHANGE, ACT_DEVICE_FLOW, ACT_SIGN_IN, ACT_NEW_MEMBER, ACT_N
};
static const int weights[ACT_N] = {260, 150, 110, 80, 50, 50, 30, 40, 40, 40, 15, 8, 8};

/* Refusals that are part of normal traffic. */
static const struct {
	enum op op;
	long status;
	const char *code;
} expected[] = {
	{OP_START, 409, "stream_limit_reached"},
	{OP_HEARTBEAT, 410, "stream_ended"},
};

static const char *const countries[] = {"US", "CA", "MX", "BR", "GB", "DE", "FR",
					"ES", "IN", "JP", "KR", "AU", "KW"};

struct device {
	char token[TOKEN_MAX];
	char refresh[128];
	bool tv;		/* signed in by the device flow: refreshes at /oauth/token */
	double issued;		/* when its tokens were issued (monotonic s) */
	char slot[ID_MAX];	/* the stream it plays, or "" */
};

struct member {
	char email[96];
	char profile[ID_MAX];
	bool premium, scheduled;
	int ndev;
	struct device dev[MAX_DEVICES];
};

/* Answers that were not a success, by operation, status and code. */
struct refusal {
	enum op op;
	long status;
	char code[48];
	bool expected;
	long count;
};

struct lat {
	uint32_t *us;
	size_t n, cap;
};

struct client {
	int index;
	pthread_t thread;
	CURL *curl;
	char *buf;
	size_t len;
	uint64_t rng;
	struct member *members;
	size_t nmembers, cap_members;
	int new_members;
	struct lat lat[OP_N];
	struct refusal *refusals;
	size_t nrefusals, cap_refusals;
	bool setup_failed;
};

static const char *base;
static double deadline;
static atomic_long total_requests, total_errors;
static pthread_barrier_t setup_done, go;
static atomic_int first_error_shown;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rnd(struct client *c)
{
	c->rng ^= c->rng >> 12;
	c->rng ^= c->rng << 25;
	c->rng ^= c->rng >> 27;
	return c->rng * 2685821657736338717ULL;
}

static unsigned below(struct client *c, unsigned n) { return n ? (unsigned)(rnd(c) % n) : 0; }

static void die(const char *what)
{
	fprintf(stderr, "bench_tool_soak: %s\n", what);
	exit(1);
}

static void copy_text(char *dst, size_t cap, const char *src)
{
	size_t n = src ? strlen(src) : 0;
	if (n >= cap)
		n = 0; /* never truncate an id or a token: an empty one fails visibly */
	memcpy(dst, src ? src : "", n);
	dst[n] = '\0';
}

/* VmRSS (or another field) of /proc/PID/status, in kB; -1 if unreadable. */
static long proc_kb(pid_t pid, const char *field)
{
	char path[64], line[256];
	long kb = -1;
	snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = strlen(field);
	while (fgets(line, sizeof line, f))
		if (strncmp(line, field, n) == 0 && line[n] == ':') {
			char *end = NULL;
			errno = 0;
			long v = strtol(line + n + 1, &end, 10);
			if (errno == 0 && end != line + n + 1)
				kb = v;
			break;
		}
	fclose(f);
	return kb;
}

/* User + system CPU time the process has used, in seconds; -1 if unreadable. */
static double proc_cpu_s(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* Fields after "pid (comm) ": comm may hold spaces, so start after the last ')'. */
	char *p = strrchr(buf, ')');
	if (!p)
		return -1;
	unsigned long utime = 0, stime = 0;
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
		return -1;
	return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static double loadavg(void)
{
	double l = -1;
	FILE *f = fopen("/proc/loadavg", "r");
	if (f) {
		if (fscanf(f, "%lf", &l) != 1)
			l = -1;
		fclose(f);
	}
	return l;
}

/* ---- HTTP ---- */

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

static void lat_add(struct lat *l, double seconds)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 4096;
		uint32_t *p = realloc(l->us, cap * sizeof *p);
		if (!p)
			die("out of memory");
		l->us = p;
		l->cap = cap;
	}
	double us = seconds * 1e6;
	l->us[l->n++] = us > 4e9 ? UINT32_MAX : (uint32_t)us;
}

static void count_refusal(struct client *c, enum op op, long status, const char *code)
{
	bool exp = false;
	for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++)
		if (expected[i].op == op && expected[i].status == status && code && strcmp(expected[i].code, code) == 0)
			exp = true;
	for (size_t i = 0; i < c->nrefusals; i++) {
		struct refusal *r = &c->refusals[i];
		if (r->op == op && r->status == status && strcmp(r->code, code ? code : "") == 0) {
			r->count++;
			goto counted;
		}
	}
	if (c->nrefusals == c->cap_refusals) {
		size_t cap = c->cap_refusals ? c->cap_refusals * 2 : 16;
		struct refusal *p = realloc(c->refusals, cap * sizeof *p);
		if (!p)
			die("out of memory");
		c->refusals = p;
		c->cap_refusals = cap;
	}
	struct refusal *r = &c->refusals[c->nrefusals++];
	r->op = op;
	r->status = status;
	copy_text(r->code, sizeof r->code, code ? code : "");
	r->expected = exp;
	r->count = 1;
counted:
	if (!exp) {
		atomic_fetch_add(&total_errors, 1);
		if (atomic_exchange(&first_error_shown, 1) == 0)
			fprintf(stderr, "bench_tool_soak: first error: %s answered %ld: %.400s\n", op_names[op], status,
				c->buf ? c->buf : "(no body)");
	}
}

/* The problem document's code, or an OAuth error's name. */
static const char *code_of(json_t *doc)
{
	const char *code = json_string_value(json_object_get(doc, "code"));
	return code ? code : json_string_value(json_object_get(doc, "error"));
}

/*
 * One request.  `json` is a JSON body, `form` a form body (at most one).
 * Returns the status (0: no answer) and, in *out (may be NULL), the parsed
 * reply (caller frees).  `measured` records latency and refusals under `op`.
 */
static long call(struct client *c, enum op op, bool measured, const char *method, const char *path,
		 const char *token, const char *json, const char *form, json_t **out)
{
	char url[512], auth[TOKEN_MAX + 32];
	struct curl_slist *h = NULL;
	long status = 0;
	if (out)
		*out = NULL;
	c->len = 0;
	if (c->buf)
		c->buf[0] = '\0';
	int n = snprintf(url, sizeof url, "%s%s", base, path);
	if (n < 0 || (size_t)n >= sizeof url)
		die("URL too long");
	CURL *e = c->curl;
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(e, CURLOPT_NOBODY, 0L);
	h = curl_slist_append(h, "Expect:");
	const char *body = json ? json : form;
	if (body) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
		h = curl_slist_append(h, json ? "Content-Type: application/json"
					     : "Content-Type: application/x-www-form-urlencoded");
	} else {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, NULL);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L);
	}
	if (token) {
		snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
		h = curl_slist_append(h, auth);
	}
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	double t0 = now_s();
	CURLcode rc = curl_easy_perform(e);
	double dt = now_s() - t0;
	if (rc == CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(h);
	json_t *doc = c->len ? json_loadb(c->buf, c->len, 0, NULL) : NULL;
	if (measured) {
		atomic_fetch_add(&total_requests, 1);
		lat_add(&c->lat[op], dt);
		if (status < 200 || status > 299)
			count_refusal(c, op, status, status == 0 ? curl_easy_strerror(rc) : code_of(doc));
	} else if (status < 200 || status > 299) {
		atomic_fetch_add(&total_errors, 1);
		if (atomic_exchange(&first_error_shown, 1) == 0)
			fprintf(stderr, "bench_tool_soak: setup: %s %s answered %ld: %.400s\n", method, path, status,
				c->buf ? c->buf : (rc == CURLE_OK ? "(no body)" : curl_easy_strerror(rc)));
	}
	if (out)
		*out = doc;
	else
		json_decref(doc);
	return status;
}

static const char *jstr(json_t *j, const char *a, const char *b)
{
	json_t *v = json_object_get(j, a);
	if (b)
		v = json_object_get(v, b);
	return json_string_value(v);
}

/* A JSON body from a jansson value (stolen); caller frees. */
static char *dump(json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT);
	json_decref(v);
	if (!s)
		die("out of memory");
	return s;
}

/* ---- members and devices ---- */

static struct member *new_member_slot(struct client *c)
{
	if (c->nmembers == c->cap_members) {
		size_t cap = c->cap_members ? c->cap_members * 2 : 16;
		struct member *p = realloc(c->members, cap * sizeof *p);
		if (!p)
			die("out of memory");
		c->members = p;
		c->cap_members = cap;
	}
	struct member *m = &c->members[c->nmembers];
	memset(m, 0, sizeof *m);
	return m;
}

/* Keep a new device: a free place, else over a random one but the first. */
static struct device *device_place(struct client *c, struct member *m)
{
	if (m->ndev < MAX_DEVICES)
		return &m->dev[m->ndev++];
	return &m->dev[1 + below(c, MAX_DEVICES - 1)];
}

static bool take_tokens(struct device *d, json_t *doc, bool tv)
{
	const char *a = jstr(doc, "access_token", NULL), *r = jstr(doc, "refresh_token", NULL);
	if (!a || !r)
		return false;
	copy_text(d->token, sizeof d->token, a);
	copy_text(d->refresh, sizeof d->refresh, r);
	d->tv = tv;
	d->issued = now_s();
	return true;
}

static bool sign_in(struct client *c, struct member *m, bool measured)
{
	static const char *const types[] = {"phone", "tablet", "web", "console"};
	json_t *doc = NULL;
	char *body = dump(json_pack("{s:s, s:s, s:{s:s, s:s}}", "email", m->email, "password", PASSWORD, "device",
				    "name", "Soak device", "type", types[below(c, 4)]));
	long st = call(c, OP_SIGN_IN, measured, "POST", "/v1/sessions", NULL, body, NULL, &doc);
	free(body);
	bool ok = st == 201;
	if (ok) {
		struct device *d = device_place(c, m);
		d->slot[0] = '\0';
		ok = take_tokens(d, doc, false);
	}
	json_decref(doc);
	return ok;
}

/* Sign up, attach the sandbox card, subscribe to standard. */
static bool new_member(struct client *c, bool measured)
{
	struct member *m = new_member_slot(c);
	json_t *doc = NULL;
	snprintf(m->email, sizeof m->email, "soak-%ld-%d-%d@example.com", (long)getpid(), c->index, c->new_members++);
	char *body = dump(json_pack("{s:s, s:s, s:s}", "email", m->email, "password", PASSWORD, "country", "US"));
	long st = call(c, OP_SIGN_UP, measured, "POST", "/v1/accounts", NULL, body, NULL, &doc);
	free(body);
	if (st != 201) {
		json_decref(doc);
		return false;
	}
	copy_text(m->profile, sizeof m->profile, jstr(doc, "profile", "id"));
	m->ndev = 1;
	bool ok = take_tokens(&m->dev[0], doc, false);
	json_decref(doc);
	if (!ok)
		return false;
	if (call(c, OP_CARD, measured, "POST", "/v1/payment-methods", m->dev[0].token, "{\"token\":\"pm_card_visa\"}",
		 NULL, NULL) != 201)
		return false;
	if (call(c, OP_SUBSCRIBE, measured, "POST", "/v1/subscription", m->dev[0].token, "{\"plan\":\"standard\"}",
		 NULL, NULL) != 201)
		return false;
	c->nmembers++;
	return true;
}

/* Exchange a device's refresh token for new tokens. */
static void refresh(struct client *c, struct device *d)
{
	json_t *doc = NULL;
	long st;
	if (d->tv) {
		char form[300];
		snprintf(form, sizeof form, "grant_type=refresh_token&client_id=%s&refresh_token=%s", TV_CLIENT,
			 d->refresh);
		st = call(c, OP_REFRESH, true, "POST", "/oauth/token", NULL, NULL, form, &doc);
	} else {
		char *body = dump(json_pack("{s:s}", "refresh_token", d->refresh));
		st = call(c, OP_REFRESH, true, "POST", "/v1/tokens/refresh", NULL, body, NULL, &doc);
		free(body);
	}
	if (st == 200)
		take_tokens(d, doc, d->tv);
	json_decref(doc);
}

/* A device's token, refreshed first when it is getting old. */
static const char *token_of(struct client *c, struct device *d)
{
	if (now_s() - d->issued > REFRESH_AFTER_S)
		refresh(c, d);
	return d->token;
}

static void device_flow(struct client *c, struct member *m)
{
	json_t *doc = NULL;
	char form[256], path[128];
	snprintf(form, sizeof form, "client_id=%s&device_name=Soak+TV&device_model=Bench", TV_CLIENT);
	if (call(c, OP_DEVICE_AUTHORIZATION, true, "POST", "/oauth/device_authorization", NULL, NULL, form, &doc) != 200) {
		json_decref(doc);
		return;
	}
	char device_code[128], user_code[32];
	copy_text(device_code, sizeof device_code, jstr(doc, "device_code", NULL));
	copy_text(user_code, sizeof user_code, jstr(doc, "user_code", NULL));
	json_decref(doc);
	snprintf(path, sizeof path, "/v1/device-codes/%s/approve", user_code);
	if (call(c, OP_DEVICE_APPROVE, true, "POST", path, token_of(c, &m->dev[0]), "{}", NULL, NULL) != 200)
		return;
	snprintf(form, sizeof form, "grant_type=urn:ietf:params:oauth:grant-type:device_code&client_id=%s&device_code=%s",
		 TV_CLIENT, device_code);
	if (call(c, OP_DEVICE_TOKEN, true, "POST", "/oauth/token", NULL, NULL, form, &doc) == 200) {
		struct device *d = device_place(c, m);
		d->slot[0] = '\0';
		take_tokens(d, doc, true);
	}
	json_decref(doc);
}

/* ---- playback ---- */

static void start(struct client *c, struct member *m, struct device *d)
{
	json_t *doc = NULL;
	char body[128];
	snprintf(body, sizeof body, "{\"profile_id\":\"%s\"}", m->profile);
	long st = call(c, OP_START, true, "POST", "/v1/playback/sessions", token_of(c, d), body, NULL, &doc);
	if (st == 201)
		copy_text(d->slot, sizeof d->slot, jstr(doc, "stream", "id"));
	else
		d->slot[0] = '\0';
	json_decref(doc);
}

/* A device of the thread's members that plays, or NULL. */
static struct device *playing_device(struct client *c, struct member **owner)
{
	for (int tries = 0; tries < 8 && c->nmembers; tries++) {
		struct member *m = &c->members[below(c, (unsigned)c->nmembers)];
		struct device *d = &m->dev[below(c, (unsigned)m->ndev)];
		if (d->slot[0]) {
			*owner = m;
			return d;
		}
	}
	return NULL;
}

static void heartbeat_or_stop(struct client *c, bool stop)
{
	struct member *m = NULL;
	struct device *d = playing_device(c, &m);
	char path[128];
	if (!d) {
		m = &c->members[below(c, (unsigned)c->nmembers)];
		start(c, m, &m->dev[below(c, (unsigned)m->ndev)]);
		return;
	}
	snprintf(path, sizeof path, "/v1/playback/sessions/%s", d->slot);
	long st = call(c, stop ? OP_STOP : OP_HEARTBEAT, true, stop ? "DELETE" : "PUT", path, token_of(c, d), NULL, NULL,
		       NULL);
	if (stop || st != 200)
		d->slot[0] = '\0';
}

static void plan_change(struct client *c, struct member *m)
{
	const char *plan = !m->premium ? "premium" : m->scheduled ? "premium" : "standard";
	char body[64];
	snprintf(body, sizeof body, "{\"plan\":\"%s\"}", plan);
	if (call(c, OP_PLAN_CHANGE, true, "PATCH", "/v1/subscription", token_of(c, &m->dev[0]), body, NULL, NULL) != 200)
		return;
	if (!m->premium)
		m->premium = true;
	else
		m->scheduled = !m->scheduled;
}

/* ---- the threads ---- */

static void act(struct client *c, enum action a)
{
	struct member *m = &c->members[below(c, (unsigned)c->nmembers)];
	struct device *d = &m->dev[below(c, (unsigned)m->ndev)];
	char path[64];
	switch (a) {
	case ACT_HEARTBEAT: heartbeat_or_stop(c, false); break;
	case ACT_STOP: heartbeat_or_stop(c, true); break;
	case ACT_START: start(c, m, d); break;
	case ACT_ME: call(c, OP_ME, true, "GET", "/v1/me", token_of(c, d), NULL, NULL, NULL); break;
	case ACT_PLANS:
		snprintf(path, sizeof path, "/v1/plans?country=%s", countries[below(c, sizeof countries / sizeof countries[0])]);
		call(c, OP_PLANS, true, "GET", path, NULL, NULL, NULL, NULL);
		break;
	case ACT_SUBSCRIPTION: call(c, OP_SUBSCRIPTION, true, "GET", "/v1/subscription", token_of(c, d), NULL, NULL, NULL); break;
	case ACT_ENTITLEMENTS:
		call(c, OP_ENTITLEMENTS, true, "GET", "/v1/me/entitlements", token_of(c, d), NULL, NULL, NULL);
		break;
	case ACT_INVOICES: call(c, OP_INVOICES, true, "GET", "/v1/invoices?limit=5", token_of(c, d), NULL, NULL, NULL); break;
	case ACT_REFRESH: refresh(c, d); break;
	case ACT_PLAN_CHANGE: plan_change(c, m); break;
	case ACT_DEVICE_FLOW: device_flow(c, m); break;
	case ACT_SIGN_IN: sign_in(c, m, true); break;
	case ACT_NEW_MEMBER: new_member(c, true); break;
	case ACT_N: break;
	}
}

static void *client_main(void *arg)
{
	struct client *c = arg;
	int share = c->new_members; /* set by main: how many to make first */
	c->new_members = 0;
	c->curl = curl_easy_init();
	if (!c->curl)
		die("curl_easy_init failed");
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, 120L);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, c);
	for (int i = 0; i < share; i++)
		if (!new_member(c, false) || !sign_in(c, &c->members[c->nmembers - 1], false))
			c->setup_failed = true;
	pthread_barrier_wait(&setup_done);
	pthread_barrier_wait(&go); /* main has set the deadline */
	if (c->nmembers == 0)
		c->setup_failed = true;
	int total = 0;
	for (int i = 0; i < ACT_N; i++)
		total += weights[i];
	while (!c->setup_failed && now_s() < deadline) {
		int pick = (int)below(c, (unsigned)total), a = 0;
		while (pick >= weights[a])
			pick -= weights[a++];
		act(c, (enum action)a);
	}
	curl_easy_cleanup(c->curl);
	return NULL;
}

/* hearthd's own time per route: the sum and count of
 * hearth_http_request_duration_seconds from /metrics. */
struct server_time {
	double sum[OP_N];
	double count[OP_N];
};

static void read_server_time(struct client *c, struct server_time *out)
{
	memset(out, 0, sizeof *out);
	if (call(c, OP_ME, false, "GET", "/metrics", NULL, NULL, NULL, NULL) != 200 || !c->buf)
		return;
	for (int op = 0; op < OP_N; op++) {
		char key[160];
		for (int which = 0; which < 2; which++) {
			snprintf(key, sizeof key, "hearth_http_request_duration_seconds_%s{method=\"%s\",route=\"%s\"} ",
				 which ? "count" : "sum", op_routes[op][0], op_routes[op][1]);
			const char *p = strstr(c->buf, key);
			if (p) {
				double v = strtod(p + strlen(key), NULL);
				if (which)
					out->count[op] = v;
				else
					out->sum[op] = v;
			}
		}
	}
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

static double pct_ms(const uint32_t *v, size_t n, double p)
{
	if (!n)
		return 0;
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);
	return v[i] / 1000.0;
}

static long parse_long(const char *s, long lo, long hi, const char *what)
{
	char *end = NULL;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || !end || *end || v < lo || v > hi) {
		fprintf(stderr, "bench_tool_soak: %s must be a whole number from %ld to %ld, not '%s'\n", what, lo, hi, s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	long seconds = 300, clients = 16, members = 64, progress = 30, pid = 0;
	for (int i = 1; i < argc; i++) {
		if (i + 1 >= argc) {
			fprintf(stderr, "bench_tool_soak: %s needs a value\n", argv[i]);
			return 2;
		}
		const char *o = argv[i], *v = argv[++i];
		if (strcmp(o, "--url") == 0)
			base = v;
		else if (strcmp(o, "--pid") == 0)
			pid = parse_long(v, 1, 1L << 30, "--pid");
		else if (strcmp(o, "--seconds") == 0)
			seconds = parse_long(v, 1, 7L * 86400, "--seconds");
		else if (strcmp(o, "--clients") == 0)
			clients = parse_long(v, 1, MAX_CLIENTS, "--clients");
		else if (strcmp(o, "--members") == 0)
			members = parse_long(v, 1, 100000, "--members");
		else if (strcmp(o, "--progress") == 0)
			progress = parse_long(v, 1, 86400, "--progress");
		else {
			fprintf(stderr, "bench_tool_soak: unknown option '%s'\n", o);
			return 2;
		}
	}
	if (!base || !pid) {
		fprintf(stderr, "usage: bench_tool_soak --url URL --pid PID [--seconds N] [--clients C] [--members M]"
				" [--progress S]\n");
		return 2;
	}
	if (members < clients)
		members = clients;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	static struct client cl[MAX_CLIENTS];
	pthread_barrier_init(&setup_done, NULL, (unsigned)clients + 1);
	pthread_barrier_init(&go, NULL, (unsigned)clients + 1);
	uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	fprintf(stderr, "bench_tool_soak: making %ld members (sign-up, card, standard plan, a second device) ...\n",
		members);
	double setup_start = now_s();
	for (long i = 0; i < clients; i++) {
		cl[i].index = (int)i;
		cl[i].rng = (seed + (uint64_t)i * 0x9e3779b97f4a7c15ULL) | 1;
		cl[i].new_members = (int)(members / clients + (i < members % clients ? 1 : 0));
		if (pthread_create(&cl[i].thread, NULL, client_main, &cl[i]) != 0)
			die("pthread_create failed");
	}
	/* The clients make their members, then all start together. */
	pthread_barrier_wait(&setup_done);
	double t0 = now_s();
	deadline = t0 + (double)seconds;
	long rss_start = proc_kb((pid_t)pid, "VmRSS");
	static struct client probe;
	struct server_time st_start, st_end;
	probe.curl = curl_easy_init();
	if (!probe.curl)
		die("curl_easy_init failed");
	curl_easy_setopt(probe.curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(probe.curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(probe.curl, CURLOPT_WRITEDATA, &probe);
	read_server_time(&probe, &st_start);
	atomic_store(&total_requests, 0);
	long setup_errors = atomic_exchange(&total_errors, 0);
	pthread_barrier_wait(&go);
	fprintf(stderr, "bench_tool_soak: members made in %.1f s%s; %ld clients for %ld s; hearthd RSS %.1f MB\n",
		t0 - setup_start, setup_errors ? " (WITH ERRORS)" : "", clients, seconds, (double)rss_start / 1024.0);

	/* Progress: the rate, hearthd's CPU per request (which other load on
	 * the machine disturbs less than the rate), and its RSS: the least in
	 * the interval is the baseline (Argon2id takes 64 MiB per hash in
	 * progress, so the RSS swings while sign-ins run). */
	long rss_peak = rss_start, last_req = 0;
	double last_t = t0, last_cpu = proc_cpu_s((pid_t)pid);
	while (now_s() < deadline) {
		double wake = last_t + (double)progress;
		long rss_min = -1;
		if (wake > deadline)
			wake = deadline;
		while (now_s() < wake) {
			struct timespec ts = {0, 200 * 1000000L};
			nanosleep(&ts, NULL);
			long rss = proc_kb((pid_t)pid, "VmRSS");
			if (rss < 0)
				die("hearthd is gone");
			if (rss > rss_peak)
				rss_peak = rss;
			if (rss_min < 0 || rss < rss_min)
				rss_min = rss;
		}
		double t = now_s(), cpu = proc_cpu_s((pid_t)pid);
		long req = atomic_load(&total_requests);
		fprintf(stderr,
			"  t=%5.0f s  %7.1f req/s  hearthd cpu %6.1f us/req  RSS %6.1f MB (least %6.1f MB)  errors %ld  load %.2f\n",
			t - t0, (double)(req - last_req) / (t - last_t),
			req > last_req ? (cpu - last_cpu) * 1e6 / (double)(req - last_req) : 0.0,
			(double)proc_kb((pid_t)pid, "VmRSS") / 1024.0, (double)rss_min / 1024.0, atomic_load(&total_errors),
			loadavg());
		last_req = req;
		last_t = t;
		last_cpu = cpu;
	}
	for (long i = 0; i < clients; i++)
		pthread_join(cl[i].thread, NULL);
	double elapsed = now_s() - t0;
	long rss_end = proc_kb((pid_t)pid, "VmRSS"), hwm = proc_kb((pid_t)pid, "VmHWM");
	read_server_time(&probe, &st_end);
	curl_easy_cleanup(probe.curl);
	free(probe.buf);
	if (rss_end > rss_peak)
		rss_peak = rss_end;

	/* Merge the threads' figures. */
	long requests = 0, errors = atomic_load(&total_errors) + setup_errors, exp_total = 0;
	bool setup_failed = false;
	/* "in hearthd": its own mean time per request of the route (from
	 * /metrics; /oauth/token is shared by the device flow and TV refreshes). */
	printf("%-22s %9s %9s %9s %9s %11s  %s\n", "operation", "requests", "req/s", "p50 ms", "p99 ms", "in hearthd",
	       "not 2xx (status code)");
	for (int op = 0; op < OP_N; op++) {
		size_t n = 0;
		for (long i = 0; i < clients; i++)
			n += cl[i].lat[op].n;
		uint32_t *all = malloc((n ? n : 1) * sizeof *all);
		if (!all)
			die("out of memory");
		size_t k = 0;
		for (long i = 0; i < clients; i++) {
			if (cl[i].lat[op].n)
				memcpy(all + k, cl[i].lat[op].us, cl[i].lat[op].n * sizeof *all);
			k += cl[i].lat[op].n;
		}
		qsort(all, n, sizeof *all, cmp_u32);
		requests += (long)n;
		double dc = st_end.count[op] - st_start.count[op];
		printf("%-22s %9zu %9.1f %9.2f %9.2f %8.2f ms ", op_names[op], n, (double)n / elapsed,
		       pct_ms(all, n, 0.50), pct_ms(all, n, 0.99),
		       dc > 0 ? (st_end.sum[op] - st_start.sum[op]) * 1000.0 / dc : 0.0);
		free(all);
		bool any = false;
		for (long i = 0; i < clients; i++)
			for (size_t j = 0; j < cl[i].nrefusals; j++) {
				struct refusal *r = &cl[i].refusals[j];
				if (r->op != (enum op)op || r->count == 0)
					continue;
				/* Sum the same refusal over the later threads. */
				long cnt = r->count;
				for (long i2 = i + 1; i2 < clients; i2++)
					for (size_t j2 = 0; j2 < cl[i2].nrefusals; j2++) {
						struct refusal *r2 = &cl[i2].refusals[j2];
						if (r2->op == r->op && r2->status == r->status && strcmp(r2->code, r->code) == 0) {
							cnt += r2->count;
							r2->count = 0;
						}
					}
				printf(" %ld x %ld %s%s", cnt, r->status, r->code, r->expected ? " (expected)" : " (ERROR)");
				if (r->expected)
					exp_total += cnt;
				any = true;
			}
		printf("%s\n", any ? "" : " -");
	}
	for (long i = 0; i < clients; i++)
		setup_failed |= cl[i].setup_failed;
	printf("total %ld requests in %.1f s: %.1f req/s; %ld expected refusals, %ld errors%s\n", requests, elapsed,
	       (double)requests / elapsed, exp_total, errors, setup_failed ? " (setup failed)" : "");
	printf("hearthd RSS: %.1f MB at the start, %.1f MB at the end, %.1f MB at most (VmHWM %.1f MB)\n",
	       (double)rss_start / 1024.0, (double)rss_end / 1024.0, (double)rss_peak / 1024.0, (double)hwm / 1024.0);
	printf("RESULT seconds=%.1f requests=%ld rps=%.1f errors=%ld expected=%ld rss_start_kb=%ld rss_end_kb=%ld"
	       " rss_peak_kb=%ld\n",
	       elapsed, requests, (double)requests / elapsed, errors, exp_total, rss_start, rss_end, rss_peak);
	curl_global_cleanup();
	return errors || setup_failed ? 1 : 0;
}
