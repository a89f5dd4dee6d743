/*
 * Concurrency invariants: many clients at once on one account, against a
 * real hearthd, each invariant asserted from the database.
 *
 * Every race starts its threads on a barrier, so the requests reach the
 * server together; each thread makes its own connection.  Threads only
 * collect answers; the assertions run on the test's thread afterwards.
 *
 *  - playback starts racing the stream cap: exactly `cap` starts win, in
 *    every round, and the same devices keep them while they play;
 *  - refresh-token rotation raced by two clients holding the same token:
 *    exactly one exchange succeeds, the other is reuse (docs/auth.md), and
 *    the sign-in is then revoked as the docs say;
 *  - the same Idempotency-Key sent at once by many clients: exactly one
 *    effect; the others replay the first answer or get
 *    idempotency_key_in_use;
 *  - plan changes racing each other: one upgrade charged once; downgrades
 *    and withdrawals leave the state the last committed event says;
 *  - subscribes, same-email sign-ups and profile creations racing their
 *    uniqueness rules and limits.
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "tests/api/harness.h"

#define PASSWORD "correct horse battery staple"
#define MAX_RACERS 32

static struct api_server srv;

static void start(void)
{
	/* Billing runs in batches of 2 subscriptions, so that runs racing
	 * each other interleave between their transactions. */
	static const char *const flags[] = {"--access-ttl", "86400", "--billing-batch", "2", "--log-level", "warn",
					    NULL};
	api_start(&srv, flags);
}
static void stop(void) { ck_assert_int_eq(api_stop(&srv), 0); }

/* ---- racing ---- */

/* One racer's request: thread `i` of the race, `ctx` the race's. */
typedef struct api_resp *(*race_fn)(int i, void *ctx);

struct racer {
	int i;
	race_fn fn;
	void *ctx;
	pthread_barrier_t *barrier;
	struct api_resp *resp;
};

static void *racer_main(void *arg)
{
	struct racer *r = arg;
	pthread_barrier_wait(r->barrier);
	r->resp = r->fn(r->i, r->ctx);
	return NULL;
}

/* Run fn(0..n-1) on n threads released together; out[i] gets each answer. */
static void race(int n, race_fn fn, void *ctx, struct api_resp **out)
{
	pthread_t t[MAX_RACERS];
	struct racer r[MAX_RACERS];
	pthread_barrier_t barrier;
	ck_assert_int_le(n, MAX_RACERS);
	pthread_barrier_init(&barrier, NULL, (unsigned)n);
	for (int i = 0; i < n; i++) {
		r[i] = (struct racer){i, fn, ctx, &barrier, NULL};
		ck_assert_int_eq(pthread_create(&t[i], NULL, racer_main, &r[i]), 0);
	}
	for (int i = 0; i < n; i++) {
		pthread_join(t[i], NULL);
		out[i] = r[i].resp;
	}
	pthread_barrier_destroy(&barrier);
}

static void free_all(int n, struct api_resp **rs)
{
	for (int i = 0; i < n; i++)
		api_resp_free(rs[i]);
}

static bool has_code(const struct api_resp *r, long status, const char *code)
{
	const char *c = api_str(r, "code");
	return r->status == status && c && strcmp(c, code) == 0;
}

static bool is_replayed(const struct api_resp *r)
{
	char v[16];
	return api_header(r, "Idempotent-Replayed", v, sizeof v) && strcmp(v, "true") == 0;
}

/* ---- members ---- */

struct device {
	char id[64];
	char session[64];
	char token[1200];
	char refresh[128];
};

struct member {
	char id[64];
	char email[96];
	char profile[64];
	struct device web;
};

static void copy_text(char *dst, size_t cap, const char *src)
{
	ck_assert_ptr_nonnull(src);
	ck_assert_uint_lt(strlen(src), cap);
	memcpy(dst, src, strlen(src) + 1);
}

static void fill_device(struct device *d, const struct api_resp *r)
{
	json_t *session = json_object_get(r->json, "session");
	copy_text(d->session, sizeof d->session, json_string_value(json_object_get(session, "id")));
	copy_text(d->id, sizeof d->id,
		  json_string_value(json_object_get(json_object_get(session, "device"), "id")));
	copy_text(d->token, sizeof d->token, api_str(r, "access_token"));
	copy_text(d->refresh, sizeof d->refresh, api_str(r, "refresh_token"));
}

static void sign_up(struct member *m, const char *email)
{
	struct api_resp *r = api_json(&srv, "POST", "/v1/accounts", NULL,
				      json_pack("{s:s, s:s, s:s}", "email", email, "password", PASSWORD,
						"country", "US"));
	ck_assert_status(r, 201);
	copy_text(m->email, sizeof m->email, email);
	copy_text(m->id, sizeof m->id, json_string_value(json_object_get(json_object_get(r->json, "account"), "id")));
	copy_text(m->profile, sizeof m->profile,
		  json_string_value(json_object_get(json_object_get(r->json, "profile"), "id")));
	fill_device(&m->web, r);
	api_resp_free(r);
}

