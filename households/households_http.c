/*
 * households_http.c - the households area's HTTP adapter: the household,
 * verification codes, the playback gate and its decisions, extra members
 * and profile transfer.  Each handler checks its input, calls one domain
 * function and writes the JSON; the rules live in the domain files.
 */
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accounts/accounts.h"
#include "auth/auth.h"
#include "core/clock.h"
#include "core/jsonv.h"
#include "core/log.h"
#include "households/households_int.h"
#include "server/http.h"
#include "server/server.h"

#define CODE_FIELD_MAX 32
#define TOKEN_FIELD_MAX 128
#define EMAIL_FIELD_MAX 1024
#define PASSWORD_FIELD_MAX 4096
#define EXTRA_MEMBERS_MAX 16

/* ---- start and stop ---- */

enum err hh_init(const struct config *cfg)
{
	char why[200];
	enum err e = hh_settings_load(cfg, why, sizeof why);
	if (e != ERR_OK) {
		char q[240];
		log_error("households.config", "problem=%s", log_quote(why, q, sizeof q));
		return e;
	}
	e = hh_sightings_start();
	if (e != ERR_OK) {
		log_error("households.start_failed", "note=\"cannot start the sightings writer thread\"");
		hh_shutdown();
	}
	return e;
}

void hh_shutdown(void)
{
	hh_sightings_stop();
}

/* ---- helpers ---- */

/* The device of the token, or a 403 device_required. */
static const char *device_or_reply(struct http_req *req)
{
	const struct http_auth *a = http_auth(req);
	if (!a->device_id[0]) {
		http_reply_problem(req, ERR_DEVICE_REQUIRED, "Use the access token of a signed-in device");
		return NULL;
	}
	return a->device_id;
}

static void reply_retry_after(struct http_req *req, enum err e, const char *detail, int64_t retry_after)
{
	char secs[24];
	if (retry_after < 1)
		retry_after = 1;
	snprintf(secs, sizeof secs, "%" PRId64, retry_after);
	http_add_header(req, "Retry-After", secs);
	http_reply_problem_ext(req, e, detail, json_pack("{s:I}", "retry_after", (json_int_t)retry_after));
}

static json_t *challenge_json(const struct hh_challenge *c)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:o, s:I, s:I}", "id", c->id, "kind",
			 hh_challenge_kind_name(c->kind), "channel", c->channel, "destination",
			 c->destination, "expires_at", clock_json_or_null(c->expires_at), "attempts_left",
			 (json_int_t)c->attempts_left, "resends_left", (json_int_t)c->sends_left);
}

/* ---- explanations ---- */

static const struct {
	const char *reason, *text;
} explanations[] = {
	{"on_household_network", "This device is on the household's network."},
	{"seen_at_home_within_31d", "This device was used on the household's network within the household window."},
	{"network_not_household", "This device is not on the household's network right now."},
	{"device_not_seen_at_home_31d", "This device has not been used on the household's network within the household window."},
	{"new_device_outside_household", "This device has never been used on the household's network."},
	{"travel_access_active", "This device has travel access from a code the account owner confirmed."},
	{"household_not_set", "The account has no household yet; signing in on a TV at home sets it."},
	{"verification_skipped_enforcement_off", "Household rules are not enforced in this country: the decision is recorded and playback goes on."},
	{"verification_required", "Enter the code sent to the account owner to watch on this device while away from home."},
	{"travel_limit_reached", "This device has used its travel access for this period: the owner can update the household or add an extra member."},
	{"stream_limit_reached", "Every stream of the plan is in use: stop one to watch here."},
	{"plan_not_available_on_device", "The plan does not include this kind of device."},
	{"extra_member", "This account watches as an extra member on the owner's plan."},
	{"extra_member_single_profile", "An extra member watches on the account's one profile."},
	{"payment_required", "The subscription is on hold until a payment succeeds."},
	{"subscription_ended", "The subscription has ended."},
	{"no_subscription", "The account has no subscription."},
	{"extra_member_access_ended", "The owner removed this extra member; access ended at the end of the paid period."},
	{"owner_payment_required", "The owner's subscription cannot play right now."},
};

static json_t *explain(json_t *reasons)
{
	json_t *out = json_array();
	size_t i;
	json_t *r;
	json_array_foreach(reasons, i, r) {
		const char *code = json_string_value(r);
		for (size_t j = 0; code && j < sizeof explanations / sizeof explanations[0]; j++)
			if (strcmp(explanations[j].reason, code) == 0)
				json_array_append_new(out, json_string(explanations[j].text));
	}
	return out;
}

