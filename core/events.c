#include "core/events.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/ticker.h"

static enum err insert_event(struct db *db, const char *type, const char *subject, const char *text)
{
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db,
				"INSERT INTO events (type, subject, payload, request_id, created_at)"
				" VALUES (?1, ?2, ?3, ?4, ?5)",
				&st);
	if (e == ERR_OK) {
		const char *rid = log_request_id();
		db_bind_text(st, 1, type);
		db_bind_text(st, 2, subject);
		db_bind_text(st, 3, text);
		db_bind_text(st, 4, rid[0] ? rid : NULL);
		db_bind_int64(st, 5, clock_now());
		e = db_step_done(st);
	}
	db_done(st);
	return e;
}

enum err events_emit(struct db *db, const char *type, const char *subject, json_t *payload)
{
	if (!payload)
		payload = json_object();
	char *text = json_dumps(payload, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(payload);
	if (!text)
		return ERR_NOMEM;
	enum err e = insert_event(db, type, subject, text);
	free(text);
	return e;
}

#define FLAT_MAX 16

/* Append `s` as a JSON string as jansson writes it (no ASCII or slash
 * escaping): false when `s` is not plain ASCII, which the caller hands to
 * jansson instead (it validates UTF-8), or when `buf` is full. */
static bool put_string(char *buf, size_t cap, size_t *len, const char *s)
{
	size_t o = *len;
	if (o >= cap)
		return false;
	buf[o++] = '"';
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char esc[8];
		const char *piece = esc;
		size_t n = 2;
		esc[0] = '\\';
		switch (*p) {
		case '"':
			esc[1] = '"';
			break;
		case '\\':
			esc[1] = '\\';
			break;
		case '\b':
			esc[1] = 'b';
			break;
		case '\f':
			esc[1] = 'f';
			break;
		case '\n':
			esc[1] = 'n';
			break;
		case '\r':
			esc[1] = 'r';
			break;
		case '\t':
			esc[1] = 't';
			break;
		default:
			if (*p >= 0x80)
				return false;
			if (*p < 0x20) {
				snprintf(esc, sizeof esc, "\\u%04X", *p);
				n = 6;
			} else {
				piece = (const char *)p;
				n = 1;
			}
		}
		if (o + n >= cap)
			return false;
		memcpy(buf + o, piece, n);
		o += n;
	}
	if (o + 1 >= cap)
		return false;
	buf[o++] = '"';
	*len = o;
	return true;
}

/* The same event through jansson: payloads this writer does not take. */
static enum err emit_flat_slow(struct db *db, const char *type, const char *subject,
			       const struct events_field *f, size_t n)
{
	json_t *o = json_object();
	for (size_t i = 0; o && i < n; i++) {
		json_t *v = f[i].str ? json_string(f[i].str) : json_integer((json_int_t)f[i].num);
		if (!v || json_object_set_new(o, f[i].key, v) != 0) {
			json_decref(o);
			o = NULL;
		}
	}
	return events_emit(db, type, subject, o);
}

enum err events_emit_flat(struct db *db, const char *type, const char *subject,
			  const struct events_field *fields, size_t n)
{
	const struct events_field *sorted[FLAT_MAX] = {NULL};
	char text[1024];
	size_t len = 0;
	if (n > FLAT_MAX)
		return ERR_INTERNAL;
	/* Keys in byte order, as JSON_SORT_KEYS writes them (insertion sort:
	 * a handful of keys). */
	for (size_t i = 0; i < n; i++) {
		size_t j = i;
		while (j > 0 && strcmp(sorted[j - 1]->key, fields[i].key) > 0) {
			sorted[j] = sorted[j - 1];
			j--;
		}
		sorted[j] = &fields[i];
	}
	/* Each member needs at most its key, value and two bytes (',' or '}',
	 * and ':') beyond what put_string checks; 8 bytes of slack are kept. */
	text[len++] = '{';
	for (size_t i = 0; i < n; i++) {
		bool fits = put_string(text, sizeof text - 8, &len, sorted[i]->key);
		if (fits) {
			text[len++] = ':';
			if (sorted[i]->str) {
				fits = put_string(text, sizeof text - 8, &len, sorted[i]->str);
			} else {
				int k = snprintf(text + len, sizeof text - 8 - len, "%lld", (long long)sorted[i]->num);
				fits = k > 0 && (size_t)k < sizeof text - 8 - len;
				if (fits)
					len += (size_t)k;
			}
		}
		if (!fits)
			return emit_flat_slow(db, type, subject, fields, n);
		text[len++] = i + 1 < n ? ',' : '}';
	}
	if (n == 0)
		text[len++] = '}';
	text[len] = '\0';
	return insert_event(db, type, subject, text);
}

