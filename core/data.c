#include "core/data.h"

#include <string.h>

const struct data_file *data_find(const char *name)
{
	for (size_t i = 0; i < data_embedded_count; i++)
		if (strcmp(data_embedded[i].name, name) == 0)
			return &data_embedded[i];
	return NULL;
}
