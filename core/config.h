/*
 * config.h - hearthd's settings: command-line flags and environment.
 *
 * Every knob is one row of the option table in config.c: its flag, its
 * environment variable, its default and its help line, so `hearthd --help`
 * always lists exactly what exists.  Precedence: flag, then environment,
 * then default.  Numbers are range-checked; a bad value is a usage error.
 */
#ifndef HEARTH_CORE_CONFIG_H
#define HEARTH_CORE_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct config {
	const char *db_path;		/* HEARTH_DB */
	const char *db_sync;		/* "full" | "normal" */
	int64_t db_checkpoint_ms;	/* 0: checkpoints on commit */
	const char *listen;		/* "127.0.0.1:8080" */
	int64_t threads;		/* server worker threads */
	int64_t max_connections;
	int64_t max_connections_per_ip;
	int64_t connection_timeout_s;
	int64_t body_limit;		/* bytes */
	const char *key_file;		/* token signing keys, mode 0600 */
	const char *trusted_proxies;	/* comma-separated CIDRs */
	const char *log_level;
	bool test_mode;			/* enables the test clock and /test/v1 */
	int64_t test_clock_start;	/* test clock start (epoch s); 0 = real now */
	const char *port_file;		/* write the bound port here (tests) */
	const char *issuer;		/* token `iss` */
	int64_t access_ttl_s;		/* access token lifetime */
	int64_t refresh_ttl_s;		/* refresh token sliding lifetime */
	int64_t staff_ttl_s;		/* staff token lifetime */
	int64_t hash_concurrency;	/* Argon2id hashes at once; 0 = cores */
	int64_t pwhash_opslimit;	/* 0 = libsodium INTERACTIVE */
	int64_t pwhash_memlimit;	/* bytes; 0 = libsodium INTERACTIVE */
	const char *countries;		/* where Hearth sells (until the catalog) */
	int64_t signin_fail_limit;	/* failures per account before backoff */
	int64_t signin_ip_fail_limit;	/* failures per IP before backoff */
	int64_t throttle_window_s;	/* how long failures are remembered */
	int64_t pin_fail_limit;		/* wrong profile PINs before backoff */
	int64_t reset_email_limit;	/* password-reset requests per email per hour */
	int64_t reset_ip_limit;		/* password-reset requests per client IP per hour */
	int64_t revocation_cache_ms;	/* max staleness of the revocation cache */
	int64_t account_cache_ms;	/* max staleness of the account cache (other processes' changes) */
	int64_t last_use_flush_ms;	/* how often recorded last uses of sign-ins are written */
	int64_t billing_interval_s;	/* billing run every so often; 0 = off */
	int64_t billing_batch;		/* subscriptions per billing-run transaction */
	int64_t billing_cache_mb;	/* page cache of the billing thread's connection */
	const char *dunning_retry_days;	/* "1,3,5,7": retries after a failed renewal */
	int64_t dunning_hold_days;	/* on hold this long, then ended */
	const char *supervisor_money_limits; /* "USD 50.00,JPY 7500": most a supervisor refunds or grants */
	int64_t device_code_ttl_s;	/* device login: how long a code lives (expires_in) */
	int64_t device_poll_interval_s;	/* device login: the polling interval given out */
	int64_t user_code_fail_limit;	/* wrong user codes per member before backoff */
	int64_t user_code_ip_fail_limit; /* wrong user codes per client IP before backoff */
	int64_t device_code_max_failures; /* wrong confirmations that lock a code */
	const char *verification_uri;	/* the device page's public URL; "" = issuer + /device */
	bool cookie_secure;		/* mark the device page's cookie Secure (TLS) */
	/* households (docs/households.md) */
	int64_t household_v4_prefix;
	int64_t household_v6_prefix;
	int64_t household_window_days;
	int64_t household_move_limit;
	int64_t household_move_period_days;
	int64_t household_code_ttl_s;
	int64_t household_code_attempts;
	int64_t household_code_resend_s;
	int64_t household_code_sends;
	int64_t verification_fail_limit;
	int64_t verification_ip_fail_limit;
	int64_t travel_days;
	int64_t travel_grants;
	int64_t travel_period_days;
	const char *household_enforcement;
	const char *household_unset;
	const char *household_policy;
	int64_t stream_heartbeat_timeout_s;
	bool sightings_off;
	int64_t sighting_flush_ms;
	int64_t sighting_retention_days;
	int64_t playback_retention_days;
	int64_t events_retention_days;	/* 0: forever */
	int64_t notify_interval_ms;	/* 0: another process delivers notifications */
	int64_t sharing_window_days;
	int64_t sharing_regular_days;
	int64_t extra_member_invite_ttl_s;
	int64_t household_cache_ms;
};

enum config_result { CONFIG_OK, CONFIG_EXIT_OK, CONFIG_USAGE };

/* Fill `c` with defaults, then environment, then `argv` flags.  `--help`
 * prints the table to `out` and returns CONFIG_EXIT_OK; a bad flag or value
 * prints a message to `err` and returns CONFIG_USAGE.  Strings point into
 * argv, the environment or static storage. */
enum config_result config_load(struct config *c, int argc, char **argv, FILE *out, FILE *err);

/* The defaults alone (for tests and tools). */
void config_defaults(struct config *c);

#endif
