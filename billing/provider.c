/*
 * The payment provider switch and the sandbox provider.
 *
 * Sandbox tokens (docs/billing.md, "Sandbox tokens"):
 *   pm_card_visa, pm_card_mastercard   every charge succeeds
 *   pm_card_declined                   card_declined (soft: may succeed on retry)
 *   pm_card_insufficient_funds         insufficient_funds (soft)
 *   pm_card_expired                    expired_card (hard: never retried)
 *   pm_card_processing_error           processing_error on the first charge ever
 *                                      made with the payment method, success after
 * The sandbox keeps no state: the processing-error card decides from the
 * number of earlier attempts the caller counted in the database, so the
 * outcome is the same on every server process and after a restart.
 */
#include "billing/provider.h"

#include <stdio.h>
#include <string.h>

struct sandbox_card {
	const char *token;
	struct bill_card_info info;
	const char *failure;	/* NULL: succeeds */
	bool hard;
	bool first_only;	/* fails only when no earlier attempt exists */
};

static const struct sandbox_card sandbox_cards[] = {
	{"pm_card_visa", {"visa", "4242", 12, 2034}, NULL, false, false},
	{"pm_card_mastercard", {"mastercard", "4444", 12, 2034}, NULL, false, false},
	{"pm_card_declined", {"visa", "0002", 12, 2034}, "card_declined", false, false},
	{"pm_card_insufficient_funds", {"visa", "9995", 12, 2034}, "insufficient_funds", false, false},
	{"pm_card_expired", {"visa", "0069", 12, 2034}, "expired_card", true, false},
	{"pm_card_processing_error", {"visa", "0119", 12, 2034}, "processing_error", false, true},
};

static const struct sandbox_card *sandbox_find(const char *token)
{
	for (size_t i = 0; i < sizeof sandbox_cards / sizeof sandbox_cards[0]; i++)
		if (strcmp(sandbox_cards[i].token, token) == 0)
			return &sandbox_cards[i];
	return NULL;
}

static enum err sandbox_describe(void *ctx, const char *token, struct bill_card_info *out)
{
	(void)ctx;
	const struct sandbox_card *c = sandbox_find(token);
	if (!c)
		return ERR_NOT_FOUND;
	*out = c->info;
	return ERR_OK;
}

static enum err sandbox_charge(void *ctx, const struct bill_charge_request *req,
			       struct bill_charge_result *out)
{
	(void)ctx;
	const struct sandbox_card *c = sandbox_find(req->token);
	memset(out, 0, sizeof *out);
	int n = snprintf(out->provider_ref, sizeof out->provider_ref, "ch_sandbox_%s", req->idempotency_key);
	if (n < 0 || (size_t)n >= sizeof out->provider_ref)
		return ERR_INTERNAL;
	if (!c) {
		/* A token that was attached and is no longer known: a hard decline. */
		snprintf(out->failure_code, sizeof out->failure_code, "%s", "invalid_payment_method");
		out->hard_decline = true;
		return ERR_OK;
	}
	bool fails = c->failure && (!c->first_only || req->prior_attempts == 0);
	if (!fails) {
		out->succeeded = true;
		return ERR_OK;
	}
	snprintf(out->failure_code, sizeof out->failure_code, "%s", c->failure);
	out->hard_decline = c->hard;
	return ERR_OK;
}

static enum err sandbox_refund(void *ctx, const char *provider_ref, const struct money *amount,
			       char *refund_ref, size_t cap)
{
	(void)ctx;
	(void)amount;
	int n = snprintf(refund_ref, cap, "re_%s", provider_ref);
	return n < 0 || (size_t)n >= cap ? ERR_BUFFER_TOO_SMALL : ERR_OK;
}

static const struct bill_provider sandbox = {
	"sandbox", sandbox_describe, sandbox_charge, sandbox_refund, NULL,
};

static const struct bill_provider *current = &sandbox;

const struct bill_provider *bill_provider_sandbox(void) { return &sandbox; }
const struct bill_provider *bill_provider(void) { return current; }
void bill_provider_set(const struct bill_provider *p) { current = p ? p : &sandbox; }
