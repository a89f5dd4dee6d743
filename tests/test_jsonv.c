/* core/jsonv: typed reads of a request object that collect every field error. */
#include <check.h>
#include <jansson.h>
#include <stdint.h>
#include <string.h>

#include "core/jsonv.h"
#include "tests/unit.h"

/* The body every table case is read as:
 *   name     string, required, 1..10 bytes
 *   age      integer, optional, 0..150
 *   admin    boolean, optional
 *   plan     one of basic|standard|premium, optional
 *   address  object, optional
 *   nick     string, optional, 3..8 bytes
 * and no other field. */
struct body {
	const char *name;
	int64_t age;
	bool admin;
	const char *plan;
	json_t *address;
	const char *nick;
	bool has_name, has_age, has_admin, has_plan, has_address, has_nick;
};

static const char *const plans[] = {"basic", "standard", "premium", NULL};
static const char *const allowed[] = {"name", "age", "admin", "plan", "address", "nick", NULL};

static void read_body(struct jv *v, struct body *b)
{
	b->has_name = jv_string(v, "name", JV_REQUIRED, 1, 10, &b->name);
	b->has_age = jv_int(v, "age", JV_OPTIONAL, 0, 150, &b->age);
	b->has_admin = jv_bool(v, "admin", JV_OPTIONAL, &b->admin);
	b->has_plan = jv_enum(v, "plan", JV_OPTIONAL, plans, &b->plan);
	b->has_address = jv_object(v, "address", JV_OPTIONAL, &b->address);
	b->has_nick = jv_string(v, "nick", JV_OPTIONAL, 3, 8, &b->nick);
	jv_reject_unknown(v, allowed);
}

static json_t *parse(const char *text)
{
	json_error_t err;
	json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
	ck_assert_msg(j != NULL, "test body %s does not parse: %s", text, err.text);
	return j;
}

/* The collected errors as "field:code field:code ...", checking each has a message. */
static void errors_text(const struct jv *v, char *buf, size_t cap)
{
	size_t o = 0;
	size_t i;
	json_t *e;
	buf[0] = '\0';
	json_array_foreach(v->errors, i, e) {
		const char *field = json_string_value(json_object_get(e, "field"));
		const char *code = json_string_value(json_object_get(e, "code"));
		const char *msg = json_string_value(json_object_get(e, "message"));
		ck_assert_ptr_nonnull(field);
		ck_assert_ptr_nonnull(code);
		ck_assert_msg(msg && msg[0], "error %s:%s has no message", field, code);
		ck_assert_uint_eq(json_object_size(e), 3);
		int n = snprintf(buf + o, cap - o, "%s%s:%s", o ? " " : "", field, code);
		ck_assert(n > 0 && (size_t)n < cap - o);
		o += (size_t)n;
	}
}

