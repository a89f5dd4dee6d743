/*
 * hearthctl accounts ...: the support tools for one member's account.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli_int.h"

/* "/admin/v1/accounts/<escaped id><suffix>" into `path`. */
static bool account_path(const char *id, const char *suffix, char *path, size_t cap)
{
	char *e = ctl_escape(id);
	if (!e)
		return false;
	int n = snprintf(path, cap, "/admin/v1/accounts/%s%s", e, suffix);
	free(e);
	return n > 0 && (size_t)n < cap;
}

static int one_id(const char *cmd, int argc, char **argv, const char *const *valued,
		  const char *const *flags, const char **id)
{
	const char *pos[1] = {NULL};
	if (!ctl_check_args(argc, argv, valued, flags, 1, 1, pos))
		return ctl_usage_error(cmd, "give the account id (acc_...)");
	if (strlen(pos[0]) > 100)
		return ctl_usage_error(cmd, "that is not an account id");
	*id = pos[0];
	return CTL_OK;
}

/* The API answers a 404 for an unknown account; say it in words. */
static int not_found(const char *id)
{
	fprintf(stderr, "error: not_found: no account %s\n", id);
	return CTL_NOT_FOUND;
}

static void add_match_row(struct ctl_table *t, const json_t *a)
{
	const char *row[6] = {ctl_str(a, "id"), ctl_str(a, "email"), ctl_str(a, "name"),
			      ctl_str(a, "country"), ctl_str(a, "status"), ctl_str(a, "matched")};
	ctl_table_row(t, row);
}

int cmd_accounts_search(struct ctl *ctl, int argc, char **argv)
{
	static const char *const titles[] = {"ID", "EMAIL", "NAME", "COUNTRY", "STATUS", "MATCHED"};
	const char *pos[1] = {NULL};
	char path[600];
	json_t *res = NULL;
	if (!ctl_check_args(argc, argv, NULL, NULL, 1, 1, pos))
		return ctl_usage_error("accounts search", "give one search term (email, id, phone, device id or invoice number)");
	if (!pos[0][0] || strlen(pos[0]) > 320)
		return ctl_usage_error("accounts search", "the search term is 1 to 320 characters");
	char *q = ctl_escape(pos[0]);
	if (!q)
		return CTL_FAILURE;
	snprintf(path, sizeof path, "/admin/v1/accounts?query=%s", q);
	free(q);
	int rc = ctl_api(ctl, "GET", path, NULL, 0, &res);
	if (rc != CTL_OK)
		return rc;
	json_t *data = json_object_get(res, "data");
	if (ctl->json)
		ctl_print_json(res);
	else
		ctl_print_rows(ctl, data, 6, titles, add_match_row);
	/* No match is "not found" for scripts, and still a clean table for people. */
	if (json_array_size(data) == 0)
		rc = CTL_NOT_FOUND;
	json_decref(res);
	return rc;
}

