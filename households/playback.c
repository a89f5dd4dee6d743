/*
 * playback.c - the playback gate: what the streaming service asks before a
 * stream starts, and the stream slots it hands out.
 *
 * One decision, in this order (docs/households.md, "The playback gate"):
 *   1. payment: the account's entitlements, or, for an extra member, its
 *      owner's with one stream (payment_required);
 *   2. the plan plays on this kind of device (plan_not_available_on_device),
 *      and an extra member plays on its one profile (profile_not_allowed);
 *   3. the household: a device on a household network, or seen on one
 *      within the window, or with travel access, plays; any other needs a
 *      code (verification_required), unless its travel access is used up
 *      (travel_limit_reached) or the country's enforcement is off (then the
 *      decision is recorded and playback goes on);
 *   4. the stream cap: the device's previous slot is replaced, slots
 *      without a heartbeat for heartbeat_timeout are freed, and the rest are
 *      counted and the new slot inserted in one BEGIN IMMEDIATE transaction
 *      (stream_limit_reached when full).
 * Every decision is a playback_decisions row with its reasons and inputs.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accounts/accounts.h"
#include "auth/auth.h"
#include "billing/billing.h"
#include "core/batch.h"
#include "core/clock.h"
#include "core/events.h"
#include "core/log.h"
#include "households/households_int.h"

static const char *const outcome_names[] = {
	"allowed", "stream_limit_reached", "verification_required", "travel_limit_reached",
	"payment_required", "plan_not_available_on_device", "profile_not_allowed",
};

const char *hh_outcome_name(enum hh_outcome o)
{
	return (unsigned)o < sizeof outcome_names / sizeof outcome_names[0] ? outcome_names[o] : "";
}

void hh_decision_release(struct hh_decision *d)
{
	json_decref(d->reasons);
	json_decref(d->inputs);
	json_decref(d->active_streams);
	d->reasons = d->inputs = d->active_streams = NULL;
}

static void copy_text(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

static void reason(struct hh_decision *d, const char *r)
{
	json_array_append_new(d->reasons, json_string(r));
}

/* The device bit of a device type, 0 when unknown. */
static unsigned device_bit(const char *type)
{
	for (int i = 0; i < BILL_DEVICE_COUNT; i++)
		if (strcmp(bill_device_name(i), type) == 0)
			return 1u << i;
	return 0;
}

/* ---- storing decisions ---- */

/* `reasons` and `inputs` are the JSON texts stored (NULL: dumped here from
 * the decision). */
static enum err insert_decision(struct db *db, const char *account_id, const char *device_id,
				const char *profile_id, const char *network, struct hh_decision *d,
				int64_t now, const char *reasons, const char *inputs)
{
	struct db_stmt *st = NULL;
	char *own_reasons = reasons ? NULL : json_dumps(d->reasons, JSON_COMPACT);
	char *own_inputs = inputs ? NULL : json_dumps(d->inputs, JSON_COMPACT | JSON_SORT_KEYS);
	if (!reasons)
		reasons = own_reasons;
	if (!inputs)
		inputs = own_inputs;
	enum err e = reasons && inputs ? ERR_OK : ERR_NOMEM;
	if (e == ERR_OK)
		e = db_prepare(db,
			       "INSERT INTO playback_decisions (id, account_id, device_id, profile_id, network,"
			       " outcome, enforced, reasons, inputs, slot_id, challenge_id, created_at)"
			       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
			       &st);
	if (e == ERR_OK) {
		db_bind_text(st, 1, d->id);
		db_bind_text(st, 2, account_id);
		db_bind_text(st, 3, device_id);
		db_bind_text(st, 4, profile_id);
		db_bind_text(st, 5, network && network[0] ? network : NULL);
		db_bind_text(st, 6, hh_outcome_name(d->outcome));
		db_bind_int64(st, 7, d->enforced);
		db_bind_text(st, 8, reasons);
		db_bind_text(st, 9, inputs);
		db_bind_text(st, 10, d->slot_id[0] ? d->slot_id : NULL);
		db_bind_text(st, 11, d->challenge.id[0] ? d->challenge.id : NULL);
		db_bind_int64(st, 12, now);
		e = db_step_done(st);
	}
	db_done(st);
	free(own_reasons);
	free(own_inputs);
	return e;
}

