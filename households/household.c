/*
 * household.c - the household of an account and the trust of its devices.
 *
 * Stored: where the household was proposed or set (the origin network),
 * by which TV and since when (set_at), and its TVs (household_tvs: the
 * origin TV and every TV the sightings flush saw on a household network).
 * Derived at every look, from the sightings within the window since set_at:
 *   - household networks: the origin, and every network a household TV was
 *     on; each stays one while a household TV was on it within the window
 *     (the origin counts as seen at set_at);
 *   - household TVs: the stored ones, and any TV seen on a household
 *     network before the flush stored it.
 * The two grow together until nothing changes, so a household whose
 * provider hands it a new address follows its TV there, and the old
 * network lapses once the window has passed without a TV on it.  A TV
 * stays a household TV until the household moves or is reset.
 *
 * A device is trusted while it was seen on a household network within the
 * window, or while it has travel access.
 */
#include <stdio.h>
#include <string.h>

#include "accounts/accounts.h"
#include "auth/auth.h"
#include "core/clock.h"
#include "core/events.h"
#include "households/households_int.h"

static void copy_text(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

enum err hh_account_policy(struct db *db, const char *account_id, char country[3],
			   struct hh_policy *pol)
{
	struct acct_account a;
	enum err e = acct_get(db, account_id, &a);
	if (e != ERR_OK)
		return e;
	memcpy(country, a.country, 3);
	hh_policy_for(a.country, pol);
	return ERR_OK;
}

bool hh_view_is_home(const struct hh_view *v, const char *network)
{
	if (!network || !network[0])
		return false;
	for (size_t i = 0; i < v->nnets; i++)
		if (strcmp(v->nets[i].prefix, network) == 0)
			return true;
	return false;
}

bool hh_view_is_tv(const struct hh_view *v, const char *device_id)
{
	for (size_t i = 0; i < v->ntvs; i++)
		if (strcmp(v->tvs[i], device_id) == 0)
			return true;
	return false;
}

/* A TV's last time on a network since the household began. */
struct tv_sight {
	char device[IDS_MAX];
	char network[NETADDR_STRLEN];
	int64_t last_at;
};

#define TV_SIGHTS_MAX 256

static bool is_tv_of(const struct auth_device_brief *devs, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(devs[i].type, "tv") == 0 && strcmp(devs[i].id, id) == 0)
			return true;
	return false;
}

/* Add or refresh network `prefix` seen at `at`; true when something changed. */
static bool note_net(struct hh_view *v, const char *prefix, int64_t at)
{
	for (size_t i = 0; i < v->nnets; i++) {
		if (strcmp(v->nets[i].prefix, prefix) == 0) {
			if (at <= v->nets[i].last_tv_at)
				return false;
			v->nets[i].last_tv_at = at;
			return true;
		}
	}
	if (v->nnets == HH_NETS_MAX)
		return false;
	struct hh_net *n = &v->nets[v->nnets++];
	memset(n, 0, sizeof *n);
	copy_text(n->prefix, sizeof n->prefix, prefix);
	n->last_tv_at = at;
	return true;
}

static bool note_tv(struct hh_view *v, const char *id)
{
	if (hh_view_is_tv(v, id) || v->ntvs == HH_DEVICES_MAX)
		return false;
	copy_text(v->tvs[v->ntvs++], IDS_MAX, id);
	return true;
}