static const struct {
	const char *body;
	const char *errors; /* "" when the body is valid */
} cases[] = {
	/* valid */
	{"{\"name\":\"ann\"}", ""},
	{"{\"name\":\"0123456789\",\"age\":150,\"admin\":false,\"plan\":\"premium\","
	 "\"address\":{},\"nick\":\"abc\"}", ""},
	{"{\"name\":\"ann\",\"age\":0,\"nick\":\"12345678\"}", ""},
	{"{\"name\":\"ann\",\"age\":null,\"admin\":null,\"plan\":null,\"address\":null,\"nick\":null}",
	 ""},
	{"{\"name\":\"zo\\u00eb\"}", ""},
	/* missing required; null counts as absent */
	{"{}", "name:required"},
	{"{\"name\":null}", "name:required"},
	{"{\"age\":3}", "name:required"},
	/* wrong types */
	{"{\"name\":1}", "name:wrong_type"},
	{"{\"name\":true}", "name:wrong_type"},
	{"{\"name\":[\"ann\"]}", "name:wrong_type"},
	{"{\"name\":{\"first\":\"ann\"}}", "name:wrong_type"},
	{"{\"name\":\"ann\",\"age\":\"1\"}", "age:wrong_type"},
	{"{\"name\":\"ann\",\"age\":1.5}", "age:wrong_type"},
	{"{\"name\":\"ann\",\"age\":1.0}", "age:wrong_type"},
	{"{\"name\":\"ann\",\"age\":1e2}", "age:wrong_type"},
	{"{\"name\":\"ann\",\"age\":true}", "age:wrong_type"},
	{"{\"name\":\"ann\",\"admin\":{}}", "admin:wrong_type"},
	{"{\"name\":\"ann\",\"admin\":1}", "admin:wrong_type"},
	{"{\"name\":\"ann\",\"admin\":\"true\"}", "admin:wrong_type"},
	{"{\"name\":\"ann\",\"plan\":1}", "plan:wrong_type"},
	{"{\"name\":\"ann\",\"address\":\"1 Main St\"}", "address:wrong_type"},
	{"{\"name\":\"ann\",\"address\":[]}", "address:wrong_type"},
	/* lengths, in bytes */
	{"{\"name\":\"\"}", "name:too_short"},
	{"{\"name\":\"01234567890\"}", "name:too_long"},
	{"{\"name\":\"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\"}", "name:too_long"}, /* 12 bytes */
	{"{\"name\":\"ann\",\"nick\":\"ab\"}", "nick:too_short"},
	{"{\"name\":\"ann\",\"nick\":\"123456789\"}", "nick:too_long"},
	/* embedded NUL */
	{"{\"name\":\"a\\u0000b\"}", "name:invalid_characters"},
	{"{\"name\":\"ann\",\"nick\":\"abc\\u0000\"}", "nick:invalid_characters"},
	/* ranges */
	{"{\"name\":\"ann\",\"age\":-1}", "age:out_of_range"},
	{"{\"name\":\"ann\",\"age\":151}", "age:out_of_range"},
	{"{\"name\":\"ann\",\"age\":9223372036854775807}", "age:out_of_range"},
	{"{\"name\":\"ann\",\"age\":-9223372036854775808}", "age:out_of_range"},
	/* enum choices */
	{"{\"name\":\"ann\",\"plan\":\"gold\"}", "plan:invalid_choice"},
	{"{\"name\":\"ann\",\"plan\":\"Basic\"}", "plan:invalid_choice"},
	{"{\"name\":\"ann\",\"plan\":\"basic \"}", "plan:invalid_choice"},
	/* unknown fields */
	{"{\"name\":\"ann\",\"role\":\"admin\"}", "role:unknown_field"},
	{"{\"name\":\"ann\",\"Name\":\"ann\"}", "Name:unknown_field"},
	{"{\"name\":\"ann\",\"extra\":null}", "extra:unknown_field"},
	/* not an object: one error, nothing else read */
	{"[]", ":not_an_object"},
	{"[{\"name\":\"ann\"}]", ":not_an_object"},
	{"\"name\"", ":not_an_object"},
	{"42", ":not_an_object"},
	{"null", ":not_an_object"},
	{"true", ":not_an_object"},
	/* several errors at once, all collected in reading order */
	{"{\"age\":\"x\",\"admin\":1,\"plan\":\"gold\",\"address\":5,\"nick\":\"waytoolongnick\","
	 "\"zzz\":true}",
	 "name:required age:wrong_type admin:wrong_type plan:invalid_choice address:wrong_type "
	 "nick:too_long zzz:unknown_field"},
	{"{\"name\":\"\",\"age\":200,\"nick\":\"a\\u0000c\"}",
	 "name:too_short age:out_of_range nick:invalid_characters"},
};

START_TEST(body_yields_exactly_the_expected_errors)
{
	char got[512];
	struct jv v;
	struct body b;
	memset(&b, 0, sizeof b);
	json_t *j = parse(cases[_i].body);
	jv_init(&v, j);
	read_body(&v, &b);
	errors_text(&v, got, sizeof got);
	ck_assert_msg(strcmp(got, cases[_i].errors) == 0, "body %s: errors \"%s\", expected \"%s\"",
		      cases[_i].body, got, cases[_i].errors);
	ck_assert(jv_ok(&v) == (cases[_i].errors[0] == '\0'));
	jv_release(&v);
	json_decref(j);
}
END_TEST

