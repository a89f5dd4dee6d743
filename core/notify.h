/*
 * notify.h - notifications to members (email, SMS).
 *
 * An action that must tell a member something (a reset link, a
 * verification code, a failed payment) calls notify_queue() inside its own
 * transaction: the notification exists exactly when the action committed.
 * A sender (the `struct notify_sender` vtable) delivers queued rows later;
 * the default sender writes each to the log.  A real email/SMS provider is
 * another sender behind the same interface.
 */
#ifndef HEARTH_CORE_NOTIFY_H
#define HEARTH_CORE_NOTIFY_H

#include <jansson.h>

#include "core/db.h"
#include "core/ids.h"

enum notify_channel { NOTIFY_EMAIL, NOTIFY_SMS };

/* Queue a notification from `template` ("password_reset") with `payload`
 * (stolen) to `recipient` for `account_id` (may be NULL).  Writes the new
 * id into `id_out` (IDS_MAX bytes; may be NULL).  Runs inside the caller's
 * transaction. */
enum err notify_queue(struct db *db, const char *account_id, enum notify_channel channel,
		      const char *recipient, const char *template_name, json_t *payload,
		      char *id_out);

struct notify_sender {
	/* Deliver one notification; ERR_OK marks it sent. */
	enum err (*send)(void *ctx, enum notify_channel channel, const char *recipient,
			 const char *template_name, const char *payload_json);
	void *ctx;
};

/* The default sender: one log line per notification, payload included only
 * at debug level (it may hold codes and links). */
const struct notify_sender *notify_log_sender(void);

/* Deliver up to `max` queued notifications with `sender`; *sent (may be
 * NULL) gets how many went out. */
enum err notify_deliver(struct db *db, const struct notify_sender *sender, int max, int *sent);

#endif
