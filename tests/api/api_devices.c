/*
 * API tests of the device registry against a real hearthd: password
 * sign-ins and the device login flow create or update devices, GET
 * /v1/devices lists them (last network as a prefix only, the profile last
 * used, the last active time, pages), DELETE /v1/devices/{id} signs one out
 * (its access and refresh tokens stop working at once with
 * --revocation-cache-ms 0), and another member's device is a 404.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ids.h"
#include "tests/api/harness.h"

#define PASSWORD "correct horse battery staple"

static struct api_server srv;

static void start(void)
{
	static const char *const flags[] = {"--revocation-cache-ms", "0", NULL};
	ck_assert_int_ge(sodium_init(), 0);
	api_start(&srv, flags);
}

static void stop(void) { ck_assert_int_eq(api_stop(&srv), 0); }

static void copy(char *dst, size_t cap, const char *src)
{
	ck_assert_ptr_nonnull(src);
	ck_assert_uint_lt(strlen(src), cap);
	memcpy(dst, src, strlen(src) + 1);
}

static int64_t count(const char *sql, const char *arg) { return api_db_int(&srv, sql, arg); }

struct signin {
	char email[96];
	char account[IDS_MAX];
	char device[IDS_MAX];
	char access[1024];
	char refresh[64];
};

static void read_tokens(struct api_resp *r, struct signin *s)
{
	copy(s->access, sizeof s->access, api_str(r, "access_token"));
	copy(s->refresh, sizeof s->refresh, api_str(r, "refresh_token"));
	json_t *ses = json_object_get(r->json, "session");
	copy(s->device, sizeof s->device,
	     json_string_value(json_object_get(json_object_get(ses, "device"), "id")));
}

static void sign_up(struct signin *s)
{
	char suffix[IDS_MAX];
	memset(s, 0, sizeof *s);
	ids_new("", suffix, sizeof suffix);
	snprintf(s->email, sizeof s->email, "d%s@example.com", suffix);
	struct api_resp *r = api_json(&srv, "POST", "/v1/accounts", NULL,
				      json_pack("{s:s, s:s, s:s, s:{s:s, s:s}}", "email", s->email,
						"password", PASSWORD, "country", "US", "device", "name",
						"Pixel", "type", "phone"));
	ck_assert_status(r, 201);
	copy(s->account, sizeof s->account,
	     json_string_value(json_object_get(json_object_get(r->json, "account"), "id")));
	read_tokens(r, s);
	api_resp_free(r);
}

/* Another sign-in of the member; `device_id` reuses a device (may be NULL). */
static void sign_in(const struct signin *member, const char *name, const char *type,
		    const char *device_id, struct signin *s)
{
	*s = *member;
	json_t *dev = json_pack("{s:s, s:s}", "name", name, "type", type);
	if (device_id)
		json_object_set_new(dev, "id", json_string(device_id));
	struct api_resp *r = api_json(&srv, "POST", "/v1/sessions", NULL,
				      json_pack("{s:s, s:s, s:o}", "email", member->email, "password",
						PASSWORD, "device", dev));
	ck_assert_status(r, 201);
	read_tokens(r, s);
	api_resp_free(r);
}

static json_t *find(json_t *data, const char *id)
{
	size_t i;
	json_t *d;
	json_array_foreach(data, i, d)
		if (strcmp(json_string_value(json_object_get(d, "id")), id) == 0)
			return d;
	return NULL;
}

static struct api_resp *list(const char *token, const char *query)
{
	char path[160];
	snprintf(path, sizeof path, "/v1/devices%s", query ? query : "");
	return api_get(&srv, path, token);
}

