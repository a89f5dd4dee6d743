/*
 * verify.c - codes sent to the owner (challenges) and travel access.
 *
 * A challenge holds a 6-digit code for one device: 'household' codes set or
 * move the household to the network a TV asked from, 'travel' codes give
 * the device travel access.  The code goes to the owner (SMS when the
 * account has a phone number, else email) through notify_queue() in the
 * transaction that makes the challenge; only auth_secret_hash of
 * "<challenge id>:<code>" is stored, and an answer is hashed the same way
 * and compared with sodium_memcmp.  A challenge lives code_ttl, takes
 * code_attempts wrong answers, and can be resent code_sends - 1 times, no
 * sooner than code_resend_s apart.  Wrong answers are also throttled per
 * device, per account and per client address (core/throttle.h), checked
 * before any comparison.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "accounts/accounts.h"
#include "auth/auth.h"
#include "core/clock.h"
#include "core/events.h"
#include "core/notify.h"
#include "households/households_int.h"

#define CODE_DIGITS 6

static void copy_text(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

const char *hh_challenge_kind_name(enum hh_challenge_kind k)
{
	return k == HH_CHALLENGE_HOUSEHOLD ? "household" : "travel";
}

void hh_mask_email(const char *email, char *out, size_t cap)
{
	const char *at = strchr(email, '@');
	if (!at || at == email) {
		snprintf(out, cap, "***");
		return;
	}
	snprintf(out, cap, "%c***%s", email[0], at);
}

void hh_mask_phone(const char *phone, char *out, size_t cap)
{
	size_t n = strlen(phone);
	char buf[40];
	size_t j = 0;
	for (size_t i = 0; i < n && j + 1 < sizeof buf; i++)
		buf[j++] = (i == 0 && phone[i] == '+') || i + 4 >= n ? phone[i] : '*';
	buf[j] = '\0';
	snprintf(out, cap, "%s", buf);
}

/* Hash of the code of challenge `id`. */
static enum err code_hash(const char *id, const char *code, char out[AUTH_SECRET_HASH_SIZE])
{
	char secret[IDS_MAX + CODE_DIGITS + 2];
	int n = snprintf(secret, sizeof secret, "%s:%s", id, code);
	enum err e = n > 0 && (size_t)n < sizeof secret ? auth_secret_hash("household_code", secret, out)
						      : ERR_INTERNAL;
	sodium_memzero(secret, sizeof secret);
	return e;
}

static void new_code(char code[CODE_DIGITS + 1])
{
	snprintf(code, CODE_DIGITS + 1, "%06u", (unsigned)randombytes_uniform(1000000));
}

/* Queue the code to the owner of `account_id`; fills channel and destination. */
static enum err send_code(struct db *db, struct hh_challenge *c, const char *code)
{
	struct acct_account a;
	struct auth_device_brief dev;
	enum err e = acct_get(db, c->account_id, &a);
	if (e != ERR_OK)
		return e;
	if (auth_device_brief_get(db, c->device_id, &dev) != ERR_OK)
		copy_text(dev.name, sizeof dev.name, "a device");
	bool sms = a.phone[0] != '\0';
	copy_text(c->channel, sizeof c->channel, sms ? "sms" : "email");
	if (sms)
		hh_mask_phone(a.phone, c->destination, sizeof c->destination);
	else
		hh_mask_email(a.email, c->destination, sizeof c->destination);
	char expires[32];
	clock_format(c->expires_at, expires, sizeof expires);
	return notify_queue(db, c->account_id, sms ? NOTIFY_SMS : NOTIFY_EMAIL, sms ? a.phone : a.email,
			    c->kind == HH_CHALLENGE_HOUSEHOLD ? "household_code" : "travel_code",
			    json_pack("{s:s, s:s, s:s, s:s, s:s}", "code", code, "challenge_id", c->id,
				      "device_name", dev.name, "network", c->network, "expires_at",
				      expires),
			    NULL);
}

#define CHALLENGE_COLUMNS                                                                   \
	"id, kind, account_id, device_id, network, channel, destination, expires_at, attempts," \
	" sends, created_at, confirmed_at, code_hash, last_sent_at"

struct row {
	struct hh_challenge c;
	int64_t attempts;
	int64_t sends;
	int64_t last_sent_at;
	bool confirmed;
	char hash[AUTH_SECRET_HASH_SIZE];
};

