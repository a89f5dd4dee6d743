/* core/ticker: a background thread that runs one job every interval until
 * stopped.  No test waits on the clock: each waits for the job to have
 * run, or shows that stop does not wait out a long interval. */
#include <check.h>
#include <pthread.h>

#include "core/ticker.h"
#include "tests/unit.h"

struct counter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int calls;
};

static void count_call(void *arg)
{
	struct counter *c = arg;
	pthread_mutex_lock(&c->mu);
	c->calls++;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

static int calls_of(struct counter *c)
{
	pthread_mutex_lock(&c->mu);
	int n = c->calls;
	pthread_mutex_unlock(&c->mu);
	return n;
}

static void wait_for_calls(struct counter *c, int n)
{
	pthread_mutex_lock(&c->mu);
	while (c->calls < n)
		pthread_cond_wait(&c->cv, &c->mu);
	pthread_mutex_unlock(&c->mu);
}

START_TEST(runs_the_job_again_and_again_until_stopped)
{
	struct ticker t = TICKER_INIT;
	struct counter c = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
	ck_assert_int_eq(ticker_start(&t, 1, count_call, &c), ERR_OK);
	wait_for_calls(&c, 3);
	ticker_stop(&t);
	int after_stop = calls_of(&c);
	ck_assert_int_ge(after_stop, 3);
	ticker_stop(&t); /* stopped already: nothing to do */
	ck_assert_int_eq(calls_of(&c), after_stop);
}
END_TEST

/* An hour's interval: stop must wake the thread, or this test hangs. */
START_TEST(stop_wakes_the_thread_and_does_not_run_the_job)
{
	struct ticker t = TICKER_INIT;
	struct counter c = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
	ck_assert_int_eq(ticker_start(&t, 3600 * 1000, count_call, &c), ERR_OK);
	ticker_stop(&t);
	ck_assert_int_eq(calls_of(&c), 0);
}
END_TEST

START_TEST(a_second_start_keeps_the_running_thread)
{
	struct ticker t = TICKER_INIT;
	struct counter hourly = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
	struct counter other = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
	ck_assert_int_eq(ticker_start(&t, 3600 * 1000, count_call, &hourly), ERR_OK);
	pthread_t first = t.thread;
	ck_assert_int_eq(ticker_start(&t, 1, count_call, &other), ERR_OK);
	ck_assert(pthread_equal(first, t.thread));
	ticker_stop(&t);
	ck_assert_int_eq(calls_of(&hourly), 0);
	ck_assert_int_eq(calls_of(&other), 0);
}
END_TEST

START_TEST(starts_again_after_a_stop)
{
	struct ticker t = TICKER_INIT;
	struct counter c = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
	ticker_stop(&t); /* never started: nothing to do */
	ck_assert_int_eq(ticker_start(&t, 3600 * 1000, count_call, &c), ERR_OK);
	ticker_stop(&t);
	ck_assert_int_eq(ticker_start(&t, 1, count_call, &c), ERR_OK);
	wait_for_calls(&c, 1);
	ticker_stop(&t);
	ck_assert_int_ge(calls_of(&c), 1);
}
END_TEST

static Suite *ticker_suite(void)
{
	Suite *s = suite_create("ticker");
	TCase *tc = tcase_create("ticker");
	tcase_add_test(tc, runs_the_job_again_and_again_until_stopped);
	tcase_add_test(tc, stop_wakes_the_thread_and_does_not_run_the_job);
	tcase_add_test(tc, a_second_start_keeps_the_running_thread);
	tcase_add_test(tc, starts_again_after_a_stop);
	suite_add_tcase(s, tc);
	return s;
}

int main(void) { return unit_run(ticker_suite()); }
