/*
 * device_flow_page.c - the device login web page for a phone browser with
 * no Hearth app: GET /device shows a form (email, password, the code from
 * the TV), POST /device checks the password and shows what is about to be
 * signed in, POST /device/confirm approves or denies, and a last page says
 * what happened.  Plain server-rendered HTML: no JavaScript, no external
 * resources, every value HTML-escaped.
 *
 * CSRF: a double-submit cookie with a keyed hash.  The page sets a random
 * cookie (HttpOnly, SameSite=Strict, Path=/device, Secure with
 * --cookie-secure) and every form carries "<expiry>.<hex>", the keyed
 * BLAKE2b (the key file's hash key) of the cookie and the expiry.  A POST
 * must bring both and they must match and be unexpired: another site can
 * neither read the cookie nor compute the token, and SameSite=Strict keeps
 * the browser from sending the cookie with a cross-site POST at all.
 *
 * The member proven by the password is bound to the confirm step on the
 * server: POST /device stores the hash of a random single-use confirm token
 * on the pending code (auth_device_web_begin), the confirm form carries the
 * token in its body, and it lives five minutes.  No secret is ever in a
 * URL; the user_code in ?user_code= is not a credential (the member types
 * it anyway).
 *
 * Throttling is the API's: user-code guesses per member and per network,
 * sign-in failures through acct_verify_credentials, and a wrong password
 * given with a code counts against that code (locked after a few).
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accounts/accounts.h"
#include "auth/auth_int.h"
#include "core/clock.h"
#include "core/log.h"
#include "server/http.h"

#define CSRF_COOKIE "hearth_device_csrf"
#define CSRF_COOKIE_BYTES 32
#define CSRF_COOKIE_CHARS 43
#define CSRF_TTL_S 1800
#define CODE_INPUT_MAX 64
#define EMAIL_INPUT_MAX 1024
#define PASSWORD_INPUT_MAX 4096

/* ---- templates ----
 * {{name}} is replaced by the HTML-escaped value of `name`; {{{name}}} by
 * an already rendered fragment.  Nothing else is interpreted. */

static const char LAYOUT[] =
	"<!DOCTYPE html>\n"
	"<html lang=\"en\">\n"
	"<head>\n"
	"<meta charset=\"utf-8\">\n"
	"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	"<meta name=\"referrer\" content=\"no-referrer\">\n"
	"<title>{{title}} - Hearth</title>\n"
	"<style>\n"
	"body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;background:#f4f1ec;"
	"color:#1d1b19;margin:0;padding:24px 16px}\n"
	"main{max-width:420px;margin:0 auto;background:#fff;border-radius:12px;padding:24px;"
	"box-shadow:0 1px 4px rgba(0,0,0,.12)}\n"
	"h1{font-size:1.4em;margin:0 0 16px}\n"
	".brand{color:#b3471d;font-weight:700;letter-spacing:.04em;margin:0 0 8px}\n"
	"label{display:block;margin:14px 0 4px;font-weight:600}\n"
	"input{box-sizing:border-box;width:100%;font-size:1.05em;padding:10px;border:1px solid #aaa;"
	"border-radius:8px}\n"
	"input.code{text-transform:uppercase;letter-spacing:.2em;font-family:ui-monospace,monospace}\n"
	"button{font-size:1.05em;padding:12px 18px;border-radius:8px;border:0;margin:18px 8px 0 0;"
	"cursor:pointer}\n"
	".primary{background:#b3471d;color:#fff}\n"
	".secondary{background:#e4e0da;color:#1d1b19}\n"
	".error{background:#fdecea;border:1px solid #e0a49b;border-radius:8px;padding:10px;margin:0 0 12px}\n"
	"dl{display:grid;grid-template-columns:auto 1fr;gap:6px 12px;margin:0}\n"
	"dt{color:#6b645c}dd{margin:0;font-weight:600;overflow-wrap:anywhere}\n"
	"</style>\n"
	"</head>\n"
	"<body>\n"
	"<main>\n"
	"<p class=\"brand\">HEARTH</p>\n"
	"{{{body}}}"
	"</main>\n"
	"</body>\n"
	"</html>\n";

static const char ERROR_BLOCK[] = "<p class=\"error\" role=\"alert\">{{message}}</p>\n";