static void sign_in(const struct member *m, const char *type, struct device *d)
{
	struct api_resp *r = api_json(&srv, "POST", "/v1/sessions", NULL,
				      json_pack("{s:s, s:s, s:{s:s, s:s}}", "email", m->email, "password", PASSWORD,
						"device", "name", "Racing device", "type", type));
	ck_assert_status(r, 201);
	fill_device(d, r);
	api_resp_free(r);
}

static void add_card(const struct member *m)
{
	struct api_resp *r = api_json(&srv, "POST", "/v1/payment-methods", m->web.token,
				      json_pack("{s:s}", "token", "pm_card_visa"));
	ck_assert_status(r, 201);
	api_resp_free(r);
}

static void subscribe(const struct member *m, const char *plan)
{
	add_card(m);
	struct api_resp *r = api_json(&srv, "POST", "/v1/subscription", m->web.token, json_pack("{s:s}", "plan", plan));
	ck_assert_status(r, 201);
	api_resp_free(r);
}

/* A count from the database about one account (?1). */
static int64_t count_for(const char *sql, const char *account) { return api_db_int(&srv, sql, account); }

/* ---- playback starts racing the stream cap ---- */

#define PLAYERS 16

struct cap_race {
	struct member m;
	struct device dev[PLAYERS];
};

static struct api_resp *start_stream(int i, void *ctx)
{
	struct cap_race *c = ctx;
	char body[128];
	snprintf(body, sizeof body, "{\"profile_id\":\"%s\"}", c->m.profile);
	return api_request(&srv, "POST", "/v1/playback/sessions", c->dev[i].token, "application/json", body, NULL);
}

/* One round: every device starts at once; exactly `cap` win.  `holders`
 * (in and out) marks the devices playing: when some already play, the
 * winners must be exactly them (a device's new start replaces its own
 * stream; the others find the cap full). */
static void cap_round(struct cap_race *c, int cap, bool holders[PLAYERS], char slots[PLAYERS][64])
{
	struct api_resp *rs[PLAYERS];
	bool someone_plays = false;
	for (int i = 0; i < PLAYERS; i++)
		someone_plays |= holders[i];
	int64_t allowed_before = count_for("SELECT COUNT(*) FROM playback_decisions WHERE account_id = ?1"
					   " AND outcome = 'allowed'", c->m.id);
	int64_t refused_before = count_for("SELECT COUNT(*) FROM playback_decisions WHERE account_id = ?1"
					   " AND outcome = 'stream_limit_reached'", c->m.id);
	race(PLAYERS, start_stream, c, rs);
	int won = 0, refused = 0;
	for (int i = 0; i < PLAYERS; i++) {
		if (rs[i]->status == 201) {
			won++;
			if (someone_plays)
				ck_assert_msg(holders[i], "device %d took a stream it did not hold while the cap was full", i);
			holders[i] = true;
			copy_text(slots[i], 64,
				  json_string_value(json_object_get(json_object_get(rs[i]->json, "stream"), "id")));
		} else {
			ck_assert_problem(rs[i], 409, "stream_limit_reached");
			ck_assert_int_eq(json_array_size(json_object_get(rs[i]->json, "active_streams")), cap);
			ck_assert_msg(!holders[i], "device %d lost its own stream to a start of its own", i);
			refused++;
		}
	}
	ck_assert_int_eq(won, cap);
	ck_assert_int_eq(refused, PLAYERS - cap);
	/* The database agrees: cap live slots, each decision stored. */
	ck_assert_int_eq(count_for("SELECT COUNT(*) FROM stream_slots WHERE account_id = ?1 AND ended_at IS NULL",
				   c->m.id),
			 cap);
	ck_assert_int_eq(count_for("SELECT COUNT(*) FROM playback_decisions WHERE account_id = ?1"
				   " AND outcome = 'allowed'", c->m.id),
			 allowed_before + cap);
	ck_assert_int_eq(count_for("SELECT COUNT(*) FROM playback_decisions WHERE account_id = ?1"
				   " AND outcome = 'stream_limit_reached'", c->m.id),
			 refused_before + PLAYERS - cap);
	for (int i = 0; i < PLAYERS; i++)
		if (holders[i])
			ck_assert_int_eq(api_db_int(&srv, "SELECT COUNT(*) FROM stream_slots WHERE id = ?1"
							  " AND ended_at IS NULL", slots[i]),
					 1);
	free_all(PLAYERS, rs);
}

