/*
 * API tests of the support-staff area against a real hearthd: the role
 * matrix (walking the server's own role table), reasons on every change,
 * audit rows and their immutability, staff sign-in and management, the
 * account tools, export completeness and erasure, the events feed and
 * notifications.
 *
 * One server for the suite; the fixture creates the first admin with
 * hearthctl on the database file, then a supervisor and an agent through
 * the API, and signs each in.  The server runs with --revocation-cache-ms 0
 * so that a revoked member sign-in fails on the very next request.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ids.h"
#include "tests/api/harness.h"

#define STAFF_PASSWORD "staff password for tests"
#define MEMBER_PASSWORD "a long member password"

static struct api_server srv;

struct staff {
	char id[IDS_MAX];
	char email[96];
	char token[1024];
	int rank;
};

/* Ranks as the admin area numbers them: agent 1, supervisor 2, admin 3. */
static struct staff admin, supervisor, agent;

static void copy(char *dst, size_t cap, const char *src)
{
	ck_assert_ptr_nonnull(src);
	ck_assert_uint_lt(strlen(src), cap);
	memcpy(dst, src, strlen(src) + 1);
}

static const char *const ctl_env[] = {"HEARTH_PWHASH_OPSLIMIT=1", "HEARTH_PWHASH_MEMLIMIT=8192", NULL};

static void staff_signin(struct staff *s)
{
	struct api_resp *r = api_json(&srv, "POST", "/admin/v1/sessions", NULL,
				      json_pack("{s:s, s:s}", "email", s->email, "password", STAFF_PASSWORD));
	ck_assert_status(r, 201);
	copy(s->token, sizeof s->token, api_str(r, "access_token"));
	copy(s->id, sizeof s->id, json_string_value(json_object_get(json_object_get(r->json, "staff"), "id")));
	api_resp_free(r);
}

/* Headers for a change: a reason, and optionally a request id. */
static struct api_resp *change(const char *method, const char *path, const char *token, json_t *body,
			       const char *reason, const char *request_id)
{
	char why[700], rid[128];
	const char *headers[3] = {NULL, NULL, NULL};
	int n = 0;
	if (reason) {
		snprintf(why, sizeof why, "X-Hearth-Reason: %s", reason);
		headers[n++] = why;
	}
	if (request_id) {
		snprintf(rid, sizeof rid, "X-Request-Id: %s", request_id);
		headers[n++] = rid;
	}
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	struct api_resp *r = api_request(&srv, method, path, token, text ? "application/json" : NULL, text,
					 headers);
	free(text);
	return r;
}

static void add_staff(struct staff *s, const char *email, const char *role, int rank)
{
	memset(s, 0, sizeof *s);
	copy(s->email, sizeof s->email, email);
	s->rank = rank;
	struct api_resp *r = change("POST", "/admin/v1/staff", admin.token,
				    json_pack("{s:s, s:s, s:s, s:s}", "email", email, "role", role, "name",
					      role, "password", STAFF_PASSWORD),
				    "fixture", NULL);
	ck_assert_status(r, 201);
	api_resp_free(r);
	staff_signin(s);
}

static void start(void)
{
	static const char *const flags[] = {"--revocation-cache-ms", "0", NULL};
	ck_assert_int_ge(sodium_init(), 0);
	api_start(&srv, flags);
	const char *argv[] = {"staff", "create", "--email", "admin@staff.test", "--role", "admin",
			      "--db", srv.db_path, "--name", "First Admin", "--password-stdin", NULL};
	char *out = NULL, *err = NULL;
	int rc = api_ctl(&srv, argv, ctl_env, STAFF_PASSWORD "\n", &out, &err);
	ck_assert_msg(rc == 0, "staff create: %s%s", out, err);
	free(out);
	free(err);
	memset(&admin, 0, sizeof admin);
	copy(admin.email, sizeof admin.email, "admin@staff.test");
	admin.rank = 3;
	staff_signin(&admin);
	add_staff(&supervisor, "super@staff.test", "supervisor", 2);
	add_staff(&agent, "agent@staff.test", "agent", 1);
}

static void stop(void) { ck_assert_int_eq(api_stop(&srv), 0); }

/* ---- members ---- */

struct member {
	char id[IDS_MAX];
	char email[96];
	char name[64];
	char phone[24];
	char device[IDS_MAX];
	char device_name[64];
	char profile_name[64];
	char model[48];
	char token[1024];
};

/* A member with every personal field; with `idempotency_key`, the sign-up
 * reply is also kept in the Idempotency-Key cache. */
static void seed_member_keyed(struct member *m, const char *idempotency_key)
{
	char tag[IDS_MAX];
	memset(m, 0, sizeof *m);
	ids_new("", tag, sizeof tag);
	tag[10] = '\0';
	snprintf(m->email, sizeof m->email, "Member.%s@Example.com", tag);
	snprintf(m->name, sizeof m->name, "Name%s Surname", tag);
	/* A unique E.164 number from the tag's characters. */
	unsigned long long digits = 0;
	for (int i = 0; i < 10; i++)
		digits = digits * 31 + (unsigned char)tag[i];
	snprintf(m->phone, sizeof m->phone, "+1%010llu", digits % 10000000000ULL);
	if (m->phone[2] == '0')
		m->phone[2] = '5';
	snprintf(m->device_name, sizeof m->device_name, "Den TV %s", tag);
	snprintf(m->profile_name, sizeof m->profile_name, "Kid%s", tag);
	snprintf(m->model, sizeof m->model, "Model-%s", tag);
	json_t *signup = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s}}", "email", m->email,
				   "password", MEMBER_PASSWORD, "country", "US", "name", m->name, "phone",
				   m->phone, "language", "pt-BR", "device", "name", m->device_name, "type", "tv",
				   "model", m->model);
	char *text = json_dumps(signup, JSON_COMPACT);
	json_decref(signup);
	char key[128];
	snprintf(key, sizeof key, "Idempotency-Key: %s", idempotency_key ? idempotency_key : "");
	const char *headers[] = {idempotency_key ? key : NULL, NULL};
	struct api_resp *r = api_request(&srv, "POST", "/v1/accounts", NULL, "application/json", text, headers);
	free(text);
	ck_assert_status(r, 201);
	copy(m->id, sizeof m->id, json_string_value(json_object_get(json_object_get(r->json, "account"), "id")));
	copy(m->token, sizeof m->token, api_str(r, "access_token"));
	copy(m->device, sizeof m->device,
	     json_string_value(json_object_get(json_object_get(json_object_get(r->json, "session"), "device"), "id")));
	api_resp_free(r);
	r = api_json(&srv, "POST", "/v1/profiles", m->token,
		     json_pack("{s:s, s:b}", "name", m->profile_name, "kids", 1));
	ck_assert_status(r, 201);
	api_resp_free(r);
}

