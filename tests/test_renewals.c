/*
 * test_renewals.c - the renewals domain against a real database: a year of
 * monthly renewals in USD, JPY and KWD with exact amounts and invoice
 * numbers; declines through the whole retry schedule to on_hold and back;
 * hard declines; a crash between charge and commit (in-process and a
 * killed process) then a rerun; two runs at once; price changes with
 * notice, consent and grandfathering; account credit; refunds; add-ons.
 *
 * Time is the test clock; nothing sleeps.  A counting provider stands in
 * front of the sandbox and behaves like a real provider on idempotency
 * keys: a key it has seen is answered with the first result and moves no
 * money again, so "charged once" is a fact the test can count.
 */
#include <check.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "billing/billing.h"
#include "billing/provider.h"
#include "billing/renewal.h"
#include "core/clock.h"
#include "core/db.h"
#include "core/log.h"
#include "core/migrate.h"
#include "tests/unit.h"

#define N_ROWS(a) (sizeof(a) / sizeof((a)[0]))
#define DAY INT64_C(86400)

/* 2027-01-15T08:00:00Z. */
#define T0 INT64_C(1800000000)

static char dir[64];
static char db_path[128];
static struct db *db;

/* ---- the counting provider ---- */

#define KEYS_MAX 4096

static struct {
	pthread_mutex_t mu;
	int calls;			/* charge requests */
	int distinct;			/* distinct idempotency keys = charges that moved money */
	int64_t moved;			/* money moved (any currency; tests use one at a time) */
	char keys[KEYS_MAX][64];
	struct bill_charge_result results[KEYS_MAX];
	char log_path[128];		/* every request appended here when set (survives a crash) */
} prov = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, {{0}}, {{0}}, ""};

static enum err counting_describe(void *ctx, const char *token, struct bill_card_info *out)
{
	(void)ctx;
	const struct bill_provider *s = bill_provider_sandbox();
	return s->describe(s->ctx, token, out);
}

static enum err counting_charge(void *ctx, const struct bill_charge_request *req,
				struct bill_charge_result *out)
{
	(void)ctx;
	const struct bill_provider *s = bill_provider_sandbox();
	enum err e = ERR_OK;
	pthread_mutex_lock(&prov.mu);
	prov.calls++;
	if (prov.log_path[0]) {
		FILE *f = fopen(prov.log_path, "a");
		if (f) {
			fprintf(f, "%s %lld\n", req->idempotency_key, (long long)req->amount.amount);
			fclose(f);
		}
	}
	int found = -1;
	for (int i = 0; i < prov.distinct && found < 0; i++)
		if (strcmp(prov.keys[i], req->idempotency_key) == 0)
			found = i;
	if (found >= 0) {
		*out = prov.results[found]; /* a replay: no money moves */
	} else {
		e = s->charge(s->ctx, req, out);
		if (e == ERR_OK && prov.distinct < KEYS_MAX) {
			snprintf(prov.keys[prov.distinct], sizeof prov.keys[0], "%s", req->idempotency_key);
			prov.results[prov.distinct++] = *out;
			if (out->succeeded)
				prov.moved += req->amount.amount;
		}
	}
	pthread_mutex_unlock(&prov.mu);
	return e;
}

static enum err counting_refund(void *ctx, const char *ref, const struct money *amount, char *out, size_t cap)
{
	(void)ctx;
	const struct bill_provider *s = bill_provider_sandbox();
	return s->refund(s->ctx, ref, amount, out, cap);
}

static const struct bill_provider counting = {"sandbox", counting_describe, counting_charge,
					      counting_refund, NULL};

/* ---- fixture ---- */

static void open_db(struct db **out)
{
	struct db_options o;
	db_options_init(&o);
	o.path = db_path;
	o.sync = DB_SYNC_NORMAL;
	o.busy_timeout_ms = 10000;
	ck_assert_int_eq(db_open(&o, out), ERR_OK);
}

