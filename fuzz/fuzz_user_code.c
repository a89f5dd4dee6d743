/*
 * fuzz_user_code.c - user codes as members type them (GET
 * /v1/device-codes/{user_code}, the /device page's form) through
 * auth_user_code_normalize().
 *
 * The input, NUL-terminated, is what the member typed.  Properties beyond
 * "no crash":
 *  - it agrees with a reference written from the contract: '-' and ' '
 *    are dropped, ASCII letters are upper-cased, and the result is a code
 *    exactly when it is 8 letters of BCDFGHJKLMNPQRSTVWXZ; `out` is then
 *    that code and NUL-terminated;
 *  - a code, as shown (XXXX-XXXX) or in lower case, normalises to itself.
 */
#include <string.h>

#include "auth/auth.h"
#include "fuzz/fuzz.h"

static const char fuc_alphabet[] = "BCDFGHJKLMNPQRSTVWXZ";

/* The reference, from the contract rather than from the code it checks:
 * keep what is not '-' or ' ', upper-cased; it is a code when exactly the
 * 8 letters of a code are left.  True with the code in `out`. */
static bool fuc_reference(const char *in, char out[AUTH_USER_CODE_LEN + 1])
{
	size_t len = strlen(in), n = 0;
	char *kept = malloc(len + 1);
	FUZZ_ASSERT(kept, "out of memory");
	for (size_t i = 0; i < len; i++)
		if (in[i] != '-' && in[i] != ' ')
			kept[n++] = in[i] >= 'a' && in[i] <= 'z' ? (char)(in[i] - 'a' + 'A') : in[i];
	kept[n] = '\0';
	bool is_code = n == AUTH_USER_CODE_LEN && strspn(kept, fuc_alphabet) == n;
	if (is_code)
		memcpy(out, kept, n + 1);
	free(kept);
	return is_code;
}

int fuzz_user_code(const uint8_t *data, size_t size)
{
	char *in = fuzz_cstr(data, size);
	if (!in)
		return 0;
	char out[AUTH_USER_CODE_LEN + 1], want[AUTH_USER_CODE_LEN + 1];
	memset(out, 'x', sizeof out);
	bool ok = auth_user_code_normalize(in, out);
	bool ref = fuc_reference(in, want);
	FUZZ_ASSERT(ok == ref, "auth_user_code_normalize disagrees with the reference");
	if (ok) {
		FUZZ_ASSERT(strcmp(out, want) == 0, "the normalised code differs from the reference");
		char shown[AUTH_USER_CODE_LEN + 2], lower[AUTH_USER_CODE_LEN + 1], again[AUTH_USER_CODE_LEN + 1];
		memcpy(shown, out, 4);
		shown[4] = '-';
		memcpy(shown + 5, out + 4, 5);
		for (size_t i = 0; i <= AUTH_USER_CODE_LEN; i++)
			lower[i] = out[i] ? (char)(out[i] - 'A' + 'a') : '\0';
		FUZZ_ASSERT(auth_user_code_normalize(shown, again) && strcmp(again, out) == 0,
			    "a code as shown does not normalise to itself");
		FUZZ_ASSERT(auth_user_code_normalize(lower, again) && strcmp(again, out) == 0,
			    "a code in lower case does not normalise to itself");
	}
	free(in);
	return 0;
}

#ifndef FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_user_code(data, size); }
#endif
