/*
 * Scheduled price changes: a new price point for (plan, country) from an
 * effective time, the notices that tell existing subscribers, consent where
 * the catalog asks for it, and grandfathering.
 *
 * A change C applies to a subscriber S at the first renewal R (a period
 * start) with
 *     R >= max(C.effective_at,
 *              notice(S, C).notified_at + C.notice_days days,
 *              add_months(C.effective_at, C.grandfather_months))
 * Several changes of one plan and country are looked at latest first: the
 * first one that applies at R decides the price (so a newer change
 * supersedes an older one the member was never charged).  A subscriber is
 * told when the change is scheduled; one who subscribed between scheduling
 * and the effective time (at the old price) is told at their next renewal,
 * and their notice period runs from then.  In a consent country an increase
 * needs the member's acceptance before the renewal that would charge it;
 * without it the subscription ends at the end of the current period.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "billing/renewal_int.h"
#include "core/clock.h"
#include "core/events.h"
#include "core/log.h"

#define NOTICE_BATCH 500
#define PERIODS_AHEAD 1500 /* how far a pending change is looked for: 125 years */

/* ---- the cache of changes ---- */

enum err pc_cache_load(struct db *db, struct pc_cache *c)
{
	struct db_stmt *st = NULL;
	size_t cap = 0;
	c->n = 0;
	c->rows = NULL;
	enum err e = db_prepare(db,
				"SELECT id, plan_code, country, currency, amount, effective_at, notice_days,"
				" grandfather_months, created_at FROM price_changes"
				" ORDER BY plan_code, country, effective_at",
				&st);
	if (e != ERR_OK)
		return e;
	bool row = false;
	while ((e = db_step(st, &row)) == ERR_OK && row) {
		if (c->n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct pc_row *nr = realloc(c->rows, ncap * sizeof *nr);
			if (!nr) {
				e = ERR_NOMEM;
				break;
			}
			c->rows = nr;
			cap = ncap;
		}
		struct pc_row *r = &c->rows[c->n++];
		memset(r, 0, sizeof *r);
		snprintf(r->id, sizeof r->id, "%s", db_column_text(st, 0));
		snprintf(r->plan_code, sizeof r->plan_code, "%s", db_column_text(st, 1));
		snprintf(r->country, sizeof r->country, "%s", db_column_text(st, 2));
		snprintf(r->currency, sizeof r->currency, "%s", db_column_text(st, 3));
		r->amount = db_column_int64(st, 4);
		r->effective_at = db_column_int64(st, 5);
		r->notice_days = db_column_int64(st, 6);
		r->grandfather_months = db_column_int64(st, 7);
		r->created_at = db_column_int64(st, 8);
	}
	db_done(st);
	if (e != ERR_OK)
		pc_cache_release(c);
	return e;
}

void pc_cache_release(struct pc_cache *c)
{
	free(c->rows);
	c->rows = NULL;
	c->n = 0;
}

/* The changes that concern a subscriber of (plan, country, currency), in
 * effective order: indexes into c->rows, at most `cap`. */
static size_t candidates(const struct pc_cache *c, const char *plan, const char *country,
			 const char *currency, int64_t now, size_t *idx, size_t cap)
{
	size_t n = 0;
	for (size_t i = 0; i < c->n && n < cap; i++) {
		const struct pc_row *r = &c->rows[i];
		if (strcmp(r->plan_code, plan) == 0 && strcmp(r->country, country) == 0 &&
		    strcmp(r->currency, currency) == 0 && r->created_at <= now)
			idx[n++] = i;
	}
	return n;
}

/* The earliest time the change may be charged to someone told at `notified_at`. */
static int64_t apply_from(const struct pc_row *r, int64_t notified_at)
{
	int64_t t = r->effective_at;
	int64_t notice = notified_at + r->notice_days * DAY_S;
	int64_t grandfathered = bill_add_months(r->effective_at, r->grandfather_months);
	if (notice > t)
		t = notice;
	if (grandfathered > t)
		t = grandfathered;
	return t;
}

struct notice {
	bool exists;
	int64_t notified_at;
	int64_t accepted_at;
};

static enum err notice_get(struct db *db, const char *sub_id, const char *pc_id, struct notice *out)
{
	struct db_stmt *st = NULL;
	memset(out, 0, sizeof *out);
	enum err e = db_prepare(db, "SELECT notified_at, accepted_at FROM price_change_notices"
				    " WHERE subscription_id = ?1 AND price_change_id = ?2", &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, sub_id);
	db_bind_text(st, 2, pc_id);
	e = db_step_row(st);
	if (e == ERR_OK) {
		out->exists = true;
		out->notified_at = db_column_int64(st, 0);
		out->accepted_at = db_column_int64(st, 1);
	}
	db_done(st);
	return e == ERR_NOT_FOUND ? ERR_OK : e;
}

