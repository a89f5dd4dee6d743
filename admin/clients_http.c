/*
 * clients_http.c - staff routes for the OAuth clients of the device login
 * flow: register a client, list them, disable one.  Registering and
 * disabling decide which apps may sign TVs in, so they need the admin role
 * and a reason, and each writes one audit row in the transaction that
 * makes the change; listing is agent work (support checks whether an app
 * is disabled).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin_int.h"
#include "auth/auth.h"
#include "core/clock.h"
#include "core/jsonv.h"

static json_t *grants_json(unsigned grants)
{
	json_t *a = json_array();
	if (grants & AUTH_GRANT_DEVICE_CODE)
		json_array_append_new(a, json_string("device_code"));
	if (grants & AUTH_GRANT_REFRESH_TOKEN)
		json_array_append_new(a, json_string("refresh_token"));
	return a;
}

static json_t *client_json(const struct auth_oauth_client *c)
{
	return json_pack("{s:s, s:s, s:s, s:o, s:b, s:o, s:o}", "client_id", c->id, "name", c->name,
			 "device_type", c->device_type, "grant_types", grants_json(c->grants), "active",
			 c->active, "created_at", clock_json_or_null(c->created_at), "disabled_at",
			 clock_json_or_null(c->disabled_at));
}

/* ---- POST /admin/v1/clients ---- */

struct add_tx {
	const struct admin_ctx *ctx;
	const struct auth_oauth_client *in;
	struct auth_oauth_client out;
	const char *field;
};

static enum err add_fn(struct db *db, void *arg)
{
	struct add_tx *t = arg;
	char grants[64];
	enum err e = auth_oauth_client_add(db, t->in, &t->out, &t->field);
	if (e != ERR_OK)
		return e;
	return admin_audit(db, t->ctx->staff_id, "oauth_client.create", "oauth_client", t->out.id,
			   t->ctx->reason, NULL,
			   json_pack("{s:s, s:s, s:s, s:b}", "name", t->out.name, "device_type",
				     t->out.device_type, "grant_types",
				     auth_grants_format(t->out.grants, grants, sizeof grants), "active", 1));
}

/* The grant_types member: absent means both grants; else an array of
 * grant names.  False (with an error recorded in `v`) when malformed. */
static bool read_grants(struct jv *v, json_t *body, unsigned *grants)
{
	json_t *a = json_object_get(body, "grant_types");
	*grants = AUTH_GRANT_DEVICE_CODE | AUTH_GRANT_REFRESH_TOKEN;
	if (!a)
		return true;
	if (!json_is_array(a) || json_array_size(a) == 0 || json_array_size(a) > 4) {
		jv_error(v, "grant_types", "wrong_type", "Must be an array of grant names");
		return false;
	}
	*grants = 0;
	size_t i;
	json_t *g;
	json_array_foreach(a, i, g) {
		const char *s = json_string_value(g);
		unsigned one = 0;
		if (!s || strchr(s, ' ') || !auth_grants_parse(s, &one)) {
			jv_error(v, "grant_types", "invalid_choice", "Grants are device_code and refresh_token");
			return false;
		}
		*grants |= one;
	}
	return true;
}