/* ---- GET /v1/household ---- */

static void household_get(struct http_req *req)
{
	json_t *out = NULL;
	struct db *db = http_db_or_reply(req);
	if (!db)
		return;
	enum err e = hh_household_json(db, http_auth(req)->subject, &out);
	if (e != ERR_OK) {
		http_reply_problem(req, e, NULL);
		return;
	}
	http_reply_json(req, 200, out);
}

/* ---- POST /v1/household: set or move it from a TV ---- */

struct household_ask_ctx {
	const char *account_id, *device_id, *network;
	struct hh_challenge ch;
};

static enum err household_ask_tx(struct db *db, void *arg)
{
	struct household_ask_ctx *c = arg;
	return hh_challenge_open(db, c->account_id, c->device_id, HH_CHALLENGE_HOUSEHOLD, c->network,
				 clock_now(), &c->ch);
}

static void household_post(struct http_req *req)
{
	const struct http_auth *a = http_auth(req);
	const char *device = device_or_reply(req);
	struct auth_device_brief dev;
	struct hh_policy pol;
	struct hh_view v;
	char country[3], network[NETADDR_STRLEN];
	int64_t now = clock_now(), moves = 0;
	if (!device)
		return;
	struct db *db = http_db_or_reply(req);
	if (!db)
		return;
	enum err e = auth_device_brief_get(db, device, &dev);
	if (e == ERR_OK && strcmp(dev.type, "tv") != 0) {
		http_reply_problem(req, ERR_HOUSEHOLD_REQUIRES_TV,
				   "Set or move the household from a TV signed in at home");
		return;
	}
	hh_network_of(http_client_addr(req), network, sizeof network);
	if (e == ERR_OK && !network[0])
		e = ERR_INTERNAL;
	if (e == ERR_OK)
		e = hh_account_policy(db, a->subject, country, &pol);
	if (e == ERR_OK)
		e = hh_view_load(db, a->subject, &pol, now, &v);
	if (e == ERR_OK)
		e = hh_moves_since(db, a->subject, now - pol.move_period_s, &moves);
	if (e != ERR_OK) {
		http_reply_problem(req, e, NULL);
		return;
	}
	bool is_set = v.has_household && strcmp(v.status, "set") == 0;
	if (is_set && strcmp(v.origin, network) == 0) {
		json_t *out = NULL;
		e = hh_household_json(db, a->subject, &out);
		if (e != ERR_OK) {
			http_reply_problem(req, e, NULL);
			return;
		}
		json_object_set_new(out, "unchanged", json_true());
		http_reply_json(req, 200, out);
		return;
	}
	if (is_set && moves >= pol.move_limit) {
		char detail[160];
		snprintf(detail, sizeof detail, "The household can move %" PRId64 " times in %" PRId64
			 " days; ask support if you moved house", pol.move_limit, pol.move_period_s / HH_DAY);
		http_reply_problem_ext(req, ERR_HOUSEHOLD_MOVE_LIMIT, detail,
				       json_pack("{s:I, s:I}", "moves", (json_int_t)moves, "limit",
						 (json_int_t)pol.move_limit));
		return;
	}
	struct household_ask_ctx c;
	memset(&c, 0, sizeof c);
	c.account_id = a->subject;
	c.device_id = device;
	c.network = network;
	e = db_transaction(db, household_ask_tx, &c);
	if (e != ERR_OK) {
		http_reply_problem(req, e, NULL);
		return;
	}
	http_reply_json(req, 202,
			json_pack("{s:s, s:s, s:o}", "action", is_set ? "move" : "set", "network", network,
				  "challenge", challenge_json(&c.ch)));
}

/* ---- verifications ---- */

