/* core/batch: group commit through one writer thread, savepoints per job,
 * completion by callback or wait, back-pressure, stop, and the fallback. */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "core/batch.h"
#include "core/db.h"
#include "core/log.h"
#include "tests/unit.h"

static struct unit_db u;

static void setup(void)
{
	struct db_options o;
	unit_db_open(&u);
	ck_assert_int_eq(db_exec(u.db, "CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER)"), ERR_OK);
	db_options_init(&o);
	o.path = u.path;
	ck_assert_int_eq(db_configure(&o), ERR_OK);
}

static void teardown(void)
{
	batch_stop();
	db_close_all();
	unit_db_close(&u);
}

static int64_t rows(const char *sql) { return unit_query_int(u.db, sql); }

/* ---- jobs ---- */

struct insert_job {
	int64_t id;
	enum err fail_with;	/* returned after inserting: the insert must not stay */
	enum err result;
	atomic_bool done;
};

static enum err insert_fn(struct db *db, void *arg)
{
	struct insert_job *j = arg;
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db, "INSERT INTO t (id, v) VALUES (?1, 1)", &st);
	if (e != ERR_OK)
		return e;
	db_bind_int64(st, 1, j->id);
	e = db_step_done(st);
	db_done(st);
	return e == ERR_OK ? j->fail_with : e;
}

static void insert_done(void *arg, enum err e)
{
	struct insert_job *j = arg;
	j->result = e;
	atomic_store(&j->done, true);
}

/* Holds the writer inside a batch until released, so that the jobs queued
 * meanwhile all land in the next batch together. */
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static bool gate_entered, gate_open;

static enum err gate_fn(struct db *db, void *arg)
{
	(void)db;
	(void)arg;
	pthread_mutex_lock(&gate_mu);
	gate_entered = true;
	pthread_cond_broadcast(&gate_cv);
	while (!gate_open)
		pthread_cond_wait(&gate_cv, &gate_mu);
	pthread_mutex_unlock(&gate_mu);
	return ERR_OK;
}

static void gate_done(void *arg, enum err e)
{
	(void)arg;
	(void)e;
}

static void gate_close_and_wait(void)
{
	pthread_mutex_lock(&gate_mu);
	gate_entered = gate_open = false;
	pthread_mutex_unlock(&gate_mu);
	ck_assert(batch_submit(gate_fn, NULL, gate_done, NULL));
	pthread_mutex_lock(&gate_mu);
	while (!gate_entered)
		pthread_cond_wait(&gate_cv, &gate_mu);
	pthread_mutex_unlock(&gate_mu);
}

static void gate_release(void)
{
	pthread_mutex_lock(&gate_mu);
	gate_open = true;
	pthread_cond_broadcast(&gate_cv);
	pthread_mutex_unlock(&gate_mu);
}

/* ---- without a writer ---- */

START_TEST(without_a_writer_run_is_a_plain_transaction_and_submit_declines)
{
	struct insert_job ok = {.id = 1}, bad = {.id = 2, .fail_with = ERR_CONFLICT};
	ck_assert(!batch_running());
	ck_assert_int_eq(batch_run(u.db, insert_fn, &ok), ERR_OK);
	ck_assert_int_eq(batch_run(u.db, insert_fn, &bad), ERR_CONFLICT);
	ck_assert_int_eq(rows("SELECT COUNT(*) FROM t WHERE id = 1"), 1);
	ck_assert_int_eq(rows("SELECT COUNT(*) FROM t WHERE id = 2"), 0);
	ck_assert(!batch_submit(insert_fn, &ok, insert_done, &ok));
	ck_assert(!atomic_load(&ok.done));
}
END_TEST

/* ---- with the writer ---- */

START_TEST(a_waiting_job_is_committed_before_it_returns)
{
	struct insert_job j = {.id = 7};
	ck_assert_int_eq(batch_start(NULL), ERR_OK);
	ck_assert(batch_running());
	ck_assert_int_eq(batch_run(u.db, insert_fn, &j), ERR_OK);
	/* Read through another connection: committed, not just written. */
	ck_assert_int_eq(rows("SELECT COUNT(*) FROM t WHERE id = 7"), 1);
}
END_TEST

