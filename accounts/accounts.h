/*
 * accounts.h - the accounts area's contract with the rest of Hearth:
 * members (accounts) and their profiles, read by billing, households and
 * the support-staff area.  Only this area reads or writes the accounts,
 * profiles and password_resets tables.
 *
 * Invariants: an account's email is unique case-insensitively (email_norm);
 * an account has one owner profile and at most ACCT_PROFILES_MAX profiles;
 * a locked or erased account cannot sign in.
 */
#ifndef HEARTH_ACCOUNTS_ACCOUNTS_H
#define HEARTH_ACCOUNTS_ACCOUNTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/db.h"
#include "core/ids.h"
#include "core/netaddr.h"

#define ACCT_PROFILES_MAX 5
#define ACCT_EMAIL_MAX 254

struct acct_account {
	char id[IDS_MAX];
	char email[ACCT_EMAIL_MAX + 1];
	char country[3];	/* ISO 3166-1 alpha-2 */
	char language[16];
	char name[129];		/* "" when not given */
	char phone[33];		/* "" when not given */
	char status[12];	/* active | locked | erased */
	int64_t created_at;
};

/* Read the settings (sold countries). Call once at start. */
enum err acct_init(const struct config *cfg);

/* The account `id`: ERR_OK, or ERR_NOT_FOUND. */
enum err acct_get(struct db *db, const char *id, struct acct_account *out);

/* True when Hearth sells in `country` (upper-case alpha-2). */
bool acct_country_supported(const char *country);

/* ERR_OK when `profile_id` is a profile of `account_id`, else ERR_NOT_FOUND. */
enum err acct_profile_check(struct db *db, const char *account_id, const char *profile_id);

/* Check a member's email and password from `client` exactly as sign-in
 * does (the same throttling per account, email and network, checked
 * before any hashing; the same work for unknown emails), without creating
 * a sign-in: for the device login page.  ERR_TOO_MANY_ATTEMPTS with
 * *retry_after; ERR_INVALID_CREDENTIALS; ERR_ACCOUNT_LOCKED only after the
 * password verified; else ERR_OK with the account in `account_id`.  Hashes:
 * call from an HTTP_OFFLOAD route. */
enum err acct_verify_credentials(struct db *db, const char *email, const char *password,
				 const struct netaddr *client, char account_id[IDS_MAX],
				 int64_t *retry_after);
/* ---- what the households area needs (transfer.c) ---- */

struct acct_profile_brief {
	char id[IDS_MAX];
	char name[201];
	char language[8];
	bool is_owner;
	bool kids;
	bool has_pin;
};

/* Profile `profile_id` of `account_id`: ERR_OK or ERR_NOT_FOUND. */
enum err acct_profile_brief_get(struct db *db, const char *account_id, const char *profile_id,
				struct acct_profile_brief *out);

/* Trim and check an email address as sign-up does; true with the address in
 * `email` and its lowercased identity in `norm` (ACCT_EMAIL_MAX + 1 bytes
 * each) when it is one. */
bool acct_email_canonical(const char *in, char *email, char *norm);

/* How many profiles `account_id` has. */
enum err acct_profile_count(struct db *db, const char *account_id, int64_t *count);

/*
 * Move profile `profile_id` of `account_id`, with its name and language,
 * into a new account of its own (someone leaving the household): the new
 * account gets `email` and `password`, the old account's country, and the
 * profile as its owner profile.  The password is hashed before the
 * transaction; the transaction writes account.created and
 * profile.transferred and a welcome notification to `email`.
 *   new_account  the new account on success.
 *   why          on ERR_PROFILE_NOT_TRANSFERABLE: "owner_profile",
 *                "kids_profile" or "pin_locked"; on ERR_WEAK_PASSWORD the
 *                policy's reason; on ERR_VALIDATION "email".
 * Returns ERR_OK, ERR_NOT_FOUND (no such profile of the account),
 * ERR_PROFILE_NOT_TRANSFERABLE, ERR_VALIDATION, ERR_WEAK_PASSWORD or
 * ERR_EMAIL_TAKEN.
 */
enum err acct_profile_transfer(struct db *db, const char *account_id, const char *profile_id,
			       const char *email, const char *password,
			       struct acct_account *new_account, const char **why);

/* ---- for the support-staff area (accounts/support.c) ---- */

/* Accounts a support search term names: an account id, an email address
 * (exact, case-insensitive) or a phone number (E.164; spaces, dashes, dots
 * and brackets ignored).  At most `max` into `out`, *n how many; *matched
 * says what the term was taken for ("id", "email" or "phone"). */
enum err acct_search(struct db *db, const char *query, struct acct_account *out, size_t max,
		     size_t *n, const char **matched);

/* The profiles of `account_id` as staff see them: *out a new JSON array of
 * {id, name, is_owner, kids, language, has_pin, created_at}. */
enum err acct_profiles_json(struct db *db, const char *account_id, json_t **out);

/* Lock (`locked`) or unlock account `id`, with the event account.locked or
 * account.unlocked; `before` (12 bytes) gets the status it had.  Nothing
 * changes (and no event) when it already is so.  ERR_NOT_FOUND;
 * ERR_INVALID_STATE for an erased account.  Inside the caller's transaction. */
enum err acct_set_locked(struct db *db, const char *id, bool locked, char before[12]);

/* Every personal field the accounts area holds about `id`, for a data
 * export: *out a new {account: {...}, profiles: [...]}.  ERR_NOT_FOUND. */
enum err acct_export(struct db *db, const char *id, json_t **out);

/* Erase the personal data of account `id` (privacy erasure): the email
 * becomes erased+<id>@invalid, name and phone are cleared, the password can
 * never match again, profiles are renamed "Profile N" and lose their PINs,
 * pending password resets are dropped, and the status becomes erased (which
 * no sign-in passes).  Event account.erased.  ERR_NOT_FOUND;
 * ERR_INVALID_STATE when already erased.  Inside the caller's transaction. */
enum err acct_erase(struct db *db, const char *id);

/* Register the accounts routes: /v1/accounts, /v1/me..., /v1/profiles...,
 * POST /v1/sessions (sign-in), /v1/password-resets... */
void accounts_http_register(void);

#endif
