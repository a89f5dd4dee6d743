/*
 * hearthctl billing run, refunds create, credits grant, catalog import: the
 * staff side of billing, through /admin/v1 (docs/api/renewals.yaml).
 *
 * Amounts are typed the way people write them, in the currency's major
 * unit ("5.00" USD, "500" JPY, "1.250" KWD), and sent as integer minor
 * units; money_parse() refuses what the currency cannot hold.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli_int.h"
#include "core/clock.h"
#include "core/money.h"

static const char *money_text(const json_t *m, char *buf, size_t cap)
{
	struct money x;
	const char *display = json_string_value(json_object_get(m, "display"));
	if (display && *display)
		return display;
	if (money_init(&x, json_integer_value(json_object_get(m, "amount")),
		       json_string_value(json_object_get(m, "currency"))) != ERR_OK ||
	    money_format(&x, buf, cap) != ERR_OK)
		snprintf(buf, cap, "?");
	return buf;
}

static long long int_of(const json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

/* ---- billing run ---- */

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static bool run_finished(const json_t *run)
{
	const char *st = ctl_str(run, "status");
	return strcmp(st, "succeeded") == 0 || strcmp(st, "failed") == 0 || strcmp(st, "interrupted") == 0;
}

/* One progress line, rewritten in place on a terminal. */
static void print_progress(const json_t *run, double rate)
{
	long long processed = int_of(run, "processed"), total = int_of(run, "total");
	if (total < processed)
		total = processed;
	fprintf(stdout, "\r  %lld/%lld processed  %.0f/s  %lld failed  %lld errors   ", processed, total, rate,
		int_of(run, "failed"), int_of(run, "errors"));
	fflush(stdout);
}

static void print_summary(struct ctl *ctl, const json_t *run, double seconds)
{
	bool ok = strcmp(ctl_str(run, "status"), "succeeded") == 0;
	printf("Billing run %s %s in %.1f s: %lld processed, %lld renewed, %lld failed (declined), "
	       "%lld recovered, %lld ended, %lld errors.\n",
	       ctl_str(run, "id"), ctl_paint(ctl->color, ok ? "32" : "31", ctl_str(run, "status"), 0), seconds,
	       int_of(run, "processed"), int_of(run, "renewed"), int_of(run, "failed"), int_of(run, "recovered"),
	       int_of(run, "ended"), int_of(run, "errors"));
	if (!ok && ctl_str(run, "error")[0])
		printf("  stopped by: %s (what committed stays; a new run continues)\n", ctl_str(run, "error"));
}

static const char *const run_valued[] = {"--until", NULL};

int cmd_billing_run(struct ctl *ctl, int argc, char **argv)
{
	json_t *run = NULL;
	char path[128];
	if (!ctl_check_args(argc, argv, run_valued, NULL, 0, 0, NULL))
		return ctl_usage_error("billing run", "bad arguments");
	const char *until = ctl_opt(argc, argv, "--until");
	int64_t t = 0;
	if (until && clock_parse(until, &t) != ERR_OK)
		return ctl_usage_error("billing run", "--until takes an RFC 3339 time (2027-03-01T00:00:00Z)");
	json_t *body = until ? json_pack("{s:s}", "until", until) : json_object();
	int rc = ctl_api(ctl, "POST", "/admin/v1/billing-runs", body, CTL_REQ_CHANGE, &run);
	if (rc != CTL_OK)
		return rc;
	char *id = strdup(ctl_str(run, "id"));
	json_decref(run);
	run = NULL;
	if (!id)
		return CTL_FAILURE;
	snprintf(path, sizeof path, "/admin/v1/billing-runs/%s", id);
	free(id);
	bool live = !ctl->json && isatty(STDOUT_FILENO);
	int64_t t0 = clock_mono_ms(), last_ms = t0;
	long long last_processed = 0;
	double rate = 0;
	for (;;) {
		rc = ctl_api(ctl, "GET", path, NULL, 0, &run);
		if (rc != CTL_OK)
			return rc;
		int64_t now = clock_mono_ms();
		long long processed = int_of(run, "processed");
		if (now > last_ms && processed > last_processed) {
			rate = (double)(processed - last_processed) * 1000.0 / (double)(now - last_ms);
			last_ms = now;
			last_processed = processed;
		}
		if (run_finished(run))
			break;
		if (live)
			print_progress(run, rate);
		json_decref(run);
		run = NULL;
		sleep_ms(live ? 250 : 500);
	}
	double seconds = (double)(clock_mono_ms() - t0) / 1000.0;
	if (live)
		printf("\n");
	if (ctl->json)
		ctl_print_json(run);
	else
		print_summary(ctl, run, seconds);
	rc = strcmp(ctl_str(run, "status"), "succeeded") == 0 ? CTL_OK : CTL_FAILURE;
	json_decref(run);
	return rc;
}