START_TEST(a_failing_job_rolls_back_only_itself)
{
	struct insert_job a = {.id = 1}, b = {.id = 2, .fail_with = ERR_CONFLICT}, c = {.id = 3};
	/* Unique key clash inside the batch: job d fails on its own insert. */
	struct insert_job d = {.id = 1};
	uint64_t jobs0, batches0, jobs1, batches1;
	ck_assert_int_eq(batch_start(NULL), ERR_OK);
	gate_close_and_wait();
	batch_stats(&jobs0, &batches0);
	ck_assert(batch_submit(insert_fn, &a, insert_done, &a));
	ck_assert(batch_submit(insert_fn, &b, insert_done, &b));
	ck_assert(batch_submit(insert_fn, &d, insert_done, &d));
	ck_assert(batch_submit(insert_fn, &c, insert_done, &c));
	gate_release();
	batch_stop(); /* drains the queue: every job is told before it returns */
	ck_assert(atomic_load(&a.done) && atomic_load(&b.done) && atomic_load(&c.done) &&
		  atomic_load(&d.done));
	ck_assert_int_eq(a.result, ERR_OK);
	ck_assert_int_eq(b.result, ERR_CONFLICT);
	ck_assert_int_eq(d.result, ERR_CONFLICT);
	ck_assert_int_eq(c.result, ERR_OK);
	ck_assert_int_eq(rows("SELECT COUNT(*) FROM t"), 2);
	ck_assert_int_eq(rows("SELECT COUNT(*) FROM t WHERE id IN (1, 3)"), 2);
	/* The gate's batch, then one batch for all four. */
	batch_stats(&jobs1, &batches1);
	ck_assert_uint_eq(batches1 - batches0, 2);
	ck_assert_uint_eq(jobs1 - jobs0, 5);
}
END_TEST

START_TEST(a_failing_whole_job_is_undone_alone_by_running_the_batch_again)
{
	/* b and d run without a savepoint; b fails after its insert, d on it. */
	struct insert_job a = {.id = 1}, b = {.id = 2, .fail_with = ERR_CONFLICT}, c = {.id = 3};
	struct insert_job d = {.id = 1}, e = {.id = 4};
	uint64_t jobs0, batches0, jobs1, batches1;
	ck_assert_int_eq(batch_start(NULL), ERR_OK);
	gate_close_and_wait();
	batch_stats(&jobs0, &batches0);
	ck_assert(batch_submit(insert_fn, &a, insert_done, &a));
	ck_assert(batch_submit_whole(insert_fn, &b, insert_done, &b));
	ck_assert(batch_submit(insert_fn, &c, insert_done, &c));
	ck_assert(batch_submit_whole(insert_fn, &d, insert_done, &d));
	ck_assert(batch_submit_whole(insert_fn, &e, insert_done, &e));
	gate_release();
	batch_stop();
	ck_assert(atomic_load(&a.done) && atomic_load(&b.done) && atomic_load(&c.done) &&
		  atomic_load(&d.done) && atomic_load(&e.done));
	ck_assert_int_eq(a.result, ERR_OK);
	ck_assert_int_eq(b.result, ERR_CONFLICT);
	ck_assert_int_eq(c.result, ERR_OK);
	ck_assert_int_eq(d.result, ERR_CONFLICT);
	ck_assert_int_eq(e.result, ERR_OK);
	ck_assert_int_eq(rows("SELECT COUNT(*) FROM t"), 3);
	ck_assert_int_eq(rows("SELECT COUNT(*) FROM t WHERE id IN (1, 3, 4)"), 3);
	batch_stats(&jobs1, &batches1);
	ck_assert_uint_eq(batches1 - batches0, 2);
}
END_TEST

/* A capped take, like a stream slot: each job sees what the jobs before it
 * in the same batch took. */