enum err hh_view_load(struct db *db, const char *account_id, const struct hh_policy *pol,
		      int64_t now, struct hh_view *out)
{
	static _Thread_local struct auth_device_brief devs[HH_DEVICES_MAX];
	static _Thread_local struct tv_sight sights[TV_SIGHTS_MAX];
	struct db_stmt *st = NULL;
	size_t ndevs = 0, nsights = 0;
	memset(out, 0, sizeof *out);
	copy_text(out->account_id, sizeof out->account_id, account_id);
	enum err e = db_prepare(db,
				"SELECT id, status, network, device_id, set_at, confirmed_at FROM households"
				" WHERE account_id = ?1",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, account_id);
	e = db_step_row(st);
	if (e == ERR_OK) {
		out->has_household = true;
		copy_text(out->id, sizeof out->id, db_column_text(st, 0));
		copy_text(out->status, sizeof out->status, db_column_text(st, 1));
		copy_text(out->origin, sizeof out->origin, db_column_text(st, 2));
		copy_text(out->origin_device, sizeof out->origin_device, db_column_text(st, 3));
		out->set_at = db_column_int64(st, 4);
		out->confirmed_at = db_column_is_null(st, 5) ? 0 : db_column_int64(st, 5);
	}
	db_done(st);
	if (e == ERR_NOT_FOUND)
		return ERR_OK;
	if (e != ERR_OK)
		return e;

	e = auth_device_briefs_of_account(db, account_id, devs, HH_DEVICES_MAX, &ndevs);
	if (e != ERR_OK)
		return e;
	int64_t since = now - pol->window_s;
	if (since < out->set_at)
		since = out->set_at;
	e = db_prepare(db,
		       "SELECT device_id, network, MAX(last_at) FROM device_sightings"
		       " WHERE account_id = ?1 AND last_at >= ?2 GROUP BY device_id, network",
		       &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, account_id);
	db_bind_int64(st, 2, since);
	for (;;) {
		bool row = false;
		e = db_step(st, &row);
		if (e != ERR_OK || !row)
			break;
		const char *dev = db_column_text(st, 0);
		if (nsights == TV_SIGHTS_MAX || !is_tv_of(devs, ndevs, dev))
			continue;
		struct tv_sight *s = &sights[nsights++];
		copy_text(s->device, sizeof s->device, dev);
		copy_text(s->network, sizeof s->network, db_column_text(st, 1));
		s->last_at = db_column_int64(st, 2);
	}
	db_done(st);
	if (e != ERR_OK)
		return e;

	note_net(out, out->origin, out->set_at);
	out->nets[0].is_origin = true;
	if (is_tv_of(devs, ndevs, out->origin_device))
		note_tv(out, out->origin_device);
	e = db_prepare(db, "SELECT device_id FROM household_tvs WHERE account_id = ?1 ORDER BY joined_at", &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, account_id);
	for (;;) {
		bool row = false;
		e = db_step(st, &row);
		if (e != ERR_OK || !row)
			break;
		const char *dev = db_column_text(st, 0);
		if (is_tv_of(devs, ndevs, dev))
			note_tv(out, dev);
	}
	db_done(st);
	if (e != ERR_OK)
		return e;
	for (bool changed = true; changed;) {
		changed = false;
		for (size_t i = 0; i < nsights; i++) {
			const struct tv_sight *s = &sights[i];
			if (hh_view_is_tv(out, s->device))
				changed |= note_net(out, s->network, s->last_at);
			else if (hh_view_is_home(out, s->network))
				changed |= note_tv(out, s->device);
		}
	}
	/* Drop the networks no household TV was on within the window. */
	size_t keep = 0;
	for (size_t i = 0; i < out->nnets; i++)
		if (now - out->nets[i].last_tv_at <= pol->window_s)
			out->nets[keep++] = out->nets[i];
	out->nnets = keep;
	return ERR_OK;
}

