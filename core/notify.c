#include "core/notify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/events.h"
#include "core/log.h"

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

enum err notify_deliver(struct db *db, const struct notify_sender *sender, int max, int *sent)
{
	struct db_stmt *sel = NULL, *upd = NULL;
	int n = 0;
	enum err e = db_prepare(db,
				"SELECT id, channel, recipient, template, payload FROM notifications"
				" WHERE status = 'queued' ORDER BY created_at, id LIMIT ?1",
				&sel);
	if (e != ERR_OK)
		return e;
	db_bind_int64(sel, 1, max);
	/* Collect first, then send and mark, so the read statement is not held
	 * open across writes. */
	struct item {
		char id[IDS_MAX];
		enum notify_channel ch;
		char *recipient, *tmpl, *payload;
	} *items = calloc((size_t)(max > 0 ? max : 1), sizeof *items);
	int count = 0;
	bool row;
	while (items && count < max && (e = db_step(sel, &row)) == ERR_OK && row) {
		struct item *it = &items[count++];
		snprintf(it->id, sizeof it->id, "%s", db_column_text(sel, 0));
		it->ch = strcmp(db_column_text(sel, 1), "sms") == 0 ? NOTIFY_SMS : NOTIFY_EMAIL;
		it->recipient = strdup(db_column_text(sel, 2));
		it->tmpl = strdup(db_column_text(sel, 3));
		it->payload = strdup(db_column_text(sel, 4));
	}
	db_done(sel);
	for (int i = 0; i < count; i++) {
		struct item *it = &items[i];
		if (e == ERR_OK && it->recipient && it->tmpl && it->payload) {
			enum err se = sender->send(sender->ctx, it->ch, it->recipient, it->tmpl, it->payload);
			if (db_prepare(db, "UPDATE notifications SET status = ?2, sent_at = ?3 WHERE id = ?1 AND status = 'queued'", &upd) == ERR_OK) {
				db_bind_text(upd, 1, it->id);
				db_bind_text(upd, 2, se == ERR_OK ? "sent" : "failed");
				db_bind_int64(upd, 3, clock_now());
				e = db_step_done(upd);
				db_done(upd);
			}
			if (se == ERR_OK)
				n++;
		}
		free(it->recipient);
		free(it->tmpl);
		free(it->payload);
	}
	free(items);
	if (sent)
		*sent = n;
	return e;
}

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
	if (o && with_payload) {
		json_t *p = json_loads(db_column_text(st, 8), 0, NULL);
		json_object_set_new(o, "payload", p ? p : json_object());
	}
	return o;
}

#define NOTIFY_COLUMNS "id, account_id, channel, recipient, template, status, created_at, sent_at, payload"

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
	enum err e = db_prepare(db, "UPDATE notifications SET recipient = '', payload = '{}'"
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