static const char SIGNIN_FORM[] =
	"<h1>Sign in a TV or other device</h1>\n"
	"{{{error}}}"
	"<p>Enter the code your device shows, with your Hearth email and password.</p>\n"
	"<form method=\"post\" action=\"/device\">\n"
	"<input type=\"hidden\" name=\"csrf\" value=\"{{csrf}}\">\n"
	"<label for=\"user_code\">Code on your device</label>\n"
	"<input class=\"code\" id=\"user_code\" name=\"user_code\" value=\"{{user_code}}\" "
	"autocomplete=\"off\" autocapitalize=\"characters\" spellcheck=\"false\" maxlength=\"16\" "
	"placeholder=\"BCDF-GHJK\" required>\n"
	"<label for=\"email\">Email</label>\n"
	"<input id=\"email\" name=\"email\" type=\"email\" value=\"{{email}}\" autocomplete=\"username\" "
	"required>\n"
	"<label for=\"password\">Password</label>\n"
	"<input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" "
	"required>\n"
	"<button class=\"primary\" type=\"submit\">Continue</button>\n"
	"</form>\n";

static const char CONFIRM_FORM[] =
	"<h1>Sign in this device?</h1>\n"
	"<p>Only continue if this is the device in front of you.</p>\n"
	"<dl>\n"
	"<dt>App</dt><dd>{{client}}</dd>\n"
	"<dt>Device</dt><dd>{{device}}</dd>\n"
	"<dt>Type</dt><dd>{{type}}</dd>\n"
	"<dt>Model</dt><dd>{{model}}</dd>\n"
	"<dt>Network</dt><dd>{{network}}</dd>\n"
	"<dt>Code</dt><dd>{{user_code}}</dd>\n"
	"<dt>Asked at</dt><dd>{{requested_at}}</dd>\n"
	"</dl>\n"
	"<form method=\"post\" action=\"/device/confirm\">\n"
	"<input type=\"hidden\" name=\"csrf\" value=\"{{csrf}}\">\n"
	"<input type=\"hidden\" name=\"confirm\" value=\"{{confirm}}\">\n"
	"<button class=\"primary\" type=\"submit\" name=\"decision\" value=\"approve\">Sign in "
	"{{device}}</button>\n"
	"<button class=\"secondary\" type=\"submit\" name=\"decision\" value=\"deny\">Deny</button>\n"
	"</form>\n";

static const char DONE_APPROVED[] =
	"<h1>You're all set</h1>\n"
	"<p>{{device}} is now signed in to Hearth. It may take a few seconds to notice.</p>\n"
	"<p>You can sign it out at any time from your list of devices.</p>\n";

static const char DONE_DENIED[] =
	"<h1>Request denied</h1>\n"
	"<p>{{device}} was not signed in. Nothing else changed.</p>\n";

static const char PROBLEM_PAGE[] =
	"<h1>{{title}}</h1>\n"
	"<p>{{message}}</p>\n"
	"<p><a href=\"/device\">Start again</a></p>\n";

/* ---- a growing buffer and the renderer ---- */

struct page {
	char *buf;
	size_t len, cap;
	bool failed;
};

static void put(struct page *p, const char *s, size_t n)
{
	if (p->failed)
		return;
	if (p->len + n + 1 > p->cap) {
		size_t cap = p->cap ? p->cap : 4096;
		while (cap < p->len + n + 1)
			cap *= 2;
		char *nb = realloc(p->buf, cap);
		if (!nb) {
			p->failed = true;
			return;
		}
		p->buf = nb;
		p->cap = cap;
	}
	memcpy(p->buf + p->len, s, n); // NOLINT(clang-analyzer-core.NonNullParamChecker): buf was allocated above (cap > len + n)
	p->len += n;
	p->buf[p->len] = '\0';
}

static void put_escaped(struct page *p, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&': put(p, "&amp;", 5); break;
		case '<': put(p, "&lt;", 4); break;
		case '>': put(p, "&gt;", 4); break;
		case '"': put(p, "&quot;", 6); break;
		case '\'': put(p, "&#39;", 5); break;
		default: put(p, s, 1); break;
		}
	}
}

struct var {
	const char *name;
	const char *value;
};

static const char *lookup(const struct var *vars, const char *name, size_t n)
{
	for (; vars && vars->name; vars++)
		if (strlen(vars->name) == n && memcmp(vars->name, name, n) == 0)
			return vars->value ? vars->value : "";
	return "";
}