static void read_row(struct db_stmt *st, struct row *r)
{
	const struct hh_settings *cfg = hh_settings();
	memset(r, 0, sizeof *r);
	copy_text(r->c.id, sizeof r->c.id, db_column_text(st, 0));
	const char *kind = db_column_text(st, 1);
	r->c.kind = kind && strcmp(kind, "household") == 0 ? HH_CHALLENGE_HOUSEHOLD : HH_CHALLENGE_TRAVEL;
	copy_text(r->c.account_id, sizeof r->c.account_id, db_column_text(st, 2));
	copy_text(r->c.device_id, sizeof r->c.device_id, db_column_text(st, 3));
	copy_text(r->c.network, sizeof r->c.network, db_column_text(st, 4));
	copy_text(r->c.channel, sizeof r->c.channel, db_column_text(st, 5));
	copy_text(r->c.destination, sizeof r->c.destination, db_column_text(st, 6));
	r->c.expires_at = db_column_int64(st, 7);
	r->attempts = db_column_int64(st, 8);
	r->sends = db_column_int64(st, 9);
	r->c.created_at = db_column_int64(st, 10);
	r->confirmed = !db_column_is_null(st, 11);
	copy_text(r->hash, sizeof r->hash, db_column_text(st, 12));
	r->last_sent_at = db_column_int64(st, 13);
	r->c.attempts_left = cfg->code_attempts - r->attempts;
	if (r->c.attempts_left < 0)
		r->c.attempts_left = 0;
	r->c.sends_left = cfg->code_sends - r->sends;
	if (r->c.sends_left < 0)
		r->c.sends_left = 0;
}

static bool is_open(const struct row *r, int64_t now)
{
	return !r->confirmed && r->c.expires_at > now && r->c.attempts_left > 0;
}

enum err hh_challenge_open(struct db *db, const char *account_id, const char *device_id,
			   enum hh_challenge_kind kind, const char *network, int64_t now,
			   struct hh_challenge *out)
{
	const struct hh_settings *cfg = hh_settings();
	struct db_stmt *st = NULL;
	struct row r;
	char code[CODE_DIGITS + 1], hash[AUTH_SECRET_HASH_SIZE];
	memset(out, 0, sizeof *out);
	/* An open challenge of the device is handed back: starting playback
	 * again must not flood the owner with codes. */
	enum err e = db_prepare(db,
				"SELECT " CHALLENGE_COLUMNS " FROM household_challenges WHERE device_id = ?1"
				" AND kind = ?2 AND account_id = ?3 AND confirmed_at IS NULL AND expires_at > ?4"
				" AND attempts < ?5 AND network = ?6 ORDER BY created_at DESC LIMIT 1",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, device_id);
	db_bind_text(st, 2, hh_challenge_kind_name(kind));
	db_bind_text(st, 3, account_id);
	db_bind_int64(st, 4, now);
	db_bind_int64(st, 5, cfg->code_attempts);
	db_bind_text(st, 6, network);
	e = db_step_row(st);
	if (e == ERR_OK)
		read_row(st, &r);
	db_done(st);
	if (e == ERR_OK) {
		*out = r.c;
		out->reused = true;
		return ERR_OK;
	}
	if (e != ERR_NOT_FOUND)
		return e;

	e = ids_new("vch_", out->id, sizeof out->id);
	if (e != ERR_OK)
		return e;
	out->kind = kind;
	copy_text(out->account_id, sizeof out->account_id, account_id);
	copy_text(out->device_id, sizeof out->device_id, device_id);
	copy_text(out->network, sizeof out->network, network);
	out->created_at = now;
	out->expires_at = now + cfg->code_ttl_s;
	out->attempts_left = cfg->code_attempts;
	out->sends_left = cfg->code_sends - 1;
	new_code(code);
	e = code_hash(out->id, code, hash);
	if (e == ERR_OK)
		e = send_code(db, out, code);
	sodium_memzero(code, sizeof code);
	if (e != ERR_OK)
		return e;
	e = db_prepare(db,
		       "INSERT INTO household_challenges (id, account_id, device_id, kind, network, code_hash,"
		       " channel, destination, attempts, sends, last_sent_at, created_at, expires_at)"
		       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, 1, ?9, ?9, ?10)",
		       &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, out->id);
	db_bind_text(st, 2, account_id);
	db_bind_text(st, 3, device_id);
	db_bind_text(st, 4, hh_challenge_kind_name(kind));
	db_bind_text(st, 5, network);
	db_bind_text(st, 6, hash);
	db_bind_text(st, 7, out->channel);
	db_bind_text(st, 8, out->destination);
	db_bind_int64(st, 9, now);
	db_bind_int64(st, 10, out->expires_at);
	e = db_step_done(st);
	db_done(st);
	if (e == ERR_OK)
		e = events_emit(db, "verification.created", out->id,
				json_pack("{s:s, s:s, s:s, s:s}", "account_id", account_id, "device_id",
					  device_id, "kind", hh_challenge_kind_name(kind), "channel",
					  out->channel));
	return e;
}

