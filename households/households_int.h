/*
 * households_int.h - what the files of households/ share and nobody else
 * sees (tests excepted): settings and per-country policy (policy.c), the
 * sightings counters (sightings.c), the household and device trust
 * (household.c), codes and travel access (verify.c), the playback gate
 * (playback.c), the sharing assessment (sharing.c) and extra members
 * (extra.c).  Functions that say "in the caller's transaction" write and
 * must run inside db_transaction(); the others run their own or only read.
 */
#ifndef HEARTH_HOUSEHOLDS_INT_H
#define HEARTH_HOUSEHOLDS_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/db.h"
#include "billing/billing.h"
#include "core/ids.h"
#include "core/money.h"
#include "core/netaddr.h"
#include "core/throttle.h"
#include "households/households.h"

#define HH_DAY 86400
#define HH_NETS_MAX 16		/* household networks shown and used at once */
#define HH_DEVICES_MAX 64	/* devices of one account looked at */
#define HH_REASONS_MAX 8
#define HH_REASON_LEN 40
#define HH_COUNTRY_POLICIES_MAX 64

/* ---- settings and policy (policy.c) ---- */

/* What may differ per country. */
struct hh_policy {
	bool enforce;			/* false: decisions are recorded, never block */
	bool unset_verify;		/* accounts without a household: verify (true) or allow */
	int64_t window_s;		/* household network and device trust window */
	int64_t travel_s;		/* travel access a confirmed code gives */
	int64_t travel_grants;		/* grants per device per travel period */
	int64_t travel_period_s;
	int64_t move_limit;		/* sets and moves per move period */
	int64_t move_period_s;
};

struct hh_settings {
	int v4_bits, v6_bits;
	int64_t code_ttl_s;
	int64_t code_attempts;
	int64_t code_resend_s;
	int64_t code_sends;
	struct throttle_rule verify_device;	/* wrong codes per device */
	struct throttle_rule verify_account;	/* ... per account */
	struct throttle_rule verify_ip;		/* ... per client network */
	int64_t heartbeat_timeout_s;
	bool sightings_off;
	int64_t flush_ms;
	int64_t retention_s;
	int64_t playback_retention_s;		/* decisions and stream slots */
	int64_t sharing_window_s;
	int64_t sharing_regular_days;
	int64_t invite_ttl_s;
	int64_t cache_ms;			/* staleness of a decision's inputs */
	struct hh_policy base;
	size_t ncountries;
	char countries[HH_COUNTRY_POLICIES_MAX][3];
	struct hh_policy policies[HH_COUNTRY_POLICIES_MAX];
};

/* Read `cfg` into the settings.  ERR_INVALID_PARAMETER with a message in
 * `why` (`cap` bytes) when a value is malformed. */
enum err hh_settings_load(const struct config *cfg, char *why, size_t cap);

/* The loaded settings (read-only after hh_init). */
const struct hh_settings *hh_settings(void);

/* The policy of `country` (the base policy with the country's overrides). */
void hh_policy_for(const char *country, struct hh_policy *out);

/* The network of `client` as text ("203.0.113.0/24") in `buf`
 * (NETADDR_STRLEN); "" when the address is unknown. */
const char *hh_network_of(const struct netaddr *client, char *buf, size_t cap);

/* ---- sightings (sightings.c) ---- */

/* Count one request of `device_id` of `account_id` from `client` now, in
 * memory.  Cheap; safe from any thread. */
void hh_sighting_observe(const char *account_id, const char *device_id,
			 const struct netaddr *client);

/* Start and stop the writer thread (every flush_ms, and a last flush on stop). */
enum err hh_sightings_start(void);
void hh_sightings_stop(void);

/* Write every counted sighting now (the test-clock hook, the writer, stop),
 * and propose a household for accounts whose first TV was just seen.
 * *written (may be NULL) gets the rows written. */
enum err hh_sightings_flush(struct db *db, int64_t *written);

/* Delete sightings older than the retention (own transaction). */
enum err hh_sightings_purge(struct db *db, int64_t now);

