/* core/config: defaults, environment, flags, usage errors and --help. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "tests/unit.h"

/* Every environment variable hearthd reads; --help must list them all. */
static const char *const env_names[] = {
	"HEARTH_DB", "HEARTH_DB_SYNC", "HEARTH_DB_CHECKPOINT_MS", "HEARTH_LISTEN", "HEARTH_THREADS",
	"HEARTH_MAX_CONNECTIONS", "HEARTH_MAX_CONNECTIONS_PER_IP", "HEARTH_CONNECTION_TIMEOUT",
	"HEARTH_BODY_LIMIT", "HEARTH_KEY_FILE", "HEARTH_TRUSTED_PROXIES", "HEARTH_LOG_LEVEL",
	"HEARTH_TEST_MODE", "HEARTH_TEST_CLOCK_START", "HEARTH_PORT_FILE", "HEARTH_ISSUER",
	"HEARTH_ACCESS_TTL", "HEARTH_REFRESH_TTL", "HEARTH_STAFF_TTL", "HEARTH_HASH_CONCURRENCY",
	"HEARTH_PWHASH_OPSLIMIT", "HEARTH_PWHASH_MEMLIMIT", "HEARTH_COUNTRIES",
	"HEARTH_SIGNIN_FAIL_LIMIT", "HEARTH_SIGNIN_IP_FAIL_LIMIT", "HEARTH_THROTTLE_WINDOW",
	"HEARTH_REVOCATION_CACHE_MS", "HEARTH_ACCOUNT_CACHE_MS", "HEARTH_LAST_USE_FLUSH_MS",
	"HEARTH_PIN_FAIL_LIMIT",
	"HEARTH_RESET_EMAIL_LIMIT",
	"HEARTH_RESET_IP_LIMIT",
	"HEARTH_DEVICE_CODE_TTL", "HEARTH_DEVICE_POLL_INTERVAL", "HEARTH_USER_CODE_FAIL_LIMIT",
	"HEARTH_USER_CODE_IP_FAIL_LIMIT", "HEARTH_DEVICE_CODE_MAX_FAILURES", "HEARTH_VERIFICATION_URI",
	"HEARTH_COOKIE_SECURE",
	/* households */
	"HEARTH_HOUSEHOLD_V4_PREFIX", "HEARTH_HOUSEHOLD_V6_PREFIX", "HEARTH_HOUSEHOLD_WINDOW_DAYS", "HEARTH_HOUSEHOLD_MOVE_LIMIT", "HEARTH_HOUSEHOLD_MOVE_PERIOD_DAYS", "HEARTH_HOUSEHOLD_CODE_TTL", "HEARTH_HOUSEHOLD_CODE_ATTEMPTS", "HEARTH_HOUSEHOLD_CODE_RESEND_INTERVAL", "HEARTH_HOUSEHOLD_CODE_SENDS", "HEARTH_VERIFICATION_FAIL_LIMIT", "HEARTH_VERIFICATION_IP_FAIL_LIMIT", "HEARTH_TRAVEL_DAYS", "HEARTH_TRAVEL_GRANTS", "HEARTH_TRAVEL_PERIOD_DAYS", "HEARTH_HOUSEHOLD_ENFORCEMENT", "HEARTH_HOUSEHOLD_UNSET", "HEARTH_HOUSEHOLD_POLICY", "HEARTH_STREAM_HEARTBEAT_TIMEOUT", "HEARTH_SIGHTINGS_OFF", "HEARTH_SIGHTING_FLUSH_MS", "HEARTH_SIGHTING_RETENTION_DAYS", "HEARTH_PLAYBACK_RETENTION_DAYS", "HEARTH_EVENTS_RETENTION_DAYS", "HEARTH_NOTIFY_INTERVAL_MS", "HEARTH_SHARING_WINDOW_DAYS", "HEARTH_SHARING_REGULAR_DAYS", "HEARTH_EXTRA_MEMBER_INVITE_TTL", "HEARTH_HOUSEHOLD_CACHE_MS",
	/* billing renewals */
	"HEARTH_BILLING_INTERVAL", "HEARTH_BILLING_BATCH", "HEARTH_BILLING_CACHE_MB", "HEARTH_DUNNING_RETRY_DAYS",
	"HEARTH_DUNNING_HOLD_DAYS", "HEARTH_SUPERVISOR_MONEY_LIMITS",
};

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static FILE *out_f, *err_f;

/* Each test starts from a clean environment, whatever the shell had set. */
static void setup(void)
{
	for (int i = 0; i < N(env_names); i++)
		unsetenv(env_names[i]);
	out_f = tmpfile();
	err_f = tmpfile();
	ck_assert_ptr_nonnull(out_f);
	ck_assert_ptr_nonnull(err_f);
}

