#include "core/config.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

enum kind { K_STR, K_INT, K_BOOL };

struct option_row {
	const char *flag; /* without "--" */
	const char *env;
	enum kind kind;
	size_t offset;
	const char *def;
	int64_t min, max;
	const char *help;
};

#define STR(f, e, field, d, h) {f, e, K_STR, offsetof(struct config, field), d, 0, 0, h}
#define INT(f, e, field, d, lo, hi, h) {f, e, K_INT, offsetof(struct config, field), d, lo, hi, h}
#define BOOL(f, e, field, h) {f, e, K_BOOL, offsetof(struct config, field), "false", 0, 1, h}

static const struct option_row rows[] = {
	STR("db", "HEARTH_DB", db_path, "./hearth.db", "SQLite database file"),
	STR("db-sync", "HEARTH_DB_SYNC", db_sync, "full",
	    "durability: full (fsync every commit; loses nothing acknowledged) or normal"),
	INT("db-checkpoint-ms", "HEARTH_DB_CHECKPOINT_MS", db_checkpoint_ms, "100", 0, 60000,
	    "WAL checkpoints on a thread of their own this often (ms); 0 = in the committing request"),
	STR("listen", "HEARTH_LISTEN", listen, "127.0.0.1:8080", "address:port to listen on"),
	INT("threads", "HEARTH_THREADS", threads, "0", 0, 256,
	    "server worker threads; 0 = 2 x cores (at least 4)"),
	INT("max-connections", "HEARTH_MAX_CONNECTIONS", max_connections, "1024", 1, 65536,
	    "open connections at most"),
	INT("max-connections-per-ip", "HEARTH_MAX_CONNECTIONS_PER_IP", max_connections_per_ip, "64",
	    1, 65536, "open connections per client IP at most"),
	INT("connection-timeout", "HEARTH_CONNECTION_TIMEOUT", connection_timeout_s, "30", 1, 3600,
	    "seconds an idle or slow connection is kept"),
	INT("body-limit", "HEARTH_BODY_LIMIT", body_limit, "65536", 1024, 16777216,
	    "largest request body in bytes (413 above)"),
	STR("key-file", "HEARTH_KEY_FILE", key_file, "./hearth.keys",
	    "token signing key set (created with mode 0600 on first start)"),
	STR("trusted-proxies", "HEARTH_TRUSTED_PROXIES", trusted_proxies, "",
	    "comma-separated CIDRs whose X-Forwarded-For is believed"),
	STR("log-level", "HEARTH_LOG_LEVEL", log_level, "info", "debug, info, warn or error"),
	BOOL("test-mode", "HEARTH_TEST_MODE", test_mode,
	     "test mode: settable clock and /test/v1 routes (never in production)"),
	INT("test-clock-start", "HEARTH_TEST_CLOCK_START", test_clock_start, "0", 0, 32503680000,
	    "test mode: the test clock's start (epoch seconds); 0 = now"),
	STR("port-file", "HEARTH_PORT_FILE", port_file, "", "write the bound port to this file"),
	STR("issuer", "HEARTH_ISSUER", issuer, "https://hearth.example", "token issuer (iss)"),
	INT("access-ttl", "HEARTH_ACCESS_TTL", access_ttl_s, "900", 60, 86400,
	    "access token lifetime, seconds"),
	INT("refresh-ttl", "HEARTH_REFRESH_TTL", refresh_ttl_s, "2592000", 3600, 31536000,
	    "refresh token sliding lifetime, seconds"),
	INT("staff-ttl", "HEARTH_STAFF_TTL", staff_ttl_s, "28800", 60, 86400,
	    "staff token lifetime, seconds"),
	INT("hash-concurrency", "HEARTH_HASH_CONCURRENCY", hash_concurrency, "0", 0, 256,
	    "Argon2id hashes at once; 0 = cores"),
	INT("pwhash-opslimit", "HEARTH_PWHASH_OPSLIMIT", pwhash_opslimit, "0", 0, 64,
	    "Argon2id passes; 0 = libsodium INTERACTIVE"),
	INT("pwhash-memlimit", "HEARTH_PWHASH_MEMLIMIT", pwhash_memlimit, "0", 0, 4294967296,
	    "Argon2id memory in bytes; 0 = libsodium INTERACTIVE (64 MiB)"),
	STR("countries", "HEARTH_COUNTRIES", countries, "US,CA,MX,BR,GB,DE,FR,ES,IN,JP,KR,AU,KW",
	    "ISO 3166-1 alpha-2 countries Hearth sells in"),
	INT("signin-fail-limit", "HEARTH_SIGNIN_FAIL_LIMIT", signin_fail_limit, "5", 1, 1000,
	    "failed sign-ins per account before backoff"),
	INT("signin-ip-fail-limit", "HEARTH_SIGNIN_IP_FAIL_LIMIT", signin_ip_fail_limit, "20", 1,
	    100000, "failed sign-ins per client IP before backoff"),
	INT("throttle-window", "HEARTH_THROTTLE_WINDOW", throttle_window_s, "900", 60, 86400,
	    "seconds failed attempts are remembered"),
	INT("pin-fail-limit", "HEARTH_PIN_FAIL_LIMIT", pin_fail_limit, "5", 1, 1000,
	    "wrong profile PINs per profile before backoff"),
	INT("reset-email-limit", "HEARTH_RESET_EMAIL_LIMIT", reset_email_limit, "5", 1, 1000,
	    "password-reset requests per email address per hour"),
	INT("reset-ip-limit", "HEARTH_RESET_IP_LIMIT", reset_ip_limit, "20", 1, 100000,
	    "password-reset requests per client IP per hour"),
	INT("revocation-cache-ms", "HEARTH_REVOCATION_CACHE_MS", revocation_cache_ms, "1000", 0,
	    60000, "how stale the sign-in revocation cache may be, ms"),
	INT("account-cache-ms", "HEARTH_ACCOUNT_CACHE_MS", account_cache_ms, "1000", 0, 60000,
	    "how stale a cached account may be after another process changed it, ms (0 = no cache)"),
	INT("last-use-flush-ms", "HEARTH_LAST_USE_FLUSH_MS", last_use_flush_ms, "5000", 100, 600000,
	    "how often the last use of sign-ins and devices is written, ms (a crash loses at most this much)"),
	INT("billing-interval", "HEARTH_BILLING_INTERVAL", billing_interval_s, "300", 0, 86400,
	    "seconds between the checks for due renewals (a run starts when any is due); 0 = no scheduler"),
	INT("billing-batch", "HEARTH_BILLING_BATCH", billing_batch, "500", 1, 20000,
	    "subscriptions renewed per billing-run transaction"),
	INT("billing-cache-mb", "HEARTH_BILLING_CACHE_MB", billing_cache_mb, "128", 2, 4096,
	    "page cache of the billing thread's database connection, MiB (a run touches every due subscription)"),
	STR("dunning-retry-days", "HEARTH_DUNNING_RETRY_DAYS", dunning_retry_days, "1,3,5,7",
	    "days after a failed renewal when the charge is retried (increasing; \"\" = none)"),
	INT("dunning-hold-days", "HEARTH_DUNNING_HOLD_DAYS", dunning_hold_days, "30", 1, 365,
	    "days a subscription stays on hold after its last failed retry, then ends"),
	STR("supervisor-money-limits", "HEARTH_SUPERVISOR_MONEY_LIMITS", supervisor_money_limits,
	    "USD 50.00,CAD 70.00,MXN 1000,BRL 250.00,GBP 40.00,EUR 50.00,INR 4000,JPY 7500,KRW 70000,"
	    "AUD 75.00,KWD 15.000",
	    "most a supervisor may refund or grant as credit at once, per currency (admins: no limit)"),
	INT("device-code-ttl", "HEARTH_DEVICE_CODE_TTL", device_code_ttl_s, "600", 60, 3600,
	    "device login: seconds a device code and user code live (expires_in)"),
	INT("device-poll-interval", "HEARTH_DEVICE_POLL_INTERVAL", device_poll_interval_s, "5", 1,
	    60, "device login: seconds a device waits between polls (interval)"),
	INT("user-code-fail-limit", "HEARTH_USER_CODE_FAIL_LIMIT", user_code_fail_limit, "5", 1,
	    1000, "device login: wrong user codes per member before backoff"),
	INT("user-code-ip-fail-limit", "HEARTH_USER_CODE_IP_FAIL_LIMIT", user_code_ip_fail_limit,
	    "20", 1, 100000, "device login: wrong user codes per client IP before backoff"),
	INT("device-code-max-failures", "HEARTH_DEVICE_CODE_MAX_FAILURES", device_code_max_failures,
	    "5", 1, 100, "device login: wrong confirmations after which a code is locked for good"),
	STR("verification-uri", "HEARTH_VERIFICATION_URI", verification_uri, "",
	    "device login: public URL of the device page; empty = the issuer + /device"),
	BOOL("cookie-secure", "HEARTH_COOKIE_SECURE", cookie_secure,
	     "device login: mark the device page's CSRF cookie Secure (set it behind TLS)"),
	INT("household-v4-prefix", "HEARTH_HOUSEHOLD_V4_PREFIX", household_v4_prefix, "24", 8, 32,
	    "IPv4 prefix length of a network (households)"),
	INT("household-v6-prefix", "HEARTH_HOUSEHOLD_V6_PREFIX", household_v6_prefix, "56", 16, 128,
	    "IPv6 prefix length of a network (households)"),
	INT("household-window-days", "HEARTH_HOUSEHOLD_WINDOW_DAYS", household_window_days, "31", 1, 365,
	    "days a network stays a household network after a household TV was on it, and a device stays trusted after it was seen there"),
	INT("household-move-limit", "HEARTH_HOUSEHOLD_MOVE_LIMIT", household_move_limit, "3", 1, 100,
	    "household moves allowed per move period"),
	INT("household-move-period-days", "HEARTH_HOUSEHOLD_MOVE_PERIOD_DAYS", household_move_period_days, "30", 1, 365,
	    "the move period, days"),
	INT("household-code-ttl", "HEARTH_HOUSEHOLD_CODE_TTL", household_code_ttl_s, "900", 60, 86400,
	    "seconds a household or travel code is valid"),
	INT("household-code-attempts", "HEARTH_HOUSEHOLD_CODE_ATTEMPTS", household_code_attempts, "5", 1, 20,
	    "wrong codes allowed per challenge"),
	INT("household-code-resend-interval", "HEARTH_HOUSEHOLD_CODE_RESEND_INTERVAL", household_code_resend_s, "60", 0, 3600,
	    "seconds between two sends of a challenge's code"),
	INT("household-code-sends", "HEARTH_HOUSEHOLD_CODE_SENDS", household_code_sends, "3", 1, 20,
	    "codes sent per challenge at most (first send included)"),
	INT("verification-fail-limit", "HEARTH_VERIFICATION_FAIL_LIMIT", verification_fail_limit, "10", 1, 1000,
	    "wrong codes per device and per account before backoff"),
	INT("verification-ip-fail-limit", "HEARTH_VERIFICATION_IP_FAIL_LIMIT", verification_ip_fail_limit, "30", 1, 100000,
	    "wrong codes per client IP before backoff"),
	INT("travel-days", "HEARTH_TRAVEL_DAYS", travel_days, "7", 1, 90,
	    "days of travel access a confirmed code gives a device"),
	INT("travel-grants", "HEARTH_TRAVEL_GRANTS", travel_grants, "2", 0, 100,
	    "travel access grants per device per travel period"),
	INT("travel-period-days", "HEARTH_TRAVEL_PERIOD_DAYS", travel_period_days, "30", 1, 365,
	    "the travel period, days"),
	STR("household-enforcement", "HEARTH_HOUSEHOLD_ENFORCEMENT", household_enforcement, "on",
	    "on: verification_required blocks playback; off: decisions are recorded, never block"),
	STR("household-unset", "HEARTH_HOUSEHOLD_UNSET", household_unset, "allow",
	    "playback of accounts without a household: allow or verify"),
	STR("household-policy", "HEARTH_HOUSEHOLD_POLICY", household_policy, "",
	    "per-country overrides: 'JP:enforcement=off;BR:window_days=45,travel_days=14'"),
	INT("stream-heartbeat-timeout", "HEARTH_STREAM_HEARTBEAT_TIMEOUT", stream_heartbeat_timeout_s, "120", 10, 3600,
	    "seconds without a heartbeat before a stream slot is freed"),
	BOOL("sightings-off", "HEARTH_SIGHTINGS_OFF", sightings_off,
	     "do not record device sightings (benchmark comparison only)"),
	INT("sighting-flush-ms", "HEARTH_SIGHTING_FLUSH_MS", sighting_flush_ms, "5000", 100, 600000,
	    "how often counted sightings are written, ms"),
	INT("sighting-retention-days", "HEARTH_SIGHTING_RETENTION_DAYS", sighting_retention_days, "90", 31, 3650,
	    "days sightings are kept"),
	INT("playback-retention-days", "HEARTH_PLAYBACK_RETENTION_DAYS", playback_retention_days, "90", 31, 3650,
	    "days playback decisions and stream slots are kept"),
	INT("notify-interval-ms", "HEARTH_NOTIFY_INTERVAL_MS", notify_interval_ms, "1000", 0, 3600000,
	    "how often queued notifications are delivered, ms; 0 = not by this process"),
	INT("events-retention-days", "HEARTH_EVENTS_RETENTION_DAYS", events_retention_days, "400", 0, 3650,
	    "days events (the change feed) are kept; 0 = forever"),
	INT("sharing-window-days", "HEARTH_SHARING_WINDOW_DAYS", sharing_window_days, "30", 1, 365,
	    "days of signals a sharing assessment looks at"),
	INT("sharing-regular-days", "HEARTH_SHARING_REGULAR_DAYS", sharing_regular_days, "3", 1, 365,
	    "days of use that make a network regular"),
	INT("household-cache-ms", "HEARTH_HOUSEHOLD_CACHE_MS", household_cache_ms, "1000", 0, 60000,
	    "how stale a playback decision's inputs may be, ms (this process's own changes are seen at once)"),
	INT("extra-member-invite-ttl", "HEARTH_EXTRA_MEMBER_INVITE_TTL", extra_member_invite_ttl_s, "1209600", 3600, 7776000,
	    "seconds an extra-member invitation is valid"),
};

