/*
 * account_tools.c - the staff tools for one member's account, composed from
 * what each area offers through its header: accounts (the account, its
 * profiles, lock, export, erasure), auth (devices and sign-ins), core
 * notifications, and the sections other areas register (subscription,
 * invoices, household).
 *
 * What must stay true: every change runs in one transaction with its audit
 * row; an audit row never holds the member's personal data (before/after
 * carry statuses and counts); erasure reaches every area that holds
 * personal data, in the same transaction, or nothing is erased.
 */
#include <stdio.h>
#include <string.h>

#include "accounts/accounts.h"
#include "admin/admin_int.h"
#include "core/clock.h"
#include "core/notify.h"

static json_t *account_json(const struct acct_account *a)
{
	char at[32];
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "id", a->id, "email", a->email,
			 "name", a->name, "phone", a->phone, "country", a->country, "language",
			 a->language, "status", a->status, "created_at",
			 clock_format(a->created_at, at, sizeof at));
}

static void add_match(json_t *out, const struct acct_account *a, const char *matched)
{
	size_t i;
	json_t *o;
	json_array_foreach(out, i, o)
	{
		if (strcmp(json_string_value(json_object_get(o, "id")), a->id) == 0)
			return;
	}
	o = account_json(a);
	json_object_set_new(o, "matched", json_string(matched));
	json_array_append_new(out, o);
}

enum err admin_account_search(struct db *db, const char *query, json_t **out)
{
	struct acct_account found[ADMIN_SEARCH_MAX];
	size_t n = 0;
	const char *matched = NULL;
	char id[IDS_MAX];
	json_t *res = json_array();
	if (!res)
		return ERR_NOMEM;
	enum err e = acct_search(db, query, found, ADMIN_SEARCH_MAX, &n, &matched);
	for (size_t i = 0; e == ERR_OK && i < n; i++)
		add_match(res, &found[i], matched);
	if (e == ERR_OK && n == 0) {
		e = auth_device_account(db, query, id);
		if (e == ERR_OK && acct_get(db, id, &found[0]) == ERR_OK)
			add_match(res, &found[0], "device");
		if (e == ERR_NOT_FOUND)
			e = ERR_OK;
	}
	/* Other areas' terms (an invoice number...). */
	for (size_t s = 0; e == ERR_OK && json_array_size(res) == 0 && s < admin_section_count(); s++) {
		const struct admin_account_section *sec = admin_section_at(s);
		if (!sec->search)
			continue;
		e = sec->search(db, query, id);
		if (e == ERR_OK && acct_get(db, id, &found[0]) == ERR_OK)
			add_match(res, &found[0], sec->name);
		if (e == ERR_NOT_FOUND)
			e = ERR_OK;
	}
	if (e != ERR_OK) {
		json_decref(res);
		return e;
	}
	*out = res;
	return ERR_OK;
}

enum err admin_account_show(struct db *db, const char *id, json_t **out)
{
	struct acct_account a;
	json_t *profiles = NULL, *signins = NULL, *sections = NULL, *audit = NULL;
	bool more = false;
	enum err e = acct_get(db, id, &a);
	if (e == ERR_OK)
		e = acct_profiles_json(db, id, &profiles);
	if (e == ERR_OK)
		e = auth_account_signins_json(db, id, &signins);
	if (e == ERR_OK) {
		struct admin_audit_filter f = {id, NULL, 0, 0, 20};
		e = admin_audit_list(db, &f, &audit, &more);
	}
	sections = json_object();
	for (size_t s = 0; e == ERR_OK && s < admin_section_count(); s++) {
		const struct admin_account_section *sec = admin_section_at(s);
		json_t *v = NULL;
		if (!sec->show)
			continue;
		e = sec->show(db, id, &v);
		if (e == ERR_OK)
			json_object_set_new(sections, sec->name, v ? v : json_null());
	}
	if (e != ERR_OK) {
		json_decref(profiles);
		json_decref(signins);
		json_decref(sections);
		json_decref(audit);
		return e;
	}
	*out = json_pack("{s:o, s:o, s:O, s:O, s:o, s:o}", "account", account_json(&a), "profiles",
			 profiles, "devices", json_object_get(signins, "devices"), "sessions",
			 json_object_get(signins, "sessions"), "sections", sections, "audit", audit);
	json_decref(signins);
	return *out ? ERR_OK : ERR_NOMEM;
}

struct lock_tx {
	const struct admin_ctx *ctx;
	const char *id;
	bool lock;
	int64_t revoked;
};

static enum err lock_fn(struct db *db, void *arg)
{
	struct lock_tx *t = arg;
	char before[12];
	t->revoked = 0;
	enum err e = acct_set_locked(db, t->id, t->lock, before);
	if (e != ERR_OK)
		return e;
	/* A locked account must not keep using the devices already signed in. */
	if (t->lock)
		e = auth_account_live_sessions(db, t->id, &t->revoked);
	if (e == ERR_OK && t->lock && t->revoked > 0)
		e = auth_revoke_account_sessions(db, t->id, NULL, "account_locked");
	if (e == ERR_OK)
		e = admin_audit(db, t->ctx->staff_id, t->lock ? "account.lock" : "account.unlock", "account",
				t->id, t->ctx->reason, json_pack("{s:s}", "status", before),
				t->lock ? json_pack("{s:s, s:I}", "status", "locked", "sessions_revoked",
						    (json_int_t)t->revoked)
					: json_pack("{s:s}", "status", "active"));
	return e;
}