static void seed_member(struct member *m) { seed_member_keyed(m, NULL); }

static int64_t audit_rows(void) { return api_db_int(&srv, "SELECT count(*) FROM audit_log", NULL); }
static int64_t event_rows(void) { return api_db_int(&srv, "SELECT count(*) FROM events", NULL); }

/* ---- the role matrix ---- */

/* A concrete path for a route pattern: every {param} becomes an id that
 * names nothing, so an allowed request ends in 404 or 422, never a change. */
static void concrete_path(const char *pattern, char *out, size_t cap)
{
	size_t o = 0;
	for (const char *p = pattern; *p && o + 40 < cap;) {
		if (*p == '{') {
			const char *e = strchr(p, '}');
			o += (size_t)snprintf(out + o, cap - o, "xyz_00000000000000000000000000000");
			p = e ? e + 1 : p + strlen(p);
		} else {
			out[o++] = *p++;
		}
	}
	out[o] = '\0';
}

static int rank_of(const char *role)
{
	if (strcmp(role, "agent") == 0)
		return 1;
	if (strcmp(role, "supervisor") == 0)
		return 2;
	if (strcmp(role, "admin") == 0)
		return 3;
	return 0;
}

static json_t *role_table(void)
{
	struct api_resp *r = api_get(&srv, "/admin/v1/roles", agent.token);
	ck_assert_status(r, 200);
	json_t *routes = json_incref(json_object_get(r->json, "routes"));
	api_resp_free(r);
	ck_assert_uint_gt(json_array_size(routes), 15);
	return routes;
}

static const char *role_in_table(json_t *routes, const char *method, const char *path)
{
	size_t i;
	json_t *rt;
	json_array_foreach(routes, i, rt)
	{
		if (strcmp(json_string_value(json_object_get(rt, "method")), method) == 0 &&
		    strcmp(json_string_value(json_object_get(rt, "path")), path) == 0)
			return json_string_value(json_object_get(rt, "role"));
	}
	return NULL;
}

START_TEST(role_table_states_the_roles_of_the_issue)
{
	json_t *routes = role_table();
	static const struct {
		const char *method, *path, *role;
	} want[] = {
		{"POST", "/admin/v1/sessions", "none"},
		{"GET", "/admin/v1/me", "agent"},
		{"POST", "/admin/v1/staff", "admin"},
		{"GET", "/admin/v1/staff", "admin"},
		{"POST", "/admin/v1/staff/{id}/disable", "admin"},
		{"PATCH", "/admin/v1/staff/{id}", "admin"},
		{"GET", "/admin/v1/accounts", "agent"},
		{"GET", "/admin/v1/accounts/{id}", "agent"},
		{"POST", "/admin/v1/accounts/{id}/lock", "supervisor"},
		{"POST", "/admin/v1/accounts/{id}/unlock", "agent"},
		{"POST", "/admin/v1/accounts/{id}/sign-out-all", "agent"},
		{"GET", "/admin/v1/accounts/{id}/export", "agent"},
		{"POST", "/admin/v1/accounts/{id}/erase", "supervisor"},
		{"GET", "/admin/v1/audit", "agent"},
		{"GET", "/admin/v1/events", "agent"},
		{"GET", "/admin/v1/notifications", "agent"},
		{"POST", "/admin/v1/notifications/{id}/resend", "agent"},
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		const char *got = role_in_table(routes, want[i].method, want[i].path);
		ck_assert_msg(got && strcmp(got, want[i].role) == 0, "%s %s: want %s, got %s", want[i].method,
			      want[i].path, want[i].role, got ? got : "(missing)");
	}
	json_decref(routes);
}
END_TEST

START_TEST(role_matrix_each_role_against_each_route)
{
	json_t *routes = role_table();
	struct member m;
	seed_member(&m);
	const struct staff *people[] = {&agent, &supervisor, &admin};
	size_t i;
	json_t *rt;
	json_array_foreach(routes, i, rt)
	{
		const char *method = json_string_value(json_object_get(rt, "method"));
		const char *pattern = json_string_value(json_object_get(rt, "path"));
		int need = rank_of(json_string_value(json_object_get(rt, "role")));
		char path[256];
		concrete_path(pattern, path, sizeof path);
		json_t *body = strcmp(method, "GET") == 0 || strcmp(method, "DELETE") == 0 ? NULL : json_object();
		if (need == 0) {
			json_decref(body);
			continue; /* staff sign-in: no token needed */
		}
		/* No token, and a member's token (the wrong audience): 401. */
		struct api_resp *r = change(method, path, NULL, json_incref(body), "matrix", NULL);
		ck_assert_msg(r->status == 401, "%s %s without a token: %ld", method, path, r->status);
		api_resp_free(r);
		r = change(method, path, m.token, json_incref(body), "matrix", NULL);
		ck_assert_msg(r->status == 401, "%s %s with a member token: %ld", method, path, r->status);
		api_resp_free(r);
		for (size_t p = 0; p < 3; p++) {
			struct staff fresh;
			const struct staff *who = people[p];
			/* Signing out ends the sign-in used: give it one of its own. */
			if (strcmp(pattern, "/admin/v1/sessions/current") == 0) {
				fresh = *who;
				staff_signin(&fresh);
				who = &fresh;
			}
			r = change(method, path, who->token, json_incref(body), "matrix", NULL);
			const char *code = api_str(r, "code");
			if (who->rank < need) {
				ck_assert_msg(r->status == 403 && code && strcmp(code, "forbidden_role") == 0,
					      "%s %s as rank %d: want 403 forbidden_role, got %ld %s", method,
					      path, who->rank, r->status, r->body);
			} else {
				ck_assert_msg(r->status != 401 && r->status != 403,
					      "%s %s as rank %d: refused with %ld %s", method, path, who->rank,
					      r->status, r->body);
			}
			api_resp_free(r);
		}
		json_decref(body);
	}
	json_decref(routes);
}
END_TEST

START_TEST(garbage_and_expired_staff_tokens_are_401)
{
	struct api_resp *r = api_get(&srv, "/admin/v1/me", "v4.public.garbage");
	ck_assert_problem(r, 401, "invalid_token");
	api_resp_free(r);
	struct staff s = agent;
	staff_signin(&s);
	api_advance(&srv, 8 * 3600 + 1);
	r = api_get(&srv, "/admin/v1/me", s.token);
	ck_assert_status(r, 401);
	api_resp_free(r);
}
END_TEST

