/*
 * auth.c - the area's start and stop, and staff tokens.
 */
#include "auth/auth.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "auth/auth_int.h"
#include "core/log.h"

_Static_assert(AUTH_PWHASH_MAX >= crypto_pwhash_STRBYTES, "room for an Argon2id string");

struct auth_settings auth_settings;

enum err auth_init(const struct config *cfg)
{
	int n = snprintf(auth_settings.issuer, sizeof auth_settings.issuer, "%s", cfg->issuer);
	if (n <= 0 || (size_t)n >= sizeof auth_settings.issuer) {
		log_error("auth.issuer_invalid", "note=\"the issuer must be 1 to 255 bytes\"");
		return ERR_INTERNAL;
	}
	auth_settings.access_ttl_s = cfg->access_ttl_s;
	auth_settings.refresh_ttl_s = cfg->refresh_ttl_s;
	auth_settings.staff_ttl_s = cfg->staff_ttl_s;
	auth_settings.revocation_cache_ms = cfg->revocation_cache_ms;
	auth_settings.device_code_ttl_s = cfg->device_code_ttl_s;
	auth_settings.device_poll_interval_s = cfg->device_poll_interval_s;
	auth_settings.device_code_max_failures = cfg->device_code_max_failures;
	auth_settings.throttle_window_s = cfg->throttle_window_s;
	auth_settings.user_code_fail_limit = cfg->user_code_fail_limit;
	auth_settings.user_code_ip_fail_limit = cfg->user_code_ip_fail_limit;
	auth_settings.cookie_secure = cfg->cookie_secure;
	if (cfg->verification_uri && cfg->verification_uri[0])
		n = snprintf(auth_settings.verification_uri, sizeof auth_settings.verification_uri, "%s",
			     cfg->verification_uri);
	else
		n = snprintf(auth_settings.verification_uri, sizeof auth_settings.verification_uri,
			     "%s/device", cfg->issuer);
	if (n <= 0 || (size_t)n >= sizeof auth_settings.verification_uri) {
		log_error("auth.verification_uri_invalid", "note=\"the device page URL must be at most 500 bytes\"");
		return ERR_INTERNAL;
	}
	enum err e = auth_password_init(cfg->pwhash_opslimit, cfg->pwhash_memlimit);
	if (e == ERR_OK)
		e = auth_keyset_open(cfg->key_file);
	if (e != ERR_OK)
		auth_shutdown();
	return e;
}

void auth_shutdown(void)
{
	auth_last_use_stop();
	auth_keyset_close();
	auth_password_release();
}

enum err auth_staff_token(const char *staff_id, const char *staff_session_id, char *out, size_t cap,
			  int64_t *expires_in)
{
	char token[AUTH_TOKEN_MAX];
	*expires_in = 0;
	if (cap > 0)
		out[0] = '\0';
	enum err e = auth_token_issue(AUTH_AUD_STAFF, staff_id, staff_session_id, NULL,
				      auth_settings.staff_ttl_s, token);
	if (e != ERR_OK)
		return e;
	size_t len = strlen(token);
	if (len >= cap)
		return ERR_BUFFER_TOO_SMALL;
	memcpy(out, token, len + 1);
	*expires_in = auth_settings.staff_ttl_s;
	return ERR_OK;
}