/* Render `tmpl` into `p` with `vars` (terminated by {NULL, NULL}). */
static void render(struct page *p, const char *tmpl, const struct var *vars)
{
	const char *s = tmpl;
	while (*s) {
		const char *open = strstr(s, "{{");
		if (!open) {
			put(p, s, strlen(s));
			return;
		}
		put(p, s, (size_t)(open - s));
		bool raw = open[2] == '{';
		const char *name = open + (raw ? 3 : 2);
		const char *close = strstr(name, raw ? "}}}" : "}}");
		if (!close) {
			put(p, open, strlen(open));
			return;
		}
		const char *value = lookup(vars, name, (size_t)(close - name));
		if (raw)
			put(p, value, strlen(value));
		else
			put_escaped(p, value);
		s = close + (raw ? 3 : 2);
	}
}

/* Reply `status` with `body_tmpl` rendered inside the layout. */
static void reply_page(struct http_req *req, int status, const char *title, const char *body_tmpl,
		       const struct var *vars)
{
	struct page body = {0}, whole = {0};
	render(&body, body_tmpl, vars);
	const struct var layout_vars[] = {{"title", title}, {"body", body.buf}, {NULL, NULL}};
	render(&whole, LAYOUT, layout_vars);
	free(body.buf);
	if (whole.failed || body.failed || !whole.buf) {
		free(whole.buf);
		http_reply_problem(req, ERR_NOMEM, NULL);
		return;
	}
	http_add_header(req, "Content-Security-Policy",
			"default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
			"frame-ancestors 'none'; base-uri 'none'");
	http_add_header(req, "X-Frame-Options", "DENY");
	http_add_header(req, "X-Content-Type-Options", "nosniff");
	http_add_header(req, "Referrer-Policy", "no-referrer");
	http_reply_raw(req, status, "text/html; charset=utf-8", whole.buf, whole.len);
	free(whole.buf);
}

static void reply_problem_page(struct http_req *req, int status, const char *title, const char *message)
{
	const struct var vars[] = {{"title", title}, {"message", message}, {NULL, NULL}};
	reply_page(req, status, title, PROBLEM_PAGE, vars);
}

/* ---- CSRF ---- */

static bool cookie_shape_ok(const char *v, size_t n)
{
	if (n != CSRF_COOKIE_CHARS)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = v[i];
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		      ch == '-' || ch == '_'))
			return false;
	}
	return true;
}

/* The CSRF cookie the browser sent, copied to `out`; false when absent or malformed. */
static bool csrf_cookie(const struct http_req *req, char out[CSRF_COOKIE_CHARS + 1])
{
	const char *h = http_header(req, "Cookie");
	const size_t name_len = strlen(CSRF_COOKIE);
	for (const char *p = h; p && *p;) {
		while (*p == ' ' || *p == ';')
			p++;
		size_t n = strcspn(p, ";");
		if (n > name_len && strncmp(p, CSRF_COOKIE, name_len) == 0 && p[name_len] == '=') {
			const char *v = p + name_len + 1;
			size_t vn = n - name_len - 1;
			while (vn > 0 && v[vn - 1] == ' ')
				vn--;
			if (!cookie_shape_ok(v, vn))
				return false;
			memcpy(out, v, vn);
			out[vn] = '\0';
			return true;
		}
		p += n;
	}
	return false;
}

/* The form token for `cookie` valid until `exp`: "<exp>.<64 hex>". */
static enum err csrf_token(const char *cookie, int64_t exp, char *out, size_t cap)
{
	char material[CSRF_COOKIE_CHARS + 32], hash[AUTH_SECRET_HASH_SIZE];
	snprintf(material, sizeof material, "%s.%lld", cookie, (long long)exp);
	enum err e = auth_secret_hash("device_csrf", material, hash);
	sodium_memzero(material, sizeof material);
	if (e != ERR_OK)
		return e;
	int n = snprintf(out, cap, "%lld.%s", (long long)exp, hash);
	return n > 0 && (size_t)n < cap ? ERR_OK : ERR_BUFFER_TOO_SMALL;
}

/* The posted form's token matches the cookie and has not expired. */
static bool csrf_valid(const struct http_req *req)
{
	char cookie[CSRF_COOKIE_CHARS + 1], want[128];
	const char *got = http_form(req, "csrf");
	if (!got || !csrf_cookie(req, cookie))
		return false;
	char *end = NULL;
	long long exp = strtoll(got, &end, 10);
	if (end == got || *end != '.' || got[0] < '0' || got[0] > '9')
		return false;
	int64_t now = clock_now();
	if (exp <= now || exp > now + CSRF_TTL_S)
		return false;
	if (csrf_token(cookie, exp, want, sizeof want) != ERR_OK || strlen(got) != strlen(want))
		return false;
	return sodium_memcmp(got, want, strlen(want)) == 0;
}