/* ---- reasons ---- */

START_TEST(every_change_needs_a_reason_and_changes_nothing_without)
{
	json_t *routes = role_table();
	int64_t audits = audit_rows(), events = event_rows();
	size_t i, changes = 0;
	json_t *rt;
	json_array_foreach(routes, i, rt)
	{
		if (!json_is_true(json_object_get(rt, "change")))
			continue;
		changes++;
		const char *method = json_string_value(json_object_get(rt, "method"));
		char path[256];
		concrete_path(json_string_value(json_object_get(rt, "path")), path, sizeof path);
		static const char *const reasons[] = {NULL, "", "   \t "};
		for (size_t k = 0; k < 3; k++) {
			struct api_resp *r = change(method, path, admin.token,
						    strcmp(method, "PATCH") == 0 || strcmp(path, "/admin/v1/staff") == 0 ||
								    strcmp(path, "/admin/v1/clients") == 0
							    ? json_pack("{s:s}", "role", "agent")
							    : NULL,
						    reasons[k], NULL);
			ck_assert_problem(r, 400, "reason_required");
			api_resp_free(r);
		}
	}
	ck_assert_uint_ge(changes, 8);
	ck_assert_int_eq(audit_rows(), audits);
	ck_assert_int_eq(event_rows(), events);
	json_decref(routes);
}
END_TEST

START_TEST(reason_refused_on_a_real_target_leaves_it_unchanged)
{
	struct member m;
	seed_member(&m);
	char path[128];
	snprintf(path, sizeof path, "/admin/v1/accounts/%s/lock", m.id);
	struct api_resp *r = change("POST", path, supervisor.token, NULL, NULL, NULL);
	ck_assert_problem(r, 400, "reason_required");
	api_resp_free(r);
	ck_assert_int_eq(api_db_int(&srv, "SELECT count(*) FROM accounts WHERE id = ?1 AND status = 'active'", m.id), 1);
	/* Too long, and not UTF-8: 400 invalid_request, nothing changed. */
	char longer[520];
	memset(longer, 'x', 501);
	longer[501] = '\0';
	r = change("POST", path, supervisor.token, NULL, longer, NULL);
	ck_assert_problem(r, 400, "invalid_request");
	api_resp_free(r);
	r = change("POST", path, supervisor.token, NULL, "bad \xff byte", NULL);
	ck_assert_problem(r, 400, "invalid_request");
	api_resp_free(r);
	ck_assert_int_eq(api_db_int(&srv, "SELECT count(*) FROM accounts WHERE id = ?1 AND status = 'active'", m.id), 1);
	ck_assert_int_eq(api_db_int(&srv, "SELECT count(*) FROM audit_log WHERE target_id = ?1", m.id), 0);
	int64_t staff = api_db_int(&srv, "SELECT count(*) FROM staff", NULL);
	r = change("POST", "/admin/v1/staff", admin.token,
		   json_pack("{s:s, s:s, s:s}", "email", "noreason@staff.test", "role", "agent", "password",
			     STAFF_PASSWORD),
		   NULL, NULL);
	ck_assert_problem(r, 400, "reason_required");
	api_resp_free(r);
	ck_assert_int_eq(api_db_int(&srv, "SELECT count(*) FROM staff", NULL), staff);
}
END_TEST

/* ---- audit ---- */

START_TEST(audit_row_records_who_what_why_and_the_request)
{
	struct member m;
	seed_member(&m);
	char path[128];
	snprintf(path, sizeof path, "/admin/v1/accounts/%s/lock", m.id);
	struct api_resp *r = change("POST", path, supervisor.token, NULL, "  card testing, ticket 4411 ",
				    "req-audit-lock-1");
	ck_assert_status(r, 200);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(r->json, "account"), "status")), "locked");
	ck_assert_int_eq(json_integer_value(json_object_get(r->json, "sessions_revoked")), 1);
	api_resp_free(r);

	char q[160];
	snprintf(q, sizeof q, "/admin/v1/audit?target=%s", m.id);
	r = api_get(&srv, q, agent.token);
	ck_assert_status(r, 200);
	json_t *rows = json_object_get(r->json, "data");
	ck_assert_uint_eq(json_array_size(rows), 1);
	json_t *row = json_array_get(rows, 0);
	ck_assert_str_eq(json_string_value(json_object_get(row, "staff_id")), supervisor.id);
	ck_assert_str_eq(json_string_value(json_object_get(row, "action")), "account.lock");
	ck_assert_str_eq(json_string_value(json_object_get(row, "target_type")), "account");
	ck_assert_str_eq(json_string_value(json_object_get(row, "target_id")), m.id);
	ck_assert_str_eq(json_string_value(json_object_get(row, "reason")), "card testing, ticket 4411");
	ck_assert_str_eq(json_string_value(json_object_get(row, "request_id")), "req-audit-lock-1");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(row, "before"), "status")), "active");
	json_t *after = json_object_get(row, "after");
	ck_assert_str_eq(json_string_value(json_object_get(after, "status")), "locked");
	ck_assert_int_eq(json_integer_value(json_object_get(after, "sessions_revoked")), 1);
	ck_assert_ptr_nonnull(json_string_value(json_object_get(row, "created_at")));
	api_resp_free(r);

	/* The member's sign-in ended and they cannot sign in again. */
	r = api_get(&srv, "/v1/me", m.token);
	ck_assert_status(r, 401);
	api_resp_free(r);
	r = api_json(&srv, "POST", "/v1/sessions", NULL,
		     json_pack("{s:s, s:s, s:{s:s, s:s}}", "email", m.email, "password", MEMBER_PASSWORD,
			       "device", "name", "Phone", "type", "phone"));
	ck_assert_problem(r, 403, "account_locked");
	api_resp_free(r);

	/* Filters: by staff, and since a time after the row matches nothing. */
	snprintf(q, sizeof q, "/admin/v1/audit?staff=%s&target=%s", supervisor.id, m.id);
	r = api_get(&srv, q, agent.token);
	ck_assert_uint_eq(json_array_size(json_object_get(r->json, "data")), 1);
	api_resp_free(r);
	snprintf(q, sizeof q, "/admin/v1/audit?target=%s&since=2099-01-01T00:00:00Z", m.id);
	r = api_get(&srv, q, agent.token);
	ck_assert_uint_eq(json_array_size(json_object_get(r->json, "data")), 0);
	api_resp_free(r);
	r = api_get(&srv, "/admin/v1/audit?since=yesterday", agent.token);
	ck_assert_problem(r, 400, "invalid_parameter");
	api_resp_free(r);

	/* Unlock: agent work, audited the same way. */
	snprintf(path, sizeof path, "/admin/v1/accounts/%s/unlock", m.id);
	r = change("POST", path, agent.token, NULL, "identity confirmed", NULL);
	ck_assert_status(r, 200);
	api_resp_free(r);
	ck_assert_int_eq(api_db_int(&srv, "SELECT count(*) FROM accounts WHERE id = ?1 AND status = 'active'", m.id), 1);
	ck_assert_int_eq(api_db_int(&srv, "SELECT count(*) FROM audit_log WHERE target_id = ?1 AND action = 'account.unlock'", m.id), 1);
}
END_TEST