static void teardown(void)
{
	fclose(out_f);
	fclose(err_f);
}

/* The whole of a tmpfile as a string (caller frees). */
static char *slurp(FILE *f)
{
	ck_assert_int_eq(fflush(f), 0);
	long n = ftell(f);
	ck_assert_int_ge(n, 0);
	char *s = calloc(1, (size_t)n + 1);
	ck_assert_ptr_nonnull(s);
	rewind(f);
	ck_assert_uint_eq(fread(s, 1, (size_t)n, f), (size_t)n);
	return s;
}

static enum config_result load(struct config *c, int argc, const char **argv)
{
	return config_load(c, argc, (char **)(void *)argv, out_f, err_f);
}

START_TEST(defaults_are_the_documented_ones)
{
	struct config c;
	config_defaults(&c);
	ck_assert_str_eq(c.db_path, "./hearth.db");
	ck_assert_str_eq(c.db_sync, "full");
	ck_assert_str_eq(c.listen, "127.0.0.1:8080");
	ck_assert_int_eq(c.threads, 0);
	ck_assert_int_eq(c.max_connections, 1024);
	ck_assert_int_eq(c.max_connections_per_ip, 64);
	ck_assert_int_eq(c.connection_timeout_s, 30);
	ck_assert_int_eq(c.body_limit, 65536);
	ck_assert_str_eq(c.key_file, "./hearth.keys");
	ck_assert_str_eq(c.trusted_proxies, "");
	ck_assert_str_eq(c.log_level, "info");
	ck_assert(!c.test_mode);
	ck_assert_int_eq(c.test_clock_start, 0);
	ck_assert_str_eq(c.port_file, "");
	ck_assert_str_eq(c.issuer, "https://hearth.example");
	ck_assert_int_eq(c.access_ttl_s, 900);
	ck_assert_int_eq(c.refresh_ttl_s, 2592000);
	ck_assert_int_eq(c.staff_ttl_s, 28800);
	ck_assert_int_eq(c.hash_concurrency, 0);
	ck_assert_int_eq(c.pwhash_opslimit, 0);
	ck_assert_int_eq(c.pwhash_memlimit, 0);
	ck_assert_str_eq(c.countries, "US,CA,MX,BR,GB,DE,FR,ES,IN,JP,KR,AU,KW");
	ck_assert_int_eq(c.signin_fail_limit, 5);
	ck_assert_int_eq(c.signin_ip_fail_limit, 20);
	ck_assert_int_eq(c.throttle_window_s, 900);
	ck_assert_int_eq(c.revocation_cache_ms, 1000);
	ck_assert_int_eq(c.account_cache_ms, 1000);
	ck_assert_int_eq(c.last_use_flush_ms, 5000);
	ck_assert_int_eq(c.device_code_ttl_s, 600);
	ck_assert_int_eq(c.device_poll_interval_s, 5);
	ck_assert_int_eq(c.user_code_fail_limit, 5);
	ck_assert_int_eq(c.user_code_ip_fail_limit, 20);
	ck_assert_int_eq(c.device_code_max_failures, 5);
	ck_assert_str_eq(c.verification_uri, "");
	ck_assert(!c.cookie_secure);
}
END_TEST

START_TEST(load_without_env_or_flags_gives_defaults)
{
	struct config c, d;
	const char *argv[] = {"hearthd", NULL};
	ck_assert_int_eq(load(&c, 1, argv), CONFIG_OK);
	config_defaults(&d);
	ck_assert_str_eq(c.db_path, d.db_path);
	ck_assert_int_eq(c.body_limit, d.body_limit);
	ck_assert_int_eq(c.test_mode, d.test_mode);
	char *err = slurp(err_f);
	ck_assert_str_eq(err, "");
	free(err);
}
END_TEST

START_TEST(env_overrides_default)
{
	struct config c;
	const char *argv[] = {"hearthd", NULL};
	setenv("HEARTH_DB", "/var/lib/hearth/env.db", 1);
	setenv("HEARTH_BODY_LIMIT", "2048", 1);
	setenv("HEARTH_TEST_MODE", "yes", 1);
	setenv("HEARTH_TEST_CLOCK_START", "32503680000", 1);
	ck_assert_int_eq(load(&c, 1, argv), CONFIG_OK);
	ck_assert_str_eq(c.db_path, "/var/lib/hearth/env.db");
	ck_assert_int_eq(c.body_limit, 2048);
	ck_assert(c.test_mode);
	ck_assert_int_eq(c.test_clock_start, 32503680000);
	ck_assert_str_eq(c.listen, "127.0.0.1:8080"); /* untouched rows keep defaults */
}
END_TEST

