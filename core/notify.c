#include "core/notify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/events.h"
#include "core/log.h"
#include "core/procid.h"
#include "core/ticker.h"

static const char *channel_name(enum notify_channel c) { return c == NOTIFY_SMS ? "sms" : "email"; }

enum err notify_queue(struct db *db, const char *account_id, enum notify_channel channel,
		      const char *recipient, const char *template_name, json_t *payload,
		      char *id_out)
{
	char id[IDS_MAX];
	struct db_stmt *st = NULL;
	char *text = NULL;
	enum err e = ids_new("ntf_", id, sizeof id);
	if (e != ERR_OK)
		goto out;
	if (!payload)
		payload = json_object();
	text = json_dumps(payload, JSON_COMPACT | JSON_SORT_KEYS);
	if (!text) {
		e = ERR_NOMEM;
		goto out;
	}
	e = db_prepare(db,
		       "INSERT INTO notifications (id, account_id, channel, recipient, template, payload,"
		       " status, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued', ?7)",
		       &st);
	if (e != ERR_OK)
		goto out;
	db_bind_text(st, 1, id);
	db_bind_text(st, 2, account_id);
	db_bind_text(st, 3, channel_name(channel));
	db_bind_text(st, 4, recipient);
	db_bind_text(st, 5, template_name);
	db_bind_text(st, 6, text);
	db_bind_int64(st, 7, clock_now());
	e = db_step_done(st);
	if (e == ERR_OK)
		e = events_emit(db, "notification.queued", id,
				json_pack("{s:s, s:s, s:s?}", "template", template_name, "channel",
					  channel_name(channel), "account_id", account_id));
	if (e == ERR_OK && id_out)
		memcpy(id_out, id, strlen(id) + 1);
out:
	db_done(st);
	free(text);
	json_decref(payload);
	return e;
}

static enum err log_send(void *ctx, enum notify_channel channel, const char *recipient,
			 const char *template_name, const char *payload_json)
{
	char q[256];
	(void)ctx;
	log_info("notify.sent", "channel=%s template=%s recipient=%s", channel_name(channel),
		 template_name, log_quote(recipient, q, sizeof q));
	log_debug("notify.payload", "template=%s payload=%s", template_name, payload_json);
	return ERR_OK;
}

static const struct notify_sender log_sender = {log_send, NULL};

const struct notify_sender *notify_log_sender(void) { return &log_sender; }

/* ---- delivery ----
 *
 * Claim, send, record: the claim (queued rows due now, and claims older
 * than the claim timeout) and the record are two short transactions; the
 * sends run between them, outside any, so a slow provider never holds the
 * write lock.  Delivery is at least once: a process that dies after a send
 * and before its record leaves a claim that is taken again once it is
 * NOTIFY_CLAIM_TIMEOUT_S old. */

struct claimed {
	char id[IDS_MAX];
	enum notify_channel ch;
	char *recipient, *tmpl, *payload;
	int64_t attempts;
	enum err result;
};

struct deliver_ctx {
	int max;
	int64_t now;
	struct claimed *items;	/* max of them */
	int count;
};

static void free_claimed(struct deliver_ctx *c)
{
	for (int i = 0; i < c->count; i++) {
		free(c->items[i].recipient);
		free(c->items[i].tmpl);
		free(c->items[i].payload);
	}
	c->count = 0;
}

/* What a deliverer may claim at ?1 (now): queued rows whose next attempt
 * came, and claims made at or before ?2 (now less the claim timeout). */
#define DUE_WHERE                                                                              \
	"status IN ('queued', 'sending') AND ((status = 'queued'"                              \
	" AND (next_attempt_at IS NULL OR next_attempt_at <= ?1))"                             \
	" OR (status = 'sending' AND claimed_at <= ?2))"

/* Whether anything is due: a read, so that a tick with nothing to send
 * (nearly every tick) never takes the write lock the request writers use. */
