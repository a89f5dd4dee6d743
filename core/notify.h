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
 * and what was sent to it are gone; those not sent yet are `failed` with
 * last_error `account_erased` and never go out.  *count (may be NULL) gets
 * how many.  Runs inside the caller's transaction. */
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

/* Delivery.  notify_deliver claims up to `max` notifications that are due
 * (queued, and past their next attempt; or claimed by a process more than
 * NOTIFY_CLAIM_TIMEOUT_S ago) in one transaction, sends them with `sender`
 * outside any transaction, then records each outcome in another: `sent`;
 * after a failure queued again NOTIFY_RETRY_BASE_S later, doubling with
 * each attempt (notify_retry_delay), or `failed` after NOTIFY_MAX_ATTEMPTS
 * with the error's code in last_error.  Several processes may deliver at
 * once: a row is claimed by one at a time.  Delivery is at least once (a
 * process that dies between a send and its record leaves a claim that is
 * sent again after the timeout).  *sent (may be NULL) gets how many went
 * out. */
#define NOTIFY_MAX_ATTEMPTS 5
#define NOTIFY_RETRY_BASE_S 30
#define NOTIFY_CLAIM_TIMEOUT_S 300
#define NOTIFY_DELIVER_BATCH 100
enum err notify_deliver(struct db *db, const struct notify_sender *sender, int max, int *sent);

/* Seconds before the attempt after `attempts` failed ones: 30, 60, 120...
 * at most a day. */
int64_t notify_retry_delay(int64_t attempts);

/* hearthd's delivery thread: every `interval_ms` it delivers what is due
 * with `sender` (NULL: the log sender), up to 20 batches of
 * NOTIFY_DELIVER_BATCH a tick.  interval_ms <= 0 starts nothing (another
 * process delivers).  ERR_INTERNAL when the thread cannot start. */
enum err notify_delivery_start(int64_t interval_ms, const struct notify_sender *sender);
void notify_delivery_stop(void);

#endif
