/*
 * admin_int.h - private to the support-staff area: the settings, the staff
 * and staff sign-in functions behind the HTTP adapter, the reason helper,
 * audit reads, and the registered account sections.  Other areas use
 * admin/admin.h only.
 */
#ifndef HEARTH_ADMIN_ADMIN_INT_H
#define HEARTH_ADMIN_ADMIN_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "admin/admin.h"
#include "auth/auth.h"
#include "core/netaddr.h"
#include "core/throttle.h"

#define ADMIN_NAME_MAX 128	/* staff name, bytes */
#define ADMIN_EMAIL_MAX 254
#define ADMIN_SECTIONS_MAX 16

struct admin_settings {
	struct throttle_rule signin_staff;	/* failures per staff member (or unknown email) */
	struct throttle_rule signin_ip;		/* failures per client network */
};
const struct admin_settings *admin_settings(void);

/* ---- roles.c ---- */

/* The registered account sections (admin_account_section_add). */
size_t admin_section_count(void);
const struct admin_account_section *admin_section_at(size_t i);

/* ---- audit.c ---- */

/* Read X-Hearth-Reason: trimmed of spaces and tabs into `out` (cap >
 * ADMIN_REASON_MAX).  Replies 400 reason_required when it is missing or
 * empty, 400 invalid_request when longer than ADMIN_REASON_MAX bytes or not
 * UTF-8, and returns false then. */
bool admin_reason_or_reply(struct http_req *req, char *out, size_t cap);

struct admin_audit_filter {
	const char *target_id;	/* NULL: any */
	const char *staff_id;	/* NULL: any */
	int64_t since;		/* created_at >= since; 0: any */
	int64_t before_id;	/* rows with id < before_id (cursor); 0: from the newest */
	int64_t limit;
};

/* Audit rows matching `f`, newest first, as a JSON array in *rows (new
 * reference) and whether more follow. */
enum err admin_audit_list(struct db *db, const struct admin_audit_filter *f, json_t **rows,
			  bool *has_more);

/* ---- staff.c ---- */

/* Trim and check a staff email; writes the trimmed form to `email` and the
 * lowercased one to `norm` (ADMIN_EMAIL_MAX + 1 bytes each).  False when
 * malformed. */
bool admin_email_parse(const char *in, char *email, char *norm);

/* The staff member `id`: ERR_OK or ERR_NOT_FOUND. */
enum err admin_staff_get(struct db *db, const char *id, struct admin_staff *out);

struct admin_signin {
	char access_token[AUTH_TOKEN_MAX];
	int64_t expires_in;
	char session_id[IDS_MAX];
	struct admin_staff staff;
};

/* Staff sign-in with email and password, throttled per staff member and per
 * client network like member sign-in.  ERR_INVALID_CREDENTIALS (unknown
 * email and wrong password cost and answer the same), ERR_TOO_MANY_ATTEMPTS
 * with *retry_after, ERR_FORBIDDEN for a disabled staff member who gave the
 * right password.  Hashes: call from an offloaded handler. */
enum err admin_signin(struct db *db, const char *email, const char *password,
		      const struct netaddr *client, struct admin_signin *out, int64_t *retry_after);

/* Revoke the staff sign-in `session_id` of `staff_id` (own transaction). */
enum err admin_signout(struct db *db, const char *staff_id, const char *session_id);

/* The resolver auth calls for staff tokens (auth_set_staff_resolver). */
enum err admin_resolve_staff(struct db *db, const char *staff_id, const char *session_id,
			     int *role);

struct admin_staff_new {
	const char *email;
	const char *name;	/* "" allowed */
	int role;
	const char *password_hash;
};

/* Create a staff member (own transaction, audited by `by` with `reason`).
 * ERR_EMAIL_TAKEN when the email is in use. */
enum err admin_staff_create(struct db *db, const char *by, const char *reason,
			    const struct admin_staff_new *in, struct admin_staff *out);