enum err bill_country_requires_consent(struct db *db, const char *country, bool *consent)
{
	struct db_stmt *st = NULL;
	*consent = false;
	enum err e = db_prepare(db,
				"SELECT price_change_policy FROM country_policies WHERE country = ?1"
				" AND catalog_version = (SELECT MAX(version) FROM catalog_versions)",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, country);
	e = db_step_row(st);
	if (e == ERR_OK)
		*consent = strcmp(db_column_text(st, 0), "consent") == 0;
	db_done(st);
	return e == ERR_NOT_FOUND ? ERR_OK : e;
}

/* The first renewal (a period start after period `index`) at or after `t`. */
static int64_t renewal_at_or_after(int64_t anchor, int64_t index, int64_t t)
{
	for (int64_t k = index + 1; k <= index + PERIODS_AHEAD; k++) {
		int64_t start = bill_add_months(anchor, k);
		if (start >= t)
			return start;
	}
	return 0;
}

/* Tell subscriber `sub_id` about change `r` now: the notice row and its
 * notification.  `old` is what they pay; `applies_at` when the new price
 * first applies to them.  A notice that exists already is left alone. */
static enum err notify_one(struct db *db, const struct pc_row *r, const char *sub_id,
			   const char *account_id, int64_t old, int64_t applies_at, bool consent,
			   int64_t now, bool *inserted)
{
	struct db_stmt *st = NULL;
	*inserted = false;
	enum err e = db_prepare(db,
				"INSERT INTO price_change_notices (subscription_id, price_change_id, notified_at)"
				" VALUES (?1, ?2, ?3) ON CONFLICT (subscription_id, price_change_id) DO NOTHING",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, sub_id);
	db_bind_text(st, 2, r->id);
	db_bind_int64(st, 3, now);
	e = db_step_done(st);
	db_done(st);
	if (e != ERR_OK || db_changes(db) == 0)
		return e;
	*inserted = true;
	return bill_notify(db, account_id, "price_change_notice",
			  json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:b}", "price_change", r->id, "plan",
				    r->plan_code, "country", r->country, "old_price",
				    bill_money_json(old, r->currency), "new_price", bill_money_json(r->amount, r->currency),
				    "effective_at", clock_json(r->effective_at), "applies_at",
				    applies_at ? clock_json(applies_at) : json_null(), "consent_required",
				    consent && r->amount > old));
}

enum err pc_decide(struct db *db, const struct pc_cache *c, const struct due_sub *r, int64_t renewal_at,
		   int64_t now, struct pc_decision *out)
{
	size_t idx[32];
	memset(out, 0, sizeof *out);
	size_t n = candidates(c, r->plan_code, r->country, r->price.amount.currency, now, idx, 32);
	if (n == 0)
		return ERR_OK;
	const struct pc_row *latest = &c->rows[idx[n - 1]];
	enum err e = ERR_OK;
	/* Someone who subscribed after the latest change was scheduled, at
	 * another price, is told now; its notice period starts now. */
	if (latest->amount != r->price.amount.amount) {
		struct notice nt;
		e = notice_get(db, r->id, latest->id, &nt);
		if (e == ERR_OK && !nt.exists) {
			bool consent = false, inserted = false;
			e = bill_country_requires_consent(db, r->country, &consent);
			int64_t applies = renewal_at_or_after(r->anchor, r->period_index + 1, apply_from(latest, now));
			if (e == ERR_OK)
				e = notify_one(db, latest, r->id, r->account_id, r->price.amount.amount, applies,
					       consent, now, &inserted);
		}
		if (e != ERR_OK)
			return e;
	}
	for (size_t k = n; k-- > 0;) {
		const struct pc_row *pc = &c->rows[idx[k]];
		struct notice nt;
		e = notice_get(db, r->id, pc->id, &nt);
		if (e != ERR_OK)
			return e;
		if (!nt.exists || apply_from(pc, nt.notified_at) > renewal_at)
			continue;
		/* This change decides the price from this renewal on. */
		if (pc->amount == r->price.amount.amount)
			return ERR_OK;
		if (pc->amount > r->price.amount.amount && !nt.accepted_at) {
			bool consent = false;
			e = bill_country_requires_consent(db, r->country, &consent);
			if (e != ERR_OK)
				return e;
			if (consent) {
				out->end_for_consent = true;
				snprintf(out->pc_id, sizeof out->pc_id, "%s", pc->id);
				return ERR_OK;
			}
		}
		struct db_stmt *st = NULL;
		e = db_prepare(db, "UPDATE price_change_notices SET applied_at = ?3"
				   " WHERE subscription_id = ?1 AND price_change_id = ?2", &st);
		if (e != ERR_OK)
			return e;
		db_bind_text(st, 1, r->id);
		db_bind_text(st, 2, pc->id);
		db_bind_int64(st, 3, now);
		e = db_step_done(st);
		db_done(st);
		out->apply = true;
		out->amount = pc->amount;
		snprintf(out->pc_id, sizeof out->pc_id, "%s", pc->id);
		return e;
	}
	return ERR_OK;
}

