/*
 * form.c - the application/x-www-form-urlencoded decoder of form bodies
 * (the OAuth endpoints).  Kept apart from server.c so that the fuzz target
 * and the regression suite can call it without a running server.
 */
#include <stdlib.h>
#include <string.h>

#include "server/server_int.h"

int form_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode application/x-www-form-urlencoded text of `len` bytes. */
static char *form_decode(const char *s, size_t len)
{
	char *d = malloc(len + 1);
	size_t o = 0;
	if (!d)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '+') {
			d[o++] = ' ';
		} else if (s[i] == '%') {
			int hi = i + 2 < len ? form_hex_digit(s[i + 1]) : -1;
			int lo = i + 2 < len ? form_hex_digit(s[i + 2]) : -1;
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
				free(d);
				return NULL;
			}
			d[o++] = (char)(hi * 16 + lo);
			i += 2;
		} else if (s[i] == '\0') {
			/* A raw NUL would cut the C string short and drop the
			 * rest of the field unseen; refused like %00. */
			free(d);
			return NULL;
		} else {
			d[o++] = s[i];
		}
	}
	d[o] = '\0';
	return d;
}

static bool seen(char *const *names, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return true;
	return false;
}

void form_release(char **names, char **values, int *n)
{
	for (int i = 0; i < *n; i++) {
		free(names[i]);
		free(values[i]);
		names[i] = NULL;
		values[i] = NULL;
	}
	*n = 0;
}

bool form_parse(const char *body, size_t len, char **names, char **values, int max, int *n)
{
	const char *p = body ? body : "";
	const char *end = p + (body ? len : 0);
	*n = 0;
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *pe = amp ? amp : end;
		if (pe > p) {
			const char *eq = memchr(p, '=', (size_t)(pe - p));
			if (!eq || *n >= max)
				goto fail;
			char *name = form_decode(p, (size_t)(eq - p));
			char *value = form_decode(eq + 1, (size_t)(pe - eq - 1));
			if (!name || !value || seen(names, *n, name)) {
				free(name);
				free(value);
				goto fail;
			}
			names[*n] = name;
			values[(*n)++] = value;
		}
		p = pe + 1;
	}
	return true;

fail:
	form_release(names, values, n);
	return false;
}
