/*
 * test_households.c - the households domain against a real database: the
 * settings and per-country policy, network prefixes and masked
 * destinations, the sightings counters (aggregation, threads, the first
 * TV's proposal), the household derived from its TVs, and device trust.
 *
 * Each test gets a fresh database file with every migration applied;
 * accounts and devices are seeded with SQL the way their areas store them.
 * Time is the test clock.
 */
#include <check.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/db.h"
#include "core/migrate.h"
#include "households/households_int.h"
#include "tests/unit.h"

#define N_ROWS(a) (sizeof(a) / sizeof((a)[0]))
#define DAY INT64_C(86400)
#define T0 INT64_C(1800000000) /* 2027-01-15T08:00:00Z */

static struct unit_db u;
static struct db *db; /* u.db */

static void load(const char *policy)
{
	struct config c;
	char why[200];
	config_defaults(&c);
	if (policy)
		c.household_policy = policy;
	ck_assert_int_eq(hh_settings_load(&c, why, sizeof why), ERR_OK);
}

static void setup(void)
{
	unit_db_open_migrated(&u);
	db = u.db;
	clock_use_test(T0);
	load(NULL);
}

static void teardown(void)
{
	unit_db_close(&u);
	db = NULL;
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

static void seed_account(const char *country, char *id) { unit_seed_account(db, country, id); }


static void seed_device(const char *account, const char *type, char *id) { unit_seed_device(db, account, type, id); }

/* A sighting row as the flush writes one. */
static void sighting(const char *account, const char *device, const char *network, int64_t at)
{
	struct db_stmt *st = NULL;
	ck_assert_int_eq(db_prepare(db,
				    "INSERT INTO device_sightings (device_id, account_id, network, day, requests,"
				    " first_at, last_at) VALUES (?1, ?2, ?3, ?4, 1, ?5, ?5)",
				    &st),
			 ERR_OK);
	db_bind_text(st, 1, device);
	db_bind_text(st, 2, account);
	db_bind_text(st, 3, network);
	db_bind_int64(st, 4, at / DAY);
	db_bind_int64(st, 5, at);
	ck_assert_int_eq(db_step_done(st), ERR_OK);
	db_done(st);
}

static struct netaddr addr(const char *s)
{
	struct netaddr a;
	ck_assert_int_eq(netaddr_parse(s, &a), 0);
	return a;
}

/* ---- settings and policy ---- */

START_TEST(defaults_come_from_the_flags)
{
	const struct hh_settings *s = hh_settings();
	struct hh_policy p;
	hh_policy_for("US", &p);
	ck_assert(p.enforce);
	ck_assert(!p.unset_verify);
	ck_assert_int_eq(p.window_s, 31 * DAY);
	ck_assert_int_eq(p.travel_s, 7 * DAY);
	ck_assert_int_eq(p.travel_grants, 2);
	ck_assert_int_eq(p.travel_period_s, 30 * DAY);
	ck_assert_int_eq(p.move_limit, 3);
	ck_assert_int_eq(p.move_period_s, 30 * DAY);
	ck_assert_int_eq(s->v4_bits, 24);
	ck_assert_int_eq(s->v6_bits, 56);
	ck_assert_int_eq(s->code_ttl_s, 900);
	ck_assert_int_eq(s->code_attempts, 5);
	ck_assert_int_eq(s->heartbeat_timeout_s, 120);
	ck_assert_int_eq(s->sharing_window_s, 30 * DAY);
}
END_TEST

START_TEST(country_overrides_change_only_their_country)
{
	struct hh_policy p;
	load("JP:enforcement=off; BR:window_days=45,travel_days=14,travel_grants=3;JP:unset=verify");
	hh_policy_for("JP", &p);
	ck_assert(!p.enforce);
	ck_assert(p.unset_verify);
	ck_assert_int_eq(p.window_s, 31 * DAY);
	hh_policy_for("BR", &p);
	ck_assert(p.enforce);
	ck_assert_int_eq(p.window_s, 45 * DAY);
	ck_assert_int_eq(p.travel_s, 14 * DAY);
	ck_assert_int_eq(p.travel_grants, 3);
	hh_policy_for("US", &p);
	ck_assert_int_eq(p.window_s, 31 * DAY);
	ck_assert(p.enforce);
}
END_TEST

START_TEST(malformed_settings_are_refused)
{
	static const char *const policies[] = {
		"JP",			"jp:enforcement=off",	"JP:enforcement=maybe", "JP:window_days=0",
		"JP:window_days=400",	"JP:colour=blue",	"JPN:enforcement=off",	"JP:travel_days=x",
		"JP:window_days=",	"JP:window_days=+5",	"JP:move_limit=0",	"J1:enforcement=on",
	};
	for (size_t i = 0; i < N_ROWS(policies); i++) {
		struct config c;
		char why[200];
		config_defaults(&c);
		c.household_policy = policies[i];
		ck_assert_msg(hh_settings_load(&c, why, sizeof why) == ERR_INVALID_PARAMETER, "accepted %s",
			      policies[i]);
		ck_assert_msg(why[0] != '\0', "no reason for %s", policies[i]);
	}
	struct config c;
	char why[200];
	config_defaults(&c);
	c.household_enforcement = "sometimes";
	ck_assert_int_eq(hh_settings_load(&c, why, sizeof why), ERR_INVALID_PARAMETER);
	config_defaults(&c);
	c.household_unset = "block";
	ck_assert_int_eq(hh_settings_load(&c, why, sizeof why), ERR_INVALID_PARAMETER);
}
END_TEST

START_TEST(networks_are_prefixes_of_the_configured_length)
{
	char buf[NETADDR_STRLEN];
	struct netaddr a = addr("203.0.113.77");
	ck_assert_str_eq(hh_network_of(&a, buf, sizeof buf), "203.0.113.0/24");
	a = addr("2001:db8:1234:5678::1");
	ck_assert_str_eq(hh_network_of(&a, buf, sizeof buf), "2001:db8:1234:5600::/56");
	a = addr("::ffff:198.51.100.9");
	ck_assert_str_eq(hh_network_of(&a, buf, sizeof buf), "198.51.100.0/24");
	struct config c;
	char why[200];
	config_defaults(&c);
	c.household_v4_prefix = 16;
	c.household_v6_prefix = 48;
	ck_assert_int_eq(hh_settings_load(&c, why, sizeof why), ERR_OK);
	a = addr("203.0.113.77");
	ck_assert_str_eq(hh_network_of(&a, buf, sizeof buf), "203.0.0.0/16");
	a = addr("2001:db8:1234:5678::1");
	ck_assert_str_eq(hh_network_of(&a, buf, sizeof buf), "2001:db8:1234::/48");
	ck_assert_str_eq(hh_network_of(NULL, buf, sizeof buf), "");
}
END_TEST

START_TEST(destinations_are_masked)
{
	char buf[80];
	hh_mask_email("owner@example.com", buf, sizeof buf);
	ck_assert_str_eq(buf, "o***@example.com");
	hh_mask_email("x@y.io", buf, sizeof buf);
	ck_assert_str_eq(buf, "x***@y.io");
	hh_mask_email("no-at-sign", buf, sizeof buf);
	ck_assert_str_eq(buf, "***");
	hh_mask_phone("+14155550100", buf, sizeof buf);
	ck_assert_str_eq(buf, "+*******0100");
}
END_TEST

/* ---- sightings ---- */

START_TEST(sightings_aggregate_per_device_network_and_day)
{
	char acc[IDS_MAX], dev[IDS_MAX];
	int64_t written = 0;
	seed_account("US", acc);
	seed_device(acc, "phone", dev);
	struct netaddr home = addr("203.0.113.10"), home2 = addr("203.0.113.99"), away = addr("198.51.100.7");
	for (int i = 0; i < 3; i++)
		hh_sighting_observe(acc, dev, &home);
	hh_sighting_observe(acc, dev, &home2); /* same /24 */
	hh_sighting_observe(acc, dev, &away);
	ck_assert_int_eq(hh_sightings_flush(db, &written), ERR_OK);
	ck_assert_int_eq(written, 2);
	ck_assert_int_eq(q_int("SELECT requests FROM device_sightings WHERE network = '203.0.113.0/24'", NULL), 4);
	ck_assert_int_eq(q_int("SELECT requests FROM device_sightings WHERE network = '198.51.100.0/24'", NULL), 1);
	/* A second batch adds to the first; first_at stays, last_at moves. */
	clock_advance(60);
	hh_sighting_observe(acc, dev, &home);
	ck_assert_int_eq(hh_sightings_flush(db, &written), ERR_OK);
	ck_assert_int_eq(q_int("SELECT requests FROM device_sightings WHERE network = '203.0.113.0/24'", NULL), 5);
	ck_assert_int_eq(q_int("SELECT last_at - first_at FROM device_sightings WHERE network = '203.0.113.0/24'", NULL), 60);
	/* A new day is a new row. */
	clock_advance(DAY);
	hh_sighting_observe(acc, dev, &home);
	ck_assert_int_eq(hh_sightings_flush(db, NULL), ERR_OK);
	ck_assert_int_eq(q_int("SELECT COUNT(*) FROM device_sightings", NULL), 3);
	/* Nothing held: a flush writes nothing. */
	ck_assert_int_eq(hh_sightings_flush(db, &written), ERR_OK);
	ck_assert_int_eq(written, 0);
}
END_TEST

START_TEST(sightings_off_records_nothing)
{
	struct config c;
	char why[200], acc[IDS_MAX], dev[IDS_MAX];
	config_defaults(&c);
	c.sightings_off = true;
	ck_assert_int_eq(hh_settings_load(&c, why, sizeof why), ERR_OK);
	seed_account("US", acc);
	seed_device(acc, "phone", dev);
	struct netaddr home = addr("203.0.113.10");
	hh_sighting_observe(acc, dev, &home);
	ck_assert_int_eq(hh_sightings_flush(db, NULL), ERR_OK);
	ck_assert_int_eq(q_int("SELECT COUNT(*) FROM device_sightings", NULL), 0);
}
END_TEST

struct observer {
	const char *acc, *dev;
	int n;
};

static void *observe_many(void *arg)
{
	struct observer *o = arg;
	struct netaddr home = addr("203.0.113.10");
	for (int i = 0; i < o->n; i++)
		hh_sighting_observe(o->acc, o->dev, &home);
	return NULL;
}

START_TEST(sightings_from_many_threads_are_all_counted)
{
	enum { THREADS = 4, EACH = 20000 };
	char acc[IDS_MAX], devs[2][IDS_MAX];
	pthread_t th[THREADS];
	struct observer o[THREADS];
	seed_account("US", acc);
	seed_device(acc, "phone", devs[0]);
	seed_device(acc, "tablet", devs[1]);
	for (int i = 0; i < THREADS; i++) {
		o[i] = (struct observer){acc, devs[i % 2], EACH};
		ck_assert_int_eq(pthread_create(&th[i], NULL, observe_many, &o[i]), 0);
	}
	/* Flushing while they count loses nothing either. */
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(hh_sightings_flush(db, NULL), ERR_OK);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	ck_assert_int_eq(hh_sightings_flush(db, NULL), ERR_OK);
	ck_assert_int_eq(q_int("SELECT SUM(requests) FROM device_sightings", NULL), THREADS * EACH);
	ck_assert_int_eq(q_int("SELECT COUNT(*) FROM device_sightings", NULL), 2);
}
END_TEST

START_TEST(the_first_tv_seen_proposes_its_network)
{
	char acc[IDS_MAX], phone[IDS_MAX], tv[IDS_MAX], tv2[IDS_MAX];
	seed_account("US", acc);
	seed_device(acc, "phone", phone);
	seed_device(acc, "tv", tv);
	seed_device(acc, "tv", tv2);
	struct netaddr cafe = addr("198.51.100.7"), home = addr("203.0.113.10"), other = addr("192.0.2.1");
	hh_sighting_observe(acc, phone, &cafe);
	ck_assert_int_eq(hh_sightings_flush(db, NULL), ERR_OK);
	ck_assert_int_eq(q_int("SELECT COUNT(*) FROM households", NULL), 0);
	clock_advance(10);
	hh_sighting_observe(acc, tv, &home);
	clock_advance(10);
	hh_sighting_observe(acc, tv2, &other);
	ck_assert_int_eq(hh_sightings_flush(db, NULL), ERR_OK);
	ck_assert_int_eq(q_int("SELECT COUNT(*) FROM households WHERE status = 'proposed'"
			       " AND network = '203.0.113.0/24' AND device_id = ?1", tv), 1);
	ck_assert_int_eq(q_int("SELECT COUNT(*) FROM events WHERE type = 'household.proposed'", NULL), 1);
	/* Later TVs elsewhere change nothing; one seen at home joins the household. */
	hh_sighting_observe(acc, tv2, &other);
	ck_assert_int_eq(hh_sightings_flush(db, NULL), ERR_OK);
	ck_assert_int_eq(q_int("SELECT COUNT(*) FROM households WHERE network = '203.0.113.0/24'", NULL), 1);
	ck_assert_int_eq(q_int("SELECT COUNT(*) FROM household_tvs WHERE device_id = ?1", tv2), 0);
	ck_assert_int_eq(q_int("SELECT COUNT(*) FROM household_tvs WHERE device_id = ?1", tv), 1);
	struct netaddr home_b = addr("203.0.113.200");
	hh_sighting_observe(acc, tv2, &home_b);
	ck_assert_int_eq(hh_sightings_flush(db, NULL), ERR_OK);
	ck_assert_int_eq(q_int("SELECT COUNT(*) FROM household_tvs WHERE device_id = ?1", tv2), 1);
}
END_TEST

START_TEST(old_sightings_are_purged)
{
	char acc[IDS_MAX], dev[IDS_MAX];
	seed_account("US", acc);
	seed_device(acc, "phone", dev);
	sighting(acc, dev, "203.0.113.0/24", T0 - 100 * DAY);
	sighting(acc, dev, "203.0.113.0/24", T0 - 10 * DAY);
	ck_assert_int_eq(hh_sightings_purge(db, T0), ERR_OK);
	ck_assert_int_eq(q_int("SELECT COUNT(*) FROM device_sightings", NULL), 1);
}
END_TEST

/* A decision row (and its stream slot when `slot` is not NULL). */
static void decision(const char *acc, const char *dev, const char *id, const char *slot, int64_t at,
		     int64_t expires)
{
	struct db_stmt *st = NULL;
	ck_assert_int_eq(db_prepare(db,
				    "INSERT INTO playback_decisions (id, account_id, device_id, outcome, enforced,"
				    " reasons, inputs, slot_id, created_at) VALUES (?1, ?2, ?3, ?4, 1, '[]', '{}', ?5, ?6)",
				    &st),
			 ERR_OK);
	db_bind_text(st, 1, id);
	db_bind_text(st, 2, acc);
	db_bind_text(st, 3, dev);
	db_bind_text(st, 4, slot ? "allowed" : "verification_required");
	db_bind_text(st, 5, slot);
	db_bind_int64(st, 6, at);
	ck_assert_int_eq(db_step_done(st), ERR_OK);
	db_done(st);
	if (!slot)
		return;
	ck_assert_int_eq(db_prepare(db,
				    "INSERT INTO stream_slots (id, account_id, device_id, profile_id, network, decision_id,"
				    " started_at, heartbeat_at, expires_at) VALUES (?1, ?2, ?3, 'prf_x', '203.0.113.0/24',"
				    " ?4, ?5, ?5, ?6)",
				    &st),
			 ERR_OK);
	db_bind_text(st, 1, slot);
	db_bind_text(st, 2, acc);
	db_bind_text(st, 3, dev);
	db_bind_text(st, 4, id);
	db_bind_int64(st, 5, at);
	db_bind_int64(st, 6, expires);
	ck_assert_int_eq(db_step_done(st), ERR_OK);
	db_done(st);
}

/* Playback history older than --playback-retention-days (90) goes, in
 * batches, slots before their decisions; a slot still heartbeating keeps
 * itself and its decision; recent history stays. */
START_TEST(old_playback_history_is_purged_in_batches)
{
	char acc[IDS_MAX], dev[IDS_MAX];
	seed_account("US", acc);
	seed_device(acc, "phone", dev);
	decision(acc, dev, "dec_old_allowed", "str_old", T0 - 100 * DAY, T0 - 100 * DAY + 120);
	decision(acc, dev, "dec_old_live", "str_live", T0 - 100 * DAY, T0 + 120);
	decision(acc, dev, "dec_recent", "str_recent", T0 - 10 * DAY, T0 - 10 * DAY + 120);
	decision(acc, dev, "dec_edge", NULL, T0 - 90 * DAY, 0); /* exactly at the cutoff: kept */
	ck_assert_int_eq(db_begin(db), ERR_OK);
	for (int i = 0; i < 4500; i++) { /* more than two batches of refusals */
		char id[32];
		snprintf(id, sizeof id, "dec_refused_%d", i);
		decision(acc, dev, id, NULL, T0 - 200 * DAY + i, 0);
	}
	ck_assert_int_eq(db_commit(db), ERR_OK);
	int64_t gone = -1;
	ck_assert_int_eq(hh_playback_purge(db, T0, &gone), ERR_OK);
	ck_assert_int_eq(gone, 4500 + 2);
	ck_assert_int_eq(q_int("SELECT COUNT(*) FROM playback_decisions", NULL), 3);
	ck_assert_int_eq(q_int("SELECT COUNT(*) FROM playback_decisions WHERE id IN"
			       " ('dec_old_live', 'dec_recent', 'dec_edge')", NULL), 3);
	ck_assert_int_eq(q_int("SELECT COUNT(*) FROM stream_slots", NULL), 2);
	ck_assert_int_eq(q_int("SELECT COUNT(*) FROM stream_slots WHERE id IN ('str_live', 'str_recent')", NULL), 2);
	/* Again: nothing more to do. */
	ck_assert_int_eq(hh_playback_purge(db, T0, &gone), ERR_OK);
	ck_assert_int_eq(gone, 0);
}
END_TEST

/* ---- the household and trust ---- */

static void set_household(const char *acc, const char *tv, const char *network)
{
	bool moved = true;
	ck_assert_int_eq(db_begin(db), ERR_OK);
	ck_assert_int_eq(hh_household_apply(db, acc, network, tv, "member", clock_now(), &moved), ERR_OK);
	ck_assert_int_eq(db_commit(db), ERR_OK);
	ck_assert(!moved);
}

static struct hh_view view_at(const char *acc, int64_t t)
{
	struct hh_view v;
	struct hh_policy p;
	hh_policy_for("US", &p);
	ck_assert_int_eq(hh_view_load(db, acc, &p, t, &v), ERR_OK);
	return v;
}

START_TEST(household_networks_grow_with_their_tvs_and_lapse_after_the_window)
{
	char acc[IDS_MAX], tv1[IDS_MAX], tv2[IDS_MAX], tv_far[IDS_MAX], phone[IDS_MAX];
	seed_account("US", acc);
	seed_device(acc, "tv", tv1);
	seed_device(acc, "tv", tv2);
	seed_device(acc, "tv", tv_far);
	seed_device(acc, "phone", phone);
	set_household(acc, tv1, "10.0.0.0/24");
	/* TV1 moves to a new address; TV2 appears there and then elsewhere. */
	sighting(acc, tv1, "10.0.1.0/24", T0 + 5 * DAY);
	sighting(acc, tv2, "10.0.1.0/24", T0 + 6 * DAY);
	sighting(acc, tv2, "10.0.2.0/24", T0 + 7 * DAY);
	/* A TV never on a household network, and a phone: neither adds networks. */
	sighting(acc, tv_far, "192.0.2.0/24", T0 + 7 * DAY);
	sighting(acc, phone, "198.51.100.0/24", T0 + 7 * DAY);
	struct hh_view v = view_at(acc, T0 + 8 * DAY);
	ck_assert(v.has_household);
	ck_assert_str_eq(v.status, "set");
	ck_assert_int_eq(v.nnets, 3);
	ck_assert(hh_view_is_home(&v, "10.0.0.0/24"));
	ck_assert(hh_view_is_home(&v, "10.0.1.0/24"));
	ck_assert(hh_view_is_home(&v, "10.0.2.0/24"));
	ck_assert(!hh_view_is_home(&v, "192.0.2.0/24"));
	ck_assert(hh_view_is_tv(&v, tv1) && hh_view_is_tv(&v, tv2) && !hh_view_is_tv(&v, tv_far));
	/* The flush would have stored TV2 as a household TV when it saw it. */
	ck_assert_int_eq(hh_household_tv_add(db, acc, tv2, T0 + 6 * DAY), ERR_OK);
	/* The origin was last "seen" at the set time: it lapses after 31 days. */
	v = view_at(acc, T0 + 31 * DAY);
	ck_assert(hh_view_is_home(&v, "10.0.0.0/24"));
	v = view_at(acc, T0 + 31 * DAY + 1);
	ck_assert(!hh_view_is_home(&v, "10.0.0.0/24"));
	ck_assert_int_eq(v.nnets, 2);
	/* 31 days after TV2's visit there only its newest network is left: TV2
	 * stays a household TV though its joining sighting is out of the window. */
	v = view_at(acc, T0 + 37 * DAY + 1);
	ck_assert_int_eq(v.nnets, 1);
	ck_assert_str_eq(v.nets[0].prefix, "10.0.2.0/24");
}
END_TEST

START_TEST(a_move_starts_the_household_afresh)
{
	char acc[IDS_MAX], tv[IDS_MAX];
	bool moved = false;
	seed_account("US", acc);
	seed_device(acc, "tv", tv);
	set_household(acc, tv, "10.0.0.0/24");
	sighting(acc, tv, "10.0.1.0/24", T0 + DAY);
	clock_advance(2 * DAY);
	ck_assert_int_eq(db_begin(db), ERR_OK);
	ck_assert_int_eq(hh_household_apply(db, acc, "172.16.0.0/24", tv, "member", clock_now(), &moved), ERR_OK);
	ck_assert_int_eq(db_commit(db), ERR_OK);
	ck_assert(moved);
	struct hh_view v = view_at(acc, clock_now());
	ck_assert_int_eq(v.nnets, 1);
	ck_assert_str_eq(v.origin, "172.16.0.0/24");
	int64_t moves = 0;
	ck_assert_int_eq(hh_moves_since(db, acc, T0, &moves), ERR_OK);
	ck_assert_int_eq(moves, 1);
	/* Staff reset forgets it. */
	ck_assert_int_eq(db_begin(db), ERR_OK);
	ck_assert_int_eq(hh_household_reset(db, acc, "stf_x", "test"), ERR_OK);
	ck_assert_int_eq(db_commit(db), ERR_OK);
	v = view_at(acc, clock_now());
	ck_assert(!v.has_household);
	ck_assert_int_eq(hh_household_reset(db, acc, "stf_x", "again"), ERR_NOT_FOUND);
}
END_TEST

static struct hh_trust trust_at(const char *acc, const char *dev, const char *net, int64_t t)
{
	struct hh_policy p;
	struct hh_trust tr;
	hh_policy_for("US", &p);
	struct hh_view v = view_at(acc, t);
	ck_assert_int_eq(hh_trust_of(db, &v, &p, dev, net, t, &tr), ERR_OK);
	return tr;
}

START_TEST(trust_says_why)
{
	char acc[IDS_MAX], tv[IDS_MAX], phone[IDS_MAX], laptop[IDS_MAX], id[IDS_MAX];
	seed_account("US", acc);
	seed_device(acc, "tv", tv);
	seed_device(acc, "phone", phone);
	seed_device(acc, "web", laptop);
	/* No household yet: nothing is trusted, and that is the reason. */
	struct hh_trust t = trust_at(acc, phone, "10.0.0.0/24", T0);
	ck_assert(!t.trusted);
	ck_assert_str_eq(t.why, "household_not_set");
	set_household(acc, tv, "10.0.0.0/24");
	for (int d = 1; d <= 40; d += 5)
		sighting(acc, tv, "10.0.0.0/24", T0 + d * DAY);
	sighting(acc, phone, "10.0.0.0/24", T0 + DAY);
	sighting(acc, laptop, "192.0.2.0/24", T0 + DAY);
	t = trust_at(acc, phone, "10.0.0.0/24", T0 + 2 * DAY);
	ck_assert(t.trusted);
	ck_assert_str_eq(t.why, "on_household_network");
	t = trust_at(acc, phone, "198.51.100.0/24", T0 + 21 * DAY);
	ck_assert(t.trusted);
	ck_assert_str_eq(t.why, "seen_at_home_within_31d");
	ck_assert_int_eq(t.last_home_at, T0 + DAY);
	t = trust_at(acc, phone, "198.51.100.0/24", T0 + 32 * DAY + 1);
	ck_assert(!t.trusted);
	ck_assert_str_eq(t.why, "device_not_seen_at_home_31d");
	t = trust_at(acc, laptop, "192.0.2.0/24", T0 + 2 * DAY);
	ck_assert(!t.trusted);
	ck_assert_str_eq(t.why, "new_device_outside_household");
	ck_assert(!t.ever_home);
	/* Travel access makes it trusted until it ends; grants are counted. */
	ck_assert_int_eq(db_begin(db), ERR_OK);
	ck_assert_int_eq(hh_travel_insert(db, acc, laptop, "verification", NULL, NULL, T0 + 2 * DAY,
					  T0 + 9 * DAY, id),
			 ERR_OK);
	ck_assert_int_eq(hh_travel_insert(db, acc, laptop, "staff", NULL, "stf_x", T0 + 2 * DAY,
					  T0 + 3 * DAY, id),
			 ERR_OK);
	ck_assert_int_eq(db_commit(db), ERR_OK);
	t = trust_at(acc, laptop, "192.0.2.0/24", T0 + 8 * DAY);
	ck_assert(t.trusted);
	ck_assert_str_eq(t.why, "travel_access_active");
	ck_assert_int_eq(t.travel_grants_used, 1);
	t = trust_at(acc, laptop, "192.0.2.0/24", T0 + 9 * DAY);
	ck_assert(!t.trusted);
	t = trust_at(acc, laptop, "192.0.2.0/24", T0 + 33 * DAY);
	ck_assert_int_eq(t.travel_grants_used, 0);
}
END_TEST

static Suite *households_suite(void)
{
	Suite *s = suite_create("households");
	TCase *tc = tcase_create("policy");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, defaults_come_from_the_flags);
	tcase_add_test(tc, country_overrides_change_only_their_country);
	tcase_add_test(tc, malformed_settings_are_refused);
	tcase_add_test(tc, networks_are_prefixes_of_the_configured_length);
	tcase_add_test(tc, destinations_are_masked);
	suite_add_tcase(s, tc);
	tc = tcase_create("sightings");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, sightings_aggregate_per_device_network_and_day);
	tcase_add_test(tc, sightings_off_records_nothing);
	tcase_add_test(tc, sightings_from_many_threads_are_all_counted);
	tcase_add_test(tc, the_first_tv_seen_proposes_its_network);
	tcase_add_test(tc, old_sightings_are_purged);
	tcase_add_test(tc, old_playback_history_is_purged_in_batches);
	suite_add_tcase(s, tc);
	tc = tcase_create("trust");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, household_networks_grow_with_their_tvs_and_lapse_after_the_window);
	tcase_add_test(tc, a_move_starts_the_household_afresh);
	tcase_add_test(tc, trust_says_why);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	SRunner *sr = srunner_create(households_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