/* One row of `billing runs`: an interrupted run is what staff look for here. */
static void add_run_row(struct ctl_table *t, const json_t *run)
{
	char renewed[48];
	snprintf(renewed, sizeof renewed, "%lld/%lld", int_of(run, "renewed"), int_of(run, "processed"));
	const char *row[] = {ctl_str(run, "id"), ctl_str(run, "started_by"), ctl_str(run, "status"),
			     ctl_str(run, "created_at"), ctl_str(run, "finished_at"), renewed, ctl_str(run, "error")};
	ctl_table_row(t, row);
}

int cmd_billing_runs(struct ctl *ctl, int argc, char **argv)
{
	static const char *const titles[] = {"ID", "STARTED BY", "STATUS", "CREATED", "FINISHED",
					     "RENEWED/PROCESSED", "ERROR"};
	json_t *page = NULL;
	if (!ctl_check_args(argc, argv, NULL, NULL, 0, 0, NULL))
		return ctl_usage_error("billing runs", "bad arguments");
	int rc = ctl_api(ctl, "GET", "/admin/v1/billing-runs", NULL, 0, &page);
	if (rc == CTL_OK)
		ctl_print_rows(ctl, json_object_get(page, "data"), 7, titles, add_run_row);
	json_decref(page);
	return rc;
}

/* ---- refunds ---- */

static const char *const refund_valued[] = {"--amount", NULL};

int cmd_refunds_create(struct ctl *ctl, int argc, char **argv)
{
	const char *pos[1] = {NULL};
	char path[200], a[MONEY_FORMAT_MAX], b[MONEY_FORMAT_MAX], c[MONEY_FORMAT_MAX];
	json_t *inv = NULL, *out = NULL;
	if (!ctl_check_args(argc, argv, refund_valued, NULL, 1, 1, pos) || strlen(pos[0]) > 100)
		return ctl_usage_error("refunds create", "give the invoice id (inv_...)");
	char *e = ctl_escape(pos[0]);
	if (!e)
		return CTL_FAILURE;
	snprintf(path, sizeof path, "/admin/v1/invoices/%s", e);
	free(e);
	/* The invoice first: its currency reads the amount, its number the message. */
	int rc = ctl_api(ctl, "GET", path, NULL, 0, &inv);
	if (rc != CTL_OK)
		return rc;
	const char *currency = ctl_str(inv, "currency");
	json_t *body = json_object();
	const char *amount = ctl_opt(argc, argv, "--amount");
	if (amount) {
		struct money m;
		if (money_parse(amount, currency, &m) != ERR_OK || m.amount <= 0) {
			json_decref(inv);
			json_decref(body);
			return ctl_usage_error("refunds create", "--amount is a positive amount of %s such as %s",
					       currency, strcmp(currency, "JPY") == 0 ? "500" : "5.00");
		}
		json_object_set_new(body, "amount", json_pack("{s:I, s:s}", "amount", (json_int_t)m.amount,
							      "currency", m.currency));
	}
	char number[40];
	snprintf(number, sizeof number, "%s", ctl_str(inv, "number"));
	json_t *total = json_deep_copy(json_object_get(inv, "total"));
	json_decref(inv);
	snprintf(path + strlen(path), sizeof path - strlen(path), "/refunds");
	rc = ctl_api(ctl, "POST", path, body, CTL_REQ_CHANGE, &out);
	if (rc == CTL_OK) {
		if (ctl->json)
			ctl_print_json(out);
		else
			printf("Refunded %s of %s (credit note %s); %s of %s refunded in all.\n",
			       money_text(json_object_get(out, "amount"), a, sizeof a), number, ctl_str(out, "number"),
			       money_text(json_object_get(out, "refunded_total"), b, sizeof b),
			       money_text(total, c, sizeof c));
	}
	json_decref(total);
	json_decref(out);
	return rc;
}

