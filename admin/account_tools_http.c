/*
 * account_tools_http.c - the HTTP adapter of the staff account tools:
 * search, the account page, lock and unlock, sign-out of every device,
 * export and erasure.  Roles: reading, unlocking and signing out are agent
 * work; locking and erasure (irreversible) need a supervisor.
 */
#include <string.h>

#include "accounts/accounts.h"
#include "admin/admin_int.h"

static void reply_account_error(struct http_req *req, enum err e)
{
	if (e == ERR_NOT_FOUND)
		http_reply_problem(req, e, "No account has this id");
	else if (e == ERR_INVALID_STATE)
		http_reply_problem(req, e, "The account was erased");
	else
		http_reply_problem(req, e, NULL);
}

/* GET /admin/v1/accounts?query= */
static void search(struct http_req *req, const struct admin_ctx *ctx)
{
	const char *q = http_query(req, "query");
	json_t *rows = NULL;
	(void)ctx;
	if (!q || !*q || strlen(q) > 320) {
		http_reply_problem(req, ERR_INVALID_PARAMETER,
				   "query must be 1 to 320 characters: an email, account id, phone, device id or invoice number");
		return;
	}
	enum err e = admin_account_search(db_thread(), q, &rows);
	if (e != ERR_OK)
		http_reply_problem(req, e, NULL);
	else
		http_reply_json(req, 200, json_pack("{s:o, s:b}", "data", rows, "has_more", 0));
}

/* GET /admin/v1/accounts/{id} */
static void show(struct http_req *req, const struct admin_ctx *ctx)
{
	json_t *doc = NULL;
	(void)ctx;
	enum err e = admin_account_show(db_thread(), http_param(req, "id"), &doc);
	if (e != ERR_OK)
		reply_account_error(req, e);
	else
		http_reply_json(req, 200, doc);
}

static void lock_or_unlock(struct http_req *req, const struct admin_ctx *ctx, bool lock)
{
	struct acct_account a;
	int64_t revoked = 0;
	const char *id = http_param(req, "id");
	enum err e = admin_account_lock(db_thread(), ctx, id, lock, &revoked);
	if (e == ERR_OK)
		e = acct_get(db_thread(), id, &a);
	if (e != ERR_OK) {
		reply_account_error(req, e);
		return;
	}
	http_reply_json(req, 200,
			json_pack("{s:{s:s, s:s}, s:I}", "account", "id", a.id, "status", a.status,
				  "sessions_revoked", (json_int_t)revoked));
}

/* POST /admin/v1/accounts/{id}/lock */
static void lock(struct http_req *req, const struct admin_ctx *ctx) { lock_or_unlock(req, ctx, true); }

/* POST /admin/v1/accounts/{id}/unlock */
static void unlock(struct http_req *req, const struct admin_ctx *ctx) { lock_or_unlock(req, ctx, false); }

/* POST /admin/v1/accounts/{id}/sign-out-all */
static void sign_out_all(struct http_req *req, const struct admin_ctx *ctx)
{
	int64_t revoked = 0;
	const char *id = http_param(req, "id");
	enum err e = admin_account_sign_out_all(db_thread(), ctx, id, &revoked);
	if (e != ERR_OK)
		reply_account_error(req, e);
	else
		http_reply_json(req, 200, json_pack("{s:s, s:I}", "account_id", id, "sessions_revoked",
						    (json_int_t)revoked));
}

/* GET /admin/v1/accounts/{id}/export */
static void export_account(struct http_req *req, const struct admin_ctx *ctx)
{
	char reason[ADMIN_REASON_MAX + 1];
	const char *why = NULL;
	json_t *doc = NULL;
	/* A reason is optional on a read, but when given it is checked and kept. */
	if (http_header(req, "X-Hearth-Reason")) {
		if (!admin_reason_or_reply(req, reason, sizeof reason))
			return;
		why = reason;
	}
	enum err e = admin_account_export(db_thread(), ctx->staff_id, why, http_param(req, "id"), &doc);
	if (e != ERR_OK)
		reply_account_error(req, e);
	else
		http_reply_json(req, 200, doc);
}

/* POST /admin/v1/accounts/{id}/erase */
static void erase(struct http_req *req, const struct admin_ctx *ctx)
{
	struct admin_erase_result r;
	const char *id = http_param(req, "id");
	enum err e = admin_account_erase(db_thread(), ctx, id, &r);
	if (e == ERR_INVALID_STATE)
		http_reply_problem(req, e, "The account was already erased");
	else if (e != ERR_OK)
		reply_account_error(req, e);
	else
		http_reply_json(req, 200,
				json_pack("{s:s, s:s, s:I, s:I}", "account_id", id, "status", "erased",
					  "sessions_revoked", (json_int_t)r.sessions_revoked,
					  "notifications_redacted", (json_int_t)r.notifications_redacted));
}

void admin_accounts_http_register(void)
{
	admin_route("GET", "/admin/v1/accounts", search, 0, ADMIN_ROLE_AGENT, ADMIN_READ);
	admin_route("GET", "/admin/v1/accounts/{id}", show, 0, ADMIN_ROLE_AGENT, ADMIN_READ);
	admin_route("POST", "/admin/v1/accounts/{id}/lock", lock, 0, ADMIN_ROLE_SUPERVISOR, ADMIN_CHANGE);
	admin_route("POST", "/admin/v1/accounts/{id}/unlock", unlock, 0, ADMIN_ROLE_AGENT, ADMIN_CHANGE);
	admin_route("POST", "/admin/v1/accounts/{id}/sign-out-all", sign_out_all, 0, ADMIN_ROLE_AGENT,
		    ADMIN_CHANGE);
	admin_route("GET", "/admin/v1/accounts/{id}/export", export_account, HTTP_NO_STORE,
		    ADMIN_ROLE_AGENT, ADMIN_READ);
	admin_route("POST", "/admin/v1/accounts/{id}/erase", erase, 0, ADMIN_ROLE_SUPERVISOR, ADMIN_CHANGE);
}