static void setup(void)
{
	snprintf(dir, sizeof dir, "/tmp/hearth-renewals-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(db_path, sizeof db_path, "%s/t.db", dir);
	open_db(&db);
	ck_assert_int_eq(migrate_apply(db, NULL), ERR_OK);
	clock_use_test(T0);
	int64_t version = 0;
	ck_assert_int_eq(bill_catalog_ensure(db, &version), ERR_OK);
	struct bill_dunning_settings ds;
	bill_dunning_defaults(&ds);
	bill_dunning_configure(&ds);
	bill_provider_set(&counting);
	bill_run_set_fault(NULL, NULL);
}

static void teardown(void)
{
	char p[160];
	db_close(db);
	db = NULL;
	static const char *const suffixes[] = {"", "-wal", "-shm"};
	for (size_t i = 0; i < N_ROWS(suffixes); i++) {
		snprintf(p, sizeof p, "%s%s", db_path, suffixes[i]);
		unlink(p);
	}
	if (prov.log_path[0])
		unlink(prov.log_path);
	rmdir(dir);
}

static int64_t at(const char *rfc3339)
{
	int64_t t = 0;
	ck_assert_msg(clock_parse(rfc3339, &t) == ERR_OK, "bad time %s", rfc3339);
	return t;
}

static void assert_err(enum err got, enum err want)
{
	ck_assert_msg(got == want, "got ERR_%s, want ERR_%s", err_name(got), err_name(want));
}

static int64_t q_int(const char *sql, const char *arg)
{
	struct db_stmt *st = NULL;
	int64_t v = -1;
	ck_assert_int_eq(db_prepare(db, sql, &st), ERR_OK);
	if (arg)
		db_bind_text(st, 1, arg);
	if (db_step_row(st) == ERR_OK)
		v = db_column_int64(st, 0);
	db_done(st);
	return v;
}

static const char *q_text(const char *sql, const char *arg, char *out, size_t cap)
{
	struct db_stmt *st = NULL;
	out[0] = '\0';
	ck_assert_int_eq(db_prepare(db, sql, &st), ERR_OK);
	if (arg)
		db_bind_text(st, 1, arg);
	if (db_step_row(st) == ERR_OK && db_column_text(st, 0))
		snprintf(out, cap, "%s", db_column_text(st, 0));
	db_done(st);
	return out;
}

static void seed_account(const char *country, char *id) { unit_seed_account(db, country, id); }

static void attach(const char *acc, const char *token, char *pm_id)
{
	struct bill_payment_method pm;
	assert_err(bill_pm_attach(db, acc, token, &pm), ERR_OK);
	if (pm_id)
		snprintf(pm_id, IDS_MAX, "%s", pm.id);
}

/* A member of `country` subscribed to `plan` with a visa card. */
static void subscribed(const char *country, const char *plan, char *acc, struct bill_subscription *sub)
{
	struct bill_payment_outcome pay = {0};
	struct bill_subscribe_params p = {acc, country, plan, NULL};
	seed_account(country, acc);
	attach(acc, "pm_card_visa", NULL);
	assert_err(bill_subscribe(db, &p, sub, &pay), ERR_OK);
}

/* Make `token` the account's default card (no dunning retry: it is active). */
static void switch_card(const char *acc, const char *token)
{
	char pm[IDS_MAX];
	struct bill_payment_method out = {0};
	attach(acc, token, pm);
	assert_err(bill_pm_set_default(db, acc, pm, &out), ERR_OK);
}

/* Move the clock to `t` and run what is due, as the test-clock hook does. */
static struct bill_run_stats run_at(int64_t t)
{
	struct bill_run_stats s;
	if (t > clock_now())
		ck_assert_int_eq(clock_set(t), ERR_OK);
	struct bill_run_options o = {.started_by = "test", .until = clock_now(), .batch_size = 7};
	assert_err(bill_run(db, &o, &s), ERR_OK);
	ck_assert_int_eq(s.errors, 0);
	return s;
}

static struct bill_subscription sub_of(const char *acc)
{
	struct bill_subscription s;
	assert_err(bill_subscription_get(db, acc, &s), ERR_OK);
	return s;
}

static int64_t cycle_invoices(const char *sub_id)
{
	return q_int("SELECT COUNT(*) FROM invoices WHERE subscription_id = ?1"
		     " AND billing_reason = 'subscription_cycle'", sub_id);
}

static int64_t notifications(const char *acc, const char *template_name)
{
	struct db_stmt *st = NULL;
	int64_t n = 0;
	ck_assert_int_eq(db_prepare(db, "SELECT COUNT(*) FROM notifications WHERE account_id = ?1 AND template = ?2",
				    &st), ERR_OK);
	db_bind_text(st, 1, acc);
	db_bind_text(st, 2, template_name);
	ck_assert_int_eq(db_step_row(st), ERR_OK);
	n = db_column_int64(st, 0);
	db_done(st);
	return n;
}

/* ---- settings ---- */

START_TEST(retry_schedule_parses_increasing_days)
{
	struct bill_dunning_settings s;
	bill_dunning_defaults(&s);
	ck_assert_int_eq(s.nretries, 4);
	ck_assert_int_eq(s.retry_after_s[3], 7 * DAY);
	ck_assert_int_eq(s.hold_s, 30 * DAY);
	assert_err(bill_dunning_parse_days("2,4", &s), ERR_OK);
	ck_assert_int_eq(s.nretries, 2);
	ck_assert_int_eq(s.retry_after_s[1], 4 * DAY);
	assert_err(bill_dunning_parse_days("", &s), ERR_OK);
	ck_assert_int_eq(s.nretries, 0);
	static const char *const bad[] = {"3,1", "1,1", "0", "61", "1,,2", "1,", "a", "1;2", "-1",
					  "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17"};
	for (size_t i = 0; i < N_ROWS(bad); i++) {
		bill_dunning_defaults(&s);
		ck_assert_msg(bill_dunning_parse_days(bad[i], &s) == ERR_INVALID_PARAMETER, "accepted '%s'", bad[i]);
		ck_assert_int_eq(s.nretries, 4); /* unchanged */
	}
}
END_TEST

/* ---- a year of renewals ---- */

/*
 * Subscribed 2027-01-15 08:00 UTC, renewed on the 15th of every month at
 * 08:00 through 2028-01-15: 12 cycle invoices each, exact amounts (US
 * $17.99 plus 8.25% = $19.47, JP ¥1,590 with ¥145 tax included, KW KWD
 * 2.500), and gapless numbers: the first invoices are 1-3, month k's
 * renewals take 3k+1..3k+3 of 2027, and January 2028 starts again at 1.
 */
START_TEST(year_of_monthly_renewals_usd_jpy_kwd)
{
	static const struct {
		const char *country;
		int64_t total, tax, lines;
	} rows[] = {{"US", 1947, 148, 2}, {"JP", 1590, 145, 1}, {"KW", 2500, 0, 1}};
	char acc[3][IDS_MAX];
	struct bill_subscription sub[3];
	for (int i = 0; i < 3; i++)
		subscribed(rows[i].country, "standard", acc[i], &sub[i]);
	for (int64_t k = 1; k <= 12; k++) {
		int64_t due = bill_add_months(T0, k);
		/* One second early: nothing is due. */
		struct bill_run_stats s = run_at(due - 1);
		ck_assert_int_eq(s.renewed, 0);
		s = run_at(due);
		ck_assert_int_eq(s.renewed, 3);
		ck_assert_int_eq(s.failed, 0);
		/* The invoices of this renewal: numbers 3k+1..3k+3 of the year. */
		int64_t y = k == 12 ? 2028 : 2027, base = k == 12 ? 0 : 3 * k;
		for (int i = 0; i < 3; i++) {
			struct db_stmt *st = NULL;
			ck_assert_int_eq(db_prepare(db,
						    "SELECT number, total, tax, status, period_end,"
						    " (SELECT COUNT(*) FROM invoice_lines l WHERE l.invoice_id = i.id)"
						    " FROM invoices i WHERE subscription_id = ?1 AND period_start = ?2",
						    &st),
					 ERR_OK);
			db_bind_text(st, 1, sub[i].id);
			db_bind_int64(st, 2, due);
			ck_assert_int_eq(db_step_row(st), ERR_OK);
			const char *num = db_column_text(st, 0);
			char want_prefix[16];
			snprintf(want_prefix, sizeof want_prefix, "HEA-%lld-", (long long)y);
			ck_assert_msg(strncmp(num, want_prefix, 9) == 0, "month %lld: %s", (long long)k, num);
			long v = strtol(num + 9, NULL, 10);
			ck_assert_msg(v > base && v <= base + 3, "month %lld: number %s", (long long)k, num);
			ck_assert_int_eq(db_column_int64(st, 1), rows[i].total);
			ck_assert_int_eq(db_column_int64(st, 2), rows[i].tax);
			ck_assert_str_eq(db_column_text(st, 3), "paid");
			ck_assert_int_eq(db_column_int64(st, 4), bill_add_months(T0, k + 1));
			ck_assert_int_eq(db_column_int64(st, 5), rows[i].lines);
			db_done(st);
		}
	}
	for (int i = 0; i < 3; i++) {
		struct bill_subscription s = sub_of(acc[i]);
		ck_assert_int_eq(s.state, BILL_ACTIVE);
		ck_assert_int_eq(s.period_index, 12);
		ck_assert_int_eq(s.current_period_start, at("2028-01-15T08:00:00Z"));
		ck_assert_int_eq(s.current_period_end, at("2028-02-15T08:00:00Z"));
		ck_assert_int_eq(cycle_invoices(s.id), 12);
		ck_assert_int_eq(q_int("SELECT SUM(amount) FROM payment_attempts WHERE account_id = ?1"
				       " AND status = 'succeeded'", acc[i]), 13 * rows[i].total);
	}
	ck_assert_int_eq(q_int("SELECT last_value FROM invoice_counters WHERE year = 2027", NULL), 36);
	ck_assert_int_eq(q_int("SELECT last_value FROM invoice_counters WHERE year = 2028", NULL), 3);
	/* The US line text and tax line of the first renewal. */
	char text[160];
	q_text("SELECT l.description FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id"
	       " WHERE i.subscription_id = ?1 AND i.billing_reason = 'subscription_cycle'"
	       " AND l.position = 1 ORDER BY i.period_start LIMIT 1",
	       sub[0].id, text, sizeof text);
	ck_assert_str_eq(text, "Standard, 15 Feb 2027 - 15 Mar 2027");
	/* Every renewal wrote its event; a successful renewal tells nobody (the
	 * three notices are the subscriptions' confirmations). */
	ck_assert_int_eq(q_int("SELECT COUNT(*) FROM events WHERE type = 'subscription.renewed'", NULL), 36);
	ck_assert_int_eq(q_int("SELECT COUNT(*) FROM notifications WHERE template <> 'subscription_started'", NULL), 0);
	ck_assert_int_eq(q_int("SELECT COUNT(*) FROM notifications WHERE template = 'subscription_started'", NULL), 3);
	/* Every run is recorded with its figures. */
	ck_assert_int_eq(q_int("SELECT SUM(renewed) FROM billing_runs WHERE status = 'succeeded'", NULL), 36);
	ck_assert_int_eq(prov.distinct, 39);
	ck_assert_int_eq(prov.calls, 39);
}
END_TEST

/* A run that starts months late catches up period by period. */
START_TEST(a_late_run_catches_up_each_period)
{
	char acc[IDS_MAX];
	struct bill_subscription sub = {0};
	int64_t due = -1;
	subscribed("JP", "standard", acc, &sub);
	/* The scheduler's question: nothing before the period end, one at it. */
	assert_err(bill_run_due_count(db, sub.current_period_end - 1, &due), ERR_OK);
	ck_assert_int_eq(due, 0);
	assert_err(bill_run_due_count(db, sub.current_period_end, &due), ERR_OK);
	ck_assert_int_eq(due, 1);
	struct bill_run_stats s = run_at(bill_add_months(T0, 3) + 3600);
	ck_assert_int_eq(s.renewed, 3);
	ck_assert_int_eq(cycle_invoices(sub.id), 3);
	ck_assert_int_eq(sub_of(acc).period_index, 3);
	/* Nothing more is due. */
	assert_err(bill_run_due_count(db, clock_now(), &due), ERR_OK);
	ck_assert_int_eq(due, 0);
	s = run_at(clock_now());
	ck_assert_int_eq(s.processed, 0);
}
END_TEST

START_TEST(canceled_subscription_ends_at_its_period_end_without_a_charge)
{
	char acc[IDS_MAX];
	struct bill_subscription sub = {0};
	subscribed("US", "standard", acc, &sub);
	assert_err(bill_cancel(db, acc, &sub), ERR_OK);
	struct bill_run_stats s = run_at(sub.current_period_end);
	ck_assert_int_eq(s.ended, 1);
	ck_assert_int_eq(s.renewed, 0);
	struct bill_subscription after = sub_of(acc);
	ck_assert_int_eq(after.state, BILL_ENDED);
	ck_assert_int_eq(after.ended_at, sub.current_period_end);
	ck_assert_int_eq(cycle_invoices(sub.id), 0);
}
END_TEST

START_TEST(scheduled_downgrade_applies_at_renewal)
{
	char acc[IDS_MAX];
	struct bill_subscription sub = {0};
	enum bill_change_kind kind = BILL_CHANGE_NONE;
	struct bill_payment_outcome pay = {0};
	subscribed("KW", "premium", acc, &sub);
	assert_err(bill_change_plan(db, acc, "basic", &sub, &kind, &pay), ERR_OK);
	ck_assert_int_eq(kind, BILL_CHANGE_SCHEDULED);
	run_at(sub.current_period_end);
	struct bill_subscription after = sub_of(acc);
	ck_assert_str_eq(after.plan.code, "basic");
	ck_assert_int_eq(after.price.amount.amount, 1750);
	ck_assert(!after.has_scheduled_change);
	ck_assert_int_eq(q_int("SELECT total FROM invoices WHERE subscription_id = ?1"
			       " AND billing_reason = 'subscription_cycle'", sub.id), 1750);
}
END_TEST

START_TEST(extra_member_addon_is_billed_at_renewal)
{
	char acc[IDS_MAX];
	struct bill_subscription sub = {0};
	struct bill_addon addon = {0};
	struct bill_payment_outcome pay = {0};
	subscribed("US", "standard", acc, &sub);
	/* Bought at the first second (households' extra member): the whole
	 * first period charged at once; from then on, renewed with the plan. */
	assert_err(db_begin(db), ERR_OK);
	assert_err(bill_addon_add(db, acc, "extra_member", NULL, &addon, &pay), ERR_OK);
	assert_err(db_commit(db), ERR_OK);
	run_at(sub.current_period_end);
	/* $17.99 + $8.99 = $26.98; tax 148 + 74 (899 x 8.25% = 74.17) = 222. */
	ck_assert_int_eq(q_int("SELECT total FROM invoices WHERE subscription_id = ?1"
			       " AND billing_reason = 'subscription_cycle'", sub.id), 2698 + 222);
	ck_assert_int_eq(q_int("SELECT COUNT(*) FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id"
			       " WHERE i.subscription_id = ?1 AND i.billing_reason = 'subscription_cycle'"
			       " AND l.kind = 'addon' AND l.amount = 899", sub.id), 1);
}
END_TEST

/* A subscription whose step fails (here: its plan vanished from its catalog
 * version) is rolled back alone, counted and logged; the others renew. */
START_TEST(one_failing_step_leaves_the_rest_of_the_batch_renewed)
{
	char acc[3][IDS_MAX];
	struct bill_subscription sub[3];
	for (int i = 0; i < 3; i++)
		subscribed("US", "standard", acc[i], &sub[i]);
	struct db_stmt *st = NULL;
	ck_assert_int_eq(db_prepare(db, "UPDATE subscriptions SET plan_code = 'gone' WHERE id = ?1", &st), ERR_OK);
	db_bind_text(st, 1, sub[1].id);
	ck_assert_int_eq(db_step_done(st), ERR_OK);
	db_done(st);
	ck_assert_int_eq(clock_set(sub[0].current_period_end), ERR_OK);
	struct bill_run_options o = {.started_by = "test", .until = clock_now()};
	struct bill_run_stats s;
	assert_err(bill_run(db, &o, &s), ERR_OK);
	ck_assert_int_eq(s.status, BILL_RUN_SUCCEEDED);
	ck_assert_int_eq(s.renewed, 2);
	ck_assert_int_eq(s.errors, 1);
	ck_assert_int_eq(cycle_invoices(sub[0].id), 1);
	ck_assert_int_eq(cycle_invoices(sub[1].id), 0);
	ck_assert_int_eq(cycle_invoices(sub[2].id), 1);
	ck_assert_int_eq(q_int("SELECT period_index FROM subscriptions WHERE id = ?1", sub[1].id), 0);
	ck_assert_int_eq(q_int("SELECT errors FROM billing_runs WHERE id = ?1", s.id), 1);
	/* Gapless still: the failed step's number was given back. */
	ck_assert_int_eq(q_int("SELECT last_value FROM invoice_counters WHERE year = 2027", NULL), 5);
}
END_TEST

/* ---- declines and dunning ---- */

/*
 * Renewal on 2027-02-15 08:00 declined (soft): past_due, playback still
 * allowed; retries 1, 3, 5 and 7 days later all declined; the warning
 * goes out when one retry is left; after the fourth: on_hold, playback
 * stops (payment_required), the invoice is uncollectible.  A new card
 * pays at once, from a new anchor (the day of recovery).
 */
START_TEST(declines_follow_the_retry_schedule_to_on_hold_and_back)
{
	char acc[IDS_MAX];
	struct bill_subscription sub = {0};
	struct bill_entitlements ent;
	struct bill_dunning d;
	subscribed("US", "standard", acc, &sub);
	switch_card(acc, "pm_card_declined");
	const int64_t due = sub.current_period_end;
	struct bill_run_stats s = run_at(due);
	ck_assert_int_eq(s.failed, 1);
	/* The retry is due a day later: the scheduler sees it then, not before. */
	int64_t waiting = -1;
	assert_err(bill_run_due_count(db, due + 1 * DAY - 1, &waiting), ERR_OK);
	ck_assert_int_eq(waiting, 0);
	assert_err(bill_run_due_count(db, due + 1 * DAY, &waiting), ERR_OK);
	ck_assert_int_eq(waiting, 1);
	struct bill_subscription now = sub_of(acc);
	ck_assert_int_eq(now.state, BILL_PAST_DUE);
	ck_assert_int_eq(now.current_period_start, due); /* the period moved on; it is owed */
	assert_err(bill_dunning_get(db, now.id, &d), ERR_OK);
	ck_assert_int_eq(d.failed_payments, 1);
	ck_assert_int_eq(d.next_retry_at, due + 1 * DAY);
	ck_assert(d.next_retry_charges);
	ck_assert(d.open_invoice_id[0]);
	assert_err(bill_entitlements(db, acc, &ent), ERR_OK);
	ck_assert(ent.playback_allowed);
	ck_assert_int_eq(notifications(acc, "payment_failed"), 1);
	ck_assert_int_eq(notifications(acc, "access_ending_soon"), 0);

	static const int64_t retry_days[] = {1, 3, 5};
	for (size_t i = 0; i < N_ROWS(retry_days); i++) {
		s = run_at(due + retry_days[i] * DAY - 1);
		ck_assert_int_eq(s.processed, 0); /* not yet */
		s = run_at(due + retry_days[i] * DAY);
		ck_assert_int_eq(s.failed, 1);
		ck_assert_int_eq(sub_of(acc).state, BILL_PAST_DUE);
	}
	assert_err(bill_dunning_get(db, now.id, &d), ERR_OK);
	ck_assert_int_eq(d.failed_payments, 4);
	ck_assert_int_eq(d.next_retry_at, due + 7 * DAY);
	ck_assert_int_eq(notifications(acc, "access_ending_soon"), 1);
	s = run_at(due + 7 * DAY);
	ck_assert_int_eq(sub_of(acc).state, BILL_ON_HOLD);
	assert_err(bill_entitlements(db, acc, &ent), ERR_OK);
	ck_assert(!ent.playback_allowed);
	ck_assert_str_eq(ent.reason, "payment_required");
	ck_assert_int_eq(notifications(acc, "subscription_on_hold"), 1);
	char status[16];
	q_text("SELECT status FROM invoices WHERE id = ?1", d.open_invoice_id, status, sizeof status);
	ck_assert_str_eq(status, "uncollectible");
	ck_assert_int_eq(q_int("SELECT COUNT(*) FROM payment_attempts WHERE invoice_id = ?1", d.open_invoice_id), 5);
	assert_err(bill_dunning_get(db, now.id, &d), ERR_OK);
	ck_assert_int_eq(d.on_hold_since, due + 7 * DAY);
	ck_assert_int_eq(d.ends_at, due + 37 * DAY);

	/* Ten days into the hold the member adds a working card. */
	ck_assert_int_eq(clock_set(due + 17 * DAY), ERR_OK);
	attach(acc, "pm_card_visa", NULL);
	struct bill_subscription back = sub_of(acc);
	ck_assert_int_eq(back.state, BILL_ACTIVE);
	ck_assert_int_eq(back.billing_anchor, due + 17 * DAY);
	ck_assert_int_eq(back.current_period_start, due + 17 * DAY);
	ck_assert_int_eq(back.current_period_end, bill_add_months(due + 17 * DAY, 1));
	assert_err(bill_entitlements(db, acc, &ent), ERR_OK);
	ck_assert(ent.playback_allowed);
	struct db_stmt *st = NULL;
	ck_assert_int_eq(db_prepare(db, "SELECT total, status FROM invoices WHERE subscription_id = ?1"
				    " AND period_start = ?2", &st), ERR_OK);
	db_bind_text(st, 1, back.id);
	db_bind_int64(st, 2, due + 17 * DAY);
	ck_assert_int_eq(db_step_row(st), ERR_OK);
	ck_assert_int_eq(db_column_int64(st, 0), 1947);
	ck_assert_str_eq(db_column_text(st, 1), "paid");
	db_done(st);
	/* And it renews from the new anchor. */
	s = run_at(back.current_period_end);
	ck_assert_int_eq(s.renewed, 1);
	/* Nothing later ends it: the hold is over. */
	s = run_at(due + 60 * DAY);
	ck_assert_int_eq(sub_of(acc).state, BILL_ACTIVE);
}
END_TEST

START_TEST(a_new_card_while_past_due_pays_the_open_invoice)
{
	char acc[IDS_MAX];
	struct bill_subscription sub = {0};
	subscribed("JP", "standard", acc, &sub);
	switch_card(acc, "pm_card_insufficient_funds");
	run_at(sub.current_period_end);
	ck_assert_int_eq(sub_of(acc).state, BILL_PAST_DUE);
	char inv[IDS_MAX];
	q_text("SELECT id FROM invoices WHERE subscription_id = ?1 AND billing_reason = 'subscription_cycle'",
	       sub.id, inv, sizeof inv);
	/* A card that is declined too changes nothing but the attempts. */
	attach(acc, "pm_card_declined", NULL);
	ck_assert_int_eq(sub_of(acc).state, BILL_PAST_DUE);
	ck_assert_int_eq(q_int("SELECT COUNT(*) FROM payment_attempts WHERE invoice_id = ?1", inv), 2);
	attach(acc, "pm_card_mastercard", NULL);
	struct bill_subscription back = sub_of(acc);
	ck_assert_int_eq(back.state, BILL_ACTIVE);
	ck_assert_int_eq(back.billing_anchor, T0); /* same period: access never stopped */
	ck_assert_int_eq(back.current_period_start, sub.current_period_end);
	char status[16];
	q_text("SELECT status FROM invoices WHERE id = ?1", inv, status, sizeof status);
	ck_assert_str_eq(status, "paid");
	/* The retry schedule is gone. */
	struct bill_run_stats s = run_at(sub.current_period_end + 8 * DAY);
	ck_assert_int_eq(s.processed, 0);
	ck_assert_int_eq(q_int("SELECT COUNT(*) FROM payment_attempts WHERE invoice_id = ?1", inv), 3);
}
END_TEST

/*
 * An expired card is a hard decline: the scheduled steps do not charge it
 * again (one attempt in all), the member still has the week to give a new
 * card, then on_hold, then after 30 days on hold: ended.
 */
START_TEST(hard_decline_is_not_retried_and_ends_after_the_hold)
{
	char acc[IDS_MAX];
	struct bill_subscription sub = {0};
	subscribed("KW", "standard", acc, &sub);
	switch_card(acc, "pm_card_expired");
	const int64_t due = sub.current_period_end;
	run_at(due);
	struct bill_dunning d;
	assert_err(bill_dunning_get(db, sub.id, &d), ERR_OK);
	ck_assert(!d.next_retry_charges);
	ck_assert_int_eq(d.next_retry_at, due + DAY);
	char inv[IDS_MAX];
	snprintf(inv, sizeof inv, "%s", d.open_invoice_id);
	run_at(due + 1 * DAY);
	run_at(due + 3 * DAY);
	run_at(due + 5 * DAY);
	ck_assert_int_eq(sub_of(acc).state, BILL_PAST_DUE);
	ck_assert_int_eq(notifications(acc, "access_ending_soon"), 1);
	run_at(due + 7 * DAY);
	ck_assert_int_eq(sub_of(acc).state, BILL_ON_HOLD);
	ck_assert_int_eq(q_int("SELECT COUNT(*) FROM payment_attempts WHERE invoice_id = ?1", inv), 1);
	ck_assert_int_eq(q_int("SELECT hard_decline FROM payment_attempts WHERE invoice_id = ?1", inv), 1);
	struct bill_run_stats s = run_at(due + 37 * DAY - 1);
	ck_assert_int_eq(s.ended, 0);
	s = run_at(due + 37 * DAY);
	ck_assert_int_eq(s.ended, 1);
	struct bill_subscription after = sub_of(acc);
	ck_assert_int_eq(after.state, BILL_ENDED);
	ck_assert_int_eq(after.ended_at, due + 37 * DAY);
	ck_assert_int_eq(notifications(acc, "subscription_ended"), 1);
	struct bill_entitlements ent;
	assert_err(bill_entitlements(db, acc, &ent), ERR_OK);
	ck_assert_str_eq(ent.reason, "subscription_ended");
}
END_TEST

/* A clock jump over the whole schedule gives the same history. */
START_TEST(a_clock_jump_walks_the_schedule_in_order)
{
	char acc[IDS_MAX];
	struct bill_subscription sub = {0};
	subscribed("US", "standard", acc, &sub);
	switch_card(acc, "pm_card_declined");
	const int64_t due = sub.current_period_end;
	struct bill_run_stats s = run_at(due + 40 * DAY);
	ck_assert_int_eq(s.failed, 5);
	ck_assert_int_eq(s.ended, 1);
	struct bill_subscription after = sub_of(acc);
	ck_assert_int_eq(after.state, BILL_ENDED);
	ck_assert_int_eq(after.ended_at, due + 37 * DAY);
	ck_assert_int_eq(notifications(acc, "payment_failed"), 1);
	ck_assert_int_eq(notifications(acc, "access_ending_soon"), 1);
	ck_assert_int_eq(notifications(acc, "subscription_on_hold"), 1);
	ck_assert_int_eq(notifications(acc, "subscription_ended"), 1);
}
END_TEST

START_TEST(canceling_in_dunning_voids_the_open_invoice)
{
	char acc[IDS_MAX];
	struct bill_subscription sub = {0};
	subscribed("US", "standard", acc, &sub);
	switch_card(acc, "pm_card_declined");
	run_at(sub.current_period_end);
	assert_err(bill_cancel(db, acc, &sub), ERR_OK);
	ck_assert_int_eq(sub.state, BILL_ENDED);
	ck_assert_int_eq(q_int("SELECT COUNT(*) FROM invoices WHERE subscription_id = ?1 AND status = 'void'",
			       sub.id), 1);
	struct bill_run_stats s = run_at(clock_now() + 10 * DAY);
	ck_assert_int_eq(s.processed, 0);
}
END_TEST

/* ---- exactly once ---- */

static int fault_calls;

static enum err crash_once(const char *sub_id, void *ctx)
{
	(void)sub_id;
	(void)ctx;
	return fault_calls++ == 0 ? ERR_IO : ERR_OK;
}

/*
 * The renewal is interrupted after the provider charged and before the
 * commit: the transaction rolls back, nothing of it remains.  The rerun
 * renews it, asking the provider with the same idempotency key: the
 * provider was asked twice and moved money once; the database has one
 * invoice and one attempt.
 */
START_TEST(crash_between_charge_and_commit_then_rerun_charges_once)
{
	char acc[IDS_MAX];
	struct bill_subscription sub = {0};
	subscribed("US", "standard", acc, &sub);
	int calls0 = prov.calls;
	int64_t moved0 = prov.moved;
	fault_calls = 0;
	bill_run_set_fault(crash_once, NULL);
	ck_assert_int_eq(clock_set(sub.current_period_end), ERR_OK);
	struct bill_run_options o = {.started_by = "test", .until = clock_now()};
	struct bill_run_stats s;
	assert_err(bill_run(db, &o, &s), ERR_IO);
	ck_assert_int_eq(s.status, BILL_RUN_FAILED);
	ck_assert_int_eq(prov.calls, calls0 + 1);
	ck_assert_int_eq(cycle_invoices(sub.id), 0);
	ck_assert_int_eq(sub_of(acc).current_period_start, T0);
	ck_assert_int_eq(q_int("SELECT COUNT(*) FROM payment_attempts WHERE account_id = ?1", acc), 1);
	char status[16];
	q_text("SELECT status FROM billing_runs WHERE id = ?1", s.id, status, sizeof status);
	ck_assert_str_eq(status, "failed");

	s = run_at(clock_now());
	ck_assert_int_eq(s.renewed, 1);
	ck_assert_int_eq(prov.calls, calls0 + 2);	/* asked twice */
	ck_assert_int_eq(prov.moved, moved0 + 1947);	/* charged once */
	ck_assert_int_eq(cycle_invoices(sub.id), 1);
	ck_assert_int_eq(q_int("SELECT COUNT(*) FROM payment_attempts WHERE account_id = ?1", acc), 2);
	/* The gapless counter gave the rolled-back number back. */
	ck_assert_int_eq(q_int("SELECT last_value FROM invoice_counters WHERE year = 2027", NULL), 2);
}
END_TEST

static enum err die_here(const char *sub_id, void *ctx)
{
	(void)sub_id;
	(void)ctx;
	_exit(42); /* the process dies between the charge and the commit */
}

/* The same with a real crash: a child process renews and dies before its
 * commit; the parent reruns.  The provider's log (a file, so it survives
 * the child) shows the same key asked twice. */
START_TEST(killed_process_mid_renewal_then_rerun_charges_once)
{
	char acc[IDS_MAX];
	struct bill_subscription sub = {0};
	subscribed("JP", "premium", acc, &sub);
	snprintf(prov.log_path, sizeof prov.log_path, "%s/provider.log", dir);
	ck_assert_int_eq(clock_set(sub.current_period_end), ERR_OK);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct db *child = NULL;
		open_db(&child);
		bill_run_set_fault(die_here, NULL);
		struct bill_run_options o = {.started_by = "child", .until = clock_now()};
		struct bill_run_stats s;
		bill_run(child, &o, &s);
		_exit(0); /* not reached */
	}
	int status = 0;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 42);
	ck_assert_int_eq(cycle_invoices(sub.id), 0);
	struct bill_run_stats s = run_at(clock_now());
	ck_assert_int_eq(s.renewed, 1);
	ck_assert_int_eq(cycle_invoices(sub.id), 1);
	ck_assert_int_eq(q_int("SELECT COUNT(*) FROM payment_attempts WHERE account_id = ?1", acc), 2);
	/* Two requests, one key. */
	FILE *f = fopen(prov.log_path, "r");
	ck_assert_ptr_nonnull(f);
	char a[128] = "", b[128] = "", extra[128];
	ck_assert_ptr_nonnull(fgets(a, sizeof a, f));
	ck_assert_ptr_nonnull(fgets(b, sizeof b, f));
	ck_assert_ptr_null(fgets(extra, sizeof extra, f));
	fclose(f);
	ck_assert_str_eq(a, b);
	ck_assert_ptr_nonnull(strstr(a, sub.id));
	ck_assert_ptr_nonnull(strstr(a, " 2290\n"));
	/* The run the child started never finished: it says so. */
	ck_assert_int_eq(q_int("SELECT COUNT(*) FROM billing_runs WHERE started_by = 'child' AND status = 'running'",
			       NULL), 1);
}
END_TEST

