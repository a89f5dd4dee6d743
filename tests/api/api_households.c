/*
 * API tests of households against a real hearthd: the scenario of issue 8
 * end to end, with the test clock and no sleeping.
 *
 * hearthd runs with --trusted-proxies 127.0.0.1/32, so every request names
 * its client address in X-Forwarded-For: that is how a test puts a device
 * at home (203.0.113.0/24), in another city (198.51.100.0/24, 192.0.2.0/24)
 * or anywhere else.  Access tokens live a day (--access-ttl) and devices
 * refresh theirs after the clock moves.  Codes are read from the
 * notifications the server queued.  Each test has its own accounts; the
 * clock only moves forward, so no test depends on the time another left.
 *
 * The policy gives JP enforcement off, so one server covers both sides.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/api/harness.h"

#define PASSWORD "correct horse battery staple"
#define DAY 86400
#define HOME "203.0.113.10"
#define HOME2 "203.0.113.77"
#define AWAY "198.51.100.20"
#define OTHER_CITY "192.0.2.44"

static struct api_server srv;

static void start(void)
{
	static const char *const extra[] = {"--trusted-proxies", "127.0.0.1/32", "--access-ttl", "86400",
					    "--refresh-ttl", "31536000", "--household-policy",
					    "JP:enforcement=off", NULL};
	api_start(&srv, extra);
}
static void stop(void) { ck_assert_int_eq(api_stop(&srv), 0); }

/* ---- helpers ---- */

static int64_t moved_s; /* how far this test moved the clock */

static void advance(int64_t secs)
{
	api_advance(&srv, secs);
	moved_s += secs;
}

/* Write what was counted in memory to the database (the clock hook). */
static void flush(void) { advance(0); }

struct dev {
	char id[64];
	char token[1024];
	char refresh[128];
	int64_t issued_at; /* moved_s when the token was issued */
};

struct member {
	char id[64];
	char email[96];
	char profile[64];
	char country[3];
	struct dev web; /* the browser the member signed up with */
};

static struct api_resp *call(const char *ip, const char *method, const char *path, const char *token,
			     json_t *body)
{
	char xff[96];
	snprintf(xff, sizeof xff, "X-Forwarded-For: %s", ip);
	const char *const headers[] = {xff, NULL};
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	struct api_resp *r = api_request(&srv, method, path, token, text ? "application/json" : NULL, text,
					 headers);
	free(text);
	return r;
}

static const char *tok(struct dev *d);
#define MTOK(m) tok(&(m)->web)

