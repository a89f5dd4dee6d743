/* core/notify: delivery claims what is due, sends outside any transaction,
 * records each outcome, retries failures with a growing delay, gives up
 * after the last attempt, takes over stale claims, and never sends a row
 * twice while two deliverers run at once. */
#include <check.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/notify.h"
#include "tests/unit.h"

#define T0 1800000000LL

static struct unit_db u;

/* A sender that records what it was asked to send and fails while
 * `failing` is set. */
struct fake {
	pthread_mutex_t mu;
	int calls;
	bool failing;
	char last_template[64];
	char seen[64][IDS_MAX];	/* recipients, to find doubles */
	int nseen;
};

static struct fake fk;

static enum err fake_send(void *ctx, enum notify_channel ch, const char *recipient, const char *tmpl,
			  const char *payload)
{
	struct fake *f = ctx;
	(void)ch;
	(void)payload;
	pthread_mutex_lock(&f->mu);
	f->calls++;
	snprintf(f->last_template, sizeof f->last_template, "%s", tmpl);
	if (f->nseen < 64)
		snprintf(f->seen[f->nseen++], IDS_MAX, "%s", recipient);
	bool failing = f->failing;
	pthread_mutex_unlock(&f->mu);
	return failing ? ERR_INTERNAL : ERR_OK;
}

static const struct notify_sender sender = {fake_send, &fk};

static void setup(void)
{
	unit_db_open_migrated(&u);
	clock_use_test(T0);
	memset(&fk, 0, sizeof fk);
	pthread_mutex_init(&fk.mu, NULL);
}

static void teardown(void)
{
	pthread_mutex_destroy(&fk.mu);
	unit_db_close(&u);
}

static void queue(const char *to, char *id)
{
	ck_assert_int_eq(notify_queue(u.db, NULL, NOTIFY_EMAIL, to, "welcome", json_pack("{s:s}", "k", "v"), id),
			 ERR_OK);
}

/* The integer `sql` reads about notification `id` (bound as ?1). */
static int64_t q(const char *sql, const char *id)
{
	struct db_stmt *st = NULL;
	ck_assert_int_eq(db_prepare(u.db, sql, &st), ERR_OK);
	db_bind_text(st, 1, id);
	ck_assert_int_eq(db_step_row(st), ERR_OK);
	int64_t v = db_column_int64(st, 0);
	db_done(st);
	return v;
}

START_TEST(delivers_what_is_queued_once)
{
	char a[IDS_MAX], b[IDS_MAX];
	queue("a@example.com", a);
	queue("b@example.com", b);
	int sent = -1;
	ck_assert_int_eq(notify_deliver(u.db, &sender, 10, &sent), ERR_OK);
	ck_assert_int_eq(sent, 2);
	ck_assert_int_eq(fk.calls, 2);
	ck_assert_int_eq(q("SELECT COUNT(*) FROM notifications WHERE id = ?1 AND status = 'sent'"
			   " AND sent_at = 1800000000 AND attempts = 1 AND claimed_by IS NULL", a), 1);
	ck_assert_int_eq(q("SELECT COUNT(*) FROM notifications WHERE id = ?1 AND status = 'sent'", b), 1);
	/* Nothing is due any more. */
	ck_assert_int_eq(notify_deliver(u.db, &sender, 10, &sent), ERR_OK);
	ck_assert_int_eq(sent, 0);
	ck_assert_int_eq(fk.calls, 2);
}
END_TEST

