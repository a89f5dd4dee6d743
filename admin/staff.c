/*
 * staff.c - staff members and their sign-ins.
 *
 * What must stay true: a staff token is only honoured while its sign-in is
 * live (not revoked, not expired) and its staff member active, and the role
 * it grants is the member's role now, read on every request, so disabling
 * someone or lowering their role takes effect at once.  There is always at
 * least one active admin once the first was created: the last one can be
 * neither disabled nor demoted.  Sign-in runs member sign-in's password
 * check (auth_credentials_check): throttling is checked before hashing, an
 * unknown email costs a wrong password's work.
 */
#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "admin/admin_int.h"
#include "core/clock.h"
#include "core/events.h"

static struct admin_settings settings;

enum err admin_init(const struct config *cfg)
{
	settings.signin_staff =
		(struct throttle_rule){cfg->signin_fail_limit, cfg->throttle_window_s, 30, 3600};
	settings.signin_ip =
		(struct throttle_rule){cfg->signin_ip_fail_limit, cfg->throttle_window_s, 30, 3600};
	return ERR_OK;
}

const struct admin_settings *admin_settings(void) { return &settings; }

bool admin_email_parse(const char *in, char *email, char *norm)
{
	while (*in == ' ' || *in == '\t')
		in++;
	size_t n = strlen(in);
	while (n > 0 && (in[n - 1] == ' ' || in[n - 1] == '\t'))
		n--;
	if (n < 3 || n > ADMIN_EMAIL_MAX)
		return false;
	const char *at = memchr(in, '@', n);
	if (!at || at == in || at == in + n - 1 || memchr(at + 1, '@', (size_t)(in + n - at - 1)))
		return false;
	if (!memchr(at + 1, '.', (size_t)(in + n - at - 1)) || in[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];
		/* No control character: C0, DEL, or C1 (U+0080..U+009F). */
		if (c <= 0x20 || c == 0x7f || strchr("()<>,;:\\\"[]", c) ||
		    (c == 0xC2 && i + 1 < n && (unsigned char)in[i + 1] >= 0x80 && (unsigned char)in[i + 1] <= 0x9F))
			return false;
	}
	memcpy(email, in, n);
	email[n] = '\0';
	for (size_t i = 0; i <= n; i++)
		norm[i] = (char)tolower((unsigned char)email[i]);
	return true;
}

/* ---- reading ---- */

#define STAFF_COLUMNS                                                                         \
	"id, email, name, role, active, created_at, updated_at, disabled_at, last_signin_at"

static void staff_from_row(struct db_stmt *st, struct admin_staff *s)
{
	const char *name = db_column_text(st, 2);
	snprintf(s->id, sizeof s->id, "%s", db_column_text(st, 0));
	snprintf(s->email, sizeof s->email, "%s", db_column_text(st, 1));
	snprintf(s->name, sizeof s->name, "%s", name ? name : "");
	s->role = admin_role_parse(db_column_text(st, 3));
	s->active = db_column_int64(st, 4) != 0;
	s->created_at = db_column_int64(st, 5);
	s->updated_at = db_column_int64(st, 6);
	s->disabled_at = db_column_is_null(st, 7) ? 0 : db_column_int64(st, 7);
	s->last_signin_at = db_column_is_null(st, 8) ? 0 : db_column_int64(st, 8);
}

enum err admin_staff_get(struct db *db, const char *id, struct admin_staff *out)
{
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db, "SELECT " STAFF_COLUMNS " FROM staff WHERE id = ?1", &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, id);
	e = db_step_row(st);
	if (e == ERR_OK)
		staff_from_row(st, out);
	db_done(st);
	return e;
}

json_t *admin_staff_json(const struct admin_staff *s)
{
	char c[32], u[32], d[32], l[32];
	return json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:s?, s:s?}", "id", s->id, "email",
			 s->email, "name", s->name, "role", admin_role_name(s->role), "active",
			 s->active, "created_at", clock_format(s->created_at, c, sizeof c),
			 "updated_at", clock_format(s->updated_at, u, sizeof u), "disabled_at",
			 s->disabled_at ? clock_format(s->disabled_at, d, sizeof d) : NULL,
			 "last_signin_at",
			 s->last_signin_at ? clock_format(s->last_signin_at, l, sizeof l) : NULL);
}