struct take_job {
	bool taken;
	enum err result;
	atomic_bool done;
};

static enum err take_fn(struct db *db, void *arg)
{
	struct take_job *j = arg;
	struct db_stmt *st = NULL;
	j->taken = false;
	enum err e = db_prepare(db, "SELECT COUNT(*) FROM t", &st);
	if (e != ERR_OK)
		return e;
	e = db_step_row(st);
	int64_t n = e == ERR_OK ? db_column_int64(st, 0) : 0;
	db_done(st);
	if (e != ERR_OK || n >= 2)
		return e;
	e = db_prepare(db, "INSERT INTO t (v) VALUES (1)", &st);
	if (e != ERR_OK)
		return e;
	e = db_step_done(st);
	db_done(st);
	j->taken = e == ERR_OK;
	return e;
}

static void take_done(void *arg, enum err e)
{
	struct take_job *j = arg;
	j->result = e;
	atomic_store(&j->done, true);
}

START_TEST(jobs_in_one_batch_see_the_writes_of_the_jobs_before_them)
{
	struct take_job j[5];
	memset(j, 0, sizeof j);
	ck_assert_int_eq(batch_start(NULL), ERR_OK);
	gate_close_and_wait();
	for (int i = 0; i < 5; i++)
		ck_assert(batch_submit(take_fn, &j[i], take_done, &j[i]));
	gate_release();
	batch_stop();
	ck_assert_int_eq(rows("SELECT COUNT(*) FROM t"), 2);
	/* In queue order: the first two took a place. */
	for (int i = 0; i < 5; i++) {
		ck_assert(atomic_load(&j[i].done));
		ck_assert_int_eq(j[i].result, ERR_OK);
		ck_assert_int_eq(j[i].taken, i < 2);
	}
}
END_TEST

/* ---- many submitters, a small queue ---- */

#define THREADS 8
#define PER_THREAD 25

static void *submitter(void *arg)
{
	int64_t base = (int64_t)(intptr_t)arg * 1000;
	for (int64_t i = 0; i < PER_THREAD; i++) {
		struct insert_job j = {.id = base + i};
		if (batch_run(db_thread(), insert_fn, &j) != ERR_OK)
			return (void *)1;
	}
	return NULL;
}

START_TEST(a_full_queue_holds_submitters_back_and_loses_nothing)
{
	struct batch_options o = {.queue_max = 2, .batch_max = 3};
	pthread_t th[THREADS];
	uint64_t jobs0, batches0, jobs1, batches1;
	ck_assert_int_eq(batch_start(&o), ERR_OK);
	batch_stats(&jobs0, &batches0);
	for (intptr_t i = 0; i < THREADS; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, submitter, (void *)(i + 1)), 0);
	for (int i = 0; i < THREADS; i++) {
		void *r = NULL;
		pthread_join(th[i], &r);
		ck_assert_ptr_null(r);
	}
	ck_assert_int_eq(rows("SELECT COUNT(*) FROM t"), THREADS * PER_THREAD);
	batch_stats(&jobs1, &batches1);
	ck_assert_uint_eq(jobs1 - jobs0, THREADS * PER_THREAD);
	/* Never more than batch_max jobs in one transaction. */
	ck_assert_uint_ge(batches1 - batches0, (THREADS * PER_THREAD + 2) / 3);
}
END_TEST

/* ---- the submitter's request id ---- */

struct rid_job {
	char seen[80];
	char told[80];
	atomic_bool done;
};

static enum err rid_fn(struct db *db, void *arg)
{
	(void)db;
	struct rid_job *j = arg;
	snprintf(j->seen, sizeof j->seen, "%s", log_request_id());
	return ERR_OK;
}

static void rid_done(void *arg, enum err e)
{
	struct rid_job *j = arg;
	(void)e;
	snprintf(j->told, sizeof j->told, "%s", log_request_id());
	atomic_store(&j->done, true);
}

