#include "core/procid.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

struct procid {
	char host[72];
	char boot[40];		/* "" when the kernel does not say */
	long long pid;
	char start[24];		/* "" when unknown */
};

static char self_text[PROCID_MAX];
static struct procid self;
static pthread_mutex_t self_lock = PTHREAD_MUTEX_INITIALIZER;

/* The first line of `path` without its newline into buf; false when absent. */
static bool read_line(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	bool ok = f && fgets(buf, (int)cap, f);
	if (f)
		fclose(f);
	if (!ok) {
		buf[0] = '\0';
		return false;
	}
	buf[strcspn(buf, "\n")] = '\0';
	return true;
}

/* Fields 3 (state) and 22 (start time, clock ticks since boot) of
 * /proc/<pid>/stat; false when the process does not exist (or there is no
 * /proc).  *out is "" when the line could not be read as expected. */
static bool stat_of(long long pid, char *state, char *out, size_t cap)
{
	char path[64], line[1024];
	snprintf(path, sizeof path, "/proc/%lld/stat", pid);
	out[0] = '\0';
	*state = '?';
	if (!read_line(path, line, sizeof line))
		return false;
	/* The command name (field 2) may hold spaces and ')': skip past its end. */
	const char *p = strrchr(line, ')');
	if (p && p[1] == ' ')
		*state = p[2];
	for (int field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	if (!p)
		return true;
	size_t n = strcspn(p + 1, " ");
	if (n == 0 || n >= cap)
		return true;
	memcpy(out, p + 1, n);
	out[n] = '\0';
	return true;
}

static void init_self(void)
{
	if (gethostname(self.host, sizeof self.host) != 0)
		self.host[0] = '\0';
	self.host[sizeof self.host - 1] = '\0';
	self.host[strcspn(self.host, ":")] = '\0';
	read_line("/proc/sys/kernel/random/boot_id", self.boot, sizeof self.boot);
	self.boot[strcspn(self.boot, ":")] = '\0';
	self.pid = (long long)getpid();
	char state;
	stat_of(self.pid, &state, self.start, sizeof self.start);
	snprintf(self_text, sizeof self_text, "%s:%s:%lld:%s", self.host, self.boot, self.pid, self.start);
}

const char *procid_self(void)
{
	/* Again in a forked child: it is another process. */
	pthread_mutex_lock(&self_lock);
	if (self.pid != (long long)getpid())
		init_self();
	pthread_mutex_unlock(&self_lock);
	return self_text;
}

/* Split "host:boot:pid:start" from the right (a host name has no ':'). */
static bool parse(const char *text, struct procid *out)
{
	char buf[PROCID_MAX];
	char *fields[4];
	size_t n = strlen(text);
	if (n >= sizeof buf)
		return false;
	memcpy(buf, text, n + 1);
	for (int i = 3; i > 0; i--) {
		char *colon = strrchr(buf, ':');
		if (!colon)
			return false;
		*colon = '\0';
		fields[i] = colon + 1;
	}
	fields[0] = buf;
	char *end = NULL;
	errno = 0;
	out->pid = strtoll(fields[2], &end, 10);
	if (errno || end == fields[2] || *end || out->pid <= 0 || strlen(fields[0]) >= sizeof out->host ||
	    strlen(fields[1]) >= sizeof out->boot || strlen(fields[3]) >= sizeof out->start)
		return false;
	memcpy(out->host, fields[0], strlen(fields[0]) + 1);
	memcpy(out->boot, fields[1], strlen(fields[1]) + 1);
	memcpy(out->start, fields[3], strlen(fields[3]) + 1);
	return true;
}

enum procid_state procid_check(const char *id)
{
	struct procid other;
	char start[24], state;
	procid_self();
	if (!id || !parse(id, &other) || strcmp(other.host, self.host) != 0)
		return PROCID_UNKNOWN;
	if (other.boot[0] && self.boot[0] && strcmp(other.boot, self.boot) != 0)
		return PROCID_DEAD; /* this host rebooted since */
	if (other.boot[0] && self.boot[0] && other.start[0]) {
		/* Gone, a zombie not yet reaped, or its pid reused by another. */
		if (!stat_of(other.pid, &state, start, sizeof start) || state == 'Z')
			return PROCID_DEAD;
		if (!start[0])
			return PROCID_UNKNOWN;
		return strcmp(start, other.start) != 0 ? PROCID_DEAD : PROCID_ALIVE;
	}
	/* No /proc: only "no such process" is certain. */
	if (kill((pid_t)other.pid, 0) != 0 && errno == ESRCH)
		return PROCID_DEAD;
	return PROCID_UNKNOWN;
}