static const char *jstr(json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

static void member_new(const char *email, const char *country, struct member *m)
{
	memset(m, 0, sizeof *m);
	struct api_resp *r = call(HOME, "POST", "/v1/accounts", NULL,
				  json_pack("{s:s, s:s, s:s}", "email", email, "password", PASSWORD,
					    "country", country));
	ck_assert_status(r, 201);
	snprintf(m->id, sizeof m->id, "%s", jstr(json_object_get(r->json, "account"), "id"));
	snprintf(m->web.token, sizeof m->web.token, "%s", api_str(r, "access_token"));
	snprintf(m->web.refresh, sizeof m->web.refresh, "%s", api_str(r, "refresh_token"));
	m->web.issued_at = moved_s;
	snprintf(m->profile, sizeof m->profile, "%s", jstr(json_object_get(r->json, "profile"), "id"));
	snprintf(m->email, sizeof m->email, "%s", email);
	snprintf(m->country, sizeof m->country, "%s", country);
	api_resp_free(r);
	if (!m->profile[0]) {
		r = api_get(&srv, "/v1/profiles", MTOK(m));
		ck_assert_status(r, 200);
		snprintf(m->profile, sizeof m->profile, "%s",
			 jstr(json_array_get(json_object_get(r->json, "data"), 0), "id"));
		api_resp_free(r);
	}
}

static void subscribe(struct member *m, const char *plan)
{
	struct api_resp *r = api_json(&srv, "POST", "/v1/payment-methods", MTOK(m),
				      json_pack("{s:s}", "token", "pm_card_visa"));
	ck_assert_status(r, 201);
	api_resp_free(r);
	r = api_json(&srv, "POST", "/v1/subscription", MTOK(m), json_pack("{s:s}", "plan", plan));
	ck_assert_status(r, 201);
	api_resp_free(r);
}

static void sign_in(const struct member *m, const char *name, const char *type, const char *ip,
		    struct dev *d)
{
	memset(d, 0, sizeof *d);
	struct api_resp *r = call(ip, "POST", "/v1/sessions", NULL,
				  json_pack("{s:s, s:s, s:{s:s, s:s}}", "email", m->email, "password",
					    PASSWORD, "device", "name", name, "type", type));
	ck_assert_status(r, 201);
	snprintf(d->token, sizeof d->token, "%s", api_str(r, "access_token"));
	snprintf(d->refresh, sizeof d->refresh, "%s", api_str(r, "refresh_token"));
	snprintf(d->id, sizeof d->id, "%s",
		 jstr(json_object_get(json_object_get(r->json, "session"), "device"), "id"));
	d->issued_at = moved_s;
	api_resp_free(r);
}

/* The device's token, refreshed when the clock moved since it was issued. */
static const char *tok(struct dev *d)
{
	if (moved_s - d->issued_at < 3600)
		return d->token;
	struct api_resp *r = api_json(&srv, "POST", "/v1/tokens/refresh", NULL,
				      json_pack("{s:s}", "refresh_token", d->refresh));
	ck_assert_status(r, 200);
	snprintf(d->token, sizeof d->token, "%s", api_str(r, "access_token"));
	snprintf(d->refresh, sizeof d->refresh, "%s", api_str(r, "refresh_token"));
	d->issued_at = moved_s;
	api_resp_free(r);
	return d->token;
}

/* A request from the device that only says "I am here". */
static void seen(struct dev *d, const char *ip)
{
	struct api_resp *r = call(ip, "GET", "/v1/me", tok(d), NULL);
	ck_assert_status(r, 200);
	api_resp_free(r);
}

static struct api_resp *play(struct dev *d, const char *ip, const char *profile)
{
	return call(ip, "POST", "/v1/playback/sessions", tok(d), json_pack("{s:s}", "profile_id", profile));
}

static void stop_stream(struct dev *d, const char *ip, struct api_resp *started)
{
	char path[128];
	snprintf(path, sizeof path, "/v1/playback/sessions/%s",
		 jstr(json_object_get(started->json, "stream"), "id"));
	struct api_resp *r = call(ip, "DELETE", path, tok(d), NULL);
	ck_assert_status(r, 204);
	api_resp_free(r);
}

/* True when the reasons of a decision include `reason`. */
static bool has_reason(const struct api_resp *r, const char *reason)
{
	json_t *a = json_object_get(r->json, "reasons");
	for (size_t i = 0; i < json_array_size(a); i++)
		if (strcmp(json_string_value(json_array_get(a, i)), reason) == 0)
			return true;
	return false;
}

/* Assert the reasons are exactly `want` (NULL-terminated), in order. */
static void assert_reasons(const struct api_resp *r, const char *const *want)
{
	json_t *a = json_object_get(r->json, "reasons");
	size_t n = 0;
	while (want[n])
		n++;
	ck_assert_msg(json_array_size(a) == n, "reasons: %s", r->body);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(strcmp(json_string_value(json_array_get(a, i)), want[i]) == 0,
			      "reason %zu is not %s: %s", i, want[i], r->body);
}

/* A text column of the first row of `sql` with ?1 = arg, into buf. */
static const char *db_text(const char *sql, const char *arg, char *buf, size_t cap)
{
	struct db *db = api_db(&srv);
	struct db_stmt *st = NULL;
	buf[0] = '\0';
	ck_assert_int_eq(db_prepare(db, sql, &st), ERR_OK);
	if (arg)
		db_bind_text(st, 1, arg);
	if (db_step_row(st) == ERR_OK && db_column_text(st, 0))
		snprintf(buf, cap, "%s", db_column_text(st, 0));
	db_done(st);
	db_close(db);
	return buf;
}

/* The code that was sent for challenge `id` (the newest send). */
static void code_of(const char *challenge_id, char code[8])
{
	char payload[1024];
	db_text("SELECT payload FROM notifications WHERE template IN ('household_code', 'travel_code')"
		" AND payload LIKE '%' || ?1 || '%' ORDER BY created_at DESC LIMIT 1",
		challenge_id, payload, sizeof payload);
	json_t *p = json_loads(payload, 0, NULL);
	ck_assert_ptr_nonnull(p);
	snprintf(code, 8, "%s", jstr(p, "code"));
	json_decref(p);
}

static struct api_resp *confirm(struct dev *d, const char *ip, const char *challenge_id, const char *code)
{
	char path[128];
	snprintf(path, sizeof path, "/v1/verifications/%s/confirm", challenge_id);
	return call(ip, "POST", path, tok(d), json_pack("{s:s}", "code", code));
}

static const char *challenge_id(const struct api_resp *r)
{
	return jstr(json_object_get(r->json, "challenge"), "id");
}

/* A TV at `ip` sets the household there with the owner's code. */
static void tv_sets_household(struct dev *tv, const char *ip, const char *want_action)
{
	char code[8], ch[64];
	struct api_resp *r = call(ip, "POST", "/v1/household", tok(tv), NULL);
	ck_assert_status(r, 202);
	ck_assert_str_eq(api_str(r, "action"), want_action[0] == 's' ? "set" : "move");
	snprintf(ch, sizeof ch, "%s", challenge_id(r));
	api_resp_free(r);
	code_of(ch, code);
	r = confirm(tv, ip, ch, code);
	ck_assert_status(r, 200);
	ck_assert_str_eq(api_str(r, "household_action"), want_action);
	api_resp_free(r);
}

static json_t *device_in(json_t *household, const char *id)
{
	json_t *a = json_object_get(household, "devices");
	for (size_t i = 0; i < json_array_size(a); i++)
		if (strcmp(jstr(json_array_get(a, i), "id"), id) == 0)
			return json_array_get(a, i);
	return NULL;
}

static int64_t decisions_of(const char *account) { return api_db_int(&srv, "SELECT COUNT(*) FROM playback_decisions WHERE account_id = ?1", account); }

/* ---- the scenario ---- */

START_TEST(tv_sets_the_household_and_a_phone_at_home_is_trusted)
{
	struct member m;
	struct dev tv, phone;
	member_new("hh-home@example.com", "US", &m);
	subscribe(&m, "premium");
	sign_in(&m, "Living room TV", "tv", HOME, &tv);
	/* The first TV seen proposes its network. */
	seen(&tv, HOME);
	flush();
	struct api_resp *r = api_get(&srv, "/v1/household", MTOK(&m));
	ck_assert_status(r, 200);
	ck_assert_str_eq(api_str(r, "status"), "proposed");
	ck_assert_str_eq(api_str(r, "origin_network"), "203.0.113.0/24");
	api_resp_free(r);
	/* The TV sets it with the owner's code. */
	tv_sets_household(&tv, HOME, "set");
	r = api_get(&srv, "/v1/household", MTOK(&m));
	ck_assert_str_eq(api_str(r, "status"), "set");
	json_t *nets = json_object_get(r->json, "networks");
	ck_assert_int_eq(json_array_size(nets), 1);
	ck_assert_str_eq(jstr(json_array_get(nets, 0), "prefix"), "203.0.113.0/24");
	api_resp_free(r);

	/* A phone at home plays, and is trusted from then on. */
	sign_in(&m, "Phone", "phone", HOME2, &phone);
	r = play(&phone, HOME2, m.profile);
	ck_assert_status(r, 201);
	ck_assert_str_eq(api_str(r, "outcome"), "allowed");
	assert_reasons(r, (const char *const[]){"on_household_network", NULL});
	ck_assert_ptr_nonnull(jstr(json_object_get(r->json, "stream"), "id"));
	stop_stream(&phone, HOME2, r);
	api_resp_free(r);
	flush();
	r = api_get(&srv, "/v1/household", MTOK(&m));
	json_t *p = device_in(r->json, phone.id);
	ck_assert_ptr_nonnull(p);
	ck_assert(json_is_true(json_object_get(p, "trusted")));
	ck_assert_str_eq(jstr(p, "why"), "seen_at_home_within_31d");
	json_t *t = device_in(r->json, tv.id);
	ck_assert(json_is_true(json_object_get(t, "household_tv")));
	api_resp_free(r);
}
END_TEST

START_TEST(phone_away_20_days_plays_32_days_needs_a_code_travel_7_days_then_the_limit)
{
	struct member m;
	struct dev tv, phone;
	char code[8], ch[64];
	member_new("hh-travel@example.com", "US", &m);
	subscribe(&m, "premium");
	sign_in(&m, "TV", "tv", HOME, &tv);
	tv_sets_household(&tv, HOME, "set");
	sign_in(&m, "Phone", "phone", HOME, &phone);
	seen(&phone, HOME);

	/* Day 20, away: seen at home within 31 days. */
	advance(20 * DAY);
	seen(&tv, HOME); /* the TV keeps the home network a household network */
	struct api_resp *r = play(&phone, AWAY, m.profile);
	ck_assert_status(r, 201);
	assert_reasons(r, (const char *const[]){"network_not_household", "seen_at_home_within_31d", NULL});
	stop_stream(&phone, AWAY, r);
	api_resp_free(r);

	/* Day 32 (the TV still at home on day 30): a code is needed. */
	advance(10 * DAY);
	seen(&tv, HOME);
	advance(2 * DAY);
	int64_t before = decisions_of(m.id);
	r = play(&phone, AWAY, m.profile);
	ck_assert_problem(r, 403, "verification_required");
	assert_reasons(r, (const char *const[]){"network_not_household", "device_not_seen_at_home_31d",
						  "verification_required", NULL});
	json_t *c = json_object_get(r->json, "challenge");
	ck_assert_str_eq(jstr(c, "channel"), "email");
	ck_assert_str_eq(jstr(c, "destination"), "h***@example.com");
	snprintf(ch, sizeof ch, "%s", jstr(c, "id"));
	api_resp_free(r);
	ck_assert_int_eq(decisions_of(m.id), before + 1);
	/* Asking again hands back the same challenge, no second code. */
	r = play(&phone, AWAY, m.profile);
	ck_assert_problem(r, 403, "verification_required");
	ck_assert_str_eq(challenge_id(r), ch);
	api_resp_free(r);
	ck_assert_int_eq(api_db_int(&srv, "SELECT COUNT(*) FROM notifications WHERE payload LIKE '%' || ?1 || '%'", ch), 1);

	/* A wrong code counts; the right one gives 7 days of travel. */
	code_of(ch, code);
	r = confirm(&phone, AWAY, ch, strcmp(code, "000000") ? "000000" : "111111");
	ck_assert_problem(r, 422, "invalid_code");
	ck_assert_int_eq(json_integer_value(json_object_get(r->json, "attempts_left")), 4);
	api_resp_free(r);
	r = confirm(&phone, AWAY, ch, code);
	ck_assert_status(r, 200);
	ck_assert_str_eq(api_str(r, "kind"), "travel");
	api_resp_free(r);
	ck_assert_int_eq(api_db_int(&srv, "SELECT expires_at - granted_at FROM travel_grants WHERE device_id = ?1", phone.id),
			 7 * DAY);
	/* The code is used up. */
	r = confirm(&phone, AWAY, ch, code);
	ck_assert_problem(r, 410, "challenge_closed");
	api_resp_free(r);
	r = play(&phone, AWAY, m.profile);
	ck_assert_status(r, 201);
	assert_reasons(r, (const char *const[]){"network_not_household", "device_not_seen_at_home_31d",
						  "travel_access_active", NULL});
	stop_stream(&phone, AWAY, r);
	api_resp_free(r);

	/* Day 40: the 7 days are over; a second code gives 7 more. */
	advance(8 * DAY);
	seen(&tv, HOME);
	r = play(&phone, AWAY, m.profile);
	ck_assert_problem(r, 403, "verification_required");
	snprintf(ch, sizeof ch, "%s", challenge_id(r));
	api_resp_free(r);
	code_of(ch, code);
	r = confirm(&phone, AWAY, ch, code);
	ck_assert_status(r, 200);
	api_resp_free(r);

	/* Day 48: two grants within 30 days is the limit. */
	advance(8 * DAY);
	seen(&tv, HOME);
	r = play(&phone, AWAY, m.profile);
	ck_assert_problem(r, 403, "travel_limit_reached");
	assert_reasons(r, (const char *const[]){"network_not_household", "device_not_seen_at_home_31d",
						  "travel_limit_reached", NULL});
	ck_assert_ptr_null(json_object_get(r->json, "challenge"));
	api_resp_free(r);

	/* Coming home makes the phone trusted again at once. */
	r = play(&phone, HOME2, m.profile);
	ck_assert_status(r, 201);
	assert_reasons(r, (const char *const[]){"on_household_network", NULL});
	api_resp_free(r);
}
END_TEST

START_TEST(laptop_only_seen_in_another_city_needs_verification)
{
	struct member m;
	struct dev tv, laptop;
	member_new("hh-laptop@example.com", "US", &m);
	subscribe(&m, "standard");
	sign_in(&m, "TV", "tv", HOME, &tv);
	tv_sets_household(&tv, HOME, "set");
	sign_in(&m, "Laptop", "web", OTHER_CITY, &laptop);
	seen(&laptop, OTHER_CITY);
	flush();
	struct api_resp *r = play(&laptop, OTHER_CITY, m.profile);
	ck_assert_problem(r, 403, "verification_required");
	assert_reasons(r, (const char *const[]){"network_not_household", "new_device_outside_household",
						  "verification_required", NULL});
	api_resp_free(r);
	/* The stored decision says why and from what. */
	char reasons[256], inputs[1024];
	db_text("SELECT reasons FROM playback_decisions WHERE device_id = ?1 ORDER BY created_at DESC LIMIT 1",
		laptop.id, reasons, sizeof reasons);
	ck_assert_str_eq(reasons, "[\"network_not_household\",\"new_device_outside_household\",\"verification_required\"]");
	db_text("SELECT inputs FROM playback_decisions WHERE device_id = ?1 ORDER BY created_at DESC LIMIT 1",
		laptop.id, inputs, sizeof inputs);
	json_t *in = json_loads(inputs, 0, NULL);
	ck_assert_str_eq(jstr(in, "network"), "192.0.2.0/24");
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(in, "household_networks"), 0)), "203.0.113.0/24");
	ck_assert(json_is_null(json_object_get(in, "last_seen_at_home")));
	json_decref(in);
	/* The member sees the decisions with explanations. */
	r = api_get(&srv, "/v1/playback/decisions?limit=5", MTOK(&m));
	ck_assert_status(r, 200);
	json_t *d0 = json_array_get(json_object_get(r->json, "data"), 0);
	ck_assert_str_eq(jstr(d0, "outcome"), "verification_required");
	ck_assert_int_eq(json_array_size(json_object_get(d0, "explanation")), 3);
	api_resp_free(r);
	r = api_get(&srv, "/v1/household", MTOK(&m));
	json_t *l = device_in(r->json, laptop.id);
	ck_assert(json_is_false(json_object_get(l, "trusted")));
	ck_assert_str_eq(jstr(l, "why"), "new_device_outside_household");
	api_resp_free(r);
}
END_TEST

