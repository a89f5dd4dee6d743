/*
 * test_device_flow.c - the device login flow below HTTP: user-code
 * normalisation, grant lists, device text checks, the OAuth client
 * registry (validation, conflicts, disabling, events), the user-code
 * alphabet, the polling state machine on the test clock (pending,
 * slow_down, approval, single use, denial, expiry), locking after wrong
 * confirmations, the web confirm token, and device revocation.
 */
#include <check.h>
#include <ftw.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/auth.h"
#include "auth/auth_int.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/migrate.h"
#include "tests/unit.h"

#define CLOCK_START 1800000000LL
#define ACCOUNT "acc_0000000000000000000000000000a"

static char dir[64];
static char key_path[128];
static struct config cfg;
static struct unit_db u;

static void setup(void)
{
	int applied = 0;
	ck_assert_int_ge(sodium_init(), 0);
	snprintf(dir, sizeof dir, "/tmp/hearth-dvf-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(key_path, sizeof key_path, "%s/hearth.keys", dir);
	config_defaults(&cfg);
	cfg.key_file = key_path;
	cfg.pwhash_opslimit = 1;
	cfg.pwhash_memlimit = 8192;
	clock_use_test(CLOCK_START);
	ck_assert_int_eq(auth_init(&cfg), ERR_OK);
	unit_db_open(&u);
	ck_assert_int_eq(migrate_apply(u.db, &applied), ERR_OK);
	ck_assert_int_eq(db_exec(u.db, "INSERT INTO accounts (id, email, email_norm, password_hash, country,"
				       " created_at, updated_at, password_changed_at) VALUES"
				       " ('" ACCOUNT "', 'a@example.com', 'a@example.com', 'x', 'US', 0, 0, 0)"),
			 ERR_OK);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void teardown(void)
{
	unit_db_close(&u);
	auth_shutdown();
	nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static int64_t q_int(const char *sql, const char *arg)
{
	struct db_stmt *st = NULL;
	ck_assert_int_eq(db_prepare(u.db, sql, &st), ERR_OK);
	if (arg)
		db_bind_text(st, 1, arg);
	enum err e = db_step_row(st);
	int64_t v = e == ERR_OK ? db_column_int64(st, 0) : -1;
	db_done(st);
	return v;
}

/* ---- pure functions ----------------------------------------------------- */

START_TEST(user_codes_are_normalised_as_typed)
{
	static const struct {
		const char *in;
		const char *out; /* NULL: refused */
	} cases[] = {
		{"BCDF-GHJK", "BCDFGHJK"},
		{"bcdf-ghjk", "BCDFGHJK"},
		{"BcDf GhJk", "BCDFGHJK"},
		{" bcdfghjk ", "BCDFGHJK"},
		{"B-C-D-F-G-H-J-K", "BCDFGHJK"},
		{"BCDF-GHJ", NULL},		/* too short */
		{"BCDF-GHJKL", NULL},		/* too long */
		{"BCDF-GHJA", NULL},		/* a vowel */
		{"BCDF-GHJ1", NULL},		/* a digit */
		{"BCDF_GHJK", NULL},		/* another separator */
		{"BCDF\tGHJK", NULL},
		{"", NULL},
		{"\xc3\x89" "CDF-GHJK", NULL},	/* non-ASCII */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char out[AUTH_USER_CODE_LEN + 1];
		bool ok = auth_user_code_normalize(cases[i].in, out);
		ck_assert_msg(ok == (cases[i].out != NULL), "case %zu (%s)", i, cases[i].in);
		if (ok)
			ck_assert_str_eq(out, cases[i].out);
	}
	char out[AUTH_USER_CODE_LEN + 1];
	ck_assert(!auth_user_code_normalize(NULL, out));
}
END_TEST

START_TEST(grant_lists_parse_and_format)
{
	unsigned g = 0;
	char buf[64];
	ck_assert(auth_grants_parse("device_code refresh_token", &g));
	ck_assert_uint_eq(g, AUTH_GRANT_DEVICE_CODE | AUTH_GRANT_REFRESH_TOKEN);
	ck_assert_str_eq(auth_grants_format(g, buf, sizeof buf), "device_code refresh_token");
	ck_assert(auth_grants_parse("  refresh_token  ", &g));
	ck_assert_uint_eq(g, AUTH_GRANT_REFRESH_TOKEN);
	ck_assert(auth_grants_parse("device_code", &g));
	ck_assert_str_eq(auth_grants_format(g, buf, sizeof buf), "device_code");
	ck_assert(!auth_grants_parse("", &g));
	ck_assert(!auth_grants_parse("password", &g));
	ck_assert(!auth_grants_parse("device_code passwordx", &g));
	ck_assert(!auth_grants_parse("device_cod", &g));
	ck_assert(!auth_grants_parse(NULL, &g));
}
END_TEST

START_TEST(device_text_is_bounded_utf8_without_controls)
{
	ck_assert(auth_text_ok("Living room TV", 64));
	ck_assert(auth_text_ok("T\xc3\xa9l\xc3\xa9 du salon", 64));
	ck_assert(auth_text_ok("\xe3\x83\x86\xe3\x83\xac\xe3\x83\x93", 3));
	ck_assert(!auth_text_ok("\xe3\x83\x86\xe3\x83\xac\xe3\x83\x93", 2));
	ck_assert(!auth_text_ok("", 64));
	ck_assert(!auth_text_ok(NULL, 64));
	ck_assert(!auth_text_ok("a\nb", 64));
	ck_assert(!auth_text_ok("a\x7f", 64));
	ck_assert(!auth_text_ok("\xff", 64));
	ck_assert(!auth_text_ok("\xc3", 64));
}
END_TEST

/* ---- clients ------------------------------------------------------------ */

START_TEST(the_demo_client_is_seeded)
{
	struct auth_oauth_client c;
	ck_assert_int_eq(auth_oauth_client_get(u.db, "hearth-tv-demo", &c), ERR_OK);
	ck_assert_str_eq(c.name, "Hearth TV (demo)");
	ck_assert_str_eq(c.device_type, "tv");
	ck_assert_uint_eq(c.grants, AUTH_GRANT_DEVICE_CODE | AUTH_GRANT_REFRESH_TOKEN);
	ck_assert(c.active);
	ck_assert_int_eq(auth_oauth_client_get(u.db, "nope", &c), ERR_NOT_FOUND);
	ck_assert_int_eq(auth_oauth_client_get(u.db, "Bad Id", &c), ERR_NOT_FOUND);
	ck_assert_int_eq(auth_oauth_client_get(u.db, NULL, &c), ERR_NOT_FOUND);
}
END_TEST

START_TEST(clients_are_validated_added_listed_and_disabled)
{
	struct auth_oauth_client in = {0}, out;
	const char *field = NULL;
	static const struct {
		const char *id, *name, *type;
		unsigned grants;
		const char *field;
	} bad[] = {
		{"", "X", "tv", AUTH_GRANT_DEVICE_CODE, "client_id"},
		{"-tv", "X", "tv", AUTH_GRANT_DEVICE_CODE, "client_id"},
		{"Upper", "X", "tv", AUTH_GRANT_DEVICE_CODE, "client_id"},
		{"a b", "X", "tv", AUTH_GRANT_DEVICE_CODE, "client_id"},
		{"ok-tv", "", "tv", AUTH_GRANT_DEVICE_CODE, "name"},
		{"ok-tv", "a\tb", "tv", AUTH_GRANT_DEVICE_CODE, "name"},
		{"ok-tv", "X", "toaster", AUTH_GRANT_DEVICE_CODE, "device_type"},
		{"ok-tv", "X", "tv", AUTH_GRANT_REFRESH_TOKEN, "grant_types"},
		{"ok-tv", "X", "tv", 0, "grant_types"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(in.id, sizeof in.id, "%s", bad[i].id);
		snprintf(in.name, sizeof in.name, "%s", bad[i].name);
		snprintf(in.device_type, sizeof in.device_type, "%s", bad[i].type);
		in.grants = bad[i].grants;
		ck_assert_int_eq(auth_oauth_client_add(u.db, &in, &out, &field), ERR_VALIDATION);
		ck_assert_str_eq(field, bad[i].field);
	}
	ck_assert_int_eq(q_int("SELECT COUNT(*) FROM oauth_clients", NULL), 1);

	snprintf(in.id, sizeof in.id, "acme.console-2");
	snprintf(in.name, sizeof in.name, "Acme Console");
	snprintf(in.device_type, sizeof in.device_type, "console");
	in.grants = AUTH_GRANT_DEVICE_CODE;
	ck_assert_int_eq(auth_oauth_client_add(u.db, &in, &out, &field), ERR_OK);
	ck_assert_str_eq(out.id, "acme.console-2");
	ck_assert(out.active);
	ck_assert_int_eq(out.created_at, CLOCK_START);
	ck_assert_int_eq(auth_oauth_client_add(u.db, &in, &out, &field), ERR_CONFLICT);
	ck_assert_int_eq(q_int("SELECT COUNT(*) FROM events WHERE type = 'oauth_client.created'", NULL), 1);

	struct auth_oauth_client *rows = NULL;
	size_t n = 0;
	bool more = false;
	ck_assert_int_eq(auth_oauth_clients_list(u.db, 1, NULL, &rows, &n, &more), ERR_OK);
	ck_assert_uint_eq(n, 1);
	ck_assert(more);
	ck_assert_str_eq(rows[0].id, "acme.console-2");
	free(rows);
	ck_assert_int_eq(auth_oauth_clients_list(u.db, 10, "acme.console-2", &rows, &n, &more), ERR_OK);
	ck_assert_uint_eq(n, 1);
	ck_assert(!more);
	ck_assert_str_eq(rows[0].id, "hearth-tv-demo");
	free(rows);

	clock_advance(10);
	ck_assert_int_eq(auth_oauth_client_disable(u.db, "acme.console-2", "ticket 42", &out), ERR_OK);
	ck_assert(!out.active);
	ck_assert_int_eq(out.disabled_at, CLOCK_START + 10);
	ck_assert_int_eq(auth_oauth_client_disable(u.db, "acme.console-2", "again", &out), ERR_OK);
	ck_assert_int_eq(q_int("SELECT COUNT(*) FROM events WHERE type = 'oauth_client.disabled'", NULL), 1);
	ck_assert_int_eq(auth_oauth_client_disable(u.db, "nope", "x", &out), ERR_NOT_FOUND);
}
END_TEST

/* ---- the flow ----------------------------------------------------------- */

static void authorize(struct auth_device_grant *g, const char *name)
{
	struct auth_device_request in = {"hearth-tv-demo", "hearth", name, NULL, NULL, NULL};
	ck_assert_int_eq(auth_device_authorize(u.db, &in, g), ERR_OK);
}

static enum auth_poll poll(const char *device_code, struct auth_tokens *t)
{
	enum auth_poll r = AUTH_POLL_INVALID;
	ck_assert_int_eq(auth_device_poll(u.db, "hearth-tv-demo", device_code, NULL, &r, t), ERR_OK);
	return r;
}

START_TEST(user_codes_use_the_whole_alphabet_and_nothing_else)
{
	int seen[26] = {0};
	for (int i = 0; i < 100; i++) {
		struct auth_device_grant g;
		authorize(&g, NULL);
		ck_assert_uint_eq(strlen(g.user_code), 9);
		ck_assert_int_eq(g.user_code[4], '-');
		for (int k = 0; k < 9; k++) {
			if (k == 4)
				continue;
			ck_assert_ptr_nonnull(strchr("BCDFGHJKLMNPQRSTVWXZ", g.user_code[k]));
			seen[g.user_code[k] - 'A']++;
		}
		ck_assert_uint_eq(strlen(g.device_code), 72);
		ck_assert_int_eq(g.expires_in, 600);
		ck_assert_int_eq(g.interval, 5);
	}
	/* 800 draws: every one of the 20 letters shows up (a miss is ~1e-16). */
	for (const char *p = "BCDFGHJKLMNPQRSTVWXZ"; *p; p++)
		ck_assert_int_gt(seen[*p - 'A'], 0);
	ck_assert_int_eq(q_int("SELECT COUNT(DISTINCT user_code) FROM device_authorizations", NULL), 100);
	ck_assert_int_eq(q_int("SELECT COUNT(*) FROM events WHERE type = 'device_authorization.created'", NULL), 100);
}
END_TEST

START_TEST(polling_walks_pending_slow_down_approval_and_single_use)
{
	struct auth_device_grant g;
	struct auth_tokens t;
	struct auth_device_pending p;
	authorize(&g, "Den TV");
	ck_assert_int_eq(poll(g.device_code, &t), AUTH_POLL_PENDING);
	ck_assert_int_eq(poll(g.device_code, &t), AUTH_POLL_SLOW_DOWN);
	clock_advance(9);
	ck_assert_int_eq(poll(g.device_code, &t), AUTH_POLL_SLOW_DOWN);
	clock_advance(15);
	ck_assert_int_eq(poll(g.device_code, &t), AUTH_POLL_PENDING);
	ck_assert_int_eq(auth_device_pending_get(u.db, g.user_code, &p), ERR_OK);
	ck_assert_str_eq(p.device_name, "Den TV");
	ck_assert_str_eq(p.client_name, "Hearth TV (demo)");
	ck_assert_int_eq(auth_device_decide(u.db, g.user_code, ACCOUNT, NULL, true, &p), ERR_OK);
	/* Decided: no longer pending, cannot be decided again. */
	ck_assert_int_eq(auth_device_pending_get(u.db, g.user_code, &p), ERR_NOT_FOUND);
	ck_assert_int_eq(auth_device_decide(u.db, g.user_code, ACCOUNT, NULL, false, &p), ERR_NOT_FOUND);
	/* Approved codes are exchanged whatever the pace. */
	ck_assert_int_eq(poll(g.device_code, &t), AUTH_POLL_TOKENS);
	ck_assert_str_ne(t.access_token, "");
	ck_assert_str_ne(t.refresh_token, "");
	ck_assert_int_eq(q_int("SELECT COUNT(*) FROM devices WHERE id = ?1 AND type = 'tv' AND name = 'Den TV'"
			       " AND client_id = 'hearth-tv-demo'", t.device_id), 1);
	ck_assert_int_eq(poll(g.device_code, &t), AUTH_POLL_INVALID);
	ck_assert_int_eq(q_int("SELECT COUNT(*) FROM device_authorizations", NULL), 0);
}
END_TEST

START_TEST(a_code_is_found_by_its_id_and_only_with_its_secret)
{
	struct auth_device_grant g;
	struct auth_tokens t;
	char forged[AUTH_DEVICE_CODE_MAX], id[IDS_MAX];
	authorize(&g, NULL);
	/* The code begins with the body of its row's id. */
	snprintf(id, sizeof id, "dva_%.29s", g.device_code);
	ck_assert_int_eq(q_int("SELECT COUNT(*) FROM device_authorizations WHERE id = ?1"
			       " AND legacy_code_hash IS NULL", id), 1);
	/* The right id with another secret, or an unknown id, finds nothing. */
	snprintf(forged, sizeof forged, "%s", g.device_code);
	forged[40] = forged[40] == 'A' ? 'B' : 'A';
	ck_assert_int_eq(poll(forged, &t), AUTH_POLL_INVALID);
	snprintf(forged, sizeof forged, "%s", g.device_code);
	forged[20] = forged[20] == 'a' ? 'b' : 'a';
	ck_assert_int_eq(poll(forged, &t), AUTH_POLL_INVALID);
	forged[0] = 'A'; /* not an id's alphabet */
	ck_assert_int_eq(poll(forged, &t), AUTH_POLL_INVALID);
	ck_assert_int_eq(poll(g.device_code, &t), AUTH_POLL_PENDING);
}
END_TEST

START_TEST(codes_issued_before_schema_0013_still_work)
{
	/* Such a code was 43 characters of base64url, found by its hash. */
	const char *legacy = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ";
	char hash[AUTH_SECRET_HASH_SIZE], sql[512];
	struct auth_tokens t;
	struct auth_device_pending p;
	memset(&p, 0, sizeof p);
	ck_assert_int_eq(auth_secret_hash("device_code", legacy, hash), ERR_OK);
	snprintf(sql, sizeof sql,
		 "INSERT INTO device_authorizations (id, device_code_hash, legacy_code_hash, user_code,"
		 " client_id, scope, created_at, expires_at, interval_s) VALUES"
		 " ('dva_legacy', '%s', '%s', 'BCDFGHJK', 'hearth-tv-demo', 'hearth', %lld, %lld, 5)",
		 hash, hash, (long long)clock_now(), (long long)clock_now() + 600);
	ck_assert_int_eq(db_exec(u.db, sql), ERR_OK);
	ck_assert_int_eq(poll(legacy, &t), AUTH_POLL_PENDING);
	ck_assert_int_eq(auth_device_decide(u.db, "BCDF-GHJK", ACCOUNT, NULL, true, &p), ERR_OK);
	ck_assert_int_eq(poll(legacy, &t), AUTH_POLL_TOKENS);
	ck_assert_int_eq(poll(legacy, &t), AUTH_POLL_INVALID);
}
END_TEST

START_TEST(the_interval_never_outgrows_the_code)
{
	struct auth_device_grant g;
	struct auth_tokens t;
	char hash[AUTH_SECRET_HASH_SIZE];
	int64_t interval = 0, last = 0;
	authorize(&g, NULL);
	for (int i = 0; i < 300; i++)
		poll(g.device_code, &t);
	ck_assert_int_eq(auth_secret_hash("device_code", g.device_code, hash), ERR_OK);
	ck_assert(auth_device_polls_get(hash, clock_now(), &interval, &last));
	ck_assert_int_eq(interval, 600);
	ck_assert_int_eq(last, clock_now());
	/* Pending polls are reads: the row keeps the interval given out. */
	ck_assert_int_eq(q_int("SELECT interval_s FROM device_authorizations", NULL), 5);
	ck_assert_int_eq(q_int("SELECT COUNT(*) FROM device_authorizations WHERE last_poll_at IS NOT NULL", NULL), 0);
	/* The entry goes with its code. */
	clock_advance(600);
	ck_assert(!auth_device_polls_get(hash, clock_now(), &interval, &last));
}
END_TEST

/* Hashes that share a shard and a set of the poll table (their first
 * bytes pick both), told apart by their tail. */
static void same_set_hash(int i, char out[AUTH_SECRET_HASH_SIZE])
{
	snprintf(out, AUTH_SECRET_HASH_SIZE, "000000%026x%032x", (unsigned)i + 1, 0u);
}

START_TEST(the_poll_table_is_bounded_and_evicts_the_longest_idle)
{
	char h[10][AUTH_SECRET_HASH_SIZE];
	int64_t now = clock_now(), interval = 0, last = 0;
	/* Eight ways per set: the ninth code evicts the one polled longest ago. */
	for (int i = 0; i < 9; i++) {
		same_set_hash(i, h[i]);
		ck_assert_int_eq(auth_device_polls_note(h[i], now + i, 5, now + 600), AUTH_POLL_PENDING);
	}
	ck_assert(!auth_device_polls_get(h[0], now + 9, &interval, &last));
	for (int i = 1; i < 9; i++) {
		ck_assert(auth_device_polls_get(h[i], now + 9, &interval, &last));
		ck_assert_int_eq(last, now + i);
	}
	/* An evicted code only forgoes one slow_down: it starts again as pending. */
	ck_assert_int_eq(auth_device_polls_note(h[0], now + 9, 5, now + 600), AUTH_POLL_PENDING);
	ck_assert_int_eq(auth_device_polls_note(h[0], now + 10, 5, now + 600), AUTH_POLL_SLOW_DOWN);
	/* Expired entries make room first, whatever their last poll. */
	same_set_hash(9, h[9]);
	ck_assert_int_eq(auth_device_polls_note(h[9], now + 11, 5, now + 12), AUTH_POLL_PENDING);
	ck_assert_int_eq(auth_device_polls_note(h[1], now + 13, 5, now + 600), AUTH_POLL_PENDING);
	ck_assert(!auth_device_polls_get(h[9], now + 13, &interval, &last));
	ck_assert(auth_device_polls_get(h[1], now + 13, &interval, &last));
	/* Forgotten entries are gone. */
	auth_device_polls_forget(h[1]);
	ck_assert(!auth_device_polls_get(h[1], now + 13, &interval, &last));
}
END_TEST

START_TEST(denied_expired_and_foreign_codes)
{
	struct auth_device_grant a, b;
	struct auth_tokens t;
	struct auth_device_pending p;
	enum auth_poll r;
	authorize(&a, NULL);
	authorize(&b, NULL);
	ck_assert_int_eq(auth_device_decide(u.db, a.user_code, ACCOUNT, NULL, false, &p), ERR_OK);
	ck_assert_int_eq(poll(a.device_code, &t), AUTH_POLL_DENIED);
	/* Another client polling with this code learns nothing. */
	ck_assert_int_eq(db_exec(u.db, "INSERT INTO oauth_clients (id, name, device_type, grant_types,"
				       " created_at) VALUES ('other', 'Other', 'tv', 'device_code', 0)"),
			 ERR_OK);
	ck_assert_int_eq(auth_device_poll(u.db, "other", b.device_code, NULL, &r, &t), ERR_OK);
	ck_assert_int_eq(r, AUTH_POLL_INVALID);
	clock_advance(600);
	ck_assert_int_eq(poll(b.device_code, &t), AUTH_POLL_EXPIRED);
	ck_assert_int_eq(auth_device_pending_get(u.db, b.user_code, &p), ERR_NOT_FOUND);
	ck_assert_int_eq(poll("short", &t), AUTH_POLL_INVALID);
}
END_TEST

START_TEST(wrong_confirmations_lock_a_code)
{
	struct auth_device_grant g;
	struct auth_tokens t;
	struct auth_device_pending p;
	authorize(&g, NULL);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(auth_device_code_fail(u.db, g.user_code), ERR_OK);
	ck_assert_int_eq(auth_device_pending_get(u.db, g.user_code, &p), ERR_OK);
	ck_assert_int_eq(auth_device_code_fail(u.db, g.user_code), ERR_OK);
	ck_assert_int_eq(auth_device_pending_get(u.db, g.user_code, &p), ERR_NOT_FOUND);
	ck_assert_int_eq(poll(g.device_code, &t), AUTH_POLL_DENIED);
	ck_assert_int_eq(q_int("SELECT COUNT(*) FROM events WHERE type = 'device_authorization.locked'", NULL), 1);
	/* Unknown and malformed codes are ignored. */
	ck_assert_int_eq(auth_device_code_fail(u.db, "BCDF-GHJK"), ERR_OK);
	ck_assert_int_eq(auth_device_code_fail(u.db, "nonsense"), ERR_OK);
}
END_TEST

START_TEST(the_web_confirm_token_is_single_use_and_short_lived)
{
	struct auth_device_grant g, h;
	struct auth_device_pending p;
	char token[AUTH_DEVICE_CODE_MAX], old[AUTH_DEVICE_CODE_MAX];
	authorize(&g, NULL);
	ck_assert_int_eq(auth_device_web_begin(u.db, g.user_code, ACCOUNT, token), ERR_OK);
	ck_assert_int_eq(auth_device_web_decide(u.db, "not-a-token", true, &p), ERR_NOT_FOUND);
	ck_assert_int_eq(auth_device_web_decide(u.db, token, true, &p), ERR_OK);
	ck_assert_int_eq(q_int("SELECT COUNT(*) FROM device_authorizations WHERE status = 'approved'"
			       " AND account_id = ?1", ACCOUNT), 1);
	ck_assert_int_eq(auth_device_web_decide(u.db, token, true, &p), ERR_NOT_FOUND);
	/* A newer confirm replaces the older; both die after five minutes. */
	authorize(&h, NULL);
	ck_assert_int_eq(auth_device_web_begin(u.db, h.user_code, ACCOUNT, old), ERR_OK);
	ck_assert_int_eq(auth_device_web_begin(u.db, h.user_code, ACCOUNT, token), ERR_OK);
	ck_assert_int_eq(auth_device_web_decide(u.db, old, true, &p), ERR_NOT_FOUND);
	clock_advance(301);
	ck_assert_int_eq(auth_device_web_decide(u.db, token, true, &p), ERR_NOT_FOUND);
	ck_assert_int_eq(auth_device_pending_get(u.db, h.user_code, &p), ERR_OK);
	ck_assert_int_eq(auth_device_web_begin(u.db, "BCDF-GHJK", ACCOUNT, token), ERR_NOT_FOUND);
}
END_TEST

START_TEST(a_member_locked_after_approving_gets_no_sign_in)
{
	struct auth_device_grant g;
	struct auth_tokens t;
	struct auth_device_pending p;
	authorize(&g, NULL);
	ck_assert_int_eq(auth_device_decide(u.db, g.user_code, ACCOUNT, NULL, true, &p), ERR_OK);
	ck_assert_int_eq(db_exec(u.db, "UPDATE accounts SET status = 'locked'"), ERR_OK);
	ck_assert_int_eq(poll(g.device_code, &t), AUTH_POLL_DENIED);
	ck_assert_int_eq(q_int("SELECT COUNT(*) FROM sessions", NULL), 0);
	/* The code is spent. */
	ck_assert_int_eq(poll(g.device_code, &t), AUTH_POLL_INVALID);
}
END_TEST

START_TEST(revoking_a_device_ends_its_sign_ins)
{
	struct auth_device_grant g;
	struct auth_tokens t;
	struct auth_device_pending p;
	struct auth_device_row *rows = NULL;
	size_t n = 0;
	bool more = false;
	authorize(&g, "Bedroom TV");
	ck_assert_int_eq(auth_device_decide(u.db, g.user_code, ACCOUNT, NULL, true, &p), ERR_OK);
	ck_assert_int_eq(poll(g.device_code, &t), AUTH_POLL_TOKENS);
	ck_assert_int_eq(auth_devices_list(u.db, ACCOUNT, 10, NULL, &rows, &n, &more), ERR_OK);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(rows[0].name, "Bedroom TV");
	free(rows);
	ck_assert_int_eq(auth_device_revoke(u.db, "acc_0000000000000000000000000000b", t.device_id, "x"),
			 ERR_NOT_FOUND);
	ck_assert_int_eq(auth_device_revoke(u.db, ACCOUNT, t.device_id, "device_revoked"), ERR_OK);
	ck_assert_int_eq(auth_device_revoke(u.db, ACCOUNT, t.device_id, "device_revoked"), ERR_NOT_FOUND);
	ck_assert_int_eq(auth_devices_list(u.db, ACCOUNT, 10, NULL, &rows, &n, &more), ERR_OK);
	ck_assert_uint_eq(n, 0);
	free(rows);
	struct auth_tokens again;
	ck_assert_int_eq(auth_refresh(u.db, t.refresh_token, NULL, &again), ERR_REFRESH_TOKEN_INVALID);
	ck_assert_int_eq(q_int("SELECT COUNT(*) FROM events WHERE type = 'device.revoked' AND subject = ?1",
			       t.device_id), 1);
}
END_TEST

static Suite *device_flow_suite(void)
{
	Suite *s = suite_create("device_flow");
	TCase *pure = tcase_create("pure");
	tcase_add_test(pure, user_codes_are_normalised_as_typed);
	tcase_add_test(pure, grant_lists_parse_and_format);
	tcase_add_test(pure, device_text_is_bounded_utf8_without_controls);
	suite_add_tcase(s, pure);
	TCase *tc = tcase_create("flow");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, the_demo_client_is_seeded);
	tcase_add_test(tc, clients_are_validated_added_listed_and_disabled);
	tcase_add_test(tc, user_codes_use_the_whole_alphabet_and_nothing_else);
	tcase_add_test(tc, polling_walks_pending_slow_down_approval_and_single_use);
	tcase_add_test(tc, the_interval_never_outgrows_the_code);
	tcase_add_test(tc, a_code_is_found_by_its_id_and_only_with_its_secret);
	tcase_add_test(tc, codes_issued_before_schema_0013_still_work);
	tcase_add_test(tc, the_poll_table_is_bounded_and_evicts_the_longest_idle);
	tcase_add_test(tc, denied_expired_and_foreign_codes);
	tcase_add_test(tc, wrong_confirmations_lock_a_code);
	tcase_add_test(tc, the_web_confirm_token_is_single_use_and_short_lived);
	tcase_add_test(tc, a_member_locked_after_approving_gets_no_sign_in);
	tcase_add_test(tc, revoking_a_device_ends_its_sign_ins);
	suite_add_tcase(s, tc);
	return s;
}

int main(void) { return unit_run(device_flow_suite()); }
