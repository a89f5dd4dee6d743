/*
 * hearthctl login | logout | whoami: the staff member's own sign-in.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli_int.h"

static const char *const login_valued[] = {"--email", NULL};
static const char *const login_flags[] = {"--password-stdin", "--token-stdin", NULL};

static void print_signed_in(struct ctl *ctl, const json_t *staff, const char *expires)
{
	printf("Signed in as %s (%s, %s).\n", ctl_str(staff, "email"),
	       ctl_paint(ctl->color, "1", ctl_str(staff, "role"), 1), ctl_str(staff, "id"));
	if (expires && expires[0])
		printf("The login lasts until %s.\n", expires);
	char path[1100];
	if (!ctl->token && ctl_config_path("token", path, sizeof path))
		printf("Saved to %s (mode 0600); 'hearthctl logout' removes it.\n", path);
}

/* Check a pasted token with GET /admin/v1/me, then save it. */
static int login_with_token(struct ctl *ctl)
{
	char token[2048];
	json_t *me = NULL;
	if (!ctl_read_line(NULL, false, token, sizeof token) || !token[0])
		return ctl_usage_error("login", "--token-stdin reads a token from the first line of stdin");
	ctl->token = token;
	int rc = ctl_api(ctl, "GET", "/admin/v1/me", NULL, 0, &me);
	ctl->token = NULL;
	if (rc == CTL_OK)
		rc = ctl_token_save(token);
	if (rc == CTL_OK) {
		if (ctl->json)
			ctl_print_json(me);
		else
			print_signed_in(ctl, me, ctl_str(json_object_get(me, "session"), "expires_at"));
	}
	sodium_memzero(token, sizeof token);
	json_decref(me);
	return rc;
}

int cmd_login(struct ctl *ctl, int argc, char **argv)
{
	char email[300], password[1100];
	json_t *resp = NULL;
	if (!ctl_check_args(argc, argv, login_valued, login_flags, 0, 0, NULL))
		return ctl_usage_error("login", "bad arguments");
	bool pw_stdin = ctl_flag(argc, argv, "--password-stdin");
	bool tok_stdin = ctl_flag(argc, argv, "--token-stdin");
	const char *e = ctl_opt(argc, argv, "--email");
	if (tok_stdin && (pw_stdin || e))
		return ctl_usage_error("login", "--token-stdin goes alone (no --email or --password-stdin)");
	if (tok_stdin)
		return login_with_token(ctl);
	if (e) {
		snprintf(email, sizeof email, "%s", e);
	} else if (!ctl_interactive() || pw_stdin) {
		return ctl_usage_error("login", "give --email (stdin is not a terminal to ask on)");
	} else if (!ctl_read_line("Email: ", false, email, sizeof email) || !email[0]) {
		return ctl_usage_error("login", "an email is required");
	}
	bool got;
	if (pw_stdin)
		got = ctl_read_line(NULL, false, password, sizeof password);
	else if (ctl_interactive())
		got = ctl_read_line("Password: ", true, password, sizeof password);
	else
		return ctl_usage_error("login", "use --password-stdin (stdin is not a terminal to ask on)");
	if (!got || !password[0]) {
		sodium_memzero(password, sizeof password);
		return ctl_usage_error("login", "a password is required");
	}
	json_t *body = json_pack("{s:s, s:s}", "email", email, "password", password);
	sodium_memzero(password, sizeof password);
	int rc = ctl_api(ctl, "POST", "/admin/v1/sessions", body, CTL_REQ_NO_AUTH, &resp);
	if (rc == CTL_OK) {
		const char *token = ctl_str(resp, "access_token");
		if (!token[0])
			rc = ctl_fail(CTL_FAILURE, "the server sent no token");
		else
			rc = ctl_token_save(token);
	}
	if (rc == CTL_OK) {
		json_t *staff = json_object_get(resp, "staff");
		if (ctl->json) {
			json_t *o = json_pack("{s:O, s:O, s:O}", "staff", staff, "session_id",
					      json_object_get(resp, "session_id"), "expires_in",
					      json_object_get(resp, "expires_in"));
			ctl_print_json(o);
			json_decref(o);
		} else {
			json_int_t secs = json_integer_value(json_object_get(resp, "expires_in"));
			char lasts[64];
			snprintf(lasts, sizeof lasts, "%lld hours from now", (long long)(secs / 3600));
			print_signed_in(ctl, staff, lasts);
		}
	}
	json_decref(resp);
	return rc;
}

int cmd_logout(struct ctl *ctl, int argc, char **argv)
{
	if (!ctl_check_args(argc, argv, NULL, NULL, 0, 0, NULL))
		return ctl_usage_error("logout", "bad arguments");
	if (!ctl_token(ctl)) {
		printf("Not signed in.\n");
		return CTL_OK;
	}
	int rc = ctl_api(ctl, "DELETE", "/admin/v1/sessions/current", NULL, 0, NULL);
	/* An expired or revoked login is as good as signed out. */
	bool removed = ctl_token_forget();
	if (rc == CTL_FORBIDDEN && removed)
		rc = CTL_OK;
	if (rc == CTL_OK)
		printf("Signed out%s.\n", removed ? "; the saved login was removed" : "");
	return rc;
}

int cmd_whoami(struct ctl *ctl, int argc, char **argv)
{
	json_t *me = NULL;
	if (!ctl_check_args(argc, argv, NULL, NULL, 0, 0, NULL))
		return ctl_usage_error("whoami", "bad arguments");
	int rc = ctl_api(ctl, "GET", "/admin/v1/me", NULL, 0, &me);
	if (rc != CTL_OK)
		return rc;
	if (ctl->json) {
		ctl_print_json(me);
	} else {
		ctl_field(ctl, "Staff", ctl_str(me, "id"));
		ctl_field(ctl, "Email", ctl_str(me, "email"));
		ctl_field(ctl, "Name", ctl_str(me, "name"));
		ctl_field(ctl, "Role", ctl_paint(ctl->color, "1", ctl_str(me, "role"), 1));
		ctl_field(ctl, "Login until", ctl_str(json_object_get(me, "session"), "expires_at"));
		ctl_field(ctl, "Server", ctl->url);
	}
	json_decref(me);
	return CTL_OK;
}