enum err hh_device_facts_load(struct db *db, const char *device_id, const struct hh_policy *pol,
			      int64_t now, struct hh_device_facts *out)
{
	struct db_stmt *st = NULL;
	memset(out, 0, sizeof *out);
	enum err e = db_prepare(db,
				"SELECT network, MAX(last_at) FROM device_sightings WHERE device_id = ?1"
				" GROUP BY network ORDER BY 2 DESC",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, device_id);
	for (;;) {
		bool row = false;
		e = db_step(st, &row);
		if (e != ERR_OK || !row)
			break;
		/* Newest first: a device on more networks than fit keeps its recent ones. */
		if (out->n == HH_DEVICE_NETS_MAX)
			continue;
		copy_text(out->nets[out->n], NETADDR_STRLEN, db_column_text(st, 0));
		out->last_at[out->n++] = db_column_int64(st, 1);
	}
	db_done(st);
	if (e != ERR_OK)
		return e;
	e = db_prepare(db,
		       "SELECT COALESCE(MAX(expires_at), 0),"
		       " COALESCE(SUM(CASE WHEN source = 'verification' AND granted_at > ?2 THEN 1 ELSE 0 END), 0)"
		       " FROM travel_grants WHERE device_id = ?1",
		       &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, device_id);
	db_bind_int64(st, 2, now - pol->travel_period_s);
	e = db_step_row(st);
	if (e == ERR_OK) {
		out->travel_until = db_column_int64(st, 0);
		out->travel_grants_used = db_column_int64(st, 1);
	}
	db_done(st);
	return e;
}

void hh_trust_eval(const struct hh_view *v, const struct hh_policy *pol,
		   const struct hh_device_facts *f, const char *current_network, int64_t now,
		   struct hh_trust *out)
{
	memset(out, 0, sizeof *out);
	for (size_t i = 0; i < f->n; i++) {
		if (f->last_at[i] > out->last_seen_at) {
			out->last_seen_at = f->last_at[i];
			copy_text(out->last_network, sizeof out->last_network, f->nets[i]);
		}
		if (hh_view_is_home(v, f->nets[i])) {
			out->ever_home = true;
			if (f->last_at[i] > out->last_home_at)
				out->last_home_at = f->last_at[i];
		}
	}
	bool here_home = false;
	if (current_network && current_network[0]) {
		out->last_seen_at = now;
		copy_text(out->last_network, sizeof out->last_network, current_network);
		if (hh_view_is_home(v, current_network)) {
			here_home = true;
			out->ever_home = true;
			out->last_home_at = now;
		}
	}
	out->travel_until = f->travel_until;
	out->travel_grants_used = f->travel_grants_used;
	bool home_recent = out->ever_home && now - out->last_home_at <= pol->window_s;
	bool travel = out->travel_until > now;
	out->trusted = v->has_household && (home_recent || travel);
	const char *why;
	if (!v->has_household)
		why = "household_not_set";
	else if (here_home)
		why = "on_household_network";
	else if (home_recent)
		why = "seen_at_home_within_31d";
	else if (travel)
		why = "travel_access_active";
	else if (out->ever_home)
		why = "device_not_seen_at_home_31d";
	else
		why = "new_device_outside_household";
	copy_text(out->why, sizeof out->why, why);
}

enum err hh_trust_of(struct db *db, const struct hh_view *v, const struct hh_policy *pol,
		     const char *device_id, const char *current_network, int64_t now,
		     struct hh_trust *out)
{
	struct hh_device_facts f;
	memset(out, 0, sizeof *out);
	enum err e = hh_device_facts_load(db, device_id, pol, now, &f);
	if (e == ERR_OK)
		hh_trust_eval(v, pol, &f, current_network, now, out);
	return e;
}

/* ---- changes ---- */

static enum err record_move(struct db *db, const char *account_id, const char *kind,
			    const char *from, const char *to, const char *device_id, const char *actor,
			    int64_t now)
{
	char id[IDS_MAX];
	struct db_stmt *st = NULL;
	enum err e = ids_new("hhm_", id, sizeof id);
	if (e == ERR_OK)
		e = db_prepare(db,
			       "INSERT INTO household_moves (id, account_id, kind, from_network, to_network,"
			       " device_id, actor, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
			       &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, id);
	db_bind_text(st, 2, account_id);
	db_bind_text(st, 3, kind);
	db_bind_text(st, 4, from && from[0] ? from : NULL);
	db_bind_text(st, 5, to && to[0] ? to : NULL);
	db_bind_text(st, 6, device_id);
	db_bind_text(st, 7, actor);
	db_bind_int64(st, 8, now);
	e = db_step_done(st);
	db_done(st);
	return e;
}