#define MANY 120

struct runner {
	int64_t until;
	struct bill_run_stats stats;
	enum err result;
};

static void *run_thread(void *arg)
{
	struct runner *r = arg;
	struct db *mine = NULL;
	open_db(&mine);
	struct bill_run_options o = {.started_by = "thread", .until = r->until, .batch_size = 10};
	r->result = bill_run(mine, &o, &r->stats);
	db_close(mine);
	return NULL;
}

/* Two runs at once, on two threads with two connections: every
 * subscription renewed and charged exactly once, numbers gapless. */
START_TEST(two_runs_at_once_charge_each_subscription_once)
{
	char acc[IDS_MAX];
	struct bill_subscription sub = {0};
	for (int i = 0; i < MANY; i++)
		subscribed(i % 3 == 0 ? "US" : i % 3 == 1 ? "JP" : "KW", "standard", acc, &sub);
	int calls0 = prov.calls;
	ck_assert_int_eq(clock_set(sub.current_period_end), ERR_OK);
	struct runner r[2];
	memset(r, 0, sizeof r);
	r[0].until = r[1].until = clock_now();
	pthread_t th[2];
	for (int t = 0; t < 2; t++)
		ck_assert_int_eq(pthread_create(&th[t], NULL, run_thread, &r[t]), 0);
	for (int t = 0; t < 2; t++)
		pthread_join(th[t], NULL);
	assert_err(r[0].result, ERR_OK);
	assert_err(r[1].result, ERR_OK);
	ck_assert_int_eq(r[0].stats.renewed + r[1].stats.renewed, MANY);
	ck_assert_int_eq(r[0].stats.errors + r[1].stats.errors, 0);
	ck_assert_int_eq(prov.calls - calls0, MANY);
	ck_assert_int_eq(q_int("SELECT COUNT(*) FROM invoices WHERE billing_reason = 'subscription_cycle'", NULL), MANY);
	ck_assert_int_eq(q_int("SELECT COUNT(*) FROM (SELECT subscription_id FROM invoices"
			       " WHERE billing_reason = 'subscription_cycle' GROUP BY subscription_id"
			       " HAVING COUNT(*) = 1)", NULL), MANY);
	ck_assert_int_eq(q_int("SELECT COUNT(*) FROM payment_attempts", NULL), 2 * MANY);
	ck_assert_int_eq(q_int("SELECT last_value FROM invoice_counters WHERE year = 2027", NULL), 2 * MANY);
	ck_assert_int_eq(q_int("SELECT COUNT(DISTINCT number) FROM invoices", NULL), 2 * MANY);
}
END_TEST

