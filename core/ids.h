/*
 * ids.h - opaque, time-ordered, prefixed identifiers ("acc_3k7...").
 *
 * An id is a kind prefix (a few lowercase letters and '_') followed by 29
 * characters of lowercase Crockford base32 encoding 144 bits: the creation
 * time in Unix milliseconds (48 bits, as in a ULID or a UUIDv7) then 96
 * random bits from libsodium (DESIGN.md: at least 96).  So ids cannot be
 * guessed or counted, yet ids of one kind sort by creation time: a new
 * row's key is appended to the end of each index keyed by an id instead of
 * landing on a random page (docs/architecture.md, "Ids").  What this gives
 * away: an id tells when it was made, to the millisecond, as Stripe's and
 * UUIDv7 ids do.  Secrets are never ids: they come from ids_random_token
 * (all random).  IDS_MAX is enough for any prefix Hearth uses, with its NUL.
 */
#ifndef HEARTH_CORE_IDS_H
#define HEARTH_CORE_IDS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/errors.h"

#define IDS_MAX 40

/* Write a new id with `prefix` (e.g. "acc_") into `out` (`cap` >= IDS_MAX).
 * Returns ERR_OK, or ERR_INTERNAL when the prefix is too long. */
enum err ids_new(const char *prefix, char *out, size_t cap);

/* True when `s` is `prefix` followed by exactly 29 base32 characters: a cheap
 * syntax check before any database lookup. */
bool ids_valid(const char *prefix, const char *s);

/* Fill `out` with `nbytes` random bytes encoded as unpadded base64url (a
 * secret token); `cap` must hold 4*ceil(nbytes/3)+1.  Returns ERR_OK or ERR_INTERNAL. */
enum err ids_random_token(size_t nbytes, char *out, size_t cap);

#endif