static void verification_confirm(struct http_req *req)
{
	static const char *const allowed[] = {"code", NULL};
	const struct http_auth *a = http_auth(req);
	const char *device = device_or_reply(req);
	const char *code = NULL;
	struct hh_confirm_result r;
	struct jv v;
	if (!device)
		return;
	jv_init(&v, http_json(req));
	jv_reject_unknown(&v, allowed);
	jv_string(&v, "code", JV_REQUIRED, 1, CODE_FIELD_MAX, &code);
	struct db *db = http_valid_db_or_reply(req, &v);
	if (!db)
		return;
	enum err e = hh_challenge_confirm(db, a->subject, device, http_client_addr(req),
					  http_param(req, "id"), code, &r);
	switch (e) {
	case ERR_OK:
		break;
	case ERR_NOT_FOUND:
		http_reply_problem(req, e, "No open verification of this device has this id");
		return;
	case ERR_TOO_MANY_ATTEMPTS:
		reply_retry_after(req, e, "Too many wrong codes; wait before trying again", r.retry_after);
		return;
	case ERR_INVALID_CODE:
		http_reply_problem_ext(req, e, "The code is wrong",
				       json_pack("{s:I}", "attempts_left", (json_int_t)r.attempts_left));
		return;
	case ERR_CHALLENGE_CLOSED:
		http_reply_problem(req, e, "Start again to get a new code");
		return;
	case ERR_TRAVEL_LIMIT_REACHED:
		http_reply_problem_ext(req, e,
				       "This device has used its travel access for this period; the owner can"
				       " update the household or add an extra member",
				       json_pack("{s:[s]}", "reasons", "travel_limit_reached"));
		return;
	case ERR_HOUSEHOLD_MOVE_LIMIT:
		http_reply_problem(req, e, "The household was moved too often recently; ask support");
		return;
	default:
		http_reply_problem(req, e, NULL);
		return;
	}
	json_t *out = json_pack("{s:s, s:s}", "id", r.ch.id, "kind", hh_challenge_kind_name(r.ch.kind));
	if (r.ch.kind == HH_CHALLENGE_TRAVEL) {
		json_object_set_new(out, "travel_access",
				    json_pack("{s:s, s:s, s:o}", "id", r.travel_id, "device_id", r.ch.device_id,
					      "expires_at", clock_json_or_null(r.travel_until)));
	} else {
		json_t *hh = NULL;
		if (hh_household_json(db, a->subject, &hh) != ERR_OK)
			hh = json_null();
		json_object_set_new(out, "household_action", json_string(r.household_moved ? "moved" : "set"));
		json_object_set_new(out, "household", hh);
	}
	http_reply_json(req, 200, out);
}

static void verification_resend(struct http_req *req)
{
	const struct http_auth *a = http_auth(req);
	const char *device = device_or_reply(req);
	struct hh_challenge ch;
	int64_t retry_after = 0;
	if (!device)
		return;
	struct db *db = http_db_or_reply(req);
	if (!db)
		return;
	enum err e = hh_challenge_resend(db, a->subject, device, http_param(req, "id"), &ch, &retry_after);
	if (e == ERR_NOT_FOUND) {
		http_reply_problem(req, e, "No open verification of this device has this id");
		return;
	}
	if (e == ERR_TOO_MANY_ATTEMPTS) {
		reply_retry_after(req, e, "A code was sent moments ago, or no resends are left", retry_after);
		return;
	}
	if (e == ERR_CHALLENGE_CLOSED) {
		http_reply_problem(req, e, "Start again to get a new code");
		return;
	}
	if (e != ERR_OK) {
		http_reply_problem(req, e, NULL);
		return;
	}
	http_reply_json(req, 202, challenge_json(&ch));
}

/* ---- the playback gate ---- */

static const enum err outcome_errors[] = {
	[HH_ALLOWED] = ERR_OK,
	[HH_STREAM_LIMIT_REACHED] = ERR_STREAM_LIMIT_REACHED,
	[HH_VERIFICATION_REQUIRED] = ERR_VERIFICATION_REQUIRED,
	[HH_TRAVEL_LIMIT_REACHED] = ERR_TRAVEL_LIMIT_REACHED,
	[HH_PAYMENT_REQUIRED] = ERR_PAYMENT_REQUIRED,
	[HH_PLAN_NOT_AVAILABLE_ON_DEVICE] = ERR_PLAN_NOT_AVAILABLE_ON_DEVICE,
	[HH_PROFILE_NOT_ALLOWED] = ERR_PROFILE_NOT_ALLOWED,
};

static json_t *decision_body(const struct hh_decision *d)
{
	return json_pack("{s:s, s:s, s:b, s:O, s:o, s:I}", "decision_id", d->id, "outcome",
			 hh_outcome_name(d->outcome), "enforced", d->enforced, "reasons", d->reasons,
			 "explanation", explain(d->reasons), "max_streams", (json_int_t)d->max_streams);
}

