/*
 * keys.c - the key file (see keys.h) and the key set hearthd runs with.
 */
#include "auth/keys.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/auth_int.h"
#include "auth/paserk.h"
#include "auth/paseto.h"
#include "core/clock.h"
#include "core/log.h"

#define KEYFILE_MAX_BYTES (1024 * 1024)
#define KEYFILE_VERSION 1
#define HASH_KEYBYTES 32

struct kf_key {
	char kid[PASERK_K4_PID_SIZE];
	unsigned char pk[PASETO_V4_PUBLIC_KEYBYTES];
	unsigned char sk[PASETO_V4_SECRET_KEYBYTES];
	bool has_sk;
	int64_t created_at;
	enum auth_key_status status;
};

/* A parsed key file. */
struct kf {
	unsigned char hash_key[HASH_KEYBYTES];
	struct kf_key *keys;
	size_t n;
};

static void say(char *why, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *why, size_t cap, const char *fmt, ...)
{
	if (!why || cap == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(why, cap, fmt, ap);
	va_end(ap);
	if (n < 0)
		why[0] = '\0';
}

const char *auth_key_status_name(enum auth_key_status s)
{
	switch (s) {
	case AUTH_KEY_CURRENT:
		return "current";
	case AUTH_KEY_VERIFY_ONLY:
		return "verify_only";
	case AUTH_KEY_RETIRED:
		return "retired";
	}
	return "retired";
}

static bool parse_status(const char *s, enum auth_key_status *out)
{
	if (strcmp(s, "current") == 0)
		*out = AUTH_KEY_CURRENT;
	else if (strcmp(s, "verify_only") == 0)
		*out = AUTH_KEY_VERIFY_ONLY;
	else if (strcmp(s, "retired") == 0)
		*out = AUTH_KEY_RETIRED;
	else
		return false;
	return true;
}

static void kf_release(struct kf *kf)
{
	if (kf->keys) {
		sodium_memzero(kf->keys, kf->n * sizeof kf->keys[0]);
		free(kf->keys);
	}
	sodium_memzero(kf, sizeof *kf);
}

static enum err kf_add_new_key(struct kf *kf, enum auth_key_status status)
{
	struct kf_key *nk = realloc(kf->keys, (kf->n + 1) * sizeof *nk);
	if (!nk)
		return ERR_NOMEM;
	kf->keys = nk;
	struct kf_key *k = &kf->keys[kf->n];
	memset(k, 0, sizeof *k);
	if (crypto_sign_keypair(k->pk, k->sk) != 0)
		return ERR_CRYPTO;
	enum err e = paserk_k4_pid(k->kid, sizeof k->kid, k->pk, sizeof k->pk);
	if (e != ERR_OK) {
		sodium_memzero(k, sizeof *k);
		return e;
	}
	k->has_sk = true;
	k->created_at = clock_now();
	k->status = status;
	kf->n++;
	return ERR_OK;
}

/* ---- reading ---- */

static enum err parse_key(json_t *o, struct kf_key *k, size_t i, char *why, size_t cap)
{
	static const char *const allowed[] = {"kid", "public", "secret", "created_at", "status", NULL};
	const char *key;
	json_t *val;
	if (!json_is_object(o)) {
		say(why, cap, "keys[%zu] is not an object", i);
		return ERR_IO;
	}
	json_object_foreach(o, key, val) {
		bool known = false;
		for (size_t a = 0; allowed[a]; a++)
			known = known || strcmp(key, allowed[a]) == 0;
		if (!known) {
			say(why, cap, "keys[%zu] has an unknown member \"%s\"", i, key);
			return ERR_IO;
		}
	}
	const char *kid = json_string_value(json_object_get(o, "kid"));
	const char *pub = json_string_value(json_object_get(o, "public"));
	const char *sec = json_string_value(json_object_get(o, "secret"));
	const char *created = json_string_value(json_object_get(o, "created_at"));
	const char *status = json_string_value(json_object_get(o, "status"));
	if (!kid || !pub || !created || !status) {
		say(why, cap, "keys[%zu] needs the strings kid, public, created_at and status", i);
		return ERR_IO;
	}
	if (!parse_status(status, &k->status)) {
		say(why, cap, "keys[%zu] has status \"%s\" (current, verify_only or retired)", i, status);
		return ERR_IO;
	}
	if (clock_parse(created, &k->created_at) != ERR_OK) {
		say(why, cap, "keys[%zu] has a created_at that is not an RFC 3339 time", i);
		return ERR_IO;
	}
	if (paserk_k4_public_decode(k->pk, pub, strlen(pub)) != ERR_OK) {
		say(why, cap, "keys[%zu] has a public key that is not a k4.public PASERK", i);
		return ERR_IO;
	}
	if (paserk_k4_pid(k->kid, sizeof k->kid, k->pk, sizeof k->pk) != ERR_OK ||
	    strcmp(k->kid, kid) != 0) {
		say(why, cap, "keys[%zu]: the kid is not the k4.pid of its public key", i);
		return ERR_IO;
	}
	if (k->status == AUTH_KEY_RETIRED)
		return ERR_OK; /* a retired key's secret, if left there by hand, is never loaded */
	if (!sec || paserk_k4_secret_decode(k->sk, sec, strlen(sec)) != ERR_OK) {
		say(why, cap, "key %s is %s but has no valid k4.secret", kid, status);
		return ERR_IO;
	}
	if (sodium_memcmp(k->sk + 32, k->pk, sizeof k->pk) != 0) {
		sodium_memzero(k->sk, sizeof k->sk);
		say(why, cap, "key %s: the secret key does not belong to the public key", kid);
		return ERR_IO;
	}
	k->has_sk = true;
	return ERR_OK;
}

static enum err kf_parse(const char *text, size_t len, struct kf *kf, char *why, size_t cap)
{
	json_error_t jerr;
	enum err e = ERR_IO;
	memset(kf, 0, sizeof *kf);
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root || !json_is_object(root)) {
		say(why, cap, "it is not a JSON object (line %d: %s)", jerr.line, root ? "not an object" : jerr.text);
		goto out;
	}
	json_t *ver = json_object_get(root, "version");
	if (!json_is_integer(ver) || json_integer_value(ver) != KEYFILE_VERSION) {
		say(why, cap, "its version is not %d", KEYFILE_VERSION);
		goto out;
	}
	const char *hk = json_string_value(json_object_get(root, "hash_key"));
	if (!hk || paserk_k4_local_decode(kf->hash_key, hk, strlen(hk)) != ERR_OK) {
		say(why, cap, "its hash_key is not a k4.local PASERK");
		goto out;
	}
	json_t *keys = json_object_get(root, "keys");
	if (!json_is_array(keys) || json_array_size(keys) == 0) {
		say(why, cap, "it has no keys");
		goto out;
	}
	kf->keys = calloc(json_array_size(keys), sizeof *kf->keys);
	if (!kf->keys) {
		e = ERR_NOMEM;
		goto out;
	}
	size_t ncurrent = 0;
	for (size_t i = 0; i < json_array_size(keys); i++) {
		struct kf_key *k = &kf->keys[i];
		kf->n = i + 1;
		if (parse_key(json_array_get(keys, i), k, i, why, cap) != ERR_OK)
			goto out;
		for (size_t j = 0; j < i; j++) {
			if (strcmp(kf->keys[j].kid, k->kid) == 0) {
				say(why, cap, "key %s appears twice", k->kid);
				goto out;
			}
		}
		if (k->status == AUTH_KEY_CURRENT)
			ncurrent++;
	}
	if (ncurrent != 1) {
		say(why, cap, "it has %zu current keys; exactly one must be current", ncurrent);
		goto out;
	}
	e = ERR_OK;
out:
	json_decref(root);
	if (e != ERR_OK)
		kf_release(kf);
	return e;
}

