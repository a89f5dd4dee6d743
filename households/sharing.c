/*
 * sharing.c - the sharing assessment of an account: does it look used by
 * more than one household?  It reads the sightings and stream slots of the
 * last sharing_window days and scores four signals (docs/households.md,
 * "Sharing assessment"):
 *
 *   regular_network_outside_household  a network that is not the household's
 *       with activity on at least sharing_regular_days distinct days: +1
 *       each, at most +2;
 *   device_never_seen_at_home           an active device never seen on a
 *       household network: +1 (once);
 *   concurrent_streams_from_different_networks  two streams of the account
 *       running at the same time from different networks: +1 per overlap,
 *       at most +2;
 *   tv_outside_household                an active TV that is not a household
 *       TV: +2 (once).
 *
 * Score 0 is none, 1 or 2 possible, 3 and more likely.  An account without
 * a household has nothing to compare with: none, with that as evidence.
 */
#include <stdio.h>
#include <string.h>

#include "auth/auth.h"
#include "households/households_int.h"

#define NET_ROWS_MAX 64
#define SCORE_POSSIBLE 1
#define SCORE_LIKELY 3

static int64_t clamp(int64_t v, int64_t max) { return v > max ? max : v; }

static enum err regular_networks(struct db *db, const struct hh_view *v, int64_t since,
				 int64_t regular_days, json_t *evidence, int64_t *count)
{
	struct db_stmt *st = NULL;
	*count = 0;
	enum err e = db_prepare(db,
				"SELECT network, COUNT(DISTINCT day), COUNT(DISTINCT device_id), MAX(last_at)"
				" FROM device_sightings WHERE account_id = ?1 AND last_at >= ?2"
				" GROUP BY network ORDER BY network",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, v->account_id);
	db_bind_int64(st, 2, since);
	for (;;) {
		bool row = false;
		e = db_step(st, &row);
		if (e != ERR_OK || !row)
			break;
		const char *net = db_column_text(st, 0);
		int64_t days = db_column_int64(st, 1);
		if (hh_view_is_home(v, net) || days < regular_days)
			continue;
		(*count)++;
		json_array_append_new(evidence,
				      json_pack("{s:s, s:s, s:I, s:I, s:o}", "kind",
						"regular_network_outside_household", "network", net, "days",
						(json_int_t)days, "devices", (json_int_t)db_column_int64(st, 2),
						"last_seen_at", clock_json_or_null(db_column_int64(st, 3))));
	}
	db_done(st);
	return e;
}

static enum err concurrent_streams(struct db *db, const char *account_id, int64_t since,
				   int64_t *count)
{
	struct db_stmt *st = NULL;
	*count = 0;
	enum err e = db_prepare(
		db,
		"SELECT COUNT(*) FROM stream_slots a JOIN stream_slots b"
		" ON b.account_id = a.account_id AND a.id < b.id AND a.network <> b.network"
		" AND a.started_at < COALESCE(b.ended_at, b.expires_at)"
		" AND b.started_at < COALESCE(a.ended_at, a.expires_at)"
		" WHERE a.account_id = ?1 AND a.started_at >= ?2 AND b.started_at >= ?2",
		&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, account_id);
	db_bind_int64(st, 2, since);
	e = db_step_row(st);
	if (e == ERR_OK)
		*count = db_column_int64(st, 0);
	db_done(st);
	return e;
}

enum err hh_sharing_assess(struct db *db, const char *account_id, int64_t now, json_t **out)
{
	static _Thread_local struct auth_device_brief devs[HH_DEVICES_MAX];
	const struct hh_settings *cfg = hh_settings();
	struct hh_policy pol;
	struct hh_view v;
	char country[3];
	size_t ndevs = 0;
	int64_t since = now - cfg->sharing_window_s, score = 0;
	*out = NULL;
	enum err e = hh_account_policy(db, account_id, country, &pol);
	if (e == ERR_OK)
		e = hh_view_load(db, account_id, &pol, now, &v);
	if (e != ERR_OK)
		return e;
	json_t *evidence = json_array();
	if (!v.has_household) {
		json_array_append_new(evidence, json_pack("{s:s}", "kind", "household_not_set"));
		goto done;
	}
	int64_t regular = 0, overlaps = 0, never_home = 0, tvs_outside = 0;
	e = regular_networks(db, &v, since, cfg->sharing_regular_days, evidence, &regular);
	if (e == ERR_OK)
		e = auth_device_briefs_of_account(db, account_id, devs, HH_DEVICES_MAX, &ndevs);
	for (size_t i = 0; e == ERR_OK && i < ndevs; i++) {
		struct hh_trust t;
		e = hh_trust_of(db, &v, &pol, devs[i].id, NULL, now, &t);
		if (e != ERR_OK || t.last_seen_at < since)
			continue;
		bool is_tv = strcmp(devs[i].type, "tv") == 0;
		if (is_tv && !hh_view_is_tv(&v, devs[i].id)) {
			tvs_outside++;
			json_array_append_new(evidence,
					      json_pack("{s:s, s:s, s:s, s:s, s:o}", "kind",
							"tv_outside_household", "device_id", devs[i].id,
							"device_name", devs[i].name, "network",
							t.last_network, "last_seen_at",
							clock_json_or_null(t.last_seen_at)));
		} else if (!t.ever_home) {
			never_home++;
			json_array_append_new(evidence,
					      json_pack("{s:s, s:s, s:s, s:s, s:s}", "kind",
							"device_never_seen_at_home", "device_id", devs[i].id,
							"device_name", devs[i].name, "device_type",
							devs[i].type, "network", t.last_network));
		}
	}
	if (e == ERR_OK)
		e = concurrent_streams(db, account_id, since, &overlaps);
	if (e != ERR_OK) {
		json_decref(evidence);
		return e;
	}
	if (overlaps > 0)
		json_array_append_new(evidence, json_pack("{s:s, s:I}", "kind",
							  "concurrent_streams_from_different_networks",
							  "occurrences", (json_int_t)overlaps));
	score = clamp(regular, 2) + (never_home > 0 ? 1 : 0) + clamp(overlaps, 2) +
		(tvs_outside > 0 ? 2 : 0);
done:
	*out = json_pack("{s:s, s:I, s:I, s:o, s:o}", "level",
			 score >= SCORE_LIKELY ? "likely" : score >= SCORE_POSSIBLE ? "possible" : "none",
			 "score", (json_int_t)score, "window_days",
			 (json_int_t)(cfg->sharing_window_s / HH_DAY), "assessed_at", clock_json_or_null(now),
			 "evidence", evidence);
	return *out ? ERR_OK : ERR_NOMEM;
}
