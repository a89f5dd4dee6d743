/*
 * hearthd - the Hearth service.  The composition root: read the
 * configuration, open and migrate the database, register every area's
 * routes, serve until SIGTERM or SIGINT, then drain and stop.
 */
#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "accounts/accounts.h"
#include "admin/admin.h"
#include "auth/auth.h"
#include "billing/billing.h"
#include "billing/renewal.h"
#include "core/batch.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/db.h"
#include "core/events.h"
#include "core/log.h"
#include "core/migrate.h"
#include "core/notify.h"
#include "households/households.h"
#include "server/server.h"

static int write_port_file(const char *path, unsigned port)
{
	char tmp[4096];
	int n = snprintf(tmp, sizeof tmp, "%s.tmp", path);
	if (n < 0 || (size_t)n >= sizeof tmp)
		return -1;
	FILE *f = fopen(tmp, "w");
	if (!f)
		return -1;
	fprintf(f, "%u\n", port);
	if (fclose(f) != 0)
		return -1;
	return rename(tmp, path);
}

static int prepare_database(const struct config *cfg)
{
	struct db_options o;
	struct db *db = NULL;
	db_options_init(&o);
	o.path = cfg->db_path;
	o.checkpoint_ms = (int)cfg->db_checkpoint_ms;
	if (db_parse_sync(cfg->db_sync, &o.sync) != 0) {
		fprintf(stderr, "hearthd: --db-sync takes full or normal, not '%s'\n", cfg->db_sync);
		return 2;
	}
	if (db_configure(&o) != ERR_OK || db_open(&o, &db) != ERR_OK) {
		fprintf(stderr, "hearthd: cannot open the database %s\n", cfg->db_path);
		return 1;
	}
	int applied = 0;
	enum err e = migrate_apply(db, &applied);
	/* On first start the embedded default catalog is loaded. */
	enum err catalog = e == ERR_OK ? bill_catalog_ensure(db, NULL) : ERR_OK;
	/* Billing runs a dead process left 'running' will never finish: say
	 * so (the next run renews what they did not).  Not fatal. */
	int64_t interrupted = 0;
	enum err ie = e == ERR_OK ? bill_run_mark_interrupted(db, &interrupted) : ERR_OK;
	if (ie != ERR_OK)
		log_error("billing.mark_interrupted_failed", "error=%s", err_name(ie));
	else if (interrupted > 0)
		log_warn("billing.runs_interrupted", "count=%lld", (long long)interrupted);
	db_close(db);
	if (e == ERR_SCHEMA_TOO_NEW) {
		fprintf(stderr, "hearthd: the database %s has a newer schema than this hearthd knows;"
				" run a newer hearthd (refusing to start so nothing is damaged)\n",
			cfg->db_path);
		return 1;
	}
	if (e != ERR_OK) {
		fprintf(stderr, "hearthd: migrating %s failed (%s)\n", cfg->db_path, err_name(e));
		return 1;
	}
	if (catalog != ERR_OK) {
		fprintf(stderr, "hearthd: loading the default catalog failed (%s)\n", err_name(catalog));
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct config cfg;
	switch (config_load(&cfg, argc, argv, stdout, stderr)) {
	case CONFIG_EXIT_OK:
		return 0;
	case CONFIG_USAGE:
		return 2;
	case CONFIG_OK:
		break;
	}
	enum log_level level;
	if (log_parse_level(cfg.log_level, &level) != 0) {
		fprintf(stderr, "hearthd: --log-level takes debug, info, warn or error\n");
		return 2;
	}
	log_set_level(level);
	/* The database holds personal data and the key file signing keys:
	 * whatever hearthd creates is readable by its own user only. */
	umask(077);
	if (sodium_init() < 0) {
		fprintf(stderr, "hearthd: libsodium failed to initialise\n");
		return 1;
	}
	if (cfg.test_mode) {
		clock_use_test(cfg.test_clock_start ? cfg.test_clock_start : clock_now());
		log_warn("server.test_mode", "note=\"test clock and /test/v1 routes are enabled\"");
	} else if (cfg.test_clock_start) {
		fprintf(stderr, "hearthd: --test-clock-start needs --test-mode\n");
		return 2;
	}
	/* Signals are taken synchronously by the main thread only: block them
	 * before any thread starts so every thread inherits the mask (the
	 * database's checkpoint thread starts with the database; a SIGTERM
	 * delivered to a thread without the mask killed hearthd outright
	 * instead of stopping it gently).  One sent while the database is
	 * prepared waits, and stops hearthd as soon as it is up. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	int rc = prepare_database(&cfg);
	if (rc != 0)
		return rc;
	/* From here a failure stops what started, in the reverse order, from
	 * its label on; rc is the exit status (2: a setting is malformed). */
	struct server *srv = NULL;
	uint16_t port = 0;
	int drain_ms = 0;
	rc = 1;
	if (auth_init(&cfg) != ERR_OK) {
		fprintf(stderr, "hearthd: cannot set up sign-in (key file %s or password settings);"
				" the log above says why\n", cfg.key_file);
		goto out_db;
	}
	rc = 2;
	if (acct_init(&cfg) != ERR_OK) {
		fprintf(stderr, "hearthd: --countries must be comma-separated ISO 3166-1 alpha-2 codes\n");
		goto out_auth;
	}
	struct bill_dunning_settings dunning;
	bill_dunning_defaults(&dunning);
	dunning.hold_s = cfg.dunning_hold_days * 86400;
	if (bill_dunning_parse_days(cfg.dunning_retry_days, &dunning) != ERR_OK) {
		fprintf(stderr, "hearthd: --dunning-retry-days takes increasing whole days from 1 to 60,"
				" comma-separated (\"1,3,5,7\"), not '%s'\n", cfg.dunning_retry_days);
		goto out_auth;
	}
	bill_dunning_configure(&dunning);
	if (bill_staff_limits_configure(cfg.supervisor_money_limits) != ERR_OK) {
		fprintf(stderr, "hearthd: --supervisor-money-limits takes \"CUR amount\" items separated by"
				" commas (\"USD 50.00,JPY 7500\"), not '%s'\n", cfg.supervisor_money_limits);
		goto out_auth;
	}

	/* After the mask: the group-commit writer (core/batch.h) that write
	 * requests share, and hh_init's sightings writer thread. */
	rc = 1;
	if (batch_start(NULL) != ERR_OK) {
		fprintf(stderr, "hearthd: cannot start the database writer thread\n");
		goto out_auth;
	}
	if (hh_init(&cfg) != ERR_OK) {
		fprintf(stderr, "hearthd: a household setting is malformed; the log above says which\n");
		batch_stop(); /* hh_init stopped what it had started */
		rc = 2;
		goto out_auth;
	}
	if (auth_last_use_start(cfg.last_use_flush_ms) != ERR_OK) {
		fprintf(stderr, "hearthd: cannot start the last-use writer thread\n");
		goto out_batch;
	}

	server_register_core_routes();
	auth_http_register();
	accounts_http_register();
	billing_http_register();
	households_http_register();
	/* The staff area: admin routes and the staff resolver of auth. */
	admin_init(&cfg);
	admin_http_register();
	billing_admin_http_register();

	if (bill_scheduler_start(cfg.billing_interval_s, (int)cfg.billing_batch, cfg.billing_cache_mb) != ERR_OK) {
		fprintf(stderr, "hearthd: cannot start the billing thread\n");
		goto out_batch;
	}
	if (events_retention_start(cfg.events_retention_days, 60000) != ERR_OK) {
		fprintf(stderr, "hearthd: cannot start the events retention thread\n");
		goto out_scheduler;
	}
	if (notify_delivery_start(cfg.notify_interval_ms, NULL) != ERR_OK) {
		fprintf(stderr, "hearthd: cannot start the notification delivery thread\n");
		goto out_events;
	}
	if (server_start(&cfg, &srv, &port) != ERR_OK) {
		fprintf(stderr, "hearthd: cannot listen on %s\n", cfg.listen);
		goto out_notify;
	}
	if (cfg.port_file[0] && write_port_file(cfg.port_file, port) != 0) {
		fprintf(stderr, "hearthd: cannot write %s: %s\n", cfg.port_file, strerror(errno));
		goto out_server;
	}
	int sig = 0;
	sigwait(&set, &sig);
	log_info("server.stopping", "signal=%s", sig == SIGTERM ? "TERM" : "INT");
	drain_ms = 30000;
	rc = 0;
out_server:
	server_shutdown(srv, drain_ms);
out_notify:
	notify_delivery_stop();
out_events:
	events_retention_stop();
out_scheduler:
	bill_scheduler_stop();
out_batch:
	/* After the server, whose deferred replies wait for the writer. */
	batch_stop();
	/* After the server: the last sightings counted are written. */
	hh_shutdown();
out_auth:
	auth_shutdown();
out_db:
	db_close_all();
	if (rc == 0)
		log_info("server.stopped", "%s", "");
	return rc;
}
