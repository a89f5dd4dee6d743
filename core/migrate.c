#include "core/migrate.h"

#include <stdbool.h>

#include "core/clock.h"
#include "core/log.h"

static int latest_embedded(void)
{
	return migrate_embedded_count ? migrate_embedded[migrate_embedded_count - 1].version : 0;
}

/* The highest applied version; 0 when schema_migrations does not exist yet
 * (a fresh database: 0001 creates it). */
static enum err current_version(struct db *db, int *out)
{
	struct db_stmt *st = NULL;
	*out = 0;
	if (!db_has_table(db, "schema_migrations"))
		return ERR_OK;
	enum err e = db_prepare(db, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &st);
	if (e != ERR_OK)
		return e;
	e = db_step_row(st);
	if (e == ERR_OK)
		*out = (int)db_column_int64(st, 0);
	db_done(st);
	return e;
}

enum err migrate_status(struct db *db, struct migrate_status *out)
{
	enum err e = current_version(db, &out->current);
	if (e != ERR_OK)
		return e;
	out->latest = latest_embedded();
	out->pending = 0;
	for (size_t i = 0; i < migrate_embedded_count; i++)
		if (migrate_embedded[i].version > out->current)
			out->pending++;
	return ERR_OK;
}

struct apply_ctx {
	const struct migration *m;
	bool skipped;
};

static enum err apply_one(struct db *db, void *arg)
{
	struct apply_ctx *ctx = arg;
	struct db_stmt *st = NULL;
	int cur;
	/* Re-read inside the write lock: another process may have applied it. */
	enum err e = current_version(db, &cur);
	if (e != ERR_OK)
		return e;
	if (cur > latest_embedded())
		return ERR_SCHEMA_TOO_NEW;
	if (cur >= ctx->m->version) {
		ctx->skipped = true;
		return ERR_OK;
	}
	e = db_exec(db, ctx->m->sql);
	if (e != ERR_OK)
		return e;
	e = db_prepare(db,
		       "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
		       &st);
	if (e != ERR_OK)
		return e;
	db_bind_int64(st, 1, ctx->m->version);
	db_bind_text(st, 2, ctx->m->name);
	db_bind_int64(st, 3, clock_now());
	e = db_step_done(st);
	db_done(st);
	return e;
}

enum err migrate_apply(struct db *db, int *applied)
{
	int cur, n = 0;
	enum err e = current_version(db, &cur);
	if (applied)
		*applied = 0;
	if (e != ERR_OK)
		return e;
	if (cur > latest_embedded()) {
		log_error("db.schema_too_new", "database_version=%d binary_version=%d", cur,
			  latest_embedded());
		return ERR_SCHEMA_TOO_NEW;
	}
	for (size_t i = 0; i < migrate_embedded_count; i++) {
		const struct migration *m = &migrate_embedded[i];
		if (m->version <= cur)
			continue;
		struct apply_ctx ctx = {m, false};
		e = db_transaction(db, apply_one, &ctx);
		if (e != ERR_OK) {
			log_error("db.migration_failed", "version=%d name=%s", m->version, m->name);
			return e;
		}
		if (!ctx.skipped) {
			n++;
			log_info("db.migrated", "version=%d name=%s", m->version, m->name);
		}
	}
	if (applied)
		*applied = n;
	return ERR_OK;
}
