/*
 * server.h - the hearthd HTTP server: libmicrohttpd with an internal thread
 * pool on epoll, explicit connection limits and timeouts, the router, the
 * slow-work pool, problem documents, request ids, access logs and metrics.
 *
 * Lifecycle: register routes (http_route), server_start(), then on SIGTERM
 * server_shutdown(): stop accepting, let in-flight requests finish, stop.
 */
#ifndef HEARTH_SERVER_SERVER_H
#define HEARTH_SERVER_SERVER_H

#include <stdint.h>

#include "core/config.h"
#include "core/errors.h"

struct server;

/* Start serving with `cfg` (borrowed for the server's life).  On success
 * *out is the running server and its bound port is in *port. */
enum err server_start(const struct config *cfg, struct server **out, uint16_t *port);

/* Stop accepting connections, wait up to `grace_ms` for requests in flight
 * to finish, then stop every thread and free the server. */
void server_shutdown(struct server *s, int64_t grace_ms);

/* Called when the test clock moved (POST /test/v1/clock), to run what
 * became due; areas register one hook each.  At most 8. */
typedef void (*server_clock_hook)(void);
void server_on_clock_moved(server_clock_hook fn);

/* Register /healthz, /readyz, /metrics and the test-mode clock routes. */
void server_register_core_routes(void);

#endif