static void cap_race_on_plan(const char *email, const char *plan, int cap)
{
	struct cap_race c;
	bool holders[PLAYERS] = {false};
	char slots[PLAYERS][64];
	sign_up(&c.m, email);
	subscribe(&c.m, plan);
	for (int i = 0; i < PLAYERS; i++)
		sign_in(&c.m, i % 2 ? "phone" : "tablet", &c.dev[i]);

	cap_round(&c, cap, holders, slots); /* from no stream */
	for (int round = 0; round < 3; round++)
		cap_round(&c, cap, holders, slots); /* while the winners play */

	/* The winners stop; the next race starts from none again. */
	for (int i = 0; i < PLAYERS; i++) {
		if (!holders[i])
			continue;
		char path[128];
		snprintf(path, sizeof path, "/v1/playback/sessions/%s", slots[i]);
		struct api_resp *r = api_request(&srv, "DELETE", path, c.dev[i].token, NULL, NULL, NULL);
		ck_assert_status(r, 204);
		api_resp_free(r);
		holders[i] = false;
	}
	ck_assert_int_eq(count_for("SELECT COUNT(*) FROM stream_slots WHERE account_id = ?1 AND ended_at IS NULL",
				   c.m.id),
			 0);
	cap_round(&c, cap, holders, slots);
	/* No device ever held two streams. */
	ck_assert_int_eq(count_for("SELECT COUNT(*) FROM (SELECT device_id FROM stream_slots WHERE account_id = ?1"
				   " AND ended_at IS NULL GROUP BY device_id HAVING COUNT(*) > 1)",
				   c.m.id),
			 0);
}

START_TEST(playback_starts_race_the_stream_cap_standard)
{
	cap_race_on_plan("cap-standard@example.com", "standard", 2);
}
END_TEST

START_TEST(playback_starts_race_the_stream_cap_premium)
{
	cap_race_on_plan("cap-premium@example.com", "premium", 4);
}
END_TEST

/* ---- refresh-token rotation raced by two clients ---- */

#define SIGNINS 12

struct refresh_race {
	struct device dev[SIGNINS];
};

/* Threads 2k and 2k+1 both present sign-in k's refresh token. */
static struct api_resp *refresh(int i, void *ctx)
{
	struct refresh_race *c = ctx;
	return api_json(&srv, "POST", "/v1/tokens/refresh", NULL,
			json_pack("{s:s}", "refresh_token", c->dev[i / 2].refresh));
}

/* Each of SIGNINS sign-ins of one account raced by two clients at once. */
static void refresh_round(const struct member *m)
{
	struct refresh_race c;
	struct api_resp *rs[2 * SIGNINS];
	for (int k = 0; k < SIGNINS; k++)
		sign_in(m, k % 2 ? "tv" : "phone", &c.dev[k]);
	race(2 * SIGNINS, refresh, &c, rs);

	for (int k = 0; k < SIGNINS; k++) {
		struct api_resp *a = rs[2 * k], *b = rs[2 * k + 1];
		struct api_resp *win = a->status == 200 ? a : b, *lose = a->status == 200 ? b : a;
		/* Exactly one exchange; the other presented a token that was
		 * rotated by then: reuse, which revokes the sign-in. */
		ck_assert_status(win, 200);
		ck_assert_problem(lose, 401, "refresh_token_reused");
		const char *sid = c.dev[k].session;
		ck_assert_int_eq(api_db_int(&srv, "SELECT COUNT(*) FROM sessions WHERE id = ?1 AND revoked_at IS NOT NULL"
						  " AND revoke_reason = 'refresh_reuse'", sid),
				 1);
		ck_assert_int_eq(api_db_int(&srv, "SELECT COUNT(*) FROM events WHERE type = 'session.refresh_reused'"
						  " AND subject = ?1", sid),
				 1);
		/* One rotation only: the old token rotated once, one successor. */
		ck_assert_int_eq(api_db_int(&srv, "SELECT COUNT(*) FROM refresh_tokens WHERE session_id = ?1", sid), 2);
		ck_assert_int_eq(api_db_int(&srv, "SELECT COUNT(*) FROM refresh_tokens WHERE session_id = ?1"
						  " AND rotated_at IS NOT NULL", sid),
				 1);
		/* Everything of that sign-in is dead now: the winner's new refresh
		 * token, its new access token and the old access token. */
		struct api_resp *r = api_json(&srv, "POST", "/v1/tokens/refresh", NULL,
					      json_pack("{s:s}", "refresh_token", api_str(win, "refresh_token")));
		ck_assert_problem(r, 401, "refresh_token_invalid");
		api_resp_free(r);
		r = api_get(&srv, "/v1/me", api_str(win, "access_token"));
		ck_assert_problem(r, 401, "invalid_token");
		api_resp_free(r);
		r = api_get(&srv, "/v1/me", c.dev[k].token);
		ck_assert_problem(r, 401, "invalid_token");
		api_resp_free(r);
	}
	free_all(2 * SIGNINS, rs);
}

START_TEST(refresh_rotation_raced_by_two_clients_has_one_winner)
{
	struct member m;
	sign_up(&m, "refresh-race@example.com");
	for (int round = 0; round < 3; round++)
		refresh_round(&m);
	/* The sign-up's own sign-in was not involved and still works. */
	struct api_resp *r = api_get(&srv, "/v1/me", m.web.token);
	ck_assert_status(r, 200);
	api_resp_free(r);
	ck_assert_int_eq(count_for("SELECT COUNT(*) FROM sessions WHERE account_id = ?1 AND revoked_at IS NULL", m.id), 1);
}
END_TEST

/* ---- the same Idempotency-Key at once ---- */

#define SAME_KEY 10

struct keyed {
	const char *method, *path, *token, *body, *key;
};

