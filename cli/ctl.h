/*
 * ctl.h - what hearthctl's command files share.
 *
 * hearthctl is git-style: `hearthctl GROUP COMMAND [options]`, or a single
 * word for the few commands that stand alone (`login`, `whoami`, `audit`).
 * Each command is one row of a table (cli/commands.c) with its summary,
 * usage and examples, so `--help` on any command prints exactly what exists.
 *
 * What stays true for every command:
 * - Exit codes: 0 ok, 1 failure, 2 usage, 3 not found, 4 forbidden or
 *   unauthenticated.  An API problem document is printed to stderr as
 *   "error: <code>: <detail>" and its status picks the exit code.
 * - Output for people goes to stdout as text and tables; --json prints the
 *   API's JSON instead, unchanged, for scripts.  Colour only when stdout
 *   (or stderr, for errors) is a terminal and NO_COLOR is unset.
 * - A change sends a reason (X-Hearth-Reason): --reason, else asked for on
 *   a terminal; empty or missing without a terminal is a usage error.
 *   Destructive changes ask for confirmation unless --yes; without a
 *   terminal they are refused unless --yes.
 * - The staff token comes from --token, HEARTH_TOKEN, or the file `login`
 *   saved ($XDG_CONFIG_HOME/hearth/token or ~/.config/hearth/token, mode
 *   0600); the server from --url, HEARTH_URL, `url = ...` in the config file
 *   ($XDG_CONFIG_HOME/hearth/config), or http://127.0.0.1:8080.
 */
#ifndef HEARTH_CLI_CTL_H
#define HEARTH_CLI_CTL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
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
	const char *token;	/* --token, HEARTH_TOKEN; NULL: the saved login is read on use */
	const char *reason;	/* --reason */
	bool json;		/* --json: machine output */
	bool yes;		/* --yes: skip confirmations */
	bool color;		/* stdout is a terminal and NO_COLOR is unset */
	bool err_color;		/* the same for stderr */
	const char *cmd;	/* "accounts show": for messages */
	char url_buf[512];	/* storage for a url read from the config file */
	char *saved_token;	/* the saved login, once read (freed at exit) */
};

struct ctl_command {
	const char *group;	/* "db", or the whole command ("login") */
	const char *name;	/* "migrate", or "" for a one-word command */
	const char *summary;	/* one line */
	const char *usage;	/* options, one per line */
	const char *examples;	/* lines of example invocations */
	int (*run)(struct ctl *ctl, int argc, char **argv); /* argv after the command name */
	const char *args;	/* positional arguments for the usage line ("ID"); may be NULL */
};

/* The command table (NULL-group terminated). */
extern const struct ctl_command ctl_commands[];

/* ---- arguments (main.c) ---- */

/* Find `--name value` or `--name=value` in argv; removes nothing.  Returns
 * the value or NULL. */
const char *ctl_opt(int argc, char **argv, const char *name);

/* True when the bare flag `--name` is present. */
bool ctl_flag(int argc, char **argv, const char *name);

/* Check that every argument is a known option (NULL-terminated lists of
 * options that take values and bare flags) or one of `npos_min`..`npos_max`
 * positionals (stored in `pos` when not NULL); prints the problem and
 * returns false otherwise. */
bool ctl_check_args(int argc, char **argv, const char *const *valued, const char *const *flags,
		    int npos_min, int npos_max, const char **pos);

/* Print "hearthctl: <message>" and a hint to use --help; returns CTL_USAGE. */
int ctl_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Print "hearthctl: <message>" to stderr; returns `code`. */
int ctl_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- the API (http.c) ---- */

enum ctl_req_flags {
	CTL_REQ_CHANGE = 1u << 0,	/* send the reason (asked for when missing) */
	CTL_REQ_NO_AUTH = 1u << 1,	/* send no token (sign-in) */
	CTL_REQ_QUIET_404 = 1u << 2,	/* the caller reports a 404 itself */
	CTL_REQ_REASON_IF_GIVEN = 1u << 3, /* a read that sends --reason when there is one */
};