static enum err count_active_admins(struct db *db, int64_t *n)
{
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db, "SELECT count(*) FROM staff WHERE role = 'admin' AND active = 1", &st);
	if (e != ERR_OK)
		return e;
	e = db_step_row(st);
	*n = e == ERR_OK ? db_column_int64(st, 0) : 0;
	db_done(st);
	return e;
}

/* ---- the resolver ---- */

enum err admin_resolve_staff(struct db *db, const char *staff_id, const char *session_id,
			     int *role)
{
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db,
				"SELECT s.role FROM staff_sessions ss JOIN staff s ON s.id = ss.staff_id"
				" WHERE ss.id = ?1 AND ss.staff_id = ?2 AND ss.revoked_at IS NULL"
				" AND ss.expires_at > ?3 AND s.active = 1",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, session_id);
	db_bind_text(st, 2, staff_id);
	db_bind_int64(st, 3, clock_now());
	e = db_step_row(st);
	if (e == ERR_OK)
		*role = admin_role_parse(db_column_text(st, 0));
	db_done(st);
	if (e == ERR_NOT_FOUND)
		return ERR_INVALID_TOKEN;
	return e;
}

/* ---- sign-in ---- */

struct found {
	bool known;
	char id[IDS_MAX];
	char hash[AUTH_PWHASH_MAX];
	bool active;
};

static enum err find_by_email(struct db *db, const char *norm, struct found *f)
{
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db, "SELECT id, password_hash, active FROM staff WHERE email_norm = ?1", &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, norm);
	e = db_step_row(st);
	if (e == ERR_OK) {
		f->known = true;
		snprintf(f->id, sizeof f->id, "%s", db_column_text(st, 0));
		snprintf(f->hash, sizeof f->hash, "%s", db_column_text(st, 1));
		f->active = db_column_int64(st, 2) != 0;
	}
	db_done(st);
	return e == ERR_NOT_FOUND ? ERR_OK : e;
}

struct signin_ctx {
	const struct found *f;
	struct admin_signin *out;
};

static enum err accept_signin(struct db *db, const char *new_hash, void *arg)
{
	struct signin_ctx *s = arg;
	struct db_stmt *st = NULL;
	int64_t now = clock_now();
	/* The password was checked against this hash outside the transaction;
	 * if it changed since, the password given is no longer the password. */
	enum err e = db_prepare(db,
				"UPDATE staff SET last_signin_at = ?3,"
				" password_hash = COALESCE(?4, password_hash)"
				" WHERE id = ?1 AND password_hash = ?2 AND active = 1",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, s->f->id);
	db_bind_text(st, 2, s->f->hash);
	db_bind_int64(st, 3, now);
	db_bind_text(st, 4, new_hash);
	e = db_step_done(st);
	db_done(st);
	if (e != ERR_OK)
		return e;
	if (db_changes(db) == 0)
		return ERR_INVALID_CREDENTIALS;
	e = ids_new("sts_", s->out->session_id, sizeof s->out->session_id);
	if (e == ERR_OK)
		e = auth_staff_token(s->f->id, s->out->session_id, s->out->access_token,
				     sizeof s->out->access_token, &s->out->expires_in);
	if (e != ERR_OK)
		return e;
	e = db_prepare(db,
		       "INSERT INTO staff_sessions (id, staff_id, created_at, expires_at)"
		       " VALUES (?1, ?2, ?3, ?4)",
		       &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, s->out->session_id);
	db_bind_text(st, 2, s->f->id);
	db_bind_int64(st, 3, now);
	db_bind_int64(st, 4, now + s->out->expires_in);
	e = db_step_done(st);
	db_done(st);
	if (e == ERR_OK)
		e = events_emit(db, "staff.signed_in", s->f->id,
				json_pack("{s:s}", "session_id", s->out->session_id));
	if (e == ERR_OK)
		e = admin_staff_get(db, s->f->id, &s->out->staff);
	return e;
}

/* Staff sign-in stops at the first blocked key: the network's, then the
 * staff member's, and reports that key's wait. */
static enum err throttle_check_in_turn(struct db *db, const char *ip_key, const char *staff_key,
				       int64_t *retry_after)
{
	enum err e = throttle_check(db, ip_key, retry_after);
	if (e == ERR_OK)
		e = throttle_check(db, staff_key, retry_after);
	return e;
}

