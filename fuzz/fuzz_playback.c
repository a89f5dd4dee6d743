/*
 * fuzz_playback.c - the body of POST /v1/playback/sessions {profile_id}
 * through hh_playback_start_parse(), the very check households_http.c
 * makes before the playback gate runs.
 *
 * The input is the JSON body.  Properties, beyond fuzz_body.h's: an
 * accepted profile_id is the JSON string sent and a prf_ id; anything
 * else is refused and nothing is handed out.
 */
#include <string.h>

#include "core/ids.h"
#include "fuzz/fuzz_body.h"
#include "households/households_int.h"

static const char *const fpb_fields[] = {"profile_id", NULL};

int fuzz_playback(const uint8_t *data, size_t size)
{
	json_t *body = fuzz_body_json(data, size);
	if (!body)
		return 0;
	const char *profile = NULL;
	struct jv v;
	jv_init(&v, body);
	hh_playback_start_parse(&v, &profile);
	fuzz_body_check_errors(&v, body, fpb_fields);
	fuzz_body_check_unknown(&v, body, fpb_fields, NULL);
	if (profile) {
		fuzz_body_borrowed(body, "profile_id", profile);
		FUZZ_ASSERT(ids_valid("prf_", profile), "a profile id that is not prf_ was handed out");
	}
	FUZZ_ASSERT(!jv_ok(&v) || profile, "accepted without a profile id");
	jv_release(&v);
	json_decref(body);
	return 0;
}

#ifndef FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_playback(data, size); }
#endif
