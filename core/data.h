/*
 * data.h - data files embedded in the binary (the default catalog, the list
 * of common passwords): everything under data/ at build time.
 */
#ifndef HEARTH_CORE_DATA_H
#define HEARTH_CORE_DATA_H

#include <stddef.h>

struct data_file {
	const char *name;
	const char *bytes; /* NUL-terminated */
	size_t len;	   /* without the NUL */
};

extern const struct data_file data_embedded[];
extern const size_t data_embedded_count;

/* The embedded file called `name` ("catalog.json"), or NULL. */
const struct data_file *data_find(const char *name);

#endif