enum err hh_household_tv_add(struct db *db, const char *account_id, const char *device_id, int64_t now)
{
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db,
				"INSERT INTO household_tvs (account_id, device_id, joined_at) VALUES (?1, ?2, ?3)"
				" ON CONFLICT (account_id, device_id) DO NOTHING",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, account_id);
	db_bind_text(st, 2, device_id);
	db_bind_int64(st, 3, now);
	e = db_step_done(st);
	db_done(st);
	return e;
}

static enum err forget_tvs(struct db *db, const char *account_id)
{
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db, "DELETE FROM household_tvs WHERE account_id = ?1", &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, account_id);
	e = db_step_done(st);
	db_done(st);
	return e;
}

enum err hh_household_propose(struct db *db, const char *account_id, const char *device_id,
			      const char *network, int64_t now)
{
	char id[IDS_MAX];
	struct db_stmt *st = NULL;
	enum err e = ids_new("hh_", id, sizeof id);
	if (e == ERR_OK)
		e = db_prepare(db,
			       "INSERT INTO households (account_id, id, status, network, device_id, set_at,"
			       " updated_at) VALUES (?1, ?2, 'proposed', ?3, ?4, ?5, ?5)"
			       " ON CONFLICT (account_id) DO NOTHING",
			       &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, account_id);
	db_bind_text(st, 2, id);
	db_bind_text(st, 3, network);
	db_bind_text(st, 4, device_id);
	db_bind_int64(st, 5, now);
	e = db_step_done(st);
	db_done(st);
	if (e != ERR_OK || db_changes(db) == 0)
		return e;
	e = hh_household_tv_add(db, account_id, device_id, now);
	if (e == ERR_OK)
		e = record_move(db, account_id, "proposed", NULL, network, device_id, "system", now);
	if (e == ERR_OK)
		e = events_emit(db, "household.proposed", id,
				json_pack("{s:s, s:s, s:s}", "account_id", account_id, "network", network,
					  "device_id", device_id));
	return e;
}

enum err hh_household_apply(struct db *db, const char *account_id, const char *network,
			    const char *device_id, const char *actor, int64_t now, bool *moved)
{
	struct db_stmt *st = NULL;
	char id[IDS_MAX] = "", status[12] = "", old_net[NETADDR_STRLEN] = "";
	int64_t set_at = now;
	*moved = false;
	enum err e = db_prepare(db, "SELECT id, status, network, set_at FROM households WHERE account_id = ?1",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, account_id);
	e = db_step_row(st);
	if (e == ERR_OK) {
		copy_text(id, sizeof id, db_column_text(st, 0));
		copy_text(status, sizeof status, db_column_text(st, 1));
		copy_text(old_net, sizeof old_net, db_column_text(st, 2));
		set_at = db_column_int64(st, 3);
	}
	db_done(st);
	if (e != ERR_OK && e != ERR_NOT_FOUND)
		return e;
	bool existed = e == ERR_OK;
	if (!existed && (e = ids_new("hh_", id, sizeof id)) != ERR_OK)
		return e;
	*moved = existed && strcmp(status, "set") == 0 && strcmp(old_net, network) != 0;
	/* Confirming the proposed network keeps what the TVs did since the
	 * proposal; any other network starts the household afresh. */
	if (strcmp(old_net, network) != 0)
		set_at = now;
	e = db_prepare(db,
		       "INSERT INTO households (account_id, id, status, network, device_id, set_at,"
		       " confirmed_at, updated_at) VALUES (?1, ?2, 'set', ?3, ?4, ?5, ?6, ?6)"
		       " ON CONFLICT (account_id) DO UPDATE SET status = 'set', network = excluded.network,"
		       " device_id = excluded.device_id, set_at = excluded.set_at,"
		       " confirmed_at = excluded.confirmed_at, updated_at = excluded.updated_at",
		       &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, account_id);
	db_bind_text(st, 2, id);
	db_bind_text(st, 3, network);
	db_bind_text(st, 4, device_id);
	db_bind_int64(st, 5, set_at);
	db_bind_int64(st, 6, now);
	e = db_step_done(st);
	db_done(st);
	if (e != ERR_OK)
		return e;
	/* A new network starts the household afresh, TVs included. */
	if (strcmp(old_net, network) != 0)
		e = forget_tvs(db, account_id);
	if (e == ERR_OK)
		e = hh_household_tv_add(db, account_id, device_id, now);
	if (e != ERR_OK)
		return e;
	const char *kind = *moved ? "moved" : "set";
	e = record_move(db, account_id, kind, old_net, network, device_id, actor, now);
	if (e == ERR_OK)
		e = events_emit(db, *moved ? "household.moved" : "household.set", id,
				json_pack("{s:s, s:s, s:s?, s:s, s:s}", "account_id", account_id, "network",
					  network, "from_network", old_net[0] ? old_net : NULL,
					  "device_id", device_id, "actor", actor));
	return e;
}