START_TEST(audit_rows_cannot_be_updated_or_deleted)
{
	struct member m;
	seed_member(&m);
	char path[128];
	snprintf(path, sizeof path, "/admin/v1/accounts/%s/sign-out-all", m.id);
	struct api_resp *r = change("POST", path, agent.token, NULL, "lost phone", NULL);
	ck_assert_status(r, 200);
	api_resp_free(r);
	int64_t n = audit_rows();
	ck_assert_int_gt(n, 0);
	struct db *db = api_db(&srv);
	struct db_stmt *st = NULL;
	ck_assert_int_eq(db_prepare(db, "UPDATE audit_log SET reason = 'rewritten' WHERE target_id = ?1", &st), ERR_OK);
	db_bind_text(st, 1, m.id);
	ck_assert_int_ne(db_step_done(st), ERR_OK);
	db_done(st);
	ck_assert_int_eq(db_prepare(db, "DELETE FROM audit_log WHERE target_id = ?1", &st), ERR_OK);
	db_bind_text(st, 1, m.id);
	ck_assert_int_ne(db_step_done(st), ERR_OK);
	db_done(st);
	ck_assert_int_ne(db_exec(db, "DELETE FROM audit_log"), ERR_OK);
	db_close(db);
	ck_assert_int_eq(audit_rows(), n);
	ck_assert_int_eq(api_db_int(&srv, "SELECT count(*) FROM audit_log WHERE reason = 'rewritten'", NULL), 0);
}
END_TEST

/* ---- staff sign-in and management ---- */

START_TEST(staff_signin_refuses_wrong_passwords_alike_and_throttles)
{
	struct api_resp *r = api_json(&srv, "POST", "/admin/v1/sessions", NULL,
				      json_pack("{s:s, s:s}", "email", "nobody@staff.test", "password", "whatever pw"));
	ck_assert_problem(r, 401, "invalid_credentials");
	api_resp_free(r);
	r = api_json(&srv, "POST", "/admin/v1/sessions", NULL, json_pack("{s:s}", "email", "x@staff.test"));
	ck_assert_problem(r, 422, "validation_failed");
	api_resp_free(r);
	/* A new staff member, so the throttle of the shared ones is untouched. */
	struct api_resp *c = change("POST", "/admin/v1/staff", admin.token,
				    json_pack("{s:s, s:s, s:s}", "email", "throttled@staff.test", "role", "agent",
					      "password", STAFF_PASSWORD),
				    "throttle test", NULL);
	ck_assert_status(c, 201);
	api_resp_free(c);
	long last = 0;
	for (int i = 0; i < 6; i++) {
		r = api_json(&srv, "POST", "/admin/v1/sessions", NULL,
			     json_pack("{s:s, s:s}", "email", "throttled@staff.test", "password", "wrong password"));
		last = r->status;
		api_resp_free(r);
	}
	ck_assert_int_eq(last, 429);
	/* Even the right password waits out the block. */
	r = api_json(&srv, "POST", "/admin/v1/sessions", NULL,
		     json_pack("{s:s, s:s}", "email", "throttled@staff.test", "password", STAFF_PASSWORD));
	ck_assert_problem(r, 429, "too_many_attempts");
	char ra[16];
	ck_assert_ptr_nonnull(api_header(r, "Retry-After", ra, sizeof ra));
	api_resp_free(r);
	api_advance(&srv, 3600);
	r = api_json(&srv, "POST", "/admin/v1/sessions", NULL,
		     json_pack("{s:s, s:s}", "email", "THROTTLED@staff.test", "password", STAFF_PASSWORD));
	ck_assert_status(r, 201);
	ck_assert_int_eq(json_integer_value(json_object_get(r->json, "expires_in")), 8 * 3600);
	api_resp_free(r);
}
END_TEST

