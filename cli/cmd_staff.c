/*
 * hearthctl staff ...: staff members.  `staff create` works on the database
 * file on the server host (the first admin of an install); the others go
 * through the admin API.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "admin/admin.h"
#include "auth/auth.h"
#include "cli/cli_int.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/migrate.h"

#define PASSWORD_CAP 1100

/* A new password: the first line of stdin with --password-stdin, else asked
 * twice on a terminal.  Returns CTL_OK or a usage error (printed). */
static int read_new_password(const char *cmd, bool from_stdin, char *pw, size_t cap)
{
	char again[PASSWORD_CAP];
	if (from_stdin) {
		if (!ctl_read_line(NULL, false, pw, cap) || !pw[0])
			return ctl_usage_error(cmd, "--password-stdin reads the password from the first line of stdin");
		return CTL_OK;
	}
	if (!ctl_interactive())
		return ctl_usage_error(cmd, "use --password-stdin (stdin is not a terminal to ask on)");
	if (!ctl_read_line("New password: ", true, pw, cap) || !pw[0])
		return ctl_usage_error(cmd, "a password is required");
	bool same = ctl_read_line("Repeat it: ", true, again, sizeof again) && strcmp(pw, again) == 0;
	sodium_memzero(again, sizeof again);
	if (!same) {
		sodium_memzero(pw, cap);
		return ctl_usage_error(cmd, "the two passwords differ");
	}
	return CTL_OK;
}

static const char *const create_valued[] = {"--email", "--role", "--db", "--name", NULL};
static const char *const create_flags[] = {"--password-stdin", "--force", NULL};

static const char *policy_message(const char *why)
{
	if (why && strcmp(why, "too_short") == 0)
		return "use at least 8 characters";
	if (why && strcmp(why, "too_long") == 0)
		return "use at most 256 bytes";
	if (why && strcmp(why, "equals_email") == 0)
		return "it must not be the email address";
	if (why && strcmp(why, "common") == 0)
		return "it is too common; choose another";
	return "choose a stronger one";
}

int cmd_staff_create(struct ctl *ctl, int argc, char **argv)
{
	char pw[PASSWORD_CAP], hash[AUTH_PWHASH_MAX];
	struct db *db = NULL;
	struct admin_staff out = {0};
	const char *weak = NULL;
	if (!ctl_check_args(argc, argv, create_valued, create_flags, 0, 0, NULL))
		return ctl_usage_error("staff create", "bad arguments");
	const char *email = ctl_opt(argc, argv, "--email");
	const char *role = ctl_opt(argc, argv, "--role");
	const char *name = ctl_opt(argc, argv, "--name");
	bool force = ctl_flag(argc, argv, "--force");
	if (!email || !role || !ctl_opt(argc, argv, "--db"))
		return ctl_usage_error("staff create", "--email, --role admin and --db are required");
	if (strcmp(role, "admin") != 0)
		return ctl_usage_error("staff create",
				       "staff create makes the first admin; add other staff with 'hearthctl staff add'");
	if (name && strlen(name) > 128)
		return ctl_usage_error("staff create", "--name is at most 128 bytes");
	const char *reason = "bootstrap: the first admin, created on the server host";
	if (force) {
		/* Forcing past an existing admin is exactly what the audit log is for. */
		reason = ctl_reason(ctl);
		if (!reason)
			return CTL_USAGE;
	}
	const char *path = cli_db_path(argc, argv);
	int rc = cli_open_db(path, true, &db);
	if (rc != CTL_OK)
		return rc;
	int applied = 0;
	enum err e = migrate_apply(db, &applied);
	if (e != ERR_OK) {
		db_close(db);
		return ctl_fail(CTL_FAILURE, "cannot bring %s's schema up to date (%s)", path, err_name(e));
	}
	rc = read_new_password("staff create", ctl_flag(argc, argv, "--password-stdin"), pw, sizeof pw);
	if (rc != CTL_OK)
		goto out;
	/* The Argon2id parameters hearthd would use: its environment settings
	 * (HEARTH_PWHASH_OPSLIMIT, HEARTH_PWHASH_MEMLIMIT) or libsodium's defaults. */
	struct config cfg;
	static char prog[] = "hearthctl";
	char *cargv[] = {prog, NULL};
	if (config_load(&cfg, 1, cargv, stdout, stderr) != CONFIG_OK || auth_password_setup(&cfg) != ERR_OK) {
		rc = ctl_fail(CTL_FAILURE, "cannot set up password hashing (check HEARTH_PWHASH_* settings)");
		goto out;
	}
	if (auth_password_policy(pw, email, &weak) != ERR_OK) {
		rc = ctl_fail(CTL_FAILURE, "the password is too weak: %s", policy_message(weak));
		goto out;
	}
	e = auth_password_hash(pw, hash);
	if (e != ERR_OK) {
		rc = ctl_fail(CTL_FAILURE, "cannot hash the password (%s)", err_name(e));
		goto out;
	}
	e = admin_staff_bootstrap(db, email, name ? name : "", hash, force, reason, &out);
	if (e == ERR_CONFLICT) {
		rc = ctl_fail(CTL_FAILURE,
			      "an active admin exists already: add staff with 'hearthctl staff add', or use --force"
			      " --reason \"...\" (the audit log records it)");
	} else if (e == ERR_EMAIL_TAKEN) {
		rc = ctl_fail(CTL_FAILURE, "a staff member with the email %s exists already", email);
	} else if (e == ERR_VALIDATION) {
		rc = ctl_usage_error("staff create", "'%s' is not an email address", email);
	} else if (e != ERR_OK) {
		rc = ctl_fail(CTL_FAILURE, "cannot create the admin (%s)", err_name(e));
	} else if (ctl->json) {
		json_t *o = admin_staff_json(&out);
		ctl_print_json(o);
		json_decref(o);
	} else {
		printf("Created admin %s (%s)%s.\nSign in with: hearthctl login --email %s\n", out.email,
		       out.id, force ? ", forced past an existing admin (audited)" : "", out.email);
	}
out:
	sodium_memzero(pw, sizeof pw);
	sodium_memzero(hash, sizeof hash);
	db_close(db);
	return rc;
}

