/*
 * bench_tool_argon2_floor - the floor the sign-in benchmark is judged
 * against: how many Argon2id password hashes per second this machine does
 * with hearthd's parameters when every core hashes.
 *
 * One thread per core (or --threads N) calls crypto_pwhash_str() in a loop
 * with libsodium's OPSLIMIT_INTERACTIVE and MEMLIMIT_INTERACTIVE (hearthd's
 * defaults: --pwhash-opslimit 0 and --pwhash-memlimit 0), each on its own
 * password, for a fixed time.  The hashes started before the deadline are
 * all finished and counted, and the rate is taken over the time until the
 * last one ended, so a slow last hash neither inflates nor deflates it.
 * Verifying a password (crypto_pwhash_str_verify, what a sign-in does)
 * costs the same Argon2id computation as hashing one.
 *
 * Usage: bench_tool_argon2_floor [--seconds S] [--threads N]
 *                                [--opslimit OPS] [--memlimit BYTES]
 * Prints each thread's count and one line scripts/bench parses:
 *   RESULT hashes=... seconds=... hps=... threads=... opslimit=... memlimit=...
 *          ms_per_hash=... cpu_ms_per_hash=...
 * ms_per_hash is wall time per hash on one thread; cpu_ms_per_hash is the
 * CPU time the process used per hash, which other load on the machine moves
 * much less than the rate.
 * Exit status 0, or 1 when a hash failed (out of memory), 2 on bad usage.
 */
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

struct worker {
	pthread_t thread;
	unsigned index;
	unsigned long long opslimit;
	size_t memlimit;
	double deadline;	/* monotonic seconds */
	long hashes;
	double last_end;	/* when its last hash finished */
	int failed;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* User + system CPU seconds this process has used. */
static double cpu_s(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void *hash_loop(void *arg)
{
	struct worker *w = arg;
	char out[crypto_pwhash_STRBYTES];
	char pw[40];
	for (;;) {
		double t = now_s();
		if (t >= w->deadline)
			break;
		/* A password of the length people type, different every time. */
		int n = snprintf(pw, sizeof pw, "floor-%u-%ld-password", w->index, w->hashes);
		if (n < 0 || (size_t)n >= sizeof pw || crypto_pwhash_str(out, pw, (size_t)n, w->opslimit, w->memlimit) != 0) {
			w->failed = 1;
			break;
		}
		w->hashes++;
		w->last_end = now_s();
	}
	sodium_memzero(pw, sizeof pw);
	return NULL;
}

static int parse_num(const char *s, long long lo, long long hi, long long *out)
{
	char *end = NULL;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

static void usage(FILE *out)
{
	fprintf(out, "Usage: bench_tool_argon2_floor [--seconds S] [--threads N] [--opslimit OPS] [--memlimit BYTES]\n"
		     "Hashes with crypto_pwhash_str on N threads (default: one per core) for S seconds\n"
		     "(default 10) and prints hashes per second.  --opslimit/--memlimit 0 (the default)\n"
		     "mean libsodium's INTERACTIVE parameters, as hearthd's defaults.\n");
}

int main(int argc, char **argv)
{
	long long seconds = 10, threads = 0, ops = 0, mem = 0;
	for (int a = 1; a < argc; a++) {
		const char *flag = argv[a];
		if (strcmp(flag, "--help") == 0 || strcmp(flag, "-h") == 0) {
			usage(stdout);
			return 0;
		}
		if (a + 1 >= argc) {
			fprintf(stderr, "bench_tool_argon2_floor: %s needs a value (see --help)\n", flag);
			return 2;
		}
		const char *val = argv[++a];
		int bad;
		if (strcmp(flag, "--seconds") == 0)
			bad = parse_num(val, 1, 3600, &seconds);
		else if (strcmp(flag, "--threads") == 0)
			bad = parse_num(val, 0, 256, &threads);
		else if (strcmp(flag, "--opslimit") == 0)
			bad = parse_num(val, 0, 1000, &ops);
		else if (strcmp(flag, "--memlimit") == 0)
			bad = parse_num(val, 0, 1LL << 34, &mem);
		else {
			fprintf(stderr, "bench_tool_argon2_floor: unknown option '%s' (see --help)\n", flag);
			return 2;
		}
		if (bad) {
			fprintf(stderr, "bench_tool_argon2_floor: %s takes a whole number in range, not '%s'\n", flag, val);
			return 2;
		}
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "bench_tool_argon2_floor: sodium_init failed\n");
		return 1;
	}
	if (threads == 0) {
		long cores = sysconf(_SC_NPROCESSORS_ONLN);
		threads = cores > 0 ? cores : 1;
	}
	unsigned long long opslimit = ops > 0 ? (unsigned long long)ops : crypto_pwhash_OPSLIMIT_INTERACTIVE;
	size_t memlimit = mem > 0 ? (size_t)mem : crypto_pwhash_MEMLIMIT_INTERACTIVE;

	struct worker *w = calloc((size_t)threads, sizeof *w);
	if (!w) {
		fprintf(stderr, "bench_tool_argon2_floor: out of memory\n");
		return 1;
	}
	double start = now_s(), cpu0 = cpu_s();
	int started = 0, failed = 0;
	for (long long i = 0; i < threads; i++) {
		w[i] = (struct worker){.index = (unsigned)i, .opslimit = opslimit, .memlimit = memlimit,
				       .deadline = start + (double)seconds, .last_end = start};
		if (pthread_create(&w[i].thread, NULL, hash_loop, &w[i]) != 0) {
			fprintf(stderr, "bench_tool_argon2_floor: cannot start thread %lld\n", i);
			failed = 1;
			break;
		}
		started++;
	}
	long total = 0;
	double end = start;
	for (int i = 0; i < started; i++) {
		pthread_join(w[i].thread, NULL);
		total += w[i].hashes;
		if (w[i].last_end > end)
			end = w[i].last_end;
		failed |= w[i].failed;
		printf("thread %d: %ld hashes\n", i, w[i].hashes);
	}
	free(w);
	if (failed) {
		fprintf(stderr, "bench_tool_argon2_floor: a hash failed (out of memory?)\n");
		return 1;
	}
	double secs = end - start, cpu = cpu_s() - cpu0;
	double hps = secs > 0 ? (double)total / secs : 0;
	printf("RESULT hashes=%ld seconds=%.3f hps=%.2f threads=%lld opslimit=%llu memlimit=%zu ms_per_hash=%.1f"
	       " cpu_ms_per_hash=%.1f\n",
	       total, secs, hps, threads, opslimit, memlimit,
	       total > 0 ? secs * 1000.0 * (double)threads / (double)total : 0.0,
	       total > 0 ? cpu * 1000.0 / (double)total : 0.0);
	return 0;
}
