/*
 * bench_tool_sqlite_floor - the floor beside which the subscribe benchmark
 * prints its figure: how many write transactions per second this machine's
 * disk and SQLite commit when each inserts one row.
 *
 * It opens a fresh database through core/db.h, so with exactly hearthd's
 * pragmas (WAL, foreign keys, synchronous FULL or NORMAL as --db-sync,
 * the same cache), and commits one INSERT per db_transaction() (BEGIN
 * IMMEDIATE ... COMMIT, as every hearthd write) from one thread for a fixed
 * time.  A subscribe is one such transaction with a dozen statements in it
 * and an HTTP request around it, so this is what subscribes per second could
 * at most be on this disk; SQLite writes one transaction at a time, so more
 * threads would not raise it.
 *
 * Usage: bench_tool_sqlite_floor --db FILE [--seconds S] [--db-sync full|normal]
 * FILE must not exist yet (it and its -wal/-shm are left for the caller to
 * remove).  Prints one line scripts/bench parses:
 *   RESULT commits=... seconds=... cps=...
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/db.h"

struct insert_ctx {
	long n;
	long long now;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static enum err insert_tx(struct db *db, void *arg)
{
	struct insert_ctx *c = arg;
	struct db_stmt *st = NULL;
	char id[32];
	snprintf(id, sizeof id, "row_%ld", c->n);
	enum err e = db_prepare(db, "INSERT INTO floor_rows (id, account_id, amount, created_at) VALUES (?1, ?2, ?3, ?4)",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, id);
	db_bind_text(st, 2, "acc_floor");
	db_bind_int64(st, 3, 1799);
	db_bind_int64(st, 4, c->now);
	e = db_step_done(st);
	db_done(st);
	return e;
}

static void usage(FILE *out)
{
	fprintf(out, "Usage: bench_tool_sqlite_floor --db FILE [--seconds S] [--db-sync full|normal]\n"
		     "Commits one-row INSERT transactions with hearthd's pragmas for S seconds (default 5)\n"
		     "and prints commits per second.\n");
}

int main(int argc, char **argv)
{
	struct db_options o;
	struct db *db = NULL;
	long seconds = 5;
	int status = 1;
	db_options_init(&o);
	o.path = NULL;
	for (int a = 1; a < argc; a++) {
		const char *flag = argv[a];
		if (strcmp(flag, "--help") == 0 || strcmp(flag, "-h") == 0) {
			usage(stdout);
			return 0;
		}
		if (a + 1 >= argc) {
			fprintf(stderr, "bench_tool_sqlite_floor: %s needs a value (see --help)\n", flag);
			return 2;
		}
		const char *val = argv[++a];
		if (strcmp(flag, "--db") == 0) {
			o.path = val;
		} else if (strcmp(flag, "--db-sync") == 0) {
			if (db_parse_sync(val, &o.sync) != 0) {
				fprintf(stderr, "bench_tool_sqlite_floor: --db-sync is full or normal, not '%s'\n", val);
				return 2;
			}
		} else if (strcmp(flag, "--seconds") == 0) {
			char *end = NULL;
			errno = 0;
			seconds = strtol(val, &end, 10);
			if (errno || end == val || *end || seconds < 1 || seconds > 3600) {
				fprintf(stderr, "bench_tool_sqlite_floor: --seconds takes 1 to 3600, not '%s'\n", val);
				return 2;
			}
		} else {
			fprintf(stderr, "bench_tool_sqlite_floor: unknown option '%s' (see --help)\n", flag);
			return 2;
		}
	}
	if (!o.path) {
		usage(stderr);
		return 2;
	}
	if (access(o.path, F_OK) == 0) {
		fprintf(stderr, "bench_tool_sqlite_floor: %s exists; give a new file\n", o.path);
		return 2;
	}
	if (db_open(&o, &db) != ERR_OK) {
		fprintf(stderr, "bench_tool_sqlite_floor: cannot open %s\n", o.path);
		return 1;
	}
	if (db_exec(db, "CREATE TABLE floor_rows (id TEXT PRIMARY KEY, account_id TEXT NOT NULL,"
			" amount INTEGER NOT NULL, created_at INTEGER NOT NULL)") != ERR_OK) {
		fprintf(stderr, "bench_tool_sqlite_floor: cannot create the table: %s\n", db_errmsg(db));
		goto out;
	}
	struct insert_ctx c = {0, (long long)time(NULL)};
	double t0 = now_s(), deadline = t0 + (double)seconds, t = t0;
	while (t < deadline) {
		enum err e = db_transaction(db, insert_tx, &c);
		if (e != ERR_OK) {
			fprintf(stderr, "bench_tool_sqlite_floor: insert failed: %s\n", db_errmsg(db));
			goto out;
		}
		c.n++;
		t = now_s();
	}
	double secs = t - t0;
	printf("RESULT commits=%ld seconds=%.3f cps=%.1f\n", c.n, secs, secs > 0 ? (double)c.n / secs : 0.0);
	status = 0;
out:
	db_close(db);
	return status;
}