START_TEST(staff_management_rules)
{
	struct api_resp *r = change("POST", "/admin/v1/staff", admin.token,
				    json_pack("{s:s, s:s, s:s}", "email", "AGENT@staff.test", "role", "agent",
					      "password", STAFF_PASSWORD),
				    "duplicate", NULL);
	ck_assert_problem(r, 409, "email_taken");
	api_resp_free(r);
	r = change("POST", "/admin/v1/staff", admin.token,
		   json_pack("{s:s, s:s, s:s}", "email", "weak@staff.test", "role", "agent", "password", "short"),
		   "weak", NULL);
	ck_assert_problem(r, 422, "weak_password");
	api_resp_free(r);
	r = change("POST", "/admin/v1/staff", admin.token,
		   json_pack("{s:s, s:s, s:s, s:s}", "email", "bad@staff.test", "role", "boss", "password",
			     STAFF_PASSWORD, "extra", "x"),
		   "bad", NULL);
	ck_assert_problem(r, 422, "validation_failed");
	api_resp_free(r);
	ck_assert_int_eq(api_db_int(&srv, "SELECT count(*) FROM staff WHERE email_norm IN ('weak@staff.test', 'bad@staff.test')", NULL), 0);

	/* No one disables themselves, and the last admin stays an admin. */
	char path[128];
	snprintf(path, sizeof path, "/admin/v1/staff/%s/disable", admin.id);
	r = change("POST", path, admin.token, NULL, "oops", NULL);
	ck_assert_problem(r, 409, "invalid_state");
	api_resp_free(r);
	snprintf(path, sizeof path, "/admin/v1/staff/%s", admin.id);
	r = change("PATCH", path, admin.token, json_pack("{s:s}", "role", "agent"), "demote", NULL);
	ck_assert_problem(r, 409, "invalid_state");
	api_resp_free(r);
	ck_assert_int_eq(api_db_int(&srv, "SELECT count(*) FROM staff WHERE id = ?1 AND role = 'admin' AND active = 1", admin.id), 1);

	/* A role change takes effect on the next request of a signed-in member. */
	struct staff temp;
	memset(&temp, 0, sizeof temp);
	copy(temp.email, sizeof temp.email, "temp@staff.test");
	r = change("POST", "/admin/v1/staff", admin.token,
		   json_pack("{s:s, s:s, s:s}", "email", temp.email, "role", "supervisor", "password", STAFF_PASSWORD),
		   "temp", NULL);
	ck_assert_status(r, 201);
	api_resp_free(r);
	staff_signin(&temp);
	snprintf(path, sizeof path, "/admin/v1/accounts/%s/lock", "acc_00000000000000000000000000000");
	r = change("POST", path, temp.token, NULL, "probe", NULL);
	ck_assert_status(r, 404);
	api_resp_free(r);
	char spath[128];
	snprintf(spath, sizeof spath, "/admin/v1/staff/%s", temp.id);
	r = change("PATCH", spath, admin.token, json_pack("{s:s}", "role", "agent"), "less access", NULL);
	ck_assert_status(r, 200);
	ck_assert_str_eq(api_str(r, "role"), "agent");
	api_resp_free(r);
	r = change("POST", path, temp.token, NULL, "probe", NULL);
	ck_assert_problem(r, 403, "forbidden_role");
	api_resp_free(r);
	ck_assert_int_eq(api_db_int(&srv, "SELECT count(*) FROM audit_log WHERE target_id = ?1 AND action = 'staff.set_role'"
					  " AND before_json LIKE '%supervisor%' AND after_json LIKE '%agent%'", temp.id), 1);

	/* Disabling ends their sign-ins at once. */
	snprintf(spath, sizeof spath, "/admin/v1/staff/%s/disable", temp.id);
	r = change("POST", spath, admin.token, NULL, "left", NULL);
	ck_assert_status(r, 200);
	ck_assert(json_is_false(json_object_get(r->json, "active")));
	api_resp_free(r);
	r = api_get(&srv, "/admin/v1/me", temp.token);
	ck_assert_status(r, 401);
	api_resp_free(r);
	r = api_json(&srv, "POST", "/admin/v1/sessions", NULL,
		     json_pack("{s:s, s:s}", "email", temp.email, "password", STAFF_PASSWORD));
	ck_assert_problem(r, 403, "forbidden");
	api_resp_free(r);
	r = change("POST", "/admin/v1/staff/stf_00000000000000000000000000000/disable", admin.token, NULL, "x", NULL);
	ck_assert_problem(r, 404, "not_found");
	api_resp_free(r);

	/* The list is paginated by email. */
	r = api_get(&srv, "/admin/v1/staff?limit=2", admin.token);
	ck_assert_status(r, 200);
	ck_assert_uint_eq(json_array_size(json_object_get(r->json, "data")), 2);
	ck_assert(json_is_true(json_object_get(r->json, "has_more")));
	api_resp_free(r);
	r = api_get(&srv, "/admin/v1/staff?starting_after=stf_nope", admin.token);
	ck_assert_problem(r, 400, "invalid_parameter");
	api_resp_free(r);
}
END_TEST

START_TEST(whoami_and_logout)
{
	struct staff s = agent;
	staff_signin(&s);
	struct api_resp *r = api_get(&srv, "/admin/v1/me", s.token);
	ck_assert_status(r, 200);
	ck_assert_str_eq(api_str(r, "id"), agent.id);
	ck_assert_str_eq(api_str(r, "role"), "agent");
	ck_assert_ptr_nonnull(json_object_get(json_object_get(r->json, "session"), "expires_at"));
	api_resp_free(r);
	r = api_request(&srv, "DELETE", "/admin/v1/sessions/current", s.token, NULL, NULL, NULL);
	ck_assert_status(r, 204);
	api_resp_free(r);
	r = api_get(&srv, "/admin/v1/me", s.token);
	ck_assert_status(r, 401);
	api_resp_free(r);
	/* Other sign-ins of the same person go on. */
	r = api_get(&srv, "/admin/v1/me", agent.token);
	ck_assert_status(r, 200);
	api_resp_free(r);
}
END_TEST

/* ---- account tools ---- */

/* Percent-encode a query value (caller frees). */
static char *curl_escape_helper(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = malloc(strlen(s) * 3 + 1), *o = out;
	ck_assert_ptr_nonnull(out);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
		    c == '_' || c == '-') {
			*o++ = (char)c;
		} else {
			*o++ = '%';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		}
	}
	*o = '\0';
	return out;
}

static json_t *search(const char *q)
{
	char *e = curl_escape_helper(q);
	char path[512];
	snprintf(path, sizeof path, "/admin/v1/accounts?query=%s", e);
	free(e);
	struct api_resp *r = api_get(&srv, path, agent.token);
	ck_assert_status(r, 200);
	json_t *data = json_incref(json_object_get(r->json, "data"));
	api_resp_free(r);
	return data;
}

START_TEST(search_finds_by_email_id_phone_and_device)
{
	struct member m;
	seed_member(&m);
	char upper[128], spaced[40];
	snprintf(upper, sizeof upper, "  %s ", m.email);
	for (char *p = upper; *p; p++)
		if (*p >= 'a' && *p <= 'z')
			*p = (char)(*p - 'a' + 'A');
	/* "+1 234 567 8901" */
	snprintf(spaced, sizeof spaced, "%.2s %.3s-%.3s %.8s", m.phone, m.phone + 2, m.phone + 5, m.phone + 8);
	struct {
		const char *q, *matched;
	} cases[] = {{m.email, "email"}, {upper, "email"}, {m.id, "id"}, {m.phone, "phone"}, {spaced, "phone"},
		     {m.device, "device"}};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_t *data = search(cases[i].q);
		ck_assert_msg(json_array_size(data) == 1, "query '%s' found %zu", cases[i].q, json_array_size(data));
		json_t *a = json_array_get(data, 0);
		ck_assert_str_eq(json_string_value(json_object_get(a, "id")), m.id);
		ck_assert_str_eq(json_string_value(json_object_get(a, "matched")), cases[i].matched);
		json_decref(data);
	}
	json_t *none = search("nobody@nowhere.example");
	ck_assert_uint_eq(json_array_size(none), 0);
	json_decref(none);
	struct api_resp *r = api_get(&srv, "/admin/v1/accounts", agent.token);
	ck_assert_problem(r, 400, "invalid_parameter");
	api_resp_free(r);
	r = api_get(&srv, "/admin/v1/accounts?query=", agent.token);
	ck_assert_problem(r, 400, "invalid_parameter");
	api_resp_free(r);
}
END_TEST