enum err events_list(struct db *db, int64_t after, const char *type, int64_t limit, json_t **out,
		     int64_t *next)
{
	struct db_stmt *st = NULL;
	json_t *rows = json_array();
	char prefix[128] = "";
	const char *exact = type;
	bool row = false;
	*out = NULL;
	*next = after;
	if (!rows)
		return ERR_NOMEM;
	size_t tn = type ? strlen(type) : 0;
	if (tn > 0 && type[tn - 1] == '*') {
		if (tn > sizeof prefix)
			tn = sizeof prefix;
		memcpy(prefix, type, tn - 1);
		prefix[tn - 1] = '\0';
		exact = NULL;
	}
	/* ?2 filters an exact type, ?3 a prefix; NULL or '' switch them off so
	 * one cached statement serves every case. */
	enum err e = db_prepare(db,
				"SELECT id, type, subject, payload, request_id, created_at FROM events"
				" WHERE id > ?1 AND (?2 IS NULL OR type = ?2)"
				" AND (?3 = '' OR substr(type, 1, length(?3)) = ?3)"
				" ORDER BY id LIMIT ?4",
				&st);
	if (e != ERR_OK)
		goto out;
	db_bind_int64(st, 1, after);
	db_bind_text(st, 2, exact);
	db_bind_text(st, 3, prefix);
	db_bind_int64(st, 4, limit);
	while ((e = db_step(st, &row)) == ERR_OK && row) {
		char at[32];
		json_t *payload = json_loads(db_column_text(st, 3), 0, NULL);
		int64_t id = db_column_int64(st, 0);
		json_t *o = json_pack("{s:I, s:s, s:s, s:o, s:s?, s:s}", "id", (json_int_t)id, "type",
				      db_column_text(st, 1), "subject", db_column_text(st, 2),
				      "payload", payload ? payload : json_object(), "request_id",
				      db_column_text(st, 4), "created_at",
				      clock_format(db_column_int64(st, 5), at, sizeof at));
		if (!o || json_array_append_new(rows, o) != 0) {
			e = ERR_NOMEM;
			break;
		}
		*next = id;
	}
out:
	db_done(st);
	if (e != ERR_OK) {
		json_decref(rows);
		*next = after;
		return e;
	}
	*out = rows;
	return ERR_OK;
}

/* ---- retention ---- */

#define EVENTS_KEEP_TYPE "account.erased"

struct purge_ctx {
	int64_t cutoff, batch;
	int64_t after;		/* events up to this id were dealt with by earlier batches */
	int64_t upto;		/* this batch deals with events up to this id */
	int64_t deleted;	/* by this batch */
	bool done;		/* reached an event newer than the cutoff, or the newest */
};

/* One batch: the oldest `batch` events after `after`, short of the newest,
 * up to the first one newer than the cutoff; deletes them but the kept type.
 * Rerunnable: it changes nothing in `c` that the next run reads. */
static enum err purge_tx(struct db *db, void *arg)
{
	struct purge_ctx *c = arg;
	struct db_stmt *st = NULL;
	int64_t n = 0;
	bool newer = false, row = false;
	c->upto = c->after;
	c->deleted = 0;
	enum err e = db_prepare(db,
				"SELECT id, created_at FROM events WHERE id > ?1"
				" AND id < (SELECT max(id) FROM events) ORDER BY id LIMIT ?2",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_int64(st, 1, c->after);
	db_bind_int64(st, 2, c->batch);
	while ((e = db_step(st, &row)) == ERR_OK && row) {
		if (db_column_int64(st, 1) >= c->cutoff) {
			newer = true;
			break;
		}
		c->upto = db_column_int64(st, 0);
		n++;
	}
	db_done(st);
	if (e != ERR_OK)
		return e;
	c->done = newer || n < c->batch;
	if (n == 0)
		return ERR_OK;
	e = db_prepare(db,
		       "DELETE FROM events WHERE id > ?1 AND id <= ?2 AND type <> '" EVENTS_KEEP_TYPE "'",
		       &st);
	if (e != ERR_OK)
		return e;
	db_bind_int64(st, 1, c->after);
	db_bind_int64(st, 2, c->upto);
	e = db_step_done(st);
	db_done(st);
	if (e == ERR_OK)
		c->deleted = db_changes(db);
	return e;
}

enum err events_purge(struct db *db, int64_t cutoff, int64_t batch, int64_t *deleted)
{
	struct purge_ctx c = {.cutoff = cutoff, .batch = batch > 0 ? batch : 1};
	enum err e;
	do {
		e = db_transaction(db, purge_tx, &c);
		if (e == ERR_OK && deleted)
			*deleted += c.deleted;
		c.after = c.upto; /* kept events already read are not read again */
	} while (e == ERR_OK && !c.done);
	return e;
}

/* ---- the retention thread ---- */

#define RETENTION_BATCH 2000
#define RETENTION_EVERY_S 3600

static struct ticker retention = TICKER_INIT;
static int64_t retention_s;		/* 0: keep events forever */
static int64_t retention_last;		/* clock_now() of the last purge; the ticker's thread only */

enum err events_retention_tick(struct db *db, int64_t *deleted)
{
	int64_t now = clock_now(), gone = 0;
	if (deleted)
		*deleted = 0;
	if (retention_s <= 0 || (retention_last && now - retention_last < RETENTION_EVERY_S))
		return ERR_OK;
	enum err e = events_purge(db, now - retention_s, RETENTION_BATCH, &gone);
	if (e == ERR_OK)
		retention_last = now;
	if (gone > 0)
		log_info("events.purged", "rows=%lld", (long long)gone);
	if (deleted)
		*deleted = gone;
	return e;
}

static void retention_job(void *arg)
{
	(void)arg;
	struct db *db = db_thread();
	if (db)
		(void)events_retention_tick(db, NULL);
}

enum err events_retention_start(int64_t days, int64_t check_ms)
{
	retention_s = days > 0 ? days * 86400 : 0;
	retention_last = 0;
	if (retention_s == 0)
		return ERR_OK;
	return ticker_start(&retention, check_ms > 0 ? check_ms : 60000, retention_job, NULL);
}

void events_retention_stop(void) { ticker_stop(&retention); }
