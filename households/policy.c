/*
 * policy.c - the households settings and the per-country policy.
 *
 * The base policy comes from the individual flags (--household-window-days,
 * --travel-days, ...); --household-policy overrides any of them per
 * country: "JP:enforcement=off;BR:window_days=45,travel_days=14".  Keys:
 * enforcement (on|off), unset (allow|verify), window_days, travel_days,
 * travel_grants, travel_period_days, move_limit, move_period_days.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "households/households_int.h"

static struct hh_settings settings;

const struct hh_settings *hh_settings(void) { return &settings; }

const char *hh_network_of(const struct netaddr *client, char *buf, size_t cap)
{
	buf[0] = '\0';
	if (!client || (client->family != 4 && client->family != 6))
		return buf;
	return netaddr_prefix(client, settings.v4_bits, settings.v6_bits, buf, cap);
}

void hh_policy_for(const char *country, struct hh_policy *out)
{
	for (size_t i = 0; country && i < settings.ncountries; i++) {
		if (strcmp(settings.countries[i], country) == 0) {
			*out = settings.policies[i];
			return;
		}
	}
	*out = settings.base;
}

static bool parse_onoff(const char *s, size_t n, const char *on, const char *off, bool *out)
{
	if (strlen(on) == n && strncmp(s, on, n) == 0) {
		*out = true;
		return true;
	}
	if (strlen(off) == n && strncmp(s, off, n) == 0) {
		*out = false;
		return true;
	}
	return false;
}

static bool parse_days(const char *s, size_t n, int64_t lo, int64_t hi, int64_t *out)
{
	char buf[16];
	if (n == 0 || n >= sizeof buf)
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if (buf[i] < '0' || buf[i] > '9')
			return false;
	errno = 0;
	char *end = NULL;
	long long v = strtoll(buf, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return false;
	*out = (int64_t)v;
	return true;
}

/* Apply one "key=value" of `len` bytes to `p`. */
static bool apply_setting(struct hh_policy *p, const char *kv, size_t len)
{
	const char *eq = memchr(kv, '=', len);
	if (!eq)
		return false;
	size_t klen = (size_t)(eq - kv);
	const char *val = eq + 1;
	size_t vlen = len - klen - 1;
	int64_t v = 0;
#define KEY(name) (klen == strlen(name) && strncmp(kv, name, klen) == 0)
	if (KEY("enforcement"))
		return parse_onoff(val, vlen, "on", "off", &p->enforce);
	if (KEY("unset"))
		return parse_onoff(val, vlen, "verify", "allow", &p->unset_verify);
	if (KEY("window_days") && parse_days(val, vlen, 1, 365, &v)) {
		p->window_s = v * HH_DAY;
		return true;
	}
	if (KEY("travel_days") && parse_days(val, vlen, 1, 90, &v)) {
		p->travel_s = v * HH_DAY;
		return true;
	}
	if (KEY("travel_grants") && parse_days(val, vlen, 0, 100, &v)) {
		p->travel_grants = v;
		return true;
	}
	if (KEY("travel_period_days") && parse_days(val, vlen, 1, 365, &v)) {
		p->travel_period_s = v * HH_DAY;
		return true;
	}
	if (KEY("move_limit") && parse_days(val, vlen, 1, 100, &v)) {
		p->move_limit = v;
		return true;
	}
	if (KEY("move_period_days") && parse_days(val, vlen, 1, 365, &v)) {
		p->move_period_s = v * HH_DAY;
		return true;
	}
#undef KEY
	return false;
}

