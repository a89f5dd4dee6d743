/*
 * hearthctl against a real hearthd: the support call of the issue from
 * start to end (bootstrap an admin on the database file, sign in, add an
 * agent; the agent finds a member, sees the account, signs their devices
 * out with a reason; the audit log shows who did what and why), and the
 * output and exit codes of the main commands: 0 ok, 1 failure, 2 usage,
 * 3 not found, 4 forbidden or unauthenticated; --json output parses.
 *
 * Each hearthctl run gets its own config directory through XDG_CONFIG_HOME,
 * so the admin's and the agent's saved logins stay apart.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/ids.h"
#include "tests/api/harness.h"

#define ADMIN_EMAIL "root@hearth.test"
#define AGENT_EMAIL "bo@hearth.test"
#define PASSWORD "staff password for tests"
#define MEMBER_PASSWORD "a long member password"

static struct api_server srv;
static char admin_cfg[256], agent_cfg[256], nobody_cfg[256];
static char member_id[IDS_MAX], member_email[96], member_token[1024];

struct run {
	int rc;
	char *out;
	char *err;
};

static void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
}

/* hearthctl as the person whose config directory is `cfg`. */
static struct run ctl_as(const char *cfg, const char *input, const char *const *argv)
{
	char xdg[300];
	snprintf(xdg, sizeof xdg, "XDG_CONFIG_HOME=%s", cfg);
	const char *env[] = {xdg, "HEARTH_PWHASH_OPSLIMIT=1", "HEARTH_PWHASH_MEMLIMIT=8192", "NO_COLOR=1", NULL};
	struct run r = {0, NULL, NULL};
	r.rc = api_ctl(&srv, argv, env, input, &r.out, &r.err);
	return r;
}

#define CTL(cfg, input, ...) ctl_as((cfg), (input), (const char *const[]){__VA_ARGS__, NULL})

static void assert_rc(const struct run *r, int want)
{
	ck_assert_msg(r->rc == want, "exit %d, wanted %d\nstdout: %s\nstderr: %s", r->rc, want, r->out, r->err);
}

static json_t *parse(const char *text)
{
	json_error_t e;
	json_t *v = json_loads(text, 0, &e);
	ck_assert_msg(v != NULL, "not JSON (%s): %s", e.text, text);
	return v;
}

static void seed_member(void)
{
	char tag[IDS_MAX];
	ids_new("", tag, sizeof tag);
	tag[8] = '\0';
	snprintf(member_email, sizeof member_email, "ana.%s@example.com", tag);
	struct api_resp *r = api_json(&srv, "POST", "/v1/accounts", NULL,
				      json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:s}}", "email", member_email,
						"password", MEMBER_PASSWORD, "country", "US", "name", "Ana Member",
						"device", "name", "Living room TV", "type", "tv"));
	ck_assert_status(r, 201);
	snprintf(member_id, sizeof member_id, "%s",
		 json_string_value(json_object_get(json_object_get(r->json, "account"), "id")));
	snprintf(member_token, sizeof member_token, "%s", api_str(r, "access_token"));
	api_resp_free(r);
}

/* The fixture plays the start of the support story once: bootstrap, admin
 * login, agent added and logged in, a member to help. */
static void start(void)
{
	static const char *const flags[] = {"--revocation-cache-ms", "0", NULL};
	ck_assert_int_ge(sodium_init(), 0);
	api_start(&srv, flags);
	snprintf(admin_cfg, sizeof admin_cfg, "%s/admin-config", srv.dir);
	snprintf(agent_cfg, sizeof agent_cfg, "%s/agent-config", srv.dir);
	snprintf(nobody_cfg, sizeof nobody_cfg, "%s/nobody-config", srv.dir);
	seed_member();
}

static void stop(void) { ck_assert_int_eq(api_stop(&srv), 0); }

/* ---- the support call, in order ---- */