static struct api_resp *keyed_request(int i, void *ctx)
{
	(void)i;
	const struct keyed *k = ctx;
	char hdr[300];
	snprintf(hdr, sizeof hdr, "Idempotency-Key: %s", k->key);
	const char *const headers[] = {hdr, NULL};
	return api_request(&srv, k->method, k->path, k->token, "application/json", k->body, headers);
}

/* Send it SAME_KEY times at once: one original answer with `status`, the
 * others its replay or 409 idempotency_key_in_use.  Returns the original
 * (caller frees). */
static struct api_resp *same_key_race(struct keyed *k, long status)
{
	struct api_resp *rs[SAME_KEY], *original = NULL;
	race(SAME_KEY, keyed_request, k, rs);
	int originals = 0, replays = 0, in_use = 0;
	for (int i = 0; i < SAME_KEY; i++)
		if (rs[i]->status == status && !is_replayed(rs[i])) {
			originals++;
			original = rs[i];
			rs[i] = NULL;
		}
	ck_assert_int_eq(originals, 1);
	for (int i = 0; i < SAME_KEY; i++) {
		if (!rs[i])
			continue;
		if (has_code(rs[i], 409, "idempotency_key_in_use")) {
			in_use++;
		} else {
			ck_assert_status(rs[i], status);
			ck_assert_msg(is_replayed(rs[i]), "a second answer that is not a replay: %s", rs[i]->body);
			ck_assert_str_eq(rs[i]->body, original->body);
			replays++;
		}
	}
	ck_assert_int_eq(originals + replays + in_use, SAME_KEY);
	printf("api_concurrency: %s %s with one Idempotency-Key x%d at once: 1 original, %d replays, %d in use\n",
	       k->method, k->path, SAME_KEY, replays, in_use);
	free_all(SAME_KEY, rs);
	return original;
}

START_TEST(same_idempotency_key_at_once_has_one_effect)
{
	/* A sign-up (anonymous: the key is scoped to no one). */
	char body[256];
	snprintf(body, sizeof body, "{\"email\":\"same-key@example.com\",\"password\":\"%s\",\"country\":\"US\"}",
		 PASSWORD);
	struct keyed k = {"POST", "/v1/accounts", NULL, body, "same-key-signup"};
	struct api_resp *orig = same_key_race(&k, 201);
	const char *account = json_string_value(json_object_get(json_object_get(orig->json, "account"), "id"));
	ck_assert_int_eq(api_db_int(&srv, "SELECT COUNT(*) FROM accounts WHERE email_norm = ?1", "same-key@example.com"), 1);
	ck_assert_int_eq(count_for("SELECT COUNT(*) FROM sessions WHERE account_id = ?1", account), 1);
	ck_assert_int_eq(api_db_int(&srv, "SELECT COUNT(*) FROM events WHERE type = 'account.created' AND subject = ?1",
				    account),
			 1);
	struct member m;
	memset(&m, 0, sizeof m);
	copy_text(m.id, sizeof m.id, account);
	copy_text(m.web.token, sizeof m.web.token, api_str(orig, "access_token"));
	api_resp_free(orig);

	/* A card. */
	k = (struct keyed){"POST", "/v1/payment-methods", m.web.token, "{\"token\":\"pm_card_visa\"}", "same-key-card"};
	api_resp_free(same_key_race(&k, 201));
	ck_assert_int_eq(count_for("SELECT COUNT(*) FROM payment_methods WHERE account_id = ?1", m.id), 1);

	/* A subscription: one invoice, charged once. */
	k = (struct keyed){"POST", "/v1/subscription", m.web.token, "{\"plan\":\"standard\"}", "same-key-subscribe"};
	api_resp_free(same_key_race(&k, 201));
	ck_assert_int_eq(count_for("SELECT COUNT(*) FROM subscriptions WHERE account_id = ?1", m.id), 1);
	ck_assert_int_eq(count_for("SELECT COUNT(*) FROM invoices WHERE account_id = ?1", m.id), 1);
	ck_assert_int_eq(count_for("SELECT COUNT(*) FROM payment_attempts WHERE account_id = ?1", m.id), 1);

	/* An upgrade: one proration invoice, charged once. */
	k = (struct keyed){"PATCH", "/v1/subscription", m.web.token, "{\"plan\":\"premium\"}", "same-key-upgrade"};
	orig = same_key_race(&k, 200);
	ck_assert_str_eq(api_str(orig, "change"), "upgraded");
	api_resp_free(orig);
	ck_assert_int_eq(count_for("SELECT COUNT(*) FROM invoices WHERE account_id = ?1"
				   " AND billing_reason = 'subscription_update'", m.id),
			 1);
	ck_assert_int_eq(count_for("SELECT COUNT(*) FROM payment_attempts WHERE account_id = ?1", m.id), 2);
	ck_assert_int_eq(count_for("SELECT COUNT(*) FROM payment_attempts WHERE account_id = ?1"
				   " AND status = 'succeeded'", m.id),
			 2);

	/* An extra-member slot (premium has two): bought and charged once. */
	k = (struct keyed){"POST", "/v1/extra-members", m.web.token, "{\"email\":\"guest@example.com\"}",
			   "same-key-extra-member"};
	api_resp_free(same_key_race(&k, 201));
	ck_assert_int_eq(count_for("SELECT COUNT(*) FROM extra_members WHERE owner_account_id = ?1", m.id), 1);
	ck_assert_int_eq(count_for("SELECT COUNT(*) FROM invoices WHERE account_id = ?1", m.id), 3);
	ck_assert_int_eq(count_for("SELECT COUNT(*) FROM payment_attempts WHERE account_id = ?1"
				   " AND status = 'succeeded'", m.id),
			 3);
}
END_TEST

