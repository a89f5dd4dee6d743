#include "tests/api/harness.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what)
{
	fprintf(stderr, "api harness: %s\n", what);
	exit(99);
}

/* exec and putenv take char * for historical reasons and never write. */
static char *unconst(const char *s)
{
	union {
		const char *c;
		char *m;
	} u = {s};
	return u.m;
}

static void ms_sleep(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Run hearthd on s's files listening on `listen`, with the test clock at
 * s->clock and s's extra flags; its output goes to the log (appended when
 * `append`).  Returns true once it wrote its port (s->port and s->base are
 * set), false when it exited first. */
static bool spawn(struct api_server *s, const char *listen, bool append)
{
	char port_file[256];
	snprintf(port_file, sizeof port_file, "%s/port", s->dir);
	remove(port_file);
	char clock_start[32];
	snprintf(clock_start, sizeof clock_start, "%lld", (long long)s->clock);

	/* HEARTH_HEARTHD_WRAPPER ("valgrind --quiet ...") prefixes the command
	 * line: its words, split at blanks (no quoting), come before hearthd's
	 * path and are looked up in PATH.  scripts/test --valgrind sets it. */
	char *argv[96];
	char *wrapper = NULL;
	int n = 0;
	const char *w = getenv("HEARTH_HEARTHD_WRAPPER");
	if (w && *w) {
		wrapper = strdup(w);
		if (!wrapper)
			die("out of memory");
		for (char *p = wrapper; *p && n < 30;) {
			while (*p == ' ' || *p == '\t')
				*p++ = '\0';
			if (!*p)
				break;
			argv[n++] = p;
			while (*p && *p != ' ' && *p != '\t')
				p++;
		}
	}
	bool wrapped = n > 0;
	argv[n++] = unconst(HEARTHD_PATH);
	argv[n++] = "--listen";
	argv[n++] = unconst(listen);
	argv[n++] = "--db";
	argv[n++] = s->db_path;
	argv[n++] = "--key-file";
	argv[n++] = s->key_path;
	argv[n++] = "--port-file";
	argv[n++] = port_file;
	argv[n++] = "--test-mode";
	argv[n++] = "--test-clock-start";
	argv[n++] = clock_start;
	/* Cheap Argon2id parameters keep the suites fast; the bench uses the real ones. */
	argv[n++] = "--pwhash-opslimit";
	argv[n++] = "1";
	argv[n++] = "--pwhash-memlimit";
	argv[n++] = "8192";
	/* Suites move the test clock by months and check events: the hourly
	 * events purge (tested in test_events) stays off unless a suite's own
	 * flags turn it on. */
	argv[n++] = "--events-retention-days";
	argv[n++] = "0";
	const char *e = s->extra;
	for (int i = 0; i < s->extra_n && n < 94; i++) {
		argv[n++] = unconst(e);
		e += strlen(e) + 1;
	}
	argv[n] = NULL;

	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		die("fork failed");
	if (pid == 0) {
		int fd = open(s->log_path, O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC), 0600);
		if (fd >= 0) {
			dup2(fd, STDERR_FILENO);
			dup2(fd, STDOUT_FILENO);
			close(fd);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	free(wrapper);
	s->pid = pid;
	/* Under a wrapper such as valgrind hearthd starts 20-50 times slower. */
	int tries = wrapped ? 30000 : 1000;
	for (int i = 0; i < tries; i++) {
		FILE *f = fopen(port_file, "r");
		if (f) {
			unsigned port = 0;
			int ok = fscanf(f, "%u", &port);
			fclose(f);
			if (ok == 1 && port > 0) {
				s->port = (uint16_t)port;
				snprintf(s->base, sizeof s->base, "http://127.0.0.1:%u", port);
				return true;
			}
		}
		int status;
		if (waitpid(pid, &status, WNOHANG) == pid) {
			s->pid = 0;
			return false;
		}
		ms_sleep(10);
	}
	die("hearthd did not write its port file in time");
	return false;
}

bool api_wrapped(void)
{
	const char *w = getenv("HEARTH_HEARTHD_WRAPPER");
	return w && strspn(w, " \t") < strlen(w);
}

void api_start(struct api_server *s, const char *const *extra)
{
	char tmpl[] = "/tmp/hearth-api-XXXXXX";
	memset(s, 0, sizeof *s);
	if (!mkdtemp(tmpl))
		die("mkdtemp failed");
	snprintf(s->dir, sizeof s->dir, "%s", tmpl);
	snprintf(s->db_path, sizeof s->db_path, "%s/hearth.db", s->dir);
	snprintf(s->key_path, sizeof s->key_path, "%s/hearth.keys", s->dir);
	snprintf(s->log_path, sizeof s->log_path, "%s/hearthd.log", s->dir);
	s->clock = API_CLOCK_START;
	for (int i = 0; extra && extra[i]; i++) {
		size_t len = strlen(extra[i]) + 1;
		if (s->extra_len + len > sizeof s->extra)
			die("too many extra hearthd flags");
		memcpy(s->extra + s->extra_len, extra[i], len);
		s->extra_len += len;
		s->extra_n++;
	}
	if (!spawn(s, "127.0.0.1:0", false)) {
		fprintf(stderr, "hearthd exited early; log in %s\n", s->log_path);
		die("hearthd did not start");
	}
}

/* With HEARTH_API_STATUS_LOG set (scripts/test sets it), append every
 * (method, route, status) this server answered, from its /metrics, to that
 * file: scripts/openapi-merge --statuses then checks that docs/openapi.yaml
 * documents each status a route was seen to answer.  Servers killed on
 * purpose (api_kill, the crash tests) lose their counts: that only narrows
 * the check.  record_codes() adds the error code of every error answer,
 * from the access log, once the server has stopped. */
static void record_statuses(struct api_server *s)
{
	const char *path = getenv("HEARTH_API_STATUS_LOG");
	if (!path || !path[0] || s->pid <= 0)
		return;
	struct api_resp *r = api_get(s, "/metrics", NULL);
	FILE *f = r && r->status == 200 && r->body ? fopen(path, "a") : NULL;
	if (f) {
		static const char counter[] = "hearth_http_requests_total{";
		for (const char *line = r->body; line && *line;) {
			const char *end = strchr(line, '\n');
			size_t n = end ? (size_t)(end - line) : strlen(line);
			if (n > sizeof counter - 1 && strncmp(line, counter, sizeof counter - 1) == 0)
				fprintf(f, "%.*s\n", (int)n, line);
			line = end ? end + 1 : NULL;
		}
		fclose(f);
	}
	api_resp_free(r);
}

/* Append "access method=M route=R status=S code=C" for each access-log
 * line of the stopped server that carries an error code. */
static void record_codes(const struct api_server *s)
{
	const char *path = getenv("HEARTH_API_STATUS_LOG");
	if (!path || !path[0] || !s->log_path[0])
		return;
	FILE *in = fopen(s->log_path, "r");
	FILE *out = in ? fopen(path, "a") : NULL;
	char line[2048];
	while (out && fgets(line, sizeof line, in)) {
		const char *m = strstr(line, "event=http.access ");
		const char *c = m ? strstr(m, " code=") : NULL;
		const char *from = m ? strstr(m, " method=") : NULL;
		if (!c || !from)
			continue;
		const char *end = strstr(c + 1, " ");
		fprintf(out, "access%.*s\n", (int)((end ? end : c + strlen(c)) - from), from);
	}
	if (out)
		fclose(out);
	if (in)
		fclose(in);
}

void api_kill(struct api_server *s)
{
	if (s->pid <= 0)
		return;
	kill(s->pid, SIGKILL);
	while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR)
		;
	s->pid = 0;
}