static void hash_hex(const char *s, char out[65])
{
	unsigned char h[32];
	crypto_generichash(h, sizeof h, (const unsigned char *)s, strlen(s), NULL, 0);
	sodium_bin2hex(out, 65, h, sizeof h);
}

enum err admin_signin(struct db *db, const char *email, const char *password,
		      const struct netaddr *client, struct admin_signin *out, int64_t *retry_after)
{
	struct found f = {0};
	char addr[ADMIN_EMAIL_MAX + 1], norm[ADMIN_EMAIL_MAX + 1];
	char staff_key[96], ip_key[96], net[NETADDR_STRLEN];
	enum err e = ERR_OK;
	*retry_after = 0;
	memset(out, 0, sizeof *out);
	if (admin_email_parse(email, addr, norm))
		e = find_by_email(db, norm, &f);
	else
		snprintf(norm, sizeof norm, "%.*s", ADMIN_EMAIL_MAX, email);
	if (e != ERR_OK)
		goto out;
	if (f.known) {
		snprintf(staff_key, sizeof staff_key, "staff-signin:staff:%s", f.id);
	} else {
		char h[65];
		hash_hex(norm, h);
		snprintf(staff_key, sizeof staff_key, "staff-signin:email:%.32s", h);
	}
	netaddr_prefix(client, 32, 64, net, sizeof net);
	snprintf(ip_key, sizeof ip_key, "staff-signin:ip:%s", net);

	struct signin_ctx s = {&f, out};
	const struct auth_credential_check check = {
		.hash = f.known ? f.hash : NULL,
		.is_active = f.active,
		.inactive_error = ERR_FORBIDDEN,
		.subject_key = staff_key,
		.ip_key = ip_key,
		.subject_rule = &settings.signin_staff,
		.ip_rule = &settings.signin_ip,
		.throttle_check = throttle_check_in_turn,
		.accept = accept_signin,
		.ctx = &s,
	};
	e = auth_credentials_check(db, password, &check, retry_after);
out:
	sodium_memzero(f.hash, sizeof f.hash);
	if (e != ERR_OK)
		sodium_memzero(out->access_token, sizeof out->access_token);
	return e;
}

/* Revoke every live sign-in of `staff_id` (or only `session_id`). */
static enum err revoke_sessions(struct db *db, const char *staff_id, const char *session_id,
				const char *why, int64_t *count)
{
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db,
				"UPDATE staff_sessions SET revoked_at = ?3, revoke_reason = ?4"
				" WHERE staff_id = ?1 AND (?2 IS NULL OR id = ?2) AND revoked_at IS NULL",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, staff_id);
	db_bind_text(st, 2, session_id);
	db_bind_int64(st, 3, clock_now());
	db_bind_text(st, 4, why);
	e = db_step_done(st);
	db_done(st);
	if (count)
		*count = e == ERR_OK ? db_changes(db) : 0;
	return e;
}

struct signout_tx {
	const char *staff_id;
	const char *session_id;
};

static enum err signout_fn(struct db *db, void *arg)
{
	struct signout_tx *s = arg;
	int64_t n = 0;
	enum err e = revoke_sessions(db, s->staff_id, s->session_id, "sign_out", &n);
	if (e == ERR_OK && n == 0)
		e = ERR_NOT_FOUND;
	if (e == ERR_OK)
		e = events_emit(db, "staff.signed_out", s->staff_id,
				json_pack("{s:s}", "session_id", s->session_id));
	return e;
}

enum err admin_signout(struct db *db, const char *staff_id, const char *session_id)
{
	struct signout_tx s = {staff_id, session_id};
	return db_transaction(db, signout_fn, &s);
}

/* ---- management ---- */

struct create_tx {
	const char *by;
	const char *reason;
	const char *email;
	const char *norm;
	const char *name;
	int role;
	const char *password_hash;
	bool bootstrap;
	bool force;
	struct admin_staff *out;
};

