/*
 * admin.h - the support-staff area's contract with the rest of Hearth:
 * staff roles and the one table of admin routes, the audit log, and the
 * hooks other areas use to add their part of an account to the staff tools
 * (the account page, search, export and erasure).
 *
 * Invariants:
 * - Every /admin/v1 route is registered with admin_route(), which records
 *   the minimum role it needs in one table (admin_route_at() walks it) and
 *   checks that role on every request: below it the answer is 403
 *   forbidden_role.  No admin handler checks a role itself.
 * - Every route that changes something is registered with ADMIN_CHANGE: the
 *   request must carry an X-Hearth-Reason header (1..500 bytes after
 *   trimming, UTF-8) or is refused with 400 reason_required before the
 *   handler runs, and the handler writes one audit row with admin_audit()
 *   in the same transaction as the change.
 * - Audit rows are never updated or deleted (database triggers refuse it)
 *   and never hold a member's personal data: before/after carry states and
 *   flags, not names, addresses or numbers.
 */
#ifndef HEARTH_ADMIN_ADMIN_H
#define HEARTH_ADMIN_ADMIN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/config.h"
#include "core/db.h"
#include "core/ids.h"
#include "server/http.h"

/* Role ranks: each role may do everything the ones below it may.  The rank
 * is what http_route() takes as `role` and what http_auth()->role holds. */
enum admin_role {
	ADMIN_ROLE_NONE = 0,	   /* no staff token needed (staff sign-in) */
	ADMIN_ROLE_AGENT = 1,
	ADMIN_ROLE_SUPERVISOR = 2,
	ADMIN_ROLE_ADMIN = 3,
};

#define ADMIN_REASON_MAX 500	/* bytes of X-Hearth-Reason after trimming */
#define ADMIN_BOOTSTRAP_STAFF "bootstrap" /* staff_id of rows written on the host */

/* "agent", "supervisor", "admin" ("none" for ADMIN_ROLE_NONE, "?" otherwise). */
const char *admin_role_name(int rank);

/* The rank of a role name, or ADMIN_ROLE_NONE when it is not one. */
int admin_role_parse(const char *name);

/* Read the settings (sign-in throttling).  Call once at start. */
enum err admin_init(const struct config *cfg);

/* ---- routes ---- */

/* What an admin handler knows about the request beyond http_req. */
struct admin_ctx {
	const char *staff_id;	/* the signed-in staff member ("" on ADMIN_ROLE_NONE routes) */
	int role;		/* their rank */
	const char *reason;	/* trimmed X-Hearth-Reason on ADMIN_CHANGE routes, else NULL */
};

typedef void (*admin_handler)(struct http_req *req, const struct admin_ctx *ctx);

enum admin_route_kind {
	ADMIN_READ,	/* reads only, or changes only the caller's own sign-in */
	ADMIN_CHANGE,	/* changes state: reason required, audited */
};

/* Register an admin route: `pattern` under /admin/v1, `flags` as for
 * http_route() (HTTP_AUTH_STAFF is added unless `min_role` is
 * ADMIN_ROLE_NONE), `min_role` the lowest role allowed.  Call before the
 * server starts; other areas add their staff routes the same way. */
void admin_route(const char *method, const char *pattern, admin_handler fn, unsigned flags,
		 int min_role, enum admin_route_kind kind);

/* One row of the role table. */
struct admin_route_info {
	const char *method;
	const char *pattern;
	int min_role;
	enum admin_route_kind kind;
};

/* The role table, in registration order: admin_route_count() rows. */
size_t admin_route_count(void);
const struct admin_route_info *admin_route_at(size_t i);

/* ---- audit ---- */

/* Append one audit row: `staff_id` did `action` ("account.lock") to
 * `target_type`/`target_id` because of `reason`; `before` and `after` (stolen,
 * may be NULL) hold the changed fields.  The request id is the calling
 * thread's (core/log.h).  Must run inside the caller's transaction. */
enum err admin_audit(struct db *db, const char *staff_id, const char *action,
		     const char *target_type, const char *target_id, const char *reason,
		     json_t *before, json_t *after);

/* ---- account sections: how other areas join the staff account tools ---- */

/* An area that holds something about a member (billing: subscription and
 * invoices; households: the household and sharing signals) registers one
 * section.  Every function may be NULL; each runs on the request's
 * connection, `erase` inside the erasure's transaction. */
struct admin_account_section {
	const char *name;	/* member of the account page and of the export ("invoices") */
	/* What staff see on GET /admin/v1/accounts/{id}: *out a new JSON value. */
	enum err (*show)(struct db *db, const char *account_id, json_t **out);
	/* Every personal field the area holds about the member (export). */
	enum err (*export_data)(struct db *db, const char *account_id, json_t **out);
	/* Remove or anonymize the member's personal data (erasure); keep what
	 * law requires, such as invoices, without personal data. */
	enum err (*erase)(struct db *db, const char *account_id);
	/* Find the account a search term names (an invoice number...):
	 * ERR_OK with `account_id` (IDS_MAX bytes) or ERR_NOT_FOUND. */
	enum err (*search)(struct db *db, const char *query, char *account_id);
};

/* Add a section (the struct is borrowed for the life of the process).  Call
 * before the server starts.  At most 16. */
void admin_account_section_add(const struct admin_account_section *s);

/* ---- staff bootstrap (hearthctl on the server host) ---- */

struct admin_staff {
	char id[IDS_MAX];
	char email[255];
	char name[129];
	int role;
	bool active;
	int64_t created_at;
	int64_t updated_at;
	int64_t disabled_at;	/* 0 when active */
	int64_t last_signin_at;	/* 0 when never */
};

/* Create an admin directly on the database (the first admin of a fresh
 * install).  `password_hash` is an auth_password_hash() string.  Refused
 * with ERR_CONFLICT when an active admin exists, unless `force`; either way
 * an audit row by ADMIN_BOOTSTRAP_STAFF records it with `reason`.
 * ERR_EMAIL_TAKEN when a staff member has the email; ERR_VALIDATION when
 * the email is malformed.  Runs its own transaction. */
enum err admin_staff_bootstrap(struct db *db, const char *email, const char *name,
			       const char *password_hash, bool force, const char *reason,
			       struct admin_staff *out);

/* Staff as JSON ({id, email, name, role, active, created_at, ...}). */
json_t *admin_staff_json(const struct admin_staff *s);

/* ---- HTTP ---- */

/* Register every /admin/v1 route of this area and install the staff
 * resolver (auth_set_staff_resolver).  Call after auth_http_register(). */
void admin_http_register(void);

#endif