/* The decisions list pages newest first by starting_after: walking it one
 * at a time gives the whole list once each, in order; a cursor from
 * another account is refused and lists nothing. */
START_TEST(decisions_are_paged_newest_first_with_starting_after)
{
	struct member m, other;
	struct dev tv, laptop;
	member_new("hh-pages@example.com", "US", &m);
	subscribe(&m, "premium");
	sign_in(&m, "TV", "tv", HOME, &tv);
	tv_sets_household(&tv, HOME, "set");
	sign_in(&m, "Laptop", "web", OTHER_CITY, &laptop);
	for (int i = 0; i < 3; i++) {
		struct api_resp *r = play(&tv, HOME, m.profile);
		ck_assert_status(r, 201);
		api_resp_free(r);
		r = play(&laptop, OTHER_CITY, m.profile); /* verification_required: a decision too */
		ck_assert_status(r, 403);
		api_resp_free(r);
	}
	int64_t total = api_db_int(&srv, "SELECT COUNT(*) FROM playback_decisions WHERE account_id = ?1", m.id);
	ck_assert_int_ge(total, 6);
	struct api_resp *all = api_get(&srv, "/v1/playback/decisions?limit=100", MTOK(&m));
	ck_assert_status(all, 200);
	json_t *data = json_object_get(all->json, "data");
	ck_assert_int_eq((int64_t)json_array_size(data), total);
	ck_assert(json_is_false(json_object_get(all->json, "has_more")));
	char cursor[64] = "", path[160];
	for (int64_t i = 0; i < total; i++) {
		if (cursor[0])
			snprintf(path, sizeof path, "/v1/playback/decisions?limit=1&starting_after=%s", cursor);
		else
			snprintf(path, sizeof path, "/v1/playback/decisions?limit=1");
		struct api_resp *r = api_get(&srv, path, MTOK(&m));
		ck_assert_status(r, 200);
		json_t *page = json_object_get(r->json, "data");
		ck_assert_int_eq(json_array_size(page), 1);
		const char *id = jstr(json_array_get(page, 0), "id");
		ck_assert_str_eq(id, jstr(json_array_get(data, (size_t)i), "id"));
		ck_assert(json_is_boolean(json_object_get(r->json, "has_more")));
		ck_assert_int_eq(json_is_true(json_object_get(r->json, "has_more")), i + 1 < total);
		snprintf(cursor, sizeof cursor, "%s", id);
		api_resp_free(r);
	}
	/* Past the oldest: an empty page. */
	snprintf(path, sizeof path, "/v1/playback/decisions?starting_after=%s", cursor);
	struct api_resp *r = api_get(&srv, path, MTOK(&m));
	ck_assert_status(r, 200);
	ck_assert_int_eq(json_array_size(json_object_get(r->json, "data")), 0);
	api_resp_free(r);
	/* Another member cannot page with this member's decision. */
	member_new("hh-pages-other@example.com", "US", &other);
	r = api_get(&srv, path, MTOK(&other));
	ck_assert_problem(r, 400, "invalid_parameter");
	api_resp_free(r);
	r = api_get(&srv, "/v1/playback/decisions?starting_after=pdec_nosuchdecision", MTOK(&m));
	ck_assert_problem(r, 400, "invalid_parameter");
	api_resp_free(r);
	api_resp_free(all);
}
END_TEST

START_TEST(enforcement_off_in_a_country_records_but_never_blocks)
{
	struct member m;
	struct dev tv, laptop;
	member_new("hh-jp@example.com", "JP", &m);
	subscribe(&m, "premium");
	sign_in(&m, "TV", "tv", HOME, &tv);
	tv_sets_household(&tv, HOME, "set");
	sign_in(&m, "Laptop", "web", OTHER_CITY, &laptop);
	struct api_resp *r = play(&laptop, OTHER_CITY, m.profile);
	ck_assert_status(r, 201);
	ck_assert(json_is_false(json_object_get(r->json, "enforced")));
	assert_reasons(r, (const char *const[]){"network_not_household", "new_device_outside_household",
						  "verification_skipped_enforcement_off", NULL});
	api_resp_free(r);
	ck_assert_int_eq(api_db_int(&srv, "SELECT enforced FROM playback_decisions WHERE device_id = ?1", laptop.id), 0);
	ck_assert_int_eq(api_db_int(&srv, "SELECT COUNT(*) FROM household_challenges WHERE account_id = ?1", m.id), 1);
}
END_TEST

/* ---- stream caps ---- */

struct racer {
	struct dev d;
	const char *profile;
	long status;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	struct api_resp *resp = play(&r->d, HOME, r->profile);
	r->status = resp->status;
	api_resp_free(resp);
	return NULL;
}

static void cap_holds(const char *email, const char *plan, int cap)
{
	enum { RACERS = 8 };
	struct member m;
	struct racer rs[RACERS];
	pthread_t th[RACERS];
	member_new(email, "US", &m);
	subscribe(&m, plan);
	for (int i = 0; i < RACERS; i++) {
		char name[32];
		snprintf(name, sizeof name, "Phone %d", i);
		sign_in(&m, name, "phone", HOME, &rs[i].d);
		rs[i].profile = m.profile;
		tok(&rs[i].d);
	}
	for (int i = 0; i < RACERS; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, race, &rs[i]), 0);
	int allowed = 0, refused = 0;
	for (int i = 0; i < RACERS; i++) {
		pthread_join(th[i], NULL);
		allowed += rs[i].status == 201;
		refused += rs[i].status == 409;
	}
	ck_assert_int_eq(allowed, cap);
	ck_assert_int_eq(refused, RACERS - cap);
	ck_assert_int_eq(api_db_int(&srv, "SELECT COUNT(*) FROM stream_slots WHERE account_id = ?1 AND ended_at IS NULL", m.id), cap);
	ck_assert_int_eq(api_db_int(&srv, "SELECT COUNT(*) FROM playback_decisions WHERE account_id = ?1"
				    " AND outcome = 'stream_limit_reached'"
				    " AND reasons = '[\"household_not_set\",\"stream_limit_reached\"]'", m.id),
			 RACERS - cap);
}

START_TEST(stream_caps_hold_under_concurrent_starts)
{
	cap_holds("hh-cap-premium@example.com", "premium", 4);
	cap_holds("hh-cap-standard@example.com", "standard", 2);
	cap_holds("hh-cap-ads@example.com", "standard_with_ads", 2);
}
END_TEST