START_TEST(jobs_run_with_their_submitters_request_id)
{
	struct rid_job waited, called;
	memset(&waited, 0, sizeof waited);
	memset(&called, 0, sizeof called);
	ck_assert_int_eq(batch_start(NULL), ERR_OK);
	log_set_request_id("req-waited");
	ck_assert_int_eq(batch_run(u.db, rid_fn, &waited), ERR_OK);
	log_set_request_id("req-called");
	ck_assert(batch_submit(rid_fn, &called, rid_done, &called));
	log_set_request_id(NULL);
	batch_stop();
	ck_assert_str_eq(waited.seen, "req-waited");
	ck_assert(atomic_load(&called.done));
	ck_assert_str_eq(called.seen, "req-called");
	ck_assert_str_eq(called.told, "req-called");
}
END_TEST

/* ---- waiting for itself ---- */

struct nested {
	struct insert_job inner;
	enum err run_result;
	bool submit_declined;
};

static enum err nested_fn(struct db *db, void *arg)
{
	struct nested *n = arg;
	n->run_result = batch_run(db, insert_fn, &n->inner);
	n->submit_declined = !batch_submit(insert_fn, &n->inner, insert_done, &n->inner);
	return ERR_OK;
}

START_TEST(a_job_or_a_transaction_that_waits_for_the_writer_is_refused_not_hung)
{
	struct nested n = {.inner = {.id = 9}};
	ck_assert_int_eq(batch_start(NULL), ERR_OK);
	/* A job asking the writer for more work would wait for itself. */
	ck_assert_int_eq(batch_run(u.db, nested_fn, &n), ERR_OK);
	ck_assert_int_eq(n.run_result, ERR_INTERNAL);
	ck_assert(n.submit_declined);
	/* So would a caller inside its own transaction (it holds the write turn). */
	memset(&n, 0, sizeof n);
	n.inner.id = 9;
	ck_assert_int_eq(db_transaction(u.db, nested_fn, &n), ERR_OK);
	ck_assert_int_eq(n.run_result, ERR_INTERNAL);
	ck_assert(n.submit_declined);
	ck_assert_int_eq(rows("SELECT COUNT(*) FROM t WHERE id = 9"), 0);
}
END_TEST

/* ---- stopping ---- */

START_TEST(after_stop_run_falls_back_and_submit_declines)
{
	struct insert_job j = {.id = 5};
	ck_assert_int_eq(batch_start(NULL), ERR_OK);
	batch_stop();
	ck_assert(!batch_running());
	ck_assert(!batch_submit(insert_fn, &j, insert_done, &j));
	ck_assert_int_eq(batch_run(u.db, insert_fn, &j), ERR_OK);
	ck_assert_int_eq(rows("SELECT COUNT(*) FROM t WHERE id = 5"), 1);
	/* And it starts again. */
	ck_assert_int_eq(batch_start(NULL), ERR_OK);
	j.id = 6;
	ck_assert_int_eq(batch_run(u.db, insert_fn, &j), ERR_OK);
	ck_assert_int_eq(rows("SELECT COUNT(*) FROM t WHERE id = 6"), 1);
}
END_TEST

static Suite *batch_suite(void)
{
	Suite *s = suite_create("batch");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, without_a_writer_run_is_a_plain_transaction_and_submit_declines);
	tcase_add_test(tc, a_waiting_job_is_committed_before_it_returns);
	tcase_add_test(tc, a_failing_job_rolls_back_only_itself);
	tcase_add_test(tc, a_failing_whole_job_is_undone_alone_by_running_the_batch_again);
	tcase_add_test(tc, jobs_in_one_batch_see_the_writes_of_the_jobs_before_them);
	tcase_add_test(tc, a_full_queue_holds_submitters_back_and_loses_nothing);
	tcase_add_test(tc, jobs_run_with_their_submitters_request_id);
	tcase_add_test(tc, a_job_or_a_transaction_that_waits_for_the_writer_is_refused_not_hung);
	tcase_add_test(tc, after_stop_run_falls_back_and_submit_declines);
	suite_add_tcase(s, tc);
	return s;
}

int main(void) { return unit_run(batch_suite()); }
