/*
 * bench_tool_billing_run - the billing-run benchmark's three steps, each a
 * separate process so each one's peak memory is its own:
 *
 *   seed  --db PATH --count N      N accounts, each with a default card and
 *                                  a Standard subscription whose period
 *                                  ended (due now), written with direct SQL
 *                                  in one transaction with prepared
 *                                  statements; countries round-robin over
 *                                  the default catalog's 13.
 *   run   --db PATH [--batch N] [--cache-mb M]
 *                                  the billing run (bill_run, as hearthd's
 *                                  scheduler and staff runs do).
 *   floor --db PATH [--batch N]    the floor: the same rows a renewal writes
 *                                  (counter, invoice, lines, attempt, four
 *                                  events, invoice paid, subscription moved
 *                                  on), for every due subscription, with
 *                                  the same tables, indexes, pragmas and
 *                                  transaction size, and no reading, logic
 *                                  or JSON: raw SQLite writes.
 *
 * Each prints one line "RESULT step=... count=N seconds=S rate=R
 * cpu_seconds=C rows=W rss_kib=K" (rate: renewals per second; C: the
 * process's user + system CPU while timed; rows: rows written) that
 * scripts/bench reads.  Both `run` and `floor` open the database with
 * db_open()'s pragmas (WAL, synchronous=FULL: hearthd's default) plus the
 * billing thread's (bill_run_pragmas: --cache-mb, default 128, and the
 * checkpoint interval), or BENCH_PRAGMAS instead of the latter.  Give each
 * its own copy of the seeded file.
 */
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "billing/billing.h"
#include "billing/renewal.h"
#include "core/clock.h"
#include "core/db.h"
#include "core/log.h"
#include "core/migrate.h"

struct country {
	const char *code, *currency, *tax_name;
	int64_t amount;
	int inclusive;
	int bps;
};

/* Standard in every country of data/catalog.json. */
static const struct country countries[] = {
	{"US", "USD", "sales tax", 1799, 0, 825}, {"CA", "CAD", "GST", 1899, 0, 500},
	{"MX", "MXN", "IVA", 24900, 1, 1600},	  {"BR", "BRL", "tax", 4490, 1, 1425},
	{"GB", "GBP", "VAT", 1299, 1, 2000},	  {"DE", "EUR", "VAT", 1399, 1, 1900},
	{"FR", "EUR", "VAT", 1499, 1, 2000},	  {"ES", "EUR", "VAT", 1399, 1, 2100},
	{"IN", "INR", "GST", 49900, 1, 1800},	  {"JP", "JPY", "consumption tax", 1590, 1, 1000},
	{"KR", "KRW", "VAT", 13500, 1, 1000},	  {"AU", "AUD", "GST", 1899, 1, 1000},
	{"KW", "KWD", "VAT", 2500, 1, 0},
};
#define NCOUNTRIES (sizeof countries / sizeof countries[0])