/* ---- price changes ---- */

static struct bill_price_change schedule(const char *plan, const char *country, int64_t amount,
					 const char *currency, int64_t effective, int64_t notice,
					 int64_t grandfather)
{
	struct money m;
	struct bill_price_change pc;
	ck_assert_int_eq(money_init(&m, amount, currency), ERR_OK);
	struct bill_price_change_params p = {plan, country, &m, effective, notice, grandfather};
	assert_err(bill_price_change_schedule(db, &p, NULL, &pc), ERR_OK);
	return pc;
}

static int64_t cycle_total_at(const char *sub_id, int64_t period_start)
{
	struct db_stmt *st = NULL;
	int64_t v = -1;
	ck_assert_int_eq(db_prepare(db, "SELECT subtotal FROM invoices WHERE subscription_id = ?1"
				    " AND period_start = ?2", &st), ERR_OK);
	db_bind_text(st, 1, sub_id);
	db_bind_int64(st, 2, period_start);
	if (db_step_row(st) == ERR_OK)
		v = db_column_int64(st, 0);
	db_done(st);
	return v;
}

/*
 * Anchored 2027-01-15 08:00; renewals on the 15th.  Scheduled on
 * 2027-01-20 08:00 (notified then), effective at once:
 *   notice 20 days -> from Feb 9 -> first renewal Feb 15
 *   notice 30 days -> from Feb 19 -> Mar 15
 *   notice 31 days -> from Feb 20 -> Mar 15
 *   notice 60 days -> from Mar 21 -> Apr 15
 * and effective 2027-04-01 with 30 days' notice -> Apr 15.
 */