START_TEST(bootstrap_creates_the_first_admin_and_then_refuses)
{
	struct run r = CTL(admin_cfg, PASSWORD "\n", "staff", "create", "--email", ADMIN_EMAIL, "--role", "admin",
			   "--db", srv.db_path, "--name", "Root", "--password-stdin");
	assert_rc(&r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "Created admin " ADMIN_EMAIL));
	run_free(&r);
	ck_assert_int_eq(api_db_int(&srv, "SELECT count(*) FROM audit_log WHERE staff_id = 'bootstrap' AND action = 'staff.bootstrap'", NULL), 1);

	/* An admin exists now: refused, and nothing written. */
	r = CTL(admin_cfg, PASSWORD "\n", "staff", "create", "--email", "second@hearth.test", "--role", "admin",
		"--db", srv.db_path, "--password-stdin");
	assert_rc(&r, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "an active admin exists already"));
	run_free(&r);
	ck_assert_int_eq(api_db_int(&srv, "SELECT count(*) FROM staff", NULL), 1);

	/* --force needs a reason; with one it is written to the audit log. */
	r = CTL(admin_cfg, PASSWORD "\n", "staff", "create", "--email", "second@hearth.test", "--role", "admin",
		"--db", srv.db_path, "--password-stdin", "--force");
	assert_rc(&r, 2);
	run_free(&r);
	r = CTL(admin_cfg, PASSWORD "\n", "staff", "create", "--email", "second@hearth.test", "--role", "admin",
		"--db", srv.db_path, "--password-stdin", "--force", "--reason", "locked out of every admin");
	assert_rc(&r, 0);
	run_free(&r);
	ck_assert_int_eq(api_db_int(&srv, "SELECT count(*) FROM audit_log WHERE staff_id = 'bootstrap'"
					  " AND action = 'staff.bootstrap_forced' AND reason = 'locked out of every admin'", NULL), 1);

	/* Usage errors: only admins are bootstrapped; required flags; weak password. */
	r = CTL(admin_cfg, PASSWORD "\n", "staff", "create", "--email", "x@hearth.test", "--role", "agent", "--db",
		srv.db_path, "--password-stdin");
	assert_rc(&r, 2);
	run_free(&r);
	r = CTL(admin_cfg, PASSWORD "\n", "staff", "create", "--email", "x@hearth.test", "--password-stdin");
	assert_rc(&r, 2);
	run_free(&r);
	r = CTL(admin_cfg, "short\n", "staff", "create", "--email", "x@hearth.test", "--role", "admin", "--db",
		srv.db_path, "--password-stdin", "--force", "--reason", "x");
	assert_rc(&r, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "too weak"));
	run_free(&r);
	r = CTL(admin_cfg, PASSWORD "\n", "staff", "create", "--email", "x@hearth.test", "--role", "admin", "--db",
		"/nonexistent/hearth.db", "--password-stdin");
	assert_rc(&r, 3);
	run_free(&r);
}
END_TEST

START_TEST(admin_logs_in_and_adds_an_agent)
{
	struct run r = CTL(admin_cfg, "wrong password\n", "login", "--email", ADMIN_EMAIL, "--password-stdin");
	assert_rc(&r, 4);
	ck_assert_ptr_nonnull(strstr(r.err, "error: invalid_credentials: "));
	run_free(&r);
	r = CTL(admin_cfg, PASSWORD "\n", "login", "--email", ADMIN_EMAIL, "--password-stdin");
	assert_rc(&r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "Signed in as " ADMIN_EMAIL));
	run_free(&r);
	char path[320];
	struct stat sb;
	snprintf(path, sizeof path, "%s/hearth/token", admin_cfg);
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 0777, 0600);

	r = CTL(admin_cfg, NULL, "whoami");
	assert_rc(&r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, ADMIN_EMAIL));
	ck_assert_ptr_nonnull(strstr(r.out, "admin"));
	run_free(&r);
	r = CTL(admin_cfg, NULL, "whoami", "--json");
	assert_rc(&r, 0);
	json_t *me = parse(r.out);
	ck_assert_str_eq(json_string_value(json_object_get(me, "role")), "admin");
	json_decref(me);
	run_free(&r);

	/* A change without a reason, on no terminal, is a usage error. */
	r = CTL(admin_cfg, PASSWORD "\n", "staff", "add", "--email", AGENT_EMAIL, "--role", "agent", "--password-stdin");
	assert_rc(&r, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "--reason"));
	run_free(&r);
	r = CTL(admin_cfg, PASSWORD "\n", "staff", "add", "--email", AGENT_EMAIL, "--role", "agent", "--password-stdin",
		"--reason", "   ");
	assert_rc(&r, 2);
	run_free(&r);
	ck_assert_int_eq(api_db_int(&srv, "SELECT count(*) FROM staff WHERE email_norm = ?1", AGENT_EMAIL), 0);
	r = CTL(admin_cfg, PASSWORD "\n", "staff", "add", "--email", AGENT_EMAIL, "--role", "agent", "--name", "Bo",
		"--password-stdin", "--reason", "new hire, ticket HR-12");
	assert_rc(&r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "Added " AGENT_EMAIL));
	run_free(&r);
	r = CTL(admin_cfg, PASSWORD "\n", "staff", "add", "--email", AGENT_EMAIL, "--role", "agent",
		"--password-stdin", "--reason", "twice");
	assert_rc(&r, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "error: email_taken: "));
	run_free(&r);

	r = CTL(admin_cfg, NULL, "staff", "list", "--json");
	assert_rc(&r, 0);
	json_t *list = parse(r.out);
	ck_assert_uint_eq(json_array_size(json_object_get(list, "data")), 3);
	json_decref(list);
	run_free(&r);
	r = CTL(admin_cfg, NULL, "staff", "list");
	assert_rc(&r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "EMAIL"));
	ck_assert_ptr_nonnull(strstr(r.out, AGENT_EMAIL));
	run_free(&r);
}
END_TEST

