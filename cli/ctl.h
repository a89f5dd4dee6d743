/*
 * ctl.h - what hearthctl's command files share.
 *
 * hearthctl is git-style: `hearthctl GROUP COMMAND [options]`.  Each command
 * is one row of a table (cli/commands.c) with its summary, usage and
 * examples, so `--help` on any command prints exactly what exists.
 * Exit codes: 0 ok, 1 failure, 2 usage, 3 not found, 4 forbidden or
 * unauthenticated.
 */
#ifndef HEARTH_CLI_CTL_H
#define HEARTH_CLI_CTL_H

#include <stdbool.h>
#include <stdio.h>

enum ctl_exit {
	CTL_OK = 0,
	CTL_FAILURE = 1,
	CTL_USAGE = 2,
	CTL_NOT_FOUND = 3,
	CTL_FORBIDDEN = 4,
};

/* Options every command understands, read before the command runs. */
struct ctl {
	const char *url;	/* --url, HEARTH_URL, config file; default http://127.0.0.1:8080 */
	const char *token;	/* --token, HEARTH_TOKEN, saved login */
	const char *reason;	/* --reason */
	bool json;		/* --json: machine output */
	bool yes;		/* --yes: skip confirmations */
	bool color;		/* stdout is a terminal and NO_COLOR is unset */
};

struct ctl_command {
	const char *group;	/* "db" */
	const char *name;	/* "migrate" */
	const char *summary;	/* one line */
	const char *usage;	/* options, one per line */
	const char *examples;	/* lines of example invocations */
	int (*run)(struct ctl *ctl, int argc, char **argv); /* argv after the command name */
};

/* The command table (NULL-name terminated). */
extern const struct ctl_command ctl_commands[];

/* Find `--name value` or `--name=value` in argv; removes nothing.  Returns
 * the value or NULL.  A flag given without a value is a usage error that the
 * caller reports (ctl_usage_error). */
const char *ctl_opt(int argc, char **argv, const char *name);

/* True when the bare flag `--name` is present. */
bool ctl_flag(int argc, char **argv, const char *name);

/* Check that every argument is a known option (NULL-terminated lists of
 * options that take values and bare flags) or one of `npos` positionals;
 * prints the problem and returns false otherwise. */
bool ctl_check_args(int argc, char **argv, const char *const *valued, const char *const *flags,
		    int npos_min, int npos_max, const char **pos);

/* Print "hearthctl: <message>" and a hint to use --help; returns CTL_USAGE. */
int ctl_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Print "hearthctl: <message>" to stderr; returns `code`. */
int ctl_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