/* Keep the browser's cookie or make one, send it (again), and write a fresh
 * form token into `token`.  False after replying 500. */
static bool csrf_issue_or_reply(struct http_req *req, char *token, size_t cap)
{
	char cookie[CSRF_COOKIE_CHARS + 1], header[256];
	if (!csrf_cookie(req, cookie) &&
	    ids_random_token(CSRF_COOKIE_BYTES, cookie, sizeof cookie) != ERR_OK) {
		http_reply_problem(req, ERR_INTERNAL, "random token");
		return false;
	}
	if (csrf_token(cookie, clock_now() + CSRF_TTL_S, token, cap) != ERR_OK) {
		http_reply_problem(req, ERR_INTERNAL, "csrf token");
		return false;
	}
	snprintf(header, sizeof header, "%s=%s; Path=/device; Max-Age=%d; HttpOnly; SameSite=Strict%s",
		 CSRF_COOKIE, cookie, CSRF_TTL_S, auth_settings.cookie_secure ? "; Secure" : "");
	http_add_header(req, "Set-Cookie", header);
	return true;
}

static void reply_forged(struct http_req *req)
{
	log_warn("device_page.csrf_rejected", "route=%s", http_route_pattern(req));
	reply_problem_page(req, 403, "This form has expired",
			   "The form was not sent from this page, or it is too old. Nothing was changed; "
			   "start again.");
}

/* ---- the pages ---- */

/* The sign-in form with an optional error, the code and email kept. */
static void reply_signin_form(struct http_req *req, int status, const char *error, const char *code,
			      const char *email)
{
	char csrf[128];
	struct page err = {0};
	if (!csrf_issue_or_reply(req, csrf, sizeof csrf))
		return;
	if (error) {
		const struct var ev[] = {{"message", error}, {NULL, NULL}};
		render(&err, ERROR_BLOCK, ev);
	}
	const struct var vars[] = {{"csrf", csrf},
				   {"user_code", code},
				   {"email", email},
				   {"error", err.buf},
				   {NULL, NULL}};
	reply_page(req, status, "Sign in a device", SIGNIN_FORM, vars);
	free(err.buf);
}

static void reply_throttled_page(struct http_req *req, int64_t retry_after)
{
	char secs[24], message[200];
	if (retry_after < 1)
		retry_after = 1;
	snprintf(secs, sizeof secs, "%lld", (long long)retry_after);
	http_add_header(req, "Retry-After", secs);
	snprintf(message, sizeof message,
		 "There were too many wrong attempts. Wait %lld seconds, then start again.",
		 (long long)retry_after);
	reply_problem_page(req, 429, "Too many attempts", message);
}

/* A code as typed, bounded and kept only when it is printable ASCII, to
 * show it again in the form. */
static const char *typed_code(const char *in, char *out, size_t cap)
{
	size_t n = 0;
	for (const char *p = in; p && *p && n + 1 < cap; p++)
		if (*p >= 0x20 && *p < 0x7f)
			out[n++] = *p;
	out[n] = '\0';
	return out;
}

static void page_get(struct http_req *req)
{
	char code[CODE_INPUT_MAX + 1];
	typed_code(http_query(req, "user_code"), code, sizeof code);
	reply_signin_form(req, 200, NULL, code, NULL);
}