static enum err create_fn(struct db *db, void *arg)
{
	struct create_tx *c = arg;
	struct db_stmt *st = NULL;
	char id[IDS_MAX];
	enum err e;
	if (c->bootstrap && !c->force) {
		int64_t admins = 0;
		e = count_active_admins(db, &admins);
		if (e != ERR_OK)
			return e;
		if (admins > 0)
			return ERR_CONFLICT;
	}
	e = ids_new("stf_", id, sizeof id);
	if (e != ERR_OK)
		return e;
	int64_t now = clock_now();
	e = db_prepare(db,
		       "INSERT INTO staff (id, email, email_norm, name, password_hash, role, active,"
		       " created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, ?7)",
		       &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, id);
	db_bind_text(st, 2, c->email);
	db_bind_text(st, 3, c->norm);
	db_bind_text(st, 4, c->name ? c->name : "");
	db_bind_text(st, 5, c->password_hash);
	db_bind_text(st, 6, admin_role_name(c->role));
	db_bind_int64(st, 7, now);
	e = db_step_done(st);
	db_done(st);
	if (e == ERR_CONFLICT)
		return ERR_EMAIL_TAKEN;
	if (e != ERR_OK)
		return e;
	/* Staff are not members: their email may stand in the audit log. */
	e = admin_audit(db, c->by, c->bootstrap ? (c->force ? "staff.bootstrap_forced" : "staff.bootstrap")
						 : "staff.create",
			"staff", id, c->reason, NULL,
			json_pack("{s:s, s:s, s:s, s:b}", "email", c->email, "name", c->name ? c->name : "",
				  "role", admin_role_name(c->role), "active", 1));
	if (e == ERR_OK)
		e = events_emit(db, "staff.created", id, json_pack("{s:s}", "role", admin_role_name(c->role)));
	if (e == ERR_OK)
		e = admin_staff_get(db, id, c->out);
	return e;
}

enum err admin_staff_create(struct db *db, const char *by, const char *reason,
			    const struct admin_staff_new *in, struct admin_staff *out)
{
	char email[ADMIN_EMAIL_MAX + 1], norm[ADMIN_EMAIL_MAX + 1];
	if (!admin_email_parse(in->email, email, norm))
		return ERR_VALIDATION;
	struct create_tx c = {by, reason, email, norm, in->name, in->role, in->password_hash,
			      false, false, out};
	return db_transaction(db, create_fn, &c);
}

enum err admin_staff_bootstrap(struct db *db, const char *email_in, const char *name,
			       const char *password_hash, bool force, const char *reason,
			       struct admin_staff *out)
{
	char email[ADMIN_EMAIL_MAX + 1], norm[ADMIN_EMAIL_MAX + 1];
	if (!admin_email_parse(email_in, email, norm))
		return ERR_VALIDATION;
	struct create_tx c = {ADMIN_BOOTSTRAP_STAFF, reason, email, norm, name, ADMIN_ROLE_ADMIN,
			      password_hash, true, force, out};
	return db_transaction(db, create_fn, &c);
}

enum err admin_staff_list(struct db *db, int64_t limit, const char *starting_after, json_t **rows,
			  bool *has_more)
{
	struct db_stmt *st = NULL;
	char after_email[ADMIN_EMAIL_MAX + 1] = "";
	json_t *out = NULL;
	bool row = false;
	int64_t n = 0;
	enum err e = ERR_OK;
	*has_more = false;
	if (starting_after) {
		e = db_prepare(db, "SELECT email_norm FROM staff WHERE id = ?1", &st);
		if (e != ERR_OK)
			return e;
		db_bind_text(st, 1, starting_after);
		e = db_step_row(st);
		if (e == ERR_OK)
			snprintf(after_email, sizeof after_email, "%s", db_column_text(st, 0));
		db_done(st);
		st = NULL;
		if (e == ERR_NOT_FOUND)
			return ERR_INVALID_PARAMETER;
		if (e != ERR_OK)
			return e;
	}
	out = json_array();
	e = db_prepare(db, "SELECT " STAFF_COLUMNS " FROM staff WHERE email_norm > ?1"
			   " ORDER BY email_norm LIMIT ?2",
		       &st);
	if (e != ERR_OK)
		goto out;
	db_bind_text(st, 1, after_email);
	db_bind_int64(st, 2, limit + 1);
	while ((e = db_step(st, &row)) == ERR_OK && row) {
		if (n++ == limit) {
			*has_more = true;
			break;
		}
		struct admin_staff s = {0};
		staff_from_row(st, &s);
		json_array_append_new(out, admin_staff_json(&s));
	}
out:
	db_done(st);
	if (e != ERR_OK) {
		json_decref(out);
		return e;
	}
	*rows = out;
	return ERR_OK;
}

