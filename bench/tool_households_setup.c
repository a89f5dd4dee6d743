/*
 * bench_tool_households_setup - prepare a running hearthd for the
 * households benchmarks (bench/households.sh): a member on the premium
 * plan (sandbox card pm_card_visa), a TV that sets the household with the
 * owner's code (read from the notifications table of the server's
 * database, as a member would read the email), and a phone at home.
 *
 * Usage: bench_tool_households_setup --url http://127.0.0.1:PORT --db PATH [--email EMAIL]
 * Prints shell assignments on stdout:
 *   HH_TOKEN=...      the phone's access token
 *   HH_PROFILE=...    the owner profile id
 *   HH_BODY=...       {"profile_id":"..."} for POST /v1/playback/sessions
 * Exits 1 with a message on stderr when a step fails.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/db.h"

#define PASSWORD "bench password, long enough"

static const char *base;

struct buf {
	char *p;
	size_t len;
};

static size_t collect(char *data, size_t size, size_t nmemb, void *userp)
{
	struct buf *b = userp;
	size_t n = size * nmemb;
	char *np = realloc(b->p, b->len + n + 1);
	if (!np)
		return 0;
	memcpy(np + b->len, data, n);
	b->p = np;
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "bench_tool_households_setup: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	exit(1);
}

/* `method` `path` with `body` (stolen, may be NULL) and `token`; dies unless
 * the status is `want`; returns the parsed reply (caller frees). */
static json_t *call(const char *method, const char *path, const char *token, json_t *body, long want)
{
	char url[512], auth[1200];
	struct buf b = {0};
	struct curl_slist *h = NULL;
	long status = 0;
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	CURL *c = curl_easy_init();
	if (!c)
		die("curl_easy_init failed", NULL);
	snprintf(url, sizeof url, "%s%s", base, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	if (text) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, text);
		h = curl_slist_append(h, "Content-Type: application/json");
	}
	if (token) {
		snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
		h = curl_slist_append(h, auth);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	if (curl_easy_perform(c) != CURLE_OK)
		die("request failed", path);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	free(text);
	if (status != want) {
		fprintf(stderr, "%s %s: HTTP %ld: %s\n", method, path, status, b.p ? b.p : "");
		die("unexpected status", path);
	}
	json_t *doc = b.p ? json_loads(b.p, 0, NULL) : NULL;
	free(b.p);
	return doc ? doc : json_object();
}

static void copy(char *dst, size_t cap, const char *src, const char *what)
{
	if (!src || strlen(src) >= cap)
		die("missing in a reply", what);
	memcpy(dst, src, strlen(src) + 1);
}

static json_t *sign_in(const char *email, const char *name, const char *type)
{
	return call("POST", "/v1/sessions", NULL,
		    json_pack("{s:s, s:s, s:{s:s, s:s}}", "email", email, "password", PASSWORD, "device",
			      "name", name, "type", type),
		    201);
}

int main(int argc, char **argv)
{
	const char *db_path = NULL, *email = "bench-owner@example.com";
	char owner[1200], tv[1200], phone[1200], profile[64], challenge[64], code[16] = "";
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--url") == 0)
			base = argv[i + 1];
		else if (strcmp(argv[i], "--db") == 0)
			db_path = argv[i + 1];
		else if (strcmp(argv[i], "--email") == 0)
			email = argv[i + 1];
		else
			die("unknown option", argv[i]);
	}
	if (!base || !db_path)
		die("usage: --url URL --db PATH [--email EMAIL]", NULL);
	curl_global_init(CURL_GLOBAL_DEFAULT);

	json_t *r = call("POST", "/v1/accounts", NULL,
			 json_pack("{s:s, s:s, s:s}", "email", email, "password", PASSWORD, "country", "US"), 201);
	copy(owner, sizeof owner, json_string_value(json_object_get(r, "access_token")), "access_token");
	copy(profile, sizeof profile, json_string_value(json_object_get(json_object_get(r, "profile"), "id")),
	     "profile");
	json_decref(r);
	json_decref(call("POST", "/v1/payment-methods", owner, json_pack("{s:s}", "token", "pm_card_visa"), 201));
	json_decref(call("POST", "/v1/subscription", owner, json_pack("{s:s}", "plan", "premium"), 201));

	/* The TV sets the household with the owner's code. */
	r = sign_in(email, "Living room TV", "tv");
	copy(tv, sizeof tv, json_string_value(json_object_get(r, "access_token")), "tv token");
	json_decref(r);
	r = call("POST", "/v1/household", tv, NULL, 202);
	copy(challenge, sizeof challenge,
	     json_string_value(json_object_get(json_object_get(r, "challenge"), "id")), "challenge");
	json_decref(r);
	struct db_options o;
	struct db *db = NULL;
	struct db_stmt *st = NULL;
	db_options_init(&o);
	o.path = db_path;
	if (db_open(&o, &db) != ERR_OK ||
	    db_prepare(db,
		       "SELECT payload FROM notifications WHERE template = 'household_code'"
		       " AND payload LIKE '%' || ?1 || '%'",
		       &st) != ERR_OK)
		die("cannot read the database", db_path);
	db_bind_text(st, 1, challenge);
	if (db_step_row(st) == ERR_OK) {
		json_t *p = json_loads(db_column_text(st, 0), 0, NULL);
		const char *c = json_string_value(json_object_get(p, "code"));
		if (c && strlen(c) < sizeof code)
			memcpy(code, c, strlen(c) + 1);
		json_decref(p);
	}
	db_done(st);
	db_close(db);
	if (!code[0])
		die("no code was sent", challenge);
	char path[128];
	snprintf(path, sizeof path, "/v1/verifications/%s/confirm", challenge);
	json_decref(call("POST", path, tv, json_pack("{s:s}", "code", code), 200));

	/* The phone at home plays once, as the benchmark will. */
	r = sign_in(email, "Phone", "phone");
	copy(phone, sizeof phone, json_string_value(json_object_get(r, "access_token")), "phone token");
	json_decref(r);
	json_decref(call("POST", "/v1/playback/sessions", phone, json_pack("{s:s}", "profile_id", profile), 201));

	printf("HH_TOKEN=%s\nHH_PROFILE=%s\nHH_BODY={\"profile_id\":\"%s\"}\n", phone, profile, profile);
	curl_global_cleanup();
	return 0;
}