/* Delete stream slots and decisions older than the playback retention, in
 * transactions of a bounded size; *deleted (may be NULL) counts the rows. */
enum err hh_playback_purge(struct db *db, int64_t now, int64_t *deleted);

/* ---- the household and trust (household.c) ---- */

struct hh_net {
	char prefix[NETADDR_STRLEN];
	int64_t last_tv_at;	/* last time a household TV was on it (or the set time) */
	bool is_origin;		/* where the household was set or proposed */
};

/* One device's sightings summary. */
struct hh_dev_sight {
	char id[IDS_MAX];
	int64_t last_at;	/* anywhere */
	char last_network[NETADDR_STRLEN];
	int64_t last_home_at;	/* on a household network; 0 never */
};

/* The household of one account as derived at `now`. */
struct hh_view {
	char account_id[IDS_MAX];
	bool has_household;
	char id[IDS_MAX];
	char status[12];		/* "proposed" | "set" ("" without a household) */
	char origin[NETADDR_STRLEN];
	char origin_device[IDS_MAX];
	int64_t set_at;
	int64_t confirmed_at;		/* 0 while proposed */
	size_t nnets;
	struct hh_net nets[HH_NETS_MAX];
	size_t ntvs;
	char tvs[HH_DEVICES_MAX][IDS_MAX];	/* household TVs */
};

/* Derive the household of `account_id` at `now` under `pol`: the networks a
 * household TV was on within the window since the household was set, and
 * the TVs seen on them (docs/households.md, "The household"). */
enum err hh_view_load(struct db *db, const char *account_id, const struct hh_policy *pol,
		      int64_t now, struct hh_view *out);

/* True when `network` is one of the view's household networks. */
bool hh_view_is_home(const struct hh_view *v, const char *network);

/* True when `device_id` is a household TV of the view. */
bool hh_view_is_tv(const struct hh_view *v, const char *device_id);

/* What is known of one device's trust at `now`. */
struct hh_trust {
	bool trusted;			/* seen at home within the window (or a household TV) */
	bool ever_home;			/* ever seen on a current household network */
	int64_t last_home_at;		/* 0 never */
	int64_t last_seen_at;
	char last_network[NETADDR_STRLEN];
	int64_t travel_until;		/* 0 none; active when > now */
	int64_t travel_grants_used;	/* member grants in the current travel period */
	char why[HH_REASON_LEN];	/* household_tv, on_household_network, seen_at_home_within_31d,
					 * travel_access_active, device_not_seen_at_home_31d,
					 * new_device_outside_household, household_not_set */
};

#define HH_DEVICE_NETS_MAX 16

/* What the database knows of one device: its newest networks with the last
 * time on each, and its travel access. */
struct hh_device_facts {
	size_t n;
	char nets[HH_DEVICE_NETS_MAX][NETADDR_STRLEN];
	int64_t last_at[HH_DEVICE_NETS_MAX];
	int64_t travel_until;
	int64_t travel_grants_used;	/* member grants in the travel period before `now` */
};

enum err hh_device_facts_load(struct db *db, const char *device_id, const struct hh_policy *pol,
			      int64_t now, struct hh_device_facts *out);

/* Judge a device from its facts (pure: no database). */
void hh_trust_eval(const struct hh_view *v, const struct hh_policy *pol,
		   const struct hh_device_facts *f, const char *current_network, int64_t now,
		   struct hh_trust *out);

/* Judge `device_id` under `v` at `now` (facts loaded, then evaluated); `current_network` (may be NULL or
 * "") is where the device is right now, counted as a sighting. */
enum err hh_trust_of(struct db *db, const struct hh_view *v, const struct hh_policy *pol,
		     const char *device_id, const char *current_network, int64_t now,
		     struct hh_trust *out);

/* Set (from proposed or nothing) or move the household of `account_id` to
 * `network`, from TV `device_id`, by `actor`, in the caller's transaction
 * (events household.set / household.moved).  *moved tells which. */
enum err hh_household_apply(struct db *db, const char *account_id, const char *network,
			    const char *device_id, const char *actor, int64_t now, bool *moved);