/* ---- plan changes racing each other ---- */

#define CHANGERS 10

struct plan_race {
	const struct member *m;
};

static struct api_resp *upgrade_to_premium(int i, void *ctx)
{
	(void)i;
	const struct plan_race *c = ctx;
	return api_request(&srv, "PATCH", "/v1/subscription", c->m->web.token, "application/json",
			   "{\"plan\":\"premium\"}", NULL);
}

/* Even threads schedule a downgrade, odd ones withdraw it. */
static struct api_resp *downgrade_or_withdraw(int i, void *ctx)
{
	const struct plan_race *c = ctx;
	if (i % 2 == 0)
		return api_request(&srv, "PATCH", "/v1/subscription", c->m->web.token, "application/json",
				   "{\"plan\":\"standard\"}", NULL);
	return api_request(&srv, "DELETE", "/v1/subscription/scheduled-change", c->m->web.token, NULL, NULL, NULL);
}

START_TEST(plan_changes_race_each_other_and_charge_once)
{
	struct member m;
	struct api_resp *rs[CHANGERS];
	sign_up(&m, "plan-race@example.com");
	subscribe(&m, "standard");
	struct plan_race c = {&m};

	/* Everyone upgrades at once: one upgrade is charged, the others
	 * find the plan already premium. */
	race(CHANGERS, upgrade_to_premium, &c, rs);
	int upgraded = 0;
	for (int i = 0; i < CHANGERS; i++) {
		ck_assert_status(rs[i], 200);
		const char *change = api_str(rs[i], "change");
		ck_assert_ptr_nonnull(change);
		if (strcmp(change, "upgraded") == 0)
			upgraded++;
		else
			ck_assert_str_eq(change, "none");
	}
	ck_assert_int_eq(upgraded, 1);
	free_all(CHANGERS, rs);
	ck_assert_int_eq(count_for("SELECT COUNT(*) FROM subscriptions WHERE account_id = ?1 AND plan_code = 'premium'",
				   m.id),
			 1);
	ck_assert_int_eq(count_for("SELECT COUNT(*) FROM invoices WHERE account_id = ?1"
				   " AND billing_reason = 'subscription_update' AND status = 'paid'", m.id),
			 1);
	ck_assert_int_eq(count_for("SELECT COUNT(*) FROM payment_attempts WHERE account_id = ?1", m.id), 2);
	ck_assert_int_eq(count_for("SELECT COUNT(*) FROM events e JOIN subscriptions s ON s.id = e.subject"
				   " WHERE s.account_id = ?1 AND e.type = 'subscription.updated'"
				   " AND e.payload LIKE '%\"upgraded\"%'", m.id),
			 1);

	/* Downgrades and withdrawals at once: each answer that changed
	 * something wrote one event, and the schedule left is what the last
	 * committed event says. */
	for (int round = 0; round < 3; round++) {
		int64_t events_before = count_for("SELECT COUNT(*) FROM events e JOIN subscriptions s ON s.id = e.subject"
						  " WHERE s.account_id = ?1 AND e.type = 'subscription.updated'",
						  m.id);
		race(CHANGERS, downgrade_or_withdraw, &c, rs);
		int changed = 0;
		for (int i = 0; i < CHANGERS; i++) {
			if (i % 2 == 0) {
				ck_assert_status(rs[i], 200);
				const char *change = api_str(rs[i], "change");
				ck_assert_ptr_nonnull(change);
				if (strcmp(change, "scheduled") == 0)
					changed++;
				else
					ck_assert_str_eq(change, "none");
			} else if (rs[i]->status == 200) {
				ck_assert_str_eq(api_str(rs[i], "change"), "withdrawn");
				changed++;
			} else {
				ck_assert_problem(rs[i], 404, "not_found");
			}
		}
		free_all(CHANGERS, rs);
		int64_t events_after = count_for("SELECT COUNT(*) FROM events e JOIN subscriptions s ON s.id = e.subject"
						 " WHERE s.account_id = ?1 AND e.type = 'subscription.updated'",
						 m.id);
		ck_assert_int_eq(events_after - events_before, changed);
		int64_t last_is_schedule = count_for(
			"SELECT e.payload LIKE '%downgrade_scheduled%' FROM events e JOIN subscriptions s ON s.id = e.subject"
			" WHERE s.account_id = ?1 AND e.type = 'subscription.updated' ORDER BY e.id DESC LIMIT 1",
			m.id);
		ck_assert_int_eq(count_for("SELECT COUNT(*) FROM subscriptions WHERE account_id = ?1"
					   " AND scheduled_plan_code = 'standard'", m.id),
				 last_is_schedule);
		ck_assert_int_eq(count_for("SELECT COUNT(*) FROM subscriptions WHERE account_id = ?1"
					   " AND plan_code = 'premium'", m.id),
				 1);
	}
	/* Nothing of that was charged. */
	ck_assert_int_eq(count_for("SELECT COUNT(*) FROM payment_attempts WHERE account_id = ?1", m.id), 2);
	ck_assert_int_eq(count_for("SELECT COUNT(*) FROM invoices WHERE account_id = ?1", m.id), 2);
}
END_TEST

