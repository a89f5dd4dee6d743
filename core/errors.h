/*
 * errors.h - the one error type of Hearth.
 *
 * Every fallible function returns an `enum err`; ERR_OK (0) is success and
 * results travel through out-parameters.  Each code is one row of
 * HEARTH_ERRORS below, which gives it, in one place, its HTTP status, its
 * stable machine code (the `code` member of a problem document, which API
 * clients branch on and which must therefore never change once shipped) and
 * a human title.  Add a row here; never invent a code string elsewhere.
 *
 * Rows whose status is 500 or 503 are internal: their title is generic and
 * their detail never reaches a client.
 */
#ifndef HEARTH_CORE_ERRORS_H
#define HEARTH_CORE_ERRORS_H

/* X(NAME, http status, "api_code", "Title") */
#define HEARTH_ERRORS(X)                                                                  \
	X(OK, 200, "ok", "OK")                                                                \
	/* request shape */                                                                   \
	X(INVALID_JSON, 400, "invalid_json", "The request body is not valid JSON")          \
	X(INVALID_REQUEST, 400, "invalid_request", "The request is malformed")              \
	X(INVALID_PARAMETER, 400, "invalid_parameter", "A query or path parameter is invalid") \
	X(VALIDATION, 422, "validation_failed", "The request has invalid fields")           \
	X(BODY_TOO_LARGE, 413, "body_too_large", "The request body is too large")           \
	X(UNSUPPORTED_MEDIA_TYPE, 415, "unsupported_media_type",                            \
	  "The request body must be application/json")                                      \
	X(NOT_FOUND, 404, "not_found", "Not found")                                         \
	X(ROUTE_NOT_FOUND, 404, "route_not_found", "No such route")                        \
	X(METHOD_NOT_ALLOWED, 405, "method_not_allowed", "Method not allowed on this route") \
	X(CONFLICT, 409, "conflict", "The request conflicts with the current state")       \
	X(INVALID_STATE, 409, "invalid_state", "Not allowed in the current state")         \
	X(IDEMPOTENCY_KEY_REUSED, 409, "idempotency_key_reused",                           \
	  "The Idempotency-Key was used with a different request")                         \
	X(IDEMPOTENCY_KEY_IN_USE, 409, "idempotency_key_in_use",                           \
	  "A request with this Idempotency-Key is still in progress")                      \
	X(INVALID_IDEMPOTENCY_KEY, 400, "invalid_idempotency_key",                         \
	  "The Idempotency-Key must be 1 to 255 printable ASCII characters")               \
	X(TOO_MANY_ATTEMPTS, 429, "too_many_attempts", "Too many attempts; try again later") \
	/* authentication and authorisation */                                             \
	X(UNAUTHENTICATED, 401, "unauthenticated", "Authentication is required")           \
	X(INVALID_TOKEN, 401, "invalid_token", "The access token is invalid or expired")   \
	X(INVALID_CREDENTIALS, 401, "invalid_credentials", "Email or password is wrong")   \
	X(REFRESH_TOKEN_INVALID, 401, "refresh_token_invalid", "The refresh token is invalid or expired") \
	X(REFRESH_TOKEN_REUSED, 401, "refresh_token_reused",                               \
	  "The refresh token was already used; the sign-in has been revoked")              \
	X(FORBIDDEN, 403, "forbidden", "Not allowed")                                      \
	X(FORBIDDEN_ROLE, 403, "forbidden_role", "Your role does not allow this action")   \
	X(ACCOUNT_LOCKED, 403, "account_locked", "The account is locked")                  \
	X(REASON_REQUIRED, 400, "reason_required", "Admin changes need an X-Hearth-Reason") \
	X(USER_CODE_INVALID, 404, "user_code_invalid",                                     \
	  "The code is unknown, expired, already used or locked")                          \
	/* accounts */                                                                     \
	X(EMAIL_TAKEN, 409, "email_taken", "An account with this email already exists")    \
	X(WEAK_PASSWORD, 422, "weak_password", "The password is too weak")                 \
	X(COUNTRY_NOT_SUPPORTED, 422, "country_not_supported", "Hearth is not sold in this country") \
	X(PROFILE_LIMIT_REACHED, 409, "profile_limit_reached", "An account has at most five profiles") \
	X(PROFILE_NAME_TAKEN, 409, "profile_name_taken", "Another profile has this name")  \
	X(OWNER_PROFILE, 409, "owner_profile", "The owner profile cannot be deleted")      \
	X(INVALID_PIN, 401, "invalid_pin", "The profile PIN is wrong")                     \
	X(INVALID_RESET_TOKEN, 400, "invalid_reset_token", "The reset link is invalid or expired") \
	/* billing */                                                                      \
	X(PLAN_NOT_AVAILABLE_IN_REGION, 422, "plan_not_available_in_region",              \
	  "The plan is not sold in this country")                                          \
	X(PAYMENT_FAILED, 402, "payment_failed", "The payment was declined")               \
	X(PAYMENT_REQUIRED, 402, "payment_required", "Payment is required")                \
	X(UNKNOWN_PLAN, 422, "unknown_plan", "No plan has this code")                      \
	X(SUBSCRIPTION_EXISTS, 409, "subscription_exists", "The account already has a subscription") \
	X(INVOICE_NOT_PAID, 409, "invoice_not_paid", "Only a paid invoice can be refunded")   \
	X(REFUND_TOO_LARGE, 422, "refund_exceeds_refundable",                               \
	  "The refund is more than what is left to refund on the invoice")                  \
	/* households */                                                                   \
	X(DEVICE_REQUIRED, 403, "device_required", "This needs the token of a signed-in device") \
	X(HOUSEHOLD_REQUIRES_TV, 403, "household_requires_tv", "Only a TV can set the household") \
	X(HOUSEHOLD_MOVE_LIMIT, 429, "household_move_limit",                               \
	  "The household was set or moved too often recently")                             \
	X(VERIFICATION_REQUIRED, 403, "verification_required",                             \
	  "This device must be verified with a code sent to the account owner")            \
	X(TRAVEL_LIMIT_REACHED, 403, "travel_limit_reached",                               \
	  "This device has used up its travel access for now")                             \
	X(STREAM_LIMIT_REACHED, 409, "stream_limit_reached",                               \
	  "The plan's streams are all in use")                                             \
	X(PLAN_NOT_AVAILABLE_ON_DEVICE, 403, "plan_not_available_on_device",               \
	  "The plan does not play on this kind of device")                                 \
	X(PROFILE_NOT_ALLOWED, 403, "profile_not_allowed",                                 \
	  "This profile may not play on this account")                                     \
	X(STREAM_ENDED, 410, "stream_ended", "The stream slot has ended; start a new one")   \
	X(INVALID_CODE, 422, "invalid_code", "The code is wrong")                          \
	X(CHALLENGE_CLOSED, 410, "challenge_closed",                                       \
	  "The code expired, was already used or had too many wrong tries")                \
	X(EXTRA_MEMBERS_NOT_IN_PLAN, 409, "extra_members_not_in_plan",                     \
	  "The plan has no extra-member slots")                                            \
	X(EXTRA_MEMBER_SLOTS_FULL, 409, "extra_member_slots_full",                         \
	  "Every extra-member slot of the plan is taken")                                  \
	X(INVITATION_INVALID, 404, "invitation_invalid",                                   \
	  "The invitation is unknown, expired, withdrawn or already accepted")             \
	X(INVITEE_NOT_ELIGIBLE, 409, "invitee_not_eligible",                               \
	  "This account cannot become an extra member")                                    \
	X(PROFILE_NOT_TRANSFERABLE, 409, "profile_not_transferable",                       \
	  "This profile cannot be transferred")                                            \
	/* money */                                                                        \
	X(UNKNOWN_CURRENCY, 422, "unknown_currency", "The currency is not supported")      \
	X(CURRENCY_MISMATCH, 422, "currency_mismatch", "The amounts are in different currencies") \
	X(INVALID_AMOUNT, 422, "invalid_amount",                                           \
	  "The amount is not a valid amount of its currency")                              \
	/* internal: never detailed to a client */                                         \
	X(INTERNAL, 500, "internal_error", "Internal error")                               \
	X(DB, 500, "internal_error", "Internal error")                                     \
	X(DB_BUSY, 503, "database_busy", "The database is busy; retry")                    \
	X(NOMEM, 500, "internal_error", "Internal error")                                  \
	X(MONEY_OVERFLOW, 500, "internal_error", "Internal error")                         \
	X(BUFFER_TOO_SMALL, 500, "internal_error", "Internal error")                       \
	X(SCHEMA_TOO_NEW, 500, "schema_too_new", "The database schema is newer than this program") \
	X(IO, 500, "internal_error", "Internal error")                                     \
	X(CRYPTO, 500, "internal_error", "Internal error")

enum err {
#define HEARTH_ERR_ENUM(name, status, code, title) ERR_##name,
	HEARTH_ERRORS(HEARTH_ERR_ENUM)
#undef HEARTH_ERR_ENUM
	ERR__COUNT
};

/* The stable API code of `e` ("email_taken"); "internal_error" for unknown values. */
const char *err_code(enum err e);

/* The HTTP status a problem document for `e` carries. */
int err_status(enum err e);

/* A short human title for `e`, safe to show to a client. */
const char *err_title(enum err e);

/* The enum name without prefix ("EMAIL_TAKEN"), for logs and tests. */
const char *err_name(enum err e);

#endif
