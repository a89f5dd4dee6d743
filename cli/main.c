/*
 * hearthctl - Hearth's admin command line.  Parses the global options,
 * finds the command in the table and runs it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/ctl.h"

static const char *const global_valued[] = {"--url", "--token", "--reason", NULL};
static const char *const global_flags[] = {"--json", "--yes", "--help", "-h", NULL};

const char *ctl_opt(int argc, char **argv, const char *name)
{
	size_t n = strlen(name);
	for (int i = 0; i < argc; i++) {
		if (strncmp(argv[i], name, n) != 0) // NOLINT(clang-analyzer-core.NonNullParamChecker): argv[i] with i < argc is never NULL
			continue;
		if (argv[i][n] == '=')
			return argv[i] + n + 1;
		if (argv[i][n] == '\0')
			return i + 1 < argc ? argv[i + 1] : NULL;
	}
	return NULL;
}

bool ctl_flag(int argc, char **argv, const char *name)
{
	for (int i = 0; i < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return true;
	return false;
}

static bool in_list(const char *arg, const char *const *list, size_t *nlen)
{
	for (size_t i = 0; list && list[i]; i++) {
		size_t n = strlen(list[i]);
		if (strncmp(arg, list[i], n) == 0 && (arg[n] == '\0' || arg[n] == '=')) {
			*nlen = n;
			return true;
		}
	}
	return false;
}

bool ctl_check_args(int argc, char **argv, const char *const *valued, const char *const *flags,
		    int npos_min, int npos_max, const char **pos)
{
	int npos = 0;
	for (int i = 0; i < argc; i++) {
		size_t n;
		const char *a = argv[i];
		if (in_list(a, valued, &n) || in_list(a, global_valued, &n)) {
			if (a[n] == '\0') {
				if (i + 1 >= argc) {
					fprintf(stderr, "hearthctl: %s needs a value\n", a);
					return false;
				}
				i++;
			}
			continue;
		}
		if (in_list(a, flags, &n) || in_list(a, global_flags, &n)) {
			if (a[n] == '=') {
				fprintf(stderr, "hearthctl: %s takes no value\n", a);
				return false;
			}
			continue;
		}
		if (a[0] == '-' && a[1] != '\0') {
			fprintf(stderr, "hearthctl: unknown option %s\n", a);
			return false;
		}
		if (npos >= npos_max) {
			fprintf(stderr, "hearthctl: unexpected argument '%s'\n", a);
			return false;
		}
		if (pos)
			pos[npos] = a;
		npos++;
	}
	if (npos < npos_min) {
		fprintf(stderr, "hearthctl: missing argument\n");
		return false;
	}
	return true;
}

int ctl_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fputs("hearthctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nRun 'hearthctl %s --help' for usage.\n", cmd ? cmd : "");
	return CTL_USAGE;
}

int ctl_fail(int code, const char *fmt, ...)
{
	va_list ap;
	fputs("hearthctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

static void print_overview(FILE *out)
{
	fprintf(out, "Usage: hearthctl [--url URL] [--token TOKEN] [--json] [--yes] [--reason TEXT]\n"
		     "                 COMMAND [options]\n\n"
		     "Hearth's admin command line for support staff and operators.\n\nCommands:\n");
	for (const struct ctl_command *c = ctl_commands; c->group; c++) {
		char full[64];
		snprintf(full, sizeof full, "%s%s%s", c->group, c->name[0] ? " " : "", c->name);
		fprintf(out, "  %-26s %s\n", full, c->summary);
	}
	fprintf(out, "\nGlobal options:\n"
		     "  --url URL       Hearth's address (env HEARTH_URL, config file 'url = ...';\n"
		     "                  default http://127.0.0.1:8080)\n"
		     "  --token TOKEN   staff token (env HEARTH_TOKEN; default: the saved login)\n"
		     "  --json          machine-readable output (the API's JSON)\n"
		     "  --yes           do not ask for confirmation\n"
		     "  --reason TEXT   why (required for every change; asked for on a terminal)\n"
		     "\nRun 'hearthctl COMMAND --help' for a command's options and examples.\n"
		     "Exit codes: 0 ok, 1 failure, 2 usage, 3 not found, 4 forbidden or unauthenticated.\n");
}

static void print_command_help(const struct ctl_command *c)
{
	const char *args = c->args ? c->args : "";
	printf("Usage: hearthctl %s%s%s%s%s [options]\n\n%s\n", c->group, c->name[0] ? " " : "",
	       c->name, args[0] ? " " : "", args, c->summary);
	if (c->usage && c->usage[0])
		printf("\nOptions:\n%s", c->usage);
	printf("\nGlobal options: --url URL, --token TOKEN, --json, --yes, --reason TEXT"
	       " (see 'hearthctl --help').\n");
	if (c->examples && c->examples[0])
		printf("\nExamples:\n%s", c->examples);
}

static void print_group(const char *group, FILE *out)
{
	fprintf(out, "Commands of 'hearthctl %s':\n", group);
	for (const struct ctl_command *c = ctl_commands; c->group; c++)
		if (strcmp(c->group, group) == 0)
			fprintf(out, "  %-20s %s\n", c->name, c->summary);
	fprintf(out, "\nRun 'hearthctl %s COMMAND --help' for a command's options and examples.\n", group);
}

int main(int argc, char **argv)
{
	struct ctl ctl = {0};
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		print_overview(argc < 2 ? stderr : stdout);
		return argc < 2 ? CTL_USAGE : CTL_OK;
	}
	/* Global options may stand anywhere; commands read them through ctl. */
	ctl.url = ctl_opt(argc, argv, "--url");
	if (!ctl.url)
		ctl.url = getenv("HEARTH_URL");
	if (!ctl.url && ctl_config_get("url", ctl.url_buf, sizeof ctl.url_buf))
		ctl.url = ctl.url_buf;
	if (!ctl.url || !ctl.url[0])
		ctl.url = "http://127.0.0.1:8080";
	ctl.token = ctl_opt(argc, argv, "--token");
	if (!ctl.token || !ctl.token[0])
		ctl.token = getenv("HEARTH_TOKEN");
	if (ctl.token && !ctl.token[0])
		ctl.token = NULL;
	ctl.reason = ctl_opt(argc, argv, "--reason");
	ctl.json = ctl_flag(argc, argv, "--json");
	ctl.yes = ctl_flag(argc, argv, "--yes");
	const char *no_color_env = getenv("NO_COLOR");
	bool no_color = no_color_env && no_color_env[0];
	ctl.color = isatty(STDOUT_FILENO) && !no_color;
	ctl.err_color = isatty(STDERR_FILENO) && !no_color;

	/* The first two words that are not options name the command. */
	const char *words[2] = {NULL, NULL};
	int at[2] = {argc, argc}, nwords = 0;
	for (int i = 1; i < argc && nwords < 2; i++) {
		if (argv[i][0] == '-') {
			size_t n;
			if (in_list(argv[i], global_valued, &n) && argv[i][n] == '\0')
				i++;
			continue;
		}
		at[nwords] = i;
		words[nwords++] = argv[i];
	}
	bool help = ctl_flag(argc, argv, "--help") || ctl_flag(argc, argv, "-h");
	bool group_known = false;
	int rc = CTL_USAGE;
	for (const struct ctl_command *c = ctl_commands; c->group; c++) {
		if (!words[0] || strcmp(c->group, words[0]) != 0)
			continue;
		group_known = true;
		int cmd_at;
		if (!c->name[0])
			cmd_at = at[0];
		else if (words[1] && strcmp(c->name, words[1]) == 0)
			cmd_at = at[1];
		else
			continue;
		if (help) {
			print_command_help(c);
			return CTL_OK;
		}
		char full[64];
		snprintf(full, sizeof full, "%s%s%s", c->group, c->name[0] ? " " : "", c->name);
		ctl.cmd = full;
		rc = c->run(&ctl, argc - cmd_at - 1, argv + cmd_at + 1);
		free(ctl.saved_token);
		return rc;
	}
	if (group_known) {
		if (!words[1] || help) {
			print_group(words[0], words[1] ? stdout : stderr);
			return words[1] ? CTL_OK : CTL_USAGE;
		}
		return ctl_usage_error(words[0], "'%s %s' is not a command", words[0], words[1]);
	}
	fprintf(stderr, "hearthctl: '%s' is not a command\n\n", words[0] ? words[0] : "");
	print_overview(stderr);
	return CTL_USAGE;
}