struct gate_ctx {
	const char *account_id, *device_id, *profile_id, *network;
	struct hh_decision *d;
	int64_t now;
	int64_t heartbeat_s;
	/* A start that may take a slot (slot_tx) comes with what does not
	 * depend on the stream count made on the request thread, so that the
	 * writer, which every start waits on, does only the transaction's own
	 * work: the slot's id, the reasons as stored, and the inputs as stored
	 * without their first member, "active_streams" (keys are sorted, and
	 * no other key sorts before it), which the transaction splices in. */
	char slot_id[IDS_MAX];
	char *reasons_text;		/* owned */
	char *inputs_rest;		/* owned: the dump from after its '{' */
};

static void gate_ctx_release(struct gate_ctx *c)
{
	free(c->reasons_text);
	free(c->inputs_rest);
	c->reasons_text = c->inputs_rest = NULL;
}

/* A decision without a slot (and, for verification_required, its challenge). */
static enum err refusal_tx(struct db *db, void *arg)
{
	struct gate_ctx *c = arg;
	memset(&c->d->challenge, 0, sizeof c->d->challenge);
	enum err e = ERR_OK;
	if (c->d->outcome == HH_VERIFICATION_REQUIRED)
		e = hh_challenge_open(db, c->account_id, c->device_id, HH_CHALLENGE_TRAVEL, c->network,
				      c->now, &c->d->challenge);
	if (e == ERR_OK)
		e = insert_decision(db, c->account_id, c->device_id, c->profile_id, c->network, c->d,
				    c->now, NULL, NULL);
	return e;
}

static int by_started(const void *x, const void *y)
{
	json_t *const *a = x, *const *b = y;
	int c = strcmp(json_string_value(json_object_get(*a, "started_at")),
		       json_string_value(json_object_get(*b, "started_at")));
	return c ? c : strcmp(json_string_value(json_object_get(*a, "id")), json_string_value(json_object_get(*b, "id")));
}

/* Sort an array of stream objects by started_at (RFC 3339 sorts as text), then id. */
static void sort_streams(json_t *a)
{
	size_t n = json_array_size(a);
	if (n < 2)
		return;
	json_t **items = calloc(n, sizeof *items); // NOLINT(bugprone-sizeof-expression): an array of json_t pointers
	if (!items)
		return;
	for (size_t i = 0; i < n; i++)
		items[i] = json_incref(json_array_get(a, i));
	qsort(items, n, sizeof *items, by_started); // NOLINT(bugprone-sizeof-expression): an array of json_t pointers
	json_array_clear(a);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, items[i]);
	free(items);
}

static enum err active_streams(struct db *db, const char *account_id, json_t **out)
{
	struct db_stmt *st = NULL;
	json_t *a = json_array();
	enum err e = db_prepare(db,
				"SELECT id, profile_id, device_id, started_at, heartbeat_at FROM stream_slots"
				" WHERE account_id = ?1 AND ended_at IS NULL",
				&st);
	if (e != ERR_OK) {
		json_decref(a);
		return e;
	}
	db_bind_text(st, 1, account_id);
	for (;;) {
		bool row = false;
		e = db_step(st, &row);
		if (e != ERR_OK || !row)
			break;
		json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:o, s:o}", "id", db_column_text(st, 0),
						   "profile_id", db_column_text(st, 1), "device_id",
						   db_column_text(st, 2), "started_at",
						   clock_json_or_null(db_column_int64(st, 3)), "last_heartbeat_at",
						   clock_json_or_null(db_column_int64(st, 4))));
	}
	db_done(st);
	/* Oldest first (sorted here: an ORDER BY would steer the planner to the
	 * index of every slot the account ever had). */
	sort_streams(a);
	/* Names help the member decide which stream to stop. */
	size_t i;
	json_t *s;
	json_array_foreach(a, i, s) {
		struct auth_device_brief dev;
		const char *id = json_string_value(json_object_get(s, "device_id"));
		if (e == ERR_OK && auth_device_brief_get(db, id, &dev) == ERR_OK) {
			json_object_set_new(s, "device_name", json_string(dev.name));
			json_object_set_new(s, "device_type", json_string(dev.type));
		}
	}
	if (e != ERR_OK) {
		json_decref(a);
		return e;
	}
	*out = a;
	return ERR_OK;
}

/* Free expired slots and replace the device's own, count the live ones, and
 * take a slot: four statements, the fewest that keep the cap exact (the
 * count and the insert are in the same transaction as every other start
 * of the batch, after them). */