START_TEST(notice_period_arithmetic)
{
	static const struct {
		int64_t notice;
		const char *effective;	/* NULL: at scheduling */
		const char *applies;
	} rows[] = {
		{20, NULL, "2027-02-15T08:00:00Z"},
		{30, NULL, "2027-03-15T08:00:00Z"},
		{31, NULL, "2027-03-15T08:00:00Z"},
		{60, NULL, "2027-04-15T08:00:00Z"},
		{30, "2027-04-01T00:00:00Z", "2027-04-15T08:00:00Z"},
		{0, NULL, "2027-02-15T08:00:00Z"},
	};
	static const char *const plans[] = {"standard_with_ads", "basic", "standard", "premium"};
	char acc[N_ROWS(rows)][IDS_MAX];
	struct bill_subscription sub[N_ROWS(rows)];
	/* One subscriber and one plan (JP sells four) per row, so the changes
	 * do not meet; rows 4 and 5 share plans with rows 0 and 1 in other
	 * countries. */
	static const char *const countries[] = {"JP", "JP", "JP", "JP", "KW", "KW"};
	for (size_t i = 0; i < N_ROWS(rows); i++)
		subscribed(countries[i], plans[i % 4], acc[i], &sub[i]);
	ck_assert_int_eq(clock_set(at("2027-01-20T08:00:00Z")), ERR_OK);
	for (size_t i = 0; i < N_ROWS(rows); i++) {
		int64_t eff = rows[i].effective ? at(rows[i].effective) : clock_now();
		struct bill_price_change pc = schedule(plans[i % 4], countries[i],
						       sub[i].price.amount.amount + 100,
						       sub[i].price.amount.currency, eff, rows[i].notice, 0);
		ck_assert_int_eq(pc.notified, 1);
		struct bill_pending_price pp = {0};
		assert_err(bill_pending_price_change(db, &sub[i], &pp), ERR_OK);
		ck_assert_msg(pp.has, "row %zu: nothing pending", i);
		char got[32];
		ck_assert_msg(pp.applies_at == at(rows[i].applies), "row %zu: applies %s, want %s", i,
			      clock_format(pp.applies_at, got, sizeof got), rows[i].applies);
		ck_assert_int_eq(pp.notified_at, clock_now());
		ck_assert(!pp.consent_required);
		ck_assert_int_eq(notifications(acc[i], "price_change_notice"), 1);
	}
	/* Walk the renewals: each pays the old price before its date, the new
	 * one from it. */
	for (int64_t k = 1; k <= 3; k++)
		run_at(bill_add_months(T0, k));
	for (size_t i = 0; i < N_ROWS(rows); i++) {
		int64_t applies = at(rows[i].applies);
		for (int64_t k = 1; k <= 3; k++) {
			int64_t R = bill_add_months(T0, k);
			int64_t want = sub[i].price.amount.amount + (R >= applies ? 100 : 0);
			ck_assert_msg(cycle_total_at(sub[i].id, R) == want, "row %zu renewal %lld: %lld, want %lld",
				      i, (long long)k, (long long)cycle_total_at(sub[i].id, R), (long long)want);
		}
	}
	/* New subscribers pay the new price from its effective time at once. */
	char late[IDS_MAX];
	struct bill_subscription ls = {0};
	subscribed("JP", "standard", late, &ls);
	ck_assert_int_eq(ls.price.amount.amount, sub[2].price.amount.amount + 100);
}
END_TEST