START_TEST(flag_overrides_env)
{
	struct config c;
	const char *argv[] = {"hearthd", "--db", "/tmp/flag.db", "--body-limit=4096",
			      "--test-mode=false", NULL};
	setenv("HEARTH_DB", "/var/lib/hearth/env.db", 1);
	setenv("HEARTH_BODY_LIMIT", "2048", 1);
	setenv("HEARTH_TEST_MODE", "true", 1);
	setenv("HEARTH_THREADS", "8", 1);
	ck_assert_int_eq(load(&c, 5, argv), CONFIG_OK);
	ck_assert_str_eq(c.db_path, "/tmp/flag.db");
	ck_assert_int_eq(c.body_limit, 4096);
	ck_assert(!c.test_mode);
	ck_assert_int_eq(c.threads, 8); /* env still applies where no flag was given */
}
END_TEST

START_TEST(flag_equals_and_flag_space_forms)
{
	struct config c;
	const char *argv[] = {"hearthd", "--listen=0.0.0.0:9000", "--threads", "16",
			      "--db-sync", "normal", "--trusted-proxies=10.0.0.0/8,::1",
			      "--issuer=https://a.example/x=y", "--test-mode", "--port-file", "", NULL};
	ck_assert_int_eq(load(&c, 11, argv), CONFIG_OK);
	ck_assert_str_eq(c.listen, "0.0.0.0:9000");
	ck_assert_int_eq(c.threads, 16);
	ck_assert_str_eq(c.db_sync, "normal");
	ck_assert_str_eq(c.trusted_proxies, "10.0.0.0/8,::1");
	ck_assert_str_eq(c.issuer, "https://a.example/x=y"); /* only the first '=' splits */
	ck_assert(c.test_mode); /* a bare boolean flag means true */
	ck_assert_str_eq(c.port_file, "");
}
END_TEST

START_TEST(later_flag_wins)
{
	struct config c;
	const char *argv[] = {"hearthd", "--threads=2", "--threads", "3", NULL};
	ck_assert_int_eq(load(&c, 4, argv), CONFIG_OK);
	ck_assert_int_eq(c.threads, 3);
}
END_TEST

START_TEST(range_edges_are_accepted)
{
	struct config c;
	const char *argv[] = {"hearthd", "--body-limit=1024", "--max-connections=65536",
			      "--pwhash-memlimit=4294967296", "--revocation-cache-ms=0", NULL};
	ck_assert_int_eq(load(&c, 5, argv), CONFIG_OK);
	ck_assert_int_eq(c.body_limit, 1024);
	ck_assert_int_eq(c.max_connections, 65536);
	ck_assert_int_eq(c.pwhash_memlimit, 4294967296);
	ck_assert_int_eq(c.revocation_cache_ms, 0);
}
END_TEST

static const struct {
	const char *args[3]; /* after argv[0]; NULL-terminated */
	const char *err_has; /* text the message to `err` must contain */
} usage_cases[] = {
	{{"--threads=abc", NULL}, "--threads"},
	{{"--threads=12x", NULL}, "--threads"},
	{{"--threads=", NULL}, "--threads"},
	{{"--threads=1.5", NULL}, "--threads"},
	{{"--threads=257", NULL}, "--threads"},
	{{"--threads=-1", NULL}, "--threads"},
	{{"--body-limit=1023", NULL}, "--body-limit"},
	{{"--body-limit", "16777217"}, "--body-limit"},
	{{"--max-connections=0", NULL}, "--max-connections"},
	{{"--test-clock-start=99999999999999999999", NULL}, "--test-clock-start"},
	{{"--test-mode=maybe", NULL}, "--test-mode"},
	{{"--nope", NULL}, "--nope"},
	{{"--nope=1", NULL}, "--nope"},
	{{"--d", NULL}, "--d"},		/* no prefix matching */
	{{"--DB=x", NULL}, "--DB=x"},
	{{"-d", NULL}, "-d"},
	{{"stray", NULL}, "stray"},
	{{"--db", NULL}, "--db"},		/* value missing */
	{{"--threads", NULL}, "--threads"},
};

START_TEST(bad_flag_is_usage_error_with_a_message)
{
	struct config c;
	const char *argv[5] = {"hearthd", NULL, NULL, NULL, NULL};
	int argc = 1;
	for (int i = 0; i < 3 && usage_cases[_i].args[i]; i++)
		argv[argc++] = usage_cases[_i].args[i];
	ck_assert_int_eq(load(&c, argc, argv), CONFIG_USAGE);
	char *err = slurp(err_f);
	char *out = slurp(out_f);
	ck_assert_msg(strstr(err, usage_cases[_i].err_has) != NULL, "message \"%s\" lacks \"%s\"", err,
		      usage_cases[_i].err_has);
	ck_assert_str_eq(out, "");
	free(err);
	free(out);
}
END_TEST

