/*
 * households.h - the households area's contract with the rest of Hearth:
 * where an account's household is, which devices are trusted, what the
 * playback gate decides and why, verification codes and travel access,
 * sharing assessments and extra members.  The rules, their defaults and a
 * worked example are in docs/households.md.
 *
 * What stays true:
 *  - Every authenticated device request is counted as a sighting (device,
 *    network, UTC day) in this process's memory and written in batches;
 *    no request pays for a write transaction of its own to be seen.
 *  - A playback slot is counted and inserted in one BEGIN IMMEDIATE
 *    transaction: a plan's stream cap holds under concurrent starts, across
 *    threads and processes.
 *  - Every playback decision is stored with its reasons and inputs.
 *  - Codes are stored as keyed hashes only and compared in constant time.
 *
 * The area reads devices through auth/auth.h, accounts through
 * accounts/accounts.h and plans and add-ons through billing/billing.h.
 */
#ifndef HEARTH_HOUSEHOLDS_HOUSEHOLDS_H
#define HEARTH_HOUSEHOLDS_HOUSEHOLDS_H

#include <jansson.h>
#include <stdint.h>

#include "core/config.h"
#include "core/db.h"

/* Read the settings and the per-country policy, and start the sightings
 * writer.  ERR_INVALID_PARAMETER (logged, with the bad setting) when a
 * household setting is malformed.  Call once at start, before serving. */
enum err hh_init(const struct config *cfg);

/* Stop the sightings writer after writing what it still holds.  Call after
 * the server stopped serving. */
void hh_shutdown(void);

/* Register the member routes (/v1/household, /v1/playback/sessions,
 * /v1/verifications, /v1/extra-members, /v1/profiles/{id}/transfer), the
 * request observer that records sightings, and the test-clock hook. */
void households_http_register(void);

/* ---- for the support-staff area ---- */

/* The household of `account_id` as staff see it (a new JSON object):
 * status, networks, devices with trust and last-seen, recent decisions with
 * reasons and the sharing assessment.  ERR_NOT_FOUND for an unknown account. */
enum err hh_staff_view(struct db *db, const char *account_id, json_t **out);

/* Forget the household of `account_id` (its networks and TVs; sightings are
 * kept), recording `actor` (a staff id) and `reason` in a household.reset
 * event, in the caller's transaction.  ERR_NOT_FOUND when it has none. */
enum err hh_household_reset(struct db *db, const char *account_id, const char *actor,
			    const char *reason);

/* Give device `device_id` travel access for `days` from now, recorded as
 * granted by `actor` with `reason` (event travel.granted), in the caller's
 * transaction.  Staff grants do not count against the member's travel
 * limit.  *expires_at gets the end.  ERR_NOT_FOUND for an unknown or
 * revoked device. */
enum err hh_travel_grant_staff(struct db *db, const char *device_id, int64_t days,
			       const char *actor, const char *reason, int64_t *expires_at);

#endif