START_TEST(heartbeat_expiry_frees_a_slot_and_the_full_answer_lists_streams)
{
	struct member m;
	struct dev a, b, c;
	char path[128];
	member_new("hh-heartbeat@example.com", "US", &m);
	subscribe(&m, "standard");
	sign_in(&m, "A", "phone", HOME, &a);
	sign_in(&m, "B", "tablet", HOME, &b);
	sign_in(&m, "C", "web", HOME, &c);
	struct api_resp *ra = play(&a, HOME, m.profile), *rb = play(&b, HOME, m.profile);
	ck_assert_status(ra, 201);
	ck_assert_status(rb, 201);
	struct api_resp *r = play(&c, HOME, m.profile);
	ck_assert_problem(r, 409, "stream_limit_reached");
	json_t *active = json_object_get(r->json, "active_streams");
	ck_assert_int_eq(json_array_size(active), 2);
	/* Both started in the same second: either may come first. */
	const char *n0 = jstr(json_array_get(active, 0), "device_name");
	const char *n1 = jstr(json_array_get(active, 1), "device_name");
	ck_assert((strcmp(n0, "A") == 0 && strcmp(n1, "B") == 0) || (strcmp(n0, "B") == 0 && strcmp(n1, "A") == 0));
	ck_assert_ptr_nonnull(jstr(json_array_get(active, 0), "profile_id"));
	ck_assert_ptr_nonnull(jstr(json_array_get(active, 0), "started_at"));
	api_resp_free(r);
	/* A heartbeats at 90 s; B does not. */
	advance(90);
	snprintf(path, sizeof path, "/v1/playback/sessions/%s", jstr(json_object_get(ra->json, "stream"), "id"));
	r = call(HOME, "PUT", path, tok(&a), NULL);
	ck_assert_status(r, 200);
	api_resp_free(r);
	advance(40); /* B's last sign of life was 130 s ago */
	r = play(&c, HOME, m.profile);
	ck_assert_status(r, 201);
	api_resp_free(r);
	snprintf(path, sizeof path, "/v1/playback/sessions/%s", jstr(json_object_get(rb->json, "stream"), "id"));
	r = call(HOME, "PUT", path, tok(&b), NULL);
	ck_assert_problem(r, 410, "stream_ended");
	ck_assert_str_eq(api_str(r, "end_reason"), "heartbeat_timeout");
	api_resp_free(r);
	/* A device starting again replaces its own slot. */
	r = play(&a, HOME, m.profile);
	ck_assert_status(r, 201);
	api_resp_free(r);
	ck_assert_int_eq(api_db_int(&srv, "SELECT COUNT(*) FROM stream_slots WHERE account_id = ?1 AND end_reason = 'replaced'", m.id), 1);
	api_resp_free(ra);
	api_resp_free(rb);
}
END_TEST

/* ---- the household moves ---- */

START_TEST(household_moves_and_the_move_limit)
{
	struct member m;
	struct dev tv;
	member_new("hh-move@example.com", "US", &m);
	subscribe(&m, "premium");
	sign_in(&m, "TV", "tv", HOME, &tv);
	tv_sets_household(&tv, HOME, "set");
	static const char *const places[] = {"198.51.100.5", "192.0.2.9", "203.0.114.3"};
	for (int i = 0; i < 3; i++) {
		advance(DAY);
		tv_sets_household(&tv, places[i], "moved");
	}
	struct api_resp *r = api_get(&srv, "/v1/household", MTOK(&m));
	ck_assert_str_eq(api_str(r, "origin_network"), "203.0.114.0/24");
	/* The old networks went with the move. */
	ck_assert_int_eq(json_array_size(json_object_get(r->json, "networks")), 1);
	api_resp_free(r);
	/* A fourth move within 30 days is refused before any code is sent. */
	int64_t codes = api_db_int(&srv, "SELECT COUNT(*) FROM household_challenges WHERE account_id = ?1", m.id);
	r = call(HOME, "POST", "/v1/household", tok(&tv), NULL);
	ck_assert_problem(r, 429, "household_move_limit");
	api_resp_free(r);
	ck_assert_int_eq(api_db_int(&srv, "SELECT COUNT(*) FROM household_challenges WHERE account_id = ?1", m.id), codes);
	/* After the period, moving works again. */
	advance(30 * DAY);
	tv_sets_household(&tv, HOME, "moved");
	ck_assert_int_eq(api_db_int(&srv, "SELECT COUNT(*) FROM events WHERE type = 'household.moved' AND payload LIKE '%' || ?1 || '%'", m.id), 4);
}
END_TEST

START_TEST(household_follows_its_tv_to_a_new_address_and_the_old_one_lapses)
{
	struct member m;
	struct dev tv;
	member_new("hh-isp@example.com", "US", &m);
	subscribe(&m, "standard");
	sign_in(&m, "TV", "tv", HOME, &tv);
	tv_sets_household(&tv, HOME, "set");
	/* The provider gives the home a new address on day 5. */
	advance(5 * DAY);
	seen(&tv, "203.0.113.200");
	seen(&tv, "100.64.7.8");
	flush();
	struct api_resp *r = api_get(&srv, "/v1/household", MTOK(&m));
	ck_assert_int_eq(json_array_size(json_object_get(r->json, "networks")), 2);
	api_resp_free(r);
	/* 32 days after the TV was last on the old network, it lapses. */
	for (int i = 0; i < 4; i++) {
		advance(8 * DAY);
		seen(&tv, "100.64.7.8");
	}
	flush();
	r = api_get(&srv, "/v1/household", MTOK(&m));
	json_t *nets = json_object_get(r->json, "networks");
	ck_assert_int_eq(json_array_size(nets), 1);
	ck_assert_str_eq(jstr(json_array_get(nets, 0), "prefix"), "100.64.7.0/24");
	api_resp_free(r);
}
END_TEST

START_TEST(only_a_tv_sets_the_household_and_bad_codes_change_nothing)
{
	struct member m;
	struct dev tv, phone;
	member_new("hh-notv@example.com", "US", &m);
	subscribe(&m, "standard");
	sign_in(&m, "Phone", "phone", HOME, &phone);
	struct api_resp *r = call(HOME, "POST", "/v1/household", tok(&phone), NULL);
	ck_assert_problem(r, 403, "household_requires_tv");
	api_resp_free(r);
	ck_assert_int_eq(api_db_int(&srv, "SELECT COUNT(*) FROM household_challenges WHERE account_id = ?1", m.id), 0);
	/* Without a household, playback goes on and says so. */
	r = play(&phone, AWAY, m.profile);
	ck_assert_status(r, 201);
	assert_reasons(r, (const char *const[]){"household_not_set", NULL});
	api_resp_free(r);

	sign_in(&m, "TV", "tv", HOME, &tv);
	r = call(HOME, "POST", "/v1/household", tok(&tv), NULL);
	ck_assert_status(r, 202);
	char ch[64];
	snprintf(ch, sizeof ch, "%s", challenge_id(r));
	api_resp_free(r);
	/* Malformed bodies are 422 and count nothing. */
	char path[128];
	snprintf(path, sizeof path, "/v1/verifications/%s/confirm", ch);
	r = call(HOME, "POST", path, tok(&tv), json_pack("{s:i}", "code", 123456));
	ck_assert_problem(r, 422, "validation_failed");
	api_resp_free(r);
	r = call(HOME, "POST", path, tok(&tv), json_pack("{s:s, s:s}", "code", "123456", "extra", "x"));
	ck_assert_problem(r, 422, "validation_failed");
	api_resp_free(r);
	ck_assert_int_eq(api_db_int(&srv, "SELECT attempts FROM household_challenges WHERE id = ?1", ch), 0);
	/* Another account cannot see the challenge. */
	struct member other;
	member_new("hh-notv-other@example.com", "US", &other);
	r = call(HOME, "POST", path, MTOK(&other), json_pack("{s:s}", "code", "123456"));
	ck_assert_problem(r, 404, "not_found");
	api_resp_free(r);
	/* Five wrong codes close it. */
	char code[8];
	code_of(ch, code);
	const char *wrong = strcmp(code, "000000") ? "000000" : "111111";
	for (int i = 4; i >= 0; i--) {
		r = confirm(&tv, HOME, ch, wrong);
		ck_assert_problem(r, 422, "invalid_code");
		ck_assert_int_eq(json_integer_value(json_object_get(r->json, "attempts_left")), i);
		api_resp_free(r);
	}
	r = confirm(&tv, HOME, ch, code);
	ck_assert_problem(r, 410, "challenge_closed");
	api_resp_free(r);
	r = api_get(&srv, "/v1/household", MTOK(&m));
	ck_assert_str_ne(api_str(r, "status"), "set");
	api_resp_free(r);
	/* An expired code is closed too. */
	r = call(HOME, "POST", "/v1/household", tok(&tv), NULL);
	snprintf(ch, sizeof ch, "%s", challenge_id(r));
	api_resp_free(r);
	code_of(ch, code);
	advance(15 * 60 + 1);
	r = confirm(&tv, HOME, ch, code);
	ck_assert_problem(r, 410, "challenge_closed");
	api_resp_free(r);
}
END_TEST