enum err hh_moves_since(struct db *db, const char *account_id, int64_t since, int64_t *count)
{
	struct db_stmt *st = NULL;
	*count = 0;
	enum err e = db_prepare(db,
				"SELECT COUNT(*) FROM household_moves WHERE account_id = ?1"
				" AND kind = 'moved' AND created_at > ?2",
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

enum err hh_household_reset(struct db *db, const char *account_id, const char *actor,
			    const char *reason)
{
	struct db_stmt *st = NULL;
	char id[IDS_MAX] = "", net[NETADDR_STRLEN] = "";
	int64_t now = clock_now();
	enum err e = db_prepare(db, "DELETE FROM households WHERE account_id = ?1 RETURNING id, network",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, account_id);
	e = db_step_row(st);
	if (e == ERR_OK) {
		copy_text(id, sizeof id, db_column_text(st, 0));
		copy_text(net, sizeof net, db_column_text(st, 1));
	}
	db_done(st);
	if (e != ERR_OK)
		return e;
	e = forget_tvs(db, account_id);
	if (e == ERR_OK)
		e = record_move(db, account_id, "reset", net, NULL, NULL, actor, now);
	if (e == ERR_OK)
		e = events_emit(db, "household.reset", id,
				json_pack("{s:s, s:s, s:s, s:s}", "account_id", account_id, "network", net,
					  "actor", actor, "reason", reason ? reason : ""));
	return e;
}

/* ---- the member's view ---- */

static json_t *networks_json(const struct hh_view *v, const struct hh_policy *pol)
{
	json_t *a = json_array();
	for (size_t i = 0; i < v->nnets; i++) {
		const struct hh_net *n = &v->nets[i];
		json_array_append_new(a, json_pack("{s:s, s:b, s:o, s:o}", "prefix", n->prefix, "origin",
						   n->is_origin, "last_tv_seen_at",
						   clock_json_or_null(n->last_tv_at), "household_until",
						   clock_json_or_null(n->last_tv_at + pol->window_s)));
	}
	return a;
}

/* Every live device of the account with its trust (for members and staff). */
static enum err devices_json(struct db *db, const struct hh_view *v, const struct hh_policy *pol,
			     int64_t now, bool staff, json_t **out)
{
	static _Thread_local struct auth_device_brief devs[HH_DEVICES_MAX];
	size_t n = 0;
	*out = NULL;
	enum err e = auth_device_briefs_of_account(db, v->account_id, devs, HH_DEVICES_MAX, &n);
	if (e != ERR_OK)
		return e;
	json_t *a = json_array();
	for (size_t i = 0; i < n && e == ERR_OK; i++) {
		struct hh_trust t;
		e = hh_trust_of(db, v, pol, devs[i].id, NULL, now, &t);
		if (e != ERR_OK)
			break;
		json_t *d = json_pack("{s:s, s:s, s:s, s:b, s:b, s:s, s:o, s:o, s:o}", "id", devs[i].id,
				      "name", devs[i].name, "type", devs[i].type, "household_tv",
				      hh_view_is_tv(v, devs[i].id), "trusted", t.trusted, "why", t.why,
				      "last_seen_at_home", clock_json_or_null(t.last_home_at),
				      "trusted_until",
				      clock_json_or_null(t.trusted ? (t.last_home_at + pol->window_s > t.travel_until
									 ? t.last_home_at + pol->window_s
									 : t.travel_until)
							     : 0),
				      "travel_access_until",
				      clock_json_or_null(t.travel_until > now ? t.travel_until : 0));
		if (staff) {
			json_object_set_new(d, "last_seen_at", clock_json_or_null(t.last_seen_at));
			json_object_set_new(d, "last_network",
					    t.last_network[0] ? json_string(t.last_network) : json_null());
			json_object_set_new(d, "travel_grants_used", json_integer(t.travel_grants_used));
		}
		json_array_append_new(a, d);
	}
	if (e != ERR_OK) {
		json_decref(a);
		return e;
	}
	*out = a;
	return ERR_OK;
}

static enum err household_object(struct db *db, const char *account_id, bool staff, json_t **out)
{
	struct hh_view v;
	struct hh_policy pol;
	char country[3];
	int64_t now = clock_now();
	json_t *devices = NULL;
	*out = NULL;
	enum err e = hh_account_policy(db, account_id, country, &pol);
	if (e == ERR_OK)
		e = hh_view_load(db, account_id, &pol, now, &v);
	if (e == ERR_OK)
		e = devices_json(db, &v, &pol, now, staff, &devices);
	if (e != ERR_OK)
		return e;
	*out = json_pack("{s:o, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:{s:s, s:b, s:I, s:I, s:I}}", "id",
			 v.has_household ? json_string(v.id) : json_null(), "status",
			 v.has_household ? v.status : "not_set", "origin_network",
			 v.has_household ? json_string(v.origin) : json_null(), "set_at",
			 clock_json_or_null(v.set_at), "confirmed_at", clock_json_or_null(v.confirmed_at),
			 "set_by_device", v.has_household ? json_string(v.origin_device) : json_null(),
			 "networks", networks_json(&v, &pol), "devices", devices, "policy", "country",
			 country, "enforcement", pol.enforce, "window_days",
			 (json_int_t)(pol.window_s / HH_DAY), "travel_days",
			 (json_int_t)(pol.travel_s / HH_DAY), "travel_grants_per_period",
			 (json_int_t)pol.travel_grants);
	return *out ? ERR_OK : ERR_NOMEM;
}

enum err hh_household_json(struct db *db, const char *account_id, json_t **out)
{
	return household_object(db, account_id, false, out);
}

enum err hh_staff_view(struct db *db, const char *account_id, json_t **out)
{
	json_t *obj = NULL, *decisions = NULL, *assessment = NULL;
	*out = NULL;
	enum err e = household_object(db, account_id, true, &obj);
	if (e == ERR_OK)
		e = hh_decisions_json(db, account_id, NULL, 20, &decisions);
	if (e == ERR_OK)
		e = hh_sharing_assess(db, account_id, clock_now(), &assessment);
	if (e != ERR_OK) {
		json_decref(obj);
		json_decref(decisions);
		return e;
	}
	json_object_set_new(obj, "account_id", json_string(account_id));
	json_object_set_new(obj, "recent_decisions", decisions);
	json_object_set_new(obj, "sharing", assessment);
	*out = obj;
	return ERR_OK;
}
