/*
 * accounts_int.h - private to the accounts area: the input checks shared by
 * its files (validate.c), the settings read by acct_init(), and the domain
 * operations its HTTP adapter (accounts_http.c) calls.  Other areas use
 * accounts/accounts.h only.
 *
 * Domain functions take already shape-checked input (the adapter has run
 * the checks below) and own every rule: country, password policy, profile
 * limits, throttling.  Each state change runs in one transaction with its
 * events and notifications.  Password hashing never runs inside a write
 * transaction (it takes ~0.1 s and would hold the write lock): the hash is
 * made first and the transaction re-checks what the hash was based on.
 */
#ifndef HEARTH_ACCOUNTS_ACCOUNTS_INT_H
#define HEARTH_ACCOUNTS_ACCOUNTS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "accounts/accounts.h"
#include "auth/auth.h"
#include "core/db.h"
#include "core/netaddr.h"
#include "core/throttle.h"

#define ACCT_NAME_MAX 128		/* account name, bytes */
#define ACCT_PROFILE_NAME_CHARS 50	/* profile name, characters (code points) */
#define ACCT_PROFILE_NAME_BYTES 200	/* ... and at most this many bytes */
#define ACCT_LANGUAGE_MAX 7		/* "xxx-XXX" */
#define ACCT_PHONE_MAX 16		/* "+" and 15 digits */
#define ACCT_PIN_LEN 4
#define ACCT_RESET_TTL_S 1800		/* a reset token lives 30 minutes */
#define ACCT_RESET_TOKEN_BYTES 32
#define ACCT_DEFAULT_LANGUAGE "en"

/* ---- input checks (validate.c); none of them touches the database ---- */

/* Trim `in` and check it is a sane email address: local@domain, one '@',
 * no spaces, control characters or RFC 5322 specials, a dot inside the
 * domain, at most ACCT_EMAIL_MAX bytes.  Writes the trimmed address to
 * `email` and its lowercased form (the identity) to `norm`, both
 * ACCT_EMAIL_MAX + 1 bytes.  Returns NULL when valid, else the field error
 * code: "too_long" or "invalid_format". */
const char *acct_email_parse(const char *in, char *email, char *norm);

/* Trim and lowercase `in` into `norm` (ACCT_EMAIL_MAX + 1 bytes) without
 * judging its form, for looking an address up.  False when it cannot be
 * an address (empty or too long after trimming). */
bool acct_email_normalize(const char *in, char *norm);

/* True for E.164: '+', then 8 to 15 digits, the first not 0. */
bool acct_phone_valid(const char *s);

/* A BCP 47-ish language tag: 2-3 letters, optionally '-' and a region of 2
 * letters or 3 digits.  Writes the canonical case ("pt-BR") into `out`
 * (ACCT_LANGUAGE_MAX + 1 bytes).  False when malformed. */
bool acct_language_parse(const char *s, char *out);

/* True for two upper-case ASCII letters (the form, not whether Hearth
 * sells there). */
bool acct_country_form_valid(const char *s);

/* True for exactly ACCT_PIN_LEN ASCII digits. */
bool acct_pin_valid(const char *s);

/* Check a display name: trimmed of ASCII white space, 1..`max_chars` code
 * points and at most `max_bytes` bytes, no control characters.  Writes the
 * trimmed name into `out` (`cap` > max_bytes).  Returns NULL when valid,
 * else the field error code ("too_short", "too_long", "invalid_characters"). */
const char *acct_name_parse(const char *in, size_t max_chars, size_t max_bytes, char *out,
			    size_t cap);

/* Copy at most `max_chars` code points of the UTF-8 string `in` into `out`
 * (`cap` bytes, always terminated, never splitting a character). */
void acct_utf8_copy_prefix(const char *in, size_t max_chars, char *out, size_t cap);

/* ASCII-lowercase `in` into `out` (`cap` bytes, truncating). */
void acct_lower(const char *in, char *out, size_t cap);

/* ---- settings (accounts.c) ---- */

struct acct_settings {
	struct throttle_rule signin_account;	/* per account (and per unknown email) */
	struct throttle_rule signin_ip;		/* per client network */
	struct throttle_rule pin;		/* per profile */
	struct throttle_rule reset_email;	/* reset requests per email */
	struct throttle_rule reset_ip;		/* reset requests per client network */
};

/* The settings acct_init() read. */
const struct acct_settings *acct_settings(void);

/* Check two throttle keys: ERR_TOO_MANY_ATTEMPTS with the longer of their
 * waits in *retry_after when either is blocked, else ERR_OK (or a database
 * error). */
enum err acct_throttle_check2(struct db *db, const char *key_a, const char *key_b,
			      int64_t *retry_after);

/* The throttle key of the client's network: "<prefix>:<ip/32 or /64>". */
void acct_ip_key(const char *prefix, const struct netaddr *client, char *out, size_t cap);

/* The throttle key for a normalised email: "<prefix>:" and 32 hex digits
 * of its keyed hash (the throttle table never holds addresses, nor hashes
 * anyone could recompute from a guessed address). */