/* Record TV `device_id` as a household TV of `account_id` (in the caller's
 * transaction; already one is fine). */
enum err hh_household_tv_add(struct db *db, const char *account_id, const char *device_id, int64_t now);

/* Propose `network` of TV `device_id` as the household of `account_id`
 * when it has none, in the caller's transaction (event household.proposed). */
enum err hh_household_propose(struct db *db, const char *account_id, const char *device_id,
			      const char *network, int64_t now);

/* Sets and moves of the account's household since `since`. */
enum err hh_moves_since(struct db *db, const char *account_id, int64_t since, int64_t *count);

/* The household as the member sees it (GET /v1/household): a new object. */
enum err hh_household_json(struct db *db, const char *account_id, json_t **out);

/* The account's country ("" when unknown) and policy. */
enum err hh_account_policy(struct db *db, const char *account_id, char country[3],
			   struct hh_policy *pol);

/* ---- codes and travel access (verify.c) ---- */

enum hh_challenge_kind { HH_CHALLENGE_HOUSEHOLD, HH_CHALLENGE_TRAVEL };

struct hh_challenge {
	char id[IDS_MAX];
	enum hh_challenge_kind kind;
	char account_id[IDS_MAX];
	char device_id[IDS_MAX];
	char network[NETADDR_STRLEN];
	char channel[8];		/* email | sms */
	char destination[80];		/* masked */
	int64_t expires_at;
	int64_t attempts_left;
	int64_t sends_left;
	int64_t created_at;
	bool reused;			/* an open challenge was handed back, no new code sent */
};

/* "household" | "travel". */
const char *hh_challenge_kind_name(enum hh_challenge_kind k);

/* An open challenge of `kind` for `device_id` that can still be answered,
 * or a new one with a code sent to the owner of `account_id` (SMS when the
 * account has a phone, else email), in the caller's transaction. */
enum err hh_challenge_open(struct db *db, const char *account_id, const char *device_id,
			   enum hh_challenge_kind kind, const char *network, int64_t now,
			   struct hh_challenge *out);

/* What confirming a code did. */
struct hh_confirm_result {
	struct hh_challenge ch;
	bool household_moved;		/* household kind: moved (else set) */
	char travel_id[IDS_MAX];	/* travel kind: the grant */
	int64_t travel_until;
	int64_t attempts_left;		/* after a wrong code */
	int64_t retry_after;		/* ERR_TOO_MANY_ATTEMPTS */
};

/* Confirm challenge `id` with `code` from `device_id` of `account_id` at
 * `client` (own transaction).  ERR_NOT_FOUND (not this account's, or a
 * travel challenge of another device), ERR_TOO_MANY_ATTEMPTS (throttled:
 * retry_after), ERR_CHALLENGE_CLOSED (expired, used or locked),
 * ERR_INVALID_CODE (attempts_left), ERR_HOUSEHOLD_MOVE_LIMIT,
 * ERR_TRAVEL_LIMIT_REACHED, else ERR_OK. */
enum err hh_challenge_confirm(struct db *db, const char *account_id, const char *device_id,
			      const struct netaddr *client, const char *id, const char *code,
			      struct hh_confirm_result *out);

/* Send a new code for challenge `id` (own transaction).  ERR_NOT_FOUND,
 * ERR_CHALLENGE_CLOSED, ERR_TOO_MANY_ATTEMPTS (*retry_after: too soon or
 * no sends left) else ERR_OK with `out`. */
enum err hh_challenge_resend(struct db *db, const char *account_id, const char *device_id,
			     const char *id, struct hh_challenge *out, int64_t *retry_after);

/* Insert a travel grant for `device_id` (in the caller's transaction). */
enum err hh_travel_insert(struct db *db, const char *account_id, const char *device_id,
			  const char *source, const char *challenge_id, const char *granted_by,
			  int64_t now, int64_t until, char id_out[IDS_MAX]);

/* Mask an email ("o***@example.com") or a phone ("+*******1234"). */
void hh_mask_email(const char *email, char *out, size_t cap);
void hh_mask_phone(const char *phone, char *out, size_t cap);

