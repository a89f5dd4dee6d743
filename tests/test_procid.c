/* core/procid: this process's identity, and telling a dead process's
 * identity from a live one's (what marks billing runs interrupted). */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/procid.h"
#include "tests/unit.h"

/* The identity the child process gives, read through a pipe; the child
 * is reaped before this returns, so that identity is of a dead process. */
static void identity_of_a_finished_child(char *out, size_t cap)
{
	int fds[2];
	ck_assert_int_eq(pipe(fds), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		const char *me = procid_self();
		ssize_t n = write(fds[1], me, strlen(me));
		_exit(n == (ssize_t)strlen(me) ? 0 : 1);
	}
	close(fds[1]);
	ssize_t n = read(fds[0], out, cap - 1);
	close(fds[0]);
	ck_assert_int_gt(n, 0);
	out[n] = '\0';
	int status = 0;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

START_TEST(self_is_host_boot_pid_and_start_and_alive)
{
	const char *me = procid_self();
	char pid[32];
	snprintf(pid, sizeof pid, ":%ld:", (long)getpid());
	ck_assert_ptr_nonnull(strstr(me, pid));
	ck_assert_uint_lt(strlen(me), PROCID_MAX);
	ck_assert_int_eq(procid_check(me), PROCID_ALIVE);
	char child[PROCID_MAX];
	identity_of_a_finished_child(child, sizeof child); /* after a fork: its own */
	ck_assert_str_ne(child, me);
}
END_TEST

START_TEST(a_reaped_process_is_dead)
{
	char child[PROCID_MAX];
	identity_of_a_finished_child(child, sizeof child);
	ck_assert_str_ne(child, procid_self());
	ck_assert_int_eq(procid_check(child), PROCID_DEAD);
}
END_TEST

/* This process's pid with another start time: the pid was reused. */
START_TEST(a_reused_pid_is_dead)
{
	char other[PROCID_MAX];
	const char *me = procid_self();
	const char *last = strrchr(me, ':');
	ck_assert_ptr_nonnull(last);
	snprintf(other, sizeof other, "%.*s:1", (int)(last - me), me);
	ck_assert_str_ne(other, me);
	ck_assert_int_eq(procid_check(other), PROCID_DEAD);
}
END_TEST

static const char *const not_known[] = {
	"another-host:00000000-0000-0000-0000-000000000000:1:1",	/* other host: cannot tell */
	"",
	"no colons",
	"a:b:c",
	"host:boot:notapid:1",
	"host:boot:-5:1",
};

START_TEST(another_host_or_garbage_is_unknown)
{
	ck_assert_int_eq(procid_check(not_known[_i]), PROCID_UNKNOWN);
}
END_TEST

START_TEST(null_is_unknown) { ck_assert_int_eq(procid_check(NULL), PROCID_UNKNOWN); }
END_TEST

static Suite *procid_suite(void)
{
	Suite *s = suite_create("procid");
	TCase *tc = tcase_create("procid");
	tcase_add_test(tc, self_is_host_boot_pid_and_start_and_alive);
	tcase_add_test(tc, a_reaped_process_is_dead);
	tcase_add_test(tc, a_reused_pid_is_dead);
	tcase_add_loop_test(tc, another_host_or_garbage_is_unknown, 0,
			    (int)(sizeof not_known / sizeof not_known[0]));
	tcase_add_test(tc, null_is_unknown);
	suite_add_tcase(s, tc);
	return s;
}

int main(void) { return unit_run(procid_suite()); }
