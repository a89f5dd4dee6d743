/*
 * hearthctl notifications ..., audit, events tail: reading what happened.
 */
#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli_int.h"
#include "core/clock.h"

static const char *const to_valued[] = {"--to", "--limit", NULL};

/* A notification: when it was queued, how delivery went (sends tried, the
 * last failure's code) and whose it is. */
static void add_notification_row(struct ctl_table *t, const json_t *n)
{
	char tries[24];
	snprintf(tries, sizeof tries, "%lld", (long long)json_integer_value(json_object_get(n, "attempts")));
	const char *row[8] = {ctl_str(n, "id"),	    ctl_str(n, "created_at"), ctl_str(n, "template"),
			      ctl_str(n, "channel"), ctl_str(n, "status"),     tries,
			      ctl_str(n, "last_error"), ctl_str(n, "account_id")};
	ctl_table_row(t, row);
}

int cmd_notifications_list(struct ctl *ctl, int argc, char **argv)
{
	static const char *const titles[] = {"ID",	"QUEUED", "TEMPLATE",	"CHANNEL",
					     "STATUS", "TRIES",	 "LAST ERROR", "ACCOUNT"};
	char path[800];
	json_t *res = NULL;
	if (!ctl_check_args(argc, argv, to_valued, NULL, 0, 0, NULL))
		return ctl_usage_error("notifications list", "bad arguments");
	const char *to = ctl_opt(argc, argv, "--to");
	const char *limit = ctl_opt(argc, argv, "--limit");
	if (!to || !to[0] || strlen(to) > 320)
		return ctl_usage_error("notifications list", "--to ADDRESS (an email address or phone number) is required");
	char *q = ctl_escape(to);
	char *l = limit ? ctl_escape(limit) : NULL;
	if (!q)
		return CTL_FAILURE;
	snprintf(path, sizeof path, "/admin/v1/notifications?to=%s%s%s", q, l ? "&limit=" : "", l ? l : "");
	free(q);
	free(l);
	int rc = ctl_api(ctl, "GET", path, NULL, 0, &res);
	if (rc != CTL_OK)
		return rc;
	if (ctl->json)
		ctl_print_json(res);
	else
		ctl_print_rows(ctl, json_object_get(res, "data"), 8, titles, add_notification_row);
	json_decref(res);
	return CTL_OK;
}

int cmd_notifications_resend(struct ctl *ctl, int argc, char **argv)
{
	const char *pos[1] = {NULL};
	char path[200];
	json_t *out = NULL;
	if (!ctl_check_args(argc, argv, NULL, NULL, 1, 1, pos) || strlen(pos[0]) > 100)
		return ctl_usage_error("notifications resend", "give the notification id (ntf_...)");
	char *id = ctl_escape(pos[0]);
	if (!id)
		return CTL_FAILURE;
	snprintf(path, sizeof path, "/admin/v1/notifications/%s/resend", id);
	free(id);
	int rc = ctl_api(ctl, "POST", path, NULL, CTL_REQ_CHANGE, &out);
	if (rc == CTL_OK) {
		if (ctl->json)
			ctl_print_json(out);
		else
			printf("Queued %s again as %s.\n", pos[0], ctl_str(out, "id"));
	}
	json_decref(out);
	return rc;
}

/* "2027-01-15T00:00:00Z" as is, or "24h" / "7d" / "30m" before now. */
static bool since_time(const char *s, char *out, size_t cap)
{
	int64_t t;
	if (clock_parse(s, &t) == ERR_OK) {
		snprintf(out, cap, "%s", s);
		return true;
	}
	char *end = NULL;
	long long n = strtoll(s, &end, 10);
	if (end == s || n < 0 || n > 100000 || !end || end[1] != '\0')
		return false;
	int64_t unit = *end == 'm' ? 60 : *end == 'h' ? 3600 : *end == 'd' ? 86400 : 0;
	if (!unit)
		return false;
	clock_format((int64_t)time(NULL) - n * unit, out, cap);
	return true;
}

static void add_audit_row(struct ctl_table *t, const json_t *a)
{
	char target_s[160];
	snprintf(target_s, sizeof target_s, "%s %s", ctl_str(a, "target_type"), ctl_str(a, "target_id"));
	const char *row[5] = {ctl_str(a, "created_at"), ctl_str(a, "staff_id"), ctl_str(a, "action"),
			      target_s, ctl_str(a, "reason")};
	ctl_table_row(t, row);
}

static const char *const audit_valued[] = {"--target", "--staff", "--since", "--limit", NULL};