/* ---- uniqueness rules and limits ---- */

#define CONTENDERS 10

static struct api_resp *subscribe_once(int i, void *ctx)
{
	(void)i;
	const struct member *m = ctx;
	return api_request(&srv, "POST", "/v1/subscription", m->web.token, "application/json",
			   "{\"plan\":\"standard\"}", NULL);
}

START_TEST(subscribes_at_once_make_one_subscription_and_one_charge)
{
	struct member m;
	struct api_resp *rs[CONTENDERS];
	sign_up(&m, "subscribe-race@example.com");
	add_card(&m);
	race(CONTENDERS, subscribe_once, &m, rs);
	int created = 0;
	for (int i = 0; i < CONTENDERS; i++) {
		if (rs[i]->status == 201)
			created++;
		else
			ck_assert_problem(rs[i], 409, "subscription_exists");
	}
	ck_assert_int_eq(created, 1);
	free_all(CONTENDERS, rs);
	ck_assert_int_eq(count_for("SELECT COUNT(*) FROM subscriptions WHERE account_id = ?1", m.id), 1);
	ck_assert_int_eq(count_for("SELECT COUNT(*) FROM invoices WHERE account_id = ?1", m.id), 1);
	ck_assert_int_eq(count_for("SELECT COUNT(*) FROM payment_attempts WHERE account_id = ?1", m.id), 1);
}
END_TEST

static struct api_resp *sign_up_same_email(int i, void *ctx)
{
	(void)ctx;
	/* The same identity written in different cases. */
	char body[256];
	snprintf(body, sizeof body, "{\"email\":\"%s@Example.com\",\"password\":\"%s\",\"country\":\"US\"}",
		 i % 2 ? "Same-Email" : "same-email", PASSWORD);
	return api_request(&srv, "POST", "/v1/accounts", NULL, "application/json", body, NULL);
}

START_TEST(sign_ups_with_one_email_at_once_make_one_account)
{
	struct api_resp *rs[CONTENDERS];
	race(CONTENDERS, sign_up_same_email, NULL, rs);
	int created = 0;
	for (int i = 0; i < CONTENDERS; i++) {
		if (rs[i]->status == 201)
			created++;
		else
			ck_assert_problem(rs[i], 409, "email_taken");
	}
	ck_assert_int_eq(created, 1);
	free_all(CONTENDERS, rs);
	ck_assert_int_eq(api_db_int(&srv, "SELECT COUNT(*) FROM accounts WHERE email_norm = ?1", "same-email@example.com"),
			 1);
	ck_assert_int_eq(api_db_int(&srv, "SELECT COUNT(*) FROM profiles p JOIN accounts a ON a.id = p.account_id"
					  " WHERE a.email_norm = ?1", "same-email@example.com"),
			 1);
}
END_TEST

static struct api_resp *create_profile(int i, void *ctx)
{
	const struct member *m = ctx;
	char body[128];
	snprintf(body, sizeof body, "{\"name\":\"Racer %d\"}", i);
	return api_request(&srv, "POST", "/v1/profiles", m->web.token, "application/json", body, NULL);
}

static struct api_resp *create_same_profile(int i, void *ctx)
{
	const struct member *m = ctx;
	/* One name, in different cases: unique ignoring ASCII case. */
	return api_request(&srv, "POST", "/v1/profiles", m->web.token, "application/json",
			   i % 2 ? "{\"name\":\"KIDS\"}" : "{\"name\":\"kids\"}", NULL);
}

START_TEST(profile_creates_at_once_respect_the_limit_and_names)
{
	struct member m, n;
	struct api_resp *rs[CONTENDERS];
	sign_up(&m, "profile-race@example.com");
	race(CONTENDERS, create_profile, &m, rs);
	int created = 0;
	for (int i = 0; i < CONTENDERS; i++) {
		if (rs[i]->status == 201)
			created++;
		else
			ck_assert_problem(rs[i], 409, "profile_limit_reached");
	}
	ck_assert_int_eq(created, 4); /* 5 in all with the owner profile */
	free_all(CONTENDERS, rs);
	ck_assert_int_eq(count_for("SELECT COUNT(*) FROM profiles WHERE account_id = ?1", m.id), 5);
	ck_assert_int_eq(count_for("SELECT COUNT(*) FROM events e JOIN profiles p ON p.id = e.subject"
				   " WHERE p.account_id = ?1 AND e.type = 'profile.created'", m.id),
			 5);

	sign_up(&n, "profile-name-race@example.com");
	race(CONTENDERS, create_same_profile, &n, rs);
	created = 0;
	for (int i = 0; i < CONTENDERS; i++) {
		if (rs[i]->status == 201)
			created++;
		else
			ck_assert_problem(rs[i], 409, "profile_name_taken");
	}
	ck_assert_int_eq(created, 1);
	free_all(CONTENDERS, rs);
	ck_assert_int_eq(count_for("SELECT COUNT(*) FROM profiles WHERE account_id = ?1", n.id), 2);
}
END_TEST

