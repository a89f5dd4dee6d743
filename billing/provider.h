/*
 * provider.h - the payment provider interface: a vtable that describes a
 * payment token, charges it and refunds a charge.
 *
 * Hearth stores only a provider's reusable token for a payment method,
 * never a card number.  Everything it knows about a card (brand, last four
 * digits, expiry) comes from describe().  A decline is not an error of the
 * call: charge() returns ERR_OK with `succeeded` false and a failure code;
 * a non-OK return means the provider could not be asked at all.
 *
 * The built-in sandbox provider behaves deterministically on fixed test
 * tokens (docs/billing.md, "Sandbox tokens"); a real provider adapter is
 * another `struct bill_provider` given to bill_provider_set() at start.
 * Providers hold no mutable state the server shares between threads, or
 * lock it themselves: calls come from every server thread.
 */
#ifndef HEARTH_BILLING_PROVIDER_H
#define HEARTH_BILLING_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/errors.h"
#include "core/money.h"

struct bill_card_info {
	char brand[16];		/* "visa", "mastercard" */
	char last4[5];
	int exp_month;		/* 1..12 */
	int exp_year;		/* four digits */
};

struct bill_charge_request {
	const char *token;		/* the payment method's provider token */
	struct money amount;		/* > 0 */
	const char *idempotency_key;	/* the attempt id: a provider must not charge a key twice */
	int64_t prior_attempts;		/* attempts already made with this payment method */
};

struct bill_charge_result {
	bool succeeded;
	char provider_ref[64];		/* the provider's charge id (also on failure) */
	char failure_code[32];		/* "card_declined", "insufficient_funds", ... */
	bool hard_decline;		/* retrying cannot succeed (expired card, ...) */
};

struct bill_provider {
	const char *name;		/* recorded on every attempt: "sandbox" */
	/* What the provider knows of `token`: ERR_OK, or ERR_NOT_FOUND for a
	 * token it does not know. */
	enum err (*describe)(void *ctx, const char *token, struct bill_card_info *out);
	/* Charge `req->amount`; see above for what the return means. */
	enum err (*charge)(void *ctx, const struct bill_charge_request *req,
			   struct bill_charge_result *out);
	/* Refund `amount` of the charge `provider_ref` (issue 7: refunds);
	 * *refund_ref receives the provider's refund id. */
	enum err (*refund)(void *ctx, const char *provider_ref, const struct money *amount,
			   char *refund_ref, size_t cap);
	void *ctx;
};

/* The sandbox provider (static; never freed). */
const struct bill_provider *bill_provider_sandbox(void);

/* The provider billing charges through: the sandbox until set.  Call
 * bill_provider_set() once at start, before any request is served. */
const struct bill_provider *bill_provider(void);
void bill_provider_set(const struct bill_provider *p);

#endif
