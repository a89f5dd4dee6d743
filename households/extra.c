/*
 * extra.c - extra members: someone outside the household who plays on the
 * owner's plan from an account of their own.
 *
 * The owner buys a slot (POST /v1/extra-members {email}): a billing add-on
 * charged prorated at once (bill_addon_add, in the same transaction as the
 * invitation), and an invitation with a random token is sent to the email.
 * The invitee signs up (same country as the owner) and accepts with the
 * token from their own account, which then has one profile and one stream
 * of the owner's plan while the owner's subscription plays.  Removal ends
 * the add-on at the period end, and the extra member's access with it.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "accounts/accounts.h"
#include "auth/auth.h"
#include "billing/billing.h"
#include "core/clock.h"
#include "core/events.h"
#include "core/notify.h"
#include "households/households_int.h"

#define INVITE_TOKEN_BYTES 32
#define INVITE_TOKEN_MAX 48

static void copy_text(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

#define XM_COLUMNS                                                                          \
	"id, owner_account_id, email, status, member_account_id, addon_id, created_at,"       \
	" accepted_at, removed_at, ends_at, invite_expires_at"

static void read_xm(struct db_stmt *st, struct hh_extra_member *x)
{
	memset(x, 0, sizeof *x);
	copy_text(x->id, sizeof x->id, db_column_text(st, 0));
	copy_text(x->owner_account_id, sizeof x->owner_account_id, db_column_text(st, 1));
	copy_text(x->email, sizeof x->email, db_column_text(st, 2));
	copy_text(x->status, sizeof x->status, db_column_text(st, 3));
	copy_text(x->member_account_id, sizeof x->member_account_id, db_column_text(st, 4));
	copy_text(x->addon_id, sizeof x->addon_id, db_column_text(st, 5));
	x->created_at = db_column_int64(st, 6);
	x->accepted_at = db_column_is_null(st, 7) ? 0 : db_column_int64(st, 7);
	x->removed_at = db_column_is_null(st, 8) ? 0 : db_column_int64(st, 8);
	x->ends_at = db_column_is_null(st, 9) ? 0 : db_column_int64(st, 9);
	x->invite_expires_at = db_column_int64(st, 10);
}

enum err hh_extra_member_owner(struct db *db, const char *account_id, int64_t now,
			       char owner[IDS_MAX], int64_t *ends_at)
{
	struct db_stmt *st = NULL;
	*ends_at = 0;
	owner[0] = '\0';
	enum err e = db_prepare(db,
				"SELECT owner_account_id, ends_at FROM extra_members"
				" WHERE member_account_id = ?1",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, account_id);
	e = db_step_row(st);
	if (e == ERR_OK) {
		copy_text(owner, IDS_MAX, db_column_text(st, 0));
		*ends_at = db_column_is_null(st, 1) ? 0 : db_column_int64(st, 1);
	}
	db_done(st);
	if (e == ERR_OK && *ends_at && *ends_at <= now)
		return ERR_PAYMENT_REQUIRED;
	return e;
}

enum err hh_extra_member_get(struct db *db, const char *owner_account_id, const char *id,
			     struct hh_extra_member *out)
{
	struct db_stmt *st = NULL;
	if (!ids_valid("xm_", id))
		return ERR_NOT_FOUND;
	enum err e = db_prepare(db,
				"SELECT " XM_COLUMNS " FROM extra_members WHERE id = ?1 AND owner_account_id = ?2",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, id);
	db_bind_text(st, 2, owner_account_id);
	e = db_step_row(st);
	if (e == ERR_OK)
		read_xm(st, out);
	db_done(st);
	return e;
}

enum err hh_extra_members_list(struct db *db, const char *owner_account_id,
			       struct hh_extra_member *out, size_t cap, size_t *n)
{
	struct db_stmt *st = NULL;
	*n = 0;
	enum err e = db_prepare(db,
				"SELECT " XM_COLUMNS " FROM extra_members WHERE owner_account_id = ?1"
				" ORDER BY created_at, id",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, owner_account_id);
	while (*n < cap) {
		bool row = false;
		e = db_step(st, &row);
		if (e != ERR_OK || !row)
			break;
		read_xm(st, &out[(*n)++]);
	}
	db_done(st);
	return e;
}

/* ---- inviting (buying a slot) ---- */

