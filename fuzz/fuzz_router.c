/*
 * fuzz_router.c - the route table: router_match() and path parameters.
 *
 * The input is "METHOD\nPATH" (without a newline, all of it is the path and
 * the method is GET).  Both are read as C strings, as libmicrohttpd hands
 * them over: already percent-decoded, so a path may hold any byte but NUL.
 * A fixed, realistic table is registered on the first call through
 * http_route(), as the areas register theirs.
 *
 * Properties checked beyond "no crash, no leak":
 *  - 0 comes with a route whose method is the request's (HEAD also matches
 *    GET), 404 and 405 with index -1; 405 only with a non-empty Allow list.
 *  - A match is the first route of the table, in order, whose pattern fits
 *    the path: each {param} takes one non-empty segment without '/', and
 *    literal segments are equal byte for byte.
 *  - Substituting the captured values into the pattern gives the path back.
 *  - route_match_release() leaves no parameter behind.
 */
#include <string.h>

#include "fuzz/fuzz.h"
#include "server/server_int.h"

static void frt_handler(struct http_req *req) { (void)req; }

static const struct {
	const char *method, *pattern;
} frt_table[] = {
	{"GET", "/healthz"},
	{"GET", "/readyz"},
	{"GET", "/metrics"},
	{"GET", "/.well-known/paseto-keys"},
	{"POST", "/v1/accounts"},
	{"GET", "/v1/me"},
	{"PATCH", "/v1/me"},
	{"POST", "/v1/me/password"},
	{"GET", "/v1/profiles"},
	{"POST", "/v1/profiles"},
	{"PATCH", "/v1/profiles/{id}"},
	{"DELETE", "/v1/profiles/{id}"},
	{"POST", "/v1/profiles/{id}/unlock"},
	{"POST", "/v1/sessions"},
	{"GET", "/v1/sessions"},
	{"DELETE", "/v1/sessions/current"},
	{"DELETE", "/v1/sessions/{id}"},
	{"POST", "/v1/sessions/revoke-all"},
	{"POST", "/v1/tokens/refresh"},
	{"POST", "/v1/password-resets"},
	{"POST", "/v1/password-resets/confirm"},
	{"POST", "/oauth/device_authorization"},
	{"POST", "/oauth/token"},
	{"GET", "/device"},
	{"POST", "/device"},
	{"GET", "/v1/devices"},
	{"DELETE", "/v1/devices/{id}"},
	{"GET", "/v1/plans"},
	{"GET", "/v1/subscription"},
	{"POST", "/v1/subscription"},
	{"POST", "/v1/subscription/change-plan"},
	{"GET", "/v1/invoices"},
	{"GET", "/v1/invoices/{id}"},
	{"GET", "/v1/households/{id}"},
	{"DELETE", "/v1/households/{id}/members/{member_id}"},
	{"POST", "/v1/households/{id}/verifications/{vid}/confirm"},
	{"GET", "/admin/v1/accounts"},
	{"GET", "/admin/v1/accounts/{id}"},
	{"POST", "/admin/v1/accounts/{id}/lock"},
	{"POST", "/admin/v1/accounts/{id}/unlock"},
	{"GET", "/admin/v1/accounts/{id}/notes/{note_id}"},
	{"POST", "/admin/v1/accounts/{id}/invoices/{invoice_id}/refund"},
	{"GET", "/admin/v1/{a}/{b}/{c}/{d}"},
	{"GET", "/admin/v1/{a}/{b}/{c}/{d}/{e}"}, /* more params than a match holds */
	{"GET", "/test/v1/clock"},
	{"POST", "/test/v1/clock"},
};

#define FRT_ROUTES (sizeof frt_table / sizeof frt_table[0])

static void frt_register(void)
{
	static int done;
	if (done)
		return;
	done = 1;
	for (size_t i = 0; i < FRT_ROUTES; i++)
		http_route(frt_table[i].method, frt_table[i].pattern, frt_handler, 0, 0);
}