START_TEST(valid_body_fills_every_out_value)
{
	struct jv v;
	struct body b;
	memset(&b, 0, sizeof b);
	json_t *j = parse("{\"name\":\"ann\",\"age\":42,\"admin\":true,\"plan\":\"standard\","
			  "\"address\":{\"city\":\"Oslo\"},\"nick\":\"annie\"}");
	jv_init(&v, j);
	read_body(&v, &b);
	ck_assert(jv_ok(&v));
	ck_assert(b.has_name && b.has_age && b.has_admin && b.has_plan && b.has_address && b.has_nick);
	ck_assert_str_eq(b.name, "ann");
	ck_assert_int_eq(b.age, 42);
	ck_assert(b.admin);
	ck_assert_str_eq(b.plan, "standard");
	ck_assert_str_eq(json_string_value(json_object_get(b.address, "city")), "Oslo");
	ck_assert_str_eq(b.nick, "annie");
	jv_release(&v);
	json_decref(j);
}
END_TEST

START_TEST(invalid_or_absent_fields_leave_out_values_alone)
{
	static const char *const bodies[] = {
		"{\"name\":7,\"age\":\"7\",\"admin\":\"yes\",\"plan\":\"gold\",\"address\":1,\"nick\":\"x\"}",
		"{\"name\":null,\"age\":null,\"admin\":null,\"plan\":null,\"address\":null,\"nick\":null}",
		"{}",
		"[]",
	};
	for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
		static const char *const sentinel = "untouched";
		json_t *sentinel_obj = json_object();
		struct jv v;
		struct body b = {sentinel, -7, true, sentinel, sentinel_obj, sentinel,
				 false, false, false, false, false, false};
		json_t *j = parse(bodies[i]);
		jv_init(&v, j);
		read_body(&v, &b);
		ck_assert(!jv_ok(&v));
		ck_assert(!b.has_name && !b.has_age && !b.has_admin && !b.has_plan && !b.has_address &&
			  !b.has_nick);
		ck_assert_ptr_eq(b.name, sentinel);
		ck_assert_int_eq(b.age, -7);
		ck_assert(b.admin);
		ck_assert_ptr_eq(b.plan, sentinel);
		ck_assert_ptr_eq(b.address, sentinel_obj);
		ck_assert_ptr_eq(b.nick, sentinel);
		jv_release(&v);
		json_decref(j);
		json_decref(sentinel_obj);
	}
}
END_TEST

START_TEST(int_accepts_the_whole_int64_range)
{
	struct jv v;
	int64_t lo = 0, hi = 0;
	json_t *j = parse("{\"lo\":-9223372036854775808,\"hi\":9223372036854775807}");
	jv_init(&v, j);
	ck_assert(jv_int(&v, "lo", JV_REQUIRED, INT64_MIN, INT64_MAX, &lo));
	ck_assert(jv_int(&v, "hi", JV_REQUIRED, INT64_MIN, INT64_MAX, &hi));
	ck_assert_int_eq(lo, INT64_MIN);
	ck_assert_int_eq(hi, INT64_MAX);
	ck_assert(jv_ok(&v));
	jv_release(&v);
	json_decref(j);
}
END_TEST

START_TEST(messages_say_the_limit_and_the_choices)
{
	struct jv v;
	const char *s = NULL;
	int64_t n = 0;
	json_t *j = parse("{\"a\":\"toolong\",\"b\":99,\"c\":\"gold\",\"d\":\"x\"}");
	jv_init(&v, j);
	ck_assert(!jv_string(&v, "a", JV_REQUIRED, 1, 3, &s));
	ck_assert(!jv_int(&v, "b", JV_REQUIRED, 1, 10, &n));
	ck_assert(!jv_enum(&v, "c", JV_REQUIRED, plans, &s));
	ck_assert(!jv_string(&v, "d", JV_REQUIRED, 2, 3, &s));
	ck_assert_uint_eq(json_array_size(v.errors), 4);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(v.errors, 0), "message")),
			 "Must be at most 3 bytes");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(v.errors, 1), "message")),
			 "Must be between 1 and 10");
	const char *choice_msg =
		json_string_value(json_object_get(json_array_get(v.errors, 2), "message"));
	ck_assert_ptr_nonnull(strstr(choice_msg, "basic"));
	ck_assert_ptr_nonnull(strstr(choice_msg, "standard"));
	ck_assert_ptr_nonnull(strstr(choice_msg, "premium"));
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(v.errors, 3), "message")),
			 "Must be at least 2 characters");
	jv_release(&v);
	json_decref(j);
}
END_TEST

