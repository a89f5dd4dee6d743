/*
 * migrate.h - schema migrations embedded in the binary.
 *
 * schema/NNNN_name.sql files are compiled into every binary (see
 * cmake/embed_schema.cmake) and applied in version order, each inside its
 * own transaction together with its row in `schema_migrations`, so a
 * migration is either wholly applied and recorded or not at all.  A database
 * whose recorded version is newer than the newest embedded migration is
 * refused: an old binary must never write to a schema it does not know.
 */
#ifndef HEARTH_CORE_MIGRATE_H
#define HEARTH_CORE_MIGRATE_H

#include <stddef.h>

#include "core/db.h"

struct migration {
	int version;
	const char *name;
	const char *sql;
};

/* The migrations of this binary, sorted by version (generated). */
extern const struct migration migrate_embedded[];
extern const size_t migrate_embedded_count;

struct migrate_status {
	int current;	/* highest applied version, 0 for an empty database */
	int latest;	/* highest version this binary knows */
	int pending;	/* embedded migrations not yet applied */
};

/* Read the schema state of `db` against this binary's migrations. */
enum err migrate_status(struct db *db, struct migrate_status *out);

/* Apply every pending migration in order.  *applied (may be NULL) gets how
 * many were applied.  Returns ERR_SCHEMA_TOO_NEW when the database is newer
 * than the binary (nothing is changed), or the error of the failing
 * migration (which is rolled back; earlier ones stay applied). */
enum err migrate_apply(struct db *db, int *applied);

#endif