static void print_staff(struct ctl *ctl, const json_t *s, const char *what)
{
	if (ctl->json) {
		ctl_print_json(s);
		return;
	}
	printf("%s %s (%s): role %s, %s.\n", what, ctl_str(s, "email"), ctl_str(s, "id"),
	       ctl_str(s, "role"), json_is_true(json_object_get(s, "active")) ? "active" : "disabled");
}

static const char *const add_valued[] = {"--email", "--role", "--name", NULL};
static const char *const add_flags[] = {"--password-stdin", NULL};

int cmd_staff_add(struct ctl *ctl, int argc, char **argv)
{
	char pw[PASSWORD_CAP];
	json_t *out = NULL;
	if (!ctl_check_args(argc, argv, add_valued, add_flags, 0, 0, NULL))
		return ctl_usage_error("staff add", "bad arguments");
	const char *email = ctl_opt(argc, argv, "--email");
	const char *role = ctl_opt(argc, argv, "--role");
	const char *name = ctl_opt(argc, argv, "--name");
	if (!email || !role)
		return ctl_usage_error("staff add", "--email and --role are required");
	if (admin_role_parse(role) == ADMIN_ROLE_NONE)
		return ctl_usage_error("staff add", "--role is agent, supervisor or admin");
	int rc = read_new_password("staff add", ctl_flag(argc, argv, "--password-stdin"), pw, sizeof pw);
	if (rc != CTL_OK)
		return rc;
	json_t *body = json_pack("{s:s, s:s, s:s, s:s}", "email", email, "role", role, "name",
				 name ? name : "", "password", pw);
	sodium_memzero(pw, sizeof pw);
	rc = ctl_api(ctl, "POST", "/admin/v1/staff", body, CTL_REQ_CHANGE, &out);
	if (rc == CTL_OK)
		print_staff(ctl, out, "Added");
	json_decref(out);
	return rc;
}

static void add_staff_row(struct ctl_table *t, const json_t *s)
{
	const char *row[6] = {ctl_str(s, "id"), ctl_str(s, "email"), ctl_str(s, "name"),
			      ctl_str(s, "role"),
			      json_is_true(json_object_get(s, "active")) ? "active" : "disabled",
			      ctl_str(s, "last_signin_at")};
	ctl_table_row(t, row);
}

int cmd_staff_list(struct ctl *ctl, int argc, char **argv)
{
	static const char *const titles[] = {"ID", "EMAIL", "NAME", "ROLE", "STATE", "LAST SIGN-IN"};
	json_t *all = NULL;
	if (!ctl_check_args(argc, argv, NULL, NULL, 0, 0, NULL))
		return ctl_usage_error("staff list", "bad arguments");
	/* Staff lists are short: fetch every page. */
	int rc = ctl_api_get_all(ctl, "/admin/v1/staff", "id", &all);
	if (rc == CTL_OK)
		ctl_print_rows(ctl, all, 6, titles, add_staff_row);
	json_decref(all);
	return rc;
}

int cmd_staff_disable(struct ctl *ctl, int argc, char **argv)
{
	const char *pos[1] = {NULL};
	char q[160], path[160];
	json_t *out = NULL;
	if (!ctl_check_args(argc, argv, NULL, NULL, 1, 1, pos))
		return ctl_usage_error("staff disable", "give the staff id (stf_...)");
	char *id = ctl_escape(pos[0]);
	if (!id)
		return CTL_FAILURE;
	snprintf(path, sizeof path, "/admin/v1/staff/%.100s/disable", id);
	free(id);
	snprintf(q, sizeof q, "Disable staff member %.60s and end their sign-ins?", pos[0]);
	int rc = ctl_confirm(ctl, q);
	if (rc != CTL_OK)
		return rc;
	rc = ctl_api(ctl, "POST", path, NULL, CTL_REQ_CHANGE, &out);
	if (rc == CTL_OK)
		print_staff(ctl, out, "Disabled");
	json_decref(out);
	return rc;
}

int cmd_staff_set_role(struct ctl *ctl, int argc, char **argv)
{
	const char *pos[2] = {NULL, NULL};
	char path[160];
	json_t *out = NULL;
	if (!ctl_check_args(argc, argv, NULL, NULL, 2, 2, pos))
		return ctl_usage_error("staff set-role", "give the staff id and the role");
	if (admin_role_parse(pos[1]) == ADMIN_ROLE_NONE)
		return ctl_usage_error("staff set-role", "the role is agent, supervisor or admin");
	char *id = ctl_escape(pos[0]);
	if (!id)
		return CTL_FAILURE;
	snprintf(path, sizeof path, "/admin/v1/staff/%.100s", id);
	free(id);
	int rc = ctl_api(ctl, "PATCH", path, json_pack("{s:s}", "role", pos[1]), CTL_REQ_CHANGE, &out);
	if (rc == CTL_OK)
		print_staff(ctl, out, "Updated");
	json_decref(out);
	return rc;
}
