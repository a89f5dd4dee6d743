/*
 * hearthctl db ...: operator commands that work on the database file on the
 * server host (no API involved).
 */
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli_int.h"
#include "core/db.h"
#include "core/migrate.h"

const char *cli_db_path(int argc, char **argv)
{
	const char *p = ctl_opt(argc, argv, "--db");
	if (!p)
		p = getenv("HEARTH_DB");
	return p ? p : "./hearth.db";
}

int cli_open_db(const char *path, bool must_exist, struct db **out)
{
	struct db_options o;
	struct stat sb;
	if (must_exist && stat(path, &sb) != 0)
		return ctl_fail(CTL_NOT_FOUND, "no database at %s", path);
	db_options_init(&o);
	o.path = path;
	if (db_open(&o, out) != ERR_OK)
		return ctl_fail(CTL_FAILURE, "cannot open the database %s", path);
	return CTL_OK;
}

static const char *const db_valued[] = {"--db", NULL};

int cmd_db_migrate(struct ctl *ctl, int argc, char **argv)
{
	struct db *db = NULL;
	if (!ctl_check_args(argc, argv, db_valued, NULL, 0, 0, NULL))
		return ctl_usage_error("db migrate", "bad arguments");
	const char *path = cli_db_path(argc, argv);
	int rc = cli_open_db(path, false, &db);
	if (rc != CTL_OK)
		return rc;
	int applied = 0;
	enum err e = migrate_apply(db, &applied);
	struct migrate_status st = {0};
	if (e == ERR_OK)
		e = migrate_status(db, &st);
	db_close(db);
	if (e == ERR_SCHEMA_TOO_NEW)
		return ctl_fail(CTL_FAILURE, "%s has a newer schema than this hearthctl knows; use a newer hearthctl", path);
	if (e != ERR_OK)
		return ctl_fail(CTL_FAILURE, "migration failed (%s); nothing of the failing migration was applied", err_name(e));
	if (ctl->json) {
		json_t *o = json_pack("{s:s, s:i, s:i}", "database", path, "applied", applied, "version", st.current);
		json_dumpf(o, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(o);
	} else {
		printf("Applied %d migration%s; %s is at schema version %d.\n", applied, applied == 1 ? "" : "s",
		       path, st.current);
	}
	return CTL_OK;
}

static int64_t pragma_int(struct db *db, const char *sql)
{
	struct db_stmt *st = NULL;
	int64_t v = -1;
	if (db_prepare(db, sql, &st) == ERR_OK && db_step_row(st) == ERR_OK)
		v = db_column_int64(st, 0);
	db_done(st);
	return v;
}

static char *pragma_text(struct db *db, const char *sql)
{
	struct db_stmt *st = NULL;
	char *v = NULL;
	if (db_prepare(db, sql, &st) == ERR_OK && db_step_row(st) == ERR_OK && db_column_text(st, 0))
		v = strdup(db_column_text(st, 0));
	db_done(st);
	return v;
}

int cmd_db_status(struct ctl *ctl, int argc, char **argv)
{
	struct db *db = NULL;
	if (!ctl_check_args(argc, argv, db_valued, NULL, 0, 0, NULL))
		return ctl_usage_error("db status", "bad arguments");
	const char *path = cli_db_path(argc, argv);
	int rc = cli_open_db(path, true, &db);
	if (rc != CTL_OK)
		return rc;
	struct migrate_status st;
	enum err e = migrate_status(db, &st);
	int64_t pages = pragma_int(db, "PRAGMA page_count");
	int64_t page_size = pragma_int(db, "PRAGMA page_size");
	char *journal = pragma_text(db, "PRAGMA journal_mode");
	db_close(db);
	if (e != ERR_OK) {
		free(journal);
		return ctl_fail(CTL_FAILURE, "cannot read the schema state (%s)", err_name(e));
	}
	int64_t size = pages * page_size;
	if (ctl->json) {
		json_t *pending = json_array();
		for (size_t i = 0; i < migrate_embedded_count; i++)
			if (migrate_embedded[i].version > st.current)
				json_array_append_new(pending, json_string(migrate_embedded[i].name));
		json_t *o = json_pack("{s:s, s:i, s:i, s:o, s:I, s:s, s:b}", "database", path,
				      "version", st.current, "latest", st.latest, "pending", pending,
				      "size_bytes", (json_int_t)size, "journal_mode", journal ? journal : "",
				      "newer_than_binary", st.current > st.latest);
		json_dumpf(o, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(o);
	} else {
		printf("Database:        %s\n", path);
		printf("Schema version:  %d (this hearthctl knows up to %d)\n", st.current, st.latest);
		printf("Pending:         %d", st.pending);
		for (size_t i = 0; i < migrate_embedded_count; i++)
			if (migrate_embedded[i].version > st.current)
				printf("%s%s", i ? ", " : " (", migrate_embedded[i].name);
		printf("%s\n", st.pending ? ")" : "");
		printf("Size:            %lld bytes\n", (long long)size);
		printf("Journal mode:    %s\n", journal ? journal : "?");
		if (st.current > st.latest)
			printf("Warning:         the database is newer than this hearthctl\n");
	}
	free(journal);
	return CTL_OK;
}