/*
 * Consent country (DE): an increase needs acceptance before the renewal
 * that would charge it; without it the subscription ends at the end of its
 * period and is not charged.  Notify country (US): charged without asking.
 * A decrease needs no consent anywhere.
 */
START_TEST(consent_country_ends_unless_accepted_notify_country_charges)
{
	char de1[IDS_MAX], de2[IDS_MAX], us[IDS_MAX];
	struct bill_subscription s1 = {0}, s2 = {0}, su = {0};
	subscribed("DE", "standard", de1, &s1);
	subscribed("DE", "standard", de2, &s2);
	subscribed("US", "standard", us, &su);
	bool consent = false;
	assert_err(bill_country_requires_consent(db, "DE", &consent), ERR_OK);
	ck_assert(consent);
	assert_err(bill_country_requires_consent(db, "US", &consent), ERR_OK);
	ck_assert(!consent);
	ck_assert_int_eq(clock_set(at("2027-01-20T08:00:00Z")), ERR_OK); /* notice runs to Feb 19 */
	schedule("standard", "DE", 1499, "EUR", clock_now(), 30, 0);
	schedule("standard", "US", 1899, "USD", clock_now(), 30, 0);
	struct bill_pending_price pp = {0};
	assert_err(bill_pending_price_change(db, &s1, &pp), ERR_OK);
	ck_assert(pp.has && pp.consent_required && !pp.accepted);
	ck_assert_int_eq(pp.applies_at, bill_add_months(T0, 2));
	assert_err(bill_pending_price_change(db, &su, &pp), ERR_OK);
	ck_assert(pp.has && !pp.consent_required);
	/* de2 accepts; de1 does not. */
	assert_err(bill_price_change_accept(db, de2, &pp), ERR_OK);
	ck_assert(pp.accepted);
	assert_err(bill_price_change_accept(db, de2, &pp), ERR_OK); /* twice is harmless */
	ck_assert_int_eq(q_int("SELECT COUNT(*) FROM events WHERE type = 'price_change.accepted'", NULL), 1);
	/* Feb 15: before the notice ran out, everyone pays the old price. */
	run_at(bill_add_months(T0, 1));
	ck_assert_int_eq(cycle_total_at(s1.id, bill_add_months(T0, 1)), 1399);
	ck_assert_int_eq(cycle_total_at(su.id, bill_add_months(T0, 1)), 1799);
	/* Mar 15: de1 ends instead of paying, de2 and us pay the new price. */
	struct bill_run_stats s = run_at(bill_add_months(T0, 2));
	ck_assert_int_eq(s.ended, 1);
	struct bill_subscription after = sub_of(de1);
	ck_assert_int_eq(after.state, BILL_ENDED);
	ck_assert_int_eq(after.ended_at, bill_add_months(T0, 2));
	ck_assert_int_eq(cycle_total_at(s1.id, bill_add_months(T0, 2)), -1);
	ck_assert_int_eq(notifications(de1, "subscription_ended"), 1);
	ck_assert_int_eq(cycle_total_at(s2.id, bill_add_months(T0, 2)), 1499);
	ck_assert_int_eq(cycle_total_at(su.id, bill_add_months(T0, 2)), 1899);
	ck_assert_int_eq(sub_of(us).price.amount.amount, 1899);
	/* Nothing is pending any more. */
	assert_err(bill_pending_price_change(db, &s2, &pp), ERR_OK);
	s2 = sub_of(de2);
	assert_err(bill_pending_price_change(db, &s2, &pp), ERR_OK);
	ck_assert(!pp.has);
	assert_err(bill_price_change_accept(db, de2, &pp), ERR_NOT_FOUND);

	/* A decrease in DE applies without consent. */
	schedule("standard", "DE", 1299, "EUR", clock_now(), 30, 0);
	run_at(bill_add_months(T0, 4));
	ck_assert_int_eq(cycle_total_at(s2.id, bill_add_months(T0, 4)), 1299);
}
END_TEST

/* Grandfathering: existing subscribers keep their price for N months after
 * the effective time; new ones pay the new price at once. */
