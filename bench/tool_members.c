/*
 * bench_tool_members - make members in a running hearthd for the benchmarks,
 * and drive the one-request-per-member routes that wrk cannot (a subscribe
 * succeeds once per account, so it has to stop when the accounts run out).
 *
 *   bench_tool_members create --url URL --count N --out FILE
 *                             [--threads T] [--payment-method] [--prefix P]
 *     Signs up N members through POST /v1/accounts (country US), and with
 *     --payment-method attaches the sandbox card (POST /v1/payment-methods
 *     {"token":"pm_card_visa"}) to each.  Writes FILE: one member a line,
 *     "email<TAB>password<TAB>access-token", in the order they were made.
 *     Sign-up hashes the password (Argon2id with hearthd's parameters), so
 *     with the default parameters expect a few members per second per core.
 *
 *   bench_tool_members subscribe --url URL --in FILE [--threads T] [--plan CODE]
 *     POSTs /v1/subscription {"plan": CODE} (default "standard") once with
 *     every member's token in FILE, from T threads (default 4) that take the
 *     next member in turn, and reports the rate over the time from the first
 *     request to the last answer.  A subscribe is the whole first purchase:
 *     the subscription, the first invoice, the sandbox charge, the events.
 *
 * Each thread keeps one HTTP connection alive (libcurl).  Prints progress to
 * stderr and one line to stdout that scripts/bench parses:
 *   RESULT ok=... failed=... seconds=... rps=...
 * The first unexpected answer is shown on stderr (status and body).  Exit
 * status 0 when every request got its expected status, 1 otherwise, 2 on
 * bad usage.
 */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 64
#define LINE_MAX_BYTES 2048

struct member {
	char email[96];
	char password[64];
	char *token; /* malloc'd */
};

struct job {
	const char *url;	/* http://host:port, no trailing slash */
	struct member *members;
	long count;
	atomic_long next;	/* the next member a thread takes */
	atomic_long ok, failed;
	atomic_int reported;	/* the first failure was shown */
	int payment_method;
	const char *plan;
	const char *prefix;
};

