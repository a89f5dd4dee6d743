/*
 * hearthctl prices schedule: a price change for one plan in one country,
 * through POST /admin/v1/prices (admin role; audited).  The amount is typed
 * in the country's currency, which the public plan list names.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_int.h"
#include "core/clock.h"
#include "core/money.h"

static const char *const schedule_valued[] = {"--plan", "--country", "--amount", "--effective",
					      "--notice-days", "--grandfather-months", NULL};

/* A whole number option in [lo, hi]; false (printed) when malformed. */
static bool number_opt(int argc, char **argv, const char *name, long long lo, long long hi, long long *out)
{
	const char *v = ctl_opt(argc, argv, name);
	if (!v)
		return true;
	char *end = NULL;
	long long n = strtoll(v, &end, 10);
	if (!*v || !end || *end || n < lo || n > hi) {
		ctl_usage_error("prices schedule", "%s takes a whole number from %lld to %lld", name, lo, hi);
		return false;
	}
	*out = n;
	return true;
}

int cmd_prices_schedule(struct ctl *ctl, int argc, char **argv)
{
	char path[128], shown[MONEY_FORMAT_MAX];
	json_t *plans = NULL, *out = NULL;
	long long notice = 30, grandfather = 0;
	int64_t effective = 0;
	struct money m;
	if (!ctl_check_args(argc, argv, schedule_valued, NULL, 0, 0, NULL))
		return ctl_usage_error("prices schedule", "bad arguments");
	const char *plan = ctl_opt(argc, argv, "--plan"), *country = ctl_opt(argc, argv, "--country");
	const char *amount = ctl_opt(argc, argv, "--amount"), *eff = ctl_opt(argc, argv, "--effective");
	if (!plan || !country || !amount || !eff)
		return ctl_usage_error("prices schedule", "--plan, --country, --amount and --effective are required");
	if (strlen(country) != 2 || strlen(plan) > 32)
		return ctl_usage_error("prices schedule", "--country is a two-letter code (US), --plan a plan code");
	if (clock_parse(eff, &effective) != ERR_OK)
		return ctl_usage_error("prices schedule", "--effective takes an RFC 3339 time (2027-03-01T00:00:00Z)");
	if (!number_opt(argc, argv, "--notice-days", 0, 365, &notice) ||
	    !number_opt(argc, argv, "--grandfather-months", 0, 120, &grandfather))
		return CTL_USAGE;
	char cc[3] = {(char)(country[0] & ~0x20), (char)(country[1] & ~0x20), 0};
	snprintf(path, sizeof path, "/v1/plans?country=%s", cc);
	int rc = ctl_api(ctl, "GET", path, NULL, CTL_REQ_NO_AUTH, &plans);
	if (rc != CTL_OK)
		return rc;
	char currency[4];
	snprintf(currency, sizeof currency, "%s", ctl_str(plans, "currency"));
	json_decref(plans);
	if (money_parse(amount, currency, &m) != ERR_OK || m.amount < 0)
		return ctl_usage_error("prices schedule", "--amount is an amount of %s with its decimals (%s)", currency,
				       strcmp(currency, "JPY") == 0 || strcmp(currency, "KRW") == 0 ? "1690"
				       : strcmp(currency, "KWD") == 0				? "2.750"
													: "19.99");
	rc = ctl_api(ctl, "POST", "/admin/v1/prices",
		     json_pack("{s:s, s:s, s:{s:I, s:s}, s:s, s:I, s:I}", "plan", plan, "country", cc, "price",
			       "amount", (json_int_t)m.amount, "currency", m.currency, "effective_at", eff,
			       "notice_days", (json_int_t)notice, "grandfather_months", (json_int_t)grandfather),
		     CTL_REQ_CHANGE, &out);
	if (rc == CTL_OK) {
		if (ctl->json) {
			ctl_print_json(out);
		} else {
			const char *display = json_string_value(json_object_get(json_object_get(out, "price"), "display"));
			if (!display && money_format(&m, shown, sizeof shown) == ERR_OK)
				display = shown;
			printf("Scheduled %s: %s in %s at %s from %s, %lld days' notice%s.\n", ctl_str(out, "id"), plan,
			       cc, display ? display : amount, ctl_str(out, "effective_at"), notice,
			       grandfather ? ", existing members grandfathered" : "");
			if (grandfather)
				printf("  Existing members keep their price for %lld months after it takes effect.\n",
				       grandfather);
			printf("  %lld subscriber(s) notified now; each pays it from the first renewal at least %lld days"
			       " after being told.\n",
			       (long long)json_integer_value(json_object_get(out, "notified")), notice);
		}
	}
	json_decref(out);
	return rc;
}
