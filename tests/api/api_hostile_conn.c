/*
 * API tests of connection-level abuse against a real hearthd, over raw
 * sockets where libcurl would be too polite: oversized headers, URLs and
 * bodies (declared or sent), a client that sends half a request and stalls,
 * and more connections from one address than --max-connections-per-ip.
 *
 * The server runs with a short --connection-timeout (2 s; 8 s when hearthd
 * runs under valgrind) and --max-connections-per-ip 8, so that the limits
 * are reached in a test's time.  What is checked each time: the answer (or
 * the dropped connection) is the documented one, and the server goes on
 * serving everyone else.  The tests wait on sockets for the server's
 * wall-clock timeout; that is the behaviour under test, not a sleep.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tests/api/harness.h"

#define PER_IP 8

static struct api_server srv;
static int timeout_s;

static void start(void)
{
	static char timeout[8];
	timeout_s = api_wrapped() ? 8 : 2;
	snprintf(timeout, sizeof timeout, "%d", timeout_s);
	const char *const flags[] = {"--connection-timeout", timeout, "--max-connections-per-ip", "8", NULL};
	api_start(&srv, flags);
}

static void stop(void) { ck_assert_int_eq(api_stop(&srv), 0); }

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A TCP connection to the server from `source` (NULL: 127.0.0.1; another
 * loopback address such as 127.0.0.2 is another client to the server). */
static int raw_connect(const char *source)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	if (source) {
		struct sockaddr_in b;
		memset(&b, 0, sizeof b);
		b.sin_family = AF_INET;
		ck_assert_int_eq(inet_pton(AF_INET, source, &b.sin_addr), 1);
		ck_assert_int_eq(bind(fd, (struct sockaddr *)&b, sizeof b), 0);
	}
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons(srv.port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
	return fd;
}

/* Send what the peer takes; false when it closed on us (which is an
 * answer too: the server may refuse before reading everything). */
static bool raw_send(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		buf += n;
		len -= (size_t)n;
	}
	return true;
}

/* Read until the server closes or `ms` pass.  Returns the HTTP status of
 * the reply, 0 when the connection ended without one, -1 when nothing
 * happened in time.  The start of the reply goes to `out` (may be NULL). */
static int raw_reply(int fd, int ms, char *out, size_t cap)
{
	char buf[8192];
	size_t got = 0;
	double deadline = mono_s() + ms / 1000.0;
	for (;;) {
		int left = (int)((deadline - mono_s()) * 1000);
		if (left <= 0)
			return -1;
		struct pollfd p = {fd, POLLIN, 0};
		int rc = poll(&p, 1, left);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc == 0)
			return -1;
		ssize_t n = recv(fd, buf + got, sizeof buf - 1 - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || (got += (size_t)n) == sizeof buf - 1)
			break;
		buf[got] = '\0';
		/* A whole reply with Content-Length is enough; no need to wait for the close. */
		const char *end = strstr(buf, "\r\n\r\n");
		const char *cl = strstr(buf, "Content-Length: ");
		if (end && cl && cl < end && got >= (size_t)(end + 4 - buf) + strtoul(cl + 16, NULL, 10))
			break;
	}
	buf[got] = '\0';
	if (out) {
		snprintf(out, cap, "%s", buf);
	}
	int status = 0;
	if (got == 0 || sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
		return 0;
	return status;
}