/* The 201 body of an allowed decision `d` (a new reference). */
static json_t *allowed_body(const struct hh_decision *d, const char *profile)
{
	json_t *body = decision_body(d);
	json_object_set_new(body, "stream",
			    json_pack("{s:s, s:s, s:o, s:I}", "id", d->slot_id, "profile_id", profile,
				      "expires_at", clock_json_or_null(d->slot_expires_at),
				      "heartbeat_timeout_seconds",
				      (json_int_t)hh_settings()->heartbeat_timeout_s));
	return body;
}

/* Reply with decision `d` (released here). */
static void reply_decision(struct http_req *req, struct hh_decision *d, const char *profile)
{
	if (d->outcome == HH_ALLOWED) {
		json_t *body = allowed_body(d, profile);
		hh_decision_release(d);
		http_reply_json(req, 201, body);
		return;
	}
	json_t *body = decision_body(d);
	switch (d->outcome) {
	case HH_STREAM_LIMIT_REACHED:
		json_object_set(body, "active_streams", d->active_streams);
		break;
	case HH_VERIFICATION_REQUIRED:
		json_object_set_new(body, "challenge", challenge_json(&d->challenge));
		break;
	default:
		break;
	}
	const char *detail = d->outcome == HH_VERIFICATION_REQUIRED
				     ? "Enter the code sent to the account owner on this device"
				     : NULL;
	enum err pe = outcome_errors[d->outcome];
	hh_decision_release(d);
	http_reply_problem_ext(req, pe, detail, body);
}

static void reply_start_error(struct http_req *req, enum err e)
{
	if (e == ERR_NOT_FOUND)
		http_reply_problem(req, e, "No profile of this account has this id");
	else
		http_reply_problem(req, e, NULL);
}

/* A start waiting for its slot's commit: what the writer thread needs to
 * answer it. */
struct pending_start {
	struct http_req *req;
	struct hh_decision d;
	char account[48], device[48], profile[IDS_MAX]; /* as struct http_auth holds them */
	/* The reply if the slot is taken, made on the request thread (see
	 * hh_gate_ready): the writer then only hands it over. */
	char *allowed_text;
	size_t allowed_len;
};

static void start_ready(void *ctx, const struct hh_decision *d)
{
	struct pending_start *p = ctx;
	json_t *body = allowed_body(d, p->profile);
	p->allowed_text = json_dumps(body, JSON_COMPACT); /* as http_reply_json() dumps it */
	p->allowed_len = p->allowed_text ? strlen(p->allowed_text) : 0;
	json_decref(body);
}

static void pending_start_free(struct pending_start *p)
{
	free(p->allowed_text);
	free(p);
}

static void start_committed(void *ctx, enum err e)
{
	struct pending_start *p = ctx;
	if (e == ERR_OK && p->d.outcome == HH_ALLOWED && p->allowed_text) {
		hh_decision_release(&p->d);
		http_reply_raw(p->req, 201, "application/json", p->allowed_text, p->allowed_len);
	} else if (e == ERR_OK) {
		reply_decision(p->req, &p->d, p->profile);
	} else {
		hh_decision_release(&p->d);
		reply_start_error(p->req, e);
	}
	http_deferred_done(p->req);
	pending_start_free(p);
}

void hh_playback_start_parse(struct jv *v, const char **profile_id)
{
	static const char *const allowed[] = {"profile_id", NULL};
	const char *p = NULL;
	jv_reject_unknown(v, allowed);
	if (jv_string(v, "profile_id", JV_REQUIRED, 1, IDS_MAX, &p) && !ids_valid("prf_", p))
		jv_error(v, "profile_id", "invalid_format", "Must be a profile id (prf_...)");
	else if (p)
		*profile_id = p;
}