struct buf {
	char *data;
	size_t len;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t collect(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct buf *b = arg;
	size_t n = size * nmemb;
	char *p = realloc(b->data, b->len + n + 1);
	if (!p)
		return 0;
	memcpy(p + b->len, ptr, n);
	b->data = p;
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

/* POST `body` (JSON) to url+path with an optional bearer token.  Returns the
 * HTTP status (0 when the request failed); the reply body lands in `out`. */
static long post_json(CURL *c, const char *url, const char *path, const char *token, const char *body,
		      struct buf *out)
{
	char full[512], auth[LINE_MAX_BYTES];
	struct curl_slist *headers = NULL;
	long status = 0;
	out->len = 0;
	if (out->data)
		out->data[0] = '\0';
	int n = snprintf(full, sizeof full, "%s%s", url, path);
	if (n < 0 || (size_t)n >= sizeof full)
		return 0;
	headers = curl_slist_append(headers, "Content-Type: application/json");
	headers = curl_slist_append(headers, "Accept: application/json");
	if (token) {
		n = snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
		if (n < 0 || (size_t)n >= sizeof auth)
			goto out;
		headers = curl_slist_append(headers, auth);
	}
	if (!headers)
		goto out;
	curl_easy_setopt(c, CURLOPT_URL, full);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
out:
	curl_slist_free_all(headers);
	return status;
}

static void report_failure(struct job *j, const char *what, long status, const struct buf *b)
{
	atomic_fetch_add(&j->failed, 1);
	if (atomic_exchange(&j->reported, 1) == 0)
		fprintf(stderr, "bench_tool_members: %s answered %ld: %.400s\n", what, status,
			b->data ? b->data : "(no body)");
}

/* Sign up member i (and attach a card); true when it worked. */
static int create_one(CURL *c, struct job *j, long i, struct buf *b)
{
	struct member *m = &j->members[i];
	char body[512];
	json_t *doc = NULL;
	int ok = 0;
	int n = snprintf(body, sizeof body,
			 "{\"email\":\"%s\",\"password\":\"%s\",\"country\":\"US\","
			 "\"device\":{\"name\":\"bench\",\"type\":\"web\"}}",
			 m->email, m->password);
	if (n < 0 || (size_t)n >= sizeof body)
		return 0;
	long status = post_json(c, j->url, "/v1/accounts", NULL, body, b);
	if (status != 201) {
		report_failure(j, "POST /v1/accounts", status, b);
		return 0;
	}
	doc = json_loads(b->data, 0, NULL);
	const char *tok = json_string_value(json_object_get(doc, "access_token"));
	if (!tok || !(m->token = strdup(tok))) {
		report_failure(j, "POST /v1/accounts (no access_token)", status, b);
		goto out;
	}
	if (j->payment_method) {
		status = post_json(c, j->url, "/v1/payment-methods", m->token, "{\"token\":\"pm_card_visa\"}", b);
		if (status != 201) {
			report_failure(j, "POST /v1/payment-methods", status, b);
			goto out;
		}
	}
	ok = 1;
out:
	json_decref(doc);
	return ok;
}

static int subscribe_one(CURL *c, struct job *j, long i, struct buf *b)
{
	char body[128];
	int n = snprintf(body, sizeof body, "{\"plan\":\"%s\"}", j->plan);
	if (n < 0 || (size_t)n >= sizeof body)
		return 0;
	long status = post_json(c, j->url, "/v1/subscription", j->members[i].token, body, b);
	if (status != 201) {
		report_failure(j, "POST /v1/subscription", status, b);
		return 0;
	}
	return 1;
}

struct worker {
	pthread_t thread;
	struct job *job;
	int (*one)(CURL *, struct job *, long, struct buf *);
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct job *j = w->job;
	struct buf b = {0};
	CURL *c = curl_easy_init();
	if (!c) {
		fprintf(stderr, "bench_tool_members: curl_easy_init failed\n");
		return NULL;
	}
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
	for (;;) {
		long i = atomic_fetch_add(&j->next, 1);
		if (i >= j->count)
			break;
		if (w->one(c, j, i, &b))
			atomic_fetch_add(&j->ok, 1);
	}
	curl_easy_cleanup(c);
	free(b.data);
	return NULL;
}

/* Run `one` for every member on `threads` threads; returns the seconds it took. */
static double run(struct job *j, long threads, int (*one)(CURL *, struct job *, long, struct buf *))
{
	struct worker w[MAX_THREADS];
	long started = 0;
	double t0 = now_s();
	for (long i = 0; i < threads; i++) {
		w[i] = (struct worker){.job = j, .one = one};
		if (pthread_create(&w[i].thread, NULL, worker_main, &w[i]) != 0) {
			fprintf(stderr, "bench_tool_members: cannot start thread %ld\n", i);
			break;
		}
		started++;
	}
	for (long i = 0; i < started; i++)
		pthread_join(w[i].thread, NULL);
	return now_s() - t0;
}

static int write_members(const char *path, const struct job *j)
{
	char tmp[4096];
	int n = snprintf(tmp, sizeof tmp, "%s.tmp", path);
	if (n < 0 || (size_t)n >= sizeof tmp)
		return -1;
	FILE *f = fopen(tmp, "w");
	if (!f)
		return -1;
	for (long i = 0; i < j->count; i++)
		if (j->members[i].token)
			fprintf(f, "%s\t%s\t%s\n", j->members[i].email, j->members[i].password, j->members[i].token);
	if (fclose(f) != 0)
		return -1;
	return rename(tmp, path);
}

/* Read FILE as written by `create`: every line gives a member with a token. */
static int read_members(const char *path, struct job *j)
{
	FILE *f = fopen(path, "r");
	char line[LINE_MAX_BYTES];
	long cap = 0;
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f)) {
		char *tab1 = strchr(line, '\t');
		char *tab2 = tab1 ? strchr(tab1 + 1, '\t') : NULL;
		if (!tab2)
			continue;
		line[strcspn(line, "\r\n")] = '\0';
		if (j->count == cap) {
			long ncap = cap ? cap * 2 : 256;
			struct member *nm = realloc(j->members, (size_t)ncap * sizeof *nm);
			if (!nm)
				break;
			j->members = nm;
			cap = ncap;
		}
		struct member *m = &j->members[j->count];
		memset(m, 0, sizeof *m);
		*tab1 = '\0';
		*tab2 = '\0';
		size_t elen = strlen(line), plen = strlen(tab1 + 1);
		if (elen >= sizeof m->email || plen >= sizeof m->password)
			continue; /* not a line `create` wrote */
		memcpy(m->email, line, elen + 1);
		memcpy(m->password, tab1 + 1, plen + 1);
		m->token = strdup(tab2 + 1);
		if (!m->token)
			break;
		j->count++;
	}
	fclose(f);
	return 0;
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
	char *end = NULL;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

static void usage(FILE *out)
{
	fprintf(out, "Usage: bench_tool_members create --url URL --count N --out FILE [--threads T]\n"
		     "                                [--payment-method] [--prefix P]\n"
		     "       bench_tool_members subscribe --url URL --in FILE [--threads T] [--plan CODE]\n"
		     "create signs up N members (and attaches pm_card_visa) and writes\n"
		     "email<TAB>password<TAB>access-token lines; subscribe POSTs /v1/subscription once\n"
		     "for every member of FILE.  Defaults: --threads 4, --plan standard, --prefix bench.\n");
}

int main(int argc, char **argv)
{
	struct job j = {.plan = "standard", .prefix = "bench"};
	const char *out_path = NULL, *in_path = NULL;
	long threads = 4, count = 0;
	int status = 1;
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	const char *cmd = argv[1];
	int creating = strcmp(cmd, "create") == 0;
	if (!creating && strcmp(cmd, "subscribe") != 0) {
		fprintf(stderr, "bench_tool_members: unknown command '%s' (see --help)\n", cmd);
		return 2;
	}
	for (int a = 2; a < argc; a++) {
		const char *flag = argv[a];
		if (strcmp(flag, "--payment-method") == 0) {
			j.payment_method = 1;
			continue;
		}
		if (a + 1 >= argc) {
			fprintf(stderr, "bench_tool_members: %s needs a value (see --help)\n", flag);
			return 2;
		}
		const char *val = argv[++a];
		int bad = 0;
		if (strcmp(flag, "--url") == 0)
			j.url = val;
		else if (strcmp(flag, "--out") == 0)
			out_path = val;
		else if (strcmp(flag, "--in") == 0)
			in_path = val;
		else if (strcmp(flag, "--plan") == 0)
			j.plan = val;
		else if (strcmp(flag, "--prefix") == 0)
			j.prefix = val;
		else if (strcmp(flag, "--threads") == 0)
			bad = parse_long(val, 1, MAX_THREADS, &threads);
		else if (strcmp(flag, "--count") == 0)
			bad = parse_long(val, 1, 1000000, &count);
		else {
			fprintf(stderr, "bench_tool_members: unknown option '%s' (see --help)\n", flag);
			return 2;
		}
		if (bad) {
			fprintf(stderr, "bench_tool_members: %s takes a whole number in range, not '%s'\n", flag, val);
			return 2;
		}
	}
	if (!j.url || (creating && (!out_path || count == 0)) || (!creating && !in_path) ||
	    strlen(j.prefix) > 32 || strlen(j.plan) > 64) {
		usage(stderr);
		return 2;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	double secs;
	if (creating) {
		j.count = count;
		j.members = calloc((size_t)count, sizeof *j.members);
		if (!j.members) {
			fprintf(stderr, "bench_tool_members: out of memory\n");
			goto out;
		}
		/* Unique per run and process, so two runs against one database never collide. */
		for (long i = 0; i < count; i++) {
			snprintf(j.members[i].email, sizeof j.members[i].email, "%s-%ld-%ld@example.com", j.prefix,
				 (long)getpid(), i);
			snprintf(j.members[i].password, sizeof j.members[i].password, "Bench-%ld-quiet-harbour", i);
		}
		secs = run(&j, threads, create_one);
		if (write_members(out_path, &j) != 0) {
			fprintf(stderr, "bench_tool_members: cannot write %s\n", out_path);
			goto out;
		}
	} else {
		if (read_members(in_path, &j) != 0 || j.count == 0) {
			fprintf(stderr, "bench_tool_members: no members in %s\n", in_path);
			goto out;
		}
		secs = run(&j, threads, subscribe_one);
	}
	long ok = atomic_load(&j.ok), failed = j.count - ok;
	printf("RESULT ok=%ld failed=%ld seconds=%.3f rps=%.1f\n", ok, failed, secs, secs > 0 ? (double)ok / secs : 0.0);
	status = failed == 0 ? 0 : 1;
out:
	for (long i = 0; i < j.count; i++)
		free(j.members ? j.members[i].token : NULL);
	free(j.members);
	curl_global_cleanup();
	return status;
}
