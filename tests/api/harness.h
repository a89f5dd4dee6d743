/*
 * harness.h - API tests against a real hearthd.
 *
 * api_start() runs the hearthd binary of this build on an ephemeral
 * loopback port with a fresh temporary database, a temporary key file and
 * the test clock (test mode), and waits until it answers.  Requests go over
 * real HTTP with libcurl.  Tests may also open the server's database
 * directly (api_db) to prove what a request did or did not change.
 *
 * Typical use is one server per suite (an unchecked fixture), with each
 * test forked by Check and talking to it.
 *
 * HEARTH_HEARTHD_WRAPPER, when set, is a command that prefixes hearthd's
 * command line, split at blanks (scripts/test --valgrind sets it to a
 * valgrind memcheck command); api_stop() then returns the wrapper's exit
 * status, so a suite that asserts a clean stop also fails on what the
 * wrapper reported.
 */
#ifndef HEARTH_TESTS_API_HARNESS_H
#define HEARTH_TESTS_API_HARNESS_H

#include <check.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/db.h"

/* The test clock's start: 2027-01-15T00:00:00Z, a fixed, ordinary day. */
#define API_CLOCK_START 1800000000LL

struct api_server {
	pid_t pid;
	uint16_t port;
	char dir[128];		/* temporary directory, removed by api_stop */
	char db_path[192];
	char key_path[192];
	char log_path[192];
	char base[64];		/* "http://127.0.0.1:PORT" */
	/* For api_restart: the test clock as the harness last saw it (set by
	 * api_start, moved by api_advance), and api_start's extra flags, copied
	 * as NUL-separated strings. */
	int64_t clock;
	char extra[2048];
	size_t extra_len;
	int extra_n;
};

struct api_resp {
	long status;
	char *body;
	size_t len;
	json_t *json;		/* parsed body when it is JSON, else NULL */
	char *headers;		/* raw response header block */
};

/* Start hearthd with the standard test flags plus `extra` (NULL-terminated,
 * may be NULL).  Aborts the test run when the server does not come up. */
void api_start(struct api_server *s, const char *const *extra);

/* True when hearthd runs under HEARTH_HEARTHD_WRAPPER (much slower):
 * tests that wait on the server for wall-clock time scale their waits. */
bool api_wrapped(void);

/* Kill the server with SIGKILL, as a crash would (no shutdown, nothing
 * flushed), and reap it.  The directory, database and key file stay, for
 * api_restart or api_stop. */
void api_kill(struct api_server *s);

/* Start a new hearthd on the same directory, database and key file, with
 * api_start's extra flags and the test clock at s->clock (the clock does not
 * go back across a restart; moves made other than by api_advance are not
 * known to the harness).  It listens on the same port when it can, so
 * s->base usually stays the same; else on a new one (s->port and s->base
 * change).  A server still running is killed with SIGKILL first.  Its log is
 * appended to the same file.  Aborts the test run when it does not come up. */
void api_restart(struct api_server *s);

/* SIGTERM the server and wait for it; returns its exit status (0 = clean).
 * Removes the temporary directory unless HEARTH_KEEP_TEST_DIRS is set. */
int api_stop(struct api_server *s);

/* A request.  `token` adds "Authorization: Bearer ..." (NULL: none);
 * `content_type` and `body` may be NULL; `headers` is a NULL-terminated list
 * of "Name: value" lines (may be NULL).  Never returns NULL. */
struct api_resp *api_request(struct api_server *s, const char *method, const char *path,
			     const char *token, const char *content_type, const char *body,
			     const char *const *headers);

/* Shorthands: GET, and a JSON body given as a jansson value (stolen). */
struct api_resp *api_get(struct api_server *s, const char *path, const char *token);
struct api_resp *api_json(struct api_server *s, const char *method, const char *path,
			  const char *token, json_t *body);
/* A form-encoded POST (`body` already encoded). */
struct api_resp *api_form(struct api_server *s, const char *path, const char *body);

void api_resp_free(struct api_resp *r);

/* The value of response header `name` (case-insensitive) copied into buf,
 * or NULL when absent. */
const char *api_header(const struct api_resp *r, const char *name, char *buf, size_t cap);

/* String member `key` of the response JSON, or NULL. */
const char *api_str(const struct api_resp *r, const char *key);

/* Move the server's test clock forward (and remember where it is, for
 * api_restart). */
void api_advance(struct api_server *s, int64_t seconds);

/* Open the server's database (caller closes with db_close). */
struct db *api_db(struct api_server *s);

/* The integer a one-row, one-column query gives (after binding text `arg`
 * to ?1 when not NULL); -1 when there is no row. */
int64_t api_db_int(struct api_server *s, const char *sql, const char *arg);

/* Run hearthctl with `argv` (NULL-terminated, without the program name),
 * the environment HEARTH_URL pointing at `s` plus `env` ("K=V", NULL-terminated,
 * may be NULL), and `input` on stdin (may be NULL).  *out and *err (may be
 * NULL) receive what it printed (caller frees).  Returns the exit code. */
int api_ctl(struct api_server *s, const char *const *argv, const char *const *env,
	    const char *input, char **out, char **err);

/* Assert the status, showing the body when it differs. */
#define ck_assert_status(resp, want)                                                            \
	ck_assert_msg((resp)->status == (want), "expected HTTP %d, got %ld: %s", (int)(want),     \
		      (resp)->status, (resp)->body ? (resp)->body : "")

/* Assert a problem document with this status and code. */
#define ck_assert_problem(resp, want_status, want_code)                                         \
	do {                                                                                    \
		ck_assert_status(resp, want_status);                                            \
		const char *code_ = api_str(resp, "code");                                      \
		ck_assert_msg(code_ && strcmp(code_, (want_code)) == 0,                          \
			      "expected code %s, got %s: %s", (want_code), code_ ? code_ : "(none)", \
			      (resp)->body ? (resp)->body : "");                                \
	} while (0)

#endif