START_TEST(show_gives_the_whole_picture)
{
	struct member m;
	seed_member(&m);
	char path[128];
	snprintf(path, sizeof path, "/admin/v1/accounts/%s/sign-out-all", m.id);
	struct api_resp *r = change("POST", path, agent.token, NULL, "lost phone", NULL);
	ck_assert_status(r, 200);
	ck_assert_int_eq(json_integer_value(json_object_get(r->json, "sessions_revoked")), 1);
	api_resp_free(r);
	r = api_json(&srv, "POST", "/v1/sessions", NULL,
		     json_pack("{s:s, s:s, s:{s:s, s:s}}", "email", m.email, "password", MEMBER_PASSWORD, "device",
			       "name", "New phone", "type", "phone"));
	ck_assert_status(r, 201);
	api_resp_free(r);
	snprintf(path, sizeof path, "/admin/v1/accounts/%s", m.id);
	r = api_get(&srv, path, agent.token);
	ck_assert_status(r, 200);
	json_t *a = json_object_get(r->json, "account");
	ck_assert_str_eq(json_string_value(json_object_get(a, "email")), m.email);
	ck_assert_str_eq(json_string_value(json_object_get(a, "phone")), m.phone);
	ck_assert_uint_eq(json_array_size(json_object_get(r->json, "profiles")), 2);
	ck_assert_uint_eq(json_array_size(json_object_get(r->json, "devices")), 2);
	json_t *sessions = json_object_get(r->json, "sessions");
	ck_assert_uint_eq(json_array_size(sessions), 1); /* the TV's sign-in ended */
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(sessions, 0), "device_name")), "New phone");
	json_t *audit = json_object_get(r->json, "audit");
	ck_assert_uint_eq(json_array_size(audit), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(audit, 0), "action")), "account.sign_out_all");
	ck_assert(json_is_object(json_object_get(r->json, "sections")));
	api_resp_free(r);
	r = api_get(&srv, "/admin/v1/accounts/acc_00000000000000000000000000000", agent.token);
	ck_assert_problem(r, 404, "not_found");
	api_resp_free(r);
	/* The revoked TV token no longer works. */
	r = api_get(&srv, "/v1/me", m.token);
	ck_assert_status(r, 401);
	api_resp_free(r);
}
END_TEST

START_TEST(export_holds_every_personal_field)
{
	struct member m;
	seed_member(&m);
	char path[128];
	snprintf(path, sizeof path, "/admin/v1/accounts/%s/export", m.id);
	struct api_resp *r = api_get(&srv, path, agent.token);
	ck_assert_status(r, 200);
	char cc[64];
	ck_assert_str_eq(api_header(r, "Cache-Control", cc, sizeof cc), "no-store");
	const char *values[] = {m.id, m.email, m.name, m.phone, "pt-BR", "US", m.device, m.device_name,
				m.model, m.profile_name, "welcome", "127.0.0.0/24"};
	for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
		ck_assert_msg(strstr(r->body, values[i]) != NULL, "export lacks '%s': %s", values[i], r->body);
	ck_assert_str_eq(api_str(r, "account_id"), m.id);
	ck_assert_uint_eq(json_array_size(json_object_get(r->json, "profiles")), 2);
	ck_assert_uint_ge(json_array_size(json_object_get(r->json, "notifications")), 1);
	ck_assert_ptr_null(strstr(r->body, "password_hash"));
	ck_assert_ptr_null(strstr(r->body, "$argon2"));
	api_resp_free(r);
	/* Reading everything about a member is itself on the record. */
	ck_assert_int_eq(api_db_int(&srv, "SELECT count(*) FROM audit_log WHERE target_id = ?1 AND action = 'account.export'", m.id), 1);
	r = api_get(&srv, "/admin/v1/accounts/acc_00000000000000000000000000000/export", agent.token);
	ck_assert_problem(r, 404, "not_found");
	api_resp_free(r);
}
END_TEST

/* How many cells of the whole database hold `needle` (every column of
 * every table, as text). */
static int64_t cells_holding(const char *needle)
{
	struct db *db = api_db(&srv);
	struct db_stmt *st = NULL;
	char tables[64][64];
	int ntables = 0;
	bool row = false;
	int64_t hits = 0;
	ck_assert_int_eq(db_prepare(db, "SELECT name FROM sqlite_master WHERE type = 'table'", &st), ERR_OK);
	while (db_step(st, &row) == ERR_OK && row && ntables < 64)
		snprintf(tables[ntables++], sizeof tables[0], "%s", db_column_text(st, 0));
	db_done(st);
	for (int t = 0; t < ntables; t++) {
		char cols[32][64];
		int ncols = 0;
		ck_assert_int_eq(db_prepare(db, "SELECT name FROM pragma_table_info(?1)", &st), ERR_OK);
		db_bind_text(st, 1, tables[t]);
		while (db_step(st, &row) == ERR_OK && row && ncols < 32)
			snprintf(cols[ncols++], sizeof cols[0], "%s", db_column_text(st, 0));
		db_done(st);
		for (int c = 0; c < ncols; c++) {
			char sql[256];
			snprintf(sql, sizeof sql,
				 "SELECT count(*) FROM \"%.63s\" WHERE instr(lower(CAST(\"%.63s\" AS TEXT)), lower(?1)) > 0",
				 tables[t], cols[c]);
			ck_assert_int_eq(db_prepare(db, sql, &st), ERR_OK);
			db_bind_text(st, 1, needle);
			if (db_step_row(st) == ERR_OK)
				hits += db_column_int64(st, 0);
			db_done(st);
		}
	}
	db_close(db);
	return hits;
}

