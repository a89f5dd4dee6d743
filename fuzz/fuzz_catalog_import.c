/*
 * fuzz_catalog_import.c - catalog documents through bill_catalog_import()
 * on a real (in-memory) database with every migration applied.
 *
 * The input, NUL-terminated, is a catalog document (docs/billing.md, "The
 * catalog format").  The test clock is fixed, so a run is repeatable.
 * Properties beyond "no crash, no leak":
 *  - the answer is ERR_OK or ERR_VALIDATION, nothing else;
 *  - a refusal has 1..100 errors, each {field, code, message} of strings,
 *    and stores nothing (still no catalog);
 *  - an accepted document becomes version 1 of a fresh database; imported
 *    again it stores nothing and gives version 1 back;
 *  - what is stored is what the document says: the same countries with
 *    their currencies, and in each country one offer per price, whose
 *    amount is the price string parsed with money_parse() in that currency
 *    (never negative), in the document's plan order.
 * The database is made afresh after each accepted document (a refused one
 * leaves it as it was, which the second property checks).
 */
#include <string.h>

#include "billing/billing.h"
#include "core/clock.h"
#include "core/db.h"
#include "core/log.h"
#include "core/migrate.h"
#include "core/money.h"
#include "fuzz/fuzz.h"

#define FCI_NOW 1800000000LL /* 2027-01-15T08:00:00Z, as the API suites */

static struct db *fci_db;

static struct db *fci_fresh(void)
{
	if (fci_db)
		return fci_db;
	struct db_options o;
	db_options_init(&o);
	o.path = ":memory:";
	clock_use_test(FCI_NOW);
	log_set_level(LOG_LEVEL_ERROR); /* a line per migration and import drowns libFuzzer's */
	FUZZ_ASSERT(db_open(&o, &fci_db) == ERR_OK, "cannot open an in-memory database");
	FUZZ_ASSERT(migrate_apply(fci_db, NULL) == ERR_OK, "cannot apply the migrations");
	return fci_db;
}

static void fci_discard(void)
{
	db_close(fci_db);
	fci_db = NULL;
}

static bool fci_no_catalog(struct db *db)
{
	struct bill_country c[1];
	size_t n = 99;
	enum err e = bill_catalog_countries(db, c, 1, &n);
	return e == ERR_NOT_FOUND || (e == ERR_OK && n == 0);
}

/* The position of plan `code` in the document's plans, or -1. */
static int fci_plan_index(json_t *plans, const char *code)
{
	size_t i;
	json_t *p;
	json_array_foreach(plans, i, p) {
		const char *c = json_string_value(json_object_get(p, "code"));
		if (c && strcmp(c, code) == 0)
			return (int)i;
	}
	return -1;
}

static void fci_check_stored(struct db *db, json_t *doc)
{
	json_t *countries = json_object_get(doc, "countries"), *plans = json_object_get(doc, "plans");
	static struct bill_country list[300];
	size_t n = 0;
	FUZZ_ASSERT(bill_catalog_countries(db, list, 300, &n) == ERR_OK, "the countries cannot be read back");
	FUZZ_ASSERT(n == json_object_size(countries), "the stored countries are not the document's");
	int64_t at = FCI_NOW;
	const char *from = json_string_value(json_object_get(doc, "effective_from"));
	int64_t t = 0;
	if (from && clock_parse(from, &t) == ERR_OK && t > at)
		at = t;
	for (size_t i = 0; i < n; i++) {
		json_t *c = json_object_get(countries, list[i].code);
		FUZZ_ASSERT(c != NULL, "a stored country is not in the document");
		const char *cur = json_string_value(json_object_get(c, "currency"));
		FUZZ_ASSERT(cur && strcmp(cur, list[i].currency) == 0, "a stored currency differs");
		static struct bill_offers offers;
		FUZZ_ASSERT(bill_offers_for_country(db, list[i].code, at, &offers) == ERR_OK,
			    "an imported country has no offers");
		json_t *prices = json_object_get(c, "prices");
		FUZZ_ASSERT(offers.count == json_object_size(prices), "not one offer per price");
		int last = -1;
		for (size_t k = 0; k < offers.count; k++) {
			const struct bill_offer *o = &offers.items[k];
			const char *text = json_string_value(json_object_get(prices, o->plan.code));
			FUZZ_ASSERT(text != NULL, "an offer without a price in the document");
			struct money m;
			FUZZ_ASSERT(money_parse(text, cur, &m) == ERR_OK, "a stored price does not parse");
			FUZZ_ASSERT(m.amount == o->price.amount.amount && strcmp(o->price.amount.currency, cur) == 0,
				    "a stored price differs from the document's");
			FUZZ_ASSERT(o->price.amount.amount >= 0, "a negative price was stored");
			int idx = fci_plan_index(plans, o->plan.code);
			FUZZ_ASSERT(idx > last, "offers are not in the document's plan order");
			last = idx;
		}
	}
}

int fuzz_catalog_import(const uint8_t *data, size_t size)
{
	char *text = fuzz_cstr(data, size);
	if (!text)
		return 0;
	struct db *db = fci_fresh();
	json_t *errors = NULL;
	int64_t version = 0;
	bool created = false;
	enum err e = bill_catalog_import(db, text, "import", &errors, &version, &created);
	FUZZ_ASSERT(e == ERR_OK || e == ERR_VALIDATION, "an import answered neither OK nor validation");
	if (e == ERR_VALIDATION) {
		size_t i, n = json_array_size(errors);
		json_t *x;
		FUZZ_ASSERT(n >= 1 && n <= 100, "a refusal without errors, or more than 100");
		json_array_foreach(errors, i, x) {
			FUZZ_ASSERT(json_is_string(json_object_get(x, "field")), "an error without a field");
			FUZZ_ASSERT(json_is_string(json_object_get(x, "code")), "an error without a code");
			FUZZ_ASSERT(json_is_string(json_object_get(x, "message")), "an error without a message");
		}
		FUZZ_ASSERT(fci_no_catalog(db), "a refused document stored something");
	} else {
		FUZZ_ASSERT(errors == NULL, "errors with an accepted document");
		FUZZ_ASSERT(version == 1 && created, "the first import is not version 1");
		int64_t again = 0;
		bool created2 = true;
		FUZZ_ASSERT(bill_catalog_import(db, text, "import", NULL, &again, &created2) == ERR_OK &&
				    again == 1 && !created2,
			    "importing the same document again stored something");
		json_t *doc = json_loads(text, 0, NULL);
		FUZZ_ASSERT(doc != NULL, "an accepted document is not JSON");
		fci_check_stored(db, doc);
		json_decref(doc);
		fci_discard();
	}
	json_decref(errors);
	free(text);
	return 0;
}

#ifndef FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_catalog_import(data, size); }
#endif