static enum err read_all(int fd, char **out, size_t *len, char *why, size_t cap)
{
	size_t n = 0, bufcap = 4096;
	char *buf = malloc(bufcap);
	*out = NULL;
	*len = 0;
	if (!buf)
		return ERR_NOMEM;
	for (;;) {
		if (n + 1 >= bufcap) {
			if (bufcap >= KEYFILE_MAX_BYTES) {
				sodium_memzero(buf, n);
				free(buf);
				say(why, cap, "it is larger than %d bytes", KEYFILE_MAX_BYTES);
				return ERR_IO;
			}
			char *nb = malloc(bufcap * 2);
			if (!nb) {
				sodium_memzero(buf, n);
				free(buf);
				return ERR_NOMEM;
			}
			memcpy(nb, buf, n);
			sodium_memzero(buf, n);
			free(buf);
			buf = nb;
			bufcap *= 2;
		}
		ssize_t r = read(fd, buf + n, bufcap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			say(why, cap, "reading it failed: %s", strerror(errno));
			sodium_memzero(buf, n);
			free(buf);
			return ERR_IO;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return ERR_OK;
}

/* Refuse anything but a regular file that only its owner may touch. */
static enum err check_mode(const char *path, const struct stat *sb, char *why, size_t cap)
{
	if (!S_ISREG(sb->st_mode)) {
		say(why, cap, "the key file %s is not a regular file", path);
		return ERR_IO;
	}
	if (sb->st_mode & 077) {
		say(why, cap,
		    "the key file %s is accessible by group or others (mode %04o); it holds signing"
		    " keys and must be mode 0600: chmod 600 %s",
		    path, (unsigned)(sb->st_mode & 07777), path);
		return ERR_FORBIDDEN;
	}
	return ERR_OK;
}

/* Read and parse the open file `fd` (`path` for messages). */
static enum err kf_load_fd(int fd, const char *path, struct kf *kf, char *why, size_t cap)
{
	struct stat sb;
	char *text = NULL;
	size_t len = 0;
	char inner[256] = "";
	if (fstat(fd, &sb) != 0) {
		say(why, cap, "cannot stat the key file %s: %s", path, strerror(errno));
		return ERR_IO;
	}
	enum err e = check_mode(path, &sb, why, cap);
	if (e != ERR_OK)
		return e;
	e = read_all(fd, &text, &len, inner, sizeof inner);
	if (e == ERR_OK)
		e = kf_parse(text, len, kf, inner, sizeof inner);
	if (text) {
		sodium_memzero(text, len);
		free(text);
	}
	if (e != ERR_OK)
		say(why, cap, "the key file %s is unusable: %s", path, inner);
	return e;
}

static enum err open_existing(const char *path, int *fd, char *why, size_t cap)
{
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd >= 0)
		return ERR_OK;
	if (errno == ENOENT) {
		say(why, cap, "there is no key file at %s (hearthd creates it on first start)", path);
		return ERR_NOT_FOUND;
	}
	say(why, cap, "cannot open the key file %s: %s", path, strerror(errno));
	return ERR_IO;
}

/* ---- writing ---- */

static char *kf_serialize(const struct kf *kf)
{
	char *text = NULL;
	char hk[PASERK_K4_LOCAL_SIZE], pub[PASERK_K4_PUBLIC_SIZE], sec[PASERK_K4_SECRET_SIZE];
	json_t *root = json_object();
	json_t *keys = json_array();
	if (!root || !keys)
		goto out;
	if (paserk_k4_local_encode(hk, sizeof hk, kf->hash_key, sizeof kf->hash_key) != ERR_OK)
		goto out;
	json_object_set_new(root, "version", json_integer(KEYFILE_VERSION));
	json_object_set_new(root, "hash_key", json_string(hk));
	for (size_t i = 0; i < kf->n; i++) {
		const struct kf_key *k = &kf->keys[i];
		json_t *o = json_object();
		if (!o || paserk_k4_public_encode(pub, sizeof pub, k->pk, sizeof k->pk) != ERR_OK) {
			json_decref(o);
			goto out;
		}
		json_object_set_new(o, "kid", json_string(k->kid));
		json_object_set_new(o, "public", json_string(pub));
		if (k->status != AUTH_KEY_RETIRED && k->has_sk) {
			if (paserk_k4_secret_encode(sec, sizeof sec, k->sk, sizeof k->sk) != ERR_OK) {
				json_decref(o);
				goto out;
			}
			json_object_set_new(o, "secret", json_string(sec));
		}
		json_object_set_new(o, "created_at", clock_json(k->created_at));
		json_object_set_new(o, "status", json_string(auth_key_status_name(k->status)));
		json_array_append_new(keys, o);
	}
	json_object_set(root, "keys", keys);
	text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
out:
	/* jansson keeps copies of the secret strings; they are freed with the tree.
	 * Wipe ours. */
	sodium_memzero(hk, sizeof hk);
	sodium_memzero(sec, sizeof sec);
	json_decref(keys);
	json_decref(root);
	return text;
}

static int fsync_dir_of(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int n;
	if (!slash)
		n = snprintf(dir, sizeof dir, ".");
	else if (slash == path)
		n = snprintf(dir, sizeof dir, "/");
	else
		n = snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
	if (n < 0 || (size_t)n >= sizeof dir)
		return -1;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

/* Write `kf` to a new temporary file beside `path` (mode 0600), fsync it,
 * and put it in place: over the old file, or, when `no_clobber`, only if
 * there is none (ERR_CONFLICT otherwise). */
static enum err kf_write(const char *path, const struct kf *kf, bool no_clobber, char *why, size_t cap)
{
	char tmp[PATH_MAX];
	enum err e = ERR_IO;
	int fd = -1;
	char *text = kf_serialize(kf);
	if (!text)
		return ERR_NOMEM;
	size_t len = strlen(text);
	int n = snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path);
	if (n < 0 || (size_t)n >= sizeof tmp) {
		say(why, cap, "the key file path is too long");
		goto out;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		say(why, cap, "cannot create a file beside %s: %s", path, strerror(errno));
		goto out;
	}
	if (fchmod(fd, 0600) != 0)
		goto fail_io;
	for (size_t off = 0; off < len;) {
		ssize_t w = write(fd, text + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			goto fail_io;
		off += (size_t)w;
	}
	if (write(fd, "\n", 1) != 1 || fsync(fd) != 0)
		goto fail_io;
	if (close(fd) != 0) {
		fd = -1;
		goto fail_io;
	}
	fd = -1; // NOLINT(clang-analyzer-deadcode.DeadStores): kept in step with the descriptor for the paths below
	if (no_clobber) {
		/* link() fails when the name exists: two first starts cannot both win. */
		int rc = link(tmp, path);
		int saved = errno;
		unlink(tmp);
		if (rc != 0 && saved == EEXIST) {
			say(why, cap, "a key file already exists at %s", path);
			e = ERR_CONFLICT;
			goto out;
		}
		if (rc != 0) {
			say(why, cap, "cannot create the key file %s: %s", path, strerror(saved));
			goto out;
		}
	} else if (rename(tmp, path) != 0) {
		say(why, cap, "cannot replace the key file %s: %s", path, strerror(errno));
		unlink(tmp);
		goto out;
	}
	fsync_dir_of(path);
	e = ERR_OK;
	goto out;
fail_io:
	say(why, cap, "cannot write the new key file beside %s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	fd = -1; // NOLINT(clang-analyzer-deadcode.DeadStores): kept in step with the descriptor
	unlink(tmp);
out:
	sodium_memzero(text, len);
	free(text);
	return e;
}

enum err auth_keys_create(const char *path, char *why, size_t why_cap)
{
	struct kf kf;
	memset(&kf, 0, sizeof kf);
	crypto_secretbox_keygen(kf.hash_key);
	enum err e = kf_add_new_key(&kf, AUTH_KEY_CURRENT);
	if (e == ERR_OK)
		e = kf_write(path, &kf, true, why, why_cap);
	kf_release(&kf);
	return e;
}

/* Run `change` on the key file under an exclusive lock and write the result. */
typedef enum err (*kf_change_fn)(struct kf *kf, void *ctx, char *why, size_t cap);

static enum err kf_modify(const char *path, kf_change_fn change, void *ctx, char *why, size_t cap)
{
	for (int attempt = 0; attempt < 20; attempt++) {
		int fd = -1;
		struct stat held, named;
		struct kf kf;
		enum err e = open_existing(path, &fd, why, cap);
		if (e != ERR_OK)
			return e;
		if (flock(fd, LOCK_EX) != 0) {
			say(why, cap, "cannot lock the key file %s: %s", path, strerror(errno));
			close(fd);
			return ERR_IO;
		}
		/* Another writer may have replaced the file while we waited for
		 * the lock: then our descriptor holds the old one.  Start over. */
		if (fstat(fd, &held) != 0 || stat(path, &named) != 0 || held.st_ino != named.st_ino ||
		    held.st_dev != named.st_dev) {
			close(fd);
			continue;
		}
		e = kf_load_fd(fd, path, &kf, why, cap);
		if (e == ERR_OK) {
			e = change(&kf, ctx, why, cap);
			if (e == ERR_OK)
				e = kf_write(path, &kf, false, why, cap);
			kf_release(&kf);
		}
		close(fd); /* releases the lock, after the new file is in place */
		return e;
	}
	say(why, cap, "the key file %s keeps changing; try again", path);
	return ERR_IO;
}

enum err auth_keys_list(const char *path, struct auth_key_info **out, size_t *n, char *why,
			size_t why_cap)
{
	int fd = -1;
	struct kf kf;
	*out = NULL;
	*n = 0;
	enum err e = open_existing(path, &fd, why, why_cap);
	if (e != ERR_OK)
		return e;
	e = kf_load_fd(fd, path, &kf, why, why_cap);
	close(fd);
	if (e != ERR_OK)
		return e;
	struct auth_key_info *list = calloc(kf.n, sizeof *list);
	if (!list) {
		kf_release(&kf);
		return ERR_NOMEM;
	}
	for (size_t i = 0; i < kf.n; i++) {
		memcpy(list[i].kid, kf.keys[i].kid, sizeof list[i].kid);
		paserk_k4_public_encode(list[i].paserk, sizeof list[i].paserk, kf.keys[i].pk,
					sizeof kf.keys[i].pk);
		list[i].created_at = kf.keys[i].created_at;
		list[i].status = kf.keys[i].status;
	}
	*out = list;
	*n = kf.n;
	kf_release(&kf);
	return ERR_OK;
}

static enum err rotate_change(struct kf *kf, void *ctx, char *why, size_t cap)
{
	char *new_kid = ctx;
	(void)why;
	(void)cap;
	for (size_t i = 0; i < kf->n; i++)
		if (kf->keys[i].status == AUTH_KEY_CURRENT)
			kf->keys[i].status = AUTH_KEY_VERIFY_ONLY;
	enum err e = kf_add_new_key(kf, AUTH_KEY_CURRENT);
	if (e == ERR_OK)
		memcpy(new_kid, kf->keys[kf->n - 1].kid, PASERK_K4_PID_SIZE);
	return e;
}

enum err auth_keys_rotate(const char *path, char new_kid[PASERK_K4_PID_SIZE], char *why,
			  size_t why_cap)
{
	new_kid[0] = '\0';
	return kf_modify(path, rotate_change, new_kid, why, why_cap);
}

static enum err retire_change(struct kf *kf, void *ctx, char *why, size_t cap)
{
	const char *kid = ctx;
	for (size_t i = 0; i < kf->n; i++) {
		struct kf_key *k = &kf->keys[i];
		if (strcmp(k->kid, kid) != 0)
			continue;
		if (k->status == AUTH_KEY_CURRENT) {
			say(why, cap, "%s is the current signing key; rotate first (hearthctl keys rotate),"
				      " then retire it once its tokens have expired", kid);
			return ERR_INVALID_STATE;
		}
		k->status = AUTH_KEY_RETIRED;
		sodium_memzero(k->sk, sizeof k->sk);
		k->has_sk = false;
		return ERR_OK;
	}
	say(why, cap, "the key file has no key %s", kid);
	return ERR_NOT_FOUND;
}

enum err auth_keys_retire(const char *path, const char *kid, char *why, size_t why_cap)
{
	union {
		const char *c;
		void *v;
	} u = {kid}; /* kf_modify's context is read-only here */
	return kf_modify(path, retire_change, u.v, why, why_cap);
}

/* ---- the running key set ---- */

struct keyset {
	atomic_int refs;
	uint64_t generation;
	struct kf kf;
	size_t current;
	char footer[64 + PASERK_K4_PID_SIZE];
};

static pthread_mutex_t ks_lock = PTHREAD_MUTEX_INITIALIZER;
static struct keyset *ks_live;
static char ks_path[PATH_MAX];
static struct stat ks_seen;			/* identity of the file ks_live came from */
static atomic_llong ks_next_check_ms;
static atomic_ullong ks_generation;		/* last generation handed out */
static atomic_ullong ks_live_generation;	/* the generation of ks_live */

static void keyset_free(struct keyset *k)
{
	if (!k)
		return;
	kf_release(&k->kf);
	free(k);
}

static struct keyset *keyset_acquire(void)
{
	pthread_mutex_lock(&ks_lock);
	struct keyset *k = ks_live;
	if (k)
		atomic_fetch_add(&k->refs, 1);
	pthread_mutex_unlock(&ks_lock);
	return k;
}

static void keyset_release(struct keyset *k)
{
	if (k && atomic_fetch_sub(&k->refs, 1) == 1)
		keyset_free(k);
}

/* Make a key set from the open file `fd`. */
static enum err keyset_load(int fd, struct keyset **out, char *why, size_t cap)
{
	struct keyset *k = calloc(1, sizeof *k);
	*out = NULL;
	if (!k)
		return ERR_NOMEM;
	enum err e = kf_load_fd(fd, ks_path, &k->kf, why, cap);
	if (e != ERR_OK) {
		free(k);
		return e;
	}
	for (size_t i = 0; i < k->kf.n; i++)
		if (k->kf.keys[i].status == AUTH_KEY_CURRENT)
			k->current = i;
	int n = snprintf(k->footer, sizeof k->footer, "{\"kid\":\"%s\"}", k->kf.keys[k->current].kid);
	if (n < 0 || (size_t)n >= sizeof k->footer) {
		keyset_free(k);
		return ERR_INTERNAL;
	}
	atomic_init(&k->refs, 1);
	k->generation = atomic_fetch_add(&ks_generation, 1) + 1;
	*out = k;
	return ERR_OK;
}

static void keyset_install(struct keyset *k, const struct stat *sb)
{
	pthread_mutex_lock(&ks_lock);
	struct keyset *old = ks_live;
	ks_live = k;
	ks_seen = *sb;
	atomic_store(&ks_live_generation, k->generation);
	pthread_mutex_unlock(&ks_lock);
	keyset_release(old);
}

enum err auth_keyset_open(const char *path)
{
	char why[512] = "";
	int n = snprintf(ks_path, sizeof ks_path, "%s", path);
	if (n < 0 || (size_t)n >= sizeof ks_path) {
		log_error("auth.key_file_unusable", "reason=\"path too long\"");
		return ERR_IO;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		enum err e = auth_keys_create(path, why, sizeof why);
		if (e != ERR_OK && e != ERR_CONFLICT) {
			char q[600];
			log_error("auth.key_file_unusable", "reason=%s", log_quote(why, q, sizeof q));
			return e;
		}
		if (e == ERR_OK)
			log_info("auth.key_file_created", "path=%s mode=0600", path);
		fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	if (fd < 0) {
		log_error("auth.key_file_unusable", "path=%s reason=\"%s\"", path, strerror(errno));
		return ERR_IO;
	}
	struct keyset *k = NULL;
	struct stat sb;
	enum err e = fstat(fd, &sb) == 0 ? keyset_load(fd, &k, why, sizeof why) : ERR_IO;
	close(fd);
	if (e != ERR_OK) {
		char q[600];
		log_error("auth.key_file_unusable", "reason=%s", log_quote(why, q, sizeof q));
		return e;
	}
	keyset_install(k, &sb);
	atomic_store(&ks_next_check_ms, clock_mono_ms() + 1000);
	log_info("auth.keys_loaded", "keys=%zu current=%s", k->kf.n, k->kf.keys[k->current].kid);
	return ERR_OK;
}

void auth_keyset_close(void)
{
	pthread_mutex_lock(&ks_lock);
	struct keyset *old = ks_live;
	ks_live = NULL;
	atomic_store(&ks_live_generation, 0);
	memset(&ks_seen, 0, sizeof ks_seen);
	ks_path[0] = '\0';
	pthread_mutex_unlock(&ks_lock);
	keyset_release(old);
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

void auth_keyset_check_reload(bool force)
{
	int64_t now = clock_mono_ms();
	long long due = atomic_load(&ks_next_check_ms);
	if (!force && now < due)
		return;
	/* One thread looks; the others go on with the keys they have. */
	if (!atomic_compare_exchange_strong(&ks_next_check_ms, &due, now + 1000) && !force)
		return;
	if (!ks_path[0])
		return;
	int fd = open(ks_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		log_warn("auth.key_file_reload_failed", "path=%s reason=\"%s\" note=\"keeping the loaded keys\"",
			 ks_path, strerror(errno));
		return;
	}
	struct stat sb;
	if (fstat(fd, &sb) != 0) {
		close(fd);
		return;
	}
	pthread_mutex_lock(&ks_lock);
	bool unchanged = same_file(&sb, &ks_seen);
	pthread_mutex_unlock(&ks_lock);
	if (unchanged) {
		close(fd);
		return;
	}
	char why[512] = "";
	struct keyset *k = NULL;
	enum err e = keyset_load(fd, &k, why, sizeof why);
	close(fd);
	if (e != ERR_OK) {
		char q[600];
		log_warn("auth.key_file_reload_failed", "reason=%s note=\"keeping the loaded keys\"",
			 log_quote(why, q, sizeof q));
		/* Remember the bad file so that it is not reparsed every second. */
		pthread_mutex_lock(&ks_lock);
		ks_seen = sb;
		pthread_mutex_unlock(&ks_lock);
		return;
	}
	keyset_install(k, &sb);
	log_info("auth.keys_reloaded", "keys=%zu current=%s", k->kf.n, k->kf.keys[k->current].kid);
}

uint64_t auth_keyset_generation(void)
{
	return atomic_load(&ks_live_generation);
}

enum err auth_keyset_sign(const char *claims_json, char **token_out)
{
	*token_out = NULL;
	auth_keyset_check_reload(false);
	struct keyset *k = keyset_acquire();
	if (!k)
		return ERR_INTERNAL;
	enum err e = paseto_sign_claims(token_out, k->kf.keys[k->current].sk, claims_json, k->footer);
	keyset_release(k);
	return e;
}

static enum err lookup(void *ctx, const char *kid, unsigned char pk[PASETO_V4_PUBLIC_KEYBYTES])
{
	const struct keyset *k = ctx;
	for (size_t i = 0; i < k->kf.n; i++) {
		const struct kf_key *key = &k->kf.keys[i];
		if (key->status != AUTH_KEY_RETIRED && strcmp(key->kid, kid) == 0) {
			memcpy(pk, key->pk, PASETO_V4_PUBLIC_KEYBYTES);
			return ERR_OK;
		}
	}
	return ERR_NOT_FOUND;
}

enum err auth_keyset_verify(const char *token, size_t len, unsigned char **claims, size_t *claims_len,
			    uint64_t *generation)
{
	*claims = NULL;
	*claims_len = 0;
	struct keyset *k = keyset_acquire();
	if (!k)
		return ERR_INTERNAL;
	*generation = k->generation;
	enum err e = paseto_verify_claims(claims, claims_len, token, len, lookup, k);
	keyset_release(k);
	if (e == ERR_CRYPTO)
		e = ERR_INVALID_TOKEN;
	return e;
}

json_t *auth_keyset_public_json(void)
{
	json_t *arr = json_array();
	auth_keyset_check_reload(false);
	struct keyset *k = keyset_acquire();
	if (!k || !arr) {
		keyset_release(k);
		return arr;
	}
	for (size_t i = k->kf.n; i-- > 0;) {
		const struct kf_key *key = &k->kf.keys[i];
		char pub[PASERK_K4_PUBLIC_SIZE];
		if (key->status == AUTH_KEY_RETIRED ||
		    paserk_k4_public_encode(pub, sizeof pub, key->pk, sizeof key->pk) != ERR_OK)
			continue;
		json_array_append_new(arr, json_pack("{s:s, s:s}", "kid", key->kid, "paserk", pub));
	}
	keyset_release(k);
	return arr;
}

enum err auth_keyset_hash(const char *purpose, const char *secret, size_t secret_len, char out[65])
{
	unsigned char digest[32];
	crypto_generichash_state st;
	out[0] = '\0';
	struct keyset *k = keyset_acquire();
	if (!k)
		return ERR_INTERNAL;
	crypto_generichash_init(&st, k->kf.hash_key, sizeof k->kf.hash_key, sizeof digest);
	keyset_release(k);
	/* The purpose and its NUL come first, so no (purpose, secret) pair can
	 * hash like another. */
	crypto_generichash_update(&st, (const unsigned char *)purpose, strlen(purpose) + 1);
	crypto_generichash_update(&st, (const unsigned char *)secret, secret_len);
	crypto_generichash_final(&st, digest, sizeof digest);
	sodium_bin2hex(out, 65, digest, sizeof digest);
	sodium_memzero(&st, sizeof st);
	sodium_memzero(digest, sizeof digest);
	return ERR_OK;
}

enum err auth_secret_hash(const char *purpose, const char *secret, char out[AUTH_SECRET_HASH_SIZE])
{
	return auth_keyset_hash(purpose, secret, strlen(secret), out);
}
