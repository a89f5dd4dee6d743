/*
 * listing.c - what the auth area's paged lists (sign-ins, devices, OAuth
 * clients) share: reading a page cursor and reading one page of rows.
 *
 * What stays true: a page holds at most `limit` rows and has_more says
 * whether a further row exists; a cursor that is not the caller's is
 * ERR_INVALID_PARAMETER, never a silent first page.
 */
#include <stdio.h>
#include <stdlib.h>

#include "auth/auth_int.h"
#include "core/clock.h"

void auth_copy_col(struct db_stmt *st, int i, char *dst, size_t cap)
{
	const char *s = db_column_text(st, i);
	snprintf(dst, cap, "%s", s ? s : "");
}

/* Resolve the page cursor `id` of `account_id`: `sql` selects one integer
 * column with ?1 the id and ?2 the account; *out gets it.
 * ERR_INVALID_PARAMETER when the id is not one of the account's. */
static enum err page_cursor(struct db *db, const char *sql, const char *id, const char *account_id,
			    int64_t *out)
{
	struct db_stmt *st = NULL;
	enum err e = db_prepare(db, sql, &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, id);
	db_bind_text(st, 2, account_id);
	e = db_step_row(st);
	if (e == ERR_OK)
		*out = db_column_int64(st, 0);
	db_done(st);
	return e == ERR_NOT_FOUND ? ERR_INVALID_PARAMETER : e;
}

enum err auth_page_read(struct db_stmt *st, int64_t limit, size_t size, auth_row_reader read,
			void **rows, size_t *n, bool *has_more)
{
	unsigned char *list = calloc((size_t)limit + 1, size);
	size_t count = 0;
	enum err e;
	*rows = NULL;
	*n = 0;
	*has_more = false;
	if (!list)
		return ERR_NOMEM;
	for (;;) {
		bool row = false;
		e = db_step(st, &row);
		if (e != ERR_OK || !row)
			break;
		read(st, list + count++ * size);
	}
	if (e != ERR_OK) {
		free(list);
		return e;
	}
	if (count > (size_t)limit) {
		*has_more = true;
		count = (size_t)limit;
	}
	*rows = list;
	*n = count;
	return ERR_OK;
}

enum err auth_page_list(struct db *db, const struct auth_page_query *q, const char *account_id,
			int64_t limit, const char *starting_after, void **rows, size_t *n,
			bool *has_more)
{
	struct db_stmt *st = NULL;
	int64_t now = clock_now(), after_key = 0;
	enum err e = ERR_OK;
	*rows = NULL;
	*n = 0;
	*has_more = false;
	if (starting_after)
		e = page_cursor(db, q->cursor_sql, starting_after, account_id, &after_key);
	if (e != ERR_OK)
		return e;
	e = db_prepare(db, q->page_sql, &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, account_id);
	db_bind_text(st, 2, starting_after);
	db_bind_int64(st, 3, after_key);
	db_bind_int64(st, 4, limit + 1);
	if (q->binds_now)
		db_bind_int64(st, 5, now);
	e = auth_page_read(st, limit, q->row_size, q->read, rows, n, has_more);
	db_done(st);
	return e;
}
