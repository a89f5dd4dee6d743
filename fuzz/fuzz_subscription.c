/*
 * fuzz_subscription.c - the subscription bodies (POST /v1/subscription
 * {plan, payment_method}; PATCH /v1/subscription {plan}) through
 * bill_subscribe_parse() and bill_plan_change_parse(), the very checks
 * billing_http.c makes before touching the database.
 *
 * The input's first byte chooses the body (even: subscribe, odd: change
 * plan); the rest is the JSON body.  Properties, beyond fuzz_body.h's:
 *  - an accepted plan is the JSON string sent, 1..BILL_CODE_MAX bytes;
 *  - a payment method, when given, is a pm_ id; a bad one is refused
 *    (not_found) and not handed out.
 */
#include <string.h>

#include "billing/billing_int.h"
#include "fuzz/fuzz_body.h"

static const char *const fsb_subscribe_fields[] = {"plan", "payment_method", NULL};
static const char *const fsb_change_fields[] = {"plan", NULL};

int fuzz_subscription(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	json_t *body = fuzz_body_json(data + 1, size - 1);
	if (!body)
		return 0;
	bool subscribe = (data[0] & 1) == 0;
	const char *const *fields = subscribe ? fsb_subscribe_fields : fsb_change_fields;
	const char *plan = NULL, *pm = NULL;
	struct jv v;
	jv_init(&v, body);
	if (subscribe)
		bill_subscribe_parse(&v, &plan, &pm);
	else
		bill_plan_change_parse(&v, &plan);
	fuzz_body_check_errors(&v, body, fields);
	fuzz_body_check_unknown(&v, body, fields, NULL);
	if (pm) {
		fuzz_body_borrowed(body, "payment_method", pm);
		FUZZ_ASSERT(ids_valid("pm_", pm), "a payment method that is not a pm_ id was handed out");
	}
	if (jv_ok(&v)) {
		FUZZ_ASSERT(plan != NULL, "accepted without a plan");
		fuzz_body_borrowed(body, "plan", plan);
		FUZZ_ASSERT(plan[0] && strlen(plan) <= BILL_CODE_MAX, "a plan code of a bad length");
		json_t *x = json_object_get(body, "payment_method");
		FUZZ_ASSERT(!subscribe || (pm != NULL) == json_is_string(x), "a payment method sent and dropped");
	}
	jv_release(&v);
	json_decref(body);
	return 0;
}

#ifndef FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_subscription(data, size); }
#endif