static const struct {
	const char *env;
	const char *value;
} bad_env[] = {
	{"HEARTH_THREADS", "many"},
	{"HEARTH_THREADS", "1000"},
	{"HEARTH_BODY_LIMIT", "12"},
	{"HEARTH_TEST_MODE", "sometimes"},
	{"HEARTH_ACCESS_TTL", ""},
	{"HEARTH_REVOCATION_CACHE_MS", "-5"},
	{"HEARTH_ACCOUNT_CACHE_MS", "60001"},
	{"HEARTH_LAST_USE_FLUSH_MS", "99"},
	{"HEARTH_THREADS", " 4"},
	{"HEARTH_THREADS", "+4"},
};

START_TEST(bad_env_value_is_usage_error)
{
	struct config c;
	const char *argv[] = {"hearthd", NULL};
	setenv(bad_env[_i].env, bad_env[_i].value, 1);
	ck_assert_int_eq(load(&c, 1, argv), CONFIG_USAGE);
	char *err = slurp(err_f);
	ck_assert_msg(err[0] != '\0', "no message for %s=%s", bad_env[_i].env, bad_env[_i].value);
	free(err);
}
END_TEST

START_TEST(bad_env_is_not_rescued_by_a_flag)
{
	/* The environment is read before the flags; a broken value is still an error. */
	struct config c;
	const char *argv[] = {"hearthd", "--threads=4", NULL};
	setenv("HEARTH_THREADS", "lots", 1);
	ck_assert_int_eq(load(&c, 2, argv), CONFIG_USAGE);
}
END_TEST

START_TEST(help_exits_ok_and_lists_every_env_var)
{
	static const char *const forms[] = {"--help", "-h"};
	for (size_t f = 0; f < 2; f++) {
		struct config c;
		const char *argv[] = {"hearthd", "--threads=2", forms[f], "--nope", NULL};
		FILE *o = tmpfile();
		ck_assert_ptr_nonnull(o);
		ck_assert_int_eq(config_load(&c, 4, (char **)(void *)argv, o, err_f), CONFIG_EXIT_OK);
		char *text = slurp(o);
		fclose(o);
		ck_assert_ptr_nonnull(strstr(text, "Usage: hearthd"));
		for (int i = 0; i < N(env_names); i++)
			ck_assert_msg(strstr(text, env_names[i]) != NULL, "--help does not list %s",
				      env_names[i]);
		ck_assert_ptr_nonnull(strstr(text, "--db-sync"));
		ck_assert_ptr_nonnull(strstr(text, "--revocation-cache-ms"));
		ck_assert_ptr_nonnull(strstr(text, "--help"));
		free(text);
	}
	char *err = slurp(err_f);
	ck_assert_str_eq(err, "");
	free(err);
}
END_TEST

START_TEST(help_lists_no_env_var_the_table_lacks)
{
	/* Every HEARTH_ name in --help is one this suite knows, so the list above
	 * and the option table stay the same set. */
	struct config c;
	const char *argv[] = {"hearthd", "--help", NULL};
	ck_assert_int_eq(load(&c, 2, argv), CONFIG_EXIT_OK);
	char *text = slurp(out_f);
	int seen = 0;
	for (const char *p = strstr(text, "HEARTH_"); p; p = strstr(p + 1, "HEARTH_")) {
		size_t len = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789");
		bool known = false;
		for (int i = 0; i < N(env_names) && !known; i++)
			known = strlen(env_names[i]) == len && strncmp(env_names[i], p, len) == 0;
		ck_assert_msg(known, "--help lists unknown %.*s", (int)len, p);
		seen++;
		p += len - 1;
	}
	ck_assert_int_eq(seen, N(env_names));
	free(text);
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, defaults_are_the_documented_ones);
	tcase_add_test(tc, load_without_env_or_flags_gives_defaults);
	tcase_add_test(tc, env_overrides_default);
	tcase_add_test(tc, flag_overrides_env);
	tcase_add_test(tc, flag_equals_and_flag_space_forms);
	tcase_add_test(tc, later_flag_wins);
	tcase_add_test(tc, range_edges_are_accepted);
	tcase_add_loop_test(tc, bad_flag_is_usage_error_with_a_message, 0, N(usage_cases));
	tcase_add_loop_test(tc, bad_env_value_is_usage_error, 0, N(bad_env));
	tcase_add_test(tc, bad_env_is_not_rescued_by_a_flag);
	tcase_add_test(tc, help_exits_ok_and_lists_every_env_var);
	tcase_add_test(tc, help_lists_no_env_var_the_table_lacks);
	suite_add_tcase(s, tc);
	return s;
}

int main(void) { return unit_run(config_suite()); }
