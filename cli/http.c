/*
 * http.c - hearthctl's client of the admin API (libcurl).
 *
 * One request at a time: build the URL from ctl->url and the path, add the
 * bearer token, the reason of a change and a JSON body, and turn the reply
 * into either parsed JSON or a printed problem and an exit code.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/ctl.h"

struct buf {
	char *p;
	size_t len;
};

static size_t on_data(char *data, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;
	size_t add = size * n;
	char *p = realloc(b->p, b->len + add + 1);
	if (!p)
		return 0;
	memcpy(p + b->len, data, add);
	b->p = p;
	b->len += add;
	b->p[b->len] = '\0';
	return add;
}

char *ctl_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s);
	char *out = malloc(n * 3 + 1), *o = out;
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~') {
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

const char *ctl_token(struct ctl *ctl)
{
	if (ctl->token)
		return ctl->token;
	if (!ctl->saved_token)
		ctl->saved_token = ctl_token_load();
	return ctl->saved_token;
}

static int exit_for_status(long status)
{
	if (status == 404)
		return CTL_NOT_FOUND;
	if (status == 401 || status == 403)
		return CTL_FORBIDDEN;
	return CTL_FAILURE;
}

static void print_problem(struct ctl *ctl, long status, const json_t *doc)
{
	const char *code = ctl_str(doc, "code"), *detail = ctl_str(doc, "detail");
	if (!detail[0])
		detail = ctl_str(doc, "title");
	char fallback[32];
	if (!code[0]) {
		snprintf(fallback, sizeof fallback, "http_%ld", status);
		code = fallback;
	}
	fprintf(stderr, "%s: %s: %s\n", ctl_paint(ctl->err_color, "31;1", "error", 0), code,
		detail[0] ? detail : "the server gave no detail");
	const json_t *errors = json_object_get(doc, "errors");
	size_t i;
	const json_t *e;
	json_array_foreach(errors, i, e)
	{
		const char *field = ctl_str(e, "field");
		fprintf(stderr, "  %s: %s (%s)\n", field[0] ? field : "(body)", ctl_str(e, "message"),
			ctl_str(e, "code"));
	}
	if (status == 401 && strcmp(code, "invalid_credentials") != 0)
		fprintf(stderr, "hint: sign in with 'hearthctl login' or pass --token\n");
	if (status == 429) {
		json_int_t after = json_integer_value(json_object_get(doc, "retry_after"));
		if (after > 0)
			fprintf(stderr, "hint: retry in %lld seconds\n", (long long)after);
	}
}

int ctl_api(struct ctl *ctl, const char *method, const char *path, json_t *body, unsigned flags,
	    json_t **out)
{
	CURL *curl = NULL;
	struct curl_slist *headers = NULL;
	struct buf resp = {NULL, 0};
	char *text = NULL, *url = NULL, *auth = NULL, *why = NULL;
	int rc = CTL_FAILURE;
	if (out)
		*out = NULL;
	const char *token = NULL;
	if (!(flags & CTL_REQ_NO_AUTH)) {
		token = ctl_token(ctl);
		if (!token) {
			rc = ctl_fail(CTL_FORBIDDEN, "not signed in: run 'hearthctl login' or pass --token");
			goto out;
		}
	}
	if ((flags & CTL_REQ_CHANGE) || ((flags & CTL_REQ_REASON_IF_GIVEN) && ctl->reason)) {
		const char *reason = ctl_reason(ctl);
		if (!reason) {
			rc = CTL_USAGE;
			goto out;
		}
		size_t n = strlen("X-Hearth-Reason: ") + strlen(reason) + 1;
		why = malloc(n);
		if (!why)
			goto out;
		snprintf(why, n, "X-Hearth-Reason: %s", reason);
		headers = curl_slist_append(headers, why);
	}
	size_t ulen = strlen(ctl->url) + strlen(path) + 1;
	url = malloc(ulen);
	if (!url)
		goto out;
	/* "http://host:8080/" and "/admin/..." must not make "//admin". */
	size_t base = strlen(ctl->url);
	while (base > 0 && ctl->url[base - 1] == '/')
		base--;
	snprintf(url, ulen, "%.*s%s", (int)base, ctl->url, path);
	if (token) {
		size_t n = strlen("Authorization: Bearer ") + strlen(token) + 1;
		auth = malloc(n);
		if (!auth)
			goto out;
		snprintf(auth, n, "Authorization: Bearer %s", token);
		headers = curl_slist_append(headers, auth);
	}
	headers = curl_slist_append(headers, "Accept: application/json");
	if (body) {
		text = json_dumps(body, JSON_COMPACT);
		if (!text)
			goto out;
		headers = curl_slist_append(headers, "Content-Type: application/json");
	}
	curl = curl_easy_init();
	if (!curl)
		goto out;
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &resp);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "hearthctl");
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 120L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	if (text)
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, text);
	CURLcode cc = curl_easy_perform(curl);
	if (cc != CURLE_OK) {
		rc = ctl_fail(CTL_FAILURE, "cannot reach Hearth at %s: %s", ctl->url, curl_easy_strerror(cc));
		goto out;
	}
	long status = 0;
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	json_t *doc = resp.len ? json_loadb(resp.p, resp.len, 0, NULL) : NULL;
	if (status >= 200 && status < 300) {
		if (resp.len && !doc) {
			rc = ctl_fail(CTL_FAILURE, "the server's reply is not JSON");
			goto out;
		}
		if (out)
			*out = doc;
		else
			json_decref(doc);
		rc = CTL_OK;
		goto out;
	}
	rc = exit_for_status(status);
	if (!(status == 404 && (flags & CTL_REQ_QUIET_404)))
		print_problem(ctl, status, doc);
	json_decref(doc);