/* ---- the playback gate (playback.c) ---- */

enum hh_outcome {
	HH_ALLOWED,
	HH_STREAM_LIMIT_REACHED,
	HH_VERIFICATION_REQUIRED,
	HH_TRAVEL_LIMIT_REACHED,
	HH_PAYMENT_REQUIRED,
	HH_PLAN_NOT_AVAILABLE_ON_DEVICE,
	HH_PROFILE_NOT_ALLOWED,
};

/* Forget every thread's cached decision inputs (after this process changed
 * a household, travel access or an extra member, or the test clock moved). */
void hh_cache_bump(void);

/* "allowed", "stream_limit_reached", ... */
const char *hh_outcome_name(enum hh_outcome o);

struct hh_decision {
	char id[IDS_MAX];
	enum hh_outcome outcome;
	bool enforced;
	json_t *reasons;		/* owned: array of strings */
	json_t *inputs;			/* owned: object (NULL once a start that may take a
					 * slot stored it as text) */
	char slot_id[IDS_MAX];
	int64_t slot_expires_at;
	int64_t max_streams;
	json_t *active_streams;		/* owned (stream_limit_reached): array */
	struct hh_challenge challenge;	/* verification_required */
};

/* Free the JSON a decision holds. */
void hh_decision_release(struct hh_decision *d);

/* Decide whether `device_id` of `account_id` may start a stream for
 * `profile_id` from `client`, store the decision, and on `allowed` take a
 * stream slot (ending the device's previous one).  ERR_NOT_FOUND when the
 * profile is not the account's or the device unknown; otherwise ERR_OK
 * with the outcome in `out` (release it). */
enum err hh_playback_start(struct db *db, const char *account_id, const char *device_id,
			   const char *profile_id, const struct netaddr *client,
			   struct hh_decision *out);

/* Called on the slot writer thread when an asynchronous start's slot
 * transaction ended with `e` (ERR_OK: the decision in `out` is final). */
typedef void (*hh_gate_done)(void *ctx, enum err e);

/* Called on the caller's thread just before a start is queued for its
 * slot, with the decision as it will be if the slot is taken (outcome
 * allowed, the slot's id and expiry set; `inputs` already stored as text
 * and NULL here), so that the caller can make its reply before the writer
 * runs the transaction, and the writer, which every start waits on, does
 * not.  The transaction may still end in stream_limit_reached. */
typedef void (*hh_gate_ready)(void *ctx, const struct hh_decision *d);

/* As hh_playback_start, but a start that takes a slot does not wait for
 * its commit: `ready(ctx, out)` (when not NULL) runs first, then *pending
 * is set and `done(ctx, e)` runs on the writer thread once it committed
 * (`out` and the three id strings must live until then).  Without the
 * writer running, or for decisions without a slot, it returns as
 * hh_playback_start with *pending false and `done` is not called (`ready`
 * may have run). */
enum err hh_playback_start_async(struct db *db, const char *account_id, const char *device_id,
				 const char *profile_id, const struct netaddr *client,
				 struct hh_decision *out, hh_gate_ready ready, hh_gate_done done,
				 void *ctx, bool *pending);

/* Heartbeat slot `slot_id` of `account_id`: *expires_at gets the new
 * deadline.  ERR_NOT_FOUND; ERR_INVALID_STATE when the slot already ended
 * (*end_reason, 24 bytes, says why). */
enum err hh_playback_heartbeat(struct db *db, const char *account_id, const char *slot_id,
			       int64_t *expires_at, char *end_reason);

/* End slot `slot_id` of `account_id` (stopped).  ERR_NOT_FOUND; ending an
 * ended slot is ERR_OK. */
enum err hh_playback_stop(struct db *db, const char *account_id, const char *slot_id);

/* End every live slot of `profile_id` (a transferred profile), in the
 * caller's transaction. */
enum err hh_slots_end_for_profile(struct db *db, const char *profile_id, int64_t now);

/* The account's decisions, newest first, at most `limit` (a new array),
 * after the decision `starting_after` when not NULL (ERR_NOT_FOUND when it
 * is not one of the account's). */