static const char *opt(int argc, char **argv, const char *name)
{
	for (int i = 2; i + 1 < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return argv[i + 1];
	return NULL;
}

static int64_t opt_int(int argc, char **argv, const char *name, int64_t def)
{
	const char *v = opt(argc, argv, name);
	if (!v)
		return def;
	char *end = NULL;
	long long n = strtoll(v, &end, 10);
	if (!end || *end || n <= 0) {
		fprintf(stderr, "bench_tool_billing_run: %s takes a positive number\n", name);
		exit(2);
	}
	return (int64_t)n;
}

static int64_t opt_mb = 128; /* --cache-mb */

static long peak_rss_kib(void)
{
	struct rusage ru;
	return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1;
}

/* CPU seconds (user + system) this process used so far: beside the wall
 * time, a figure that the other load on a shared machine moves far less. */
static double cpu_seconds(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static struct db *open_db(const char *path)
{
	struct db_options o;
	struct db *db = NULL;
	db_options_init(&o);
	o.path = path;
	if (db_open(&o, &db) != ERR_OK) {
		fprintf(stderr, "bench_tool_billing_run: cannot open %s\n", path);
		exit(1);
	}
	/* The billing thread's pragmas (bill_run_pragmas), for the run and the
	 * floor alike; BENCH_PRAGMAS replaces them. */
	char tuned[128];
	bill_run_pragmas(opt_mb, tuned, sizeof tuned);
	const char *extra = getenv("BENCH_PRAGMAS");
	if (!extra)
		extra = tuned;
	if (extra && *extra && db_exec(db, extra) != ERR_OK) {
		fprintf(stderr, "bench_tool_billing_run: BENCH_PRAGMAS failed\n");
		exit(1);
	}
	return db;
}

static void must(enum err e, const char *what)
{
	if (e != ERR_OK) {
		fprintf(stderr, "bench_tool_billing_run: %s: %s\n", what, err_name(e));
		exit(1);
	}
}

/* Subscriptions anchored on a day <= 28 about five weeks ago, so the first
 * period ended a few days ago whatever today's date: all are due now. */
static int64_t due_anchor(int64_t now)
{
	int64_t a = now - 35 * 86400;
	for (;;) {
		char t[32];
		clock_format(a, t, sizeof t); /* "YYYY-MM-DDT..." */
		if ((t[8] - '0') * 10 + (t[9] - '0') <= 28)
			return a;
		a -= 86400;
	}
}

static int seed(const char *path, int64_t count)
{
	struct db *db = open_db(path);
	struct db_stmt *acc = NULL, *pm = NULL, *sub = NULL;
	int64_t now = clock_now(), anchor = due_anchor(now), t0 = clock_mono_ms();
	int64_t end = bill_add_months(anchor, 1);
	char id[IDS_MAX], pm_id[IDS_MAX], sub_id[IDS_MAX], email[96];
	must(migrate_apply(db, NULL), "migrate");
	must(bill_catalog_ensure(db, NULL), "catalog");
	must(db_exec(db, "PRAGMA synchronous=OFF"), "pragma");
	must(db_begin(db), "begin");
	for (int64_t i = 0; i < count; i++) {
		const struct country *c = &countries[i % (int64_t)NCOUNTRIES];
		must(ids_new("acc_", id, sizeof id), "id");
		must(ids_new("pm_", pm_id, sizeof pm_id), "id");
		must(ids_new("sub_", sub_id, sizeof sub_id), "id");
		snprintf(email, sizeof email, "member%" PRId64 "@bench.example", i);
		must(db_prepare(db,
				"INSERT INTO accounts (id, email, email_norm, password_hash, country, created_at,"
				" updated_at, password_changed_at) VALUES (?1, ?2, ?2, 'x', ?3, ?4, ?4, ?4)",
				&acc), "prepare");
		db_bind_text(acc, 1, id);
		db_bind_text(acc, 2, email);
		db_bind_text(acc, 3, c->code);
		db_bind_int64(acc, 4, anchor);
		must(db_step_done(acc), "account");
		db_done(acc);
		must(db_prepare(db,
				"INSERT INTO payment_methods (id, account_id, seq, provider, provider_token, brand,"
				" last4, exp_month, exp_year, is_default, created_at)"
				" VALUES (?1, ?2, 1, 'sandbox', 'pm_card_visa', 'visa', '4242', 12, 2034, 1, ?3)",
				&pm), "prepare");
		db_bind_text(pm, 1, pm_id);
		db_bind_text(pm, 2, id);
		db_bind_int64(pm, 3, anchor);
		must(db_step_done(pm), "payment method");
		db_done(pm);
		must(db_prepare(db,
				"INSERT INTO subscriptions (id, account_id, state, plan_code, catalog_version, country,"
				" currency, amount, tax_inclusive, tax_rate_bps, tax_name, billing_anchor,"
				" period_index, current_period_start, current_period_end, created_at, updated_at)"
				" VALUES (?1, ?2, 'active', 'standard', 1, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0, ?9, ?10,"
				" ?9, ?9)",
				&sub), "prepare");
		db_bind_text(sub, 1, sub_id);
		db_bind_text(sub, 2, id);
		db_bind_text(sub, 3, c->code);
		db_bind_text(sub, 4, c->currency);
		db_bind_int64(sub, 5, c->amount);
		db_bind_int64(sub, 6, c->inclusive);
		db_bind_int64(sub, 7, c->bps);
		db_bind_text(sub, 8, c->tax_name);
		db_bind_int64(sub, 9, anchor);
		db_bind_int64(sub, 10, end);
		must(db_step_done(sub), "subscription");
		db_done(sub);
	}
	must(db_commit(db), "commit");
	must(db_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)"), "checkpoint");
	double s = (double)(clock_mono_ms() - t0) / 1000.0;
	printf("RESULT step=seed count=%" PRId64 " seconds=%.2f rss_kib=%ld\n", count, s, peak_rss_kib());
	db_close(db);
	return 0;
}

static void progress(const struct bill_run_stats *s, void *ctx)
{
	int64_t *last = ctx;
	int64_t now = clock_mono_ms();
	if (now - *last >= 5000) {
		fprintf(stderr, "  run: %" PRId64 "/%" PRId64 " processed, %" PRId64 " failed\n", s->processed,
			s->total, s->failed);
		*last = now;
	}
}

static int run(const char *path, int batch)
{
	struct db *db = open_db(path);
	struct bill_run_stats s;
	int64_t last = clock_mono_ms();
	struct bill_run_options o = {.started_by = "bench", .batch_size = batch, .progress = progress,
				     .progress_ctx = &last};
	double cpu0 = cpu_seconds();
	int64_t t0 = clock_mono_ms();
	enum err e = bill_run(db, &o, &s);
	double secs = (double)(clock_mono_ms() - t0) / 1000.0, cpu = cpu_seconds() - cpu0;
	must(e, "billing run");
	if (s.renewed != s.processed || s.errors)
		fprintf(stderr, "bench_tool_billing_run: %" PRId64 " processed, %" PRId64 " renewed, %" PRId64
			" errors\n", s.processed, s.renewed, s.errors);
	printf("RESULT step=run count=%" PRId64 " seconds=%.2f rate=%.1f cpu_seconds=%.2f errors=%" PRId64
	       " rss_kib=%ld\n",
	       s.renewed, secs, secs > 0 ? (double)s.renewed / secs : 0.0, cpu, s.errors, peak_rss_kib());
	db_close(db);
	return s.errors ? 1 : 0;
}

/* ---- the floor ---- */

struct due {
	char id[IDS_MAX], account[IDS_MAX], pm[IDS_MAX], currency[4];
	int64_t amount, end, anchor, index;
	int inclusive;
};

static const char *const floor_sql[] = {
	"INSERT INTO invoice_counters (year, last_value) VALUES (?1, 1)"
	" ON CONFLICT (year) DO UPDATE SET last_value = invoice_counters.last_value + 1 RETURNING last_value",
	"INSERT INTO invoices (id, account_id, subscription_id, number, billing_reason, status, currency,"
	" tax_inclusive, tax_rate_bps, tax_name, subtotal, tax, total, period_start, period_end, plan_code,"
	" created_at, finalized_at, credit_applied) VALUES (?1, ?2, ?3, ?4, 'subscription_cycle', 'open',"
	" ?5, ?6, 825, 'VAT', ?7, 100, ?7, ?8, ?9, 'standard', ?10, ?10, 0)",
	"INSERT INTO invoice_lines (invoice_id, position, kind, description, plan_code, amount, tax_amount,"
	" period_start, period_end) VALUES (?1, ?2, ?3, 'Standard, 15 Feb 2027 - 15 Mar 2027', 'standard',"
	" ?4, 100, ?5, ?6)",
	"INSERT INTO payment_attempts (id, invoice_id, account_id, payment_method_id, amount, currency,"
	" provider, provider_ref, status, failure_code, hard_decline, created_at)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'sandbox', ?7, 'succeeded', NULL, 0, ?8)",
	"INSERT INTO events (type, subject, payload, request_id, created_at) VALUES (?1, ?2, ?3, NULL, ?4)",
	"UPDATE invoices SET status = 'paid', paid_at = ?1 WHERE id = ?2 AND status = 'open'",
	"UPDATE subscriptions SET period_index = ?2, current_period_start = ?3, current_period_end = ?4,"
	" updated_at = ?5 WHERE id = ?1 AND current_period_end = ?6 AND state = 'active'",
};

static void step(struct db_stmt *st, const char *what)
{
	must(db_step_done(st), what);
	db_done(st);
}

static const char payload[] =
	"{\"account\":\"acc_0123456789abcdefghjkmnpqrs\",\"currency\":\"USD\",\"invoice\":"
	"\"inv_0123456789abcdefghjkmnpqrs\",\"total\":1947}";

static int64_t floor_one(struct db *db, const struct due *d, int64_t now)
{
	struct db_stmt *st = NULL;
	char inv[IDS_MAX], pay[IDS_MAX], number[32], ref[64];
	int64_t rows = 0, start = d->end, end = bill_add_months(d->anchor, d->index + 2);
	must(ids_new("inv_", inv, sizeof inv), "id");
	must(ids_new("pay_", pay, sizeof pay), "id");
	must(db_prepare(db, floor_sql[0], &st), "prepare");
	db_bind_int64(st, 1, 2027);
	must(db_step_row(st), "counter");
	snprintf(number, sizeof number, "HEA-2027-%06" PRId64, db_column_int64(st, 0));
	db_done(st);
	rows++;
	must(db_prepare(db, floor_sql[1], &st), "prepare");
	db_bind_text(st, 1, inv);
	db_bind_text(st, 2, d->account);
	db_bind_text(st, 3, d->id);
	db_bind_text(st, 4, number);
	db_bind_text(st, 5, d->currency);
	db_bind_int64(st, 6, d->inclusive);
	db_bind_int64(st, 7, d->amount);
	db_bind_int64(st, 8, start);
	db_bind_int64(st, 9, end);
	db_bind_int64(st, 10, now);
	step(st, "invoice");
	rows++;
	for (int l = 1; l <= (d->inclusive ? 1 : 2); l++) {
		must(db_prepare(db, floor_sql[2], &st), "prepare");
		db_bind_text(st, 1, inv);
		db_bind_int64(st, 2, l);
		db_bind_text(st, 3, l == 1 ? "plan" : "tax");
		db_bind_int64(st, 4, d->amount);
		db_bind_int64(st, 5, start);
		db_bind_int64(st, 6, end);
		step(st, "line");
		rows++;
	}
	static const char *const types[] = {"invoice.finalized", "payment.succeeded", "invoice.paid",
					    "subscription.renewed"};
	for (int k = 0; k < 4; k++) {
		if (k == 2) {
			must(db_prepare(db, floor_sql[3], &st), "prepare");
			snprintf(ref, sizeof ref, "ch_sandbox_%s", pay);
			db_bind_text(st, 1, pay);
			db_bind_text(st, 2, inv);
			db_bind_text(st, 3, d->account);
			db_bind_text(st, 4, d->pm);
			db_bind_int64(st, 5, d->amount);
			db_bind_text(st, 6, d->currency);
			db_bind_text(st, 7, ref);
			db_bind_int64(st, 8, now);
			step(st, "attempt");
			must(db_prepare(db, floor_sql[5], &st), "prepare");
			db_bind_int64(st, 1, now);
			db_bind_text(st, 2, inv);
			step(st, "paid");
			rows += 2;
		}
		must(db_prepare(db, floor_sql[4], &st), "prepare");
		db_bind_text(st, 1, types[k]);
		db_bind_text(st, 2, k == 1 ? pay : k == 3 ? d->id : inv);
		db_bind_text(st, 3, payload);
		db_bind_int64(st, 4, now);
		step(st, "event");
		rows++;
	}
	must(db_prepare(db, floor_sql[6], &st), "prepare");
	db_bind_text(st, 1, d->id);
	db_bind_int64(st, 2, d->index + 1);
	db_bind_int64(st, 3, start);
	db_bind_int64(st, 4, end);
	db_bind_int64(st, 5, now);
	db_bind_int64(st, 6, d->end);
	step(st, "subscription");
	return rows + 1;
}

static int floor_run(const char *path, int batch)
{
	struct db *db = open_db(path);
	struct db_stmt *st = NULL;
	int64_t now = clock_now(), n = 0, cap = 0, rows = 0;
	struct due *list = NULL;
	/* The work list is read before the clock starts: the floor measures
	 * writing only. */
	must(db_prepare(db,
			"SELECT s.id, s.account_id, pm.id, s.currency, s.amount, s.current_period_end,"
			" s.billing_anchor, s.period_index, s.tax_inclusive FROM subscriptions s"
			" JOIN payment_methods pm ON pm.account_id = s.account_id AND pm.is_default = 1"
			" WHERE s.state = 'active' AND s.current_period_end <= ?1 ORDER BY s.current_period_end, s.id",
			&st), "prepare");
	db_bind_int64(st, 1, now);
	bool row = false;
	while (db_step(st, &row) == ERR_OK && row) {
		if (n == cap) {
			cap = cap ? cap * 2 : 4096;
			list = realloc(list, (size_t)cap * sizeof *list);
			if (!list)
				must(ERR_NOMEM, "list");
		}
		struct due *d = &list[n++];
		snprintf(d->id, sizeof d->id, "%s", db_column_text(st, 0));
		snprintf(d->account, sizeof d->account, "%s", db_column_text(st, 1));
		snprintf(d->pm, sizeof d->pm, "%s", db_column_text(st, 2));
		snprintf(d->currency, sizeof d->currency, "%s", db_column_text(st, 3));
		d->amount = db_column_int64(st, 4);
		d->end = db_column_int64(st, 5);
		d->anchor = db_column_int64(st, 6);
		d->index = db_column_int64(st, 7);
		d->inclusive = (int)db_column_int64(st, 8);
	}
	db_done(st);
	double cpu0 = cpu_seconds();
	int64_t t0 = clock_mono_ms();
	for (int64_t i = 0; i < n; i += batch) {
		must(db_begin(db), "begin");
		for (int64_t j = i; j < n && j < i + batch; j++)
			rows += floor_one(db, &list[j], now);
		must(db_commit(db), "commit");
	}
	double secs = (double)(clock_mono_ms() - t0) / 1000.0, cpu = cpu_seconds() - cpu0;
	free(list);
	printf("RESULT step=floor count=%" PRId64 " seconds=%.2f rate=%.1f cpu_seconds=%.2f rows=%" PRId64
	       " rss_kib=%ld\n",
	       n, secs, secs > 0 ? (double)n / secs : 0.0, cpu, rows, peak_rss_kib());
	db_close(db);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2 || sodium_init() < 0) {
		fprintf(stderr, "usage: bench_tool_billing_run seed|run|floor --db PATH [--count N] [--batch N]\n");
		return 2;
	}
	log_set_level(LOG_LEVEL_WARN);
	const char *path = opt(argc, argv, "--db");
	if (!path) {
		fprintf(stderr, "bench_tool_billing_run: --db PATH is required\n");
		return 2;
	}
	int batch = (int)opt_int(argc, argv, "--batch", BILL_RUN_BATCH_DEFAULT);
	opt_mb = opt_int(argc, argv, "--cache-mb", 128);
	if (strcmp(argv[1], "seed") == 0)
		return seed(path, opt_int(argc, argv, "--count", 1000000));
	if (strcmp(argv[1], "run") == 0)
		return run(path, batch);
	if (strcmp(argv[1], "floor") == 0)
		return floor_run(path, batch);
	fprintf(stderr, "bench_tool_billing_run: unknown step '%s'\n", argv[1]);
	return 2;
}