START_TEST(a_failed_send_is_retried_later_then_given_up)
{
	char id[IDS_MAX];
	queue("c@example.com", id);
	fk.failing = true;
	int sent = -1;
	int64_t at = T0;
	for (int attempt = 1; attempt <= NOTIFY_MAX_ATTEMPTS; attempt++) {
		ck_assert_int_eq(clock_set(at), ERR_OK);
		ck_assert_int_eq(notify_deliver(u.db, &sender, 10, &sent), ERR_OK);
		ck_assert_int_eq(sent, 0);
		ck_assert_int_eq(fk.calls, attempt);
		ck_assert_int_eq(q("SELECT attempts FROM notifications WHERE id = ?1", id), attempt);
		if (attempt == NOTIFY_MAX_ATTEMPTS)
			break;
		int64_t delay = notify_retry_delay(attempt);
		ck_assert_int_eq(q("SELECT COUNT(*) FROM notifications WHERE id = ?1 AND status = 'queued'"
				   " AND last_error = 'internal_error'", id), 1);
		ck_assert_int_eq(q("SELECT next_attempt_at FROM notifications WHERE id = ?1", id), at + delay);
		/* Not before its time. */
		ck_assert_int_eq(clock_set(at + delay - 1), ERR_OK);
		ck_assert_int_eq(notify_deliver(u.db, &sender, 10, &sent), ERR_OK);
		ck_assert_int_eq(fk.calls, attempt);
		at += delay;
	}
	ck_assert_int_eq(q("SELECT COUNT(*) FROM notifications WHERE id = ?1 AND status = 'failed'"
			   " AND next_attempt_at IS NULL AND sent_at IS NULL", id), 1);
	/* A failed one stays failed (staff can resend a copy). */
	ck_assert_int_eq(clock_advance(7 * 86400), ERR_OK);
	fk.failing = false;
	ck_assert_int_eq(notify_deliver(u.db, &sender, 10, &sent), ERR_OK);
	ck_assert_int_eq(fk.calls, NOTIFY_MAX_ATTEMPTS);
}
END_TEST

START_TEST(retry_delays_double_up_to_a_day)
{
	ck_assert_int_eq(notify_retry_delay(1), 30);
	ck_assert_int_eq(notify_retry_delay(2), 60);
	ck_assert_int_eq(notify_retry_delay(3), 120);
	ck_assert_int_eq(notify_retry_delay(4), 240);
	ck_assert_int_eq(notify_retry_delay(40), 86400);
}
END_TEST

START_TEST(a_stale_claim_is_taken_over_and_a_live_one_is_not)
{
	char stale[IDS_MAX], live[IDS_MAX], sql[256];
	queue("stale@example.com", stale);
	queue("live@example.com", live);
	/* Another process claimed both; it died after the first claim. */
	snprintf(sql, sizeof sql,
		 "UPDATE notifications SET status = 'sending', claimed_by = 'other', attempts = 1,"
		 " claimed_at = %lld WHERE id = '%s'",
		 (long long)(T0 - NOTIFY_CLAIM_TIMEOUT_S), stale);
	ck_assert_int_eq(db_exec(u.db, sql), ERR_OK);
	snprintf(sql, sizeof sql,
		 "UPDATE notifications SET status = 'sending', claimed_by = 'other', attempts = 1,"
		 " claimed_at = %lld WHERE id = '%s'",
		 (long long)(T0 - 10), live);
	ck_assert_int_eq(db_exec(u.db, sql), ERR_OK);
	int sent = -1;
	ck_assert_int_eq(notify_deliver(u.db, &sender, 10, &sent), ERR_OK);
	ck_assert_int_eq(sent, 1);
	ck_assert_int_eq(fk.calls, 1);
	ck_assert_str_eq(fk.seen[0], "stale@example.com");
	ck_assert_int_eq(q("SELECT COUNT(*) FROM notifications WHERE id = ?1 AND status = 'sent'"
			   " AND attempts = 2", stale), 1);
	ck_assert_int_eq(q("SELECT COUNT(*) FROM notifications WHERE id = ?1 AND status = 'sending'"
			   " AND claimed_by = 'other'", live), 1);
}
END_TEST

