/*
 * households_admin.c - what support staff see and do about households,
 * through the admin area's routes and account sections (admin/admin.h):
 *
 *   GET  /admin/v1/accounts/{id}/household        agent   the household, devices
 *        with trust and last-seen, recent decisions with reasons, the assessment
 *   POST /admin/v1/accounts/{id}/household/reset  agent   forget the household
 *   POST /admin/v1/devices/{id}/travel {days}      agent   give a device travel access
 *
 * Changes need X-Hearth-Reason and write one audit row in their own
 * transaction.  The account page (GET /admin/v1/accounts/{id}) shows the
 * same household view as its "household" section; the export carries the
 * household, sightings and decisions; erasure deletes them (networks are
 * personal data).
 */
#include <stdio.h>
#include <string.h>

#include "accounts/accounts.h"
#include "admin/admin.h"
#include "core/clock.h"
#include "core/jsonv.h"
#include "households/households_int.h"

#define TRAVEL_DAYS_MAX 90
#define EXPORT_ROWS_MAX 100000

static void reply_error(struct http_req *req, enum err e, const char *what)
{
	if (e == ERR_NOT_FOUND)
		http_reply_problem(req, e, what);
	else
		http_reply_problem(req, e, NULL);
}

/* GET /admin/v1/accounts/{id}/household */
static void show(struct http_req *req, const struct admin_ctx *ctx)
{
	struct acct_account a;
	json_t *doc = NULL;
	const char *id = http_param(req, "id");
	(void)ctx;
	struct db *db = db_thread();
	enum err e = db ? acct_get(db, id, &a) : ERR_DB;
	if (e == ERR_OK)
		e = hh_staff_view(db, id, &doc);
	if (e != ERR_OK) {
		reply_error(req, e, "No account has this id");
		return;
	}
	http_reply_json(req, 200, doc);
}

struct reset_ctx {
	const struct admin_ctx *ctx;
	const char *account_id;
	char status[12], network[NETADDR_STRLEN];
};

static enum err reset_tx(struct db *db, void *arg)
{
	struct reset_ctx *c = arg;
	struct acct_account a;
	struct hh_policy pol;
	struct hh_view v;
	enum err e = acct_get(db, c->account_id, &a);
	if (e != ERR_OK)
		return e;
	hh_policy_for(a.country, &pol);
	e = hh_view_load(db, c->account_id, &pol, clock_now(), &v);
	if (e != ERR_OK)
		return e;
	if (!v.has_household)
		return ERR_INVALID_STATE;
	snprintf(c->status, sizeof c->status, "%s", v.status);
	snprintf(c->network, sizeof c->network, "%s", v.origin);
	e = hh_household_reset(db, c->account_id, c->ctx->staff_id, c->ctx->reason);
	if (e == ERR_OK)
		e = admin_audit(db, c->ctx->staff_id, "household.reset", "account", c->account_id,
				c->ctx->reason, json_pack("{s:s}", "household", v.status),
				json_pack("{s:s}", "household", "not_set"));
	return e;
}

/* POST /admin/v1/accounts/{id}/household/reset */
static void reset(struct http_req *req, const struct admin_ctx *ctx)
{
	struct reset_ctx c;
	memset(&c, 0, sizeof c);
	c.ctx = ctx;
	c.account_id = http_param(req, "id");
	struct db *db = db_thread();
	enum err e = db ? db_transaction(db, reset_tx, &c) : ERR_DB;
	hh_cache_bump();
	if (e == ERR_INVALID_STATE) {
		http_reply_problem(req, e, "The account has no household to reset");
		return;
	}
	if (e != ERR_OK) {
		reply_error(req, e, "No account has this id");
		return;
	}
	http_reply_json(req, 200,
			json_pack("{s:s, s:s, s:s, s:s}", "account_id", c.account_id, "status", "not_set",
				  "previous_status", c.status, "previous_network", c.network));
}

struct travel_ctx {
	const struct admin_ctx *ctx;
	const char *device_id;
	int64_t days;
	int64_t expires_at;
};

static enum err travel_tx(struct db *db, void *arg)
{
	struct travel_ctx *c = arg;
	char until[32];
	enum err e = hh_travel_grant_staff(db, c->device_id, c->days, c->ctx->staff_id, c->ctx->reason,
					   &c->expires_at);
	if (e == ERR_OK)
		e = admin_audit(db, c->ctx->staff_id, "device.travel_grant", "device", c->device_id,
				c->ctx->reason, NULL,
				json_pack("{s:I, s:s}", "days", (json_int_t)c->days, "travel_access_until",
					  clock_format(c->expires_at, until, sizeof until)));
	return e;
}

/* POST /admin/v1/devices/{id}/travel {days} */
static void grant_travel(struct http_req *req, const struct admin_ctx *ctx)
{
	static const char *const allowed[] = {"days", NULL};
	struct travel_ctx c = {ctx, http_param(req, "id"), 0, 0};
	struct jv v;
	size_t len = 0;
	/* The body is read here, not by the server (no HTTP_JSON_BODY), so that
	 * a change without a reason is refused for that first, as every admin
	 * change is. */
	const char *text = http_body(req, &len);
	const char *ct = http_header(req, "Content-Type");
	if (!ct || strncmp(ct, "application/json", 16) != 0) {
		http_reply_problem(req, ERR_UNSUPPORTED_MEDIA_TYPE, "Send {\"days\": N} as application/json");
		return;
	}
	json_t *body = json_loadb(text ? text : "", len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(body)) {
		json_decref(body);
		http_reply_problem(req, ERR_INVALID_JSON, "The body must be a JSON object");
		return;
	}
	jv_init(&v, body);
	jv_reject_unknown(&v, allowed);
	jv_int(&v, "days", JV_REQUIRED, 1, TRAVEL_DAYS_MAX, &c.days);
	bool ok = http_valid_or_reply(req, &v);
	json_decref(body);
	if (!ok)
		return;
	struct db *db = db_thread();
	enum err e = db ? db_transaction(db, travel_tx, &c) : ERR_DB;
	hh_cache_bump();
	if (e != ERR_OK) {
		reply_error(req, e, "No live device has this id");
		return;
	}
	http_reply_json(req, 200,
			json_pack("{s:s, s:I, s:o}", "device_id", c.device_id, "days", (json_int_t)c.days,
				  "travel_access_until", clock_json_or_null(c.expires_at)));
}