/* ---- renewals racing plan changes, billing runs racing each other ---- */

/* The end of the member's current period (epoch seconds). */
static int64_t period_end(const struct member *m)
{
	struct api_resp *r = api_get(&srv, "/v1/subscription", m->web.token);
	ck_assert_status(r, 200);
	int64_t end = 0;
	const char *text = json_string_value(json_object_get(json_object_get(r->json, "current_period"), "end"));
	ck_assert_ptr_nonnull(text);
	ck_assert(clock_parse(text, &end) == ERR_OK);
	api_resp_free(r);
	return end;
}

/* Move the test clock to `t` (hearthd runs what fell due before answering). */
static struct api_resp *clock_to(int64_t t)
{
	char to[32];
	clock_format(t, to, sizeof to);
	return api_json(&srv, "POST", "/test/v1/clock", NULL, json_pack("{s:s}", "to", to));
}

struct renewal_race {
	const struct member *m;
	int64_t end;
};

/* Thread 0 moves the clock over the period end (renewing it); the others
 * upgrade to Premium at the same moment. */
static struct api_resp *renew_or_upgrade(int i, void *ctx)
{
	const struct renewal_race *c = ctx;
	if (i == 0)
		return clock_to(c->end + 30);
	return api_request(&srv, "PATCH", "/v1/subscription", c->m->web.token, "application/json",
			   "{\"plan\":\"premium\"}", NULL);
}

START_TEST(plan_upgrades_race_the_renewal)
{
	struct api_resp *rs[CHANGERS];
	for (int round = 0; round < 6; round++) {
		struct member m;
		char email[64];
		snprintf(email, sizeof email, "renewal-race-%d@example.com", round);
		sign_up(&m, email);
		subscribe(&m, "standard");
		struct renewal_race c = {&m, period_end(&m)};
		/* An hour before the period ends; the race moves past it. */
		struct api_resp *r = clock_to(c.end - 3600);
		ck_assert_status(r, 200);
		api_resp_free(r);
		/* The access token must outlive the move: sign in again. */
		sign_in(&m, "web", &m.web);
		race(CHANGERS, renew_or_upgrade, &c, rs);
		ck_assert_status(rs[0], 200);
		int upgraded = 0;
		for (int i = 1; i < CHANGERS; i++) {
			ck_assert_status(rs[i], 200);
			upgraded += strcmp(api_str(rs[i], "change"), "upgraded") == 0;
		}
		ck_assert_int_eq(upgraded, 1);
		free_all(CHANGERS, rs);

		/* The period was renewed exactly once, each invoice charged once,
		 * and the renewal and the upgrade agree on their order. */
		ck_assert_int_eq(count_for("SELECT COUNT(*) FROM invoices WHERE account_id = ?1"
					   " AND billing_reason = 'subscription_cycle'", m.id),
				 1);
		ck_assert_int_eq(count_for("SELECT COUNT(*) FROM invoices WHERE account_id = ?1"
					   " AND billing_reason = 'subscription_update' AND status = 'paid'", m.id),
				 1);
		/* (A zero invoice is paid without a charge.) */
		ck_assert_int_eq(count_for("SELECT COUNT(*) FROM invoices i WHERE i.account_id = ?1 AND (SELECT COUNT(*)"
					   " FROM payment_attempts p WHERE p.invoice_id = i.id AND p.status = 'succeeded')"
					   " <> (i.total > 0)", m.id),
				 0);
		ck_assert_int_eq(count_for("SELECT COUNT(*) FROM subscriptions WHERE account_id = ?1 AND plan_code = 'premium'"
					   " AND period_index = 1 AND state = 'active'", m.id),
				 1);
		/* Upgrade first: it prorated the last hour of period 0 (or,
		 * made after the clock passed the period end but before the
		 * renewal, nothing: a zero invoice), and the renewal billed
		 * Premium.  Renewal first: it billed Standard and the upgrade
		 * prorated period 1. */
		int64_t renewed_premium = count_for("SELECT COUNT(*) FROM invoices WHERE account_id = ?1"
						    " AND billing_reason = 'subscription_cycle' AND plan_code = 'premium'",
						    m.id);
		int64_t upgrade_in_old_period = count_for(
			"SELECT COUNT(*) FROM invoices u JOIN subscriptions s ON s.id = u.subscription_id"
			" WHERE u.account_id = ?1 AND u.billing_reason = 'subscription_update'"
			" AND u.period_end <= s.current_period_start", m.id);
		ck_assert_int_eq(renewed_premium, upgrade_in_old_period);
		int64_t free_upgrade = count_for("SELECT COUNT(*) FROM invoices WHERE account_id = ?1"
						 " AND billing_reason = 'subscription_update' AND total = 0", m.id);
		printf("api_concurrency: renewal vs %d upgrades, round %d: %s\n", CHANGERS - 1, round,
		       !renewed_premium ? "the renewal first"
		       : free_upgrade  ? "the upgrade first, after the period end (zero invoice)"
				       : "the upgrade first, in the last hour");
	}
}
END_TEST

