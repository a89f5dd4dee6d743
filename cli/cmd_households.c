/*
 * hearthctl households ...: the support tools for a member's household
 * (GET /admin/v1/accounts/{id}/household and its reset, and travel access
 * for one device).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_int.h"

/* "/admin/v1/<kind>/<escaped id><suffix>" into `path`. */
static bool id_path(const char *kind, const char *id, const char *suffix, char *path, size_t cap)
{
	char *e = ctl_escape(id);
	if (!e)
		return false;
	int n = snprintf(path, cap, "/admin/v1/%s/%s%s", kind, e, suffix);
	free(e);
	return n > 0 && (size_t)n < cap;
}

static const char *yes_no(const json_t *o, const char *key)
{
	return json_is_true(json_object_get(o, key)) ? "yes" : "no";
}

/* The reasons of a decision, comma-separated, into `buf`. */
static const char *joined(const json_t *arr, char *buf, size_t cap)
{
	size_t used = 0, i;
	json_t *r;
	buf[0] = '\0';
	json_array_foreach(arr, i, r)
	{
		int n = snprintf(buf + used, cap - used, "%s%s", i ? "," : "", json_string_value(r));
		if (n < 0 || (size_t)n >= cap - used)
			break;
		used += (size_t)n;
	}
	return buf;
}

static void show_household(struct ctl *ctl, const json_t *doc)
{
	char line[512];
	const json_t *pol = json_object_get(doc, "policy");
	printf("%s\n", ctl_paint(ctl->color, "1", ctl_str(doc, "account_id"), 0));
	ctl_field(ctl, "Household", ctl_str(doc, "status"));
	ctl_field(ctl, "Set on", ctl_str(doc, "origin_network"));
	ctl_field(ctl, "Set at", ctl_str(doc, "set_at"));
	ctl_field(ctl, "Set by", ctl_str(doc, "set_by_device"));
	snprintf(line, sizeof line, "%s, enforcement %s, window %lld days, travel %lld days x %lld",
		 ctl_str(pol, "country"), yes_no(pol, "enforcement"),
		 (long long)json_integer_value(json_object_get(pol, "window_days")),
		 (long long)json_integer_value(json_object_get(pol, "travel_days")),
		 (long long)json_integer_value(json_object_get(pol, "travel_grants_per_period")));
	ctl_field(ctl, "Policy", line);

	static const char *const ntitles[] = {"NETWORK", "ORIGIN", "TV LAST SEEN", "HOUSEHOLD UNTIL"};
	ctl_heading(ctl, "Networks");
	struct ctl_table *t = ctl_table_new(4, ntitles);
	size_t i;
	json_t *n;
	json_array_foreach(json_object_get(doc, "networks"), i, n)
	{
		const char *row[4] = {ctl_str(n, "prefix"), yes_no(n, "origin"), ctl_str(n, "last_tv_seen_at"),
				      ctl_str(n, "household_until")};
		ctl_table_row(t, row);
	}
	ctl_table_print(ctl, t);
	ctl_table_free(t);

	static const char *const dtitles[] = {"DEVICE", "TYPE", "NAME", "TRUSTED", "WHY", "LAST SEEN",
					      "NETWORK", "AT HOME", "TRAVEL UNTIL"};
	ctl_heading(ctl, "Devices");
	t = ctl_table_new(9, dtitles);
	json_array_foreach(json_object_get(doc, "devices"), i, n)
	{
		const char *row[9] = {ctl_str(n, "id"), ctl_str(n, "type"), ctl_str(n, "name"),
				      json_is_true(json_object_get(n, "trusted"))
					      ? ctl_paint(ctl->color, "32", "yes", 0)
					      : ctl_paint(ctl->color, "31", "no", 0),
				      ctl_str(n, "why"), ctl_str(n, "last_seen_at"), ctl_str(n, "last_network"),
				      ctl_str(n, "last_seen_at_home"), ctl_str(n, "travel_access_until")};
		ctl_table_row(t, row);
	}
	ctl_table_print(ctl, t);
	ctl_table_free(t);

	static const char *const rtitles[] = {"WHEN", "DEVICE", "NETWORK", "OUTCOME", "REASONS"};
	ctl_heading(ctl, "Recent playback decisions");
	t = ctl_table_new(5, rtitles);
	json_array_foreach(json_object_get(doc, "recent_decisions"), i, n)
	{
		const char *row[5] = {ctl_str(n, "created_at"), ctl_str(n, "device_id"), ctl_str(n, "network"),
				      ctl_str(n, "outcome"),
				      joined(json_object_get(n, "reasons"), line, sizeof line)};
		ctl_table_row(t, row);
	}
	ctl_table_print(ctl, t);
	ctl_table_free(t);

	const json_t *sh = json_object_get(doc, "sharing");
	ctl_heading(ctl, "Sharing assessment");
	const char *level = ctl_str(sh, "level");
	const char *color = strcmp(level, "none") == 0 ? "32" : strcmp(level, "possible") == 0 ? "33" : "31;1";
	snprintf(line, sizeof line, "%s (score %lld, last %lld days)", level,
		 (long long)json_integer_value(json_object_get(sh, "score")),
		 (long long)json_integer_value(json_object_get(sh, "window_days")));
	ctl_field(ctl, "Level", ctl_paint(ctl->color, color, line, 1));
	json_array_foreach(json_object_get(sh, "evidence"), i, n)
	{
		char *text = json_dumps(n, JSON_COMPACT | JSON_SORT_KEYS);
		printf("  - %s\n", text ? text : "?");
		free(text);
	}
}