/* Whether `path` fits `pattern` by the rules above: the reference matcher. */
static bool frt_fits(const char *pattern, const char *path, int *nparams)
{
	*nparams = 0;
	while (*pattern) {
		if (*pattern != '/' || *path != '/')
			return false;
		pattern++;
		path++;
		size_t plen = strcspn(pattern, "/"), qlen = strcspn(path, "/");
		if (plen > 2 && pattern[0] == '{' && pattern[plen - 1] == '}') {
			if (qlen == 0)
				return false;
			++*nparams;
		} else if (plen != qlen || memcmp(pattern, path, plen) != 0) {
			return false;
		}
		pattern += plen;
		path += qlen;
	}
	return *path == '\0' && *nparams <= ROUTE_PARAMS_MAX;
}

static bool frt_method_ok(const char *route_method, const char *method)
{
	return strcmp(route_method, method) == 0 ||
	       (strcmp(method, "HEAD") == 0 && strcmp(route_method, "GET") == 0);
}

/* Rebuild the path from the pattern and the captured values. */
static void frt_check_substitution(const char *pattern, const struct route_match *m,
				   const char *path)
{
	size_t cap = strlen(path) + 1, o = 0;
	char *buf = malloc(cap);
	int k = 0;
	FUZZ_ASSERT(buf != NULL, "out of memory");
	for (const char *p = pattern; *p;) {
		if (p[0] == '{' && p > pattern && p[-1] == '/') {
			const char *close = strchr(p, '}');
			FUZZ_ASSERT(close && k < m->nparams, "fewer values than parameters");
			FUZZ_ASSERT(strncmp(m->names[k], p + 1, (size_t)(close - p - 1)) == 0 &&
					    m->names[k][close - p - 1] == '}',
				    "a parameter has the wrong name");
			size_t vlen = strlen(m->values[k]);
			FUZZ_ASSERT(vlen > 0 && !strchr(m->values[k], '/'),
				    "a parameter value is empty or holds '/'");
			FUZZ_ASSERT(o + vlen < cap, "the values are longer than the path");
			memcpy(buf + o, m->values[k], vlen);
			o += vlen;
			k++;
			p = close + 1;
		} else {
			FUZZ_ASSERT(o + 1 < cap, "the pattern is longer than the path");
			buf[o++] = *p++;
		}
	}
	buf[o] = '\0';
	FUZZ_ASSERT(k == m->nparams, "more values than parameters");
	FUZZ_ASSERT(strcmp(buf, path) == 0, "the values do not rebuild the path");
	free(buf);
}

int fuzz_router(const uint8_t *data, size_t size)
{
	char *input = fuzz_cstr(data, size);
	const char *method = "GET", *path;
	struct route_match m;
	int expect = -1, nparams = 0;
	bool path_known = false;

	if (!input)
		return 0;
	frt_register();
	char *nl = strchr(input, '\n');
	if (nl) {
		*nl = '\0';
		method = input;
		path = nl + 1;
	} else {
		path = input;
	}

	for (size_t i = 0; i < FRT_ROUTES; i++) {
		int np;
		if (!frt_fits(frt_table[i].pattern, path, &np))
			continue;
		path_known = true;
		if (frt_method_ok(frt_table[i].method, method)) {
			expect = (int)i;
			nparams = np;
			break;
		}
	}

	memset(&m, 0xa5, sizeof m); /* the router must not rely on a cleared match */
	m.nparams = 0;
	int rc = router_match(method, path, &m);
	if (expect >= 0) {
		FUZZ_ASSERT(rc == 0, "a path the table has was not matched");
		FUZZ_ASSERT(m.index == expect, "the match is not the first fitting route");
		FUZZ_ASSERT(m.nparams == nparams, "wrong number of parameters");
		const struct route *r = router_get(m.index);
		FUZZ_ASSERT(frt_method_ok(r->method, method), "matched a route of another method");
		frt_check_substitution(r->pattern, &m, path);
	} else {
		FUZZ_ASSERT(rc == (path_known ? 405 : 404), "wrong status for an unmatched path");
		FUZZ_ASSERT(m.index == -1 && m.nparams == 0, "an unmatched path kept a route");
		if (rc == 405)
			FUZZ_ASSERT(m.allow[0] != '\0', "405 without an Allow list");
	}
	route_match_release(&m);
	FUZZ_ASSERT(m.nparams == 0, "release left parameters");
	free(input);
	return 0;
}

#ifndef FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_router(data, size); }
#endif