START_TEST(agent_finds_the_member_and_signs_their_devices_out)
{
	struct run r = CTL(agent_cfg, PASSWORD "\n", "login", "--email", AGENT_EMAIL, "--password-stdin");
	assert_rc(&r, 0);
	run_free(&r);

	r = CTL(agent_cfg, NULL, "accounts", "search", member_email);
	assert_rc(&r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, member_id));
	ck_assert_ptr_nonnull(strstr(r.out, "email"));
	run_free(&r);
	r = CTL(agent_cfg, NULL, "accounts", "search", member_email, "--json");
	assert_rc(&r, 0);
	json_t *found = parse(r.out);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(found, "data"), 0), "id")), member_id);
	json_decref(found);
	run_free(&r);

	r = CTL(agent_cfg, NULL, "accounts", "show", member_id);
	assert_rc(&r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, member_email));
	ck_assert_ptr_nonnull(strstr(r.out, "Ana Member"));
	ck_assert_ptr_nonnull(strstr(r.out, "Living room TV"));
	ck_assert_ptr_nonnull(strstr(r.out, "Profiles"));
	run_free(&r);

	/* Destructive: refused without --yes when stdin is not a terminal. */
	r = CTL(agent_cfg, NULL, "accounts", "sign-out-all", member_id, "--reason", "lost phone");
	assert_rc(&r, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "--yes"));
	run_free(&r);
	r = CTL(agent_cfg, NULL, "accounts", "sign-out-all", member_id, "--yes");
	assert_rc(&r, 2);
	run_free(&r);
	ck_assert_int_eq(api_db_int(&srv, "SELECT count(*) FROM sessions WHERE account_id = ?1 AND revoked_at IS NULL", member_id), 1);

	r = CTL(agent_cfg, NULL, "accounts", "sign-out-all", member_id, "--yes", "--reason", "member lost their phone");
	assert_rc(&r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "Signed 1 sign-in(s)"));
	run_free(&r);
	ck_assert_int_eq(api_db_int(&srv, "SELECT count(*) FROM sessions WHERE account_id = ?1 AND revoked_at IS NULL", member_id), 0);
	struct api_resp *resp = api_get(&srv, "/v1/me", member_token);
	ck_assert_status(resp, 401);
	api_resp_free(resp);

	/* The audit log says who did what and why. */
	r = CTL(admin_cfg, NULL, "audit", "--target", member_id);
	assert_rc(&r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "account.sign_out_all"));
	ck_assert_ptr_nonnull(strstr(r.out, "member lost their phone"));
	run_free(&r);
	r = CTL(admin_cfg, NULL, "audit", "--target", member_id, "--json");
	assert_rc(&r, 0);
	json_t *audit = parse(r.out);
	json_t *row = json_array_get(json_object_get(audit, "data"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(row, "action")), "account.sign_out_all");
	ck_assert_str_eq(json_string_value(json_object_get(row, "reason")), "member lost their phone");
	ck_assert_int_eq(api_db_int(&srv, "SELECT count(*) FROM staff WHERE id = ?1 AND email_norm = '" AGENT_EMAIL "'",
				    json_string_value(json_object_get(row, "staff_id"))), 1);
	json_decref(audit);
	run_free(&r);
}
END_TEST

/* ---- exit codes and output ---- */