#define RUN_MEMBERS 24
#define RUNNERS 8

static struct api_resp *run_billing(int i, void *ctx)
{
	(void)i;
	const int64_t *end = ctx;
	return clock_to(*end); /* each move to the same time runs a billing run */
}

START_TEST(billing_runs_at_once_renew_each_subscription_once)
{
	struct member m[RUN_MEMBERS];
	struct api_resp *rs[RUNNERS];
	for (int i = 0; i < RUN_MEMBERS; i++) {
		char email[64];
		snprintf(email, sizeof email, "runs-race-%d@example.com", i);
		sign_up(&m[i], email);
		subscribe(&m[i], i % 3 ? "standard" : "premium");
	}
	/* Every subscription ends its period at the same instant (the clock
	 * stood still while they subscribed). */
	int64_t end = period_end(&m[0]);
	struct api_resp *r = clock_to(end - 1);
	ck_assert_status(r, 200);
	api_resp_free(r);
	int64_t runs_before = api_db_int(&srv, "SELECT COUNT(*) FROM billing_runs", NULL);

	race(RUNNERS, run_billing, &end, rs);
	for (int i = 0; i < RUNNERS; i++)
		ck_assert_status(rs[i], 200);
	free_all(RUNNERS, rs);

	for (int i = 0; i < RUN_MEMBERS; i++) {
		ck_assert_int_eq(count_for("SELECT COUNT(*) FROM invoices WHERE account_id = ?1"
					   " AND billing_reason = 'subscription_cycle' AND status = 'paid'", m[i].id),
				 1);
		ck_assert_int_eq(count_for("SELECT COUNT(*) FROM payment_attempts WHERE account_id = ?1", m[i].id), 2);
		ck_assert_int_eq(count_for("SELECT COUNT(*) FROM subscriptions WHERE account_id = ?1 AND period_index = 1",
					   m[i].id),
				 1);
	}
	/* The racing runs shared the work: each renewal counted by one run. */
	ck_assert_int_eq(api_db_int(&srv, "SELECT COUNT(*) FROM billing_runs", NULL), runs_before + RUNNERS);
	struct db *db = api_db(&srv);
	struct db_stmt *st = NULL;
	ck_assert(db_prepare(db, "SELECT renewed FROM billing_runs ORDER BY created_at DESC, id DESC LIMIT ?1", &st) ==
		  ERR_OK);
	db_bind_int64(st, 1, RUNNERS);
	int64_t total = 0, working = 0;
	bool row = false;
	char split[256] = "";
	while (db_step(st, &row) == ERR_OK && row) {
		int64_t n = db_column_int64(st, 0);
		total += n;
		working += n > 0;
		size_t used = strlen(split);
		snprintf(split + used, sizeof split - used, "%s%lld", used ? "/" : "", (long long)n);
	}
	db_done(st);
	db_close(db);
	ck_assert_int_eq(total, RUN_MEMBERS);
	printf("api_concurrency: %d billing runs at once over %d due subscriptions: renewals per run %s\n", RUNNERS,
	       RUN_MEMBERS, split);
	(void)working;
	/* Invoice numbers stay 1..N in the year. */
	ck_assert_int_eq(api_db_int(&srv, "SELECT COUNT(*) FROM invoices WHERE number IS NOT NULL", NULL),
			 api_db_int(&srv, "SELECT MAX(CAST(substr(number, 10) AS INTEGER)) FROM invoices", NULL));
}
END_TEST

static Suite *concurrency_suite(void)
{
	Suite *s = suite_create("api_concurrency");
	TCase *tc = tcase_create("concurrency");
	tcase_add_unchecked_fixture(tc, start, stop);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, playback_starts_race_the_stream_cap_standard);
	tcase_add_test(tc, playback_starts_race_the_stream_cap_premium);
	tcase_add_test(tc, refresh_rotation_raced_by_two_clients_has_one_winner);
	tcase_add_test(tc, same_idempotency_key_at_once_has_one_effect);
	tcase_add_test(tc, plan_changes_race_each_other_and_charge_once);
	tcase_add_test(tc, subscribes_at_once_make_one_subscription_and_one_charge);
	tcase_add_test(tc, sign_ups_with_one_email_at_once_make_one_account);
	tcase_add_test(tc, profile_creates_at_once_respect_the_limit_and_names);
	tcase_add_test(tc, plan_upgrades_race_the_renewal);
	tcase_add_test(tc, billing_runs_at_once_renew_each_subscription_once);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	SRunner *sr = srunner_create(concurrency_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	curl_global_cleanup();
	return failed ? 1 : 0;
}