static enum err slot_tx(struct db *db, void *arg)
{
	struct gate_ctx *c = arg;
	struct hh_decision *d = c->d;
	struct db_stmt *st = NULL;
	char *inputs = NULL;
	json_decref(d->active_streams);
	d->active_streams = NULL;
	d->slot_id[0] = '\0';
	d->outcome = HH_ALLOWED;
	/* A retried transaction (busy database) starts from the reasons it had. */
	size_t n = json_array_size(d->reasons);
	const char *last = n ? json_string_value(json_array_get(d->reasons, n - 1)) : NULL;
	if (last && strcmp(last, "stream_limit_reached") == 0)
		json_array_remove(d->reasons, n - 1);
	/* One pass over the account's live slots ends both the expired ones
	 * (at their expiry) and the device's previous one: the same rows and
	 * values as freeing the expired ones first and then replacing the
	 * device's remaining live slot. */
	enum err e = db_prepare(db,
				"UPDATE stream_slots SET"
				" ended_at = CASE WHEN expires_at <= ?2 THEN expires_at ELSE ?2 END,"
				" end_reason = CASE WHEN expires_at <= ?2 THEN 'heartbeat_timeout' ELSE 'replaced' END"
				" WHERE account_id = ?1 AND ended_at IS NULL AND (expires_at <= ?2 OR device_id = ?3)",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, c->account_id);
	db_bind_int64(st, 2, c->now);
	db_bind_text(st, 3, c->device_id);
	e = db_step_done(st);
	db_done(st);
	st = NULL;
	if (e == ERR_OK)
		e = db_prepare(db, "SELECT COUNT(*) FROM stream_slots WHERE account_id = ?1 AND ended_at IS NULL",
			       &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, c->account_id);
	e = db_step_row(st);
	int64_t live = e == ERR_OK ? db_column_int64(st, 0) : 0;
	db_done(st);
	st = NULL;
	if (e != ERR_OK)
		return e;
	if (!c->inputs_rest || !c->reasons_text)
		return ERR_INTERNAL; /* slot_prepare() did not run */
	size_t cap = strlen(c->inputs_rest) + 48;
	inputs = malloc(cap);
	if (!inputs)
		return ERR_NOMEM;
	int k = snprintf(inputs, cap, "{\"active_streams\":%lld%s%s", (long long)live,
			 c->inputs_rest[0] == '}' ? "" : ",", c->inputs_rest);
	if (k < 0 || (size_t)k >= cap) {
		free(inputs);
		return ERR_INTERNAL;
	}
	if (live >= d->max_streams) {
		d->outcome = HH_STREAM_LIMIT_REACHED;
		reason(d, "stream_limit_reached");
		e = active_streams(db, c->account_id, &d->active_streams);
		if (e == ERR_OK)
			e = insert_decision(db, c->account_id, c->device_id, c->profile_id, c->network, d,
					    c->now, NULL, inputs);
		free(inputs);
		return e;
	}
	memcpy(d->slot_id, c->slot_id, sizeof d->slot_id);
	d->slot_expires_at = c->now + c->heartbeat_s;
	e = insert_decision(db, c->account_id, c->device_id, c->profile_id, c->network, d, c->now,
			    c->reasons_text, inputs);
	free(inputs);
	if (e == ERR_OK)
		e = db_prepare(db,
			       "INSERT INTO stream_slots (id, account_id, device_id, profile_id, network,"
			       " decision_id, started_at, heartbeat_at, expires_at)"
			       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8)",
			       &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, d->slot_id);
	db_bind_text(st, 2, c->account_id);
	db_bind_text(st, 3, c->device_id);
	db_bind_text(st, 4, c->profile_id);
	db_bind_text(st, 5, c->network[0] ? c->network : "unknown");
	db_bind_text(st, 6, d->id);
	db_bind_int64(st, 7, c->now);
	db_bind_int64(st, 8, d->slot_expires_at);
	e = db_step_done(st);
	db_done(st);
	if (e == ERR_OK) {
		const struct events_field payload[] = {
			{"account_id", c->account_id, 0},
			{"device_id", c->device_id, 0},
			{"profile_id", c->profile_id, 0},
			{"decision_id", d->id, 0},
		};
		e = events_emit_flat(db, "stream.started", d->slot_id, payload,
				     sizeof payload / sizeof payload[0]);
	}
	return e;
}

/* Make what slot_tx needs that does not depend on the stream count (see
 * struct gate_ctx), on the caller's thread.  The decision then holds the
 * slot as it will be when the start is allowed. */