enum err acct_email_key(const char *prefix, const char *email_norm, char *out, size_t cap);

/* ---- accounts and sign-in (accounts.c, signin.c) ---- */

/* What replacing the password of `account_id` does once its hash is
 * written, in the same transaction, whether the member changed it or a
 * reset link did (`by_reset`): cached reads of the account go, every
 * session but `keep_session_id` (NULL: all) is revoked, the account's
 * sign-in throttle is cleared, account.password_changed or
 * account.password_reset is emitted and `email` is told. */
enum err acct_password_replaced(struct db *db, const char *account_id, const char *email,
				const char *keep_session_id, bool by_reset);

/* The columns of an account row, in the order acct_account_from_row()
 * reads them: SELECT ACCT_ACCOUNT_COLUMNS FROM accounts ... */
#define ACCT_ACCOUNT_COLUMNS "id, email, country, language, name, phone, status, created_at"

/* Fill `a` from the current row of a statement that selected
 * ACCT_ACCOUNT_COLUMNS first (NULL text columns become ""). */
void acct_account_from_row(struct db_stmt *st, struct acct_account *a);

struct acct_profile {
	char id[IDS_MAX];
	char account_id[IDS_MAX];
	char name[ACCT_PROFILE_NAME_BYTES + 1];
	char language[ACCT_LANGUAGE_MAX + 1];
	bool is_owner;
	bool kids;
	bool has_pin;
	int64_t created_at;
	int64_t updated_at;
};

struct acct_signup {
	const char *email;	/* as acct_email_parse() wrote it */
	const char *email_norm;
	const char *password;
	const char *country;	/* upper-case alpha-2 */
	const char *name;	/* NULL when not given */
	const char *phone;	/* NULL when not given */
	const char *language;	/* canonical */
	struct auth_device device;
	const struct netaddr *client;
};

/* Create an account with its owner profile, welcome notification and first
 * sign-in.  ERR_COUNTRY_NOT_SUPPORTED; ERR_WEAK_PASSWORD with *weak_reason;
 * ERR_EMAIL_TAKEN; else ERR_OK with the three outputs filled. */
enum err acct_create(struct db *db, const struct acct_signup *in, struct acct_account *acct,
		     struct acct_profile *owner, struct auth_tokens *tokens, const char **weak_reason);

/* Insert the active account `id` from `in` (email, email_norm, country,
 * name, phone, language; the password and device are not read) with
 * `password_hash`, created at `now`, inside the caller's transaction.
 * ERR_EMAIL_TAKEN when the email already has an account. */
enum err acct_insert_account(struct db *db, const char *id, const struct acct_signup *in,
			     const char *password_hash, int64_t now);

/* Sign in with email and password from `dev` at `client`.  ERR_TOO_MANY_ATTEMPTS
 * with *retry_after (seconds) when the account, email or network is blocked
 * (checked before any hashing); ERR_INVALID_CREDENTIALS for an unknown email
 * or a wrong password (the same work either way); ERR_ACCOUNT_LOCKED only
 * after the password verified; else ERR_OK with `tokens`. */
enum err acct_signin(struct db *db, const char *email, const char *password,
		     const struct auth_device *dev, const struct netaddr *client,
		     struct auth_tokens *tokens, int64_t *retry_after);

struct acct_changes {
	bool set_name;		/* name: NULL clears */
	const char *name;
	bool set_phone;		/* phone: NULL clears */
	const char *phone;
	const char *language;	/* NULL keeps */
};

/* Apply `ch` to account `id` (event account.updated when anything is
 * given) and read it back into `out`.  ERR_NOT_FOUND when there is no
 * such account. */
enum err acct_update(struct db *db, const char *id, const struct acct_changes *ch,
		     struct acct_account *out);

/* Change the password of `id` after checking `current` (throttled like
 * sign-in), then revoke every sign-in except `keep_session_id`.
 * ERR_WEAK_PASSWORD (*weak_reason), ERR_TOO_MANY_ATTEMPTS (*retry_after),
 * ERR_INVALID_CREDENTIALS, ERR_NOT_FOUND or ERR_OK. */
enum err acct_change_password(struct db *db, const char *id, const char *keep_session_id,
			      const char *current, const char *new_password,
			      const struct netaddr *client, const char **weak_reason,
			      int64_t *retry_after);

/* ---- the account cache (cache.c) ---- */

/* An account as a cached read sees it; owned by the cache. */
struct acct_view {
	struct acct_account account;
	char *json;		/* the adapter's rendering (malloc'd), or NULL */
	size_t json_len;
};

/* Set how old a cached account may be, in ms (--account-cache-ms; 0: no
 * cache, every read goes to the database).  Called by acct_init(). */
void acct_cache_configure(int64_t ms);

/* The account `id` no staler than the configured bound and never older
 * than this process's last committed change to it.  *out belongs to the
 * calling thread's cache and stays valid until that thread's next call;
 * its `json` is NULL until acct_view_set_json.  ERR_OK, ERR_NOT_FOUND (not
 * cached) or a database error. */
enum err acct_view_get(struct db *db, const char *id, struct acct_view **out);