START_TEST(every_sign_in_creates_or_updates_a_device)
{
	struct signin phone, tv, again;
	sign_up(&phone);
	api_advance(&srv, 1);
	sign_in(&phone, "Living room TV", "tv", NULL, &tv);
	ck_assert_str_ne(tv.device, phone.device);
	api_advance(&srv, 120);
	/* Signing in again from the same device updates it. */
	sign_in(&phone, "Pixel 9", "phone", phone.device, &again);
	ck_assert_str_eq(again.device, phone.device);
	ck_assert_int_eq(count("SELECT COUNT(*) FROM devices WHERE account_id = ?1", phone.account), 2);

	struct api_resp *r = list(again.access, NULL);
	ck_assert_status(r, 200);
	json_t *data = json_object_get(r->json, "data");
	ck_assert_uint_eq(json_array_size(data), 2);
	ck_assert(json_is_false(json_object_get(r->json, "has_more")));
	/* Newest first by first sighting: the TV, then the phone. */
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(data, 0), "id")), tv.device);
	json_t *p = find(data, phone.device);
	ck_assert_ptr_nonnull(p);
	ck_assert_str_eq(json_string_value(json_object_get(p, "name")), "Pixel 9");
	ck_assert_str_eq(json_string_value(json_object_get(p, "type")), "phone");
	ck_assert(json_is_true(json_object_get(p, "current")));
	ck_assert(json_is_null(json_object_get(p, "client_id")));
	ck_assert(json_is_null(json_object_get(p, "last_profile_id")));
	ck_assert(json_is_null(json_object_get(p, "last_profile_name")));
	/* The network is a prefix, never the address. */
	ck_assert_str_eq(json_string_value(json_object_get(p, "last_network")), "127.0.0.0/24");
	ck_assert_ptr_null(strstr(r->body, "127.0.0.1"));
	const char *first = json_string_value(json_object_get(p, "first_seen_at"));
	const char *last = json_string_value(json_object_get(p, "last_active_at"));
	ck_assert_str_lt(first, last);
	json_t *t = find(data, tv.device);
	ck_assert(json_is_false(json_object_get(t, "current")));
	api_resp_free(r);
}
END_TEST

/* A TV signed in through the device login flow, approved for `profile_id`;
 * its device id goes to `device`. */
static void tv_by_device_flow(const struct signin *member, const char *profile_id, char device[IDS_MAX])
{
	char path[128], body[256];
	struct api_resp *r = api_form(&srv, "/oauth/device_authorization", "client_id=hearth-tv-demo");
	ck_assert_status(r, 200);
	char code[128], user_code[16];
	copy(code, sizeof code, api_str(r, "device_code"));
	copy(user_code, sizeof user_code, api_str(r, "user_code"));
	api_resp_free(r);
	snprintf(path, sizeof path, "/v1/device-codes/%s/approve", user_code);
	r = api_json(&srv, "POST", path, member->access, json_pack("{s:s}", "profile_id", profile_id));
	ck_assert_status(r, 200);
	api_resp_free(r);
	snprintf(body, sizeof body,
		 "grant_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Agrant-type%%3Adevice_code"
		 "&client_id=hearth-tv-demo&device_code=%s", code);
	r = api_form(&srv, "/oauth/token", body);
	ck_assert_status(r, 200);
	api_resp_free(r);
	struct db *db = api_db(&srv);
	struct db_stmt *st = NULL;
	ck_assert_int_eq(db_prepare(db, "SELECT id FROM devices WHERE account_id = ?1 AND type = 'tv'", &st), ERR_OK);
	db_bind_text(st, 1, member->account);
	ck_assert_int_eq(db_step_row(st), ERR_OK);
	copy(device, IDS_MAX, db_column_text(st, 0));
	db_done(st);
	db_close(db);
}

/* The listed device `id`'s last profile: its id and name (NULL for null). */
static void expect_last_profile(const struct signin *member, const char *id, const char *profile,
				const char *name)
{
	struct api_resp *r = list(member->access, NULL);
	ck_assert_status(r, 200);
	json_t *d = find(json_object_get(r->json, "data"), id);
	ck_assert_ptr_nonnull(d);
	json_t *pid = json_object_get(d, "last_profile_id"), *pname = json_object_get(d, "last_profile_name");
	if (profile)
		ck_assert_str_eq(json_string_value(pid), profile);
	else
		ck_assert(json_is_null(pid));
	if (name)
		ck_assert_str_eq(json_string_value(pname), name);
	else
		ck_assert(json_is_null(pname));
	api_resp_free(r);
}