START_TEST(many_choices_do_not_overflow_the_message)
{
	static const char *const many[] = {
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
		"ccccccccccccccccccccccccccccccccccccccccccc", "ddddddddddddddddddddddddddddddddddddddddddd",
		"eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee", "fffffffffffffffffffffffffffffffffffffffffff",
		"ggggggggggggggggggggggggggggggggggggggggggg", "hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh",
		NULL};
	struct jv v;
	const char *s = NULL;
	json_t *j = parse("{\"c\":\"zzz\"}");
	jv_init(&v, j);
	ck_assert(!jv_enum(&v, "c", JV_REQUIRED, many, &s));
	const char *msg = json_string_value(json_object_get(json_array_get(v.errors, 0), "message"));
	ck_assert_ptr_nonnull(msg);
	ck_assert_uint_lt(strlen(msg), 256);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(v.errors, 0), "code")),
			 "invalid_choice");
	jv_release(&v);
	json_decref(j);
}
END_TEST

START_TEST(nested_object_is_read_with_its_own_jv)
{
	struct jv outer, inner;
	json_t *addr = NULL;
	const char *city = NULL;
	json_t *j = parse("{\"address\":{\"city\":\"\",\"zip\":1}}");
	jv_init(&outer, j);
	ck_assert(jv_object(&outer, "address", JV_REQUIRED, &addr));
	jv_init(&inner, addr);
	ck_assert(!jv_string(&inner, "city", JV_REQUIRED, 1, 40, &city));
	ck_assert(jv_ok(&outer));
	ck_assert(!jv_ok(&inner));
	jv_release(&inner);
	jv_release(&outer);
	json_decref(j);
}
END_TEST

START_TEST(explicit_error_and_take_errors)
{
	struct jv v;
	json_t *j = parse("{}");
	jv_init(&v, j);
	ck_assert(jv_ok(&v));
	jv_error(&v, "email", "email_taken", "An account with this email already exists");
	ck_assert(!jv_ok(&v));
	json_t *errs = jv_take_errors(&v);
	ck_assert(jv_ok(&v)); /* the jv keeps an empty array */
	ck_assert_uint_eq(json_array_size(errs), 1);
	json_t *e = json_array_get(errs, 0);
	ck_assert_str_eq(json_string_value(json_object_get(e, "field")), "email");
	ck_assert_str_eq(json_string_value(json_object_get(e, "code")), "email_taken");
	json_decref(errs);
	jv_release(&v);
	jv_release(&v); /* releasing twice is harmless */
	json_decref(j);
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *jsonv_suite(void)
{
	Suite *s = suite_create("jsonv");
	TCase *tc = tcase_create("table");
	tcase_add_loop_test(tc, body_yields_exactly_the_expected_errors, 0, N(cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("values");
	tcase_add_test(tc, valid_body_fills_every_out_value);
	tcase_add_test(tc, invalid_or_absent_fields_leave_out_values_alone);
	tcase_add_test(tc, int_accepts_the_whole_int64_range);
	tcase_add_test(tc, messages_say_the_limit_and_the_choices);
	tcase_add_test(tc, many_choices_do_not_overflow_the_message);
	tcase_add_test(tc, nested_object_is_read_with_its_own_jv);
	tcase_add_test(tc, explicit_error_and_take_errors);
	suite_add_tcase(s, tc);
	return s;
}

int main(void) { return unit_run(jsonv_suite()); }