/* ---- what a subscriber sees ---- */

/* The change that decides the price at renewal `R` under the latest-first
 * rule, given each candidate's notice time (0: not told), or -1. */
static int winner_at(const struct pc_cache *c, const size_t *idx, const int64_t *told, size_t n, int64_t R)
{
	for (size_t k = n; k-- > 0;) {
		if (!told[k])
			continue;
		if (apply_from(&c->rows[idx[k]], told[k]) <= R)
			return (int)k;
	}
	return -1;
}

enum err bill_pending_price_change(struct db *db, const struct bill_subscription *s,
				   struct bill_pending_price *out)
{
	struct pc_cache c = {0, NULL};
	size_t idx[32];
	int64_t told[32];
	struct notice nts[32];
	int64_t now = clock_now();
	memset(out, 0, sizeof *out);
	if (s->state == BILL_ENDED)
		return ERR_OK;
	enum err e = pc_cache_load(db, &c);
	if (e != ERR_OK)
		return e;
	size_t n = candidates(&c, s->plan.code, s->country, s->price.amount.currency, now, idx, 32);
	/* Who was not told yet will be at the next renewal (pc_decide). */
	int64_t next_renewal = s->current_period_end;
	for (size_t k = 0; k < n && e == ERR_OK; k++) {
		e = notice_get(db, s->id, c.rows[idx[k]].id, &nts[k]);
		told[k] = nts[k].exists ? nts[k].notified_at
					: (k == n - 1 && c.rows[idx[k]].amount != s->price.amount.amount
						   ? (next_renewal > now ? next_renewal : now)
						   : 0);
	}
	for (int64_t p = s->period_index + 1; e == ERR_OK && n > 0 && p <= s->period_index + PERIODS_AHEAD; p++) {
		int64_t R = bill_add_months(s->billing_anchor, p);
		int w = winner_at(&c, idx, told, n, R);
		if (w < 0)
			continue;
		const struct pc_row *pc = &c.rows[idx[w]];
		if (pc->amount == s->price.amount.amount) {
			/* Nothing changes at R; a later change may still come. */
			bool later = false;
			for (size_t k = (size_t)w + 1; k < n; k++)
				later |= told[k] != 0;
			if (!later)
				break;
			continue;
		}
		bool consent = false;
		e = bill_country_requires_consent(db, s->country, &consent);
		out->has = true;
		snprintf(out->id, sizeof out->id, "%s", pc->id);
		money_init(&out->amount, pc->amount, pc->currency);
		out->effective_at = pc->effective_at;
		out->notified_at = nts[w].exists ? nts[w].notified_at : 0;
		out->applies_at = R;
		out->consent_required = consent && pc->amount > s->price.amount.amount;
		out->accepted = nts[w].accepted_at != 0;
		break;
	}
	pc_cache_release(&c);
	return e;
}

struct accept_ctx {
	const char *account_id;
	struct bill_pending_price *out;
};

static enum err accept_tx(struct db *db, void *arg)
{
	struct accept_ctx *c = arg;
	struct bill_subscription s;
	struct db_stmt *st = NULL;
	int64_t now = clock_now();
	enum err e = bill_subscription_get(db, c->account_id, &s);
	if (e != ERR_OK)
		return e;
	if (s.state == BILL_ENDED)
		return ERR_NOT_FOUND;
	e = bill_pending_price_change(db, &s, c->out);
	if (e != ERR_OK)
		return e;
	if (!c->out->has)
		return ERR_NOT_FOUND;
	/* Accepting before being told is being told. */
	e = db_prepare(db,
		       "INSERT INTO price_change_notices (subscription_id, price_change_id, notified_at, accepted_at)"
		       " VALUES (?1, ?2, ?3, ?3) ON CONFLICT (subscription_id, price_change_id)"
		       " DO UPDATE SET accepted_at = COALESCE(price_change_notices.accepted_at, ?3)",
		       &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, s.id);
	db_bind_text(st, 2, c->out->id);
	db_bind_int64(st, 3, now);
	e = db_step_done(st);
	db_done(st);
	if (e == ERR_OK && !c->out->accepted)
		e = events_emit(db, "price_change.accepted", s.id,
				json_pack("{s:s, s:s, s:I, s:s}", "account", s.account_id, "price_change",
					  c->out->id, "amount", (json_int_t)c->out->amount.amount, "currency",
					  c->out->amount.currency));
	if (e == ERR_OK)
		e = bill_pending_price_change(db, &s, c->out);
	return e;
}

