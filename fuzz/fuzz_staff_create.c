/*
 * fuzz_staff_create.c - the body of POST /admin/v1/staff {email, name,
 * role, password} through admin_staff_create_parse(), the very check
 * admin_http.c makes before the password policy and the database.
 *
 * The input is the JSON body.  Properties, beyond fuzz_body.h's:
 *  - an accepted email is trimmed of spaces and tabs, 3..254 bytes, one
 *    '@' with a dot after it, no space, control character (C0, DEL or C1)
 *    or special, and
 *    `norm` is its lower case;
 *  - the name is the JSON string sent (or "" when absent), at most 128
 *    bytes; the role is agent, supervisor or admin; the password is the
 *    JSON string sent, 1..1024 bytes.
 */
#include <string.h>

#include "admin/admin_int.h"
#include "fuzz/fuzz_body.h"

static const char *const fsc_fields[] = {"email", "name", "role", "password", NULL};
static const char *const fsc_roles[] = {"agent", "supervisor", "admin", NULL};

int fuzz_staff_create(const uint8_t *data, size_t size)
{
	json_t *body = fuzz_body_json(data, size);
	if (!body)
		return 0;
	struct admin_staff_form f;
	struct jv v;
	jv_init(&v, body);
	admin_staff_create_parse(&v, &f);
	fuzz_body_check_errors(&v, body, fsc_fields);
	fuzz_body_check_unknown(&v, body, fsc_fields, NULL);
	if (jv_ok(&v)) {
		fuzz_body_borrowed(body, "email", f.email_in);
		size_t n = strlen(f.email);
		FUZZ_ASSERT(n >= 3 && n <= ADMIN_EMAIL_MAX, "an accepted email of a bad length");
		FUZZ_ASSERT(strstr(f.email_in, f.email) != NULL, "the email is not taken from the input");
		FUZZ_ASSERT(f.email[0] != ' ' && f.email[0] != '\t' && f.email[n - 1] != ' ' && f.email[n - 1] != '\t',
			    "an accepted email is not trimmed");
		const char *at = strchr(f.email, '@');
		FUZZ_ASSERT(at && at != f.email && !strchr(at + 1, '@') && strchr(at + 1, '.'),
			    "an accepted email without one '@' and a dot after it");
		for (const char *p = f.email; *p; p++)
			FUZZ_ASSERT((unsigned char)*p > 0x20 && *p != 0x7f && !strchr("()<>,;:\\\"[]", *p),
				    "an accepted email holds a space, control character or special");
		FUZZ_ASSERT(!fuzz_has_control(f.email), "an accepted email holds a C1 control character");
		for (size_t i = 0; i <= n; i++) {
			char c = f.email[i];
			FUZZ_ASSERT(f.norm[i] == (c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c),
				    "norm is not the lower case");
		}
		if (json_is_string(json_object_get(body, "name")))
			fuzz_body_borrowed(body, "name", f.name);
		else
			FUZZ_ASSERT(strcmp(f.name, "") == 0, "a name out of nothing");
		FUZZ_ASSERT(strlen(f.name) <= ADMIN_NAME_MAX, "a staff name over 128 bytes");
		FUZZ_ASSERT(f.role && fuzz_in_list(fsc_roles, f.role), "a role off the list");
		fuzz_body_borrowed(body, "password", f.password);
		FUZZ_ASSERT(f.password[0] && strlen(f.password) <= 1024, "a password of a bad length");
	}
	jv_release(&v);
	json_decref(body);
	return 0;
}

#ifndef FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_staff_create(data, size); }
#endif
