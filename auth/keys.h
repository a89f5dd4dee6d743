/*
 * keys.h - the token signing key set: a JSON file on the server host.
 *
 * The key file holds every Ed25519 key Hearth has signed access tokens with,
 * and one symmetric key used to hash stored secrets (refresh tokens):
 *
 *   {"version": 1,
 *    "hash_key": "k4.local....",
 *    "keys": [{"kid": "k4.pid...", "public": "k4.public...",
 *              "secret": "k4.secret...", "created_at": "2027-01-15T00:00:00Z",
 *              "status": "current"}]}
 *
 * Invariants (checked on every load; a file that breaks one is refused):
 * - The file is a regular file with no permission bits for group or others
 *   (mode 0600 or stricter).  It is only ever written whole: a new version
 *   goes to a temporary file in the same directory (mode 0600), is fsynced,
 *   and is renamed over the old one, so a reader sees the old or the new
 *   file and never half of one.
 * - Exactly one key is "current": it signs.  "verify_only" keys still
 *   verify tokens they signed earlier.  "retired" keys verify nothing; their
 *   secret is dropped from the file when they are retired, and their kid and
 *   public key stay as a record.
 * - Every kid is the PASERK k4.pid of its public key, and every secret's
 *   public half is that public key.
 *
 * hearthd loads the file at start (creating it on first start) and reloads
 * it when it changes (see auth_init); hearthctl changes it with
 * auth_keys_rotate() and auth_keys_retire().  Writers hold an exclusive
 * flock(2) on the file while they read, change and replace it, so two
 * operators cannot lose each other's change.
 *
 * Functions that can fail for a reason an operator must read write it, as
 * one sentence, into `why` (`why_cap` bytes; may be NULL).
 */
#ifndef HEARTH_AUTH_KEYS_H
#define HEARTH_AUTH_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "auth/paserk.h"
#include "core/errors.h"

enum auth_key_status { AUTH_KEY_CURRENT, AUTH_KEY_VERIFY_ONLY, AUTH_KEY_RETIRED };

/* What may be shown of a key: never its secret. */
struct auth_key_info {
	char kid[PASERK_K4_PID_SIZE];
	char paserk[PASERK_K4_PUBLIC_SIZE];	/* k4.public... */
	int64_t created_at;
	enum auth_key_status status;
};

/* "current", "verify_only" or "retired". */
const char *auth_key_status_name(enum auth_key_status s);

/* Create a new key file at `path` with one current key and a fresh hash
 * key.  Never replaces an existing file: ERR_CONFLICT when one exists.
 * Returns ERR_OK, ERR_CONFLICT or ERR_IO. */
enum err auth_keys_create(const char *path, char *why, size_t why_cap);

/* Read and check the key file at `path` and list its keys, oldest first.
 * *out is malloc'd (caller frees), *n its length.  ERR_NOT_FOUND when there
 * is no file, ERR_FORBIDDEN when group or others may access it, ERR_IO when
 * it cannot be read or breaks an invariant. */
enum err auth_keys_list(const char *path, struct auth_key_info **out, size_t *n, char *why,
			size_t why_cap);

/* Add a new current key; the old current key becomes verify_only.  The new
 * kid is written to `new_kid` (PASERK_K4_PID_SIZE bytes).  Errors as for
 * auth_keys_list(). */
enum err auth_keys_rotate(const char *path, char new_kid[PASERK_K4_PID_SIZE], char *why,
			  size_t why_cap);

/* Retire the key `kid`: it stops verifying and its secret is erased from
 * the file.  ERR_NOT_FOUND for an unknown kid, ERR_INVALID_STATE for the
 * current key (rotate first); retiring a retired key changes nothing and
 * succeeds.  Other errors as for auth_keys_list(). */
enum err auth_keys_retire(const char *path, const char *kid, char *why, size_t why_cap);

#endif