static enum err load_challenge(struct db *db, const char *account_id, const char *id, struct row *r)
{
	struct db_stmt *st = NULL;
	if (!ids_valid("vch_", id))
		return ERR_NOT_FOUND;
	enum err e = db_prepare(db,
				"SELECT " CHALLENGE_COLUMNS " FROM household_challenges"
				" WHERE id = ?1 AND account_id = ?2",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, id);
	db_bind_text(st, 2, account_id);
	e = db_step_row(st);
	if (e == ERR_OK)
		read_row(st, r);
	db_done(st);
	return e;
}

/* A travel code answers only from its own device; a household code from
 * any device of the account (the owner may type it on a phone). */
static bool device_may_answer(const struct row *r, const char *device_id)
{
	return r->c.kind == HH_CHALLENGE_HOUSEHOLD || strcmp(r->c.device_id, device_id) == 0;
}

enum err hh_travel_insert(struct db *db, const char *account_id, const char *device_id,
			  const char *source, const char *challenge_id, const char *granted_by,
			  int64_t now, int64_t until, char id_out[IDS_MAX])
{
	struct db_stmt *st = NULL;
	enum err e = ids_new("trv_", id_out, IDS_MAX);
	if (e == ERR_OK)
		e = db_prepare(db,
			       "INSERT INTO travel_grants (id, account_id, device_id, source, challenge_id,"
			       " granted_by, granted_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
			       &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, id_out);
	db_bind_text(st, 2, account_id);
	db_bind_text(st, 3, device_id);
	db_bind_text(st, 4, source);
	db_bind_text(st, 5, challenge_id);
	db_bind_text(st, 6, granted_by);
	db_bind_int64(st, 7, now);
	db_bind_int64(st, 8, until);
	e = db_step_done(st);
	db_done(st);
	if (e == ERR_OK)
		e = events_emit(db, "travel.granted", id_out,
				json_pack("{s:s, s:s, s:s, s:s?, s:I}", "account_id", account_id, "device_id",
					  device_id, "source", source, "granted_by", granted_by,
					  "expires_at", (json_int_t)until));
	return e;
}

struct confirm_ctx {
	const char *account_id, *device_id, *id, *code;
	const char *keys[3];
	struct hh_confirm_result *out;
	bool wrong;
};

/* The code is right: do what the challenge was for. */
static enum err fulfil(struct db *db, struct confirm_ctx *c, const struct row *r, int64_t now)
{
	struct hh_policy pol;
	char country[3];
	struct db_stmt *st = NULL;
	enum err e = hh_account_policy(db, c->account_id, country, &pol);
	if (e != ERR_OK)
		return e;
	if (r->c.kind == HH_CHALLENGE_TRAVEL) {
		struct hh_view v;
		struct hh_trust t;
		e = hh_view_load(db, c->account_id, &pol, now, &v);
		if (e == ERR_OK)
			e = hh_trust_of(db, &v, &pol, r->c.device_id, NULL, now, &t);
		if (e != ERR_OK)
			return e;
		if (t.travel_grants_used >= pol.travel_grants)
			return ERR_TRAVEL_LIMIT_REACHED;
		c->out->travel_until = now + pol.travel_s;
		e = hh_travel_insert(db, c->account_id, r->c.device_id, "verification", r->c.id, NULL, now,
				     c->out->travel_until, c->out->travel_id);
	} else {
		int64_t moves = 0;
		struct hh_view v;
		e = hh_view_load(db, c->account_id, &pol, now, &v);
		if (e == ERR_OK)
			e = hh_moves_since(db, c->account_id, now - pol.move_period_s, &moves);
		if (e != ERR_OK)
			return e;
		bool is_move = v.has_household && strcmp(v.status, "set") == 0 &&
			       strcmp(v.origin, r->c.network) != 0;
		if (is_move && moves >= pol.move_limit)
			return ERR_HOUSEHOLD_MOVE_LIMIT;
		e = hh_household_apply(db, c->account_id, r->c.network, r->c.device_id, "member", now,
				       &c->out->household_moved);
	}
	if (e != ERR_OK)
		return e;
	e = db_prepare(db, "UPDATE household_challenges SET confirmed_at = ?2 WHERE id = ?1", &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, r->c.id);
	db_bind_int64(st, 2, now);
	e = db_step_done(st);
	db_done(st);
	for (int i = 0; i < 2 && e == ERR_OK; i++)
		e = throttle_reset(db, c->keys[i]);
	if (e == ERR_OK)
		e = events_emit(db, "verification.confirmed", r->c.id,
				json_pack("{s:s, s:s, s:s}", "account_id", c->account_id, "device_id",
					  c->device_id, "kind", hh_challenge_kind_name(r->c.kind)));
	return e;
}