struct invite_ctx {
	const char *owner, *email, *email_norm;
	struct hh_extra_member *out;
	struct bill_payment_outcome *pay;
	bool declined;
};

static enum err invite_tx(struct db *db, void *arg)
{
	struct invite_ctx *c = arg;
	struct bill_entitlements ent;
	struct acct_account owner;
	struct bill_addon addon;
	struct db_stmt *st = NULL;
	char token[INVITE_TOKEN_MAX], hash[AUTH_SECRET_HASH_SIZE];
	int64_t now = clock_now();
	c->declined = false;
	enum err e = acct_get(db, c->owner, &owner);
	if (e == ERR_OK)
		e = bill_entitlements(db, c->owner, &ent);
	if (e != ERR_OK)
		return e;
	if (!ent.playback_allowed)
		return ERR_PAYMENT_REQUIRED;
	if (ent.extra_member_slots <= 0)
		return ERR_EXTRA_MEMBERS_NOT_IN_PLAN;
	if (strcasecmp(owner.email, c->email_norm) == 0)
		return ERR_INVITEE_NOT_ELIGIBLE;
	e = db_prepare(db,
		       "SELECT COUNT(*), COALESCE(SUM(CASE WHEN email_norm = ?2 THEN 1 ELSE 0 END), 0)"
		       " FROM extra_members WHERE owner_account_id = ?1 AND status IN ('invited', 'active')",
		       &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, c->owner);
	db_bind_text(st, 2, c->email_norm);
	e = db_step_row(st);
	int64_t taken = e == ERR_OK ? db_column_int64(st, 0) : 0;
	int64_t same = e == ERR_OK ? db_column_int64(st, 1) : 0;
	db_done(st);
	if (e != ERR_OK)
		return e;
	if (same > 0)
		return ERR_CONFLICT;
	if (taken >= ent.extra_member_slots)
		return ERR_EXTRA_MEMBER_SLOTS_FULL;

	struct hh_extra_member *x = c->out;
	memset(x, 0, sizeof *x);
	e = ids_new("xm_", x->id, sizeof x->id);
	if (e == ERR_OK)
		e = bill_addon_add(db, c->owner, "extra_member", x->id, &addon, c->pay);
	if (e == ERR_PAYMENT_FAILED) {
		/* Keep the void invoice and the attempt: commit them. */
		c->declined = true;
		return ERR_OK;
	}
	if (e == ERR_OK)
		e = ids_random_token(INVITE_TOKEN_BYTES, token, sizeof token);
	if (e == ERR_OK)
		e = auth_secret_hash("extra_member_invite", token, hash);
	if (e != ERR_OK)
		goto out;
	copy_text(x->owner_account_id, sizeof x->owner_account_id, c->owner);
	copy_text(x->email, sizeof x->email, c->email);
	copy_text(x->status, sizeof x->status, "invited");
	copy_text(x->addon_id, sizeof x->addon_id, addon.id);
	x->created_at = now;
	x->invite_expires_at = now + hh_settings()->invite_ttl_s;
	x->price = addon.price;
	copy_text(x->invoice_id, sizeof x->invoice_id, addon.invoice_id);
	e = db_prepare(db,
		       "INSERT INTO extra_members (id, owner_account_id, email, email_norm, status, invite_hash,"
		       " invite_expires_at, addon_id, created_at) VALUES (?1, ?2, ?3, ?4, 'invited', ?5, ?6, ?7, ?8)",
		       &st);
	if (e != ERR_OK)
		goto out;
	db_bind_text(st, 1, x->id);
	db_bind_text(st, 2, c->owner);
	db_bind_text(st, 3, c->email);
	db_bind_text(st, 4, c->email_norm);
	db_bind_text(st, 5, hash);
	db_bind_int64(st, 6, x->invite_expires_at);
	db_bind_text(st, 7, addon.id);
	db_bind_int64(st, 8, now);
	e = db_step_done(st);
	db_done(st);
	if (e == ERR_OK) {
		char expires[32];
		clock_format(x->invite_expires_at, expires, sizeof expires);
		e = notify_queue(db, NULL, NOTIFY_EMAIL, c->email, "extra_member_invitation",
				 json_pack("{s:s, s:s, s:s, s:s}", "token", token, "invitation_id", x->id,
					   "country", owner.country, "expires_at", expires),
				 NULL);
	}
	if (e == ERR_OK)
		e = events_emit(db, "extra_member.invited", x->id,
				json_pack("{s:s, s:s, s:s}", "owner_account_id", c->owner, "addon_id",
					  addon.id, "invoice_id", addon.invoice_id));
out:
	sodium_memzero(token, sizeof token);
	return e;
}

