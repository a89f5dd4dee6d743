/*
 * config.c - hearthctl's files: the saved login (token) and the config file,
 * both in $XDG_CONFIG_HOME/hearth/ (or ~/.config/hearth/).
 *
 * The token file holds one staff token and nothing else.  It is created
 * with mode 0600 in a directory created with mode 0700, written to a
 * temporary file and renamed, so it is never readable by others nor half
 * written.  A token file that group or others may read is refused.
 *
 * The config file holds `key = value` lines; '#' starts a comment.  Today
 * the one key is `url`.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/ctl.h"

static bool config_dir(char *buf, size_t cap)
{
	const char *x = getenv("XDG_CONFIG_HOME");
	int n;
	if (x && x[0] == '/') {
		n = snprintf(buf, cap, "%s/hearth", x);
	} else {
		const char *home = getenv("HOME");
		if (!home || !home[0])
			return false;
		n = snprintf(buf, cap, "%s/.config/hearth", home);
	}
	return n > 0 && (size_t)n < cap;
}

bool ctl_config_path(const char *name, char *buf, size_t cap)
{
	char dir[1024];
	if (!config_dir(dir, sizeof dir))
		return false;
	int n = snprintf(buf, cap, "%s/%s", dir, name);
	return n > 0 && (size_t)n < cap;
}

/* mkdir -p for the config directory, the last level with mode 0700. */
static bool make_dirs(const char *dir)
{
	char path[1024];
	int n = snprintf(path, sizeof path, "%s", dir);
	if (n <= 0 || (size_t)n >= sizeof path)
		return false;
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) != 0 && errno != EEXIST)
			return false;
		*p = '/';
	}
	return mkdir(path, 0700) == 0 || errno == EEXIST;
}

int ctl_token_save(const char *token)
{
	char dir[1024], path[1100], tmp[1200];
	if (!config_dir(dir, sizeof dir) || !ctl_config_path("token", path, sizeof path))
		return ctl_fail(CTL_FAILURE, "cannot find a config directory (set HOME or XDG_CONFIG_HOME)");
	if (!make_dirs(dir))
		return ctl_fail(CTL_FAILURE, "cannot create %s: %s", dir, strerror(errno));
	snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
	if (fd < 0)
		return ctl_fail(CTL_FAILURE, "cannot write %s: %s", tmp, strerror(errno));
	size_t len = strlen(token);
	bool ok = fchmod(fd, 0600) == 0 && write(fd, token, len) == (ssize_t)len &&
		  write(fd, "\n", 1) == 1 && fsync(fd) == 0;
	ok = close(fd) == 0 && ok;
	if (!ok || rename(tmp, path) != 0) {
		int err = errno;
		unlink(tmp);
		return ctl_fail(CTL_FAILURE, "cannot save the login to %s: %s", path, strerror(err));
	}
	return CTL_OK;
}

char *ctl_token_load(void)
{
	char path[1100], buf[2048];
	struct stat sb;
	if (!ctl_config_path("token", path, sizeof path))
		return NULL;
	int fd = open(path, O_RDONLY | O_NOFOLLOW);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &sb) != 0 || (sb.st_mode & 077) != 0) {
		close(fd);
		fprintf(stderr, "hearthctl: ignoring %s: others may read it (chmod 600 it, or log in again)\n", path);
		return NULL;
	}
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	char *t = buf[0] ? strdup(buf) : NULL;
	memset(buf, 0, sizeof buf);
	return t;
}

bool ctl_token_forget(void)
{
	char path[1100];
	return ctl_config_path("token", path, sizeof path) && unlink(path) == 0;
}

bool ctl_config_get(const char *key, char *buf, size_t cap)
{
	char path[1100], line[1024];
	bool found = false;
	if (!ctl_config_path("config", path, sizeof path))
		return false;
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	size_t klen = strlen(key);
	while (!found && fgets(line, sizeof line, f)) {
		char *p = line;
		while (*p == ' ' || *p == '\t')
			p++;
		if (strncmp(p, key, klen) != 0)
			continue;
		p += klen;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p != '=')
			continue;
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		size_t n = strcspn(p, "\r\n#");
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n < cap) {
			memcpy(buf, p, n);
			buf[n] = '\0';
			found = true;
		}
	}
	fclose(f);
	return found;
}
