/*
 * fuzz_payment_methods.c - the body of POST /v1/payment-methods {token}
 * through bill_payment_method_parse(), the very check billing_http.c makes
 * before the payment provider is asked.
 *
 * The input is the JSON body.  Properties, beyond fuzz_body.h's: an
 * accepted token is the JSON string sent, 1..64 bytes without a NUL; a
 * body without a valid token is refused.
 */
#include <string.h>

#include "billing/billing_int.h"
#include "fuzz/fuzz_body.h"

static const char *const fpm_fields[] = {"token", NULL};

int fuzz_payment_methods(const uint8_t *data, size_t size)
{
	json_t *body = fuzz_body_json(data, size);
	if (!body)
		return 0;
	const char *token = NULL;
	struct jv v;
	jv_init(&v, body);
	bill_payment_method_parse(&v, &token);
	fuzz_body_check_errors(&v, body, fpm_fields);
	fuzz_body_check_unknown(&v, body, fpm_fields, NULL);
	if (token) {
		fuzz_body_borrowed(body, "token", token);
		FUZZ_ASSERT(token[0] && strlen(token) <= 64, "a token of a bad length was handed out");
	}
	FUZZ_ASSERT(!jv_ok(&v) || token, "accepted without a token");
	jv_release(&v);
	json_decref(body);
	return 0;
}

#ifndef FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_payment_methods(data, size); }
#endif
