/*
 * log.h - one line per event, in logfmt (key=value), to standard error.
 *
 * Each line carries the time, the level, the event name and, when the
 * calling thread is serving a request, its request id.  Values that may
 * contain spaces or quotes are written with log_quote().  Secrets, passwords,
 * tokens and full client addresses are never logged.  Safe from any thread;
 * a line is written with one write(2) so lines never interleave.
 */
#ifndef HEARTH_CORE_LOG_H
#define HEARTH_CORE_LOG_H

#include <stddef.h>

enum log_level { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR };

/* Lines below `level` are dropped. */
void log_set_level(enum log_level level);

/* Parse "debug", "info", "warn" or "error"; returns 0, or -1 when unknown. */
int log_parse_level(const char *s, enum log_level *out);

/* The request id that later lines of this thread carry; NULL clears it.
 * The string is copied. */
void log_set_request_id(const char *id);

/* The calling thread's request id, or "" when none. */
const char *log_request_id(void);

/* Write one line: `event` names what happened ("db.migrated"), `fmt` and
 * its arguments add key=value pairs. */
void log_msg(enum log_level level, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Quote `s` for a logfmt value into `buf` (escaping '"', '\\' and control
 * characters, truncating to fit).  Returns `buf`. */
const char *log_quote(const char *s, char *buf, size_t cap);

#define log_info(event, ...) log_msg(LOG_LEVEL_INFO, event, __VA_ARGS__)
#define log_warn(event, ...) log_msg(LOG_LEVEL_WARN, event, __VA_ARGS__)
#define log_error(event, ...) log_msg(LOG_LEVEL_ERROR, event, __VA_ARGS__)
#define log_debug(event, ...) log_msg(LOG_LEVEL_DEBUG, event, __VA_ARGS__)

#endif