START_TEST(grandfathered_subscribers_keep_their_price_for_n_months)
{
	char acc[IDS_MAX], late[IDS_MAX];
	struct bill_subscription sub = {0}, ls = {0};
	subscribed("KW", "premium", acc, &sub);
	schedule("premium", "KW", 4000, "KWD", clock_now(), 30, 3);
	struct bill_pending_price pp = {0};
	assert_err(bill_pending_price_change(db, &sub, &pp), ERR_OK);
	ck_assert_int_eq(pp.applies_at, bill_add_months(T0, 3)); /* effective + 3 months */
	subscribed("KW", "premium", late, &ls);
	ck_assert_int_eq(ls.price.amount.amount, 4000);
	for (int64_t k = 1; k <= 4; k++)
		run_at(bill_add_months(T0, k));
	ck_assert_int_eq(cycle_total_at(sub.id, bill_add_months(T0, 1)), 3750);
	ck_assert_int_eq(cycle_total_at(sub.id, bill_add_months(T0, 2)), 3750);
	ck_assert_int_eq(cycle_total_at(sub.id, bill_add_months(T0, 3)), 4000);
	ck_assert_int_eq(cycle_total_at(sub.id, bill_add_months(T0, 4)), 4000);
}
END_TEST

/* Someone who subscribed after the change was scheduled, at the old price,
 * is told at their next renewal; their notice runs from then. */
START_TEST(late_subscriber_is_told_at_the_next_renewal)
{
	char acc[IDS_MAX];
	struct bill_subscription sub = {0};
	schedule("standard", "JP", 1690, "JPY", at("2027-06-01T00:00:00Z"), 30, 0);
	subscribed("JP", "standard", acc, &sub); /* before June: 1590 */
	ck_assert_int_eq(sub.price.amount.amount, 1590);
	ck_assert_int_eq(notifications(acc, "price_change_notice"), 0);
	run_at(bill_add_months(T0, 1));
	ck_assert_int_eq(notifications(acc, "price_change_notice"), 1);
	struct bill_pending_price pp = {0};
	struct bill_subscription now = sub_of(acc);
	assert_err(bill_pending_price_change(db, &now, &pp), ERR_OK);
	ck_assert_int_eq(pp.notified_at, bill_add_months(T0, 1));
	ck_assert_int_eq(pp.applies_at, at("2027-06-15T08:00:00Z"));
	for (int64_t k = 2; k <= 5; k++)
		run_at(bill_add_months(T0, k));
	ck_assert_int_eq(cycle_total_at(sub.id, at("2027-05-15T08:00:00Z")), 1590);
	ck_assert_int_eq(cycle_total_at(sub.id, at("2027-06-15T08:00:00Z")), 1690);
}
END_TEST

START_TEST(price_change_refuses_bad_requests_and_changes_nothing)
{
	struct money usd, jpy;
	struct bill_price_change pc;
	money_init(&usd, 1899, "USD");
	money_init(&jpy, 1899, "JPY");
	struct bill_price_change_params p = {"standard", "US", &usd, clock_now() - 1, 30, 0};
	assert_err(bill_price_change_schedule(db, &p, NULL, &pc), ERR_INVALID_PARAMETER);
	p.effective_at = clock_now();
	p.notice_days = 366;
	assert_err(bill_price_change_schedule(db, &p, NULL, &pc), ERR_INVALID_PARAMETER);
	p.notice_days = 30;
	p.amount = &jpy;
	assert_err(bill_price_change_schedule(db, &p, NULL, &pc), ERR_CURRENCY_MISMATCH);
	p.amount = &usd;
	p.plan_code = "gold";
	assert_err(bill_price_change_schedule(db, &p, NULL, &pc), ERR_UNKNOWN_PLAN);
	p.plan_code = "basic";
	assert_err(bill_price_change_schedule(db, &p, NULL, &pc), ERR_PLAN_NOT_AVAILABLE_IN_REGION);
	p.plan_code = "standard";
	p.country = "ZZ";
	assert_err(bill_price_change_schedule(db, &p, NULL, &pc), ERR_COUNTRY_NOT_SUPPORTED);
	ck_assert_int_eq(q_int("SELECT COUNT(*) FROM price_changes", NULL), 0);
	p.country = "US";
	assert_err(bill_price_change_schedule(db, &p, NULL, &pc), ERR_OK);
	assert_err(bill_price_change_schedule(db, &p, NULL, &pc), ERR_CONFLICT);
	ck_assert_int_eq(q_int("SELECT COUNT(*) FROM price_changes", NULL), 1);
}
END_TEST

/* A new catalog version keeps a price change that takes effect later. */
START_TEST(catalog_import_keeps_scheduled_price_changes)
{
	schedule("premium", "US", 2699, "USD", at("2027-03-01T00:00:00Z"), 30, 0);
	char *doc = NULL;
	{
		struct db_stmt *st = NULL;
		ck_assert_int_eq(db_prepare(db, "SELECT document FROM catalog_versions WHERE version = 1", &st), ERR_OK);
		ck_assert_int_eq(db_step_row(st), ERR_OK);
		doc = strdup(db_column_text(st, 0));
		db_done(st);
	}
	json_t *d = json_loads(doc, 0, NULL);
	free(doc);
	json_object_set_new(json_object_get(json_object_get(json_object_get(d, "countries"), "US"), "prices"),
			    "standard", json_string("18.49"));
	json_object_set_new(d, "effective_from", json_string("2027-01-15T08:00:00Z"));
	char *text = json_dumps(d, 0);
	json_decref(d);
	int64_t v = 0;
	assert_err(bill_catalog_import(db, text, "import", NULL, &v, NULL), ERR_OK);
	free(text);
	ck_assert_int_eq(v, 2);
	struct bill_offers offers;
	assert_err(bill_offers_for_country(db, "US", at("2027-03-01T00:00:00Z"), &offers), ERR_OK);
	ck_assert_int_eq(offers.catalog_version, 2);
	ck_assert_int_eq(offers.items[offers.count - 1].price.amount.amount, 2699);
	ck_assert_int_eq(offers.items[offers.count - 2].price.amount.amount, 1849);
	/* The policy is part of the catalog and validated. */
	ck_assert_int_eq(q_int("SELECT COUNT(*) FROM country_policies WHERE catalog_version = 2"
			       " AND price_change_policy = 'consent'", NULL), 1);
	json_t *errors = NULL;
	static const char bad[] =
		"{\"plans\": [{\"code\": \"p\", \"name\": \"P\", \"max_streams\": 1, \"resolution\": \"HD\","
		" \"download_devices\": 0, \"extra_member_slots\": 0, \"ads\": false, \"device_types\": [\"tv\"]}],"
		" \"countries\": {\"US\": {\"currency\": \"USD\", \"tax\": {\"inclusive\": false, \"rate_bps\": 0,"
		" \"name\": \"tax\"}, \"prices\": {\"p\": \"1.00\"}, \"price_change_policy\": \"ask\"}}}";
	assert_err(bill_catalog_import(db, bad, "import", &errors, &v, NULL), ERR_VALIDATION);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(errors, 0), "field")),
			 "countries.US.price_change_policy");
	json_decref(errors);
}
END_TEST

/* ---- credit ---- */