int cmd_households_show(struct ctl *ctl, int argc, char **argv)
{
	const char *pos[1] = {NULL};
	char path[200];
	json_t *doc = NULL;
	if (!ctl_check_args(argc, argv, NULL, NULL, 1, 1, pos))
		return ctl_usage_error("households show", "give the account id (acc_...)");
	if (strlen(pos[0]) > 100 || !id_path("accounts", pos[0], "/household", path, sizeof path))
		return ctl_usage_error("households show", "that is not an account id");
	int rc = ctl_api(ctl, "GET", path, NULL, 0, &doc);
	if (rc != CTL_OK)
		return rc;
	if (ctl->json)
		ctl_print_json(doc);
	else
		show_household(ctl, doc);
	json_decref(doc);
	return CTL_OK;
}

int cmd_households_reset(struct ctl *ctl, int argc, char **argv)
{
	const char *pos[1] = {NULL};
	char path[200], q[200];
	json_t *out = NULL;
	if (!ctl_check_args(argc, argv, NULL, NULL, 1, 1, pos))
		return ctl_usage_error("households reset", "give the account id (acc_...)");
	if (strlen(pos[0]) > 100 || !id_path("accounts", pos[0], "/household/reset", path, sizeof path))
		return ctl_usage_error("households reset", "that is not an account id");
	snprintf(q, sizeof q, "Forget the household of %.60s? Its next TV at home proposes a new one.", pos[0]);
	int rc = ctl_confirm(ctl, q);
	if (rc != CTL_OK)
		return rc;
	rc = ctl_api(ctl, "POST", path, NULL, CTL_REQ_CHANGE, &out);
	if (rc == CTL_OK && ctl->json)
		ctl_print_json(out);
	else if (rc == CTL_OK)
		printf("Reset the household of %s (it was %s on %s).\n", ctl_str(out, "account_id"),
		       ctl_str(out, "previous_status"), ctl_str(out, "previous_network"));
	json_decref(out);
	return rc;
}

static const char *const travel_valued[] = {"--days", NULL};

int cmd_households_grant_travel(struct ctl *ctl, int argc, char **argv)
{
	const char *pos[1] = {NULL};
	char path[200];
	json_t *out = NULL;
	if (!ctl_check_args(argc, argv, travel_valued, NULL, 1, 1, pos))
		return ctl_usage_error("households grant-travel", "give the device id (dev_...) and --days N");
	const char *days_text = ctl_opt(argc, argv, "--days");
	char *end = NULL;
	errno = 0;
	long long days = days_text ? strtoll(days_text, &end, 10) : 0;
	if (!days_text || errno || !end || *end || days < 1 || days > 90)
		return ctl_usage_error("households grant-travel", "--days takes a whole number from 1 to 90");
	if (strlen(pos[0]) > 100 || !id_path("devices", pos[0], "/travel", path, sizeof path))
		return ctl_usage_error("households grant-travel", "that is not a device id");
	int rc = ctl_api(ctl, "POST", path, json_pack("{s:I}", "days", (json_int_t)days), CTL_REQ_CHANGE, &out);
	if (rc == CTL_OK && ctl->json)
		ctl_print_json(out);
	else if (rc == CTL_OK)
		printf("Device %s has travel access until %s.\n", ctl_str(out, "device_id"),
		       ctl_str(out, "travel_access_until"));
	json_decref(out);
	return rc;
}
