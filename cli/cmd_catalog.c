/*
 * hearthctl catalog ...: the plans and prices Hearth sells.
 *
 * `catalog show` reads the public GET /v1/plans over HTTP, so it shows
 * exactly what members see.  The small libcurl client below is local to
 * this file until the support-staff issue brings a shared client to cli/.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_int.h"

/* ---- a minimal JSON GET ---- */

struct body {
	char *buf;
	size_t len;
};

static size_t collect(char *data, size_t size, size_t n, void *arg)
{
	struct body *b = arg;
	size_t add = size * n;
	if (b->len + add > 8u * 1024 * 1024)
		return 0; /* refuse absurd replies */
	char *nb = realloc(b->buf, b->len + add + 1);
	if (!nb)
		return 0;
	memcpy(nb + b->len, data, add);
	b->buf = nb;
	b->len += add;
	b->buf[b->len] = '\0';
	return add;
}

/* GET `base` + `path`; *status gets the HTTP status and *doc the parsed
 * JSON body (caller decrefs; NULL when not JSON).  Returns CTL_OK, or
 * CTL_FAILURE (printed) when the server could not be reached. */
static int get_json(const char *base, const char *path, long *status, json_t **doc)
{
	struct body b = {NULL, 0};
	char url[512];
	int rc = CTL_FAILURE;
	*doc = NULL;
	int n = snprintf(url, sizeof url, "%s%s", base, path);
	if (n < 0 || (size_t)n >= sizeof url)
		return ctl_fail(CTL_USAGE, "the URL %s is too long", base);
	CURL *c = curl_easy_init();
	if (!c)
		return ctl_fail(CTL_FAILURE, "cannot start libcurl");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	CURLcode cr = curl_easy_perform(c);
	if (cr != CURLE_OK) {
		ctl_fail(CTL_FAILURE, "cannot reach Hearth at %s: %s", base, curl_easy_strerror(cr));
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	*doc = json_loadb(b.buf ? b.buf : "", b.len, 0, NULL);
	rc = CTL_OK;
out:
	curl_easy_cleanup(c);
	free(b.buf);
	return rc;
}

/* A problem document's detail (or its title) for a message. */
static const char *problem_text(json_t *doc)
{
	const char *d = json_string_value(json_object_get(doc, "detail"));
	return d ? d : "unexpected reply";
}

/* ---- the table ---- */

/* Columns are padded by displayed characters, not bytes: prices carry
 * UTF-8 symbols ("¥", "₹", "€"). */
static void print_cell(const char *s, int width, bool right)
{
	int chars = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if ((*p & 0xC0) != 0x80)
			chars++;
	int pad = width > chars ? width - chars : 0;
	if (right)
		printf("%*s%s  ", pad, "", s);
	else
		printf("%s%*s  ", s, pad, "");
}

static void devices_text(json_t *arr, char *buf, size_t cap)
{
	size_t used = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < json_array_size(arr); i++) {
		int n = snprintf(buf + used, cap - used, "%s%s", i ? "," : "",
				 json_string_value(json_array_get(arr, i)));
		if (n < 0 || (size_t)n >= cap - used)
			return;
		used += (size_t)n;
	}
}