START_TEST(an_erased_accounts_unsent_notifications_never_go_out)
{
	char sent_id[IDS_MAX], queued_id[IDS_MAX], other[IDS_MAX];
	ck_assert_int_eq(notify_queue(u.db, "acc_gone", NOTIFY_EMAIL, "gone@example.com", "welcome", NULL, sent_id),
			 ERR_OK);
	int sent = -1;
	ck_assert_int_eq(notify_deliver(u.db, &sender, 10, &sent), ERR_OK);
	ck_assert_int_eq(sent, 1);
	ck_assert_int_eq(notify_queue(u.db, "acc_gone", NOTIFY_EMAIL, "gone@example.com", "password_reset",
				      json_pack("{s:s}", "reset_token", "secret"), queued_id),
			 ERR_OK);
	ck_assert_int_eq(notify_queue(u.db, "acc_kept", NOTIFY_EMAIL, "kept@example.com", "welcome", NULL, other),
			 ERR_OK);
	int64_t n = 0;
	ck_assert_int_eq(notify_redact_account(u.db, "acc_gone", &n), ERR_OK);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(q("SELECT COUNT(*) FROM notifications WHERE id = ?1 AND status = 'sent' AND recipient = ''"
			   " AND last_error IS NULL", sent_id), 1);
	ck_assert_int_eq(q("SELECT COUNT(*) FROM notifications WHERE id = ?1 AND status = 'failed' AND recipient = ''"
			   " AND payload = '{}' AND last_error = 'account_erased'", queued_id), 1);
	/* Delivery sends only the other member's. */
	ck_assert_int_eq(notify_deliver(u.db, &sender, 10, &sent), ERR_OK);
	ck_assert_int_eq(sent, 1);
	ck_assert_int_eq(fk.calls, 2);
	ck_assert_str_eq(fk.seen[1], "kept@example.com");
}
END_TEST

/* Two deliverers on two connections at once: every row goes out exactly once. */
struct racer {
	const char *path;
	int sent;
	enum err e;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	struct db *db = unit_db_connect(r->path, 5000);
	r->sent = 0;
	r->e = ERR_OK;
	for (int round = 0; round < 10 && r->e == ERR_OK; round++) {
		int n = 0;
		r->e = notify_deliver(db, &sender, 3, &n);
		r->sent += n;
	}
	db_close(db);
	return NULL;
}

START_TEST(two_deliverers_never_send_a_row_twice)
{
	char id[IDS_MAX], to[64];
	for (int i = 0; i < 40; i++) {
		snprintf(to, sizeof to, "r%02d@example.com", i);
		queue(to, id);
	}
	struct racer r[2] = {{u.path, 0, ERR_OK}, {u.path, 0, ERR_OK}};
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, race, &r[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	ck_assert_int_eq(r[0].e, ERR_OK);
	ck_assert_int_eq(r[1].e, ERR_OK);
	ck_assert_int_eq(r[0].sent + r[1].sent, 40);
	ck_assert_int_eq(fk.calls, 40);
	for (int i = 0; i < fk.nseen; i++)
		for (int j = i + 1; j < fk.nseen; j++)
			ck_assert_str_ne(fk.seen[i], fk.seen[j]);
	ck_assert_int_eq(unit_query_int(u.db, "SELECT COUNT(*) FROM notifications WHERE status = 'sent'"), 40);
}
END_TEST

static Suite *notify_suite(void)
{
	Suite *s = suite_create("notify");
	TCase *tc = tcase_create("delivery");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, delivers_what_is_queued_once);
	tcase_add_test(tc, a_failed_send_is_retried_later_then_given_up);
	tcase_add_test(tc, retry_delays_double_up_to_a_day);
	tcase_add_test(tc, a_stale_claim_is_taken_over_and_a_live_one_is_not);
	tcase_add_test(tc, an_erased_accounts_unsent_notifications_never_go_out);
	tcase_add_test(tc, two_deliverers_never_send_a_row_twice);
	suite_add_tcase(s, tc);
	return s;
}

int main(void) { return unit_run(notify_suite()); }