static const char healthz[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";

static void assert_still_serving(void)
{
	struct api_resp *r = api_get(&srv, "/healthz", NULL);
	ck_assert_status(r, 200);
	api_resp_free(r);
}

/* Wait until the server has let go of earlier tests' connections (it
 * notices a close at its next poll), so that the per-IP count starts at 0. */
static void wait_for_idle_server(void)
{
	for (int i = 0; i < 500; i++) {
		struct api_resp *r = api_get(&srv, "/metrics", NULL);
		const char *p = strstr(r->body, "\nhearth_http_open_connections ");
		long open = p ? strtol(p + 30, NULL, 10) : -1;
		api_resp_free(r);
		if (open == 1)
			return;
		struct timespec ts = {0, 10 * 1000000L};
		nanosleep(&ts, NULL);
	}
	ck_abort_msg("the server kept connections open");
}

/* Open `n` connections from 127.0.0.1, each one accepted and kept by
 * the server before the next is opened (its threads accept in no set
 * order): each is used for one keep-alive request first.  Then `then`
 * (may be NULL) is sent on each. */
static void hold_connections(int *fds, int n, const char *then)
{
	static const char keep[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
	for (int i = 0; i < n; i++) {
		/* A connection the server has closed is still counted against its
		 * address for a moment: a refusal then is retried. */
		int status = 0;
		for (int tries = 0; tries < 100 && status != 200; tries++) {
			if (tries) {
				close(fds[i]);
				struct timespec ts = {0, 50 * 1000000L};
				nanosleep(&ts, NULL);
			}
			fds[i] = raw_connect(NULL);
			ck_assert(raw_send(fds[i], keep, strlen(keep)));
			status = raw_reply(fds[i], 10000, NULL, 0);
		}
		ck_assert_int_eq(status, 200);
	}
	for (int i = 0; then && i < n; i++)
		ck_assert(raw_send(fds[i], then, strlen(then)));
}

/* ---- oversized headers and URLs ---- */

START_TEST(oversized_headers_and_urls_are_refused_and_the_server_stays_up)
{
	size_t big = 100 * 1024;
	char *req = malloc(big + 256);
	char reply[512];
	ck_assert_ptr_nonnull(req);
	/* One 100 KB header: 431 Request Header Fields Too Large. */
	int n = snprintf(req, 256, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ");
	memset(req + n, 'a', big);
	memcpy(req + n + big, "\r\n\r\n", 5);
	int fd = raw_connect(NULL);
	raw_send(fd, req, strlen(req));
	ck_assert_int_eq(raw_reply(fd, 10000, reply, sizeof reply), 431);
	close(fd);
	assert_still_serving();
	/* Many small headers adding up to as much. */
	n = snprintf(req, 256, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n");
	size_t len = (size_t)n;
	for (int i = 0; len + 32 < big; i++)
		len += (size_t)snprintf(req + len, 32, "X-H%d: v\r\n", i);
	memcpy(req + len, "\r\n", 3);
	fd = raw_connect(NULL);
	raw_send(fd, req, strlen(req));
	ck_assert_int_eq(raw_reply(fd, 10000, reply, sizeof reply), 431);
	close(fd);
	assert_still_serving();
	/* A 100 KB URL: 414 URI Too Long. */
	n = snprintf(req, 256, "GET /healthz?x=");
	memset(req + n, 'a', big);
	snprintf(req + n + big, 200, " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
	fd = raw_connect(NULL);
	raw_send(fd, req, strlen(req));
	ck_assert_int_eq(raw_reply(fd, 10000, reply, sizeof reply), 414);
	close(fd);
	assert_still_serving();
	/* A 100 KB header through libcurl, on an API route. */
	memcpy(req, "X-Big: ", 7);
	memset(req + 7, 'b', big);
	req[7 + big] = '\0';
	const char *const h[] = {req, NULL};
	struct api_resp *r = api_request(&srv, "GET", "/v1/me", NULL, NULL, NULL, h);
	ck_assert_int_eq(r->status, 431);
	api_resp_free(r);
	free(req);
	assert_still_serving();
}
END_TEST

/* ---- oversized bodies ---- */

/* Every route that reads a body, with made-up path parameters: the size
 * is checked before the route's authentication and parsing. */
static const struct {
	const char *method, *path;
	bool oauth;
} body_routes[] = {
	{"POST", "/v1/accounts", false},
	{"POST", "/v1/sessions", false},
	{"PATCH", "/v1/me", false},
	{"POST", "/v1/me/password", false},
	{"POST", "/v1/profiles", false},
	{"PATCH", "/v1/profiles/prf_x", false},
	{"POST", "/v1/profiles/prf_x/unlock", false},
	{"POST", "/v1/password-resets", false},
	{"POST", "/v1/password-resets/confirm", false},
	{"POST", "/v1/tokens/refresh", false},
	{"POST", "/v1/device-codes/BCDF-GHJK/approve", false},
	{"POST", "/v1/payment-methods", false},
	{"POST", "/v1/subscription", false},
	{"PATCH", "/v1/subscription", false},
	{"POST", "/v1/verifications/vch_x/confirm", false},
	{"POST", "/v1/playback/sessions", false},
	{"POST", "/v1/extra-members", false},
	{"POST", "/v1/extra-members/accept", false},
	{"POST", "/v1/profiles/prf_x/transfer", false},
	{"POST", "/admin/v1/sessions", false},
	{"POST", "/admin/v1/staff", false},
	{"PATCH", "/admin/v1/staff/stf_x", false},
	{"POST", "/admin/v1/clients", false},
	{"POST", "/admin/v1/devices/dev_x/travel", false},
	{"POST", "/test/v1/clock", false},
	{"POST", "/device", false},
	{"POST", "/device/confirm", false},
	{"POST", "/oauth/device_authorization", true},
	{"POST", "/oauth/token", true},
};

START_TEST(oversized_bodies_are_refused_on_every_route_that_reads_one)
{
	size_t big = 64 * 1024 + 1; /* the default --body-limit is 65536 */
	char *body = malloc(big + 1);
	ck_assert_ptr_nonnull(body);
	memset(body, 'x', big);
	body[0] = '{';
	body[big] = '\0';
	for (size_t i = 0; i < sizeof body_routes / sizeof body_routes[0]; i++) {
		const char *type = body_routes[i].oauth || strncmp(body_routes[i].path, "/device", 7) == 0
					   ? "application/x-www-form-urlencoded"
					   : "application/json";
		struct api_resp *r = api_request(&srv, body_routes[i].method, body_routes[i].path, NULL, type,
						 body, NULL);
		if (body_routes[i].oauth) {
			/* RFC 6749: an OAuth error object, 400 invalid_request. */
			ck_assert_msg(r->status == 400 && api_str(r, "error") &&
					      strcmp(api_str(r, "error"), "invalid_request") == 0,
				      "%s %s: %ld %s", body_routes[i].method, body_routes[i].path, r->status, r->body);
		} else {
			ck_assert_msg(r->status == 413 && api_str(r, "code") &&
					      strcmp(api_str(r, "code"), "body_too_large") == 0,
				      "%s %s: %ld %s", body_routes[i].method, body_routes[i].path, r->status, r->body);
		}
		api_resp_free(r);
	}
	free(body);
	assert_still_serving();
}
END_TEST

/* A body declared over the limit is refused before it is sent: the
 * server neither waits for nor reads it. */
START_TEST(a_body_declared_over_the_limit_is_413_before_it_is_sent)
{
	static const char *const lengths[] = {"65537", "1000000000", "99999999999999999999", "-1", "12abc"};
	for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
		char req[512], reply[2048];
		snprintf(req, sizeof req,
			 "POST /v1/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
			 "Content-Length: %s\r\n\r\n{\"email\":", lengths[i]);
		int fd = raw_connect(NULL);
		ck_assert(raw_send(fd, req, strlen(req)));
		int status = raw_reply(fd, 1000 * timeout_s / 2, reply, sizeof reply);
		close(fd);
		/* A length that is not a number is libmicrohttpd's 400. */
		if (strcmp(lengths[i], "-1") == 0 || strcmp(lengths[i], "12abc") == 0 ||
		    strcmp(lengths[i], "99999999999999999999") == 0)
			ck_assert_msg(status == 400 || status == 413, "Content-Length %s: %d", lengths[i], status);
		else
			ck_assert_msg(status == 413 && strstr(reply, "body_too_large"),
				      "Content-Length %s: %d %s", lengths[i], status, reply);
	}
	assert_still_serving();
}
END_TEST

/* ---- slow clients ---- */

static const char half_request[] = "POST /v1/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
				   "Content-Type: application/json\r\nContent-Length: 80\r\n\r\n{\"email\":\"slow";

/* A connection that sends half a request and stalls is served nothing and
 * dropped after --connection-timeout; meanwhile everyone else is served. */
START_TEST(a_stalled_request_is_dropped_after_the_connection_timeout)
{
	wait_for_idle_server();
	int fd = raw_connect(NULL);
	double t0 = mono_s();
	ck_assert(raw_send(fd, half_request, strlen(half_request)));
	assert_still_serving();
	int status = raw_reply(fd, 1000 * (timeout_s * 3 + 5), NULL, 0);
	double waited = mono_s() - t0;
	close(fd);
	ck_assert_msg(status == 0, "the stalled connection got %d", status);
	/* Dropped by the timeout, not at once (a generous lower bound). */
	ck_assert_msg(waited >= timeout_s * 0.5, "dropped after %.2f s", waited);
	assert_still_serving();
}
END_TEST

/* The slots stalled clients hold come back: with every per-IP slot held
 * by a stalled request, the next connection is turned away; after the
 * timeout the same address is served again. */
START_TEST(the_slots_of_stalled_clients_are_freed)
{
	int fds[PER_IP];
	wait_for_idle_server();
	hold_connections(fds, PER_IP, half_request);
	int extra = raw_connect(NULL);
	raw_send(extra, healthz, strlen(healthz));
	ck_assert_int_eq(raw_reply(extra, 5000, NULL, 0), 0);
	close(extra);
	for (int i = 0; i < PER_IP; i++) {
		ck_assert_int_eq(raw_reply(fds[i], 1000 * (timeout_s * 3 + 5), NULL, 0), 0);
		close(fds[i]);
	}
	hold_connections(fds, 1, NULL);
	close(fds[0]);
}
END_TEST

/* ---- too many connections from one address ---- */

START_TEST(connections_over_the_per_ip_limit_are_refused_and_the_others_served)
{
	int fds[PER_IP];
	wait_for_idle_server();
	hold_connections(fds, PER_IP, NULL);
	/* The ninth is closed without an answer. */
	int ninth = raw_connect(NULL);
	raw_send(ninth, healthz, strlen(healthz));
	ck_assert_int_eq(raw_reply(ninth, 5000, NULL, 0), 0);
	close(ninth);
	/* The eight held ones are served (each request is sent at once, within
	 * the connection timeout, then every answer read), and another address
	 * is not affected. */
	for (int i = 0; i < PER_IP; i++)
		ck_assert(raw_send(fds[i], healthz, strlen(healthz)));
	int other = raw_connect("127.0.0.2");
	ck_assert(raw_send(other, healthz, strlen(healthz)));
	ck_assert_int_eq(raw_reply(other, 10000, NULL, 0), 200);
	close(other);
	for (int i = 0; i < PER_IP; i++) {
		ck_assert_int_eq(raw_reply(fds[i], 10000, NULL, 0), 200);
		close(fds[i]);
	}
	wait_for_idle_server();
	assert_still_serving();
}
END_TEST

static Suite *conn_suite(void)
{
	Suite *s = suite_create("api_hostile_conn");
	TCase *tc = tcase_create("connections");
	tcase_add_unchecked_fixture(tc, start, stop);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, oversized_headers_and_urls_are_refused_and_the_server_stays_up);
	tcase_add_test(tc, oversized_bodies_are_refused_on_every_route_that_reads_one);
	tcase_add_test(tc, a_body_declared_over_the_limit_is_413_before_it_is_sent);
	tcase_add_test(tc, a_stalled_request_is_dropped_after_the_connection_timeout);
	tcase_add_test(tc, the_slots_of_stalled_clients_are_freed);
	tcase_add_test(tc, connections_over_the_per_ip_limit_are_refused_and_the_others_served);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(conn_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0;
}
