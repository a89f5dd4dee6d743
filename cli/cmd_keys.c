/*
 * hearthctl keys ...: operator commands on the token signing key file on
 * the server host (no API involved).  hearthd notices a changed key file
 * within a second and uses it without a restart.
 */
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "auth/keys.h"
#include "cli/cli_int.h"
#include "core/clock.h"

static const char *const keys_valued[] = {"--key-file", NULL};

static const char *key_file_arg(int argc, char **argv)
{
	const char *p = ctl_opt(argc, argv, "--key-file");
	if (!p)
		p = getenv("HEARTH_KEY_FILE");
	return p ? p : "./hearth.keys";
}

static int exit_for(enum err e)
{
	switch (e) {
	case ERR_NOT_FOUND:
		return CTL_NOT_FOUND;
	case ERR_FORBIDDEN:
		return CTL_FORBIDDEN;
	default:
		return CTL_FAILURE;
	}
}

static bool start(void)
{
	return sodium_init() >= 0;
}

int cmd_keys_list(struct ctl *ctl, int argc, char **argv)
{
	struct auth_key_info *keys = NULL;
	size_t n = 0;
	char why[512] = "";
	if (!ctl_check_args(argc, argv, keys_valued, NULL, 0, 0, NULL))
		return ctl_usage_error("keys list", "bad arguments");
	if (!start())
		return ctl_fail(CTL_FAILURE, "libsodium failed to initialise");
	const char *path = key_file_arg(argc, argv);
	enum err e = auth_keys_list(path, &keys, &n, why, sizeof why);
	if (e != ERR_OK)
		return ctl_fail(exit_for(e), "%s", why);
	if (ctl->json) {
		json_t *arr = json_array();
		for (size_t i = 0; i < n; i++) {
			char when[32];
			json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s}", "kid", keys[i].kid,
							     "paserk", keys[i].paserk, "status",
							     auth_key_status_name(keys[i].status), "created_at",
							     clock_format(keys[i].created_at, when, sizeof when)));
		}
		json_t *o = json_pack("{s:s, s:o}", "key_file", path, "keys", arr);
		json_dumpf(o, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(o);
	} else {
		printf("%-12s %-21s %s\n", "STATUS", "CREATED", "KID");
		for (size_t i = 0; i < n; i++) {
			char when[32];
			printf("%-12s %-21s %s\n", auth_key_status_name(keys[i].status),
			       clock_format(keys[i].created_at, when, sizeof when), keys[i].kid);
		}
	}
	free(keys);
	return CTL_OK;
}

int cmd_keys_rotate(struct ctl *ctl, int argc, char **argv)
{
	char kid[PASERK_K4_PID_SIZE], why[512] = "";
	if (!ctl_check_args(argc, argv, keys_valued, NULL, 0, 0, NULL))
		return ctl_usage_error("keys rotate", "bad arguments");
	if (!start())
		return ctl_fail(CTL_FAILURE, "libsodium failed to initialise");
	const char *path = key_file_arg(argc, argv);
	enum err e = auth_keys_rotate(path, kid, why, sizeof why);
	if (e != ERR_OK)
		return ctl_fail(exit_for(e), "%s", why);
	if (ctl->json) {
		json_t *o = json_pack("{s:s, s:s}", "key_file", path, "current", kid);
		json_dumpf(o, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(o);
	} else {
		printf("New signing key %s is current in %s.\n"
		       "The previous key is verify_only: tokens it signed keep working.\n"
		       "hearthd picks the change up within a second. Retire the old key once its\n"
		       "tokens have expired (the access token lifetime, 15 minutes by default).\n",
		       kid, path);
	}
	return CTL_OK;
}

int cmd_keys_retire(struct ctl *ctl, int argc, char **argv)
{
	const char *pos[1] = {NULL};
	char why[512] = "";
	if (!ctl_check_args(argc, argv, keys_valued, NULL, 1, 1, pos))
		return ctl_usage_error("keys retire", "give the KID of the key to retire");
	if (!start())
		return ctl_fail(CTL_FAILURE, "libsodium failed to initialise");
	const char *path = key_file_arg(argc, argv);
	enum err e = auth_keys_retire(path, pos[0], why, sizeof why);
	if (e != ERR_OK)
		return ctl_fail(exit_for(e), "%s", why);
	if (ctl->json) {
		json_t *o = json_pack("{s:s, s:s, s:s}", "key_file", path, "kid", pos[0], "status", "retired");
		json_dumpf(o, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(o);
	} else {
		printf("Key %s is retired.\n"
		       "Its secret is erased from %s and tokens it signed no longer verify\n"
		       "(hearthd picks the change up within a second).\n",
		       pos[0], path);
	}
	return CTL_OK;
}
