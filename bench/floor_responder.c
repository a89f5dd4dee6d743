/*
 * bench_floor - the bare libmicrohttpd responder that every HTTP benchmark
 * is judged against.
 *
 * It runs libmicrohttpd exactly as hearthd does (an internal thread pool on
 * epoll, the same default pool size of 2 x cores and at least 4, the same
 * connection limits, timeout, per-connection memory and listen backlog) and
 * answers every request, whatever its method or path, with 200 and the fixed
 * body {"status":"ok"} as application/json.  It does no routing, logging,
 * metrics or allocation per request: one response object, built at start,
 * is queued for every request.  So its rate is what the library and this
 * machine allow, and a benchmark's ratio says how much of that hearthd keeps.
 *
 * Usage: bench_floor [--listen HOST:PORT] [--threads N] [--per-ip N]
 *                    [--max-connections N] [--memory-limit BYTES] [--port-file FILE]
 * Port 0 binds an ephemeral port; --port-file then tells which (written to
 * FILE.tmp and renamed, so a reader never sees half a number).  It runs
 * until SIGTERM or SIGINT, then stops the daemon and exits 0.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct options {
	const char *listen;
	long threads;	      /* 0: 2 x cores, at least 4, as hearthd */
	long max_connections;
	long per_ip;
	long memory_limit;    /* per-connection memory pool, bytes */
	const char *port_file;
};

static const char body[] = "{\"status\":\"ok\"}";

static void usage(FILE *out)
{
	fprintf(out, "Usage: bench_floor [--listen HOST:PORT] [--threads N] [--per-ip N]\n"
		     "                   [--max-connections N] [--memory-limit BYTES] [--port-file FILE]\n"
		     "Answers every HTTP request with 200 {\"status\":\"ok\"}; stops on SIGTERM.\n"
		     "Defaults: --listen 127.0.0.1:8081 --threads 0 (2 x cores, at least 4)\n"
		     "          --max-connections 1024 --per-ip 64 --memory-limit 65536 (as hearthd)\n");
}

/* Parse a whole decimal number from `lo` to `hi`; -1 on anything else. */
static int parse_long(const char *s, long lo, long hi, long *out)
{
	char *end = NULL;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

/* "127.0.0.1:8080" or "[::1]:8080" into a socket address.  Returns the
 * family (4 or 6), or -1 when the text is not an address and port. */
static int parse_listen(const char *listen, struct sockaddr_storage *ss)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon = strrchr(listen, ':');
	long port = 0;
	if (!colon)
		return -1;
	size_t hlen = (size_t)(colon - listen);
	if (hlen == 0 || hlen >= sizeof host || parse_long(colon + 1, 0, 65535, &port) != 0)
		return -1;
	memcpy(host, listen, hlen);
	host[hlen] = '\0';
	char *h = host;
	if (h[0] == '[' && hlen >= 2 && h[hlen - 1] == ']') {
		h[hlen - 1] = '\0';
		h++;
	}
	memset(ss, 0, sizeof *ss);
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, h, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		return 4;
	}
	if (inet_pton(AF_INET6, h, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		return 6;
	}
	return -1;
}

static int parse_args(int argc, char **argv, struct options *o)
{
	o->listen = "127.0.0.1:8081";
	o->threads = 0;
	o->max_connections = 1024;
	o->per_ip = 64;
	o->memory_limit = 64 * 1024;
	o->port_file = NULL;
	for (int a = 1; a < argc; a++) {
		const char *flag = argv[a];
		if (strcmp(flag, "--help") == 0 || strcmp(flag, "-h") == 0) {
			usage(stdout);
			exit(0);
		}
		if (a + 1 >= argc) {
			fprintf(stderr, "bench_floor: %s needs a value (see --help)\n", flag);
			return -1;
		}
		const char *val = argv[++a];
		int bad = 0;
		if (strcmp(flag, "--listen") == 0)
			o->listen = val;
		else if (strcmp(flag, "--port-file") == 0)
			o->port_file = val;
		else if (strcmp(flag, "--threads") == 0)
			bad = parse_long(val, 0, 256, &o->threads);
		else if (strcmp(flag, "--max-connections") == 0)
			bad = parse_long(val, 1, 65536, &o->max_connections);
		else if (strcmp(flag, "--per-ip") == 0)
			bad = parse_long(val, 1, 65536, &o->per_ip);
		else if (strcmp(flag, "--memory-limit") == 0)
			bad = parse_long(val, 4096, 16L * 1024 * 1024, &o->memory_limit);
		else {
			fprintf(stderr, "bench_floor: unknown option '%s' (see --help)\n", flag);
			return -1;
		}
		if (bad) {
			fprintf(stderr, "bench_floor: %s takes a whole number in range, not '%s'\n", flag,
				val);
			return -1;
		}
	}
	return 0;
}