enum err admin_account_lock(struct db *db, const struct admin_ctx *ctx, const char *id, bool lock,
			    int64_t *revoked)
{
	struct lock_tx t = {ctx, id, lock, 0};
	enum err e = db_transaction(db, lock_fn, &t);
	*revoked = t.revoked;
	return e;
}

struct signout_tx {
	const struct admin_ctx *ctx;
	const char *id;
	int64_t revoked;
};

static enum err signout_fn(struct db *db, void *arg)
{
	struct signout_tx *t = arg;
	struct acct_account a;
	enum err e = acct_get(db, t->id, &a);
	if (e == ERR_OK)
		e = auth_account_live_sessions(db, t->id, &t->revoked);
	if (e == ERR_OK)
		e = auth_revoke_account_sessions(db, t->id, NULL, "staff_sign_out_all");
	if (e == ERR_OK)
		e = admin_audit(db, t->ctx->staff_id, "account.sign_out_all", "account", t->id, t->ctx->reason,
				json_pack("{s:I}", "live_sessions", (json_int_t)t->revoked),
				json_pack("{s:i}", "live_sessions", 0));
	return e;
}

enum err admin_account_sign_out_all(struct db *db, const struct admin_ctx *ctx, const char *id,
				    int64_t *revoked)
{
	struct signout_tx t = {ctx, id, 0};
	enum err e = db_transaction(db, signout_fn, &t);
	*revoked = t.revoked;
	return e;
}

struct export_tx {
	const char *staff_id;
	const char *reason;
	const char *id;
	json_t *doc;
};

static enum err export_fn(struct db *db, void *arg)
{
	struct export_tx *t = arg;
	json_t *acct = NULL, *signins = NULL, *notes = NULL, *sections = json_object();
	char now[32];
	json_decref(t->doc);
	t->doc = NULL;
	enum err e = acct_export(db, t->id, &acct);
	if (e == ERR_OK)
		e = auth_account_export(db, t->id, &signins);
	if (e == ERR_OK)
		e = notify_account_json(db, t->id, &notes);
	for (size_t s = 0; e == ERR_OK && s < admin_section_count(); s++) {
		const struct admin_account_section *sec = admin_section_at(s);
		json_t *v = NULL;
		if (!sec->export_data)
			continue;
		e = sec->export_data(db, t->id, &v);
		if (e == ERR_OK)
			json_object_set_new(sections, sec->name, v ? v : json_null());
	}
	if (e == ERR_OK)
		e = admin_audit(db, t->staff_id, "account.export", "account", t->id,
				t->reason ? t->reason : "(no reason given)", NULL, NULL);
	if (e == ERR_OK) {
		t->doc = json_pack("{s:s, s:s, s:O, s:O, s:O, s:O, s:O, s:O}", "account_id", t->id,
				   "exported_at", clock_format(clock_now(), now, sizeof now), "account",
				   json_object_get(acct, "account"), "profiles",
				   json_object_get(acct, "profiles"), "devices",
				   json_object_get(signins, "devices"), "sessions",
				   json_object_get(signins, "sessions"), "notifications", notes,
				   "sections", sections);
		if (!t->doc)
			e = ERR_NOMEM;
	}
	json_decref(acct);
	json_decref(signins);
	json_decref(notes);
	json_decref(sections);
	return e;
}

enum err admin_account_export(struct db *db, const char *staff_id, const char *reason,
			      const char *id, json_t **out)
{
	struct export_tx t = {staff_id, reason, id, NULL};
	enum err e = db_transaction(db, export_fn, &t);
	if (e != ERR_OK) {
		json_decref(t.doc);
		return e;
	}
	*out = t.doc;
	return ERR_OK;
}

struct erase_tx {
	const struct admin_ctx *ctx;
	const char *id;
	struct admin_erase_result r;
};

static enum err erase_fn(struct db *db, void *arg)
{
	struct erase_tx *t = arg;
	struct acct_account a;
	memset(&t->r, 0, sizeof t->r);
	enum err e = acct_get(db, t->id, &a);
	if (e == ERR_OK && strcmp(a.status, "erased") == 0)
		e = ERR_INVALID_STATE;
	if (e == ERR_OK)
		e = auth_account_live_sessions(db, t->id, &t->r.sessions_revoked);
	if (e == ERR_OK)
		e = acct_erase(db, t->id);
	if (e == ERR_OK)
		e = auth_account_erase(db, t->id);
	if (e == ERR_OK)
		e = notify_redact_account(db, t->id, &t->r.notifications_redacted);
	/* A sign-up replayed from the Idempotency-Key cache would hand back the
	 * email, name and phone the erasure just removed. */
	if (e == ERR_OK)
		e = http_idempotency_forget(db, t->id);
	for (size_t s = 0; e == ERR_OK && s < admin_section_count(); s++) {
		const struct admin_account_section *sec = admin_section_at(s);
		if (sec->erase)
			e = sec->erase(db, t->id);
	}
	if (e == ERR_OK)
		e = admin_audit(db, t->ctx->staff_id, "account.erase", "account", t->id, t->ctx->reason,
				json_pack("{s:s}", "status", a.status),
				json_pack("{s:s, s:I, s:I}", "status", "erased", "sessions_revoked",
					  (json_int_t)t->r.sessions_revoked, "notifications_redacted",
					  (json_int_t)t->r.notifications_redacted));
	return e;
}

enum err admin_account_erase(struct db *db, const struct admin_ctx *ctx, const char *id,
			     struct admin_erase_result *out)
{
	struct erase_tx t = {ctx, id, {0, 0}};
	enum err e = db_transaction(db, erase_fn, &t);
	*out = t.r;
	return e;
}