/* ---- credits ---- */

static const char *const grant_valued[] = {"--amount", "--currency", NULL};

int cmd_credits_grant(struct ctl *ctl, int argc, char **argv)
{
	const char *pos[1] = {NULL};
	char path[200], a[MONEY_FORMAT_MAX], b[MONEY_FORMAT_MAX];
	json_t *out = NULL;
	struct money m;
	if (!ctl_check_args(argc, argv, grant_valued, NULL, 1, 1, pos) || strlen(pos[0]) > 100)
		return ctl_usage_error("credits grant", "give the account id (acc_...)");
	const char *amount = ctl_opt(argc, argv, "--amount"), *currency = ctl_opt(argc, argv, "--currency");
	if (!amount || !currency)
		return ctl_usage_error("credits grant", "--amount and --currency are required");
	if (money_parse(amount, currency, &m) != ERR_OK || m.amount <= 0)
		return ctl_usage_error("credits grant", "--amount is a positive amount of the currency (5.00 USD, 500 JPY)");
	char *e = ctl_escape(pos[0]);
	if (!e)
		return CTL_FAILURE;
	snprintf(path, sizeof path, "/admin/v1/accounts/%s/credits", e);
	free(e);
	int rc = ctl_api(ctl, "POST", path,
			 json_pack("{s:{s:I, s:s}}", "amount", "amount", (json_int_t)m.amount, "currency", m.currency),
			 CTL_REQ_CHANGE, &out);
	if (rc == CTL_OK) {
		if (ctl->json)
			ctl_print_json(out);
		else
			printf("Granted %s of credit to %s; the balance is %s.\n",
			       money_text(json_object_get(out, "granted"), a, sizeof a), ctl_str(out, "account_id"),
			       money_text(json_object_get(out, "balance"), b, sizeof b));
	}
	json_decref(out);
	return rc;
}

/* ---- catalog import ---- */

int cmd_catalog_import(struct ctl *ctl, int argc, char **argv)
{
	const char *pos[1] = {NULL};
	json_t *out = NULL;
	json_error_t jerr;
	if (!ctl_check_args(argc, argv, NULL, NULL, 1, 1, pos))
		return ctl_usage_error("catalog import", "give the catalog file (JSON)");
	json_t *doc = json_load_file(pos[0], JSON_REJECT_DUPLICATES, &jerr);
	if (!doc)
		return ctl_fail(CTL_USAGE, "%s: line %d, column %d: %s", pos[0], jerr.line, jerr.column, jerr.text);
	int rc = ctl_api(ctl, "POST", "/admin/v1/catalog", doc, CTL_REQ_CHANGE, &out);
	if (rc == CTL_OK) {
		if (ctl->json)
			ctl_print_json(out);
		else if (json_is_true(json_object_get(out, "created")))
			printf("Imported %s as catalog version %lld; it is the current catalog.\n", pos[0],
			       int_of(out, "version"));
		else
			printf("The current catalog (version %lld) is already this document; nothing changed.\n",
			       int_of(out, "version"));
	}
	json_decref(out);
	return rc;
}
