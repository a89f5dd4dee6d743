/*
 * renewal_int.h - what the renewal files of billing/ share (renewal.c,
 * dunning.c, price_changes.c, credits.c, refunds.c): the subscription as the
 * billing run reads it, the run's counters, and the steps the run calls.
 *
 * Every function here that writes runs inside its caller's transaction.
 */
#ifndef HEARTH_BILLING_RENEWAL_INT_H
#define HEARTH_BILLING_RENEWAL_INT_H

#include "billing/billing_int.h"
#include "billing/renewal.h"

#define DAY_S INT64_C(86400)

/* A subscription as the billing run reads it: the row, its default payment
 * method and its credit balance in its currency, read by one query under
 * the write lock. */
struct due_sub {
	char id[IDS_MAX];
	char account_id[IDS_MAX];
	enum bill_state state;
	char plan_code[BILL_CODE_MAX + 1];
	int64_t catalog_version;
	char country[3];
	struct bill_price price;	/* the snapshot: amount and tax rule */
	int64_t anchor;
	int64_t period_index;
	int64_t period_start;
	int64_t period_end;
	bool cancel_at_period_end;
	bool has_scheduled;
	char scheduled_plan[BILL_CODE_MAX + 1];
	int failed_payments;
	int64_t next_retry_at;		/* 0 when NULL */
	int64_t on_hold_since;		/* 0 when NULL */
	int64_t dunning_since;		/* 0 when NULL */
	bool dunning_hard;
	bool has_pm;
	struct pm_row pm;
	int64_t credit_balance;		/* in price.amount.currency */
};

/* What steps did, added to the run's figures when their batch commits. */
struct ren_counts {
	int64_t processed, renewed, failed, recovered, ended, errors;
};

/* ---- renewal.c ---- */

/* The live (not ended) subscription of `account_id` as the run reads it;
 * ERR_NOT_FOUND when none. */
enum err ren_load_live(struct db *db, const char *account_id, struct due_sub *out);

/* The provider idempotency key of the attempt number `ordinal` (0-based)
 * on the invoice of (subscription, period start). */
void ren_charge_key(char *buf, size_t cap, const char *sub_id, int64_t period_start, int64_t ordinal);


/* The run's state change of a subscription: one UPDATE of its state and
 * dunning columns.  Zero times are written as NULL. */
struct ren_state {
	enum bill_state state;
	int failed_payments;
	int64_t next_retry_at;
	int64_t dunning_since;
	bool dunning_hard;
	int64_t on_hold_since;
	int64_t ended_at;
};
enum err ren_set_state(struct db *db, const char *sub_id, const struct ren_state *s, int64_t now);

/* ---- dunning.c ---- */

/* A renewal charge of invoice `d` failed (`pay`): past_due with the first
 * retry scheduled from `due` (or on_hold at once when the schedule is
 * empty), events and the payment_failed notification. */
enum err dun_renewal_failed(struct db *db, const struct due_sub *r, const struct inv_draft *d,
			    const struct bill_payment_outcome *pay, int64_t due, int64_t now,
			    struct ren_counts *counts);

/* The scheduled retry of a past_due subscription (next_retry_at came). */
enum err dun_retry_step(struct db *db, const struct due_sub *r, int64_t now, struct ren_counts *counts);

/* An on_hold subscription whose time on hold ran out: ended. */
enum err dun_hold_expired_step(struct db *db, const struct due_sub *r, int64_t now,
			       struct ren_counts *counts);

/* ---- price_changes.c ---- */

struct pc_row {
	char id[IDS_MAX];
	char plan_code[BILL_CODE_MAX + 1];
	char country[3];
	char currency[4];
	int64_t amount;
	int64_t effective_at;
	int64_t notice_days;
	int64_t grandfather_months;
	int64_t created_at;
};

/* Every scheduled price change, read once per batch (there are few). */
struct pc_cache {
	size_t n;
	struct pc_row *rows;	/* owned */
};
enum err pc_cache_load(struct db *db, struct pc_cache *c);
void pc_cache_release(struct pc_cache *c);

/* What a renewal at `renewal_at` does about price changes. */
struct pc_decision {
	bool apply;			/* charge `amount` from this renewal on */
	bool end_for_consent;		/* consent country, not accepted: end instead */
	char pc_id[IDS_MAX];
	int64_t amount;
};

/* Decide for the subscription `r` renewing at `renewal_at`; tells the
 * subscriber now (notice + notification) about the latest change they were
 * never told about, and marks an applied change's notice. */
enum err pc_decide(struct db *db, const struct pc_cache *c, const struct due_sub *r,
		   int64_t renewal_at, int64_t now, struct pc_decision *out);

/* ---- credits.c ---- */

/* Take `amount` (> 0, at most the balance) of the account's credit in
 * `currency` for invoice `invoice_id`: balance, ledger row, credit.applied. */
enum err credit_take(struct db *db, const char *account_id, const char *currency, int64_t amount,
		     const char *invoice_id, int64_t now);

#endif