START_TEST(exit_codes_usage_not_found_forbidden)
{
	struct run r = CTL(agent_cfg, NULL, "accounts", "show", "acc_00000000000000000000000000000");
	assert_rc(&r, 3);
	ck_assert_ptr_nonnull(strstr(r.err, "error: not_found: "));
	run_free(&r);
	r = CTL(agent_cfg, NULL, "accounts", "search", "nobody@nowhere.example");
	assert_rc(&r, 3);
	run_free(&r);
	/* An agent may not lock: 403 forbidden_role is exit 4. */
	r = CTL(agent_cfg, NULL, "accounts", "lock", member_id, "--yes", "--reason", "try");
	assert_rc(&r, 4);
	ck_assert_ptr_nonnull(strstr(r.err, "error: forbidden_role: "));
	run_free(&r);
	r = CTL(agent_cfg, NULL, "staff", "list");
	assert_rc(&r, 4);
	run_free(&r);
	/* Not signed in: exit 4 with a hint. */
	r = CTL(nobody_cfg, NULL, "whoami");
	assert_rc(&r, 4);
	ck_assert_ptr_nonnull(strstr(r.err, "hearthctl login"));
	run_free(&r);
	r = CTL(nobody_cfg, NULL, "--token", "v4.public.nonsense", "whoami");
	assert_rc(&r, 4);
	ck_assert_ptr_nonnull(strstr(r.err, "error: invalid_token: "));
	run_free(&r);
	/* Usage: unknown command, unknown option, missing argument. */
	const char *const *usage[] = {
		(const char *const[]){"frobnicate", NULL},
		(const char *const[]){"accounts", "fly", NULL},
		(const char *const[]){"accounts", "show", NULL},
		(const char *const[]){"accounts", "show", "a", "b", NULL},
		(const char *const[]){"accounts", "show", "acc_x", "--bogus", NULL},
		(const char *const[]){"notifications", "list", NULL},
		(const char *const[]){"events", "tail", "--after", "-3", NULL},
		(const char *const[]){"audit", "--since", "last tuesday", NULL},
		(const char *const[]){"staff", "set-role", "stf_x", "king", NULL},
		(const char *const[]){"login", "--token-stdin", "--email", "x@y.z", NULL},
		(const char *const[]){NULL},
	};
	for (size_t i = 0; i < sizeof usage / sizeof usage[0]; i++) {
		r = ctl_as(agent_cfg, NULL, usage[i]);
		ck_assert_msg(r.rc == 2, "case %zu: exit %d: %s", i, r.rc, r.err);
		run_free(&r);
	}
	/* Unreachable server: failure, not a crash. */
	r = CTL(agent_cfg, NULL, "--url", "http://127.0.0.1:1", "whoami");
	assert_rc(&r, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "cannot reach Hearth"));
	run_free(&r);
}
END_TEST

START_TEST(every_command_has_help_with_examples)
{
	static const char *const cmds[][2] = {
		{"login", NULL},       {"logout", NULL},          {"whoami", NULL},         {"staff", "create"},
		{"staff", "add"},      {"staff", "list"},         {"staff", "disable"},     {"staff", "set-role"},
		{"accounts", "search"}, {"accounts", "show"},     {"accounts", "lock"},     {"accounts", "unlock"},
		{"accounts", "sign-out-all"}, {"accounts", "export"}, {"accounts", "erase"},
		{"notifications", "list"}, {"notifications", "resend"}, {"audit", NULL},    {"events", "tail"},
		{"db", "migrate"},     {"db", "status"},
	};
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
		struct run r = cmds[i][1] ? CTL(nobody_cfg, NULL, cmds[i][0], cmds[i][1], "--help")
					  : CTL(nobody_cfg, NULL, cmds[i][0], "--help");
		ck_assert_msg(r.rc == 0, "%s %s --help: %d", cmds[i][0], cmds[i][1] ? cmds[i][1] : "", r.rc);
		ck_assert_msg(strstr(r.out, "Usage: hearthctl ") && strstr(r.out, "Examples:"), "%s %s: %s",
			      cmds[i][0], cmds[i][1] ? cmds[i][1] : "", r.out);
		run_free(&r);
	}
	struct run r = CTL(nobody_cfg, NULL, "--help");
	assert_rc(&r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "Exit codes: 0 ok, 1 failure, 2 usage, 3 not found, 4 forbidden"));
	run_free(&r);
}
END_TEST