static void show_account(struct ctl *ctl, const json_t *doc)
{
	const json_t *a = json_object_get(doc, "account");
	const char *status = ctl_str(a, "status");
	const char *color = strcmp(status, "active") == 0 ? "32" : "31;1";
	printf("%s\n", ctl_paint(ctl->color, "1", ctl_str(a, "id"), 0));
	ctl_field(ctl, "Status", ctl_paint(ctl->color, color, status, 1));
	ctl_field(ctl, "Email", ctl_str(a, "email"));
	ctl_field(ctl, "Name", ctl_str(a, "name"));
	ctl_field(ctl, "Phone", ctl_str(a, "phone"));
	ctl_field(ctl, "Country", ctl_str(a, "country"));
	ctl_field(ctl, "Language", ctl_str(a, "language"));
	ctl_field(ctl, "Member since", ctl_str(a, "created_at"));

	static const char *const ptitles[] = {"PROFILE", "NAME", "OWNER", "KIDS", "PIN"};
	ctl_heading(ctl, "Profiles");
	struct ctl_table *t = ctl_table_new(5, ptitles);
	size_t i;
	json_t *p;
	json_array_foreach(json_object_get(doc, "profiles"), i, p)
	{
		const char *row[5] = {ctl_str(p, "id"), ctl_str(p, "name"),
				      json_is_true(json_object_get(p, "is_owner")) ? "yes" : "no",
				      json_is_true(json_object_get(p, "kids")) ? "yes" : "no",
				      json_is_true(json_object_get(p, "has_pin")) ? "yes" : "no"};
		ctl_table_row(t, row);
	}
	ctl_table_print(ctl, t);
	ctl_table_free(t);

	static const char *const stitles[] = {"SIGN-IN", "DEVICE", "TYPE", "NAME", "LAST USED", "NETWORK"};
	ctl_heading(ctl, "Sign-ins and devices");
	t = ctl_table_new(6, stitles);
	json_array_foreach(json_object_get(doc, "sessions"), i, p)
	{
		const char *row[6] = {ctl_str(p, "id"), ctl_str(p, "device_id"), ctl_str(p, "device_type"),
				      ctl_str(p, "device_name"), ctl_str(p, "last_used_at"),
				      ctl_str(p, "last_network")};
		ctl_table_row(t, row);
	}
	ctl_table_print(ctl, t);
	ctl_table_free(t);

	/* What other areas add (subscription, invoices, household): shown as
	 * they give it, since hearthctl cannot know their shapes. */
	const char *name;
	json_t *section, *sections = json_object_get(doc, "sections");
	json_object_foreach(sections, name, section)
	{
		ctl_heading(ctl, name);
		char *text = json_dumps(section, JSON_INDENT(2));
		printf("%s\n", text ? text : "?");
		free(text);
	}

	static const char *const atitles[] = {"WHEN", "STAFF", "ACTION", "REASON"};
	ctl_heading(ctl, "Recent staff actions");
	t = ctl_table_new(4, atitles);
	json_array_foreach(json_object_get(doc, "audit"), i, p)
	{
		const char *row[4] = {ctl_str(p, "created_at"), ctl_str(p, "staff_id"), ctl_str(p, "action"),
				      ctl_str(p, "reason")};
		ctl_table_row(t, row);
	}
	ctl_table_print(ctl, t);
	ctl_table_free(t);
}

int cmd_accounts_show(struct ctl *ctl, int argc, char **argv)
{
	const char *id = NULL;
	char path[200];
	json_t *doc = NULL;
	int rc = one_id("accounts show", argc, argv, NULL, NULL, &id);
	if (rc != CTL_OK)
		return rc;
	if (!account_path(id, "", path, sizeof path))
		return CTL_FAILURE;
	rc = ctl_api(ctl, "GET", path, NULL, CTL_REQ_QUIET_404, &doc);
	if (rc == CTL_NOT_FOUND)
		return not_found(id);
	if (rc != CTL_OK)
		return rc;
	if (ctl->json)
		ctl_print_json(doc);
	else
		show_account(ctl, doc);
	json_decref(doc);
	return CTL_OK;
}

/* lock, unlock, sign-out-all, erase: POST to a sub-resource with a reason. */
static int account_change(struct ctl *ctl, int argc, char **argv, const char *cmd, const char *suffix,
			  const char *confirm, json_t **out)
{
	const char *id = NULL;
	char path[200], q[200];
	int rc = one_id(cmd, argc, argv, NULL, NULL, &id);
	if (rc != CTL_OK)
		return rc;
	if (!account_path(id, suffix, path, sizeof path))
		return CTL_FAILURE;
	if (confirm) {
		snprintf(q, sizeof q, "%s account %.60s?%s%s", confirm, id, suffix[1] == 'e' ? " " : "",
			 suffix[1] == 'e' ? "This cannot be undone." : "");
		rc = ctl_confirm(ctl, q);
		if (rc != CTL_OK)
			return rc;
	}
	rc = ctl_api(ctl, "POST", path, NULL, CTL_REQ_CHANGE | CTL_REQ_QUIET_404, out);
	if (rc == CTL_NOT_FOUND)
		return not_found(id);
	if (rc == CTL_OK && ctl->json)
		ctl_print_json(*out);
	return rc;
}