out:
	if (curl)
		curl_easy_cleanup(curl);
	curl_slist_free_all(headers);
	json_decref(body);
	free(text);
	free(url);
	if (auth) {
		memset(auth, 0, strlen(auth));
		free(auth);
	}
	free(why);
	free(resp.p);
	return rc;
}

const char *ctl_reason(struct ctl *ctl)
{
	static char asked[512];
	const char *r = ctl->reason;
	if (!r) {
		if (!ctl_interactive()) {
			fprintf(stderr, "hearthctl: this changes something: say why with --reason \"...\"\n");
			return NULL;
		}
		if (!ctl_read_line("Reason for this change (kept in the audit log): ", false, asked, sizeof asked)) {
			fprintf(stderr, "hearthctl: a reason is required\n");
			return NULL;
		}
		r = asked;
	}
	while (*r == ' ' || *r == '\t')
		r++;
	size_t n = strlen(r);
	while (n > 0 && (r[n - 1] == ' ' || r[n - 1] == '\t'))
		n--;
	if (n == 0) {
		fprintf(stderr, "hearthctl: the reason is empty; say why with --reason \"...\"\n");
		return NULL;
	}
	if (n > 500) {
		fprintf(stderr, "hearthctl: the reason is longer than 500 bytes\n");
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)r[i] < 0x20) {
			fprintf(stderr, "hearthctl: the reason must be one line of text\n");
			return NULL;
		}
	}
	/* Keep it trimmed for the header (r may point into asked). */
	memmove(asked, r, n);
	asked[n] = '\0';
	return asked;
}

int ctl_api_get_all(struct ctl *ctl, const char *path, const char *id_field, json_t **all)
{
	json_t *page = NULL;
	char url[256];
	char *after = NULL;
	int rc = CTL_OK;
	*all = json_array();
	for (;;) {
		snprintf(url, sizeof url, "%s?limit=100%s%s", path, after ? "&starting_after=" : "",
			 after ? after : "");
		free(after);
		after = NULL;
		rc = ctl_api(ctl, "GET", url, NULL, 0, &page);
		if (rc != CTL_OK)
			break;
		json_t *data = json_object_get(page, "data");
		json_array_extend(*all, data);
		size_t n = json_array_size(data);
		if (json_is_true(json_object_get(page, "has_more")) && n > 0)
			after = ctl_escape(ctl_str(json_array_get(data, n - 1), id_field));
		json_decref(page);
		page = NULL;
		if (!after)
			break;
	}
	return rc;
}