/* Attach `json` (`len` bytes, malloc'd; the view takes it) to `v`, as got
 * from acct_view_get: it lives as long as the entry it belongs to. */
void acct_view_set_json(struct acct_view *v, char *json, size_t len);

/* Say that account `id` (NULL: any account) is being changed in the open
 * transaction on `db`: cached reads of it are dropped once that commits
 * (at once outside a transaction: call after the write).  Every write to
 * the accounts table calls it. */
void acct_cache_changed(struct db *db, const char *id);

/* ---- profiles (profiles.c) ---- */

struct acct_profile_input {
	const char *name;	/* NULL keeps (update) */
	bool set_kids;
	bool kids;
	const char *language;	/* NULL: the account's (create) or keep (update) */
	bool set_pin;
	const char *pin;	/* 4 digits, or NULL to clear */
};

/* The profiles of `account_id`, oldest first (the owner is the first). */
enum err acct_profiles_list(struct db *db, const char *account_id,
			    struct acct_profile out[ACCT_PROFILES_MAX], int *count);

/* Create a profile.  ERR_PROFILE_LIMIT_REACHED, ERR_PROFILE_NAME_TAKEN,
 * ERR_NOT_FOUND (no such account) or ERR_OK. */
enum err acct_profile_create(struct db *db, const char *account_id,
			     const struct acct_profile_input *in, struct acct_profile *out);

/* Change a profile of `account_id`.  ERR_NOT_FOUND, ERR_PROFILE_NAME_TAKEN or ERR_OK. */
enum err acct_profile_update(struct db *db, const char *account_id, const char *profile_id,
			     const struct acct_profile_input *in, struct acct_profile *out);

/* Delete a profile of `account_id`.  ERR_NOT_FOUND, ERR_OWNER_PROFILE or ERR_OK. */
enum err acct_profile_delete(struct db *db, const char *account_id, const char *profile_id);

/* Check a profile PIN (throttled per profile).  ERR_NOT_FOUND,
 * ERR_TOO_MANY_ATTEMPTS (*retry_after), ERR_INVALID_PIN or ERR_OK (also
 * for a profile without a PIN). */
enum err acct_profile_unlock(struct db *db, const char *account_id, const char *profile_id,
			     const char *pin, int64_t *retry_after);

/* ---- request bodies (accounts_http.c) ----
 *
 * The checks the HTTP adapter makes on a JSON body before anything touches
 * the database, callable without a request so that the fuzz targets run
 * exactly them (fuzz/fuzz_accounts_body.c).  Each reads `v` (jv_init'd by
 * the caller on the request's JSON object), records every field error in
 * it (unknown fields included), and fills its output with the valid values
 * only; strings borrow from the JSON object or live in the output. */

#define ACCT_DEVICE_TEXT_MAX 64	/* device name and model, characters and bytes */

struct jv;

/* A device from a sign-up or sign-in body; `dev` points into the struct
 * (and the JSON).  Absent and not required: a web browser. */
struct acct_device_form {
	struct auth_device dev;
	char name[ACCT_DEVICE_TEXT_MAX + 1];
	char model[ACCT_DEVICE_TEXT_MAX + 1];
};

/* POST /v1/accounts. */
struct acct_signup_form {
	const char *email_in;	/* as sent */
	char email[ACCT_EMAIL_MAX + 1], norm[ACCT_EMAIL_MAX + 1];
	const char *password, *country, *phone;
	char name[ACCT_NAME_MAX + 1];
	bool has_name;
	char language[ACCT_LANGUAGE_MAX + 1];	/* ACCT_DEFAULT_LANGUAGE when absent */
	struct acct_device_form device;
};
void acct_signup_parse(struct jv *v, struct acct_signup_form *out);

/* POST /v1/sessions. */
struct acct_signin_form {
	const char *email, *password;
	struct acct_device_form device;
};
void acct_signin_parse(struct jv *v, struct acct_signin_form *out);

/* POST /v1/profiles (`creating`: the name is required) and
 * PATCH /v1/profiles/{id}; `in` points into the struct and the JSON. */
struct acct_profile_form {
	struct acct_profile_input in;
	char name[ACCT_PROFILE_NAME_BYTES + 1];
	char language[ACCT_LANGUAGE_MAX + 1];
};
void acct_profile_parse(struct jv *v, bool creating, struct acct_profile_form *out);

/* ---- password resets (resets.c) ---- */

/* Ask for a reset link for `email_norm`: the same answer and throttling
 * whether or not the account exists; only an active account gets the
 * notification.  ERR_TOO_MANY_ATTEMPTS (*retry_after) or ERR_OK. */
enum err acct_reset_request(struct db *db, const char *email_norm, const struct netaddr *client,
			    int64_t *retry_after);

/* Set a new password with a reset token; the token is used up, every
 * sign-in revoked and the sign-in throttle of the account reset.
 * ERR_INVALID_RESET_TOKEN, ERR_WEAK_PASSWORD (*weak_reason) or ERR_OK. */
enum err acct_reset_confirm(struct db *db, const char *token, const char *new_password,
			    const char **weak_reason);

#endif