static void playback_start(struct http_req *req)
{
	const struct http_auth *a = http_auth(req);
	const char *device = device_or_reply(req);
	const char *profile = NULL;
	struct jv v;
	bool pending = false;
	if (!device)
		return;
	jv_init(&v, http_json(req));
	hh_playback_start_parse(&v, &profile);
	struct db *db = http_valid_db_or_reply(req, &v);
	if (!db)
		return;
	struct pending_start *p = calloc(1, sizeof *p);
	if (!p) {
		http_reply_problem(req, ERR_NOMEM, NULL);
		return;
	}
	p->req = req;
	snprintf(p->account, sizeof p->account, "%s", a->subject);
	snprintf(p->device, sizeof p->device, "%s", device);
	snprintf(p->profile, sizeof p->profile, "%s", profile);
	/* Suspend first: the writer may answer before this function returns.
	 * The server waits for no reply from this handler from here on. */
	http_defer(req);
	enum err e = hh_playback_start_async(db, p->account, p->device, p->profile, http_client_addr(req),
					     &p->d, start_ready, start_committed, p, &pending);
	if (pending)
		return;
	if (e == ERR_OK) {
		reply_decision(req, &p->d, p->profile);
	} else {
		hh_decision_release(&p->d);
		reply_start_error(req, e);
	}
	http_deferred_done(req);
	pending_start_free(p);
}

static void playback_heartbeat(struct http_req *req)
{
	int64_t expires = 0;
	char why[24];
	struct db *db = http_db_or_reply(req);
	if (!db)
		return;
	const char *id = http_param(req, "id");
	enum err e = hh_playback_heartbeat(db, http_auth(req)->subject, id, &expires, why);
	if (e == ERR_NOT_FOUND) {
		http_reply_problem(req, e, "No stream of this account has this id");
		return;
	}
	if (e == ERR_INVALID_STATE) {
		http_reply_problem_ext(req, ERR_STREAM_ENDED, "Start a new stream",
				       json_pack("{s:s}", "end_reason", why));
		return;
	}
	if (e != ERR_OK) {
		http_reply_problem(req, e, NULL);
		return;
	}
	http_reply_json(req, 200, json_pack("{s:s, s:o}", "id", id, "expires_at", clock_json_or_null(expires)));
}

static void playback_stop(struct http_req *req)
{
	struct db *db = http_db_or_reply(req);
	if (!db)
		return;
	enum err e = hh_playback_stop(db, http_auth(req)->subject, http_param(req, "id"));
	if (e == ERR_NOT_FOUND) {
		http_reply_problem(req, e, "No stream of this account has this id");
		return;
	}
	if (e != ERR_OK) {
		http_reply_problem(req, e, NULL);
		return;
	}
	http_reply_empty(req, 204);
}

static void decisions_list(struct http_req *req)
{
	int64_t limit = 0;
	const char *after = NULL;
	json_t *list = NULL;
	if (!http_page_params_or_reply(req, &limit, &after))
		return;
	struct db *db = http_db_or_reply(req);
	if (!db)
		return;
	enum err e = hh_decisions_json(db, http_auth(req)->subject, after, limit + 1, &list);
	if (e == ERR_NOT_FOUND) {
		http_reply_problem(req, ERR_INVALID_PARAMETER, "starting_after is not one of your decisions");
		return;
	}
	if (e != ERR_OK) {
		http_reply_problem(req, e, NULL);
		return;
	}
	bool more = (int64_t)json_array_size(list) > limit;
	if (more)
		json_array_remove(list, json_array_size(list) - 1);
	size_t i;
	json_t *d;
	json_array_foreach(list, i, d) {
		json_object_set_new(d, "explanation", explain(json_object_get(d, "reasons")));
	}
	http_reply_json(req, 200, json_pack("{s:o, s:b}", "data", list, "has_more", more));
}

/* ---- extra members ---- */

static json_t *money_json(const struct money *m)
{
	return json_pack("{s:I, s:s}", "amount", (json_int_t)m->amount, "currency", m->currency);
}

static json_t *extra_member_json(const struct hh_extra_member *x)
{
	return json_pack("{s:s, s:s, s:s, s:o, s:s, s:o, s:o, s:o, s:o}", "id", x->id, "email", x->email,
			 "status", x->status, "member_account_id",
			 x->member_account_id[0] ? json_string(x->member_account_id) : json_null(),
			 "addon_id", x->addon_id, "invited_at", clock_json_or_null(x->created_at),
			 "accepted_at", clock_json_or_null(x->accepted_at), "removed_at",
			 clock_json_or_null(x->removed_at), "access_ends_at", clock_json_or_null(x->ends_at));
}