enum err bill_price_change_accept(struct db *db, const char *account_id, struct bill_pending_price *out)
{
	struct accept_ctx c = {account_id, out};
	return db_transaction(db, accept_tx, &c);
}

/* ---- scheduling ---- */

struct schedule_ctx {
	const struct bill_price_change_params *p;
	const struct bill_actor *actor;
	struct bill_price_change *out;
};

static enum err schedule_tx(struct db *db, void *arg)
{
	struct schedule_ctx *c = arg;
	const struct bill_price_change_params *p = c->p;
	struct bill_price_change *o = c->out;
	struct bill_offer offer;
	struct db_stmt *st = NULL;
	int64_t version = 0, now = clock_now();
	enum err e = cat_offer(db, p->country, p->plan_code, p->effective_at, &offer, &version);
	if (e != ERR_OK)
		return e;
	if (strcmp(offer.price.amount.currency, p->amount->currency) != 0)
		return ERR_CURRENCY_MISMATCH;
	memset(o, 0, sizeof *o);
	e = ids_new("prc_", o->id, sizeof o->id);
	if (e != ERR_OK)
		return e;
	snprintf(o->plan_code, sizeof o->plan_code, "%s", offer.plan.code);
	snprintf(o->country, sizeof o->country, "%s", p->country);
	o->amount = *p->amount;
	o->effective_at = p->effective_at;
	o->notice_days = p->notice_days;
	o->grandfather_months = p->grandfather_months;
	snprintf(o->created_by, sizeof o->created_by, "%s", c->actor && c->actor->id ? c->actor->id : "tool");
	o->created_at = now;
	e = db_prepare(db,
		       "INSERT INTO price_changes (id, plan_code, country, currency, amount, effective_at,"
		       " notice_days, grandfather_months, created_by, created_at)"
		       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
		       &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, o->id);
	db_bind_text(st, 2, o->plan_code);
	db_bind_text(st, 3, o->country);
	db_bind_text(st, 4, o->amount.currency);
	db_bind_int64(st, 5, o->amount.amount);
	db_bind_int64(st, 6, o->effective_at);
	db_bind_int64(st, 7, o->notice_days);
	db_bind_int64(st, 8, o->grandfather_months);
	db_bind_text(st, 9, o->created_by);
	db_bind_int64(st, 10, now);
	e = db_step_done(st);
	db_done(st);
	if (e != ERR_OK)
		return e;
	/* New subscribers pay it from effective_at: a price point next to the
	 * current ones (bill_catalog_import carries it into later versions). */
	st = NULL;
	e = db_prepare(db,
		       "INSERT INTO price_points (catalog_version, plan_code, country, currency, amount,"
		       " tax_inclusive, tax_rate_bps, tax_name, effective_from)"
		       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
		       &st);
	if (e != ERR_OK)
		return e;
	db_bind_int64(st, 1, version);
	db_bind_text(st, 2, o->plan_code);
	db_bind_text(st, 3, o->country);
	db_bind_text(st, 4, o->amount.currency);
	db_bind_int64(st, 5, o->amount.amount);
	db_bind_int64(st, 6, offer.price.tax_inclusive);
	db_bind_int64(st, 7, offer.price.tax_rate_bps);
	db_bind_text(st, 8, offer.price.tax_name);
	db_bind_int64(st, 9, o->effective_at);
	e = db_step_done(st);
	db_done(st);
	if (e != ERR_OK)
		return e;
	char eff[32];
	json_t *after = json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:I, s:I}", "id", o->id, "plan", o->plan_code,
				  "country", o->country, "amount", (json_int_t)o->amount.amount, "currency",
				  o->amount.currency, "effective_at",
				  clock_format(o->effective_at, eff, sizeof eff), "notice_days",
				  (json_int_t)o->notice_days, "grandfather_months",
				  (json_int_t)o->grandfather_months);
	e = events_emit(db, "price_change.scheduled", o->id, json_deep_copy(after));
	if (e == ERR_OK && c->actor && c->actor->audit)
		e = c->actor->audit(db, c->actor, "price_change.schedule", "price_change", o->id,
				    json_pack("{s:I, s:s}", "amount", (json_int_t)offer.price.amount.amount,
					      "currency", offer.price.amount.currency),
				    after);
	else
		json_decref(after);
	return e;
}