static enum err slot_prepare(struct gate_ctx *c)
{
	struct hh_decision *d = c->d;
	enum err e = ids_new("str_", c->slot_id, sizeof c->slot_id);
	if (e != ERR_OK)
		return e;
	memcpy(d->slot_id, c->slot_id, sizeof d->slot_id);
	d->slot_expires_at = c->now + c->heartbeat_s;
	json_object_del(d->inputs, "active_streams");
	c->reasons_text = json_dumps(d->reasons, JSON_COMPACT);
	char *inputs = json_dumps(d->inputs, JSON_COMPACT | JSON_SORT_KEYS);
	/* Only the stored text is used from here on: the tree is freed here
	 * rather than on the writer. */
	json_decref(d->inputs);
	d->inputs = NULL;
	if (!c->reasons_text || !inputs || inputs[0] != '{') {
		free(inputs);
		gate_ctx_release(c);
		return ERR_NOMEM;
	}
	size_t len = strlen(inputs);
	c->inputs_rest = malloc(len);
	if (!c->inputs_rest) {
		free(inputs);
		gate_ctx_release(c);
		return ERR_NOMEM;
	}
	memcpy(c->inputs_rest, inputs + 1, len); /* with its NUL */
	free(inputs);
	return ERR_OK;
}

/* ---- group commit ----
 *
 * Taking a slot is a write transaction, and a durable commit waits for the
 * disk.  So slots are taken through core/batch's writer, which runs every
 * start waiting at that moment in one transaction, one after the other,
 * each in its own savepoint (each sees the slots the ones before it took:
 * the cap holds exactly as with one transaction each), and commits once
 * for all of them.  Other processes still serialize with it on BEGIN
 * IMMEDIATE.  Without a running writer (tools, unit tests) a start is its
 * own transaction. */

/* An asynchronous start (hh_playback_start_async): its context lives on the
 * heap until the writer has told `cb`. */
struct slot_job {
	hh_gate_done cb;
	void *cb_ctx;
	struct gate_ctx gc;
	char network[NETADDR_STRLEN];
};

static void slot_committed(void *arg, enum err e)
{
	struct slot_job *job = arg;
	job->cb(job->cb_ctx, e);
	gate_ctx_release(&job->gc);
	free(job);
}

/* ---- deciding ---- */

/* ---- the decision's inputs, and their cache ----
 *
 * Everything a decision reads besides the stream count: the device, the
 * account's country and policy, the entitlements (the owner's for an extra
 * member), the household and the device's facts.  Each server thread keeps
 * the inputs of its last devices for cache_ms (--household-cache-ms,
 * default 1 s; 0 turns the cache off), and any change this process makes
 * to a household, travel access or an extra member (and a test-clock move)
 * empties every thread's cache at once through an epoch, so this process's
 * own changes are seen at once and other processes' within cache_ms.
 * The stream count is never cached: it is read in the slot transaction. */

static atomic_uint_fast64_t cache_epoch = 1;

void hh_cache_bump(void) { atomic_fetch_add(&cache_epoch, 1); }

struct gate_inputs {
	char device[IDS_MAX];
	char account[IDS_MAX];
	int64_t loaded_ms;		/* monotonic */
	uint64_t epoch;
	bool device_ok;			/* a live device of this account */
	char device_type[16];
	char country[3];
	struct hh_policy pol;
	struct bill_entitlements ent;
	bool extra;			/* an extra member: ent is the owner's, one stream */
	char owner[IDS_MAX];
	int64_t extra_until;
	struct hh_view view;
	struct hh_device_facts facts;
	char profile[IDS_MAX];		/* the last profile asked about */
	bool profile_ok;
	bool profile_is_owner;
};

#define GATE_CACHE_SLOTS 16

static _Thread_local struct gate_inputs gate_cache[GATE_CACHE_SLOTS];

/* Entitlements of the account, or of its owner for an extra member. */
static enum err resolve_entitlements(struct db *db, const char *account_id, int64_t now,
				     struct gate_inputs *in)
{
	struct bill_entitlements *ent = &in->ent;
	in->extra = false;
	enum err e = bill_entitlements(db, account_id, ent);
	if (e != ERR_OK || ent->playback_allowed || strcmp(ent->reason, "no_subscription") != 0)
		return e;
	e = hh_extra_member_owner(db, account_id, now, in->owner, &in->extra_until);
	if (e == ERR_NOT_FOUND)
		return ERR_OK;
	if (e == ERR_PAYMENT_REQUIRED) {
		copy_text(ent->reason, sizeof ent->reason, "extra_member_access_ended");
		return ERR_OK;
	}
	if (e != ERR_OK)
		return e;
	in->extra = true;
	e = bill_entitlements(db, in->owner, ent);
	if (e != ERR_OK)
		return e;
	if (!ent->playback_allowed) {
		copy_text(ent->reason, sizeof ent->reason, "owner_payment_required");
		return ERR_OK;
	}
	/* An extra member has one stream of the owner's plan. */
	ent->max_streams = 1;
	return ERR_OK;
}

