/*
 * The catalog: validating a catalog document, storing it as a numbered
 * version, and reading plans and prices from the current version.
 *
 * A document is validated completely before anything is written, and every
 * bad field is reported with its path, so whoever edits the file sees all
 * the mistakes at once.  Amounts are decimal strings in the currency's
 * major unit ("17.99" USD, "1590" JPY, "2.500" KWD) read with money_parse(),
 * which refuses anything finer than the currency's minor unit.
 */
#include <sodium.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "billing/billing_int.h"
#include "billing/renewal.h"
#include "core/clock.h"
#include "core/data.h"
#include "core/events.h"
#include "core/log.h"

/* Bumped after each import that made a new version (bill_catalog_generation). */
static atomic_uint_fast64_t catalog_generation = 1;

uint64_t bill_catalog_generation(void) { return atomic_load(&catalog_generation); }

#define CATALOG_ERRORS_MAX 100

struct cat_price {
	int plan;		/* index into cat.plans */
	int64_t amount;
};

struct cat_country {
	char code[3];
	char currency[4];
	bool tax_inclusive;
	int32_t tax_rate_bps;
	char tax_name[BILL_TAX_NAME_MAX + 1];
	size_t nprices;
	struct cat_price prices[BILL_PLANS_MAX];
	bool has_em_ads, has_em_ad_free;
	int64_t em_ads, em_ad_free;
	bool consent;		/* price_change_policy "consent" (issue 7) */
};

struct cat {
	int64_t effective_from;
	size_t nplans;
	struct bill_plan plans[BILL_PLANS_MAX];
	size_t ncountries;
	struct cat_country *countries;	/* BILL_COUNTRIES_MAX, owned */
};

/* ---- error collection ---- */

struct verr {
	json_t *list;
};

