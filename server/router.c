#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "server/server_int.h"

static struct route routes[ROUTE_MAX];
static int nroutes;

const struct route *router_get(int index) { return &routes[index]; }
int router_count(void) { return nroutes; }

void http_route(const char *method, const char *pattern, http_handler fn, unsigned flags, int role)
{
	for (int i = 0; i < nroutes; i++) {
		if (strcmp(routes[i].method, method) == 0 && strcmp(routes[i].pattern, pattern) == 0) {
			log_error("router.duplicate", "method=%s pattern=%s", method, pattern);
			abort();
		}
	}
	if (nroutes >= ROUTE_MAX) {
		log_error("router.full", "max=%d", ROUTE_MAX);
		abort();
	}
	routes[nroutes++] = (struct route){method, pattern, fn, flags, role, strcspn(pattern, "{")};
}

/* libmicrohttpd hands us the path already percent-decoded, so segments are
 * taken as they are (decoding again would turn "%2541" into "A"). */
static int copy_segment(const char *s, size_t len, char **out)
{
	char *d = malloc(len + 1);
	if (!d)
		return -1;
	memcpy(d, s, len);
	d[len] = '\0';
	*out = d;
	return 0;
}

static bool match_one(const char *pattern, const char *path, struct route_match *m)
{
	const char *p = pattern, *q = path;
	m->nparams = 0;
	while (*p && *q) {
		if (*p != '/' || *q != '/')
			return false;
		p++;
		q++;
		const char *pe = strchr(p, '/');
		const char *qe = strchr(q, '/');
		size_t plen = pe ? (size_t)(pe - p) : strlen(p);
		size_t qlen = qe ? (size_t)(qe - q) : strlen(q);
		if (plen > 2 && p[0] == '{' && p[plen - 1] == '}') {
			if (qlen == 0 || m->nparams >= ROUTE_PARAMS_MAX)
				return false;
			char *val = NULL;
			if (copy_segment(q, qlen, &val) != 0)
				return false;
			m->names[m->nparams] = p + 1; /* up to '}' : compared with name_eq */
			m->values[m->nparams++] = val;
		} else if (plen != qlen || strncmp(p, q, plen) != 0) {
			return false;
		}
		p += plen;
		q += qlen;
	}
	return *p == '\0' && *q == '\0';
}

void route_match_release(struct route_match *m)
{
	for (int i = 0; i < m->nparams; i++) {
		free(m->values[i]);
		m->values[i] = NULL;
	}
	m->nparams = 0;
}

int router_match(const char *method, const char *path, struct route_match *m)
{
	bool path_known = false;
	size_t alen = 0;
	m->index = -1;
	m->nparams = 0;
	m->allow[0] = '\0';
	for (int i = 0; i < nroutes; i++) {
		struct route_match tmp = {0};
		const struct route *r = &routes[i];
		/* Cheap rejections first (every request scans the table): a path
		 * matches only if it starts with the pattern's literal part, and a
		 * pattern without parameters only if it is the same string. */
		if (strncmp(path, r->pattern, r->literal_len) != 0 ||
		    (r->pattern[r->literal_len] == '\0' && path[r->literal_len] != '\0'))
			continue;
		if (!match_one(r->pattern, path, &tmp)) {
			route_match_release(&tmp);
			continue;
		}
		if (strcmp(routes[i].method, method) == 0 ||
		    (strcmp(method, "HEAD") == 0 && strcmp(routes[i].method, "GET") == 0)) {
			route_match_release(m);
			*m = tmp;
			m->index = i;
			return 0;
		}
		route_match_release(&tmp);
		path_known = true;
		if (!strstr(m->allow, routes[i].method)) {
			int n = snprintf(m->allow + alen, sizeof m->allow - alen, "%s%s",
					 alen ? ", " : "", routes[i].method);
			if (n > 0 && (size_t)n < sizeof m->allow - alen)
				alen += (size_t)n;
		}
	}
	return path_known ? 405 : 404;
}