START_TEST(the_list_names_the_profile_last_used)
{
	struct signin m;
	char profile[IDS_MAX], tv[IDS_MAX], path[128];
	sign_up(&m);
	struct api_resp *r = api_json(&srv, "POST", "/v1/profiles", m.access, json_pack("{s:s}", "name", "Kids room"));
	ck_assert_status(r, 201);
	copy(profile, sizeof profile, api_str(r, "id"));
	api_resp_free(r);
	tv_by_device_flow(&m, profile, tv);
	expect_last_profile(&m, tv, profile, "Kids room");
	/* A password sign-in has no profile: both null. */
	expect_last_profile(&m, m.device, NULL, NULL);
	/* The name is the profile's current one, read from the accounts area. */
	snprintf(path, sizeof path, "/v1/profiles/%s", profile);
	r = api_json(&srv, "PATCH", path, m.access, json_pack("{s:s}", "name", "Den"));
	ck_assert_status(r, 200);
	api_resp_free(r);
	expect_last_profile(&m, tv, profile, "Den");
	/* A deleted profile is no longer named. */
	r = api_request(&srv, "DELETE", path, m.access, NULL, NULL, NULL);
	ck_assert_status(r, 204);
	api_resp_free(r);
	expect_last_profile(&m, tv, NULL, NULL);
}
END_TEST

START_TEST(devices_are_listed_in_pages)
{
	struct signin a, b, c;
	sign_up(&a);
	api_advance(&srv, 1);
	sign_in(&a, "Tablet", "tablet", NULL, &b);
	api_advance(&srv, 1);
	sign_in(&a, "Console", "console", NULL, &c);
	struct api_resp *r = list(a.access, "?limit=2");
	ck_assert_status(r, 200);
	json_t *data = json_object_get(r->json, "data");
	ck_assert_uint_eq(json_array_size(data), 2);
	ck_assert(json_is_true(json_object_get(r->json, "has_more")));
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(data, 0), "id")), c.device);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(data, 1), "id")), b.device);
	api_resp_free(r);
	char q[96];
	snprintf(q, sizeof q, "?limit=2&starting_after=%s", b.device);
	r = list(a.access, q);
	ck_assert_status(r, 200);
	data = json_object_get(r->json, "data");
	ck_assert_uint_eq(json_array_size(data), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(data, 0), "id")), a.device);
	ck_assert(json_is_false(json_object_get(r->json, "has_more")));
	api_resp_free(r);
	r = list(a.access, "?limit=0");
	ck_assert_problem(r, 400, "invalid_parameter");
	api_resp_free(r);
	r = list(a.access, "?starting_after=dev_00000000000000000000000000000");
	ck_assert_problem(r, 400, "invalid_parameter");
	api_resp_free(r);
	r = list(NULL, NULL);
	ck_assert_problem(r, 401, "unauthenticated");
	api_resp_free(r);
}
END_TEST