/* Send `method` `path` (already escaped; see ctl_escape) with `body`
 * (stolen, may be NULL) to the server.  On a 2xx, *out (may be NULL) gets
 * the parsed JSON reply (NULL for 204) and CTL_OK is returned.  Otherwise
 * the problem is printed ("error: code: detail") and its exit code returned;
 * *out is then NULL. */
int ctl_api(struct ctl *ctl, const char *method, const char *path, json_t *body, unsigned flags,
	    json_t **out);

/* GET every page of the list at `path` (no query string), 100 rows a
 * page, continuing after each page's last row by its `id_field`.  CTL_OK
 * with *all the rows (a new array, the caller releases it, also on
 * failure), or ctl_api's exit code after it printed the problem. */
int ctl_api_get_all(struct ctl *ctl, const char *path, const char *id_field, json_t **all);

/* Percent-encode `s` for a URL path segment or query value; caller frees. */
char *ctl_escape(const char *s);

/* The staff token to send: --token, HEARTH_TOKEN, or the saved login;
 * NULL when there is none. */
const char *ctl_token(struct ctl *ctl);

/* The reason for a change: --reason (trimmed), else asked for on a
 * terminal.  NULL after printing why when it is empty or cannot be asked
 * (the caller returns CTL_USAGE). */
const char *ctl_reason(struct ctl *ctl);

/* ---- the terminal (term.c) ---- */

/* True when stdin is a terminal (prompts are possible). */
bool ctl_interactive(void);

/* Print `prompt` to stderr and read one line from stdin into `buf`
 * (without its newline), echo off when `secret`.  False at end of input or
 * when the line does not fit. */
bool ctl_read_line(const char *prompt, bool secret, char *buf, size_t cap);

/* Confirmation of a destructive command: CTL_OK with --yes; on a terminal,
 * asks `question` and wants "yes" (else CTL_FAILURE); without a terminal,
 * prints that --yes is needed and returns CTL_USAGE. */
int ctl_confirm(struct ctl *ctl, const char *question);

/* ---- the saved login and config file (config.c) ---- */

/* Write `token` to the token file (directories 0700, file 0600, replaced
 * atomically).  Returns CTL_OK or prints the problem and returns CTL_FAILURE. */
int ctl_token_save(const char *token);

/* Read the saved token (caller frees) or NULL when there is none. */
char *ctl_token_load(void);

/* Remove the saved token; true when one was removed. */
bool ctl_token_forget(void);

/* The path of file `name` in hearthctl's config directory, into `buf`. */
bool ctl_config_path(const char *name, char *buf, size_t cap);

/* The value of `key` in the config file into `buf`; false when absent. */
bool ctl_config_get(const char *key, char *buf, size_t cap);

/* ---- output (out.c) ---- */

/* Print `v` as indented JSON and a newline to stdout. */
void ctl_print_json(const json_t *v);

/* A table: set the column titles, add rows of strings (copied), print.
 * Columns are as wide as their widest cell; titles are bold on a terminal. */
struct ctl_table;
struct ctl_table *ctl_table_new(int ncols, const char *const *titles);
void ctl_table_row(struct ctl_table *t, const char *const *cells);
void ctl_table_print(struct ctl *ctl, struct ctl_table *t);
void ctl_table_free(struct ctl_table *t);

/* Print the list `rows`: as {"data": rows} with --json, else as a table
 * of `ncols` columns titled `titles`, `add_row` adding each row to it. */
typedef void (*ctl_row_fn)(struct ctl_table *t, const json_t *row);
void ctl_print_rows(struct ctl *ctl, json_t *rows, int ncols, const char *const *titles,
		    ctl_row_fn add_row);

/* Print "  Label:   value" lines; a NULL or empty value prints "-". */
void ctl_field(struct ctl *ctl, const char *label, const char *value);

/* A string member of `o`, or "" (never NULL). */
const char *ctl_str(const json_t *o, const char *key);

/* Print a heading ("Profiles") in bold on a terminal. */
void ctl_heading(struct ctl *ctl, const char *title);

/* Wrap `s` in a green/red/yellow/bold escape when colour is on; returns a
 * static buffer that holds until the next call with the same `slot` (0..3). */
const char *ctl_paint(bool on, const char *code, const char *s, int slot);

#endif