#define NROWS (sizeof rows / sizeof rows[0])

static int set_value(struct config *c, const struct option_row *r, const char *val, FILE *err)
{
	char *base = (char *)c;
	switch (r->kind) {
	case K_STR:
		*(const char **)(base + r->offset) = val;
		return 0;
	case K_BOOL:
		if (strcmp(val, "1") == 0 || strcmp(val, "true") == 0 || strcmp(val, "yes") == 0) {
			*(bool *)(base + r->offset) = true;
			return 0;
		}
		if (strcmp(val, "0") == 0 || strcmp(val, "false") == 0 || strcmp(val, "no") == 0) {
			*(bool *)(base + r->offset) = false;
			return 0;
		}
		fprintf(err, "hearthd: --%s takes true or false, not '%s'\n", r->flag, val);
		return -1;
	case K_INT: {
		char *end = NULL;
		errno = 0;
		long long v = strtoll(val, &end, 10);
		/* strtoll accepts leading blanks and '+': a setting must be digits. */
		bool starts_ok = (val[0] >= '0' && val[0] <= '9') || (val[0] == '-' && val[1] >= '0' && val[1] <= '9');
		if (!starts_ok || errno || end == val || *end != '\0' || v < r->min || v > r->max) {
			fprintf(err, "hearthd: --%s takes a whole number from %lld to %lld, not '%s'\n",
				r->flag, (long long)r->min, (long long)r->max, val);
			return -1;
		}
		*(int64_t *)(base + r->offset) = (int64_t)v;
		return 0;
	}
	}
	return -1;
}

