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