static void client_add(struct http_req *req, const struct admin_ctx *ctx)
{
	static const char *const allowed[] = {"client_id", "name", "device_type", "grant_types", NULL};
	static const char *const types[] = {"tv", "phone", "tablet", "web", "console", NULL};
	struct auth_oauth_client in;
	struct jv v;
	const char *id = NULL, *name = NULL, *type = NULL;
	memset(&in, 0, sizeof in);
	jv_init(&v, http_json(req));
	jv_reject_unknown(&v, allowed);
	jv_string(&v, "client_id", JV_REQUIRED, 1, AUTH_CLIENT_ID_MAX, &id);
	jv_string(&v, "name", JV_REQUIRED, 1, AUTH_CLIENT_NAME_MAX * 4, &name);
	jv_enum(&v, "device_type", JV_REQUIRED, types, &type);
	read_grants(&v, http_json(req), &in.grants);
	if (!http_valid_or_reply(req, &v))
		return;
	snprintf(in.id, sizeof in.id, "%s", id);
	snprintf(in.name, sizeof in.name, "%s", name);
	snprintf(in.device_type, sizeof in.device_type, "%s", type);
	struct add_tx t;
	memset(&t, 0, sizeof t);
	t.ctx = ctx;
	t.in = &in;
	enum err e = db_transaction(db_thread(), add_fn, &t);
	if (e == ERR_VALIDATION) {
		const char *msg = "Must be 1 to 64 characters without control characters";
		if (t.field && strcmp(t.field, "client_id") == 0)
			msg = "Must be 1 to 64 of a-z, 0-9, '.', '_' and '-', starting with a letter or digit";
		else if (t.field && strcmp(t.field, "grant_types") == 0)
			msg = "Must include device_code";
		http_reply_invalid(req, json_pack("[{s:s, s:s, s:s}]", "field", t.field ? t.field : "body",
						  "code", "invalid_format", "message", msg));
	} else if (e == ERR_CONFLICT) {
		http_reply_problem(req, e, "A client with this client_id exists");
	} else if (e != ERR_OK) {
		http_reply_problem(req, e, NULL);
	} else {
		http_reply_json(req, 201, client_json(&t.out));
	}
}

/* ---- GET /admin/v1/clients ---- */

static void client_list(struct http_req *req, const struct admin_ctx *ctx)
{
	int64_t limit = 0;
	const char *after = NULL;
	struct auth_oauth_client *rows = NULL;
	size_t n = 0;
	bool more = false;
	(void)ctx;
	if (!http_page_params_or_reply(req, &limit, &after))
		return;
	enum err e = auth_oauth_clients_list(db_thread(), limit, after, &rows, &n, &more);
	if (e != ERR_OK) {
		http_reply_problem(req, e, NULL);
		return;
	}
	json_t *data = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(data, client_json(&rows[i]));
	free(rows);
	http_reply_json(req, 200, json_pack("{s:o, s:b}", "data", data, "has_more", more));
}

/* ---- POST /admin/v1/clients/{id}/disable ---- */

struct disable_tx {
	const struct admin_ctx *ctx;
	const char *id;
	struct auth_oauth_client out;
};

static enum err disable_fn(struct db *db, void *arg)
{
	struct disable_tx *t = arg;
	struct auth_oauth_client before;
	enum err e = auth_oauth_client_get(db, t->id, &before);
	if (e == ERR_OK)
		e = auth_oauth_client_disable(db, t->id, t->ctx->reason, &t->out);
	if (e != ERR_OK)
		return e;
	return admin_audit(db, t->ctx->staff_id, "oauth_client.disable", "oauth_client", t->out.id,
			   t->ctx->reason, json_pack("{s:b}", "active", before.active),
			   json_pack("{s:b}", "active", 0));
}

static void client_disable(struct http_req *req, const struct admin_ctx *ctx)
{
	struct disable_tx t;
	memset(&t, 0, sizeof t);
	t.ctx = ctx;
	t.id = http_param(req, "id");
	enum err e = db_transaction(db_thread(), disable_fn, &t);
	if (e == ERR_NOT_FOUND)
		http_reply_problem(req, e, "No client has this client_id");
	else if (e != ERR_OK)
		http_reply_problem(req, e, NULL);
	else
		http_reply_json(req, 200, client_json(&t.out));
}

void admin_clients_http_register(void)
{
	admin_route("POST", "/admin/v1/clients", client_add, HTTP_JSON_BODY | HTTP_IDEMPOTENT,
		    ADMIN_ROLE_ADMIN, ADMIN_CHANGE);
	admin_route("GET", "/admin/v1/clients", client_list, 0, ADMIN_ROLE_AGENT, ADMIN_READ);
	admin_route("POST", "/admin/v1/clients/{id}/disable", client_disable, 0, ADMIN_ROLE_ADMIN,
		    ADMIN_CHANGE);
}