START_TEST(resend_is_throttled)
{
	struct member m;
	struct dev tv;
	char path[128], ch[64];
	member_new("hh-resend@example.com", "US", &m);
	subscribe(&m, "standard");
	sign_in(&m, "TV", "tv", HOME, &tv);
	struct api_resp *r = call(HOME, "POST", "/v1/household", tok(&tv), NULL);
	snprintf(ch, sizeof ch, "%s", challenge_id(r));
	api_resp_free(r);
	snprintf(path, sizeof path, "/v1/verifications/%s/resend", ch);
	r = call(HOME, "POST", path, tok(&tv), NULL);
	ck_assert_problem(r, 429, "too_many_attempts");
	char ra[16];
	ck_assert_str_eq(api_header(r, "Retry-After", ra, sizeof ra), "60");
	api_resp_free(r);
	advance(60);
	r = call(HOME, "POST", path, tok(&tv), NULL);
	ck_assert_status(r, 202);
	ck_assert_int_eq(json_integer_value(json_object_get(r->json, "resends_left")), 1);
	api_resp_free(r);
	advance(60);
	r = call(HOME, "POST", path, tok(&tv), NULL);
	ck_assert_status(r, 202);
	api_resp_free(r);
	advance(60);
	r = call(HOME, "POST", path, tok(&tv), NULL);
	ck_assert_problem(r, 429, "too_many_attempts");
	api_resp_free(r);
	/* Only the newest code works. */
	char code[8];
	code_of(ch, code);
	r = confirm(&tv, HOME, ch, code);
	ck_assert_status(r, 200);
	api_resp_free(r);
	ck_assert_int_eq(api_db_int(&srv, "SELECT sends FROM household_challenges WHERE id = ?1", ch), 3);
}
END_TEST

/* ---- entitlements and devices ---- */

START_TEST(payment_and_device_type_decide_first)
{
	struct member m, in;
	struct dev phone, tv;
	member_new("hh-nosub@example.com", "US", &m);
	sign_in(&m, "Phone", "phone", HOME, &phone);
	struct api_resp *r = play(&phone, HOME, m.profile);
	ck_assert_problem(r, 402, "payment_required");
	assert_reasons(r, (const char *const[]){"no_subscription", NULL});
	api_resp_free(r);
	/* The mobile plan (India) does not play on a TV. */
	member_new("hh-mobile@example.com", "IN", &in);
	subscribe(&in, "mobile");
	sign_in(&in, "TV", "tv", HOME, &tv);
	r = play(&tv, HOME, in.profile);
	ck_assert_problem(r, 403, "plan_not_available_on_device");
	api_resp_free(r);
	sign_in(&in, "Phone", "phone", HOME, &phone);
	r = play(&phone, HOME, in.profile);
	ck_assert_status(r, 201);
	api_resp_free(r);
}
END_TEST

START_TEST(playback_bad_input_changes_nothing)
{
	struct member m, other;
	struct dev phone;
	member_new("hh-bad@example.com", "US", &m);
	member_new("hh-bad-other@example.com", "US", &other);
	subscribe(&m, "standard");
	sign_in(&m, "Phone", "phone", HOME, &phone);
	struct api_resp *r = call(HOME, "POST", "/v1/playback/sessions", tok(&phone), json_object());
	ck_assert_problem(r, 422, "validation_failed");
	api_resp_free(r);
	r = call(HOME, "POST", "/v1/playback/sessions", tok(&phone),
		 json_pack("{s:s, s:b}", "profile_id", m.profile, "hd", 1));
	ck_assert_problem(r, 422, "validation_failed");
	api_resp_free(r);
	r = call(HOME, "POST", "/v1/playback/sessions", tok(&phone), json_pack("{s:s}", "profile_id", "nope"));
	ck_assert_problem(r, 422, "validation_failed");
	api_resp_free(r);
	r = play(&phone, HOME, other.profile);
	ck_assert_problem(r, 404, "not_found");
	api_resp_free(r);
	r = call(HOME, "POST", "/v1/playback/sessions", NULL, json_pack("{s:s}", "profile_id", m.profile));
	ck_assert_problem(r, 401, "unauthenticated");
	api_resp_free(r);
	r = api_request(&srv, "POST", "/v1/playback/sessions", tok(&phone), "text/plain", "x", NULL);
	ck_assert_problem(r, 415, "unsupported_media_type");
	api_resp_free(r);
	r = call(HOME, "PUT", "/v1/playback/sessions/str_nope", tok(&phone), NULL);
	ck_assert_problem(r, 404, "not_found");
	api_resp_free(r);
	r = call(HOME, "DELETE", "/v1/playback/sessions/str_nope", tok(&phone), NULL);
	ck_assert_problem(r, 404, "not_found");
	api_resp_free(r);
	ck_assert_int_eq(decisions_of(m.id), 0);
	ck_assert_int_eq(api_db_int(&srv, "SELECT COUNT(*) FROM stream_slots WHERE account_id = ?1", m.id), 0);
}
END_TEST

/* ---- client addresses ---- */

START_TEST(forwarded_for_is_believed_only_from_trusted_proxies)
{
	struct member m;
	struct dev phone;
	member_new("hh-xff@example.com", "US", &m);
	sign_in(&m, "Phone", "phone", HOME, &phone);
	/* The right-most address that is not a trusted proxy is the client. */
	char xff[] = "X-Forwarded-For: 10.9.8.7, 198.51.100.99";
	const char *const headers[] = {xff, NULL};
	struct api_resp *r = api_request(&srv, "GET", "/v1/me", tok(&phone), NULL, NULL, headers);
	ck_assert_status(r, 200);
	api_resp_free(r);
	flush();
	ck_assert_int_eq(api_db_int(&srv, "SELECT COUNT(*) FROM device_sightings WHERE device_id = ?1"
				    " AND network = '198.51.100.0/24'", phone.id), 1);
	ck_assert_int_eq(api_db_int(&srv, "SELECT COUNT(*) FROM device_sightings WHERE device_id = ?1"
				    " AND network = '10.9.8.0/24'", phone.id), 0);
	/* A server that trusts no proxy keeps the socket's address. */
	struct api_server plain;
	api_start(&plain, NULL);
	r = api_json(&plain, "POST", "/v1/accounts", NULL,
		     json_pack("{s:s, s:s, s:s}", "email", "hh-xff2@example.com", "password", PASSWORD,
			       "country", "US"));
	ck_assert_status(r, 201);
	char token[1024], acct[64];
	snprintf(token, sizeof token, "%s", api_str(r, "access_token"));
	snprintf(acct, sizeof acct, "%s", jstr(json_object_get(r->json, "account"), "id"));
	api_resp_free(r);
	r = api_request(&plain, "GET", "/v1/me", token, NULL, NULL, headers);
	ck_assert_status(r, 200);
	api_resp_free(r);
	api_advance(&plain, 0);
	ck_assert_int_eq(api_db_int(&plain, "SELECT COUNT(*) FROM device_sightings WHERE account_id = ?1"
				    " AND network = '127.0.0.0/24'", acct), 1);
	ck_assert_int_eq(api_db_int(&plain, "SELECT COUNT(*) FROM device_sightings WHERE account_id = ?1"
				    " AND network <> '127.0.0.0/24'", acct), 0);
	ck_assert_int_eq(api_stop(&plain), 0);
}
END_TEST

START_TEST(sightings_are_counted_per_device_network_and_day)
{
	struct member m;
	struct dev phone;
	member_new("hh-count@example.com", "US", &m);
	sign_in(&m, "Phone", "phone", HOME, &phone);
	for (int i = 0; i < 5; i++)
		seen(&phone, HOME);
	seen(&phone, AWAY);
	flush();
	ck_assert_int_eq(api_db_int(&srv, "SELECT requests FROM device_sightings WHERE device_id = ?1"
				    " AND network = '203.0.113.0/24'", phone.id), 5);
	ck_assert_int_eq(api_db_int(&srv, "SELECT requests FROM device_sightings WHERE device_id = ?1"
				    " AND network = '198.51.100.0/24'", phone.id), 1);
	seen(&phone, HOME);
	flush();
	ck_assert_int_eq(api_db_int(&srv, "SELECT requests FROM device_sightings WHERE device_id = ?1"
				    " AND network = '203.0.113.0/24'", phone.id), 6);
	advance(DAY);
	seen(&phone, HOME);
	flush();
	ck_assert_int_eq(api_db_int(&srv, "SELECT COUNT(*) FROM device_sightings WHERE device_id = ?1", phone.id), 3);
}
END_TEST