enum err hh_extra_member_invite(struct db *db, const char *owner_account_id, const char *email,
				struct hh_extra_member *out, struct bill_payment_outcome *pay)
{
	char addr[ACCT_EMAIL_MAX + 1], norm[ACCT_EMAIL_MAX + 1];
	memset(out, 0, sizeof *out);
	memset(pay, 0, sizeof *pay);
	if (!acct_email_canonical(email, addr, norm))
		return ERR_VALIDATION;
	struct invite_ctx c = {owner_account_id, addr, norm, out, pay, false};
	enum err e = db_transaction(db, invite_tx, &c);
	hh_cache_bump();
	if (e == ERR_OK && c.declined)
		return ERR_PAYMENT_FAILED;
	return e;
}

/* ---- accepting ---- */

struct accept_ctx {
	const char *member, *hash;
	struct hh_extra_member *out;
	const char *why;
};

static enum err accept_tx(struct db *db, void *arg)
{
	struct accept_ctx *c = arg;
	struct acct_account member, owner;
	struct bill_subscription sub;
	struct db_stmt *st = NULL;
	char norm[ACCT_EMAIL_MAX + 1], addr[ACCT_EMAIL_MAX + 1];
	int64_t now = clock_now(), profiles = 0;
	c->why = NULL;
	enum err e = db_prepare(db,
				"SELECT " XM_COLUMNS ", email_norm FROM extra_members WHERE invite_hash = ?1"
				" AND status = 'invited' AND invite_expires_at > ?2",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, c->hash);
	db_bind_int64(st, 2, now);
	e = db_step_row(st);
	if (e == ERR_OK) {
		read_xm(st, c->out);
		copy_text(norm, sizeof norm, db_column_text(st, 11));
	}
	db_done(st);
	if (e == ERR_NOT_FOUND)
		return ERR_INVITATION_INVALID;
	if (e == ERR_OK)
		e = acct_get(db, c->member, &member);
	if (e == ERR_OK)
		e = acct_get(db, c->out->owner_account_id, &owner);
	if (e != ERR_OK)
		return e;
	/* The invitation is for the address it was sent to. */
	if (!acct_email_canonical(member.email, addr, addr) || strcmp(addr, norm) != 0)
		return ERR_INVITATION_INVALID;
	if (strcmp(member.id, owner.id) == 0)
		c->why = "owner";
	else if (strcmp(member.country, owner.country) != 0)
		c->why = "country_mismatch";
	if (c->why)
		return ERR_INVITEE_NOT_ELIGIBLE;
	e = bill_subscription_get(db, c->member, &sub);
	if (e == ERR_OK && sub.state != BILL_ENDED)
		c->why = "has_subscription";
	else if (e != ERR_OK && e != ERR_NOT_FOUND)
		return e;
	if (!c->why && (e = acct_profile_count(db, c->member, &profiles)) != ERR_OK)
		return e;
	if (!c->why && profiles > 1)
		c->why = "more_than_one_profile";
	if (c->why)
		return ERR_INVITEE_NOT_ELIGIBLE;
	e = db_prepare(db,
		       "UPDATE extra_members SET status = 'active', member_account_id = ?2, accepted_at = ?3"
		       " WHERE id = ?1 AND status = 'invited'",
		       &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, c->out->id);
	db_bind_text(st, 2, c->member);
	db_bind_int64(st, 3, now);
	e = db_step_done(st);
	db_done(st);
	if (e == ERR_CONFLICT) {
		c->why = "already_extra_member";
		return ERR_INVITEE_NOT_ELIGIBLE;
	}
	if (e != ERR_OK)
		return e;
	copy_text(c->out->status, sizeof c->out->status, "active");
	copy_text(c->out->member_account_id, sizeof c->out->member_account_id, c->member);
	c->out->accepted_at = now;
	e = events_emit(db, "extra_member.joined", c->out->id,
			json_pack("{s:s, s:s}", "owner_account_id", owner.id, "member_account_id",
				  c->member));
	if (e == ERR_OK)
		e = notify_queue(db, owner.id, NOTIFY_EMAIL, owner.email, "extra_member_joined",
				 json_pack("{s:s}", "email", member.email), NULL);
	return e;
}