START_TEST(account_credit_pays_first)
{
	char acc[IDS_MAX];
	struct bill_subscription sub = {0};
	struct bill_credit_balance bal;
	struct money m;
	subscribed("US", "standard", acc, &sub);
	money_init(&m, 500, "USD");
	assert_err(bill_credit_grant(db, acc, &m, NULL, &bal), ERR_OK);
	ck_assert_int_eq(bal.balance.amount, 500);
	money_init(&m, 1000, "JPY"); /* another currency is not used for USD invoices */
	assert_err(bill_credit_grant(db, acc, &m, NULL, &bal), ERR_OK);
	run_at(sub.current_period_end);
	struct db_stmt *st = NULL;
	ck_assert_int_eq(db_prepare(db, "SELECT i.total, i.credit_applied, a.amount, i.status FROM invoices i"
				    " JOIN payment_attempts a ON a.invoice_id = i.id"
				    " WHERE i.subscription_id = ?1 AND i.billing_reason = 'subscription_cycle'", &st),
			 ERR_OK);
	db_bind_text(st, 1, sub.id);
	ck_assert_int_eq(db_step_row(st), ERR_OK);
	ck_assert_int_eq(db_column_int64(st, 0), 1947);
	ck_assert_int_eq(db_column_int64(st, 1), 500);
	ck_assert_int_eq(db_column_int64(st, 2), 1447); /* the card pays the rest */
	ck_assert_str_eq(db_column_text(st, 3), "paid");
	db_done(st);
	struct bill_credit_balance list[4];
	size_t n = 0;
	assert_err(bill_credit_balances(db, acc, list, 4, &n), ERR_OK);
	ck_assert_int_eq(n, 2);
	ck_assert_str_eq(list[0].balance.currency, "JPY");
	ck_assert_int_eq(list[0].balance.amount, 1000);
	ck_assert_int_eq(list[1].balance.amount, 0);
	ck_assert_int_eq(q_int("SELECT COUNT(*) FROM credit_ledger WHERE account_id = ?1", acc), 3);
	ck_assert_int_eq(q_int("SELECT SUM(amount) FROM credit_ledger WHERE account_id = ?1 AND currency = 'USD'",
			       acc), 0);

	/* More credit than the invoice: no card charge at all. */
	money_init(&m, 5000, "USD");
	assert_err(bill_credit_grant(db, acc, &m, NULL, &bal), ERR_OK);
	int calls = prov.calls;
	run_at(bill_add_months(T0, 2));
	ck_assert_int_eq(prov.calls, calls);
	assert_err(bill_credit_balances(db, acc, list, 4, &n), ERR_OK);
	ck_assert_int_eq(list[1].balance.amount, 5000 - 1947);
	ck_assert_int_eq(cycle_total_at(sub.id, bill_add_months(T0, 2)), 1799);
	ck_assert_int_eq(q_int("SELECT COUNT(*) FROM invoices WHERE subscription_id = ?1 AND status = 'paid'",
			       sub.id), 3);

	/* Bad grants change nothing. */
	money_init(&m, 0, "USD");
	assert_err(bill_credit_grant(db, acc, &m, NULL, &bal), ERR_INVALID_AMOUNT);
	money_init(&m, 100, "USD");
	assert_err(bill_credit_grant(db, "acc_nobody", &m, NULL, &bal), ERR_NOT_FOUND);
	ck_assert_int_eq(q_int("SELECT COUNT(*) FROM credit_ledger", NULL), 5);
}
END_TEST

/* ---- refunds ---- */

/*
 * $19.47 paid ($1.48 tax).  Refund $5.00: credit note HEA-CN-2027-000001,
 * tax 148 x 500 / 1947 = 38.01 -> $0.38.  Then the rest, $14.47: note 2,
 * tax 148 x 1447 / 1947 = 109.99 -> $1.10 (together $1.48).  Nothing is
 * left: a third refund is refused.
 */
START_TEST(partial_then_full_refund_as_credit_notes)
{
	char acc[IDS_MAX], inv[IDS_MAX], other[IDS_MAX];
	struct bill_subscription sub = {0}, os = {0};
	struct bill_refund r = {0};
	struct money m;
	subscribed("US", "standard", acc, &sub);
	subscribed("US", "standard", other, &os);
	q_text("SELECT id FROM invoices WHERE subscription_id = ?1", sub.id, inv, sizeof inv);
	money_init(&m, 2000, "USD");
	assert_err(bill_refund_create(db, inv, NULL, &m, NULL, &r), ERR_REFUND_TOO_LARGE);
	money_init(&m, 500, "JPY");
	assert_err(bill_refund_create(db, inv, NULL, &m, NULL, &r), ERR_CURRENCY_MISMATCH);
	money_init(&m, 500, "USD");
	assert_err(bill_refund_create(db, inv, other, &m, NULL, &r), ERR_NOT_FOUND);
	assert_err(bill_refund_create(db, "inv_nope", NULL, &m, NULL, &r), ERR_NOT_FOUND);
	ck_assert_int_eq(q_int("SELECT COUNT(*) FROM credit_notes", NULL), 0);

	assert_err(bill_refund_create(db, inv, acc, &m, NULL, &r), ERR_OK);
	ck_assert_str_eq(r.number, "HEA-CN-2027-000001");
	ck_assert_int_eq(r.tax.amount, 38);
	ck_assert_int_eq(r.refunded_total.amount, 500);
	assert_err(bill_refund_create(db, inv, NULL, NULL, NULL, &r), ERR_OK);
	ck_assert_str_eq(r.number, "HEA-CN-2027-000002");
	ck_assert_int_eq(r.amount.amount, 1447);
	ck_assert_int_eq(r.tax.amount, 110);
	ck_assert_int_eq(r.refunded_total.amount, 1947);
	assert_err(bill_refund_create(db, inv, NULL, NULL, NULL, &r), ERR_REFUND_TOO_LARGE);
	ck_assert_int_eq(q_int("SELECT amount_refunded FROM invoices WHERE id = ?1", inv), 1947);
	json_t *doc = NULL;
	assert_err(bill_invoice_json(db, acc, inv, &doc), ERR_OK);
	ck_assert_int_eq(json_array_size(json_object_get(doc, "credit_notes")), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(doc, "amount_refunded"), "amount")), 1947);
	json_decref(doc);
	ck_assert_int_eq(notifications(acc, "refund_issued"), 2);

	/* An open invoice cannot be refunded. */
	switch_card(other, "pm_card_declined");
	run_at(os.current_period_end);
	char open_inv[IDS_MAX];
	q_text("SELECT id FROM invoices WHERE subscription_id = ?1 AND status = 'open'", os.id, open_inv,
	       sizeof open_inv);
	assert_err(bill_refund_create(db, open_inv, NULL, NULL, NULL, &r), ERR_INVOICE_NOT_PAID);
}
END_TEST

static Suite *renewals_suite(void)
{
	Suite *s = suite_create("renewals");
	TCase *pure = tcase_create("settings");
	tcase_add_test(pure, retry_schedule_parses_increasing_days);
	suite_add_tcase(s, pure);
	TCase *tc = tcase_create("renewals");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, year_of_monthly_renewals_usd_jpy_kwd);
	tcase_add_test(tc, a_late_run_catches_up_each_period);
	tcase_add_test(tc, canceled_subscription_ends_at_its_period_end_without_a_charge);
	tcase_add_test(tc, scheduled_downgrade_applies_at_renewal);
	tcase_add_test(tc, extra_member_addon_is_billed_at_renewal);
	tcase_add_test(tc, one_failing_step_leaves_the_rest_of_the_batch_renewed);
	tcase_add_test(tc, declines_follow_the_retry_schedule_to_on_hold_and_back);
	tcase_add_test(tc, a_new_card_while_past_due_pays_the_open_invoice);
	tcase_add_test(tc, hard_decline_is_not_retried_and_ends_after_the_hold);
	tcase_add_test(tc, a_clock_jump_walks_the_schedule_in_order);
	tcase_add_test(tc, canceling_in_dunning_voids_the_open_invoice);
	tcase_add_test(tc, crash_between_charge_and_commit_then_rerun_charges_once);
	tcase_add_test(tc, killed_process_mid_renewal_then_rerun_charges_once);
	tcase_add_test(tc, two_runs_at_once_charge_each_subscription_once);
	tcase_add_test(tc, notice_period_arithmetic);
	tcase_add_test(tc, consent_country_ends_unless_accepted_notify_country_charges);
	tcase_add_test(tc, grandfathered_subscribers_keep_their_price_for_n_months);
	tcase_add_test(tc, late_subscriber_is_told_at_the_next_renewal);
	tcase_add_test(tc, price_change_refuses_bad_requests_and_changes_nothing);
	tcase_add_test(tc, catalog_import_keeps_scheduled_price_changes);
	tcase_add_test(tc, account_credit_pays_first);
	tcase_add_test(tc, partial_then_full_refund_as_credit_notes);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	log_set_level(LOG_LEVEL_ERROR);
	SRunner *sr = srunner_create(renewals_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0;
}