/* ---- extra members ---- */

static void invitation_token(const char *email, char *out, size_t cap)
{
	char payload[1024];
	db_text("SELECT payload FROM notifications WHERE template = 'extra_member_invitation' AND recipient = ?1"
		" ORDER BY created_at DESC LIMIT 1",
		email, payload, sizeof payload);
	json_t *p = json_loads(payload, 0, NULL);
	ck_assert_ptr_nonnull(p);
	snprintf(out, cap, "%s", jstr(p, "token"));
	json_decref(p);
}

START_TEST(extra_member_buy_invite_accept_play_remove)
{
	struct member owner, guest, far;
	struct dev gphone, gtablet;
	char token[128], xm[64], path[128];
	member_new("hh-xm-owner@example.com", "US", &owner);
	subscribe(&owner, "standard");
	/* Buying a slot charges the prorated add-on at once. */
	struct api_resp *r = api_json(&srv, "POST", "/v1/extra-members", MTOK(&owner),
				      json_pack("{s:s}", "email", "hh-xm-guest@example.com"));
	ck_assert_status(r, 201);
	ck_assert_str_eq(api_str(r, "status"), "invited");
	snprintf(xm, sizeof xm, "%s", api_str(r, "id"));
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(r->json, "price"), "amount")), 899);
	char inv[64];
	snprintf(inv, sizeof inv, "%s", api_str(r, "invoice_id"));
	api_resp_free(r);
	/* Subscribed a moment ago: the whole period remains, so the line is the full price. */
	ck_assert_int_eq(api_db_int(&srv, "SELECT amount FROM invoice_lines WHERE invoice_id = ?1 AND kind = 'addon'", inv), 899);
	ck_assert_int_eq(api_db_int(&srv, "SELECT COUNT(*) FROM invoices WHERE id = ?1 AND status = 'paid'", inv), 1);
	/* The plan's one slot is taken. */
	r = api_json(&srv, "POST", "/v1/extra-members", MTOK(&owner), json_pack("{s:s}", "email", "hh-xm-2@example.com"));
	ck_assert_problem(r, 409, "extra_member_slots_full");
	api_resp_free(r);

	/* Someone in another country cannot accept. */
	invitation_token("hh-xm-guest@example.com", token, sizeof token);
	member_new("hh-xm-far@example.com", "GB", &far);
	r = api_json(&srv, "POST", "/v1/extra-members/accept", MTOK(&far), json_pack("{s:s}", "token", token));
	ck_assert_problem(r, 404, "invitation_invalid"); /* not the invited address */
	api_resp_free(r);
	r = api_json(&srv, "POST", "/v1/extra-members/accept", MTOK(&owner), json_pack("{s:s}", "token", "nope"));
	ck_assert_problem(r, 404, "invitation_invalid");
	api_resp_free(r);

	/* The invitee signs up in the owner's country and accepts. */
	member_new("hh-xm-guest@example.com", "US", &guest);
	r = api_json(&srv, "POST", "/v1/extra-members/accept", MTOK(&guest), json_pack("{s:s}", "token", token));
	ck_assert_status(r, 200);
	ck_assert_str_eq(api_str(r, "status"), "active");
	ck_assert_str_eq(api_str(r, "owner_account_id"), owner.id);
	api_resp_free(r);
	r = api_json(&srv, "POST", "/v1/extra-members/accept", MTOK(&guest), json_pack("{s:s}", "token", token));
	ck_assert_problem(r, 404, "invitation_invalid");
	api_resp_free(r);

	/* The extra member plays, on one stream, from their own home. */
	sign_in(&guest, "Guest phone", "phone", OTHER_CITY, &gphone);
	sign_in(&guest, "Guest tablet", "tablet", OTHER_CITY, &gtablet);
	r = play(&gphone, OTHER_CITY, guest.profile);
	ck_assert_status(r, 201);
	ck_assert(has_reason(r, "extra_member"));
	ck_assert_int_eq(json_integer_value(json_object_get(r->json, "max_streams")), 1);
	api_resp_free(r);
	r = play(&gtablet, OTHER_CITY, guest.profile);
	ck_assert_problem(r, 409, "stream_limit_reached");
	api_resp_free(r);
	/* ... on one profile. */
	r = api_json(&srv, "POST", "/v1/profiles", MTOK(&guest), json_pack("{s:s}", "name", "Second"));
	ck_assert_status(r, 201);
	char second[64];
	snprintf(second, sizeof second, "%s", api_str(r, "id"));
	api_resp_free(r);
	r = play(&gtablet, OTHER_CITY, second);
	ck_assert_problem(r, 403, "profile_not_allowed");
	api_resp_free(r);

	/* The owner removes them: access runs to the period end, then stops. */
	snprintf(path, sizeof path, "/v1/extra-members/%s", xm);
	r = api_request(&srv, "DELETE", path, MTOK(&owner), NULL, NULL, NULL);
	ck_assert_status(r, 200);
	ck_assert_str_eq(api_str(r, "status"), "removed");
	ck_assert_ptr_nonnull(api_str(r, "access_ends_at"));
	api_resp_free(r);
	r = play(&gphone, OTHER_CITY, guest.profile);
	ck_assert_status(r, 201);
	api_resp_free(r);
	advance(32 * DAY);
	r = play(&gphone, OTHER_CITY, guest.profile);
	ck_assert_problem(r, 402, "payment_required");
	assert_reasons(r, (const char *const[]){"extra_member_access_ended", NULL});
	api_resp_free(r);
}
END_TEST

START_TEST(extra_members_need_a_plan_with_slots)
{
	struct member m;
	member_new("hh-xm-ads@example.com", "US", &m);
	subscribe(&m, "standard_with_ads");
	struct api_resp *r = api_json(&srv, "POST", "/v1/extra-members", MTOK(&m),
				      json_pack("{s:s}", "email", "hh-xm-ads-guest@example.com"));
	ck_assert_problem(r, 409, "extra_members_not_in_plan");
	api_resp_free(r);
	r = api_json(&srv, "POST", "/v1/extra-members", MTOK(&m), json_pack("{s:s}", "email", "not an email"));
	ck_assert_problem(r, 422, "validation_failed");
	api_resp_free(r);
	ck_assert_int_eq(api_db_int(&srv, "SELECT COUNT(*) FROM extra_members WHERE owner_account_id = ?1", m.id), 0);
	ck_assert_int_eq(api_db_int(&srv, "SELECT COUNT(*) FROM subscription_addons WHERE account_id = ?1", m.id), 0);
}
END_TEST


START_TEST(extra_member_acceptance_rules)
{
	struct member owner, abroad, paying;
	char token[128];
	member_new("hh-xr-owner@example.com", "US", &owner);
	subscribe(&owner, "premium");
	struct api_resp *r = api_json(&srv, "POST", "/v1/extra-members", MTOK(&owner),
				      json_pack("{s:s}", "email", "hh-xr-abroad@example.com"));
	ck_assert_status(r, 201);
	api_resp_free(r);
	r = api_json(&srv, "POST", "/v1/extra-members", MTOK(&owner),
		     json_pack("{s:s}", "email", "HH-XR-Paying@example.com"));
	ck_assert_status(r, 201);
	api_resp_free(r);
	/* The same address twice, and the owner's own address, are refused. */
	r = api_json(&srv, "POST", "/v1/extra-members", MTOK(&owner),
		     json_pack("{s:s}", "email", "hh-xr-paying@example.com"));
	ck_assert_problem(r, 409, "conflict");
	api_resp_free(r);
	/* Another country. */
	invitation_token("hh-xr-abroad@example.com", token, sizeof token);
	member_new("hh-xr-abroad@example.com", "GB", &abroad);
	r = api_json(&srv, "POST", "/v1/extra-members/accept", MTOK(&abroad), json_pack("{s:s}", "token", token));
	ck_assert_problem(r, 409, "invitee_not_eligible");
	ck_assert_str_eq(api_str(r, "reason"), "country_mismatch");
	api_resp_free(r);
	/* An account that pays for its own subscription. */
	invitation_token("HH-XR-Paying@example.com", token, sizeof token);
	member_new("hh-xr-paying@example.com", "US", &paying);
	subscribe(&paying, "standard");
	r = api_json(&srv, "POST", "/v1/extra-members/accept", MTOK(&paying), json_pack("{s:s}", "token", token));
	ck_assert_problem(r, 409, "invitee_not_eligible");
	ck_assert_str_eq(api_str(r, "reason"), "has_subscription");
	api_resp_free(r);
	ck_assert_int_eq(api_db_int(&srv, "SELECT COUNT(*) FROM extra_members WHERE owner_account_id = ?1"
				    " AND status = 'invited'", owner.id), 2);
	/* The owner sees both invitations and can withdraw one at once. */
	r = api_get(&srv, "/v1/extra-members", MTOK(&owner));
	ck_assert_status(r, 200);
	json_t *data = json_object_get(r->json, "data");
	ck_assert_int_eq(json_array_size(data), 2);
	char path[128] = "";
	for (size_t i = 0; i < json_array_size(data); i++)
		if (strcmp(jstr(json_array_get(data, i), "email"), "hh-xr-abroad@example.com") == 0)
			snprintf(path, sizeof path, "/v1/extra-members/%s", jstr(json_array_get(data, i), "id"));
	api_resp_free(r);
	ck_assert(path[0]);
	r = api_request(&srv, "DELETE", path, MTOK(&owner), NULL, NULL, NULL);
	ck_assert_status(r, 200);
	ck_assert_str_eq(api_str(r, "status"), "removed");
	ck_assert_ptr_nonnull(api_str(r, "access_ends_at"));
	api_resp_free(r);
	invitation_token("hh-xr-abroad@example.com", token, sizeof token);
	r = api_json(&srv, "POST", "/v1/extra-members/accept", MTOK(&abroad), json_pack("{s:s}", "token", token));
	ck_assert_problem(r, 404, "invitation_invalid");
	api_resp_free(r);
	r = api_request(&srv, "DELETE", "/v1/extra-members/xm_00000000000000000000000000000", MTOK(&owner), NULL, NULL, NULL);
	ck_assert_problem(r, 404, "not_found");
	api_resp_free(r);
}
END_TEST