START_TEST(erase_leaves_nothing_personal_and_revokes_everything)
{
	struct member m;
	seed_member_keyed(&m, "erase-test-signup-1");
	/* The sign-up reply (email, name, phone) sits in the replay cache. */
	ck_assert_int_eq(api_db_int(&srv, "SELECT count(*) FROM idempotency_keys WHERE body LIKE '%' || ?1 || '%'", m.phone), 1);
	const char *personal[] = {m.email, m.name, m.phone, m.device_name, m.profile_name, m.model};
	for (size_t i = 0; i < sizeof personal / sizeof personal[0]; i++)
		ck_assert_msg(cells_holding(personal[i]) > 0, "'%s' was not stored to begin with", personal[i]);
	char path[128];
	snprintf(path, sizeof path, "/admin/v1/accounts/%s/erase", m.id);
	struct api_resp *r = change("POST", path, agent.token, NULL, "erasure request", NULL);
	ck_assert_problem(r, 403, "forbidden_role");
	api_resp_free(r);
	r = change("POST", path, supervisor.token, NULL, "erasure request, ticket 5120", NULL);
	ck_assert_status(r, 200);
	ck_assert_str_eq(api_str(r, "status"), "erased");
	ck_assert_int_eq(json_integer_value(json_object_get(r->json, "sessions_revoked")), 1);
	ck_assert_int_ge(json_integer_value(json_object_get(r->json, "notifications_redacted")), 1);
	api_resp_free(r);
	for (size_t i = 0; i < sizeof personal / sizeof personal[0]; i++)
		ck_assert_msg(cells_holding(personal[i]) == 0, "'%s' is still in the database", personal[i]);
	/* The account id stays (invoices and the audit log refer to it). */
	ck_assert_int_eq(api_db_int(&srv, "SELECT count(*) FROM accounts WHERE id = ?1 AND status = 'erased'", m.id), 1);
	/* Every sign-in is revoked, and nothing signs in again. */
	r = api_get(&srv, "/v1/me", m.token);
	ck_assert_status(r, 401);
	api_resp_free(r);
	ck_assert_int_eq(api_db_int(&srv, "SELECT count(*) FROM sessions WHERE account_id = ?1 AND revoked_at IS NULL", m.id), 0);
	r = api_json(&srv, "POST", "/v1/sessions", NULL,
		     json_pack("{s:s, s:s, s:{s:s, s:s}}", "email", m.email, "password", MEMBER_PASSWORD,
			       "device", "name", "Phone", "type", "phone"));
	ck_assert_problem(r, 401, "invalid_credentials");
	api_resp_free(r);
	/* The account page shows the erased state; erasing twice is refused. */
	r = change("POST", path, supervisor.token, NULL, "again", NULL);
	ck_assert_problem(r, 409, "invalid_state");
	api_resp_free(r);
	ck_assert_int_eq(api_db_int(&srv, "SELECT count(*) FROM audit_log WHERE target_id = ?1 AND action = 'account.erase'", m.id), 1);
	/* A notification of the erased member cannot be resent: no recipient. */
	struct db *db = api_db(&srv);
	struct db_stmt *st = NULL;
	char ntf[IDS_MAX] = "";
	ck_assert_int_eq(db_prepare(db, "SELECT id FROM notifications WHERE account_id = ?1", &st), ERR_OK);
	db_bind_text(st, 1, m.id);
	if (db_step_row(st) == ERR_OK)
		snprintf(ntf, sizeof ntf, "%s", db_column_text(st, 0));
	db_done(st);
	db_close(db);
	ck_assert(ntf[0]);
	snprintf(path, sizeof path, "/admin/v1/notifications/%s/resend", ntf);
	r = change("POST", path, agent.token, NULL, "resend", NULL);
	ck_assert_problem(r, 409, "invalid_state");
	api_resp_free(r);
}
END_TEST

START_TEST(billing_shows_on_the_account_and_invoices_survive_erasure)
{
	struct member m;
	seed_member(&m);
	struct api_resp *r = api_json(&srv, "POST", "/v1/payment-methods", m.token, json_pack("{s:s}", "token", "pm_card_visa"));
	ck_assert_status(r, 201);
	api_resp_free(r);
	r = api_json(&srv, "POST", "/v1/subscription", m.token, json_pack("{s:s}", "plan", "standard"));
	ck_assert_status(r, 201);
	api_resp_free(r);
	ck_assert_int_eq(api_db_int(&srv, "SELECT count(*) FROM invoices WHERE account_id = ?1", m.id), 1);

	/* Support finds the member by an invoice number, typed in any case. */
	r = api_get(&srv, "/v1/invoices", m.token);
	ck_assert_status(r, 200);
	char number[64];
	snprintf(number, sizeof number, "%s",
		 json_string_value(json_object_get(json_array_get(json_object_get(r->json, "data"), 0), "number")));
	api_resp_free(r);
	ck_assert_int_eq(strncmp(number, "HEA-", 4), 0);
	for (char *p = number; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	json_t *found = search(number);
	ck_assert_uint_eq(json_array_size(found), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(found, 0), "id")), m.id);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(found, 0), "matched")), "invoices");
	json_decref(found);
	found = search("HEA-1999-000001");
	ck_assert_uint_eq(json_array_size(found), 0);
	json_decref(found);

	char path[128];
	snprintf(path, sizeof path, "/admin/v1/accounts/%s", m.id);
	r = api_get(&srv, path, agent.token);
	ck_assert_status(r, 200);
	json_t *sections = json_object_get(r->json, "sections");
	json_t *sub = json_object_get(sections, "subscription");
	ck_assert_str_eq(json_string_value(json_object_get(sub, "plan_code")), "standard");
	ck_assert_str_eq(json_string_value(json_object_get(sub, "state")), "active");
	ck_assert_uint_eq(json_array_size(json_object_get(sections, "invoices")), 1);
	ck_assert_uint_eq(json_array_size(json_object_get(sections, "payment_methods")), 1);
	api_resp_free(r);

	snprintf(path, sizeof path, "/admin/v1/accounts/%s/export", m.id);
	r = api_get(&srv, path, agent.token);
	ck_assert_status(r, 200);
	json_t *billing = json_object_get(json_object_get(r->json, "sections"), "billing");
	ck_assert_uint_eq(json_array_size(json_object_get(billing, "invoices")), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(billing, "payment_methods"), 0), "last4")), "4242");
	api_resp_free(r);

	snprintf(path, sizeof path, "/admin/v1/accounts/%s/erase", m.id);
	r = change("POST", path, supervisor.token, NULL, "erasure request", NULL);
	ck_assert_status(r, 200);
	api_resp_free(r);
	/* Tax law: the invoice stays, tied to the account id only. */
	ck_assert_int_eq(api_db_int(&srv, "SELECT count(*) FROM invoices WHERE account_id = ?1", m.id), 1);
	ck_assert_int_eq(cells_holding(m.email), 0);
	ck_assert_int_eq(cells_holding(m.name), 0);
	ck_assert_int_eq(cells_holding(m.phone), 0);
	/* The card's details are gone and it can no longer be charged. */
	ck_assert_int_eq(api_db_int(&srv, "SELECT count(*) FROM payment_methods WHERE account_id = ?1", m.id), 1);
	ck_assert_int_eq(api_db_int(&srv, "SELECT count(*) FROM payment_methods WHERE account_id = ?1"
				     " AND (last4 <> '' OR brand <> 'erased' OR exp_year <> 0"
				     " OR provider_token <> 'erased' OR removed_at IS NULL OR is_default <> 0)", m.id), 0);
	ck_assert_int_eq(cells_holding("4242"), 0);
}
END_TEST