enum err hh_decisions_json(struct db *db, const char *account_id, const char *starting_after, int64_t limit,
			   json_t **out);

/* ---- sharing assessment (sharing.c) ---- */

/* The sharing assessment of `account_id` at `now` (a new object: level
 * none | possible | likely, score, and the evidence). */
enum err hh_sharing_assess(struct db *db, const char *account_id, int64_t now, json_t **out);

/* ---- extra members (extra.c) ---- */

struct hh_extra_member {
	char id[IDS_MAX];			/* xm_... */
	char owner_account_id[IDS_MAX];
	char email[256];
	char status[12];			/* invited | active | removed */
	char member_account_id[IDS_MAX];	/* "" until accepted */
	char addon_id[IDS_MAX];
	int64_t created_at;
	int64_t accepted_at;
	int64_t removed_at;
	int64_t ends_at;			/* 0: runs with the owner's plan */
	int64_t invite_expires_at;
	struct money price;			/* per period (set when invited) */
	char invoice_id[IDS_MAX];		/* the prorated charge (set when invited) */
};

/* Buy a slot and invite `email` (own transaction).  ERR_VALIDATION (not an
 * email), ERR_PAYMENT_REQUIRED (the owner cannot play or has no payment
 * method), ERR_EXTRA_MEMBERS_NOT_IN_PLAN, ERR_EXTRA_MEMBER_SLOTS_FULL,
 * ERR_CONFLICT (already invited), ERR_INVITEE_NOT_ELIGIBLE (the owner's own
 * address), ERR_PAYMENT_FAILED (the charge was declined: nothing bought). */
enum err hh_extra_member_invite(struct db *db, const char *owner_account_id, const char *email,
				struct hh_extra_member *out, struct bill_payment_outcome *pay);

/* Accept an invitation with `token` as `member_account_id` (own
 * transaction).  ERR_INVITATION_INVALID; ERR_INVITEE_NOT_ELIGIBLE with *why
 * ("owner", "country_mismatch", "has_subscription", "more_than_one_profile",
 * "already_extra_member"). */
enum err hh_extra_member_accept(struct db *db, const char *member_account_id, const char *token,
				struct hh_extra_member *out, const char **why);

/* Remove extra member `id` of the owner (own transaction): the add-on ends
 * at the period end and so does the member's access; an invitation not yet
 * accepted is withdrawn at once.  ERR_NOT_FOUND; removing twice is ERR_OK. */
enum err hh_extra_member_remove(struct db *db, const char *owner_account_id, const char *id,
				struct hh_extra_member *out);

enum err hh_extra_member_get(struct db *db, const char *owner_account_id, const char *id,
			     struct hh_extra_member *out);

/* The owner's extra members (every status), oldest first. */
enum err hh_extra_members_list(struct db *db, const char *owner_account_id,
			       struct hh_extra_member *out, size_t cap, size_t *n);

/* When `account_id` is an extra member whose access runs, its owner's id
 * goes to `owner` and *ends_at (0: open-ended) and ERR_OK; ERR_NOT_FOUND
 * when it is no extra member; ERR_PAYMENT_REQUIRED when it was one and its
 * access ended. */
enum err hh_extra_member_owner(struct db *db, const char *account_id, int64_t now,
			       char owner[IDS_MAX], int64_t *ends_at);

/* ---- staff (households_admin.c) ---- */

/* Register the /admin/v1 household routes and the account section. */
void hh_admin_register(void);

/* ---- HTTP helpers (households_http.c) ---- */

/* The checks POST /v1/playback/sessions makes on its JSON body {profile_id}
 * before anything touches the database, callable without a request so that
 * the fuzz target runs exactly them (fuzz/fuzz_households_body.c).  Reads
 * `v` (jv_init'd by the caller on the JSON object), records every field
 * error in it (unknown fields included) and sets *profile_id (borrowed from
 * the JSON) only when valid.  households_http.c */
struct jv;
void hh_playback_start_parse(struct jv *v, const char **profile_id);

#endif