void api_restart(struct api_server *s)
{
	char listen[32];
	api_kill(s);
	snprintf(listen, sizeof listen, "127.0.0.1:%u", (unsigned)s->port);
	if (spawn(s, listen, true))
		return;
	/* The port was taken meanwhile: any free one will do. */
	if (!spawn(s, "127.0.0.1:0", true)) {
		fprintf(stderr, "hearthd exited early on restart; log in %s\n", s->log_path);
		die("hearthd did not restart");
	}
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int api_stop(struct api_server *s)
{
	int status = 0;
	record_statuses(s);
	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		if (waitpid(s->pid, &status, 0) != s->pid)
			status = -1;
		s->pid = 0;
	}
	record_codes(s);
	if (!getenv("HEARTH_KEEP_TEST_DIRS") && s->dir[0])
		nftw(s->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

struct growbuf {
	char *p;
	size_t len;
};

static size_t collect(char *data, size_t size, size_t nmemb, void *userp)
{
	struct growbuf *b = userp;
	size_t n = size * nmemb;
	char *np = realloc(b->p, b->len + n + 1);
	if (!np)
		return 0;
	memcpy(np + b->len, data, n);
	b->p = np;
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

struct api_resp *api_request(struct api_server *s, const char *method, const char *path,
			     const char *token, const char *content_type, const char *body,
			     const char *const *headers)
{
	struct api_resp *r = calloc(1, sizeof *r);
	struct growbuf b = {0}, h = {0};
	struct curl_slist *list = NULL;
	char url[2048], line[4096];
	if (!r)
		die("out of memory");
	CURL *c = curl_easy_init();
	if (!c)
		die("curl_easy_init failed");
	snprintf(url, sizeof url, "%s%s", s->base, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	if (content_type) {
		snprintf(line, sizeof line, "Content-Type: %s", content_type);
		list = curl_slist_append(list, line);
	} else if (body) {
		list = curl_slist_append(list, "Content-Type:");
	}
	list = curl_slist_append(list, "Expect:");
	if (token) {
		snprintf(line, sizeof line, "Authorization: Bearer %s", token);
		list = curl_slist_append(list, line);
	}
	for (int i = 0; headers && headers[i]; i++)
		list = curl_slist_append(list, headers[i]);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
	CURLcode rc = curl_easy_perform(c);
	if (rc != CURLE_OK) {
		fprintf(stderr, "api harness: %s %s: %s\n", method, path, curl_easy_strerror(rc));
		r->status = 0;
	} else {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	}
	curl_slist_free_all(list);
	curl_easy_cleanup(c);
	r->body = b.p ? b.p : strdup("");
	r->len = b.len;
	r->headers = h.p ? h.p : strdup("");
	if (r->len)
		r->json = json_loadb(r->body, r->len, 0, NULL);
	return r;
}

struct api_resp *api_get(struct api_server *s, const char *path, const char *token)
{
	return api_request(s, "GET", path, token, NULL, NULL, NULL);
}

struct api_resp *api_json(struct api_server *s, const char *method, const char *path,
			  const char *token, json_t *body)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	struct api_resp *r = api_request(s, method, path, token, text ? "application/json" : NULL,
					 text, NULL);
	free(text);
	return r;
}

struct api_resp *api_form(struct api_server *s, const char *path, const char *body)
{
	return api_request(s, "POST", path, NULL, "application/x-www-form-urlencoded", body, NULL);
}

void api_resp_free(struct api_resp *r)
{
	if (!r)
		return;
	free(r->body);
	free(r->headers);
	json_decref(r->json);
	free(r);
}

const char *api_header(const struct api_resp *r, const char *name, char *buf, size_t cap)
{
	size_t n = strlen(name);
	const char *p = r->headers;
	const char *found = NULL;
	while (p && *p) {
		const char *eol = strstr(p, "\r\n");
		if (!eol)
			eol = p + strlen(p);
		if ((size_t)(eol - p) > n && strncasecmp(p, name, n) == 0 && p[n] == ':')
			found = p; /* keep the last: after a 100-continue the final block wins */
		p = *eol ? eol + 2 : eol;
	}
	if (!found)
		return NULL;
	const char *v = found + n + 1;
	while (*v == ' ')
		v++;
	const char *e = strstr(v, "\r\n");
	size_t len = e ? (size_t)(e - v) : strlen(v);
	if (len >= cap)
		len = cap - 1;
	memcpy(buf, v, len);
	buf[len] = '\0';
	return buf;
}

const char *api_str(const struct api_resp *r, const char *key)
{
	return r->json ? json_string_value(json_object_get(r->json, key)) : NULL;
}

void api_advance(struct api_server *s, int64_t seconds)
{
	struct api_resp *r = api_json(s, "POST", "/test/v1/clock", NULL,
				      json_pack("{s:I}", "advance_seconds", (json_int_t)seconds));
	ck_assert_status(r, 200);
	json_t *now = r->json ? json_object_get(r->json, "now_unix") : NULL;
	s->clock = json_is_integer(now) ? (int64_t)json_integer_value(now) : s->clock + seconds;
	api_resp_free(r);
}

struct db *api_db(struct api_server *s)
{
	struct db_options o;
	struct db *db = NULL;
	db_options_init(&o);
	o.path = s->db_path;
	if (db_open(&o, &db) != ERR_OK)
		die("cannot open the test database");
	return db;
}

int64_t api_db_int(struct api_server *s, const char *sql, const char *arg)
{
	struct db *db = api_db(s);
	struct db_stmt *st = NULL;
	int64_t v = -1;
	if (db_prepare(db, sql, &st) != ERR_OK)
		die("bad SQL in a test");
	if (arg)
		db_bind_text(st, 1, arg);
	if (db_step_row(st) == ERR_OK)
		v = db_column_int64(st, 0);
	db_done(st);
	db_close(db);
	return v;
}

static char *slurp_fd(int fd)
{
	struct growbuf b = {0};
	char tmp[4096];
	for (;;) {
		ssize_t n = read(fd, tmp, sizeof tmp);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		collect(tmp, 1, (size_t)n, &b);
	}
	return b.p ? b.p : strdup("");
}

int api_ctl(struct api_server *s, const char *const *argv, const char *const *env,
	    const char *input, char **out, char **err)
{
	char outpath[256], errpath[256], inpath[256];
	snprintf(outpath, sizeof outpath, "%s/ctl.out", s->dir);
	snprintf(errpath, sizeof errpath, "%s/ctl.err", s->dir);
	snprintf(inpath, sizeof inpath, "%s/ctl.in", s->dir);
	FILE *in = fopen(inpath, "w");
	if (!in)
		die("cannot write hearthctl input");
	if (input)
		fputs(input, in);
	fclose(in);
	char *args[64];
	int n = 0;
	args[n++] = unconst(HEARTHCTL_PATH);
	for (int i = 0; argv[i] && n < 63; i++)
		args[n++] = unconst(argv[i]);
	args[n] = NULL;
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		die("fork failed");
	if (pid == 0) {
		char url[96];
		snprintf(url, sizeof url, "HEARTH_URL=%s", s->base);
		putenv(url);
		char home[256];
		snprintf(home, sizeof home, "XDG_CONFIG_HOME=%s/config", s->dir);
		putenv(home);
		unsetenv("HEARTH_TOKEN");
		for (int i = 0; env && env[i]; i++)
			putenv(unconst(env[i]));
		int fi = open(inpath, O_RDONLY);
		int fo = open(outpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int fe = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fi < 0 || fo < 0 || fe < 0)
			_exit(126);
		dup2(fi, STDIN_FILENO);
		dup2(fo, STDOUT_FILENO);
		dup2(fe, STDERR_FILENO);
		execv(HEARTHCTL_PATH, args);
		_exit(127);
	}
	int status = 0;
	waitpid(pid, &status, 0);
	int fd = open(outpath, O_RDONLY);
	char *o = fd >= 0 ? slurp_fd(fd) : strdup("");
	if (fd >= 0)
		close(fd);
	fd = open(errpath, O_RDONLY);
	char *e = fd >= 0 ? slurp_fd(fd) : strdup("");
	if (fd >= 0)
		close(fd);
	if (out)
		*out = o;
	else
		free(o);
	if (err)
		*err = e;
	else
		free(e);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}