void config_defaults(struct config *c)
{
	memset(c, 0, sizeof *c);
	for (size_t i = 0; i < NROWS; i++)
		set_value(c, &rows[i], rows[i].def, stderr);
}

static void print_help(FILE *out)
{
	fprintf(out, "Usage: hearthd [--flag value | --flag=value]...\n\n"
		     "Hearth account, subscription and household service.\n\nOptions "
		     "(flag, environment variable, default):\n");
	for (size_t i = 0; i < NROWS; i++)
		fprintf(out, "  --%-24s %-32s [%s]\n      %s\n", rows[i].flag, rows[i].env,
			rows[i].def[0] ? rows[i].def : "\"\"", rows[i].help);
	fprintf(out, "  --help\n      print this and exit\n");
}

enum config_result config_load(struct config *c, int argc, char **argv, FILE *out, FILE *err)
{
	config_defaults(c);
	for (size_t i = 0; i < NROWS; i++) {
		const char *v = getenv(rows[i].env);
		if (v && set_value(c, &rows[i], v, err) != 0)
			return CONFIG_USAGE;
	}
	for (int a = 1; a < argc; a++) {
		const char *arg = argv[a];
		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			print_help(out);
			return CONFIG_EXIT_OK;
		}
		if (strncmp(arg, "--", 2) != 0) {
			fprintf(err, "hearthd: unexpected argument '%s' (see --help)\n", arg);
			return CONFIG_USAGE;
		}
		const char *name = arg + 2;
		const char *eq = strchr(name, '=');
		size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
		const struct option_row *r = NULL;
		for (size_t i = 0; i < NROWS && !r; i++)
			if (strlen(rows[i].flag) == nlen && strncmp(rows[i].flag, name, nlen) == 0)
				r = &rows[i];
		if (!r) {
			fprintf(err, "hearthd: unknown option '%s' (see --help)\n", arg);
			return CONFIG_USAGE;
		}
		const char *val;
		if (eq)
			val = eq + 1;
		else if (r->kind == K_BOOL)
			val = "true";
		else if (a + 1 < argc)
			val = argv[++a];
		else {
			fprintf(err, "hearthd: --%s needs a value\n", r->flag);
			return CONFIG_USAGE;
		}
		if (set_value(c, r, val, err) != 0)
			return CONFIG_USAGE;
	}
	return CONFIG_OK;
}