/* ---- notifications and events ---- */

START_TEST(notifications_list_and_resend)
{
	struct member m;
	seed_member(&m);
	char *to = curl_escape_helper(m.email);
	char path[256];
	snprintf(path, sizeof path, "/admin/v1/notifications?to=%s", to);
	free(to);
	struct api_resp *r = api_get(&srv, path, agent.token);
	ck_assert_status(r, 200);
	json_t *data = json_object_get(r->json, "data");
	ck_assert_uint_eq(json_array_size(data), 1);
	json_t *n = json_array_get(data, 0);
	ck_assert_str_eq(json_string_value(json_object_get(n, "template")), "welcome");
	ck_assert_ptr_null(json_object_get(n, "payload"));
	char id[IDS_MAX];
	copy(id, sizeof id, json_string_value(json_object_get(n, "id")));
	api_resp_free(r);
	char rpath[128];
	snprintf(rpath, sizeof rpath, "/admin/v1/notifications/%s/resend", id);
	r = change("POST", rpath, agent.token, NULL, "member found no welcome email", NULL);
	ck_assert_status(r, 201);
	ck_assert_str_eq(api_str(r, "resent_from"), id);
	api_resp_free(r);
	r = api_get(&srv, path, agent.token);
	ck_assert_uint_eq(json_array_size(json_object_get(r->json, "data")), 2);
	api_resp_free(r);
	ck_assert_int_eq(api_db_int(&srv, "SELECT count(*) FROM audit_log WHERE target_id = ?1 AND action = 'notification.resend'", id), 1);
	r = change("POST", "/admin/v1/notifications/ntf_00000000000000000000000000000/resend", agent.token, NULL, "x", NULL);
	ck_assert_problem(r, 404, "not_found");
	api_resp_free(r);
	r = api_get(&srv, "/admin/v1/notifications", agent.token);
	ck_assert_problem(r, 400, "invalid_parameter");
	api_resp_free(r);
}
END_TEST

START_TEST(events_feed_in_order_with_a_cursor)
{
	struct member m;
	seed_member(&m);
	struct api_resp *r = api_get(&srv, "/admin/v1/events?after=0&limit=3", agent.token);
	ck_assert_status(r, 200);
	json_t *data = json_object_get(r->json, "data");
	ck_assert_uint_eq(json_array_size(data), 3);
	json_int_t prev = 0;
	size_t i;
	json_t *e;
	json_array_foreach(data, i, e)
	{
		json_int_t id = json_integer_value(json_object_get(e, "id"));
		ck_assert_int_gt(id, prev);
		prev = id;
	}
	ck_assert_int_eq(json_integer_value(json_object_get(r->json, "next_after")), prev);
	ck_assert(json_is_true(json_object_get(r->json, "has_more")));
	api_resp_free(r);
	char path[128];
	snprintf(path, sizeof path, "/admin/v1/events?after=%lld&limit=1000", (long long)prev);
	r = api_get(&srv, path, agent.token);
	json_t *first = json_array_get(json_object_get(r->json, "data"), 0);
	ck_assert_ptr_nonnull(first);
	ck_assert_int_gt(json_integer_value(json_object_get(first, "id")), prev);
	api_resp_free(r);
	/* Type filters: exact and prefix. */
	r = api_get(&srv, "/admin/v1/events?type=account.created&limit=1000", agent.token);
	json_array_foreach(json_object_get(r->json, "data"), i, e)
		ck_assert_str_eq(json_string_value(json_object_get(e, "type")), "account.created");
	ck_assert_uint_ge(json_array_size(json_object_get(r->json, "data")), 1);
	api_resp_free(r);
	r = api_get(&srv, "/admin/v1/events?type=profile.*&limit=1000", agent.token);
	ck_assert_uint_ge(json_array_size(json_object_get(r->json, "data")), 2);
	json_array_foreach(json_object_get(r->json, "data"), i, e)
		ck_assert_int_eq(strncmp(json_string_value(json_object_get(e, "type")), "profile.", 8), 0);
	api_resp_free(r);
	static const char *const bad[] = {"/admin/v1/events?after=-1", "/admin/v1/events?after=abc",
					  "/admin/v1/events?limit=0", "/admin/v1/events?limit=1001",
					  "/admin/v1/events?type="};
	for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
		r = api_get(&srv, bad[k], agent.token);
		ck_assert_problem(r, 400, "invalid_parameter");
		api_resp_free(r);
	}
}
END_TEST

static Suite *admin_suite(void)
{
	Suite *s = suite_create("api_admin");
	TCase *tc = tcase_create("admin");
	tcase_add_unchecked_fixture(tc, start, stop);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, role_table_states_the_roles_of_the_issue);
	tcase_add_test(tc, role_matrix_each_role_against_each_route);
	tcase_add_test(tc, every_change_needs_a_reason_and_changes_nothing_without);
	tcase_add_test(tc, reason_refused_on_a_real_target_leaves_it_unchanged);
	tcase_add_test(tc, audit_row_records_who_what_why_and_the_request);
	tcase_add_test(tc, audit_rows_cannot_be_updated_or_deleted);
	tcase_add_test(tc, staff_management_rules);
	tcase_add_test(tc, whoami_and_logout);
	tcase_add_test(tc, search_finds_by_email_id_phone_and_device);
	tcase_add_test(tc, show_gives_the_whole_picture);
	tcase_add_test(tc, export_holds_every_personal_field);
	tcase_add_test(tc, erase_leaves_nothing_personal_and_revokes_everything);
	tcase_add_test(tc, billing_shows_on_the_account_and_invoices_survive_erasure);
	tcase_add_test(tc, notifications_list_and_resend);
	tcase_add_test(tc, events_feed_in_order_with_a_cursor);
	/* These move the clock: last, so no token above expires early. */
	tcase_add_test(tc, staff_signin_refuses_wrong_passwords_alike_and_throttles);
	tcase_add_test(tc, garbage_and_expired_staff_tokens_are_401);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(admin_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0;
}