struct change_tx {
	const char *by;
	const char *reason;
	const char *id;
	int role;	/* set-role: the new role; disable: ADMIN_ROLE_NONE */
	struct admin_staff *out;
};

/* ERR_INVALID_STATE when `s` is the last active admin, who may neither be
 * disabled nor lose the role: someone must always be able to manage staff. */
static enum err keep_an_admin(struct db *db, const struct admin_staff *s)
{
	if (s->role != ADMIN_ROLE_ADMIN || !s->active)
		return ERR_OK;
	int64_t admins = 0;
	enum err e = count_active_admins(db, &admins);
	if (e == ERR_OK && admins <= 1)
		e = ERR_INVALID_STATE;
	return e;
}

static enum err disable_fn(struct db *db, void *arg)
{
	struct change_tx *c = arg;
	struct admin_staff before = {0};
	struct db_stmt *st = NULL;
	enum err e = admin_staff_get(db, c->id, &before);
	if (e != ERR_OK)
		return e;
	if (!before.active) {
		*c->out = before;
		return ERR_OK;
	}
	if (strcmp(c->by, c->id) == 0)
		return ERR_INVALID_STATE;
	e = keep_an_admin(db, &before);
	if (e != ERR_OK)
		return e;
	int64_t now = clock_now();
	e = db_prepare(db, "UPDATE staff SET active = 0, disabled_at = ?2, updated_at = ?2 WHERE id = ?1", &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, c->id);
	db_bind_int64(st, 2, now);
	e = db_step_done(st);
	db_done(st);
	int64_t revoked = 0;
	if (e == ERR_OK)
		e = revoke_sessions(db, c->id, NULL, "staff_disabled", &revoked);
	if (e == ERR_OK)
		e = admin_audit(db, c->by, "staff.disable", "staff", c->id, c->reason,
				json_pack("{s:b}", "active", 1),
				json_pack("{s:b, s:I}", "active", 0, "sessions_revoked", (json_int_t)revoked));
	if (e == ERR_OK)
		e = events_emit(db, "staff.disabled", c->id, NULL);
	if (e == ERR_OK)
		e = admin_staff_get(db, c->id, c->out);
	return e;
}

enum err admin_staff_disable(struct db *db, const char *by, const char *reason, const char *id,
			     struct admin_staff *out)
{
	struct change_tx c = {by, reason, id, ADMIN_ROLE_NONE, out};
	return db_transaction(db, disable_fn, &c);
}

static enum err set_role_fn(struct db *db, void *arg)
{
	struct change_tx *c = arg;
	struct admin_staff before = {0};
	struct db_stmt *st = NULL;
	enum err e = admin_staff_get(db, c->id, &before);
	if (e != ERR_OK)
		return e;
	if (before.role == c->role) {
		*c->out = before;
		return ERR_OK;
	}
	e = keep_an_admin(db, &before);
	if (e != ERR_OK)
		return e;
	e = db_prepare(db, "UPDATE staff SET role = ?2, updated_at = ?3 WHERE id = ?1", &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, c->id);
	db_bind_text(st, 2, admin_role_name(c->role));
	db_bind_int64(st, 3, clock_now());
	e = db_step_done(st);
	db_done(st);
	if (e == ERR_OK)
		e = admin_audit(db, c->by, "staff.set_role", "staff", c->id, c->reason,
				json_pack("{s:s}", "role", admin_role_name(before.role)),
				json_pack("{s:s}", "role", admin_role_name(c->role)));
	if (e == ERR_OK)
		e = events_emit(db, "staff.role_changed", c->id,
				json_pack("{s:s, s:s}", "from", admin_role_name(before.role), "to",
					  admin_role_name(c->role)));
	if (e == ERR_OK)
		e = admin_staff_get(db, c->id, c->out);
	return e;
}

enum err admin_staff_set_role(struct db *db, const char *by, const char *reason, const char *id,
			      int role, struct admin_staff *out)
{
	struct change_tx c = {by, reason, id, role, out};
	return db_transaction(db, set_role_fn, &c);
}