static void extra_members_create(struct http_req *req)
{
	static const char *const allowed[] = {"email", NULL};
	const char *email = NULL;
	struct hh_extra_member x;
	struct bill_payment_outcome pay;
	struct jv v;
	jv_init(&v, http_json(req));
	jv_reject_unknown(&v, allowed);
	jv_string(&v, "email", JV_REQUIRED, 1, EMAIL_FIELD_MAX, &email);
	struct db *db = http_valid_db_or_reply(req, &v);
	if (!db)
		return;
	enum err e = hh_extra_member_invite(db, http_auth(req)->subject, email, &x, &pay);
	switch (e) {
	case ERR_OK:
		break;
	case ERR_VALIDATION:
		http_reply_invalid(req, json_pack("[{s:s, s:s, s:s}]", "field", "email", "code",
						  "invalid_format", "message", "Must be an email address"));
		return;
	case ERR_CONFLICT:
		http_reply_problem(req, e, "This address already has an invitation or a slot");
		return;
	case ERR_INVITEE_NOT_ELIGIBLE:
		http_reply_problem(req, e, "The owner cannot be their own extra member");
		return;
	case ERR_PAYMENT_FAILED:
		http_reply_problem_ext(req, e, "The charge for the slot was declined; nothing was bought",
				       json_pack("{s:s, s:s}", "invoice_id", pay.invoice_id, "failure_code",
						 pay.failure_code));
		return;
	case ERR_PAYMENT_REQUIRED:
		http_reply_problem(req, e, "An active subscription and a payment method are needed");
		return;
	case ERR_INVALID_STATE:
		http_reply_problem(req, e, "The subscription must be active to buy a slot");
		return;
	case ERR_NOT_FOUND:
		http_reply_problem(req, ERR_PAYMENT_REQUIRED, "The account has no subscription");
		return;
	default:
		http_reply_problem(req, e, NULL);
		return;
	}
	json_t *out = extra_member_json(&x);
	json_object_set_new(out, "price", money_json(&x.price));
	json_object_set_new(out, "invoice_id", json_string(x.invoice_id));
	http_reply_json(req, 201, out);
}

static void extra_members_list(struct http_req *req)
{
	struct hh_extra_member list[EXTRA_MEMBERS_MAX];
	size_t n = 0;
	struct db *db = http_db_or_reply(req);
	if (!db)
		return;
	enum err e = hh_extra_members_list(db, http_auth(req)->subject, list, EXTRA_MEMBERS_MAX, &n);
	if (e != ERR_OK) {
		http_reply_problem(req, e, NULL);
		return;
	}
	json_t *data = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(data, extra_member_json(&list[i]));
	http_reply_json(req, 200, json_pack("{s:o, s:b}", "data", data, "has_more", 0));
}

static void extra_members_delete(struct http_req *req)
{
	struct hh_extra_member x;
	struct db *db = http_db_or_reply(req);
	if (!db)
		return;
	enum err e = hh_extra_member_remove(db, http_auth(req)->subject, http_param(req, "id"), &x);
	if (e == ERR_NOT_FOUND) {
		http_reply_problem(req, e, "No extra member of this account has this id");
		return;
	}
	if (e != ERR_OK) {
		http_reply_problem(req, e, NULL);
		return;
	}
	http_reply_json(req, 200, extra_member_json(&x));
}

static void extra_members_accept(struct http_req *req)
{
	static const char *const allowed[] = {"token", NULL};
	const char *token = NULL, *why = NULL;
	struct hh_extra_member x;
	struct jv v;
	jv_init(&v, http_json(req));
	jv_reject_unknown(&v, allowed);
	jv_string(&v, "token", JV_REQUIRED, 1, TOKEN_FIELD_MAX, &token);
	struct db *db = http_valid_db_or_reply(req, &v);
	if (!db)
		return;
	enum err e = hh_extra_member_accept(db, http_auth(req)->subject, token, &x, &why);
	if (e == ERR_INVITATION_INVALID) {
		http_reply_problem(req, e, "Ask the account owner for a new invitation");
		return;
	}
	if (e == ERR_INVITEE_NOT_ELIGIBLE) {
		http_reply_problem_ext(req, e, "This account cannot become an extra member",
				       json_pack("{s:s}", "reason", why ? why : "not_eligible"));
		return;
	}
	if (e != ERR_OK) {
		http_reply_problem(req, e, NULL);
		return;
	}
	json_t *out = extra_member_json(&x);
	json_object_set_new(out, "owner_account_id", json_string(x.owner_account_id));
	http_reply_json(req, 200, out);
}

