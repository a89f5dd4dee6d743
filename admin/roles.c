/*
 * roles.c - the one role table of the admin API.
 *
 * Every admin route is a row here, registered by admin_route() with the
 * lowest role that may use it.  All rows share one HTTP handler, dispatch(),
 * which finds the row of the matched route, refuses a too-low role with 403
 * forbidden_role, reads the reason of a change (400 reason_required when
 * missing), and only then calls the row's handler.  So a route cannot be
 * added without a role, and no handler repeats the checks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin_int.h"
#include "core/log.h"

#define ADMIN_ROUTES_MAX 128

struct row {
	struct admin_route_info info;
	admin_handler fn;
};

/* Filled before the server starts; read-only afterwards. */
static struct row rows[ADMIN_ROUTES_MAX];
static size_t nrows;
static const struct admin_account_section *sections[ADMIN_SECTIONS_MAX];
static size_t nsections;

static const char *const role_names[] = {"none", "agent", "supervisor", "admin"};

const char *admin_role_name(int rank)
{
	if (rank < ADMIN_ROLE_NONE || rank > ADMIN_ROLE_ADMIN)
		return "?";
	return role_names[rank];
}

int admin_role_parse(const char *name)
{
	for (int r = ADMIN_ROLE_AGENT; name && r <= ADMIN_ROLE_ADMIN; r++)
		if (strcmp(name, role_names[r]) == 0)
			return r;
	return ADMIN_ROLE_NONE;
}

static const struct row *find_row(const struct http_req *req)
{
	const char *pattern = http_route_pattern(req);
	const char *method = http_method(req);
	if (strcmp(method, "HEAD") == 0)
		method = "GET";
	for (size_t i = 0; i < nrows; i++)
		if (strcmp(rows[i].info.pattern, pattern) == 0 && strcmp(rows[i].info.method, method) == 0)
			return &rows[i];
	return NULL;
}

static void dispatch(struct http_req *req)
{
	const struct row *r = find_row(req);
	char reason[ADMIN_REASON_MAX + 1];
	struct admin_ctx ctx = {"", ADMIN_ROLE_NONE, NULL};
	if (!r) {
		http_reply_problem(req, ERR_INTERNAL, "admin route without a role table row");
		return;
	}
	if (r->info.min_role > ADMIN_ROLE_NONE) {
		const struct http_auth *a = http_auth(req);
		if (!a || a->kind != HTTP_PRINCIPAL_STAFF) {
			http_reply_problem(req, ERR_UNAUTHENTICATED, "A staff access token is required");
			return;
		}
		if (a->role < r->info.min_role) {
			char detail[96];
			snprintf(detail, sizeof detail, "This needs the %s role; you are %s",
				 admin_role_name(r->info.min_role), admin_role_name(a->role));
			http_reply_problem(req, ERR_FORBIDDEN_ROLE, detail);
			return;
		}
		ctx.staff_id = a->subject;
		ctx.role = a->role;
	}
	if (r->info.kind == ADMIN_CHANGE) {
		if (!admin_reason_or_reply(req, reason, sizeof reason))
			return;
		ctx.reason = reason;
	}
	r->fn(req, &ctx);
}

void admin_route(const char *method, const char *pattern, admin_handler fn, unsigned flags,
		 int min_role, enum admin_route_kind kind)
{
	if (nrows >= ADMIN_ROUTES_MAX || min_role < ADMIN_ROLE_NONE || min_role > ADMIN_ROLE_ADMIN ||
	    strncmp(pattern, "/admin/", 7) != 0) {
		log_error("admin.route_refused", "method=%s pattern=%s", method, pattern);
		abort();
	}
	rows[nrows++] = (struct row){{method, pattern, min_role, kind}, fn};
	if (min_role > ADMIN_ROLE_NONE)
		flags |= HTTP_AUTH_STAFF;
	http_route(method, pattern, dispatch, flags, min_role);
}

size_t admin_route_count(void) { return nrows; }

const struct admin_route_info *admin_route_at(size_t i) { return i < nrows ? &rows[i].info : NULL; }

void admin_account_section_add(const struct admin_account_section *s)
{
	if (nsections >= ADMIN_SECTIONS_MAX || !s || !s->name) {
		log_error("admin.section_refused", "name=%s", s && s->name ? s->name : "?");
		abort();
	}
	sections[nsections++] = s;
}

size_t admin_section_count(void) { return nsections; }

const struct admin_account_section *admin_section_at(size_t i)
{
	return i < nsections ? sections[i] : NULL;
}
