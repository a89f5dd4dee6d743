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
#include <stdbool.h>
#include <stdint.h>

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

/* Notifications to `recipient` (exact), newest first, at most `limit`, after
 * the notification `starting_after` (NULL: from the newest).  *out gets a
 * new JSON array of {id, account_id, channel, recipient, template, status,
 * created_at, sent_at}; payloads are left out (they may hold codes and
 * links).  ERR_INVALID_PARAMETER when `starting_after` is not a
 * notification to `recipient`. */
enum err notify_list_to(struct db *db, const char *recipient, int64_t limit,
			const char *starting_after, json_t **out, bool *has_more);

/* Queue a new copy of notification `id` (same account, channel, recipient,
 * template and payload); its id goes to `new_id` (IDS_MAX bytes).
 * ERR_NOT_FOUND, or ERR_INVALID_STATE when its recipient was redacted.
 * Runs inside the caller's transaction. */
enum err notify_resend(struct db *db, const char *id, char *new_id);

/* Every notification of `account_id` with its recipient and template, for
 * a data export: *out a new JSON array (payloads included). */
enum err notify_account_json(struct db *db, const char *account_id, json_t **out);

/* Erase the recipient and payload of every notification of `account_id`
 * (the rows stay, with recipient '' and payload {}), so the member's address
 * and what was sent to it are gone.  *count (may be NULL) gets how many.
 * Runs inside the caller's transaction. */
enum err notify_redact_account(struct db *db, const char *account_id, int64_t *count);

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