START_TEST(revoking_a_device_signs_it_out)
{
	struct signin phone, tv, tv2;
	char path[96];
	sign_up(&phone);
	sign_in(&phone, "Living room TV", "tv", NULL, &tv);
	sign_in(&phone, "Living room TV", "tv", tv.device, &tv2); /* two sign-ins on the TV */
	ck_assert_str_eq(tv2.device, tv.device);
	int64_t events_before = count("SELECT COUNT(*) FROM events WHERE type = 'device.revoked'", NULL);

	snprintf(path, sizeof path, "/v1/devices/%s", tv.device);
	struct api_resp *r = api_request(&srv, "DELETE", path, phone.access, NULL, NULL, NULL);
	ck_assert_status(r, 204);
	api_resp_free(r);

	/* Both of the TV's sign-ins are over: access and refresh tokens. */
	r = list(tv.access, NULL);
	ck_assert_problem(r, 401, "invalid_token");
	api_resp_free(r);
	r = list(tv2.access, NULL);
	ck_assert_problem(r, 401, "invalid_token");
	api_resp_free(r);
	r = api_json(&srv, "POST", "/v1/tokens/refresh", NULL, json_pack("{s:s}", "refresh_token", tv.refresh));
	ck_assert_problem(r, 401, "refresh_token_invalid");
	api_resp_free(r);
	char body[256];
	snprintf(body, sizeof body, "grant_type=refresh_token&refresh_token=%s", tv2.refresh);
	r = api_form(&srv, "/oauth/token", body);
	ck_assert_status(r, 400);
	ck_assert_str_eq(api_str(r, "error"), "invalid_grant");
	api_resp_free(r);

	/* The phone is untouched; the TV is gone from the list. */
	r = list(phone.access, NULL);
	ck_assert_status(r, 200);
	ck_assert_ptr_null(find(json_object_get(r->json, "data"), tv.device));
	ck_assert_ptr_nonnull(find(json_object_get(r->json, "data"), phone.device));
	api_resp_free(r);
	ck_assert_int_eq(count("SELECT COUNT(*) FROM sessions WHERE device_id = ?1 AND revoked_at IS NULL",
			       tv.device), 0);
	ck_assert_int_eq(count("SELECT COUNT(*) FROM devices WHERE id = ?1 AND revoked_at IS NOT NULL",
			       tv.device), 1);
	ck_assert_int_eq(count("SELECT COUNT(*) FROM events WHERE type = 'device.revoked'", NULL),
			 events_before + 1);
	ck_assert_int_eq(count("SELECT COUNT(*) FROM events WHERE type = 'session.revoked'"
			       " AND json_extract(payload, '$.reason') = 'device_revoked'"
			       " AND json_extract(payload, '$.account_id') = ?1", phone.account), 2);

	/* Again: 404.  A later sign-in naming the revoked device gets a new one. */
	r = api_request(&srv, "DELETE", path, phone.access, NULL, NULL, NULL);
	ck_assert_problem(r, 404, "not_found");
	api_resp_free(r);
	struct signin back;
	sign_in(&phone, "Living room TV", "tv", tv.device, &back);
	ck_assert_str_ne(back.device, tv.device);
}
END_TEST

START_TEST(a_member_can_sign_out_the_device_in_hand)
{
	struct signin phone;
	char path[96];
	sign_up(&phone);
	snprintf(path, sizeof path, "/v1/devices/%s", phone.device);
	struct api_resp *r = api_request(&srv, "DELETE", path, phone.access, NULL, NULL, NULL);
	ck_assert_status(r, 204);
	api_resp_free(r);
	r = list(phone.access, NULL);
	ck_assert_problem(r, 401, "invalid_token");
	api_resp_free(r);
}
END_TEST

START_TEST(another_members_device_is_not_found_and_untouched)
{
	struct signin a, b;
	char path[96];
	sign_up(&a);
	sign_up(&b);
	snprintf(path, sizeof path, "/v1/devices/%s", b.device);
	struct api_resp *r = api_request(&srv, "DELETE", path, a.access, NULL, NULL, NULL);
	ck_assert_problem(r, 404, "not_found");
	api_resp_free(r);
	r = api_request(&srv, "DELETE", "/v1/devices/not-an-id", a.access, NULL, NULL, NULL);
	ck_assert_problem(r, 404, "not_found");
	api_resp_free(r);
	r = api_request(&srv, "DELETE", path, NULL, NULL, NULL, NULL);
	ck_assert_problem(r, 401, "unauthenticated");
	api_resp_free(r);
	ck_assert_int_eq(count("SELECT COUNT(*) FROM devices WHERE id = ?1 AND revoked_at IS NULL", b.device), 1);
	r = list(b.access, NULL);
	ck_assert_status(r, 200);
	api_resp_free(r);
	/* Nor is it listed for the other member. */
	r = list(a.access, NULL);
	ck_assert_ptr_null(find(json_object_get(r->json, "data"), b.device));
	api_resp_free(r);
}
END_TEST

static Suite *devices_suite(void)
{
	Suite *s = suite_create("api_devices");
	TCase *tc = tcase_create("devices");
	tcase_add_unchecked_fixture(tc, start, stop);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, every_sign_in_creates_or_updates_a_device);
	tcase_add_test(tc, devices_are_listed_in_pages);
	tcase_add_test(tc, the_list_names_the_profile_last_used);
	tcase_add_test(tc, revoking_a_device_signs_it_out);
	tcase_add_test(tc, a_member_can_sign_out_the_device_in_hand);
	tcase_add_test(tc, another_members_device_is_not_found_and_untouched);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(devices_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
