/*
 * out.c - how hearthctl prints for people: aligned tables, labelled fields,
 * headings, and colour only when it was asked for by being on a terminal.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/ctl.h"

void ctl_print_json(const json_t *v)
{
	json_dumpf(v, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	putchar('\n');
}

const char *ctl_str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

const char *ctl_paint(bool on, const char *code, const char *s, int slot)
{
	static char bufs[4][512];
	if (!on || slot < 0 || slot > 3)
		return s;
	int n = snprintf(bufs[slot], sizeof bufs[slot], "\033[%sm%s\033[0m", code, s);
	return n > 0 && (size_t)n < sizeof bufs[slot] ? bufs[slot] : s;
}

void ctl_heading(struct ctl *ctl, const char *title)
{
	printf("\n%s\n", ctl_paint(ctl->color, "1", title, 0));
}

void ctl_field(struct ctl *ctl, const char *label, const char *value)
{
	char l[64];
	snprintf(l, sizeof l, "%s:", label);
	(void)ctl;
	printf("  %-16s %s\n", l, value && value[0] ? value : "-");
}

/* Display width of UTF-8 text: code points, not bytes. */
static size_t width(const char *s)
{
	size_t w = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			w++;
	return w;
}

struct ctl_table {
	int ncols;
	const char *const *titles;
	char **cells;	/* nrows * ncols */
	size_t nrows, cap;
};

struct ctl_table *ctl_table_new(int ncols, const char *const *titles)
{
	struct ctl_table *t = calloc(1, sizeof *t);
	if (t) {
		t->ncols = ncols;
		t->titles = titles;
	}
	return t;
}

void ctl_table_row(struct ctl_table *t, const char *const *cells)
{
	if (!t)
		return;
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		char **p = realloc(t->cells, cap * (size_t)t->ncols * sizeof *p);
		if (!p)
			return;
		t->cells = p;
		t->cap = cap;
	}
	for (int c = 0; c < t->ncols; c++) {
		const char *v = cells[c] && cells[c][0] ? cells[c] : "-";
		t->cells[t->nrows * (size_t)t->ncols + (size_t)c] = strdup(v);
	}
	t->nrows++;
}

static void pad(size_t n)
{
	while (n--)
		putchar(' ');
}

void ctl_table_print(struct ctl *ctl, struct ctl_table *t)
{
	size_t w[16] = {0};
	if (!t || t->ncols > 16)
		return;
	for (int c = 0; c < t->ncols; c++) {
		w[c] = width(t->titles[c]);
		for (size_t r = 0; r < t->nrows; r++) {
			const char *v = t->cells[r * (size_t)t->ncols + (size_t)c];
			if (v && width(v) > w[c])
				w[c] = width(v);
		}
	}
	for (int c = 0; c < t->ncols; c++) {
		fputs(ctl_paint(ctl->color, "1", t->titles[c], 0), stdout);
		if (c + 1 < t->ncols)
			pad(w[c] - width(t->titles[c]) + 2);
	}
	putchar('\n');
	for (size_t r = 0; r < t->nrows; r++) {
		for (int c = 0; c < t->ncols; c++) {
			const char *v = t->cells[r * (size_t)t->ncols + (size_t)c];
			if (!v)
				v = "?";
			fputs(v, stdout);
			if (c + 1 < t->ncols)
				pad(w[c] - width(v) + 2);
		}
		putchar('\n');
	}
	if (t->nrows == 0)
		printf("(none)\n");
}

void ctl_table_free(struct ctl_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nrows * (size_t)t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}

void ctl_print_rows(struct ctl *ctl, json_t *rows, int ncols, const char *const *titles,
		    ctl_row_fn add_row)
{
	if (ctl->json) {
		json_t *o = json_pack("{s:O}", "data", rows);
		ctl_print_json(o);
		json_decref(o);
		return;
	}
	struct ctl_table *t = ctl_table_new(ncols, titles);
	for (size_t i = 0; i < json_array_size(rows); i++)
		add_row(t, json_array_get(rows, i));
	ctl_table_print(ctl, t);
	ctl_table_free(t);
}