int cmd_audit(struct ctl *ctl, int argc, char **argv)
{
	static const char *const titles[] = {"WHEN", "STAFF", "ACTION", "TARGET", "REASON"};
	char path[1200], since[40];
	json_t *res = NULL;
	if (!ctl_check_args(argc, argv, audit_valued, NULL, 0, 0, NULL))
		return ctl_usage_error("audit", "bad arguments");
	const char *target = ctl_opt(argc, argv, "--target");
	const char *staff = ctl_opt(argc, argv, "--staff");
	const char *s = ctl_opt(argc, argv, "--since");
	const char *limit = ctl_opt(argc, argv, "--limit");
	if (s && !since_time(s, since, sizeof since))
		return ctl_usage_error("audit", "--since takes an RFC 3339 time or an age such as 24h, 7d, 30m");
	char *t = target ? ctl_escape(target) : NULL, *st = staff ? ctl_escape(staff) : NULL;
	char *sn = s ? ctl_escape(since) : NULL, *l = limit ? ctl_escape(limit) : NULL;
	int n = snprintf(path, sizeof path, "/admin/v1/audit?limit=%s%s%s%s%s%s%s", l ? l : "50",
			 t ? "&target=" : "", t ? t : "", st ? "&staff=" : "", st ? st : "",
			 sn ? "&since=" : "", sn ? sn : "");
	free(t);
	free(st);
	free(sn);
	free(l);
	if (n < 0 || (size_t)n >= sizeof path)
		return ctl_usage_error("audit", "the filters are too long");
	int rc = ctl_api(ctl, "GET", path, NULL, 0, &res);
	if (rc != CTL_OK)
		return rc;
	if (ctl->json) {
		ctl_print_json(res);
	} else {
		ctl_print_rows(ctl, json_object_get(res, "data"), 5, titles, add_audit_row);
		if (json_is_true(json_object_get(res, "has_more")))
			printf("(more rows: narrow with --target, --staff or --since, or raise --limit)\n");
	}
	json_decref(res);
	return CTL_OK;
}

static volatile sig_atomic_t stop_following;

static void on_interrupt(int sig)
{
	(void)sig;
	stop_following = 1;
}

static const char *const tail_valued[] = {"--after", "--type", "--limit", "--interval", NULL};
static const char *const tail_flags[] = {"--follow", NULL};

static bool whole_number(const char *s, long long max, long long *out)
{
	char *end = NULL;
	if (!s || !isdigit((unsigned char)s[0]))
		return false;
	long long v = strtoll(s, &end, 10);
	if (*end || v < 0 || v > max)
		return false;
	*out = v;
	return true;
}

int cmd_events_tail(struct ctl *ctl, int argc, char **argv)
{
	char path[600];
	long long after = 0, limit = 100, interval = 2;
	if (!ctl_check_args(argc, argv, tail_valued, tail_flags, 0, 0, NULL))
		return ctl_usage_error("events tail", "bad arguments");
	const char *a = ctl_opt(argc, argv, "--after"), *type = ctl_opt(argc, argv, "--type");
	if (a && !whole_number(a, INT64_MAX, &after))
		return ctl_usage_error("events tail", "--after takes an event id (a whole number)");
	if (ctl_opt(argc, argv, "--limit") && (!whole_number(ctl_opt(argc, argv, "--limit"), 1000, &limit) || limit == 0))
		return ctl_usage_error("events tail", "--limit takes 1 to 1000");
	if (ctl_opt(argc, argv, "--interval") &&
	    (!whole_number(ctl_opt(argc, argv, "--interval"), 3600, &interval) || interval == 0))
		return ctl_usage_error("events tail", "--interval takes 1 to 3600 seconds");
	bool follow = ctl_flag(argc, argv, "--follow");
	char *t = type ? ctl_escape(type) : NULL;
	if (follow)
		signal(SIGINT, on_interrupt);
	int rc = CTL_OK;
	bool header = false;
	while (!stop_following) {
		json_t *res = NULL;
		snprintf(path, sizeof path, "/admin/v1/events?after=%lld&limit=%lld%s%s", after, limit,
			 t ? "&type=" : "", t ? t : "");
		rc = ctl_api(ctl, "GET", path, NULL, 0, &res);
		if (rc != CTL_OK)
			break;
		size_t i;
		json_t *e;
		json_t *data = json_object_get(res, "data");
		if (!ctl->json && !header && !follow && json_array_size(data) == 0)
			printf("(no events after %lld)\n", after);
		json_array_foreach(data, i, e)
		{
			if (ctl->json) {
				/* One JSON object per line: easy to pipe into jq. */
				char *line = json_dumps(e, JSON_COMPACT);
				printf("%s\n", line ? line : "{}");
				free(line);
				continue;
			}
			if (!header) {
				printf("%s\n", ctl_paint(ctl->color, "1", "ID        TIME                  TYPE                          SUBJECT", 0));
				header = true;
			}
			printf("%-9lld %-21s %-29s %s\n", (long long)json_integer_value(json_object_get(e, "id")),
			       ctl_str(e, "created_at"), ctl_str(e, "type"), ctl_str(e, "subject"));
		}
		fflush(stdout);
		after = (long long)json_integer_value(json_object_get(res, "next_after"));
		bool more = json_is_true(json_object_get(res, "has_more"));
		json_decref(res);
		if (more)
			continue;
		if (!follow)
			break;
		for (long long s = 0; s < interval && !stop_following; s++)
			sleep(1);
	}
	free(t);
	if (!ctl->json && !follow && rc == CTL_OK)
		fprintf(stderr, "Next: hearthctl events tail --after %lld\n", after);
	return stop_following ? CTL_OK : rc;
}