/* Staff, ordered by email, after `starting_after` (an id; NULL from the
 * start).  *rows is a new JSON array.  ERR_INVALID_PARAMETER for an unknown
 * cursor. */
enum err admin_staff_list(struct db *db, int64_t limit, const char *starting_after, json_t **rows,
			  bool *has_more);

/* Disable `id` and revoke its sign-ins (own transaction, audited).
 * ERR_NOT_FOUND; ERR_INVALID_STATE when it is `by` itself or the last
 * active admin.  Disabling a disabled member changes nothing. */
enum err admin_staff_disable(struct db *db, const char *by, const char *reason, const char *id,
			     struct admin_staff *out);

/* Give `id` the role `role` (own transaction, audited).  ERR_NOT_FOUND;
 * ERR_INVALID_STATE when it would leave no active admin. */
enum err admin_staff_set_role(struct db *db, const char *by, const char *reason, const char *id,
			      int role, struct admin_staff *out);

/* ---- account tools (account_tools.c) ---- */

#define ADMIN_SEARCH_MAX 20

/* Accounts a search term names: *out a new JSON array of {id, email, name,
 * phone, country, status, created_at, matched}, where matched says how
 * ("id", "email", "phone", "device" or a section's name). */
enum err admin_account_search(struct db *db, const char *query, json_t **out);

/* The whole picture of account `id` for staff: *out a new {account,
 * profiles, devices, sessions, sections: {name: ...}, audit: [...]}.
 * ERR_NOT_FOUND. */
enum err admin_account_show(struct db *db, const char *id, json_t **out);

/* Lock or unlock `id` (own transaction, audited).  Locking also ends every
 * sign-in; *revoked gets how many.  ERR_NOT_FOUND, ERR_INVALID_STATE (erased). */
enum err admin_account_lock(struct db *db, const struct admin_ctx *ctx, const char *id, bool lock,
			    int64_t *revoked);

/* End every sign-in of `id` (own transaction, audited). */
enum err admin_account_sign_out_all(struct db *db, const struct admin_ctx *ctx, const char *id,
				    int64_t *revoked);

/* Every piece of personal data about `id` as one document (audited as
 * account.export with `reason`, which may be NULL). */
enum err admin_account_export(struct db *db, const char *staff_id, const char *reason,
			      const char *id, json_t **out);

struct admin_erase_result {
	int64_t sessions_revoked;
	int64_t notifications_redacted;
};

/* Privacy erasure of `id` (own transaction, audited): accounts, auth,
 * notifications and every registered section erase their part.
 * ERR_NOT_FOUND; ERR_INVALID_STATE when already erased. */
enum err admin_account_erase(struct db *db, const struct admin_ctx *ctx, const char *id,
			     struct admin_erase_result *out);

/* Add the billing sections (subscription, invoices, payment methods on
 * the account page; all of billing in the export).  billing_section.c */
void admin_billing_sections_register(void);

/* Register the /admin/v1/accounts... routes. */
void admin_accounts_http_register(void);

/* clients_http.c: /admin/v1/clients (the device login flow's OAuth clients). */
void admin_clients_http_register(void);

/* The checks POST /admin/v1/staff makes on its JSON body before anything
 * touches the database, callable without a request so that the fuzz target
 * runs exactly them (fuzz/fuzz_admin_body.c).  Reads `v` (jv_init'd by the
 * caller on the JSON object), records every field error in it (unknown
 * fields included), and fills `out` with the valid values only; strings
 * borrow from the JSON or live in `out`.  The password policy is checked
 * after this (auth_password_policy). */
struct jv;
struct admin_staff_form {
	const char *email_in;	/* as sent */
	char email[ADMIN_EMAIL_MAX + 1], norm[ADMIN_EMAIL_MAX + 1];
	const char *name;	/* "" when absent */
	const char *role;	/* agent | supervisor | admin */
	const char *password;
};
void admin_staff_create_parse(struct jv *v, struct admin_staff_form *out);

#endif