/* ---- profile transfer ---- */

START_TEST(profile_transfer_moves_a_profile_into_an_account_of_its_own)
{
	struct member m;
	char path[128], sam[64], kid[64];
	member_new("hh-transfer@example.com", "US", &m);
	struct api_resp *r = api_json(&srv, "POST", "/v1/profiles", MTOK(&m),
				      json_pack("{s:s, s:s}", "name", "Sam", "language", "fr"));
	ck_assert_status(r, 201);
	snprintf(sam, sizeof sam, "%s", api_str(r, "id"));
	api_resp_free(r);
	r = api_json(&srv, "POST", "/v1/profiles", MTOK(&m), json_pack("{s:s, s:b}", "name", "Kid", "kids", 1));
	ck_assert_status(r, 201);
	snprintf(kid, sizeof kid, "%s", api_str(r, "id"));
	api_resp_free(r);

	/* Kids and owner profiles stay. */
	snprintf(path, sizeof path, "/v1/profiles/%s/transfer", kid);
	r = api_json(&srv, "POST", path, MTOK(&m),
		     json_pack("{s:s, s:s}", "email", "hh-kid@example.com", "password", PASSWORD));
	ck_assert_problem(r, 409, "profile_not_transferable");
	ck_assert_str_eq(api_str(r, "reason"), "kids_profile");
	api_resp_free(r);
	snprintf(path, sizeof path, "/v1/profiles/%s/transfer", m.profile);
	r = api_json(&srv, "POST", path, MTOK(&m),
		     json_pack("{s:s, s:s}", "email", "hh-own@example.com", "password", PASSWORD));
	ck_assert_problem(r, 409, "profile_not_transferable");
	api_resp_free(r);
	snprintf(path, sizeof path, "/v1/profiles/%s/transfer", sam);
	r = api_json(&srv, "POST", path, MTOK(&m), json_pack("{s:s, s:s}", "email", "nope", "password", PASSWORD));
	ck_assert_problem(r, 422, "validation_failed");
	api_resp_free(r);
	r = api_json(&srv, "POST", path, MTOK(&m),
		     json_pack("{s:s, s:s}", "email", "hh-transfer@example.com", "password", PASSWORD));
	ck_assert_problem(r, 409, "email_taken");
	api_resp_free(r);
	ck_assert_int_eq(api_db_int(&srv, "SELECT COUNT(*) FROM profiles WHERE account_id = ?1", m.id), 3);

	r = api_json(&srv, "POST", path, MTOK(&m),
		     json_pack("{s:s, s:s}", "email", "hh-sam@example.com", "password", PASSWORD));
	ck_assert_status(r, 201);
	char acct[64];
	snprintf(acct, sizeof acct, "%s", jstr(json_object_get(r->json, "account"), "id"));
	ck_assert_str_eq(jstr(json_object_get(r->json, "account"), "country"), "US");
	api_resp_free(r);
	ck_assert_int_eq(api_db_int(&srv, "SELECT COUNT(*) FROM profiles WHERE account_id = ?1", m.id), 2);
	/* Sam signs in to an account whose owner profile is Sam, in French. */
	r = api_json(&srv, "POST", "/v1/sessions", NULL,
		     json_pack("{s:s, s:s, s:{s:s, s:s}}", "email", "hh-sam@example.com", "password", PASSWORD,
			       "device", "name", "Phone", "type", "phone"));
	ck_assert_status(r, 201);
	char token[1024];
	snprintf(token, sizeof token, "%s", api_str(r, "access_token"));
	api_resp_free(r);
	r = api_get(&srv, "/v1/profiles", token);
	json_t *p = json_array_get(json_object_get(r->json, "data"), 0);
	ck_assert_str_eq(jstr(p, "id"), sam);
	ck_assert_str_eq(jstr(p, "name"), "Sam");
	ck_assert_str_eq(jstr(p, "language"), "fr");
	ck_assert(json_is_true(json_object_get(p, "is_owner")));
	api_resp_free(r);
	(void)acct;
}
END_TEST


/* ---- staff ---- */

#define STAFF_PASSWORD "staff password for tests"

static const char *const ctl_env[] = {"HEARTH_PWHASH_OPSLIMIT=1", "HEARTH_PWHASH_MEMLIMIT=8192", NULL};

/* The first admin (hearthctl staff create on the database) and an agent;
 * their tokens go to `admin` and `agent`. */
static void staff(char *admin, char *agent, size_t cap)
{
	const char *argv[] = {"staff", "create", "--email", "hh-admin@staff.test", "--role", "admin",
			      "--db", srv.db_path, "--password-stdin", NULL};
	char *out = NULL, *err = NULL;
	int rc = api_ctl(&srv, argv, ctl_env, STAFF_PASSWORD "\n", &out, &err);
	ck_assert_msg(rc == 0, "staff create: %s%s", out, err);
	free(out);
	free(err);
	struct api_resp *r = api_json(&srv, "POST", "/admin/v1/sessions", NULL,
				      json_pack("{s:s, s:s}", "email", "hh-admin@staff.test", "password", STAFF_PASSWORD));
	ck_assert_status(r, 201);
	snprintf(admin, cap, "%s", api_str(r, "access_token"));
	api_resp_free(r);
	const char *const why[] = {"X-Hearth-Reason: fixture", NULL};
	json_t *doc = json_pack("{s:s, s:s, s:s, s:s}", "email", "hh-agent@staff.test", "role", "agent", "name",
				"Agent", "password", STAFF_PASSWORD);
	char *body = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	r = api_request(&srv, "POST", "/admin/v1/staff", admin, "application/json", body, why);
	free(body);
	ck_assert_status(r, 201);
	api_resp_free(r);
	r = api_json(&srv, "POST", "/admin/v1/sessions", NULL,
		     json_pack("{s:s, s:s}", "email", "hh-agent@staff.test", "password", STAFF_PASSWORD));
	ck_assert_status(r, 201);
	snprintf(agent, cap, "%s", api_str(r, "access_token"));
	api_resp_free(r);
}

static int ctl_as(const char *token, const char *const *argv, char **out)
{
	char env_token[1200];
	snprintf(env_token, sizeof env_token, "HEARTH_TOKEN=%s", token);
	const char *const env[] = {env_token, NULL};
	char *err = NULL;
	int rc = api_ctl(&srv, argv, env, NULL, out, &err);
	if (rc != 0)
		fprintf(stderr, "hearthctl %s %s: %s\n", argv[0], argv[1], err);
	free(err);
	return rc;
}

