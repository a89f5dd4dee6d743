/*
 * Request metrics kept in relaxed atomics: counters per route and status,
 * a latency histogram per route, open connections, requests in flight.
 * Rendered in the Prometheus text exposition format.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/batch.h"
#include "core/db.h"
#include "server/server_int.h"

static const int statuses[] = {200, 201, 202, 204, 301, 302, 303, 304, 400, 401, 402,
			       403, 404, 405, 409, 410, 413, 415, 422, 428, 429, 500, 503};
#define NSTATUS (sizeof statuses / sizeof statuses[0])
#define NSLOTS (NSTATUS + 1) /* the last counts any other status */

static const int64_t bounds_us[] = {1000, 2500, 5000, 10000, 25000, 50000, 100000,
				    250000, 500000, 1000000, 2500000};
#define NBUCKETS (sizeof bounds_us / sizeof bounds_us[0])

struct route_stats {
	atomic_uint_fast64_t by_status[NSLOTS];
	atomic_uint_fast64_t buckets[NBUCKETS + 1];
	atomic_uint_fast64_t sum_us;
	atomic_uint_fast64_t count;
};

static struct route_stats stats[ROUTE_MAX + 1];
static atomic_int_fast64_t open_connections;
static atomic_int_fast64_t inflight;

void metrics_record(int route_index, int status, int64_t duration_us)
{
	struct route_stats *s = &stats[route_index >= 0 && route_index < ROUTE_MAX ? route_index : ROUTE_MAX];
	size_t slot = NSTATUS;
	for (size_t i = 0; i < NSTATUS; i++)
		if (statuses[i] == status)
			slot = i;
	atomic_fetch_add_explicit(&s->by_status[slot], 1, memory_order_relaxed);
	size_t b = 0;
	while (b < NBUCKETS && duration_us > bounds_us[b])
		b++;
	atomic_fetch_add_explicit(&s->buckets[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->sum_us, (uint64_t)(duration_us > 0 ? duration_us : 0),
				  memory_order_relaxed);
	atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
}

void metrics_connection_opened(void) { atomic_fetch_add(&open_connections, 1); }
void metrics_connection_closed(void) { atomic_fetch_sub(&open_connections, 1); }
void metrics_inflight(int delta) { atomic_fetch_add(&inflight, delta); }
int64_t metrics_inflight_now(void) { return (int64_t)atomic_load(&inflight); }

struct buf {
	char *p;
	size_t len, cap;
	int failed;
};

__attribute__((format(printf, 2, 3))) static void put(struct buf *b, const char *fmt, ...)
{
	if (b->failed)
		return;
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = 1;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		size_t ncap = b->cap * 2 + (size_t)n;
		char *np = realloc(b->p, ncap);
		if (!np) {
			b->failed = 1;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
}

static void route_labels(int i, const char **method, const char **pattern)
{
	if (i == ROUTE_MAX) {
		*method = "";
		*pattern = "unmatched";
	} else {
		*method = router_get(i)->method;
		*pattern = router_get(i)->pattern;
	}
}

char *metrics_render(size_t *len)
{
	struct buf b = {malloc(8192), 0, 8192, 0};
	if (!b.p)
		return NULL;
	int n = router_count();
	put(&b, "# HELP hearth_http_requests_total HTTP requests served, by route and status.\n"
		"# TYPE hearth_http_requests_total counter\n");
	for (int i = 0; i <= ROUTE_MAX; i++) {
		if (i >= n && i != ROUTE_MAX)
			continue;
		const char *m, *p;
		route_labels(i, &m, &p);
		for (size_t s = 0; s < NSLOTS; s++) {
			uint64_t c = atomic_load_explicit(&stats[i].by_status[s], memory_order_relaxed);
			if (!c)
				continue;
			if (s < NSTATUS)
				put(&b, "hearth_http_requests_total{method=\"%s\",route=\"%s\",status=\"%d\"} %llu\n",
				    m, p, statuses[s], (unsigned long long)c);
			else
				put(&b, "hearth_http_requests_total{method=\"%s\",route=\"%s\",status=\"other\"} %llu\n",
				    m, p, (unsigned long long)c);
		}
	}
	put(&b, "# HELP hearth_http_request_duration_seconds Time from request start to reply.\n"
		"# TYPE hearth_http_request_duration_seconds histogram\n");
	for (int i = 0; i <= ROUTE_MAX; i++) {
		if (i >= n && i != ROUTE_MAX)
			continue;
		uint64_t count = atomic_load_explicit(&stats[i].count, memory_order_relaxed);
		if (!count)
			continue;
		const char *m, *p;
		route_labels(i, &m, &p);
		uint64_t cum = 0;
		for (size_t k = 0; k <= NBUCKETS; k++) {
			cum += atomic_load_explicit(&stats[i].buckets[k], memory_order_relaxed);
			if (k < NBUCKETS)
				put(&b, "hearth_http_request_duration_seconds_bucket{method=\"%s\",route=\"%s\",le=\"%lld.%06lld\"} %llu\n",
				    m, p, (long long)(bounds_us[k] / 1000000), (long long)(bounds_us[k] % 1000000),
				    (unsigned long long)cum);
			else
				put(&b, "hearth_http_request_duration_seconds_bucket{method=\"%s\",route=\"%s\",le=\"+Inf\"} %llu\n",
				    m, p, (unsigned long long)cum);
		}
		uint64_t sum = atomic_load_explicit(&stats[i].sum_us, memory_order_relaxed);
		put(&b, "hearth_http_request_duration_seconds_sum{method=\"%s\",route=\"%s\"} %llu.%06llu\n",
		    m, p, (unsigned long long)(sum / 1000000), (unsigned long long)(sum % 1000000));
		put(&b, "hearth_http_request_duration_seconds_count{method=\"%s\",route=\"%s\"} %llu\n", m,
		    p, (unsigned long long)count);
	}
	put(&b, "# HELP hearth_http_open_connections Open client connections.\n"
		"# TYPE hearth_http_open_connections gauge\nhearth_http_open_connections %lld\n",
	    (long long)atomic_load(&open_connections));
	put(&b, "# HELP hearth_http_requests_in_flight Requests being served.\n"
		"# TYPE hearth_http_requests_in_flight gauge\nhearth_http_requests_in_flight %lld\n",
	    (long long)atomic_load(&inflight));
	put(&b, "# HELP hearth_db_busy_retries_total Transactions retried because the database was busy.\n"
		"# TYPE hearth_db_busy_retries_total counter\nhearth_db_busy_retries_total %llu\n",
	    (unsigned long long)db_busy_retries());
	put(&b, "# HELP hearth_db_checkpoints_total WAL checkpoints the checkpoint thread made that copied pages.\n"
		"# TYPE hearth_db_checkpoints_total counter\nhearth_db_checkpoints_total %llu\n",
	    (unsigned long long)db_checkpoints());
	put(&b, "# HELP hearth_db_checkpoint_backstops_total Checkpoints a commit ran itself because the WAL passed 4000 pages.\n"
		"# TYPE hearth_db_checkpoint_backstops_total counter\nhearth_db_checkpoint_backstops_total %llu\n",
	    (unsigned long long)db_checkpoint_backstops());
	uint64_t jobs = 0, batches = 0;
	batch_stats(&jobs, &batches);
	put(&b, "# HELP hearth_db_group_commit_jobs_total Writes committed through the group-commit writer.\n"
		"# TYPE hearth_db_group_commit_jobs_total counter\nhearth_db_group_commit_jobs_total %llu\n"
		"# HELP hearth_db_group_commit_batches_total Transactions (and fsyncs) of the group-commit writer.\n"
		"# TYPE hearth_db_group_commit_batches_total counter\nhearth_db_group_commit_batches_total %llu\n",
	    (unsigned long long)jobs, (unsigned long long)batches);
	if (b.failed) {
		free(b.p);
		return NULL;
	}
	*len = b.len;
	return b.p;
}