static void print_country(json_t *doc)
{
	json_t *data = json_object_get(doc, "data");
	printf("%s (%s), catalog version %lld\n", json_string_value(json_object_get(doc, "country")),
	       json_string_value(json_object_get(doc, "currency")),
	       (long long)json_integer_value(json_object_get(doc, "catalog_version")));
	print_cell("PLAN", 18, false);
	print_cell("PRICE", 10, true);
	print_cell("TAX", 28, false);
	print_cell("STREAMS", 7, true);
	print_cell("RES", 3, false);
	print_cell("DL", 2, true);
	print_cell("EXTRA", 5, true);
	print_cell("EXTRA PRICE", 11, true);
	print_cell("ADS", 3, false);
	printf("DEVICES\n");
	for (size_t i = 0; i < json_array_size(data); i++) {
		json_t *p = json_array_get(data, i), *f = json_object_get(p, "features");
		json_t *em = json_object_get(p, "extra_member_price");
		char num[24], devs[64];
		print_cell(json_string_value(json_object_get(p, "code")), 18, false);
		print_cell(json_string_value(json_object_get(p, "display_price")), 10, true);
		print_cell(json_string_value(json_object_get(json_object_get(p, "tax"), "note")), 28, false);
		snprintf(num, sizeof num, "%lld", (long long)json_integer_value(json_object_get(f, "max_streams")));
		print_cell(num, 7, true);
		print_cell(json_string_value(json_object_get(f, "resolution")), 3, false);
		snprintf(num, sizeof num, "%lld", (long long)json_integer_value(json_object_get(f, "download_devices")));
		print_cell(num, 2, true);
		snprintf(num, sizeof num, "%lld", (long long)json_integer_value(json_object_get(f, "extra_member_slots")));
		print_cell(num, 5, true);
		print_cell(json_is_object(em) ? json_string_value(json_object_get(em, "display")) : "-", 11, true);
		print_cell(json_is_true(json_object_get(f, "ads")) ? "yes" : "no", 3, false);
		devices_text(json_object_get(f, "device_types"), devs, sizeof devs);
		printf("%s\n", devs);
	}
}

/* Fetch one country's plans into *doc; prints and returns the exit code on failure. */
static int fetch_country(const struct ctl *ctl, const char *country, json_t **doc)
{
	char path[64];
	long status = 0;
	snprintf(path, sizeof path, "/v1/plans?country=%s", country);
	int rc = get_json(ctl->url, path, &status, doc);
	if (rc != CTL_OK)
		return rc;
	if (status == 200 && json_is_array(json_object_get(*doc, "data")))
		return CTL_OK;
	rc = status == 422 || status == 404 ? CTL_NOT_FOUND : status == 400 ? CTL_USAGE : CTL_FAILURE;
	ctl_fail(rc, "%s (HTTP %ld)", problem_text(*doc), status);
	json_decref(*doc);
	*doc = NULL;
	return rc;
}

static bool is_country_code(const char *s)
{
	return strlen(s) == 2 && ((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z')) &&
	       ((s[1] >= 'A' && s[1] <= 'Z') || (s[1] >= 'a' && s[1] <= 'z'));
}

int cmd_catalog_show(struct ctl *ctl, int argc, char **argv)
{
	static const char *const valued[] = {"--country", NULL};
	json_t *countries = NULL, *all = NULL, *doc = NULL;
	int rc = CTL_OK;
	if (!ctl_check_args(argc, argv, valued, NULL, 0, 0, NULL))
		return ctl_usage_error("catalog show", "bad arguments");
	const char *country = ctl_opt(argc, argv, "--country");
	if (country && !is_country_code(country))
		return ctl_usage_error("catalog show", "--country takes a two-letter code such as JP");
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (country) {
		rc = fetch_country(ctl, country, &doc);
		if (rc == CTL_OK) {
			if (ctl->json) {
				json_dumpf(doc, stdout, JSON_INDENT(2));
				putchar('\n');
			} else {
				print_country(doc);
			}
		}
		goto out;
	}
	/* Every country the catalog sells in. */
	long status = 0;
	rc = get_json(ctl->url, "/v1/plans/countries", &status, &countries);
	if (rc != CTL_OK)
		goto out;
	if (status != 200) {
		rc = ctl_fail(CTL_FAILURE, "%s (HTTP %ld)", problem_text(countries), status);
		goto out;
	}
	all = json_array();
	json_t *list = json_object_get(countries, "data");
	for (size_t i = 0; i < json_array_size(list) && rc == CTL_OK; i++) {
		const char *code = json_string_value(json_object_get(json_array_get(list, i), "country"));
		if (!code || !is_country_code(code))
			continue;
		rc = fetch_country(ctl, code, &doc);
		if (rc != CTL_OK)
			break;
		if (!ctl->json) {
			if (i)
				putchar('\n');
			print_country(doc);
			json_decref(doc);
		} else {
			json_array_append_new(all, doc);
		}
		doc = NULL;
	}
	if (rc == CTL_OK && ctl->json) {
		json_t *o = json_pack("{s:O}", "data", all);
		json_dumpf(o, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(o);
	}
out:
	json_decref(doc);
	json_decref(all);
	json_decref(countries);
	curl_global_cleanup();
	return rc;
}