START_TEST(notifications_events_and_export)
{
	struct run r = CTL(agent_cfg, NULL, "notifications", "list", "--to", member_email);
	assert_rc(&r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "welcome"));
	/* Staff see how delivery went. */
	ck_assert_ptr_nonnull(strstr(r.out, "STATUS"));
	ck_assert_ptr_nonnull(strstr(r.out, "TRIES"));
	ck_assert_ptr_nonnull(strstr(r.out, "LAST ERROR"));
	run_free(&r);
	r = CTL(agent_cfg, NULL, "notifications", "list", "--to", member_email, "--json");
	assert_rc(&r, 0);
	json_t *list = parse(r.out);
	const char *ntf = json_string_value(json_object_get(json_array_get(json_object_get(list, "data"), 0), "id"));
	ck_assert_ptr_nonnull(ntf);
	char id[IDS_MAX];
	snprintf(id, sizeof id, "%s", ntf);
	json_decref(list);
	run_free(&r);
	r = CTL(agent_cfg, NULL, "notifications", "resend", id, "--reason", "member found no welcome email");
	assert_rc(&r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "Queued"));
	run_free(&r);

	/* events tail --json: one object per line, in order. */
	r = CTL(agent_cfg, NULL, "events", "tail", "--after", "0", "--json");
	assert_rc(&r, 0);
	long long prev = 0;
	int lines = 0;
	for (char *line = r.out, *nl; line && *line; line = nl ? nl + 1 : NULL) {
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		json_t *e = parse(line);
		long long at = (long long)json_integer_value(json_object_get(e, "id"));
		ck_assert_int_gt(at, prev);
		prev = at;
		lines++;
		json_decref(e);
	}
	ck_assert_int_gt(lines, 3);
	run_free(&r);
	r = CTL(agent_cfg, NULL, "events", "tail", "--type", "account.created");
	assert_rc(&r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "account.created"));
	ck_assert_ptr_null(strstr(r.out, "session.created"));
	run_free(&r);

	char file[300];
	struct stat sb;
	snprintf(file, sizeof file, "%s/export.json", srv.dir);
	r = CTL(agent_cfg, NULL, "accounts", "export", member_id, "--output", file, "--reason", "access request 5120");
	assert_rc(&r, 0);
	run_free(&r);
	ck_assert_int_eq(api_db_int(&srv, "SELECT count(*) FROM audit_log WHERE action = 'account.export'"
					  " AND reason = 'access request 5120' AND target_id = ?1", member_id), 1);
	ck_assert_int_eq(stat(file, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 0777, 0600);
	json_t *doc = json_load_file(file, 0, NULL);
	ck_assert_ptr_nonnull(doc);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(doc, "account"), "email")), member_email);
	json_decref(doc);
	/* Never over an existing file. */
	r = CTL(agent_cfg, NULL, "accounts", "export", member_id, "--output", file);
	assert_rc(&r, 1);
	run_free(&r);
}
END_TEST

START_TEST(db_commands_still_work)
{
	struct run r = CTL(nobody_cfg, NULL, "db", "status", "--db", srv.db_path, "--json");
	assert_rc(&r, 0);
	json_t *st = parse(r.out);
	ck_assert_int_eq(json_integer_value(json_object_get(st, "version")),
			 json_integer_value(json_object_get(st, "latest")));
	ck_assert_int_ge(json_integer_value(json_object_get(st, "version")), 4);
	json_decref(st);
	run_free(&r);
	r = CTL(nobody_cfg, NULL, "db", "migrate", "--db", srv.db_path);
	assert_rc(&r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "Applied 0 migrations"));
	run_free(&r);
}
END_TEST