static enum err confirm_tx(struct db *db, void *arg)
{
	struct confirm_ctx *c = arg;
	const struct hh_settings *cfg = hh_settings();
	struct db_stmt *st = NULL;
	struct row r;
	char hash[AUTH_SECRET_HASH_SIZE];
	int64_t now = clock_now();
	c->wrong = false;
	enum err e = load_challenge(db, c->account_id, c->id, &r);
	if (e != ERR_OK)
		return e;
	if (!device_may_answer(&r, c->device_id))
		return ERR_NOT_FOUND;
	c->out->ch = r.c;
	if (!is_open(&r, now))
		return ERR_CHALLENGE_CLOSED;
	e = code_hash(r.c.id, c->code, hash);
	if (e != ERR_OK)
		return e;
	bool right = sodium_memcmp(hash, r.hash, AUTH_SECRET_HASH_SIZE - 1) == 0;
	sodium_memzero(hash, sizeof hash);
	if (right)
		return fulfil(db, c, &r, now);
	c->wrong = true;
	e = db_prepare(db, "UPDATE household_challenges SET attempts = attempts + 1 WHERE id = ?1", &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, r.c.id);
	e = db_step_done(st);
	db_done(st);
	if (e == ERR_OK)
		e = throttle_fail(db, c->keys[0], &cfg->verify_device);
	if (e == ERR_OK)
		e = throttle_fail(db, c->keys[1], &cfg->verify_account);
	if (e == ERR_OK)
		e = throttle_fail(db, c->keys[2], &cfg->verify_ip);
	if (e == ERR_OK)
		e = events_emit(db, "verification.failed", r.c.id,
				json_pack("{s:s, s:s, s:I}", "account_id", c->account_id, "device_id",
					  c->device_id, "attempts", (json_int_t)r.attempts + 1));
	c->out->attempts_left = r.c.attempts_left - 1;
	return e;
}

static bool code_shape_ok(const char *code)
{
	if (strlen(code) != CODE_DIGITS)
		return false;
	for (int i = 0; i < CODE_DIGITS; i++)
		if (code[i] < '0' || code[i] > '9')
			return false;
	return true;
}

enum err hh_challenge_confirm(struct db *db, const char *account_id, const char *device_id,
			      const struct netaddr *client, const char *id, const char *code,
			      struct hh_confirm_result *out)
{
	char kdev[64], kacct[64], kip[96], ip[NETADDR_STRLEN];
	memset(out, 0, sizeof *out);
	snprintf(kdev, sizeof kdev, "verify:dev:%s", device_id);
	snprintf(kacct, sizeof kacct, "verify:acct:%s", account_id);
	netaddr_prefix(client, 32, 64, ip, sizeof ip);
	snprintf(kip, sizeof kip, "verify:ip:%s", ip);
	const char *keys[3] = {kdev, kacct, kip};
	for (int i = 0; i < 3; i++) {
		int64_t wait = 0;
		enum err e = throttle_check(db, keys[i], &wait);
		if (e == ERR_TOO_MANY_ATTEMPTS && wait > out->retry_after)
			out->retry_after = wait;
		else if (e != ERR_OK && e != ERR_TOO_MANY_ATTEMPTS)
			return e;
	}
	if (out->retry_after > 0)
		return ERR_TOO_MANY_ATTEMPTS;
	/* A code of the wrong shape still counts as a wrong answer. */
	const char *answer = code_shape_ok(code) ? code : "-";
	struct confirm_ctx c = {account_id, device_id, id, answer, {kdev, kacct, kip}, out, false};
	enum err e = db_transaction(db, confirm_tx, &c);
	if (e == ERR_OK && !c.wrong)
		hh_cache_bump();
	if (e == ERR_OK && c.wrong)
		return ERR_INVALID_CODE;
	return e;
}