START_TEST(staff_see_the_household_and_reset_it_or_grant_travel)
{
	char admin[1024], agent[1024], path[160];
	struct member m;
	struct dev tv, phone, friend_tv;
	member_new("hh-staff@example.com", "US", &m);
	subscribe(&m, "premium");
	sign_in(&m, "TV", "tv", HOME, &tv);
	tv_sets_household(&tv, HOME, "set");
	sign_in(&m, "Phone", "phone", HOME, &phone);
	struct api_resp *r = play(&phone, HOME, m.profile);
	ck_assert_status(r, 201);
	api_resp_free(r);
	/* A TV in another city, used on three days, streaming while the phone does. */
	sign_in(&m, "Friend's TV", "tv", OTHER_CITY, &friend_tv);
	for (int day = 0; day < 3; day++) {
		r = play(&friend_tv, OTHER_CITY, m.profile);
		ck_assert_problem(r, 403, "verification_required");
		api_resp_free(r);
		advance(DAY);
		seen(&tv, HOME);
	}
	/* Staff tokens last hours: sign staff in after the days went by. */
	staff(admin, agent, sizeof admin);
	/* Staff give the friend's TV travel access: it plays, with the phone. */
	snprintf(path, sizeof path, "/admin/v1/devices/%s/travel", friend_tv.id);
	r = api_json(&srv, "POST", path, agent, json_pack("{s:i}", "days", 14));
	ck_assert_problem(r, 400, "reason_required");
	api_resp_free(r);
	const char *grant[] = {"households", "grant-travel", friend_tv.id, "--days", "14", "--reason",
			       "abroad for work, ticket 913", NULL};
	char *out = NULL;
	ck_assert_int_eq(ctl_as(agent, grant, &out), 0);
	ck_assert_ptr_nonnull(strstr(out, "travel access until"));
	free(out);
	r = play(&phone, HOME, m.profile);
	ck_assert_status(r, 201);
	api_resp_free(r);
	r = play(&friend_tv, OTHER_CITY, m.profile);
	ck_assert_status(r, 201);
	ck_assert(has_reason(r, "travel_access_active"));
	api_resp_free(r);
	flush();
	ck_assert_int_eq(api_db_int(&srv, "SELECT COUNT(*) FROM audit_log WHERE action = 'device.travel_grant'"
				    " AND target_id = ?1", friend_tv.id), 1);

	/* The staff view: networks, devices, decisions, the assessment. */
	snprintf(path, sizeof path, "/admin/v1/accounts/%s/household", m.id);
	r = api_get(&srv, path, agent);
	ck_assert_status(r, 200);
	ck_assert_str_eq(api_str(r, "status"), "set");
	json_t *ftv = device_in(r->json, friend_tv.id);
	ck_assert_str_eq(jstr(ftv, "last_network"), "192.0.2.0/24");
	ck_assert(json_is_false(json_object_get(ftv, "household_tv")));
	ck_assert_ptr_nonnull(jstr(ftv, "travel_access_until"));
	json_t *decisions = json_object_get(r->json, "recent_decisions");
	ck_assert_int_ge(json_array_size(decisions), 5);
	ck_assert_ptr_nonnull(json_object_get(json_array_get(decisions, 0), "reasons"));
	json_t *sharing = json_object_get(r->json, "sharing");
	ck_assert_str_eq(jstr(sharing, "level"), "likely");
	ck_assert_int_ge(json_integer_value(json_object_get(sharing, "score")), 3);
	static const char *const kinds[] = {"tv_outside_household", "regular_network_outside_household",
					    "concurrent_streams_from_different_networks"};
	for (size_t k = 0; k < 3; k++) {
		bool found = false;
		json_t *ev = json_object_get(sharing, "evidence");
		for (size_t i = 0; i < json_array_size(ev); i++)
			found |= strcmp(jstr(json_array_get(ev, i), "kind"), kinds[k]) == 0;
		ck_assert_msg(found, "no %s evidence", kinds[k]);
	}
	api_resp_free(r);
	r = api_get(&srv, "/admin/v1/accounts/acc_00000000000000000000000000000/household", agent);
	ck_assert_problem(r, 404, "not_found");
	api_resp_free(r);
	r = api_get(&srv, path, tok(&m.web));
	ck_assert_status(r, 401);
	api_resp_free(r);
	const char *show[] = {"households", "show", m.id, NULL};
	ck_assert_int_eq(ctl_as(agent, show, &out), 0);
	ck_assert_ptr_nonnull(strstr(out, "203.0.113.0/24"));
	ck_assert_ptr_nonnull(strstr(out, "tv_outside_household"));
	ck_assert_ptr_nonnull(strstr(out, "likely"));
	free(out);
	/* The account page carries the same view as a section. */
	snprintf(path, sizeof path, "/admin/v1/accounts/%s", m.id);
	r = api_get(&srv, path, agent);
	ck_assert_status(r, 200);
	ck_assert_str_eq(jstr(json_object_get(json_object_get(r->json, "sections"), "household"), "status"), "set");
	api_resp_free(r);

	/* Reset: the household is forgotten, with a reason in the audit log. */
	const char *reset_no_reason[] = {"households", "reset", m.id, "--yes", NULL};
	ck_assert_int_eq(ctl_as(agent, reset_no_reason, &out), 2);
	free(out);
	const char *reset[] = {"households", "reset", m.id, "--yes", "--reason", "moved house, ticket 812", NULL};
	ck_assert_int_eq(ctl_as(agent, reset, &out), 0);
	free(out);
	r = api_get(&srv, "/v1/household", tok(&m.web));
	ck_assert_str_eq(api_str(r, "status"), "not_set");
	api_resp_free(r);
	ck_assert_int_eq(api_db_int(&srv, "SELECT COUNT(*) FROM audit_log WHERE action = 'household.reset'"
				    " AND target_id = ?1", m.id), 1);
	const char *reset_again[] = {"households", "reset", m.id, "--yes", "--reason", "again", NULL};
	ck_assert_int_ne(ctl_as(agent, reset_again, &out), 0);
	free(out);
	const char *unknown[] = {"households", "show", "acc_00000000000000000000000000000", NULL};
	ck_assert_int_eq(ctl_as(agent, unknown, &out), 3);
	free(out);
	/* The TV at home proposes the household again. */
	seen(&tv, HOME);
	flush();
	r = api_get(&srv, "/v1/household", tok(&m.web));
	ck_assert_str_eq(api_str(r, "status"), "proposed");
	api_resp_free(r);

	/* Erasure deletes where the member was seen. */
	snprintf(path, sizeof path, "/admin/v1/accounts/%s/erase", m.id);
	const char *const why[] = {"X-Hearth-Reason: erasure request", NULL};
	r = api_request(&srv, "POST", path, admin, NULL, NULL, why);
	ck_assert_status(r, 200);
	api_resp_free(r);
	ck_assert_int_eq(api_db_int(&srv, "SELECT COUNT(*) FROM device_sightings WHERE account_id = ?1", m.id), 0);
	ck_assert_int_eq(api_db_int(&srv, "SELECT COUNT(*) FROM playback_decisions WHERE account_id = ?1"
				    " AND network IS NOT NULL", m.id), 0);
}
END_TEST

static Suite *households_suite(void)
{
	Suite *s = suite_create("api_households");
	TCase *tc = tcase_create("households");
	tcase_add_unchecked_fixture(tc, start, stop);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, tv_sets_the_household_and_a_phone_at_home_is_trusted);
	tcase_add_test(tc, phone_away_20_days_plays_32_days_needs_a_code_travel_7_days_then_the_limit);
	tcase_add_test(tc, laptop_only_seen_in_another_city_needs_verification);
	tcase_add_test(tc, enforcement_off_in_a_country_records_but_never_blocks);
	tcase_add_test(tc, decisions_are_paged_newest_first_with_starting_after);
	tcase_add_test(tc, stream_caps_hold_under_concurrent_starts);
	tcase_add_test(tc, heartbeat_expiry_frees_a_slot_and_the_full_answer_lists_streams);
	tcase_add_test(tc, household_moves_and_the_move_limit);
	tcase_add_test(tc, household_follows_its_tv_to_a_new_address_and_the_old_one_lapses);
	tcase_add_test(tc, only_a_tv_sets_the_household_and_bad_codes_change_nothing);
	tcase_add_test(tc, resend_is_throttled);
	tcase_add_test(tc, payment_and_device_type_decide_first);
	tcase_add_test(tc, playback_bad_input_changes_nothing);
	tcase_add_test(tc, forwarded_for_is_believed_only_from_trusted_proxies);
	tcase_add_test(tc, sightings_are_counted_per_device_network_and_day);
	tcase_add_test(tc, extra_member_buy_invite_accept_play_remove);
	tcase_add_test(tc, extra_members_need_a_plan_with_slots);
	tcase_add_test(tc, extra_member_acceptance_rules);
	tcase_add_test(tc, profile_transfer_moves_a_profile_into_an_account_of_its_own);
	tcase_add_test(tc, staff_see_the_household_and_reset_it_or_grant_travel);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(households_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
