#include "core/errors.h"

struct err_row {
	const char *name;
	int status;
	const char *code;
	const char *title;
};

static const struct err_row rows[] = {
#define HEARTH_ERR_ROW(name, status, code, title) {#name, status, code, title},
	HEARTH_ERRORS(HEARTH_ERR_ROW)
#undef HEARTH_ERR_ROW
};

static const struct err_row *row(enum err e)
{
	if ((unsigned)e >= (unsigned)ERR__COUNT)
		return &rows[ERR_INTERNAL];
	return &rows[e];
}

const char *err_code(enum err e) { return row(e)->code; }
int err_status(enum err e) { return row(e)->status; }
const char *err_title(enum err e) { return row(e)->title; }
const char *err_name(enum err e) { return row(e)->name; }