START_TEST(admin_changes_roles_locks_and_erases)
{
	/* The agent becomes a supervisor; the forced second admin is disabled. */
	char agent_id[IDS_MAX] = "", second_id[IDS_MAX] = "";
	struct run r = CTL(admin_cfg, NULL, "staff", "list", "--json");
	assert_rc(&r, 0);
	json_t *list = parse(r.out);
	size_t i;
	json_t *s;
	json_array_foreach(json_object_get(list, "data"), i, s)
	{
		const char *email = json_string_value(json_object_get(s, "email"));
		const char *id = json_string_value(json_object_get(s, "id"));
		if (strcmp(email, AGENT_EMAIL) == 0)
			snprintf(agent_id, sizeof agent_id, "%s", id);
		if (strcmp(email, "second@hearth.test") == 0)
			snprintf(second_id, sizeof second_id, "%s", id);
	}
	json_decref(list);
	run_free(&r);
	ck_assert(agent_id[0] && second_id[0]);
	r = CTL(admin_cfg, NULL, "staff", "set-role", agent_id, "supervisor", "--reason", "promoted");
	assert_rc(&r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "role supervisor"));
	run_free(&r);
	r = CTL(admin_cfg, NULL, "staff", "disable", second_id, "--reason", "break-glass admin no longer needed");
	assert_rc(&r, 2);
	run_free(&r);
	r = CTL(admin_cfg, NULL, "staff", "disable", second_id, "--yes", "--reason", "break-glass admin no longer needed");
	assert_rc(&r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "disabled"));
	run_free(&r);
	r = CTL(admin_cfg, NULL, "staff", "disable", "stf_00000000000000000000000000000", "--yes", "--reason", "x");
	assert_rc(&r, 3);
	run_free(&r);

	/* Lock and unlock, now as a supervisor. */
	r = CTL(agent_cfg, NULL, "accounts", "lock", member_id, "--yes", "--reason", "takeover suspected");
	assert_rc(&r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "Locked"));
	run_free(&r);
	ck_assert_int_eq(api_db_int(&srv, "SELECT count(*) FROM accounts WHERE id = ?1 AND status = 'locked'", member_id), 1);
	r = CTL(agent_cfg, NULL, "accounts", "unlock", member_id, "--reason", "identity confirmed", "--json");
	assert_rc(&r, 0);
	json_t *out = parse(r.out);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(out, "account"), "status")), "active");
	json_decref(out);
	run_free(&r);

	/* Erasure: confirmed, and then the member is gone from search. */
	r = CTL(agent_cfg, NULL, "accounts", "erase", member_id, "--yes", "--reason", "erasure request 5121", "--json");
	assert_rc(&r, 0);
	out = parse(r.out);
	ck_assert_str_eq(json_string_value(json_object_get(out, "status")), "erased");
	json_decref(out);
	run_free(&r);
	r = CTL(agent_cfg, NULL, "accounts", "search", member_email);
	assert_rc(&r, 3);
	run_free(&r);
	r = CTL(agent_cfg, NULL, "accounts", "erase", member_id, "--yes", "--reason", "again");
	assert_rc(&r, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "error: invalid_state: "));
	run_free(&r);
}
END_TEST

START_TEST(logout_forgets_the_login)
{
	struct run r = CTL(agent_cfg, NULL, "logout");
	assert_rc(&r, 0);
	run_free(&r);
	char path[320];
	struct stat sb;
	snprintf(path, sizeof path, "%s/hearth/token", agent_cfg);
	ck_assert_int_ne(stat(path, &sb), 0);
	r = CTL(agent_cfg, NULL, "whoami");
	assert_rc(&r, 4);
	run_free(&r);
	/* A login pasted as a token works the same. */
	struct api_resp *s = api_json(&srv, "POST", "/admin/v1/sessions", NULL,
				      json_pack("{s:s, s:s}", "email", AGENT_EMAIL, "password", PASSWORD));
	ck_assert_status(s, 201);
	char line[1100];
	snprintf(line, sizeof line, "%s\n", api_str(s, "access_token"));
	api_resp_free(s);
	r = CTL(agent_cfg, line, "login", "--token-stdin");
	assert_rc(&r, 0);
	run_free(&r);
	r = CTL(agent_cfg, NULL, "whoami");
	assert_rc(&r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, AGENT_EMAIL));
	run_free(&r);
}
END_TEST

static Suite *ctl_suite(void)
{
	Suite *s = suite_create("api_hearthctl");
	TCase *tc = tcase_create("hearthctl");
	tcase_add_unchecked_fixture(tc, start, stop);
	tcase_set_timeout(tc, 120);
	/* In story order: each test builds on what the one before did. */
	tcase_add_test(tc, bootstrap_creates_the_first_admin_and_then_refuses);
	tcase_add_test(tc, admin_logs_in_and_adds_an_agent);
	tcase_add_test(tc, agent_finds_the_member_and_signs_their_devices_out);
	tcase_add_test(tc, exit_codes_usage_not_found_forbidden);
	tcase_add_test(tc, every_command_has_help_with_examples);
	tcase_add_test(tc, notifications_events_and_export);
	tcase_add_test(tc, db_commands_still_work);
	tcase_add_test(tc, admin_changes_roles_locks_and_erases);
	tcase_add_test(tc, logout_forgets_the_login);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(ctl_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0;
}
