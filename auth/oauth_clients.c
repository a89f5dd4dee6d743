/*
 * oauth_clients.c - the registered OAuth clients of the device login flow.
 *
 * A client is public (RFC 6749 section 2.1): it holds no secret, so its
 * client_id only names the app, the device type its sign-ins get and the
 * grants it may use.  Registering and disabling clients is a staff action;
 * the default database has one client to try the flow with.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "auth/auth_int.h"
#include "core/clock.h"
#include "core/events.h"

static const struct {
	const char *name;
	unsigned bit;
} grant_names[] = {
	{"device_code", AUTH_GRANT_DEVICE_CODE},
	{"refresh_token", AUTH_GRANT_REFRESH_TOKEN},
};

#define NGRANTS (sizeof grant_names / sizeof grant_names[0])

bool auth_grants_parse(const char *s, unsigned *out)
{
	unsigned g = 0;
	*out = 0;
	if (!s)
		return false;
	const char *p = s;
	while (*p) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		const char *end = strchr(p, ' ');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		bool known = false;
		for (size_t i = 0; i < NGRANTS; i++)
			if (strlen(grant_names[i].name) == n && memcmp(grant_names[i].name, p, n) == 0) {
				g |= grant_names[i].bit;
				known = true;
			}
		if (!known)
			return false;
		p += n;
	}
	if (!g)
		return false;
	*out = g;
	return true;
}

const char *auth_grants_format(unsigned grants, char *buf, size_t cap)
{
	size_t used = 0;
	if (cap)
		buf[0] = '\0';
	for (size_t i = 0; i < NGRANTS; i++) {
		if (!(grants & grant_names[i].bit))
			continue;
		int n = snprintf(buf + used, cap - used, "%s%s", used ? " " : "", grant_names[i].name);
		if (n < 0 || (size_t)n >= cap - used)
			break;
		used += (size_t)n;
	}
	return buf;
}

static bool client_id_ok(const char *id)
{
	size_t n = id ? strlen(id) : 0;
	if (n == 0 || n > AUTH_CLIENT_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || (c != '-' && c != '_' && c != '.')))
			return false;
	}
	return true;
}

bool auth_text_ok(const char *s, size_t max)
{
	size_t chars = 0;
	const unsigned char *p = (const unsigned char *)s;
	if (!s || !*s)
		return false;
	while (*p) {
		size_t len = *p < 0x80 ? 1 : (*p >> 5) == 6 ? 2 : (*p >> 4) == 14 ? 3 : (*p >> 3) == 30 ? 4 : 0;
		if (len == 0 || (len == 1 && (*p < 0x20 || *p == 0x7f)))
			return false;
		for (size_t i = 1; i < len; i++)
			if ((p[i] & 0xc0) != 0x80)
				return false;
		p += len;
		if (++chars > max)
			return false;
	}
	return true;
}

#define CLIENT_COLUMNS "id, name, device_type, grant_types, active, created_at, disabled_at"

static void read_client(struct db_stmt *st, struct auth_oauth_client *c)
{
	const char *s;
	memset(c, 0, sizeof *c);
	s = db_column_text(st, 0);
	snprintf(c->id, sizeof c->id, "%s", s ? s : "");
	s = db_column_text(st, 1);
	snprintf(c->name, sizeof c->name, "%s", s ? s : "");
	s = db_column_text(st, 2);
	snprintf(c->device_type, sizeof c->device_type, "%s", s ? s : "");
	if (!auth_grants_parse(db_column_text(st, 3), &c->grants))
		c->grants = 0;
	c->active = db_column_int64(st, 4) != 0;
	c->created_at = db_column_int64(st, 5);
	c->disabled_at = db_column_is_null(st, 6) ? 0 : db_column_int64(st, 6);
}

/* ---- the client cache ----
 *
 * Every OAuth request names its client, and reading the row was a read
 * transaction of its own (a WAL read lock: fcntl calls, a B-tree descent)
 * on each of them: 15% of a pending poll's CPU.  Clients are a handful of
 * rows that change by staff action, so each server thread keeps the
 * clients it looked up for revocation_cache_ms (--revocation-cache-ms, the
 * staleness already allowed for sign-in state; 0 turns it off).  A change
 * made by this process (disable, add) empties every thread's cache at once
 * through an epoch; other processes' changes are seen within that time.
 * Unknown ids are not cached, so made-up ids cannot fill it. */

#define CLIENT_CACHE_SLOTS 8

struct cached_client {
	struct auth_oauth_client c;
	int64_t loaded_ms;	/* monotonic */
	uint64_t epoch;
};

static atomic_uint_fast64_t client_epoch = 1;
static _Thread_local struct cached_client client_cache[CLIENT_CACHE_SLOTS];

static void client_cache_bump(void) { atomic_fetch_add(&client_epoch, 1); }