static enum err load_inputs(struct db *db, const char *account_id, const char *device_id,
			    int64_t now, struct gate_inputs *in)
{
	struct auth_device_brief dev;
	memset(in, 0, sizeof *in);
	copy_text(in->device, sizeof in->device, device_id);
	copy_text(in->account, sizeof in->account, account_id);
	enum err e = auth_device_brief_get(db, device_id, &dev);
	if (e == ERR_NOT_FOUND)
		return ERR_OK;
	if (e != ERR_OK)
		return e;
	in->device_ok = !dev.revoked && strcmp(dev.account_id, account_id) == 0;
	if (!in->device_ok)
		return ERR_OK;
	copy_text(in->device_type, sizeof in->device_type, dev.type);
	e = hh_account_policy(db, account_id, in->country, &in->pol);
	if (e == ERR_OK)
		e = resolve_entitlements(db, account_id, now, in);
	if (e == ERR_OK)
		e = hh_view_load(db, account_id, &in->pol, now, &in->view);
	if (e == ERR_OK)
		e = hh_device_facts_load(db, device_id, &in->pol, now, &in->facts);
	return e;
}

static size_t cache_slot(const char *device_id)
{
	uint32_t h = 2166136261u; /* FNV-1a: ids are random */
	for (const char *p = device_id; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return h % GATE_CACHE_SLOTS;
}

/* The inputs for `device_id` of `account_id` and `profile_id`: from this
 * thread's cache when fresh, else loaded (and cached). */
static enum err inputs_for(struct db *db, const char *account_id, const char *device_id,
			   const char *profile_id, int64_t now, const struct gate_inputs **out)
{
	const struct hh_settings *cfg = hh_settings();
	struct gate_inputs *in = &gate_cache[cache_slot(device_id)];
	int64_t mono = clock_mono_ms();
	uint64_t epoch = atomic_load(&cache_epoch);
	bool fresh = cfg->cache_ms > 0 && in->epoch == epoch && mono - in->loaded_ms < cfg->cache_ms &&
		     strcmp(in->device, device_id) == 0 && strcmp(in->account, account_id) == 0;
	if (!fresh) {
		enum err e = load_inputs(db, account_id, device_id, now, in);
		if (e != ERR_OK) {
			memset(in, 0, sizeof *in);
			return e;
		}
		in->loaded_ms = mono;
		in->epoch = epoch;
	}
	if (strcmp(in->profile, profile_id) != 0 || !fresh) {
		struct acct_profile_brief prof;
		enum err e = acct_profile_brief_get(db, account_id, profile_id, &prof);
		if (e != ERR_OK && e != ERR_NOT_FOUND) {
			memset(in, 0, sizeof *in);
			return e;
		}
		copy_text(in->profile, sizeof in->profile, profile_id);
		in->profile_ok = e == ERR_OK;
		in->profile_is_owner = e == ERR_OK && prof.is_owner;
	}
	*out = in;
	return ERR_OK;
}

/* The decision; `cb` NULL waits for the slot's commit, else queues it and
 * sets *pending. */
static enum err start(struct db *db, const char *account_id, const char *device_id,
		      const char *profile_id, const struct netaddr *client, struct hh_decision *out,
		      hh_gate_ready ready, hh_gate_done cb, void *cb_ctx, bool *pending)
{
	const struct hh_settings *cfg = hh_settings();
	const struct gate_inputs *in = NULL;
	struct hh_trust trust;
	char network[NETADDR_STRLEN];
	int64_t now = clock_now();
	memset(out, 0, sizeof *out);
	out->reasons = json_array();
	out->inputs = json_object();
	hh_network_of(client, network, sizeof network);

	enum err e = inputs_for(db, account_id, device_id, profile_id, now, &in);
	if (e == ERR_OK && (!in->device_ok || !in->profile_ok))
		e = ERR_NOT_FOUND;
	if (e == ERR_OK)
		e = ids_new("dec_", out->id, sizeof out->id);
	if (e != ERR_OK)
		return e;
	const struct hh_policy *pol = &in->pol;
	const struct bill_entitlements *ent = &in->ent;
	const struct hh_view *view = &in->view;
	out->enforced = pol->enforce;
	out->max_streams = ent->max_streams;
	json_object_set_new(out->inputs, "network", network[0] ? json_string(network) : json_null());
	json_object_set_new(out->inputs, "device_type", json_string(in->device_type));
	json_object_set_new(out->inputs, "country", json_string(in->country));
	json_object_set_new(out->inputs, "enforcement", json_boolean(pol->enforce));
	json_object_set_new(out->inputs, "plan", ent->plan_code[0] ? json_string(ent->plan_code) : json_null());
	json_object_set_new(out->inputs, "max_streams", json_integer(ent->max_streams));
	if (in->extra) {
		json_object_set_new(out->inputs, "extra_member_of", json_string(in->owner));
		json_object_set_new(out->inputs, "extra_member_until", clock_json_or_null(in->extra_until));
	}
	struct gate_ctx gc = {.account_id = account_id, .device_id = device_id, .profile_id = profile_id,
			      .network = network, .d = out, .now = now, .heartbeat_s = cfg->heartbeat_timeout_s};
	if (in->extra)
		reason(out, "extra_member");

	if (!ent->playback_allowed) {
		out->outcome = HH_PAYMENT_REQUIRED;
		reason(out, ent->reason);
		return db_transaction(db, refusal_tx, &gc);
	}
	if (!(ent->device_types & device_bit(in->device_type))) {
		out->outcome = HH_PLAN_NOT_AVAILABLE_ON_DEVICE;
		reason(out, "plan_not_available_on_device");
		return db_transaction(db, refusal_tx, &gc);
	}
	if (in->extra && !in->profile_is_owner) {
		out->outcome = HH_PROFILE_NOT_ALLOWED;
		reason(out, "extra_member_single_profile");
		return db_transaction(db, refusal_tx, &gc);
	}

	hh_trust_eval(view, pol, &in->facts, network, now, &trust);
	json_t *nets = json_array();
	for (size_t i = 0; i < view->nnets; i++)
		json_array_append_new(nets, json_string(view->nets[i].prefix));
	json_object_set_new(out->inputs, "household",
			    json_string(view->has_household ? view->status : "not_set"));
	json_object_set_new(out->inputs, "household_networks", nets);
	json_object_set_new(out->inputs, "last_seen_at_home", clock_json_or_null(trust.last_home_at));
	json_object_set_new(out->inputs, "window_days", json_integer(pol->window_s / HH_DAY));
	json_object_set_new(out->inputs, "travel_access_until", clock_json_or_null(trust.travel_until));
	json_object_set_new(out->inputs, "travel_grants_used", json_integer(trust.travel_grants_used));
	json_object_set_new(out->inputs, "travel_grants_allowed", json_integer(pol->travel_grants));

	bool need_code = false;
	if (!view->has_household) {
		reason(out, "household_not_set");
		need_code = pol->unset_verify;
	} else if (strcmp(trust.why, "on_household_network") == 0) {
		reason(out, "on_household_network");
	} else {
		reason(out, "network_not_household");
		bool home_recent = trust.ever_home && now - trust.last_home_at <= pol->window_s;
		if (home_recent) {
			reason(out, "seen_at_home_within_31d");
		} else {
			reason(out, trust.ever_home ? "device_not_seen_at_home_31d"
						    : "new_device_outside_household");
			if (trust.travel_until > now)
				reason(out, "travel_access_active");
			else
				need_code = true;
		}
	}
	if (need_code && !pol->enforce) {
		reason(out, "verification_skipped_enforcement_off");
	} else if (need_code) {
		if (trust.travel_grants_used >= pol->travel_grants) {
			out->outcome = HH_TRAVEL_LIMIT_REACHED;
			reason(out, "travel_limit_reached");
		} else {
			out->outcome = HH_VERIFICATION_REQUIRED;
			reason(out, "verification_required");
		}
		return db_transaction(db, refusal_tx, &gc);
	}
	e = slot_prepare(&gc);
	if (e != ERR_OK)
		return e;
	if (cb) {
		struct slot_job *job = calloc(1, sizeof *job);
		if (!job) {
			gate_ctx_release(&gc);
			return ERR_NOMEM;
		}
		job->cb = cb;
		job->cb_ctx = cb_ctx;
		job->gc = gc;
		memcpy(job->network, network, sizeof job->network);
		job->gc.network = job->network;
		/* The caller may make its reply now, off the writer thread. */
		if (ready)
			ready(cb_ctx, out);
		if (batch_submit(slot_tx, &job->gc, slot_committed, job)) {
			*pending = true;
			return ERR_OK;
		}
		free(job);
	}
	e = batch_run(db, slot_tx, &gc);
	gate_ctx_release(&gc);
	return e;
}

enum err hh_playback_start(struct db *db, const char *account_id, const char *device_id,
			   const char *profile_id, const struct netaddr *client,
			   struct hh_decision *out)
{
	bool pending = false;
	return start(db, account_id, device_id, profile_id, client, out, NULL, NULL, NULL, &pending);
}

enum err hh_playback_start_async(struct db *db, const char *account_id, const char *device_id,
				 const char *profile_id, const struct netaddr *client,
				 struct hh_decision *out, hh_gate_ready ready, hh_gate_done done, void *ctx,
				 bool *pending)
{
	*pending = false;
	return start(db, account_id, device_id, profile_id, client, out, ready, done, ctx, pending);
}

/* ---- heartbeats and stops ---- */

struct slot_op {
	const char *account_id, *slot_id;
	int64_t expires_at;
	char end_reason[24];
	bool ended;
};

static enum err heartbeat_tx(struct db *db, void *arg)
{
	struct slot_op *o = arg;
	struct db_stmt *st = NULL;
	int64_t now = clock_now();
	o->ended = false;
	enum err e = db_prepare(db,
				"SELECT expires_at, ended_at, end_reason, device_id FROM stream_slots"
				" WHERE id = ?1 AND account_id = ?2",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, o->slot_id);
	db_bind_text(st, 2, o->account_id);
	e = db_step_row(st);
	int64_t expires = 0;
	bool was_ended = false;
	if (e == ERR_OK) {
		expires = db_column_int64(st, 0);
		was_ended = !db_column_is_null(st, 1);
		copy_text(o->end_reason, sizeof o->end_reason, db_column_text(st, 2));
	}
	db_done(st);
	if (e != ERR_OK)
		return e;
	if (was_ended) {
		o->ended = true;
		return ERR_OK;
	}
	if (expires <= now) {
		/* Too late: the slot was already free for others. */
		o->ended = true;
		copy_text(o->end_reason, sizeof o->end_reason, "heartbeat_timeout");
		e = db_prepare(db,
			       "UPDATE stream_slots SET ended_at = expires_at, end_reason = 'heartbeat_timeout'"
			       " WHERE id = ?1 AND ended_at IS NULL",
			       &st);
		if (e != ERR_OK)
			return e;
		db_bind_text(st, 1, o->slot_id);
		e = db_step_done(st);
		db_done(st);
		return e;
	}
	o->expires_at = now + hh_settings()->heartbeat_timeout_s;
	e = db_prepare(db, "UPDATE stream_slots SET heartbeat_at = ?2, expires_at = ?3 WHERE id = ?1", &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, o->slot_id);
	db_bind_int64(st, 2, now);
	db_bind_int64(st, 3, o->expires_at);
	e = db_step_done(st);
	db_done(st);
	return e;
}

enum err hh_playback_heartbeat(struct db *db, const char *account_id, const char *slot_id,
			       int64_t *expires_at, char *end_reason)
{
	struct slot_op o;
	memset(&o, 0, sizeof o);
	o.account_id = account_id;
	o.slot_id = slot_id;
	*expires_at = 0;
	end_reason[0] = '\0';
	if (!ids_valid("str_", slot_id))
		return ERR_NOT_FOUND;
	enum err e = db_transaction(db, heartbeat_tx, &o);
	if (e != ERR_OK)
		return e;
	if (o.ended) {
		copy_text(end_reason, 24, o.end_reason);
		return ERR_INVALID_STATE;
	}
	*expires_at = o.expires_at;
	return ERR_OK;
}

static enum err stop_tx(struct db *db, void *arg)
{
	struct slot_op *o = arg;
	struct db_stmt *st = NULL;
	int64_t now = clock_now();
	enum err e = db_prepare(db,
				"SELECT ended_at IS NOT NULL FROM stream_slots WHERE id = ?1 AND account_id = ?2",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, o->slot_id);
	db_bind_text(st, 2, o->account_id);
	e = db_step_row(st);
	bool ended = e == ERR_OK && db_column_int64(st, 0) != 0;
	db_done(st);
	if (e != ERR_OK || ended)
		return e;
	e = db_prepare(db,
		       "UPDATE stream_slots SET ended_at = CASE WHEN expires_at < ?2 THEN expires_at ELSE ?2 END,"
		       " end_reason = CASE WHEN expires_at < ?2 THEN 'heartbeat_timeout' ELSE 'stopped' END"
		       " WHERE id = ?1",
		       &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, o->slot_id);
	db_bind_int64(st, 2, now);
	e = db_step_done(st);
	db_done(st);
	if (e == ERR_OK)
		e = events_emit(db, "stream.stopped", o->slot_id,
				json_pack("{s:s}", "account_id", o->account_id));
	return e;
}

enum err hh_playback_stop(struct db *db, const char *account_id, const char *slot_id)
{
	struct slot_op o;
	memset(&o, 0, sizeof o);
	o.account_id = account_id;
	o.slot_id = slot_id;
	if (!ids_valid("str_", slot_id))
		return ERR_NOT_FOUND;
	return db_transaction(db, stop_tx, &o);
}

enum err hh_slots_end_for_profile(struct db *db, const char *profile_id, int64_t now)
{
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db,
				"UPDATE stream_slots SET ended_at = ?2, end_reason = 'revoked'"
				" WHERE profile_id = ?1 AND ended_at IS NULL",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, profile_id);
	db_bind_int64(st, 2, now);
	e = db_step_done(st);
	db_done(st);
	return e;
}