static void page_post(struct http_req *req)
{
	char code_typed[CODE_INPUT_MAX + 1], norm[AUTH_USER_CODE_LEN + 1], account[IDS_MAX];
	char confirm[AUTH_DEVICE_CODE_MAX], csrf[128], when[32];
	struct auth_device_pending p;
	int64_t retry_after = 0;
	const char *email = http_form(req, "email");
	const char *password = http_form(req, "password");
	const char *raw_code = http_form(req, "user_code");
	typed_code(raw_code, code_typed, sizeof code_typed);
	if (email && strlen(email) > EMAIL_INPUT_MAX)
		email = NULL;
	if (!csrf_valid(req)) {
		reply_forged(req);
		return;
	}
	struct db *db = db_thread();
	if (!db) {
		http_reply_problem(req, ERR_DB, NULL);
		return;
	}
	if (!email || !email[0] || !password || !password[0] || !raw_code || !raw_code[0]) {
		reply_signin_form(req, 400, "Enter the code, your email and your password.", code_typed, email);
		return;
	}
	if (strlen(password) > PASSWORD_INPUT_MAX) {
		reply_signin_form(req, 400, "The email or the password is wrong.", code_typed, email);
		return;
	}
	/* Guessing codes from this network is blocked before any hashing. */
	enum err e = auth_user_code_throttle_check(db, NULL, http_client_addr(req), &retry_after);
	if (e == ERR_TOO_MANY_ATTEMPTS) {
		reply_throttled_page(req, retry_after);
		return;
	}
	if (e != ERR_OK)
		goto fail;
	e = acct_verify_credentials(db, email, password, http_client_addr(req), account, &retry_after);
	if (e == ERR_TOO_MANY_ATTEMPTS) {
		reply_throttled_page(req, retry_after);
		return;
	}
	if (e == ERR_INVALID_CREDENTIALS) {
		/* Whoever does not know the password and names a live code
		 * is counted against that code too. */
		if (auth_user_code_normalize(raw_code, norm) && auth_device_code_fail(db, norm) != ERR_OK)
			log_warn("device_page.code_fail_not_counted", "%s", "");
		reply_signin_form(req, 400, "The email or the password is wrong.", code_typed, email);
		return;
	}
	if (e == ERR_ACCOUNT_LOCKED) {
		reply_problem_page(req, 403, "Account locked",
				   "This account is locked. Contact Hearth support.");
		return;
	}
	if (e != ERR_OK)
		goto fail;
	e = auth_user_code_throttle_check(db, account, http_client_addr(req), &retry_after);
	if (e == ERR_TOO_MANY_ATTEMPTS) {
		reply_throttled_page(req, retry_after);
		return;
	}
	if (e != ERR_OK)
		goto fail;
	e = auth_device_pending_get(db, raw_code, &p);
	if (e == ERR_OK)
		e = auth_device_web_begin(db, p.user_code, account, confirm);
	if (e == ERR_NOT_FOUND) {
		e = auth_user_code_throttle_fail(db, account, http_client_addr(req));
		if (e != ERR_OK)
			goto fail;
		reply_signin_form(req, 400,
				  "That code is not right, or it expired. Check the code on your device.",
				  code_typed, email);
		return;
	}
	if (e != ERR_OK)
		goto fail;
	if (!csrf_issue_or_reply(req, csrf, sizeof csrf))
		goto out;
	const char *device = p.device_name[0] ? p.device_name : p.client_name;
	const struct var vars[] = {{"client", p.client_name},
				   {"device", device},
				   {"type", p.device_type},
				   {"model", p.device_model[0] ? p.device_model : "-"},
				   {"network", p.network[0] ? p.network : "-"},
				   {"user_code", p.user_code},
				   {"requested_at", clock_format(p.requested_at, when, sizeof when)},
				   {"csrf", csrf},
				   {"confirm", confirm},
				   {NULL, NULL}};
	reply_page(req, 200, "Confirm", CONFIRM_FORM, vars);
	goto out;
fail:
	http_reply_problem(req, e, NULL);
out:
	sodium_memzero(confirm, sizeof confirm);
}

static void page_confirm(struct http_req *req)
{
	struct auth_device_pending p;
	if (!csrf_valid(req)) {
		reply_forged(req);
		return;
	}
	const char *decision = http_form(req, "decision");
	const char *token = http_form(req, "confirm");
	bool approve = decision && strcmp(decision, "approve") == 0;
	if (!decision || (!approve && strcmp(decision, "deny") != 0) || !token) {
		reply_problem_page(req, 400, "Something is missing",
				   "Choose to sign the device in or to deny it. Nothing was changed.");
		return;
	}
	struct db *db = db_thread();
	enum err e = db ? auth_device_web_decide(db, token, approve, &p) : ERR_DB;
	if (e == ERR_NOT_FOUND) {
		reply_problem_page(req, 400, "This request has ended",
				   "It was already answered, it expired, or the code was locked. "
				   "Ask your device for a new code and start again.");
		return;
	}
	if (e != ERR_OK) {
		http_reply_problem(req, e, NULL);
		return;
	}
	const struct var vars[] = {{"device", p.device_name[0] ? p.device_name : p.client_name},
				   {NULL, NULL}};
	reply_page(req, 200, approve ? "Signed in" : "Denied", approve ? DONE_APPROVED : DONE_DENIED,
		   vars);
}

void auth_device_page_register(void)
{
	http_route("GET", "/device", page_get, HTTP_NO_STORE, 0);
	http_route("POST", "/device", page_post, HTTP_FORM_BODY | HTTP_OFFLOAD | HTTP_NO_STORE, 0);
	http_route("POST", "/device/confirm", page_confirm, HTTP_FORM_BODY | HTTP_NO_STORE, 0);
}