enum err hh_extra_member_accept(struct db *db, const char *member_account_id, const char *token,
				struct hh_extra_member *out, const char **why)
{
	char hash[AUTH_SECRET_HASH_SIZE];
	memset(out, 0, sizeof *out);
	*why = NULL;
	enum err e = auth_secret_hash("extra_member_invite", token, hash);
	if (e != ERR_OK)
		return e;
	struct accept_ctx c = {member_account_id, hash, out, NULL};
	e = db_transaction(db, accept_tx, &c);
	hh_cache_bump();
	*why = c.why;
	return e;
}

/* ---- removing ---- */

struct remove_ctx {
	const char *owner, *id;
	struct hh_extra_member *out;
};

static enum err remove_tx(struct db *db, void *arg)
{
	struct remove_ctx *c = arg;
	struct db_stmt *st = NULL;
	int64_t now = clock_now(), ends_at = 0;
	enum err e = hh_extra_member_get(db, c->owner, c->id, c->out);
	if (e != ERR_OK || strcmp(c->out->status, "removed") == 0)
		return e;
	e = bill_addon_remove(db, c->owner, c->out->addon_id, &ends_at);
	if (e != ERR_OK)
		return e;
	/* An invitation nobody accepted is withdrawn now; a member keeps
	 * playing until the end of the period the owner paid for. */
	if (strcmp(c->out->status, "invited") == 0 || ends_at < now)
		ends_at = now;
	e = db_prepare(db,
		       "UPDATE extra_members SET status = 'removed', removed_at = ?2, ends_at = ?3 WHERE id = ?1",
		       &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, c->id);
	db_bind_int64(st, 2, now);
	db_bind_int64(st, 3, ends_at);
	e = db_step_done(st);
	db_done(st);
	if (e != ERR_OK)
		return e;
	bool had_member = c->out->member_account_id[0] != '\0';
	copy_text(c->out->status, sizeof c->out->status, "removed");
	c->out->removed_at = now;
	c->out->ends_at = ends_at;
	e = events_emit(db, "extra_member.removed", c->id,
			json_pack("{s:s, s:s?, s:I}", "owner_account_id", c->owner, "member_account_id",
				  had_member ? c->out->member_account_id : NULL, "ends_at",
				  (json_int_t)ends_at));
	if (e == ERR_OK && had_member) {
		struct acct_account member;
		char when[32];
		if (acct_get(db, c->out->member_account_id, &member) == ERR_OK)
			e = notify_queue(db, member.id, NOTIFY_EMAIL, member.email, "extra_member_removed",
					 json_pack("{s:s}", "access_ends_at",
						   clock_format(ends_at, when, sizeof when)),
					 NULL);
	}
	return e;
}

enum err hh_extra_member_remove(struct db *db, const char *owner_account_id, const char *id,
				struct hh_extra_member *out)
{
	memset(out, 0, sizeof *out);
	struct remove_ctx c = {owner_account_id, id, out};
	enum err e = db_transaction(db, remove_tx, &c);
	hh_cache_bump();
	return e;
}