static int write_port_file(const char *path, unsigned port)
{
	char tmp[4096];
	int n = snprintf(tmp, sizeof tmp, "%s.tmp", path);
	if (n < 0 || (size_t)n >= sizeof tmp)
		return -1;
	FILE *f = fopen(tmp, "w");
	if (!f)
		return -1;
	fprintf(f, "%u\n", port);
	if (fclose(f) != 0)
		return -1;
	return rename(tmp, path);
}

/* Every request gets the one shared response.  It is queued on the second
 * call, once the whole request is in: libmicrohttpd closes the connection
 * after a response queued on the first call (the body might be unread), and
 * the floor must keep connections alive as hearthd does. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_size, void **con_cls)
{
	struct MHD_Response *resp = cls;
	(void)url;
	(void)method;
	(void)version;
	(void)upload_data;
	if (!*con_cls) {
		*con_cls = conn; /* any non-NULL mark: "headers seen" */
		return MHD_YES;
	}
	if (*upload_size) {
		*upload_size = 0; /* a body is read and dropped */
		return MHD_YES;
	}
	return MHD_queue_response(conn, MHD_HTTP_OK, resp);
}

int main(int argc, char **argv)
{
	struct options o;
	struct sockaddr_storage ss;
	if (parse_args(argc, argv, &o) != 0)
		return 2;
	int fam = parse_listen(o.listen, &ss);
	if (fam < 0) {
		fprintf(stderr, "bench_floor: --listen takes HOST:PORT, not '%s'\n", o.listen);
		return 2;
	}
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	if (cores < 1)
		cores = 1;
	unsigned threads = o.threads > 0 ? (unsigned)o.threads : (unsigned)(cores * 2 < 4 ? 4 : cores * 2);

	/* Signals are taken by sigwait() in this thread only: block them before
	 * libmicrohttpd starts its threads so they all inherit the mask. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct MHD_Response *resp = MHD_create_response_from_buffer(sizeof body - 1, (void *)(uintptr_t)body,
								    MHD_RESPMEM_PERSISTENT);
	if (!resp || MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json") != MHD_YES) {
		fprintf(stderr, "bench_floor: cannot build the response\n");
		return 1;
	}
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL;
	if (fam == 6)
		flags |= MHD_USE_IPv6;
	struct MHD_Daemon *d = MHD_start_daemon(
		flags, 0, NULL, NULL, on_request, resp,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_THREAD_POOL_SIZE, threads,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)o.max_connections,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)o.per_ip,
		MHD_OPTION_CONNECTION_TIMEOUT, 30u,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)o.memory_limit,
		MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
		MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "bench_floor: cannot listen on %s\n", o.listen);
		MHD_destroy_response(resp);
		return 1;
	}
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	unsigned port = di ? di->port : 0;
	if (o.port_file && write_port_file(o.port_file, port) != 0) {
		fprintf(stderr, "bench_floor: cannot write %s: %s\n", o.port_file, strerror(errno));
		MHD_stop_daemon(d);
		MHD_destroy_response(resp);
		return 1;
	}
	fprintf(stderr, "bench_floor: listening on %s port %u with %u threads, per-ip limit %ld\n",
		o.listen, port, threads, o.per_ip);
	int sig = 0;
	sigwait(&set, &sig);
	MHD_stop_daemon(d);
	MHD_destroy_response(resp);
	return 0;
}