static enum err anything_due(struct db *db, int64_t now, bool *due)
{
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db, "SELECT 1 FROM notifications WHERE " DUE_WHERE " LIMIT 1", &st);
	if (e != ERR_OK)
		return e;
	db_bind_int64(st, 1, now);
	db_bind_int64(st, 2, now - NOTIFY_CLAIM_TIMEOUT_S);
	e = db_step_row(st);
	db_done(st);
	*due = e == ERR_OK;
	return e == ERR_NOT_FOUND ? ERR_OK : e;
}

static enum err claim_tx(struct db *db, void *arg)
{
	struct deliver_ctx *c = arg;
	struct db_stmt *st = NULL;
	free_claimed(c); /* a rerun after busy starts over */
	enum err e = db_prepare(db,
				"UPDATE notifications SET status = 'sending', claimed_at = ?1, claimed_by = ?3,"
				" attempts = attempts + 1 WHERE id IN (SELECT id FROM notifications"
				" WHERE " DUE_WHERE " ORDER BY created_at, id LIMIT ?4)"
				" RETURNING id, channel, recipient, template, payload, attempts",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_int64(st, 1, c->now);
	db_bind_int64(st, 2, c->now - NOTIFY_CLAIM_TIMEOUT_S);
	db_bind_text(st, 3, procid_self());
	db_bind_int64(st, 4, c->max);
	bool row = false;
	while (c->count < c->max && (e = db_step(st, &row)) == ERR_OK && row) {
		struct claimed *it = &c->items[c->count++];
		memset(it, 0, sizeof *it);
		snprintf(it->id, sizeof it->id, "%s", db_column_text(st, 0));
		it->ch = strcmp(db_column_text(st, 1), "sms") == 0 ? NOTIFY_SMS : NOTIFY_EMAIL;
		it->recipient = strdup(db_column_text(st, 2));
		it->tmpl = strdup(db_column_text(st, 3));
		it->payload = strdup(db_column_text(st, 4));
		it->attempts = db_column_int64(st, 5);
		if (!it->recipient || !it->tmpl || !it->payload)
			e = ERR_NOMEM;
		if (e != ERR_OK)
			break;
	}
	db_done(st);
	return e;
}

int64_t notify_retry_delay(int64_t attempts)
{
	int64_t d = NOTIFY_RETRY_BASE_S;
	for (int64_t i = 1; i < attempts && d < 86400; i++)
		d *= 2;
	return d < 86400 ? d : 86400;
}

static enum err record_tx(struct db *db, void *arg)
{
	struct deliver_ctx *c = arg;
	enum err e = ERR_OK;
	for (int i = 0; e == ERR_OK && i < c->count; i++) {
		const struct claimed *it = &c->items[i];
		bool ok = it->result == ERR_OK, last = it->attempts >= NOTIFY_MAX_ATTEMPTS;
		struct db_stmt *st = NULL;
		/* Only while the claim is still ours: one that timed out and was
		 * taken by another process is that process's to record. */
		e = db_prepare(db,
			       "UPDATE notifications SET status = ?2, sent_at = ?3, next_attempt_at = ?4,"
			       " last_error = ?5, claimed_at = NULL, claimed_by = NULL"
			       " WHERE id = ?1 AND status = 'sending' AND claimed_by = ?6",
			       &st);
		if (e != ERR_OK)
			break;
		db_bind_text(st, 1, it->id);
		db_bind_text(st, 2, ok ? "sent" : last ? "failed" : "queued");
		if (ok)
			db_bind_int64(st, 3, c->now);
		else
			db_bind_null(st, 3);
		if (!ok && !last)
			db_bind_int64(st, 4, c->now + notify_retry_delay(it->attempts));
		else
			db_bind_null(st, 4);
		db_bind_text(st, 5, ok ? NULL : err_code(it->result));
		db_bind_text(st, 6, procid_self());
		e = db_step_done(st);
		db_done(st);
	}
	return e;
}

enum err notify_deliver(struct db *db, const struct notify_sender *sender, int max, int *sent)
{
	struct deliver_ctx c = {.max = max > 0 ? max : 1, .now = clock_now()};
	int n = 0;
	if (sent)
		*sent = 0;
	c.items = calloc((size_t)c.max, sizeof *c.items);
	if (!c.items)
		return ERR_NOMEM;
	bool due = false;
	enum err e = anything_due(db, c.now, &due);
	if (e == ERR_OK && due)
		e = db_transaction(db, claim_tx, &c);
	for (int i = 0; e == ERR_OK && i < c.count; i++) {
		struct claimed *it = &c.items[i];
		it->result = sender->send(sender->ctx, it->ch, it->recipient, it->tmpl, it->payload);
		if (it->result == ERR_OK) {
			n++;
		} else {
			char q[256];
			log_warn("notify.send_failed", "id=%s template=%s recipient=%s attempts=%lld error=%s",
				 it->id, it->tmpl, log_quote(it->recipient, q, sizeof q),
				 (long long)it->attempts, err_code(it->result));
		}
	}
	if (e == ERR_OK && c.count > 0) {
		c.now = clock_now();
		e = db_transaction(db, record_tx, &c);
	}
	free_claimed(&c);
	free(c.items);
	if (sent)
		*sent = n;
	return e;
}

/* The delivery thread. */
static struct ticker delivery = TICKER_INIT;
static const struct notify_sender *delivery_sender;

static void delivery_job(void *arg)
{
	(void)arg;
	struct db *db = db_thread();
	/* Drain what is due, a bounded number of batches per tick. */
	for (int round = 0; db && round < 20; round++) {
		int sent = 0;
		if (notify_deliver(db, delivery_sender, NOTIFY_DELIVER_BATCH, &sent) != ERR_OK)
			break;
		if (sent < NOTIFY_DELIVER_BATCH)
			break;
	}
}

enum err notify_delivery_start(int64_t interval_ms, const struct notify_sender *sender)
{
	if (interval_ms <= 0)
		return ERR_OK;
	delivery_sender = sender ? sender : notify_log_sender();
	return ticker_start(&delivery, interval_ms, delivery_job, NULL);
}

void notify_delivery_stop(void) { ticker_stop(&delivery); }

static json_t *row_json(struct db_stmt *st, bool with_payload)
{
	char c[32], s[32];
	json_t *o = json_pack("{s:s, s:s?, s:s, s:s, s:s, s:s, s:s, s:s?}", "id", db_column_text(st, 0),
			      "account_id", db_column_text(st, 1), "channel", db_column_text(st, 2),
			      "recipient", db_column_text(st, 3), "template", db_column_text(st, 4),
			      "status", db_column_text(st, 5), "created_at",
			      clock_format(db_column_int64(st, 6), c, sizeof c), "sent_at",
			      db_column_is_null(st, 7) ? NULL
						       : clock_format(db_column_int64(st, 7), s, sizeof s));
	if (o) {
		/* How delivery went: sends tried, and the last failure's code. */
		json_object_set_new(o, "attempts", json_integer(db_column_int64(st, 9)));
		json_object_set_new(o, "last_error", db_column_is_null(st, 10) ? json_null()
										: json_string(db_column_text(st, 10)));
	}
	if (o && with_payload) {
		json_t *p = json_loads(db_column_text(st, 8), 0, NULL);
		json_object_set_new(o, "payload", p ? p : json_object());
	}
	return o;
}

#define NOTIFY_COLUMNS \
	"id, account_id, channel, recipient, template, status, created_at, sent_at, payload, attempts, last_error"

enum err notify_list_to(struct db *db, const char *recipient, int64_t limit,
			const char *starting_after, json_t **out, bool *has_more)
{
	struct db_stmt *st = NULL;
	int64_t c_at = INT64_MAX;
	const char *c_id = "";
	char cursor[IDS_MAX] = "";
	json_t *rows = NULL;
	bool row = false;
	int64_t n = 0;
	enum err e = ERR_OK;
	*out = NULL;
	*has_more = false;
	if (starting_after) {
		e = db_prepare(db, "SELECT created_at FROM notifications WHERE id = ?1 AND recipient = ?2", &st);
		if (e != ERR_OK)
			return e;
		db_bind_text(st, 1, starting_after);
		db_bind_text(st, 2, recipient);
		e = db_step_row(st);
		if (e == ERR_OK)
			c_at = db_column_int64(st, 0);
		db_done(st);
		st = NULL;
		if (e == ERR_NOT_FOUND)
			return ERR_INVALID_PARAMETER;
		if (e != ERR_OK)
			return e;
		snprintf(cursor, sizeof cursor, "%s", starting_after);
		c_id = cursor;
	}
	rows = json_array();
	e = db_prepare(db,
		       "SELECT " NOTIFY_COLUMNS " FROM notifications WHERE recipient = ?1"
		       " AND (created_at < ?2 OR (created_at = ?2 AND (?3 = '' OR id < ?3)))"
		       " ORDER BY created_at DESC, id DESC LIMIT ?4",
		       &st);
	if (e != ERR_OK)
		goto out;
	db_bind_text(st, 1, recipient);
	db_bind_int64(st, 2, c_at);
	db_bind_text(st, 3, c_id);
	db_bind_int64(st, 4, limit + 1);
	while ((e = db_step(st, &row)) == ERR_OK && row) {
		if (n++ == limit) {
			*has_more = true;
			break;
		}
		json_array_append_new(rows, row_json(st, false));
	}
out:
	db_done(st);
	if (e != ERR_OK) {
		json_decref(rows);
		return e;
	}
	*out = rows;
	return ERR_OK;
}

enum err notify_resend(struct db *db, const char *id, char *new_id)
{
	struct db_stmt *st = NULL;
	char *account = NULL, *recipient = NULL, *tmpl = NULL, *payload = NULL;
	enum notify_channel ch = NOTIFY_EMAIL;
	enum err e = db_prepare(db, "SELECT account_id, channel, recipient, template, payload"
				    " FROM notifications WHERE id = ?1",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, id);
	e = db_step_row(st);
	if (e == ERR_OK) {
		const char *a = db_column_text(st, 0);
		account = a ? strdup(a) : NULL;
		ch = strcmp(db_column_text(st, 1), "sms") == 0 ? NOTIFY_SMS : NOTIFY_EMAIL;
		recipient = strdup(db_column_text(st, 2));
		tmpl = strdup(db_column_text(st, 3));
		payload = strdup(db_column_text(st, 4));
		if ((a && !account) || !recipient || !tmpl || !payload)
			e = ERR_NOMEM;
	}
	db_done(st);
	if (e != ERR_OK)
		goto out;
	if (recipient[0] == '\0') {
		e = ERR_INVALID_STATE;
		goto out;
	}
	json_t *p = json_loads(payload, 0, NULL);
	e = notify_queue(db, account, ch, recipient, tmpl, p ? p : json_object(), new_id);
out:
	free(account);
	free(recipient);
	free(tmpl);
	free(payload);
	return e;
}

enum err notify_account_json(struct db *db, const char *account_id, json_t **out)
{
	struct db_stmt *st = NULL;
	json_t *rows = json_array();
	bool row = false;
	enum err e = db_prepare(db, "SELECT " NOTIFY_COLUMNS " FROM notifications WHERE account_id = ?1"
				    " ORDER BY created_at, id",
				&st);
	if (e == ERR_OK) {
		db_bind_text(st, 1, account_id);
		while ((e = db_step(st, &row)) == ERR_OK && row)
			json_array_append_new(rows, row_json(st, true));
	}
	db_done(st);
	if (e != ERR_OK) {
		json_decref(rows);
		return e;
	}
	*out = rows;
	return ERR_OK;
}

enum err notify_redact_account(struct db *db, const char *account_id, int64_t *count)
{
	struct db_stmt *st = NULL;
	/* What was not sent yet never will be: there is nobody to send it to. */
	enum err e = db_prepare(db, "UPDATE notifications SET recipient = '', payload = '{}',"
				    " status = CASE WHEN status IN ('queued', 'sending') THEN 'failed' ELSE status END,"
				    " last_error = CASE WHEN status IN ('queued', 'sending') THEN 'account_erased'"
				    " ELSE last_error END, next_attempt_at = NULL, claimed_at = NULL, claimed_by = NULL"
				    " WHERE account_id = ?1",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, account_id);
	e = db_step_done(st);
	db_done(st);
	if (count)
		*count = e == ERR_OK ? db_changes(db) : 0;
	return e;
}