/* Parse --household-policy into the country table. */
static enum err parse_policy(const char *text, char *why, size_t cap)
{
	const char *p = text;
	while (*p) {
		while (*p == ' ' || *p == ';')
			p++;
		if (!*p)
			break;
		size_t entry_len = strcspn(p, ";");
		const char *colon = memchr(p, ':', entry_len);
		if (!colon || colon - p != 2 || p[0] < 'A' || p[0] > 'Z' || p[1] < 'A' || p[1] > 'Z') {
			snprintf(why, cap, "--household-policy: '%.*s' does not start with a country code and ':'",
				 (int)entry_len, p);
			return ERR_INVALID_PARAMETER;
		}
		size_t slot = settings.ncountries;
		for (size_t i = 0; i < settings.ncountries; i++)
			if (strncmp(settings.countries[i], p, 2) == 0)
				slot = i;
		if (slot == settings.ncountries) {
			if (slot == HH_COUNTRY_POLICIES_MAX) {
				snprintf(why, cap, "--household-policy: more than %d countries",
					 HH_COUNTRY_POLICIES_MAX);
				return ERR_INVALID_PARAMETER;
			}
			memcpy(settings.countries[slot], p, 2);
			settings.countries[slot][2] = '\0';
			settings.policies[slot] = settings.base;
			settings.ncountries++;
		}
		const char *kv = colon + 1;
		const char *end = p + entry_len;
		while (kv < end) {
			size_t n = strcspn(kv, ",;");
			if (kv + n > end)
				n = (size_t)(end - kv);
			if (n > 0 && !apply_setting(&settings.policies[slot], kv, n)) {
				snprintf(why, cap, "--household-policy: bad setting '%.*s' for %.2s", (int)n, kv, p);
				return ERR_INVALID_PARAMETER;
			}
			kv += n + (kv + n < end ? 1 : 0);
		}
		p = end;
	}
	return ERR_OK;
}

enum err hh_settings_load(const struct config *cfg, char *why, size_t cap)
{
	memset(&settings, 0, sizeof settings);
	why[0] = '\0';
	settings.v4_bits = (int)cfg->household_v4_prefix;
	settings.v6_bits = (int)cfg->household_v6_prefix;
	settings.code_ttl_s = cfg->household_code_ttl_s;
	settings.code_attempts = cfg->household_code_attempts;
	settings.code_resend_s = cfg->household_code_resend_s;
	settings.code_sends = cfg->household_code_sends;
	settings.verify_device = (struct throttle_rule){cfg->verification_fail_limit, 3600, 60, 3600};
	settings.verify_account = (struct throttle_rule){cfg->verification_fail_limit, 3600, 60, 3600};
	settings.verify_ip = (struct throttle_rule){cfg->verification_ip_fail_limit, 3600, 60, 3600};
	settings.heartbeat_timeout_s = cfg->stream_heartbeat_timeout_s;
	settings.sightings_off = cfg->sightings_off;
	settings.flush_ms = cfg->sighting_flush_ms;
	settings.retention_s = cfg->sighting_retention_days * HH_DAY;
	settings.playback_retention_s = cfg->playback_retention_days * HH_DAY;
	settings.sharing_window_s = cfg->sharing_window_days * HH_DAY;
	settings.sharing_regular_days = cfg->sharing_regular_days;
	settings.invite_ttl_s = cfg->extra_member_invite_ttl_s;
	settings.cache_ms = cfg->household_cache_ms;

	struct hh_policy *b = &settings.base;
	const char *enf = cfg->household_enforcement;
	if (!parse_onoff(enf, strlen(enf), "on", "off", &b->enforce)) {
		snprintf(why, cap, "--household-enforcement takes on or off, not '%s'", enf);
		return ERR_INVALID_PARAMETER;
	}
	const char *unset = cfg->household_unset;
	if (!parse_onoff(unset, strlen(unset), "verify", "allow", &b->unset_verify)) {
		snprintf(why, cap, "--household-unset takes allow or verify, not '%s'", unset);
		return ERR_INVALID_PARAMETER;
	}
	b->window_s = cfg->household_window_days * HH_DAY;
	b->travel_s = cfg->travel_days * HH_DAY;
	b->travel_grants = cfg->travel_grants;
	b->travel_period_s = cfg->travel_period_days * HH_DAY;
	b->move_limit = cfg->household_move_limit;
	b->move_period_s = cfg->household_move_period_days * HH_DAY;
	return parse_policy(cfg->household_policy, why, cap);
}
