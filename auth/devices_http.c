/*
 * devices_http.c - the member's device registry: GET /v1/devices and
 * DELETE /v1/devices/{id} (sign that device out).
 */
#include <stdlib.h>
#include <string.h>

#include "auth/auth_int.h"
#include "core/clock.h"
#include "server/http.h"

static json_t *opt_str(const char *s) { return s && s[0] ? json_string(s) : json_null(); }

static json_t *device_json(const struct auth_device_row *r, const char *current_device)
{
	return json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:b}", "id", r->id, "name",
			 r->name, "type", r->type, "model", opt_str(r->model), "client_id",
			 opt_str(r->client_id), "last_profile_id", opt_str(r->last_profile_id),
			 "last_profile_name", opt_str(r->last_profile_name),
			 "last_network", opt_str(r->last_network), "first_seen_at",
			 clock_json(r->first_seen_at), "last_active_at", clock_json(r->last_seen_at),
			 "current", current_device && strcmp(r->id, current_device) == 0);
}

static enum err devices_page(struct db *db, const struct http_auth *a, int64_t limit,
			     const char *after, json_t *data, bool *has_more)
{
	struct auth_device_row *rows = NULL;
	size_t n = 0;
	enum err e = auth_devices_list(db, a->subject, limit, after, &rows, &n, has_more);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(data, device_json(&rows[i], a->device_id));
	free(rows);
	return e;
}

static void devices_list(struct http_req *req)
{
	auth_reply_member_page(req, devices_page, "starting_after is not one of your devices");
}

static void devices_delete(struct http_req *req)
{
	struct db *db = db_thread();
	enum err e = db ? auth_device_revoke(db, http_auth(req)->subject, http_param(req, "id"),
					     "device_revoked")
			: ERR_DB;
	if (e == ERR_NOT_FOUND) {
		http_reply_problem(req, e, "You have no device with this id");
		return;
	}
	if (e != ERR_OK) {
		http_reply_problem(req, e, NULL);
		return;
	}
	http_reply_empty(req, 204);
}

void auth_devices_http_register(void)
{
	http_route("GET", "/v1/devices", devices_list, HTTP_AUTH_MEMBER | HTTP_NO_STORE, 0);
	http_route("DELETE", "/v1/devices/{id}", devices_delete, HTTP_AUTH_MEMBER, 0);
}