static void verr_add(struct verr *v, const char *field, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void verr_add(struct verr *v, const char *field, const char *code, const char *fmt, ...)
{
	char msg[200];
	va_list ap;
	if (json_array_size(v->list) >= CATALOG_ERRORS_MAX)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		msg[0] = '\0';
	json_array_append_new(v->list, json_pack("{s:s, s:s, s:s}", "field", field, "code", code,
						 "message", msg));
}

/* "base.key" (or "key" when base is empty) into buf. */
static const char *path_key(char *buf, size_t cap, const char *base, const char *key)
{
	int n = base[0] ? snprintf(buf, cap, "%s.%s", base, key) : snprintf(buf, cap, "%s", key);
	if (n < 0 || (size_t)n >= cap)
		snprintf(buf, cap, "%s", base);
	return buf;
}

static const char *path_index(char *buf, size_t cap, const char *base, size_t i)
{
	int n = snprintf(buf, cap, "%s[%zu]", base, i);
	if (n < 0 || (size_t)n >= cap)
		snprintf(buf, cap, "%s", base);
	return buf;
}

/* Report every key of `obj` not in `allowed`. */
static void reject_unknown(struct verr *v, json_t *obj, const char *base, const char *const *allowed)
{
	char path[160];
	for (void *it = json_object_iter(obj); it; it = json_object_iter_next(obj, it)) {
		const char *key = json_object_iter_key(it);
		bool known = false;
		for (size_t i = 0; allowed[i] && !known; i++)
			known = strcmp(allowed[i], key) == 0;
		if (!known)
			verr_add(v, path_key(path, sizeof path, base, key), "unknown_field",
				 "Unknown field");
	}
}

/* A required member of `obj` (reports "required"). */
static json_t *member(struct verr *v, json_t *obj, const char *base, const char *key)
{
	char path[160];
	json_t *x = json_object_get(obj, key);
	if (!x || json_is_null(x)) {
		verr_add(v, path_key(path, sizeof path, base, key), "required", "This field is required");
		return NULL;
	}
	return x;
}

static bool read_int(struct verr *v, json_t *obj, const char *base, const char *key, int64_t min,
		     int64_t max, int64_t *out)
{
	char path[160];
	json_t *x = member(v, obj, base, key);
	if (!x)
		return false;
	if (!json_is_integer(x)) {
		verr_add(v, path_key(path, sizeof path, base, key), "wrong_type", "Must be an integer");
		return false;
	}
	json_int_t i = json_integer_value(x);
	if (i < min || i > max) {
		verr_add(v, path_key(path, sizeof path, base, key), "out_of_range",
			 "Must be from %lld to %lld", (long long)min, (long long)max);
		return false;
	}
	*out = (int64_t)i;
	return true;
}

static bool read_bool(struct verr *v, json_t *obj, const char *base, const char *key, bool *out)
{
	char path[160];
	json_t *x = member(v, obj, base, key);
	if (!x)
		return false;
	if (!json_is_boolean(x)) {
		verr_add(v, path_key(path, sizeof path, base, key), "wrong_type", "Must be true or false");
		return false;
	}
	*out = json_is_true(x);
	return true;
}

static bool read_string(struct verr *v, json_t *obj, const char *base, const char *key, size_t max,
			char *out, size_t cap)
{
	char path[160];
	json_t *x = member(v, obj, base, key);
	if (!x)
		return false;
	if (!json_is_string(x)) {
		verr_add(v, path_key(path, sizeof path, base, key), "wrong_type", "Must be a string");
		return false;
	}
	size_t len = json_string_length(x);
	const char *s = json_string_value(x);
	if (len == 0 || len > max || strlen(s) != len || len >= cap) {
		verr_add(v, path_key(path, sizeof path, base, key), "invalid_length",
			 "Must be 1 to %zu characters", max);
		return false;
	}
	memcpy(out, s, len + 1);
	return true;
}

static bool valid_plan_code(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > BILL_CODE_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

static bool valid_country(const char *s)
{
	return strlen(s) == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z';
}

/* Why money_parse refused `text`: a well-formed decimal with more fraction
 * digits than the currency has is a precision error, anything else is not
 * an amount at all. */
static bool is_too_precise(const char *text, int exponent)
{
	const char *p = text;
	if (*p == '-')
		p++;
	if (*p < '0' || *p > '9')
		return false;
	while (*p >= '0' && *p <= '9')
		p++;
	if (*p != '.')
		return false;
	p++;
	int digits = 0;
	while (*p >= '0' && *p <= '9') {
		p++;
		digits++;
	}
	return *p == '\0' && digits > exponent;
}

/* An amount given as a decimal string in the major unit of `currency`.
 * `currency` may be NULL when the country's currency was itself invalid: the
 * amount is then only checked for being a string. */
static bool read_amount(struct verr *v, json_t *x, const char *path, const char *currency,
			int64_t *out)
{
	if (!json_is_string(x)) {
		verr_add(v, path, "wrong_type", "Must be a decimal string such as \"17.99\"");
		return false;
	}
	if (!currency)
		return false;
	const char *text = json_string_value(x);
	struct money m;
	const struct money_currency *c = NULL;
	money_currency_find(currency, &c);
	if (money_parse(text, currency, &m) != ERR_OK) {
		if (c && is_too_precise(text, c->exponent))
			verr_add(v, path, "invalid_precision",
				 "%s has %d decimal places; \"%s\" has more", currency, c->exponent, text);
		else
			verr_add(v, path, "invalid_amount", "Must be a decimal string such as \"17.99\"");
		return false;
	}
	if (m.amount < 0) {
		verr_add(v, path, "negative_amount", "Must not be negative");
		return false;
	}
	*out = m.amount;
	return true;
}

static const char *const resolutions[] = {"SD", "HD", "FHD", "UHD", NULL};

static void validate_plan(struct verr *v, struct cat *cat, json_t *p, size_t idx)
{
	static const char *const allowed[] = {"code", "name", "max_streams", "resolution",
					      "download_devices", "extra_member_slots", "ads",
					      "device_types", NULL};
	char base[64], path[160];
	path_index(base, sizeof base, "plans", idx);
	if (!json_is_object(p)) {
		verr_add(v, base, "wrong_type", "Must be an object");
		return;
	}
	reject_unknown(v, p, base, allowed);
	struct bill_plan plan;
	memset(&plan, 0, sizeof plan);
	bool ok = true;
	if (read_string(v, p, base, "code", BILL_CODE_MAX, plan.code, sizeof plan.code)) {
		if (!valid_plan_code(plan.code)) {
			verr_add(v, path_key(path, sizeof path, base, "code"), "invalid_value",
				 "Use lowercase letters, digits and _");
			ok = false;
		}
		for (size_t i = 0; i < cat->nplans; i++)
			if (strcmp(cat->plans[i].code, plan.code) == 0) {
				verr_add(v, path_key(path, sizeof path, base, "code"), "duplicate",
					 "Plan %s is defined twice", plan.code);
				ok = false;
			}
	} else {
		ok = false;
	}
	ok &= read_string(v, p, base, "name", BILL_NAME_MAX, plan.name, sizeof plan.name);
	int64_t n = 0;
	if (read_int(v, p, base, "max_streams", 1, 16, &n))
		plan.max_streams = (int)n;
	else
		ok = false;
	if (read_int(v, p, base, "download_devices", 0, 100, &n))
		plan.download_devices = (int)n;
	else
		ok = false;
	if (read_int(v, p, base, "extra_member_slots", 0, 10, &n))
		plan.extra_member_slots = (int)n;
	else
		ok = false;
	ok &= read_bool(v, p, base, "ads", &plan.has_ads);
	json_t *res = member(v, p, base, "resolution");
	if (res) {
		const char *r = json_is_string(res) ? json_string_value(res) : NULL;
		bool known = false;
		for (size_t i = 0; r && resolutions[i] && !known; i++)
			known = strcmp(resolutions[i], r) == 0;
		if (!known) {
			verr_add(v, path_key(path, sizeof path, base, "resolution"), "invalid_value",
				 "Must be SD, HD, FHD or UHD");
			ok = false;
		} else {
			snprintf(plan.resolution, sizeof plan.resolution, "%s", r);
		}
	} else {
		ok = false;
	}
	json_t *devs = member(v, p, base, "device_types");
	if (devs) {
		path_key(path, sizeof path, base, "device_types");
		if (!json_is_array(devs) || json_array_size(devs) == 0) {
			verr_add(v, path, "wrong_type", "Must be a non-empty array of device types");
			ok = false;
		} else {
			for (size_t i = 0; i < json_array_size(devs); i++) {
				json_t *d = json_array_get(devs, i);
				char dpath[192];
				unsigned bit = json_is_string(d) ? cat_devices_parse(json_string_value(d)) : 0;
				path_index(dpath, sizeof dpath, path, i);
				if (!bit || strchr(json_string_value(d), ',')) {
					verr_add(v, dpath, "invalid_value",
						 "Must be tv, web, phone, tablet or console");
					ok = false;
				} else if (plan.device_types & bit) {
					verr_add(v, dpath, "duplicate", "Listed twice");
					ok = false;
				} else {
					plan.device_types |= bit;
				}
			}
		}
	} else {
		ok = false;
	}
	if (ok && cat->nplans < BILL_PLANS_MAX)
		cat->plans[cat->nplans++] = plan;
	else if (cat->nplans < BILL_PLANS_MAX && plan.code[0] && valid_plan_code(plan.code)) {
		/* Keep a plan with other errors under its code, so its prices do
		 * not also report unknown_plan; the import fails anyway. */
		bool dup = false;
		for (size_t i = 0; i < cat->nplans; i++)
			dup |= strcmp(cat->plans[i].code, plan.code) == 0;
		if (!dup)
			cat->plans[cat->nplans++] = plan;
	}
}

static int plan_index(const struct cat *cat, const char *code)
{
	for (size_t i = 0; i < cat->nplans; i++)
		if (strcmp(cat->plans[i].code, code) == 0)
			return (int)i;
	return -1;
}

static void validate_country(struct verr *v, struct cat *cat, const char *code, json_t *c)
{
	static const char *const allowed[] = {"currency", "tax", "prices", "extra_member",
					      "price_change_policy", NULL};
	static const char *const tax_allowed[] = {"inclusive", "rate_bps", "name", NULL};
	static const char *const em_allowed[] = {"ads", "ad_free", NULL};
	char base[64], path[192];
	path_key(base, sizeof base, "countries", code);
	if (!valid_country(code)) {
		verr_add(v, base, "invalid_country", "Country codes are two uppercase letters (ISO 3166-1)");
		return;
	}
	if (!json_is_object(c)) {
		verr_add(v, base, "wrong_type", "Must be an object");
		return;
	}
	reject_unknown(v, c, base, allowed);
	struct cat_country cc;
	memset(&cc, 0, sizeof cc);
	memcpy(cc.code, code, 3);
	const char *currency = NULL;
	json_t *cur = member(v, c, base, "currency");
	if (cur) {
		const struct money_currency *mc = NULL;
		path_key(path, sizeof path, base, "currency");
		if (!json_is_string(cur))
			verr_add(v, path, "wrong_type", "Must be an ISO 4217 code such as \"USD\"");
		else if (money_currency_find(json_string_value(cur), &mc) != ERR_OK)
			verr_add(v, path, "unknown_currency", "Not a supported ISO 4217 currency");
		else
			currency = memcpy(cc.currency, mc->code, sizeof cc.currency);
	}
	json_t *tax = member(v, c, base, "tax");
	if (tax) {
		char tbase[96];
		path_key(tbase, sizeof tbase, base, "tax");
		if (!json_is_object(tax)) {
			verr_add(v, tbase, "wrong_type", "Must be an object");
		} else {
			int64_t bps = 0;
			reject_unknown(v, tax, tbase, tax_allowed);
			read_bool(v, tax, tbase, "inclusive", &cc.tax_inclusive);
			if (read_int(v, tax, tbase, "rate_bps", 0, MONEY_TAX_BPS_MAX, &bps))
				cc.tax_rate_bps = (int32_t)bps;
			read_string(v, tax, tbase, "name", BILL_TAX_NAME_MAX, cc.tax_name, sizeof cc.tax_name);
		}
	}
	json_t *prices = member(v, c, base, "prices");
	bool needs_em_ads = false, needs_em_ad_free = false;
	if (prices) {
		char pbase[96];
		path_key(pbase, sizeof pbase, base, "prices");
		if (!json_is_object(prices) || json_object_size(prices) == 0) {
			verr_add(v, pbase, "wrong_type", "Must be an object of plan code -> amount");
		} else {
			for (void *it = json_object_iter(prices); it; it = json_object_iter_next(prices, it)) {
				const char *plan = json_object_iter_key(it);
				json_t *amount = json_object_iter_value(it);
				path_key(path, sizeof path, pbase, plan);
				int idx = plan_index(cat, plan);
				if (idx < 0) {
					verr_add(v, path, "unknown_plan", "No plan %s in plans", plan);
					continue;
				}
				int64_t minor = 0;
				if (!read_amount(v, amount, path, currency, &minor))
					continue;
				if (cc.nprices < BILL_PLANS_MAX) {
					cc.prices[cc.nprices].plan = idx;
					cc.prices[cc.nprices].amount = minor;
					cc.nprices++;
				}
				const struct bill_plan *bp = &cat->plans[idx];
				if (bp->extra_member_slots > 0) {
					needs_em_ads |= bp->has_ads;
					needs_em_ad_free |= !bp->has_ads;
				}
			}
		}
	}
	json_t *em = json_object_get(c, "extra_member");
	char ebase[96];
	path_key(ebase, sizeof ebase, base, "extra_member");
	if (em && !json_is_null(em)) {
		if (!json_is_object(em)) {
			verr_add(v, ebase, "wrong_type", "Must be an object {ads, ad_free}");
		} else {
			reject_unknown(v, em, ebase, em_allowed);
			json_t *x = json_object_get(em, "ads");
			if (x && !json_is_null(x))
				cc.has_em_ads = read_amount(v, x, path_key(path, sizeof path, ebase, "ads"),
							    currency, &cc.em_ads);
			x = json_object_get(em, "ad_free");
			if (x && !json_is_null(x))
				cc.has_em_ad_free = read_amount(v, x, path_key(path, sizeof path, ebase, "ad_free"),
								currency, &cc.em_ad_free);
		}
	}
	/* How members learn of a price increase (docs/billing.md, "Price
	 * changes"): told with notice (the default), or asked to accept. */
	json_t *policy = json_object_get(c, "price_change_policy");
	if (policy && !json_is_null(policy)) {
		const char *pv = json_is_string(policy) ? json_string_value(policy) : "";
		if (strcmp(pv, "consent") == 0)
			cc.consent = true;
		else if (strcmp(pv, "notify") != 0)
			verr_add(v, path_key(path, sizeof path, base, "price_change_policy"), "invalid_value",
				 "Must be notify or consent");
	}
	/* A plan with extra-member slots sold here needs the add-on priced. */
	if (needs_em_ads && !(em && json_is_object(em) && json_object_get(em, "ads")))
		verr_add(v, path_key(path, sizeof path, ebase, "ads"), "required",
			 "An ad-supported plan with extra-member slots is sold here");
	if (needs_em_ad_free && !(em && json_is_object(em) && json_object_get(em, "ad_free")))
		verr_add(v, path_key(path, sizeof path, ebase, "ad_free"), "required",
			 "An ad-free plan with extra-member slots is sold here");
	if (cat->ncountries < BILL_COUNTRIES_MAX)
		cat->countries[cat->ncountries++] = cc;
}

/* Validate `doc` into `cat`; errors go to `v`. */
static void validate(struct verr *v, json_t *doc, struct cat *cat, int64_t now)
{
	static const char *const allowed[] = {"effective_from", "plans", "countries", "description", NULL};
	if (!json_is_object(doc)) {
		verr_add(v, "", "wrong_type", "The catalog must be a JSON object");
		return;
	}
	reject_unknown(v, doc, "", allowed);
	cat->effective_from = now;
	json_t *ef = json_object_get(doc, "effective_from");
	if (ef && !json_is_null(ef)) {
		if (!json_is_string(ef) || clock_parse(json_string_value(ef), &cat->effective_from) != ERR_OK)
			verr_add(v, "effective_from", "invalid_time", "Must be an RFC 3339 time");
	}
	json_t *desc = json_object_get(doc, "description");
	if (desc && !json_is_string(desc))
		verr_add(v, "description", "wrong_type", "Must be a string");
	json_t *plans = member(v, doc, "", "plans");
	if (plans) {
		if (!json_is_array(plans) || json_array_size(plans) == 0) {
			verr_add(v, "plans", "wrong_type", "Must be a non-empty array of plans");
		} else if (json_array_size(plans) > BILL_PLANS_MAX) {
			verr_add(v, "plans", "too_many", "At most %d plans", BILL_PLANS_MAX);
		} else {
			for (size_t i = 0; i < json_array_size(plans); i++)
				validate_plan(v, cat, json_array_get(plans, i), i);
		}
	}
	json_t *countries = member(v, doc, "", "countries");
	if (countries) {
		if (!json_is_object(countries) || json_object_size(countries) == 0) {
			verr_add(v, "countries", "wrong_type", "Must be a non-empty object of country -> prices");
		} else if (json_object_size(countries) > BILL_COUNTRIES_MAX) {
			verr_add(v, "countries", "too_many", "At most %d countries", BILL_COUNTRIES_MAX);
		} else {
			for (void *it = json_object_iter(countries); it;
			     it = json_object_iter_next(countries, it))
				validate_country(v, cat, json_object_iter_key(it), json_object_iter_value(it));
		}
	}
}

/* ---- storing ---- */

struct import_ctx {
	const char *text;
	const char *source;
	const struct bill_actor *actor;	/* a staff import: audited in the transaction */
	const struct cat *cat;
	char checksum[65];
	int64_t now;
	int64_t version;	/* out */
	bool created;		/* out */
};

static enum err insert_prices(struct db *db, const struct import_ctx *c)
{
	struct db_stmt *st = NULL;
	enum err e = ERR_OK;
	for (size_t i = 0; i < c->cat->ncountries && e == ERR_OK; i++) {
		const struct cat_country *cc = &c->cat->countries[i];
		for (size_t j = 0; j < cc->nprices && e == ERR_OK; j++) {
			e = db_prepare(db,
				       "INSERT INTO price_points (catalog_version, plan_code, country, currency,"
				       " amount, tax_inclusive, tax_rate_bps, tax_name, effective_from)"
				       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
				       &st);
			if (e != ERR_OK)
				break;
			db_bind_int64(st, 1, c->version);
			db_bind_text(st, 2, c->cat->plans[cc->prices[j].plan].code);
			db_bind_text(st, 3, cc->code);
			db_bind_text(st, 4, cc->currency);
			db_bind_int64(st, 5, cc->prices[j].amount);
			db_bind_int64(st, 6, cc->tax_inclusive);
			db_bind_int64(st, 7, cc->tax_rate_bps);
			db_bind_text(st, 8, cc->tax_name);
			db_bind_int64(st, 9, c->cat->effective_from);
			e = db_step_done(st);
			db_done(st);
			st = NULL;
		}
		if (e == ERR_OK) {
			e = db_prepare(db,
				       "INSERT INTO country_policies (catalog_version, country, price_change_policy)"
				       " VALUES (?1, ?2, ?3)",
				       &st);
			if (e != ERR_OK)
				break;
			db_bind_int64(st, 1, c->version);
			db_bind_text(st, 2, cc->code);
			db_bind_text(st, 3, cc->consent ? "consent" : "notify");
			e = db_step_done(st);
			db_done(st);
			st = NULL;
		}
		for (int tier = 0; tier < 2 && e == ERR_OK; tier++) {
			bool has = tier == 0 ? cc->has_em_ads : cc->has_em_ad_free;
			if (!has)
				continue;
			e = db_prepare(db,
				       "INSERT INTO addon_prices (catalog_version, addon, country, tier, currency,"
				       " amount, tax_inclusive, tax_rate_bps, effective_from)"
				       " VALUES (?1, 'extra_member', ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
				       &st);
			if (e != ERR_OK)
				break;
			db_bind_int64(st, 1, c->version);
			db_bind_text(st, 2, cc->code);
			db_bind_text(st, 3, tier == 0 ? "ads" : "ad_free");
			db_bind_text(st, 4, cc->currency);
			db_bind_int64(st, 5, tier == 0 ? cc->em_ads : cc->em_ad_free);
			db_bind_int64(st, 6, cc->tax_inclusive);
			db_bind_int64(st, 7, cc->tax_rate_bps);
			db_bind_int64(st, 8, c->cat->effective_from);
			e = db_step_done(st);
			db_done(st);
			st = NULL;
		}
	}
	return e;
}

/* Scheduled price changes (price_changes, issue 7) that take effect after
 * the new catalog's prices stay scheduled: their price points are copied
 * into the new version, with its tax rule, where it still sells the plan
 * in that country and currency. */
static enum err carry_price_changes(struct db *db, const struct import_ctx *c)
{
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db,
				"INSERT INTO price_points (catalog_version, plan_code, country, currency, amount,"
				" tax_inclusive, tax_rate_bps, tax_name, effective_from)"
				" SELECT pp.catalog_version, pc.plan_code, pc.country, pc.currency, pc.amount,"
				" pp.tax_inclusive, pp.tax_rate_bps, pp.tax_name, pc.effective_at"
				" FROM price_changes pc JOIN price_points pp ON pp.catalog_version = ?1"
				"   AND pp.plan_code = pc.plan_code AND pp.country = pc.country"
				"   AND pp.currency = pc.currency AND pp.effective_from = ?2"
				" WHERE pc.effective_at > ?2"
				" ON CONFLICT (catalog_version, plan_code, country, effective_from) DO NOTHING",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_int64(st, 1, c->version);
	db_bind_int64(st, 2, c->cat->effective_from);
	e = db_step_done(st);
	db_done(st);
	return e;
}

static enum err import_tx(struct db *db, void *arg)
{
	struct import_ctx *c = arg;
	struct db_stmt *st = NULL;
	char devs[64];
	c->created = false;
	enum err e = db_prepare(db,
				"SELECT version, checksum FROM catalog_versions ORDER BY version DESC LIMIT 1",
				&st);
	if (e != ERR_OK)
		return e;
	e = db_step_row(st);
	if (e == ERR_OK) {
		c->version = db_column_int64(st, 0);
		const char *sum = db_column_text(st, 1);
		bool same = sum && strcmp(sum, c->checksum) == 0;
		db_done(st);
		if (same)
			return ERR_OK;
		c->version++;
	} else {
		db_done(st);
		if (e != ERR_NOT_FOUND)
			return e;
		c->version = 1;
	}
	st = NULL;
	e = db_prepare(db,
		       "INSERT INTO catalog_versions (version, source, checksum, document, created_at)"
		       " VALUES (?1, ?2, ?3, ?4, ?5)",
		       &st);
	if (e != ERR_OK)
		return e;
	db_bind_int64(st, 1, c->version);
	db_bind_text(st, 2, c->source);
	db_bind_text(st, 3, c->checksum);
	db_bind_text(st, 4, c->text);
	db_bind_int64(st, 5, c->now);
	e = db_step_done(st);
	db_done(st);
	for (size_t i = 0; i < c->cat->nplans && e == ERR_OK; i++) {
		const struct bill_plan *p = &c->cat->plans[i];
		st = NULL;
		e = db_prepare(db,
			       "INSERT INTO plans (catalog_version, code, name, position, max_streams, resolution,"
			       " download_devices, extra_member_slots, has_ads, device_types)"
			       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
			       &st);
		if (e != ERR_OK)
			break;
		cat_devices_format(p->device_types, devs, sizeof devs);
		db_bind_int64(st, 1, c->version);
		db_bind_text(st, 2, p->code);
		db_bind_text(st, 3, p->name);
		db_bind_int64(st, 4, (int64_t)i);
		db_bind_int64(st, 5, p->max_streams);
		db_bind_text(st, 6, p->resolution);
		db_bind_int64(st, 7, p->download_devices);
		db_bind_int64(st, 8, p->extra_member_slots);
		db_bind_int64(st, 9, p->has_ads);
		db_bind_text(st, 10, devs);
		e = db_step_done(st);
		db_done(st);
	}
	if (e == ERR_OK)
		e = insert_prices(db, c);
	if (e == ERR_OK)
		e = carry_price_changes(db, c);
	if (e == ERR_OK)
		e = events_emit(db, "catalog.imported", "catalog",
				json_pack("{s:I, s:s, s:s, s:i, s:i}", "version", (json_int_t)c->version,
					  "source", c->source, "checksum", c->checksum, "plans",
					  (int)c->cat->nplans, "countries", (int)c->cat->ncountries));
	if (e == ERR_OK && c->actor && c->actor->audit)
		e = c->actor->audit(db, c->actor, "catalog.import", "catalog", "catalog",
				    json_pack("{s:I}", "version", (json_int_t)(c->version - 1)),
				    json_pack("{s:I, s:s}", "version", (json_int_t)c->version, "checksum",
					      c->checksum));
	if (e == ERR_OK)
		c->created = true;
	return e;
}

enum err bill_catalog_import(struct db *db, const char *json_text, const char *source,
			     json_t **errors, int64_t *version, bool *created)
{
	return bill_catalog_import_as(db, json_text, NULL, errors, version, created, source);
}

enum err bill_catalog_import_as(struct db *db, const char *json_text, const struct bill_actor *actor,
				json_t **errors, int64_t *version, bool *created, const char *source)
{
	struct verr v = {json_array()};
	struct cat cat;
	json_t *doc = NULL;
	enum err e = ERR_OK;
	memset(&cat, 0, sizeof cat);
	if (errors)
		*errors = NULL;
	if (!v.list)
		return ERR_NOMEM;
	cat.countries = calloc(BILL_COUNTRIES_MAX, sizeof *cat.countries);
	if (!cat.countries) {
		e = ERR_NOMEM;
		goto out;
	}
	json_error_t jerr;
	doc = json_loads(json_text, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc) {
		verr_add(&v, "", "invalid_json", "Line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
	} else {
		validate(&v, doc, &cat, clock_now());
	}
	if (json_array_size(v.list) > 0) {
		e = ERR_VALIDATION;
		if (errors) {
			*errors = v.list;
			v.list = NULL;
		}
		goto out;
	}
	unsigned char hash[32];
	struct import_ctx c = {json_text, source, actor, &cat, {0}, clock_now(), 0, false};
	crypto_generichash(hash, sizeof hash, (const unsigned char *)json_text, strlen(json_text), NULL, 0);
	sodium_bin2hex(c.checksum, sizeof c.checksum, hash, sizeof hash);
	e = db_transaction(db, import_tx, &c);
	if (e == ERR_OK && c.created)
		atomic_fetch_add(&catalog_generation, 1);
	if (e == ERR_OK) {
		*version = c.version;
		if (created)
			*created = c.created;
		if (c.created)
			log_info("billing.catalog_imported", "version=%lld source=%s plans=%zu countries=%zu",
				 (long long)c.version, source, cat.nplans, cat.ncountries);
	}
out:
	json_decref(v.list);
	json_decref(doc);
	free(cat.countries);
	return e;
}

enum err bill_catalog_ensure(struct db *db, int64_t *version)
{
	int64_t v = 0;
	enum err e = cat_current_version(db, &v);
	if (e == ERR_NOT_FOUND) {
		const struct data_file *f = data_find("catalog.json");
		json_t *errors = NULL;
		if (!f)
			return ERR_INTERNAL;
		e = bill_catalog_import(db, f->bytes, "default", &errors, &v, NULL);
		if (e == ERR_VALIDATION) {
			char *text = json_dumps(errors, JSON_COMPACT);
			log_error("billing.default_catalog_invalid", "errors=%s", text ? text : "?");
			free(text);
			e = ERR_INTERNAL;
		}
		json_decref(errors);
	}
	if (e == ERR_OK && version)
		*version = v;
	return e;
}

/* ---- reading ---- */

unsigned cat_devices_parse(const char *csv)
{
	unsigned bits = 0;
	const char *p = csv;
	while (*p) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		unsigned bit = 0;
		for (int i = 0; i < BILL_DEVICE_COUNT; i++) {
			const char *name = bill_device_name(i);
			if (strlen(name) == n && strncmp(name, p, n) == 0)
				bit = 1u << i;
		}
		if (!bit)
			return 0;
		bits |= bit;
		p += n;
		if (*p == ',')
			p++;
	}
	return bits;
}

void cat_devices_format(unsigned bits, char *buf, size_t cap)
{
	size_t used = 0;
	if (cap == 0)
		return;
	buf[0] = '\0';
	for (int i = 0; i < BILL_DEVICE_COUNT; i++) {
		if (!(bits & (1u << i)))
			continue;
		int n = snprintf(buf + used, cap - used, "%s%s", used ? "," : "", bill_device_name(i));
		if (n < 0 || (size_t)n >= cap - used)
			return;
		used += (size_t)n;
	}
}

enum err bill_offers_next_change(struct db *db, const char *country, int64_t version, int64_t at,
				 int64_t *next)
{
	struct db_stmt *st = NULL;
	*next = INT64_MAX;
	enum err e = db_prepare(db,
				"SELECT MIN(t) FROM (SELECT MIN(effective_from) AS t FROM price_points"
				" WHERE catalog_version = ?1 AND country = ?2 AND effective_from > ?3"
				" UNION ALL SELECT MIN(effective_from) FROM addon_prices"
				" WHERE catalog_version = ?1 AND country = ?2 AND effective_from > ?3)",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_int64(st, 1, version);
	db_bind_text(st, 2, country);
	db_bind_int64(st, 3, at);
	e = db_step_row(st);
	if (e == ERR_OK && !db_column_is_null(st, 0))
		*next = db_column_int64(st, 0);
	db_done(st);
	return e;
}

enum err cat_current_version(struct db *db, int64_t *version)
{
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db, "SELECT MAX(version) FROM catalog_versions", &st);
	if (e != ERR_OK)
		return e;
	e = db_step_row(st);
	if (e == ERR_OK) {
		if (db_column_is_null(st, 0))
			e = ERR_NOT_FOUND;
		else
			*version = db_column_int64(st, 0);
	}
	db_done(st);
	return e;
}

/* Plan columns in this order, starting at `col`. */
#define PLAN_COLUMNS "p.code, p.name, p.max_streams, p.resolution, p.download_devices," \
		     " p.extra_member_slots, p.has_ads, p.device_types"

static void read_plan(struct db_stmt *st, int col, struct bill_plan *out)
{
	memset(out, 0, sizeof *out);
	snprintf(out->code, sizeof out->code, "%s", db_column_text(st, col));
	snprintf(out->name, sizeof out->name, "%s", db_column_text(st, col + 1));
	out->max_streams = (int)db_column_int64(st, col + 2);
	snprintf(out->resolution, sizeof out->resolution, "%s", db_column_text(st, col + 3));
	out->download_devices = (int)db_column_int64(st, col + 4);
	out->extra_member_slots = (int)db_column_int64(st, col + 5);
	out->has_ads = db_column_int64(st, col + 6) != 0;
	out->device_types = cat_devices_parse(db_column_text(st, col + 7));
}

enum err cat_plan_get(struct db *db, int64_t version, const char *code, struct bill_plan *out)
{
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db, "SELECT " PLAN_COLUMNS " FROM plans p"
				    " WHERE p.catalog_version = ?1 AND p.code = ?2", &st);
	if (e != ERR_OK)
		return e;
	db_bind_int64(st, 1, version);
	db_bind_text(st, 2, code);
	e = db_step_row(st);
	if (e == ERR_OK)
		read_plan(st, 0, out);
	db_done(st);
	return e;
}

/* The price point in force at `at`: the greatest effective_from <= at. */
#define OFFER_SELECT                                                                          \
	"SELECT " PLAN_COLUMNS ", pp.currency, pp.amount, pp.tax_inclusive, pp.tax_rate_bps,"  \
	" pp.tax_name, pp.effective_from,"                                                     \
	" (SELECT ap.amount FROM addon_prices ap WHERE ap.catalog_version = p.catalog_version" \
	"   AND ap.addon = 'extra_member' AND ap.country = pp.country"                         \
	"   AND ap.tier = CASE WHEN p.has_ads = 1 THEN 'ads' ELSE 'ad_free' END"               \
	"   AND ap.effective_from <= ?3 ORDER BY ap.effective_from DESC LIMIT 1)"              \
	" FROM plans p JOIN price_points pp"                                                   \
	"   ON pp.catalog_version = p.catalog_version AND pp.plan_code = p.code"               \
	" WHERE p.catalog_version = ?1 AND pp.country = ?2"                                    \
	"   AND pp.effective_from = (SELECT MAX(x.effective_from) FROM price_points x"         \
	"     WHERE x.catalog_version = p.catalog_version AND x.plan_code = p.code"            \
	"       AND x.country = pp.country AND x.effective_from <= ?3)"

static enum err read_offer(struct db_stmt *st, struct bill_offer *o)
{
	read_plan(st, 0, &o->plan);
	enum err e = money_init(&o->price.amount, db_column_int64(st, 9), db_column_text(st, 8));
	if (e != ERR_OK)
		return e;
	o->price.tax_inclusive = db_column_int64(st, 10) != 0;
	o->price.tax_rate_bps = (int32_t)db_column_int64(st, 11);
	snprintf(o->price.tax_name, sizeof o->price.tax_name, "%s", db_column_text(st, 12));
	o->price.effective_from = db_column_int64(st, 13);
	o->has_extra_member_price = o->plan.extra_member_slots > 0 && !db_column_is_null(st, 14);
	o->extra_member_price = o->price.amount;
	o->extra_member_price.amount = o->has_extra_member_price ? db_column_int64(st, 14) : 0;
	return ERR_OK;
}

enum err bill_offers_for_country(struct db *db, const char *country, int64_t at,
				 struct bill_offers *out)
{
	struct db_stmt *st = NULL;
	int64_t version = 0;
	enum err e = cat_current_version(db, &version);
	if (e != ERR_OK)
		return e;
	e = db_prepare(db, OFFER_SELECT " ORDER BY p.position", &st);
	if (e != ERR_OK)
		return e;
	db_bind_int64(st, 1, version);
	db_bind_text(st, 2, country);
	db_bind_int64(st, 3, at);
	out->catalog_version = version;
	snprintf(out->country, sizeof out->country, "%s", country);
	out->count = 0;
	bool row = false;
	while ((e = db_step(st, &row)) == ERR_OK && row && out->count < BILL_PLANS_MAX) {
		e = read_offer(st, &out->items[out->count]);
		if (e != ERR_OK)
			break;
		out->count++;
	}
	db_done(st);
	if (e == ERR_OK && out->count == 0)
		e = ERR_COUNTRY_NOT_SUPPORTED;
	return e;
}

enum err cat_offer(struct db *db, const char *country, const char *code, int64_t at,
		   struct bill_offer *offer, int64_t *version)
{
	struct db_stmt *st = NULL;
	struct bill_offers all;
	enum err e = bill_offers_for_country(db, country, at, &all);
	if (e != ERR_OK)
		return e;
	for (size_t i = 0; i < all.count; i++) {
		if (strcmp(all.items[i].plan.code, code) == 0) {
			*offer = all.items[i];
			*version = all.catalog_version;
			return ERR_OK;
		}
	}
	e = db_prepare(db, "SELECT 1 FROM plans WHERE catalog_version = ?1 AND code = ?2", &st);
	if (e != ERR_OK)
		return e;
	db_bind_int64(st, 1, all.catalog_version);
	db_bind_text(st, 2, code);
	e = db_step_row(st);
	db_done(st);
	if (e == ERR_OK)
		return ERR_PLAN_NOT_AVAILABLE_IN_REGION;
	return e == ERR_NOT_FOUND ? ERR_UNKNOWN_PLAN : e;
}

enum err bill_catalog_countries(struct db *db, struct bill_country *out, size_t cap, size_t *n)
{
	struct db_stmt *st = NULL;
	int64_t version = 0;
	*n = 0;
	enum err e = cat_current_version(db, &version);
	if (e != ERR_OK)
		return e;
	e = db_prepare(db,
		       "SELECT country, MIN(currency) FROM price_points WHERE catalog_version = ?1"
		       " GROUP BY country ORDER BY country",
		       &st);
	if (e != ERR_OK)
		return e;
	db_bind_int64(st, 1, version);
	bool row = false;
	while ((e = db_step(st, &row)) == ERR_OK && row && *n < cap) {
		snprintf(out[*n].code, sizeof out[*n].code, "%s", db_column_text(st, 0));
		snprintf(out[*n].currency, sizeof out[*n].currency, "%s", db_column_text(st, 1));
		(*n)++;
	}
	db_done(st);
	return e;
}