static long long count_of(const json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

int cmd_accounts_lock(struct ctl *ctl, int argc, char **argv)
{
	json_t *out = NULL;
	int rc = account_change(ctl, argc, argv, "accounts lock", "/lock",
				"Lock (no sign-in; every device signed out)", &out);
	if (rc == CTL_OK && !ctl->json)
		printf("Locked %s; %lld sign-in(s) ended.\n", ctl_str(json_object_get(out, "account"), "id"),
		       count_of(out, "sessions_revoked"));
	json_decref(out);
	return rc;
}

int cmd_accounts_unlock(struct ctl *ctl, int argc, char **argv)
{
	json_t *out = NULL;
	int rc = account_change(ctl, argc, argv, "accounts unlock", "/unlock", NULL, &out);
	if (rc == CTL_OK && !ctl->json)
		printf("Unlocked %s; the member can sign in again.\n",
		       ctl_str(json_object_get(out, "account"), "id"));
	json_decref(out);
	return rc;
}

int cmd_accounts_sign_out_all(struct ctl *ctl, int argc, char **argv)
{
	json_t *out = NULL;
	int rc = account_change(ctl, argc, argv, "accounts sign-out-all", "/sign-out-all",
				"Sign every device out of", &out);
	if (rc == CTL_OK && !ctl->json)
		printf("Signed %lld sign-in(s) of %s out; each device must sign in again.\n",
		       count_of(out, "sessions_revoked"), ctl_str(out, "account_id"));
	json_decref(out);
	return rc;
}

int cmd_accounts_erase(struct ctl *ctl, int argc, char **argv)
{
	json_t *out = NULL;
	int rc = account_change(ctl, argc, argv, "accounts erase", "/erase",
				"Erase the personal data of", &out);
	if (rc == CTL_OK && !ctl->json)
		printf("Erased %s: personal data removed, %lld sign-in(s) ended; invoices kept without personal data.\n",
		       ctl_str(out, "account_id"), count_of(out, "sessions_revoked"));
	json_decref(out);
	return rc;
}

static const char *const export_valued[] = {"--output", NULL};

int cmd_accounts_export(struct ctl *ctl, int argc, char **argv)
{
	const char *id = NULL;
	char path[200];
	json_t *doc = NULL;
	int rc = one_id("accounts export", argc, argv, export_valued, NULL, &id);
	if (rc != CTL_OK)
		return rc;
	if (!account_path(id, "/export", path, sizeof path))
		return CTL_FAILURE;
	const char *file = ctl_opt(argc, argv, "--output");
	rc = ctl_api(ctl, "GET", path, NULL, CTL_REQ_QUIET_404 | CTL_REQ_REASON_IF_GIVEN, &doc);
	if (rc == CTL_NOT_FOUND)
		return not_found(id);
	if (rc != CTL_OK)
		return rc;
	if (!file || strcmp(file, "-") == 0) {
		ctl_print_json(doc);
	} else {
		/* Personal data: owner-only, and never over an existing file. */
		int fd = open(file, O_WRONLY | O_CREAT | O_EXCL, 0600);
		FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
		if (!f) {
			rc = ctl_fail(CTL_FAILURE, "cannot create %s: %s", file, strerror(errno));
			if (fd >= 0)
				close(fd);
		} else {
			bool ok = json_dumpf(doc, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER) == 0 && fputc('\n', f) != EOF;
			ok = fclose(f) == 0 && ok;
			if (!ok)
				rc = ctl_fail(CTL_FAILURE, "cannot write %s", file);
			else if (!ctl->json)
				fprintf(stderr, "Wrote the personal data of %s to %s (mode 0600).\n", id, file);
		}
	}
	json_decref(doc);
	return rc;
}