/* ---- reading decisions ---- */

enum err hh_decisions_json(struct db *db, const char *account_id, const char *starting_after, int64_t limit,
			   json_t **out)
{
	struct db_stmt *st = NULL;
	json_t *a = NULL;
	int64_t after_created = 0;
	*out = NULL;
	enum err e = ERR_OK;
	if (starting_after) {
		/* The cursor must be one of the account's own decisions. */
		e = db_prepare(db, "SELECT created_at FROM playback_decisions WHERE id = ?1 AND account_id = ?2", &st);
		if (e != ERR_OK)
			return e;
		db_bind_text(st, 1, starting_after);
		db_bind_text(st, 2, account_id);
		e = db_step_row(st);
		if (e == ERR_OK)
			after_created = db_column_int64(st, 0);
		db_done(st);
		st = NULL;
		if (e != ERR_OK)
			return e;
	}
	a = json_array();
	/* Newest first by (created_at, id): a cursor continues strictly after
	 * its decision in that order, so pages never repeat or skip one. */
	e = db_prepare(db,
		       "SELECT id, device_id, profile_id, network, outcome, enforced, reasons, inputs,"
		       " slot_id, challenge_id, created_at FROM playback_decisions WHERE account_id = ?1"
		       " AND (?3 IS NULL OR created_at < ?4 OR (created_at = ?4 AND id < ?3))"
		       " ORDER BY created_at DESC, id DESC LIMIT ?2",
		       &st);
	if (e != ERR_OK) {
		json_decref(a);
		return e;
	}
	db_bind_text(st, 1, account_id);
	db_bind_int64(st, 2, limit);
	if (starting_after)
		db_bind_text(st, 3, starting_after);
	else
		db_bind_null(st, 3);
	db_bind_int64(st, 4, after_created);
	for (;;) {
		bool row = false;
		e = db_step(st, &row);
		if (e != ERR_OK || !row)
			break;
		json_t *reasons = json_loads(db_column_text(st, 6), 0, NULL);
		json_t *inputs = json_loads(db_column_text(st, 7), 0, NULL);
		const char *slot = db_column_text(st, 8), *ch = db_column_text(st, 9);
		const char *profile = db_column_text(st, 2), *net = db_column_text(st, 3);
		json_array_append_new(
			a, json_pack("{s:s, s:s, s:o, s:o, s:s, s:b, s:o, s:o, s:o, s:o, s:o}", "id",
				     db_column_text(st, 0), "device_id", db_column_text(st, 1),
				     "profile_id", profile ? json_string(profile) : json_null(), "network",
				     net ? json_string(net) : json_null(), "outcome", db_column_text(st, 4),
				     "enforced", db_column_int64(st, 5) != 0, "reasons",
				     reasons ? reasons : json_array(), "inputs",
				     inputs ? inputs : json_object(), "stream_id",
				     slot ? json_string(slot) : json_null(), "challenge_id",
				     ch ? json_string(ch) : json_null(), "created_at",
				     clock_json_or_null(db_column_int64(st, 10))));
	}
	db_done(st);
	if (e != ERR_OK) {
		json_decref(a);
		return e;
	}
	*out = a;
	return ERR_OK;
}