/* ---- POST /v1/profiles/{id}/transfer ---- */

static void profile_transfer(struct http_req *req)
{
	static const char *const allowed[] = {"email", "password", NULL};
	const char *email = NULL, *password = NULL, *why = NULL;
	const char *profile = http_param(req, "id");
	struct acct_account acct;
	struct jv v;
	jv_init(&v, http_json(req));
	jv_reject_unknown(&v, allowed);
	jv_string(&v, "email", JV_REQUIRED, 1, EMAIL_FIELD_MAX, &email);
	jv_string(&v, "password", JV_REQUIRED, 1, PASSWORD_FIELD_MAX, &password);
	struct db *db = http_valid_db_or_reply(req, &v);
	if (!db)
		return;
	enum err e = acct_profile_transfer(db, http_auth(req)->subject, profile, email, password, &acct, &why);
	switch (e) {
	case ERR_OK:
		break;
	case ERR_NOT_FOUND:
		http_reply_problem(req, e, "No profile of this account has this id");
		return;
	case ERR_PROFILE_NOT_TRANSFERABLE:
		http_reply_problem_ext(req, e,
				       why && strcmp(why, "owner_profile") == 0 ? "The owner profile stays with the account"
				       : why && strcmp(why, "kids_profile") == 0 ? "Kids profiles cannot be transferred"
										 : "Remove the profile's PIN first",
				       json_pack("{s:s}", "reason", why ? why : ""));
		return;
	case ERR_VALIDATION:
		http_reply_invalid(req, json_pack("[{s:s, s:s, s:s}]", "field", "email", "code",
						  "invalid_format", "message", "Must be an email address"));
		return;
	case ERR_WEAK_PASSWORD:
		http_reply_problem_ext(req, e, "The password is too weak",
				       json_pack("{s:[{s:s, s:s, s:s}]}", "errors", "field", "password",
						 "code", why ? why : "weak", "message",
						 "Choose a longer, less common password"));
		return;
	default:
		http_reply_problem(req, e, NULL);
		return;
	}
	hh_cache_bump();
	/* Streams of the profile in the old account stop with the move. */
	if (hh_slots_end_for_profile(db, profile, clock_now()) != ERR_OK)
		log_warn("households.transfer_slots", "note=\"slots of the moved profile were not ended\"");
	http_reply_json(req, 201,
			json_pack("{s:s, s:{s:s, s:s, s:s, s:s}}", "profile_id", profile, "account", "id",
				  acct.id, "email", acct.email, "country", acct.country, "language",
				  acct.language));
}

/* ---- registration ---- */

static void on_clock_moved(void)
{
	hh_cache_bump();
	struct db *db = db_thread();
	if (db)
		hh_sightings_flush(db, NULL);
}

void households_http_register(void)
{
	const unsigned member = HTTP_AUTH_MEMBER | HTTP_NO_STORE;
	auth_set_request_observer(hh_sighting_observe);
	server_on_clock_moved(on_clock_moved);
	http_route("GET", "/v1/household", household_get, member, 0);
	http_route("POST", "/v1/household", household_post, member, 0);
	http_route("POST", "/v1/verifications/{id}/confirm", verification_confirm, member | HTTP_JSON_BODY, 0);
	http_route("POST", "/v1/verifications/{id}/resend", verification_resend, member, 0);
	http_route("POST", "/v1/playback/sessions", playback_start, member | HTTP_JSON_BODY, 0);
	http_route("PUT", "/v1/playback/sessions/{id}", playback_heartbeat, member, 0);
	http_route("DELETE", "/v1/playback/sessions/{id}", playback_stop, member, 0);
	http_route("GET", "/v1/playback/decisions", decisions_list, member, 0);
	http_route("POST", "/v1/extra-members/accept", extra_members_accept, member | HTTP_JSON_BODY, 0);
	http_route("POST", "/v1/extra-members", extra_members_create,
		   member | HTTP_JSON_BODY | HTTP_IDEMPOTENT, 0);
	http_route("GET", "/v1/extra-members", extra_members_list, member, 0);
	http_route("DELETE", "/v1/extra-members/{id}", extra_members_delete, member, 0);
	http_route("POST", "/v1/profiles/{id}/transfer", profile_transfer,
		   member | HTTP_JSON_BODY | HTTP_OFFLOAD, 0);
	hh_admin_register();
}