/* ---- the account section ---- */

static enum err section_show(struct db *db, const char *account_id, json_t **out)
{
	return hh_staff_view(db, account_id, out);
}

/* Rows of `sql` (?1 = account) as objects of text and integer columns. */
static enum err rows_json(struct db *db, const char *sql, const char *account_id,
			  const char *const *names, json_t **out)
{
	struct db_stmt *st = NULL;
	json_t *a = json_array();
	enum err e = db_prepare(db, sql, &st);
	if (e != ERR_OK) {
		json_decref(a);
		return e;
	}
	db_bind_text(st, 1, account_id);
	for (size_t n = 0; n < EXPORT_ROWS_MAX; n++) {
		bool row = false;
		e = db_step(st, &row);
		if (e != ERR_OK || !row)
			break;
		json_t *o = json_object();
		for (int i = 0; names[i]; i++) {
			const char *t = db_column_text(st, i);
			json_object_set_new(o, names[i], t ? json_string(t) : json_null());
		}
		json_array_append_new(a, o);
	}
	db_done(st);
	if (e != ERR_OK) {
		json_decref(a);
		return e;
	}
	*out = a;
	return ERR_OK;
}

static enum err section_export(struct db *db, const char *account_id, json_t **out)
{
	static const char *const sighting_cols[] = {"device_id", "network", "day", "requests", "first_at",
						    "last_at", NULL};
	static const char *const decision_cols[] = {"id", "device_id", "profile_id", "network", "outcome",
						    "reasons", "created_at", NULL};
	json_t *household = NULL, *sightings = NULL, *decisions = NULL;
	enum err e = hh_household_json(db, account_id, &household);
	if (e == ERR_OK)
		e = rows_json(db,
			      "SELECT device_id, network, CAST(day AS TEXT), CAST(requests AS TEXT),"
			      " CAST(first_at AS TEXT), CAST(last_at AS TEXT) FROM device_sightings"
			      " WHERE account_id = ?1 ORDER BY day, device_id, network",
			      account_id, sighting_cols, &sightings);
	if (e == ERR_OK)
		e = rows_json(db,
			      "SELECT id, device_id, profile_id, network, outcome, reasons, CAST(created_at AS TEXT)"
			      " FROM playback_decisions WHERE account_id = ?1 ORDER BY created_at, id",
			      account_id, decision_cols, &decisions);
	if (e != ERR_OK) {
		json_decref(household);
		json_decref(sightings);
		return e;
	}
	*out = json_pack("{s:o, s:o, s:o}", "household", household, "sightings", sightings, "decisions",
			 decisions);
	return *out ? ERR_OK : ERR_NOMEM;
}

/* Networks say where a member lives: erasure deletes every row that holds
 * one, and keeps decisions only as outcomes without network or inputs. */
static enum err section_erase(struct db *db, const char *account_id)
{
	static const char *const statements[] = {
		"DELETE FROM device_sightings WHERE account_id = ?1",
		"DELETE FROM households WHERE account_id = ?1",
		"DELETE FROM household_moves WHERE account_id = ?1",
		"DELETE FROM household_challenges WHERE account_id = ?1",
		"UPDATE stream_slots SET network = 'erased', ended_at = COALESCE(ended_at, expires_at)," // NOLINT(bugprone-suspicious-missing-comma): one statement on two lines
		" end_reason = COALESCE(end_reason, 'revoked') WHERE account_id = ?1",
		"UPDATE playback_decisions SET network = NULL, inputs = '{}' WHERE account_id = ?1",
		"UPDATE extra_members SET email = 'erased', email_norm = 'erased+' || id WHERE owner_account_id = ?1",
	};
	enum err e = ERR_OK;
	for (size_t i = 0; e == ERR_OK && i < sizeof statements / sizeof statements[0]; i++) {
		struct db_stmt *st = NULL;
		e = db_prepare(db, statements[i], &st);
		if (e != ERR_OK)
			break;
		db_bind_text(st, 1, account_id);
		e = db_step_done(st);
		db_done(st);
	}
	return e;
}

static const struct admin_account_section section = {"household", section_show, section_export,
						     section_erase, NULL};

void hh_admin_register(void)
{
	admin_route("GET", "/admin/v1/accounts/{id}/household", show, 0, ADMIN_ROLE_AGENT, ADMIN_READ);
	admin_route("POST", "/admin/v1/accounts/{id}/household/reset", reset, 0, ADMIN_ROLE_AGENT,
		    ADMIN_CHANGE);
	admin_route("POST", "/admin/v1/devices/{id}/travel", grant_travel, 0, ADMIN_ROLE_AGENT,
		    ADMIN_CHANGE);
	admin_account_section_add(&section);
}