static struct cached_client *cache_slot(const char *id)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (const char *p = id; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return &client_cache[h % CLIENT_CACHE_SLOTS];
}

enum err auth_oauth_client_get(struct db *db, const char *client_id, struct auth_oauth_client *out)
{
	struct db_stmt *st = NULL;
	memset(out, 0, sizeof *out);
	if (!client_id_ok(client_id))
		return ERR_NOT_FOUND;
	struct cached_client *slot = cache_slot(client_id);
	int64_t mono = clock_mono_ms();
	uint64_t epoch = atomic_load(&client_epoch);
	if (auth_settings.revocation_cache_ms > 0 && slot->epoch == epoch &&
	    mono - slot->loaded_ms < auth_settings.revocation_cache_ms && strcmp(slot->c.id, client_id) == 0) {
		*out = slot->c;
		return ERR_OK;
	}
	enum err e = db_prepare(db, "SELECT " CLIENT_COLUMNS " FROM oauth_clients WHERE id = ?1", &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, client_id);
	e = db_step_row(st);
	if (e == ERR_OK)
		read_client(st, out);
	db_done(st);
	if (e == ERR_OK) {
		slot->c = *out;
		slot->loaded_ms = mono;
		slot->epoch = epoch;
	}
	return e;
}

enum err auth_oauth_client_add(struct db *db, const struct auth_oauth_client *in,
			       struct auth_oauth_client *out, const char **field)
{
	struct db_stmt *st = NULL;
	char grants[64];
	*field = NULL;
	memset(out, 0, sizeof *out);
	if (!client_id_ok(in->id))
		*field = "client_id";
	else if (!auth_text_ok(in->name, AUTH_CLIENT_NAME_MAX))
		*field = "name";
	else if (!auth_device_type_ok(in->device_type))
		*field = "device_type";
	else if (!(in->grants & AUTH_GRANT_DEVICE_CODE) ||
		 (in->grants & ~(unsigned)(AUTH_GRANT_DEVICE_CODE | AUTH_GRANT_REFRESH_TOKEN)))
		*field = "grant_types";
	if (*field)
		return ERR_VALIDATION;
	auth_grants_format(in->grants, grants, sizeof grants);
	enum err e = db_prepare(db,
				"INSERT INTO oauth_clients (id, name, device_type, grant_types, active, created_at)"
				" VALUES (?1, ?2, ?3, ?4, 1, ?5) ON CONFLICT (id) DO NOTHING RETURNING " CLIENT_COLUMNS,
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, in->id);
	db_bind_text(st, 2, in->name);
	db_bind_text(st, 3, in->device_type);
	db_bind_text(st, 4, grants);
	db_bind_int64(st, 5, clock_now());
	e = db_step_row(st);
	if (e == ERR_OK)
		read_client(st, out);
	db_done(st);
	if (e == ERR_NOT_FOUND)
		return ERR_CONFLICT;
	if (e != ERR_OK)
		return e;
	return events_emit(db, "oauth_client.created", in->id,
			   json_pack("{s:s, s:s, s:s}", "name", in->name, "device_type", in->device_type,
				     "grant_types", grants));
}

static void read_client_row(struct db_stmt *st, void *row) { read_client(st, row); }

enum err auth_oauth_clients_list(struct db *db, int64_t limit, const char *starting_after,
				 struct auth_oauth_client **rows, size_t *n, bool *has_more)
{
	struct db_stmt *st = NULL;
	void *list = NULL;
	*rows = NULL;
	*n = 0;
	*has_more = false;
	enum err e = db_prepare(db,
				"SELECT " CLIENT_COLUMNS " FROM oauth_clients WHERE (?1 IS NULL OR id > ?1)"
				" ORDER BY id LIMIT ?2",
				&st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, starting_after);
	db_bind_int64(st, 2, limit + 1);
	e = auth_page_read(st, limit, sizeof **rows, read_client_row, &list, n, has_more);
	db_done(st);
	*rows = list;
	return e;
}

enum err auth_oauth_client_disable(struct db *db, const char *client_id, const char *reason,
				   struct auth_oauth_client *out)
{
	struct db_stmt *st = NULL;
	enum err e = auth_oauth_client_get(db, client_id, out);
	if (e != ERR_OK || !out->active)
		return e;
	int64_t now = clock_now();
	e = db_prepare(db, "UPDATE oauth_clients SET active = 0, disabled_at = ?2 WHERE id = ?1", &st);
	if (e != ERR_OK)
		return e;
	db_bind_text(st, 1, client_id);
	db_bind_int64(st, 2, now);
	e = db_step_done(st);
	db_done(st);
	if (e != ERR_OK)
		return e;
	out->active = false;
	out->disabled_at = now;
	/* Before the commit too: a lookup racing it may cache the old row
	 * again, for at most revocation_cache_ms. */
	client_cache_bump();
	return events_emit(db, "oauth_client.disabled", client_id, json_pack("{s:s?}", "reason", reason));
}