struct notify_batch_ctx {
	const struct bill_price_change *pc;
	bool consent;
	char cursor[IDS_MAX];
	size_t seen;
	int64_t notified;
};

static enum err notify_batch_tx(struct db *db, void *arg)
{
	struct notify_batch_ctx *c = arg;
	struct db_stmt *st = NULL;
	struct sub_ref {
		char id[IDS_MAX], account[IDS_MAX];
		int64_t amount, anchor, index;
	} *subs = calloc(NOTICE_BATCH, sizeof *subs);
	int64_t now = clock_now();
	c->seen = 0;
	c->notified = 0;
	if (!subs)
		return ERR_NOMEM;
	enum err e = db_prepare(db,
				"SELECT id, account_id, amount, billing_anchor, period_index FROM subscriptions"
				" WHERE plan_code = ?1 AND country = ?2 AND state <> 'ended' AND id > ?3"
				"   AND currency = ?4"
				" ORDER BY id LIMIT ?5",
				&st);
	if (e == ERR_OK) {
		db_bind_text(st, 1, c->pc->plan_code);
		db_bind_text(st, 2, c->pc->country);
		db_bind_text(st, 3, c->cursor);
		db_bind_text(st, 4, c->pc->amount.currency);
		db_bind_int64(st, 5, NOTICE_BATCH);
		bool row = false;
		while (c->seen < NOTICE_BATCH && (e = db_step(st, &row)) == ERR_OK && row) {
			struct sub_ref *s = &subs[c->seen++];
			snprintf(s->id, sizeof s->id, "%s", db_column_text(st, 0));
			snprintf(s->account, sizeof s->account, "%s", db_column_text(st, 1));
			s->amount = db_column_int64(st, 2);
			s->anchor = db_column_int64(st, 3);
			s->index = db_column_int64(st, 4);
		}
		db_done(st);
	}
	struct pc_row r;
	memset(&r, 0, sizeof r);
	snprintf(r.id, sizeof r.id, "%s", c->pc->id);
	snprintf(r.plan_code, sizeof r.plan_code, "%s", c->pc->plan_code);
	snprintf(r.country, sizeof r.country, "%s", c->pc->country);
	snprintf(r.currency, sizeof r.currency, "%s", c->pc->amount.currency);
	r.amount = c->pc->amount.amount;
	r.effective_at = c->pc->effective_at;
	r.notice_days = c->pc->notice_days;
	r.grandfather_months = c->pc->grandfather_months;
	for (size_t i = 0; i < c->seen && e == ERR_OK; i++) {
		const struct sub_ref *s = &subs[i];
		bool inserted = false;
		if (s->amount == r.amount)
			continue;
		int64_t applies = renewal_at_or_after(s->anchor, s->index, apply_from(&r, now));
		e = notify_one(db, &r, s->id, s->account, s->amount, applies, c->consent, now, &inserted);
		c->notified += inserted;
	}
	if (e == ERR_OK && c->seen > 0)
		snprintf(c->cursor, sizeof c->cursor, "%s", subs[c->seen - 1].id);
	free(subs);
	return e;
}

enum err bill_price_change_schedule(struct db *db, const struct bill_price_change_params *p,
				    const struct bill_actor *actor, struct bill_price_change *out)
{
	int64_t now = clock_now();
	if (p->effective_at < now || p->notice_days < 0 || p->notice_days > 365 ||
	    p->grandfather_months < 0 || p->grandfather_months > 120 || p->amount->amount < 0)
		return ERR_INVALID_PARAMETER;
	struct schedule_ctx c = {p, actor, out};
	enum err e = db_transaction(db, schedule_tx, &c);
	if (e != ERR_OK)
		return e;
	/* Tell the subscribers, a batch per transaction; a crash midway leaves
	 * the rest to be told at their next renewal (later, never earlier). */
	struct notify_batch_ctx nc;
	memset(&nc, 0, sizeof nc);
	nc.pc = out;
	e = bill_country_requires_consent(db, out->country, &nc.consent);
	while (e == ERR_OK) {
		e = db_transaction(db, notify_batch_tx, &nc);
		out->notified += nc.notified;
		if (nc.seen < NOTICE_BATCH)
			break;
	}
	if (e == ERR_OK)
		log_info("billing.price_change_scheduled", "id=%s plan=%s country=%s amount=%" PRId64
			 " notified=%" PRId64, out->id, out->plan_code, out->country, out->amount.amount,
			 out->notified);
	return e;
}
