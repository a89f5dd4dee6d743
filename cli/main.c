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
static const char *const global_flags[] = {"--json", "--yes", "--help", NULL};

const char *ctl_opt(int argc, char **argv, const char *name)
{
	size_t n = strlen(name);
	for (int i = 0; i < argc; i++) {
		if (strncmp(argv[i], name, n) != 0)
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
		     "                 GROUP COMMAND [options]\n\n"
		     "Hearth's admin command line for support staff and operators.\n\nCommands:\n");
	for (const struct ctl_command *c = ctl_commands; c->name; c++) {
		char full[64];
		snprintf(full, sizeof full, "%s %s", c->group, c->name);
		fprintf(out, "  %-26s %s\n", full, c->summary);
	}
	fprintf(out, "\nGlobal options:\n"
		     "  --url URL       Hearth's address (env HEARTH_URL; default http://127.0.0.1:8080)\n"
		     "  --token TOKEN   staff token (env HEARTH_TOKEN; default: the saved login)\n"
		     "  --json          machine-readable output\n"
		     "  --yes           do not ask for confirmation\n"
		     "  --reason TEXT   why (required for every change; asked for on a terminal)\n"
		     "\nRun 'hearthctl GROUP COMMAND --help' for a command's options and examples.\n"
		     "Exit codes: 0 ok, 1 failure, 2 usage, 3 not found, 4 forbidden or unauthenticated.\n");
}

static void print_command_help(const struct ctl_command *c)
{
	printf("Usage: hearthctl %s %s %s\n\n%s\n", c->group, c->name, c->usage ? "[options]" : "",
	       c->summary);
	if (c->usage && c->usage[0])
		printf("\nOptions:\n%s", c->usage);
	if (c->examples && c->examples[0])
		printf("\nExamples:\n%s", c->examples);
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
	if (!ctl.url)
		ctl.url = "http://127.0.0.1:8080";
	ctl.token = ctl_opt(argc, argv, "--token");
	if (!ctl.token)
		ctl.token = getenv("HEARTH_TOKEN");
	ctl.reason = ctl_opt(argc, argv, "--reason");
	ctl.json = ctl_flag(argc, argv, "--json");
	ctl.yes = ctl_flag(argc, argv, "--yes");
	ctl.color = isatty(STDOUT_FILENO) && !getenv("NO_COLOR");

	/* The first two words that are not options name the command. */
	const char *words[2] = {NULL, NULL};
	int nwords = 0, cmd_at = argc;
	for (int i = 1; i < argc && nwords < 2; i++) {
		if (argv[i][0] == '-') {
			size_t n;
			if (in_list(argv[i], global_valued, &n) && argv[i][n] == '\0')
				i++;
			continue;
		}
		words[nwords++] = argv[i];
		cmd_at = i;
	}
	bool group_known = false;
	for (const struct ctl_command *c = ctl_commands; c->name; c++) {
		if (!words[0] || strcmp(c->group, words[0]) != 0)
			continue;
		group_known = true;
		if (!words[1] || strcmp(c->name, words[1]) != 0)
			continue;
		if (ctl_flag(argc, argv, "--help") || ctl_flag(argc, argv, "-h")) {
			print_command_help(c);
			return CTL_OK;
		}
		return c->run(&ctl, argc - cmd_at - 1, argv + cmd_at + 1);
	}
	if (group_known) {
		if (!words[1] || ctl_flag(argc, argv, "--help")) {
			printf("Commands of 'hearthctl %s':\n", words[0]);
			for (const struct ctl_command *c = ctl_commands; c->name; c++)
				if (strcmp(c->group, words[0]) == 0)
					printf("  %-20s %s\n", c->name, c->summary);
			return words[1] ? CTL_OK : CTL_USAGE;
		}
		return ctl_usage_error(words[0], "'%s %s' is not a command", words[0], words[1]);
	}
	fprintf(stderr, "hearthctl: '%s' is not a command group\n\n", words[0] ? words[0] : "");
	print_overview(stderr);
	return CTL_USAGE;
}
