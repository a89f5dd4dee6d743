/*
 * term.c - prompts and confirmations.  Prompts go to stderr so that stdout
 * stays clean for output (and --json); secrets are read with echo off.
 */
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli/ctl.h"

bool ctl_interactive(void) { return isatty(STDIN_FILENO) != 0; }

bool ctl_read_line(const char *prompt, bool secret, char *buf, size_t cap)
{
	struct termios old, quiet;
	bool echo_off = false;
	if (prompt) {
		fputs(prompt, stderr);
		fflush(stderr);
	}
	if (secret && isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		echo_off = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
	}
	bool ok = cap > 1 && fgets(buf, (int)(cap > 1 << 20 ? 1 << 20 : cap), stdin) != NULL;
	if (echo_off) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	if (!ok)
		return false;
	size_t n = strlen(buf);
	if (n > 0 && buf[n - 1] == '\n') {
		buf[--n] = '\0';
	} else if (!feof(stdin)) {
		/* The line did not fit: drain it and refuse rather than truncate. */
		int c;
		while ((c = getchar()) != EOF && c != '\n')
			;
		memset(buf, 0, cap);
		return false;
	}
	if (n > 0 && buf[n - 1] == '\r')
		buf[--n] = '\0';
	return true;
}

int ctl_confirm(struct ctl *ctl, const char *question)
{
	char answer[16];
	if (ctl->yes)
		return CTL_OK;
	if (!ctl_interactive()) {
		fprintf(stderr, "hearthctl: %s\nhearthctl: refusing without --yes (stdin is not a terminal)\n",
			question);
		return CTL_USAGE;
	}
	fprintf(stderr, "%s [type yes to go on] ", question);
	if (!ctl_read_line(NULL, false, answer, sizeof answer) || strcmp(answer, "yes") != 0) {
		fprintf(stderr, "hearthctl: not confirmed; nothing was changed\n");
		return CTL_FAILURE;
	}
	return CTL_OK;
}