struct resend_ctx {
	const char *account_id, *device_id, *id;
	struct hh_challenge *out;
	int64_t retry_after;
};

static enum err resend_tx(struct db *db, void *arg)
{
	struct resend_ctx *c = arg;
	const struct hh_settings *cfg = hh_settings();
	struct db_stmt *st = NULL;
	struct row r;
	char code[CODE_DIGITS + 1], hash[AUTH_SECRET_HASH_SIZE];
	int64_t now = clock_now();
	c->retry_after = 0;
	enum err e = load_challenge(db, c->account_id, c->id, &r);
	if (e != ERR_OK)
		return e;
	if (!device_may_answer(&r, c->device_id))
		return ERR_NOT_FOUND;
	if (!is_open(&r, now))
		return ERR_CHALLENGE_CLOSED;
	if (r.sends >= cfg->code_sends) {
		c->retry_after = r.c.expires_at - now;
		return ERR_TOO_MANY_ATTEMPTS;
	}
	if (now - r.last_sent_at < cfg->code_resend_s) {
		c->retry_after = cfg->code_resend_s - (now - r.last_sent_at);
		return ERR_TOO_MANY_ATTEMPTS;
	}
	*c->out = r.c;
	c->out->expires_at = now + cfg->code_ttl_s;
	c->out->sends_left = cfg->code_sends - r.sends - 1;
	new_code(code);
	e = code_hash(r.c.id, code, hash);
	if (e == ERR_OK)
		e = send_code(db, c->out, code);
	sodium_memzero(code, sizeof code);
	if (e != ERR_OK)
		return e;
	e = db_prepare(db,
		       "UPDATE household_challenges SET code_hash = ?2, sends = sends + 1, last_sent_at = ?3,"
		       " expires_at = ?4, channel = ?5, destination = ?6 WHERE id = ?1",
		       &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, r.c.id);
	db_bind_text(st, 2, hash);
	db_bind_int64(st, 3, now);
	db_bind_int64(st, 4, c->out->expires_at);
	db_bind_text(st, 5, c->out->channel);
	db_bind_text(st, 6, c->out->destination);
	e = db_step_done(st);
	db_done(st);
	if (e == ERR_OK)
		e = events_emit(db, "verification.resent", r.c.id,
				json_pack("{s:s, s:s}", "account_id", c->account_id, "channel",
					  c->out->channel));
	return e;
}

enum err hh_challenge_resend(struct db *db, const char *account_id, const char *device_id,
			     const char *id, struct hh_challenge *out, int64_t *retry_after)
{
	struct resend_ctx c = {account_id, device_id, id, out, 0};
	memset(out, 0, sizeof *out);
	enum err e = db_transaction(db, resend_tx, &c);
	*retry_after = c.retry_after > 0 ? c.retry_after : 1;
	return e;
}

enum err hh_travel_grant_staff(struct db *db, const char *device_id, int64_t days,
			       const char *actor, const char *reason, int64_t *expires_at)
{
	struct auth_device_brief dev;
	char id[IDS_MAX];
	int64_t now = clock_now();
	*expires_at = 0;
	enum err e = auth_device_brief_get(db, device_id, &dev);
	if (e != ERR_OK)
		return e;
	if (dev.revoked)
		return ERR_NOT_FOUND;
	int64_t until = now + days * HH_DAY;
	e = hh_travel_insert(db, dev.account_id, device_id, "staff", NULL, actor, now, until, id);
	if (e == ERR_OK)
		e = events_emit(db, "travel.granted_by_staff", id,
				json_pack("{s:s, s:s, s:s, s:I}", "device_id", device_id, "actor", actor,
					  "reason", reason ? reason : "", "days", (json_int_t)days));
	if (e == ERR_OK)
		*expires_at = until;
	return e;
}
