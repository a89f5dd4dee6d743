/*
 * test_powerloss.c - what a power cut keeps: every transaction db_transaction()
 * reported committed, at the default durability (--db-sync full).
 *
 * A SIGKILL (tests/api/api_crash.c) loses the process but not the kernel's
 * page cache: writes the process made are still written out.  A power cut
 * also loses every write the kernel had not flushed to the disk.  This suite
 * stands a "write-back disk" between SQLite and the files: a VFS shim
 * (powerloss_vfs) that keeps every write in memory until SQLite syncs that
 * file, and only then writes it to the real file and fsyncs it.  A child
 * process commits transactions through core/db on it, telling the parent
 * over a pipe after each commit returns, and dies at a random moment with
 * _exit(): whatever was not synced is gone, as after a power cut.  The
 * -shm index is shared memory that a power cut loses too; SQLite rebuilds it
 * from the WAL when the next process opens the database alone.
 *
 * The parent then opens the database through the ordinary VFS and checks
 * that every transaction the child reported committed is there, whole, and
 * that PRAGMA integrity_check says ok.  The same run with
 * --db-sync normal (which does not sync the WAL on commit) shows the shim
 * bites: acknowledged transactions are lost there, so the check above is
 * not vacuous.
 */
#include <check.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/db.h"
#include "tests/unit.h"

/* ---- the write-back disk: a VFS shim ---- */

struct pending {
	sqlite3_int64 off;
	int len;
	struct pending *next;
	unsigned char data[];
};

struct pl_file {
	sqlite3_file base;	/* our methods */
	sqlite3_file *real;	/* the unix VFS's file, allocated after us */
	struct pending *head, *tail;
	sqlite3_int64 pending_end;	/* the size the pending writes make the file */
};

static sqlite3_vfs *real_vfs;
static sqlite3_vfs pl_vfs;
static sqlite3_io_methods pl_methods;

/* Write the pending writes to the file, in order, and forget them. */
static int apply_pending(struct pl_file *f)
{
	int rc = SQLITE_OK;
	struct pending *p = f->head;
	while (p) {
		struct pending *next = p->next;
		if (rc == SQLITE_OK)
			rc = f->real->pMethods->xWrite(f->real, p->data, p->len, p->off);
		free(p);
		p = next;
	}
	f->head = f->tail = NULL;
	f->pending_end = 0;
	return rc;
}

static int pl_close(sqlite3_file *file)
{
	struct pl_file *f = (struct pl_file *)file;
	/* A clean close is not a power cut: SQLite syncs what must last before
	 * closing; what it did not sync would still reach the disk later. */
	int rc = apply_pending(f);
	int rc2 = f->real->pMethods->xClose(f->real);
	return rc != SQLITE_OK ? rc : rc2;
}

static int pl_read(sqlite3_file *file, void *buf, int amt, sqlite3_int64 off)
{
	struct pl_file *f = (struct pl_file *)file;
	int rc = f->real->pMethods->xRead(f->real, buf, amt, off);
	if (rc != SQLITE_OK && rc != SQLITE_IOERR_SHORT_READ)
		return rc;
	/* The pending writes lie over what the disk has (a short read left the
	 * rest zeroed, as a hole reads), later ones on top. */
	for (const struct pending *p = f->head; p; p = p->next) {
		sqlite3_int64 lo = p->off > off ? p->off : off;
		sqlite3_int64 hi = p->off + p->len < off + amt ? p->off + p->len : off + amt;
		if (lo < hi)
			memcpy((unsigned char *)buf + (lo - off), p->data + (lo - p->off), (size_t)(hi - lo));
	}
	if (rc == SQLITE_IOERR_SHORT_READ && f->pending_end >= off + amt)
		rc = SQLITE_OK;
	return rc;
}

static int pl_write(sqlite3_file *file, const void *buf, int amt, sqlite3_int64 off)
{
	struct pl_file *f = (struct pl_file *)file;
	struct pending *p = malloc(sizeof *p + (size_t)amt);
	if (!p)
		return SQLITE_IOERR_NOMEM;
	p->off = off;
	p->len = amt;
	p->next = NULL;
	memcpy(p->data, buf, (size_t)amt);
	if (f->tail)
		f->tail->next = p;
	else
		f->head = p;
	f->tail = p;
	if (off + amt > f->pending_end)
		f->pending_end = off + amt;
	return SQLITE_OK;
}

static int pl_truncate(sqlite3_file *file, sqlite3_int64 size)
{
	/* Rare (a WAL reset by a TRUNCATE checkpoint): made durable at once,
	 * which can only make the disk keep more, never less. */
	struct pl_file *f = (struct pl_file *)file;
	int rc = apply_pending(f);
	if (rc == SQLITE_OK)
		rc = f->real->pMethods->xTruncate(f->real, size);
	return rc;
}

static int pl_sync(sqlite3_file *file, int flags)
{
	struct pl_file *f = (struct pl_file *)file;
	int rc = apply_pending(f);
	return rc != SQLITE_OK ? rc : f->real->pMethods->xSync(f->real, flags);
}

static int pl_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
	struct pl_file *f = (struct pl_file *)file;
	int rc = f->real->pMethods->xFileSize(f->real, size);
	if (rc == SQLITE_OK && f->pending_end > *size)
		*size = f->pending_end;
	return rc;
}

#define PASS(name, sig, call)                                                                      \
	static int name sig                                                                        \
	{                                                                                          \
		struct pl_file *f = (struct pl_file *)file;                                        \
		return f->real->pMethods->call;                                                    \
	}
PASS(pl_lock, (sqlite3_file * file, int l), xLock(f->real, l))
PASS(pl_unlock, (sqlite3_file * file, int l), xUnlock(f->real, l))
PASS(pl_check_reserved, (sqlite3_file * file, int *out), xCheckReservedLock(f->real, out))
PASS(pl_sector_size, (sqlite3_file * file), xSectorSize(f->real))
PASS(pl_device_chars, (sqlite3_file * file), xDeviceCharacteristics(f->real))
PASS(pl_shm_map, (sqlite3_file * file, int pg, int sz, int extend, void volatile **pp),
     xShmMap(f->real, pg, sz, extend, pp))
PASS(pl_shm_lock, (sqlite3_file * file, int offset, int n, int flags), xShmLock(f->real, offset, n, flags))
PASS(pl_shm_unmap, (sqlite3_file * file, int del), xShmUnmap(f->real, del))

static int pl_file_control(sqlite3_file *file, int op, void *arg)
{
	struct pl_file *f = (struct pl_file *)file;
	/* Size hints and the like would reach the disk around the shim. */
	if (op == SQLITE_FCNTL_SIZE_HINT || op == SQLITE_FCNTL_CHUNK_SIZE || op == SQLITE_FCNTL_MMAP_SIZE)
		return SQLITE_NOTFOUND;
	return f->real->pMethods->xFileControl(f->real, op, arg);
}

static void pl_shm_barrier(sqlite3_file *file)
{
	struct pl_file *f = (struct pl_file *)file;
	f->real->pMethods->xShmBarrier(f->real);
}

static int pl_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags, int *out_flags)
{
	(void)vfs;
	struct pl_file *f = (struct pl_file *)file;
	memset(f, 0, sizeof *f);
	f->real = (sqlite3_file *)(f + 1);
	int rc = real_vfs->xOpen(real_vfs, name, f->real, flags, out_flags);
	f->base.pMethods = rc == SQLITE_OK && f->real->pMethods ? &pl_methods : NULL;
	return rc;
}

#define VFS_PASS(name, sig, call)                                                                  \
	static int name sig                                                                        \
	{                                                                                          \
		(void)vfs;                                                                         \
		return real_vfs->call;                                                             \
	}
VFS_PASS(pl_delete, (sqlite3_vfs * vfs, const char *name, int sync_dir), xDelete(real_vfs, name, sync_dir))
VFS_PASS(pl_access, (sqlite3_vfs * vfs, const char *name, int flags, int *out),
	 xAccess(real_vfs, name, flags, out))
VFS_PASS(pl_full_path, (sqlite3_vfs * vfs, const char *name, int n, char *out),
	 xFullPathname(real_vfs, name, n, out))
VFS_PASS(pl_randomness, (sqlite3_vfs * vfs, int n, char *out), xRandomness(real_vfs, n, out))
VFS_PASS(pl_sleep, (sqlite3_vfs * vfs, int us), xSleep(real_vfs, us))
VFS_PASS(pl_current_time, (sqlite3_vfs * vfs, double *out), xCurrentTime(real_vfs, out))
VFS_PASS(pl_last_error, (sqlite3_vfs * vfs, int n, char *out), xGetLastError(real_vfs, n, out))
VFS_PASS(pl_current_time64, (sqlite3_vfs * vfs, sqlite3_int64 *out), xCurrentTimeInt64(real_vfs, out))

/* Make the shim the default VFS: core/db opens through the default. */
static void powerloss_vfs_install(void)
{
	real_vfs = sqlite3_vfs_find("unix");
	ck_assert_ptr_nonnull(real_vfs);
	pl_methods = (sqlite3_io_methods){
		.iVersion = 2, /* with shared memory, without memory-mapped reads */
		.xClose = pl_close,
		.xRead = pl_read,
		.xWrite = pl_write,
		.xTruncate = pl_truncate,
		.xSync = pl_sync,
		.xFileSize = pl_file_size,
		.xLock = pl_lock,
		.xUnlock = pl_unlock,
		.xCheckReservedLock = pl_check_reserved,
		.xFileControl = pl_file_control,
		.xSectorSize = pl_sector_size,
		.xDeviceCharacteristics = pl_device_chars,
		.xShmMap = pl_shm_map,
		.xShmLock = pl_shm_lock,
		.xShmBarrier = pl_shm_barrier,
		.xShmUnmap = pl_shm_unmap,
	};
	pl_vfs = (sqlite3_vfs){
		.iVersion = 2,
		.szOsFile = (int)sizeof(struct pl_file) + real_vfs->szOsFile,
		.mxPathname = real_vfs->mxPathname,
		.zName = "powerloss",
		.xOpen = pl_open,
		.xDelete = pl_delete,
		.xAccess = pl_access,
		.xFullPathname = pl_full_path,
		.xRandomness = pl_randomness,
		.xSleep = pl_sleep,
		.xCurrentTime = pl_current_time,
		.xGetLastError = pl_last_error,
		.xCurrentTimeInt64 = pl_current_time64,
	};
	ck_assert_int_eq(sqlite3_vfs_register(&pl_vfs, 1), SQLITE_OK);
}

/* ---- the writer that loses power ---- */

#define ROWS_PER_TX 3

struct tx {
	int64_t n;
};

/* One "acknowledged request": a few rows that belong together. */
static enum err write_tx(struct db *db, void *arg)
{
	const struct tx *t = arg;
	enum err e = ERR_OK;
	for (int i = 0; i < ROWS_PER_TX && e == ERR_OK; i++) {
		struct db_stmt *st = NULL;
		e = db_prepare(db, "INSERT INTO acks (tx, part, pad) VALUES (?1, ?2, randomblob(300))", &st);
		if (e != ERR_OK)
			break;
		db_bind_int64(st, 1, t->n);
		db_bind_int64(st, 2, i);
		e = db_step_done(st);
		db_done(st);
	}
	return e;
}

/* In a child: commit transactions through core/db on the shim, report each
 * after its commit returned, and lose power after `cut_after` of them. */
static void child_writes(const char *path, enum db_sync sync, int checkpoint_ms, int cut_after, int out_fd)
{
	powerloss_vfs_install();
	struct db_options o;
	db_options_init(&o);
	o.path = path;
	o.sync = sync;
	o.checkpoint_ms = checkpoint_ms;
	if (db_configure(&o) != ERR_OK)
		_exit(3);
	struct db *db = db_thread();
	if (!db)
		_exit(4);
	for (int64_t n = 1; n <= cut_after; n++) {
		struct tx t = {n};
		if (db_transaction(db, write_tx, &t) != ERR_OK)
			_exit(5);
		/* The acknowledgement a client would get. */
		if (write(out_fd, &n, sizeof n) != (ssize_t)sizeof n)
			_exit(6);
	}
	_exit(0); /* the power cut: nothing closed, nothing unsynced written */
}

struct outcome {
	int64_t acked;		/* transactions the child reported committed */
	int64_t lost;		/* of those, missing after the cut */
	int64_t torn;		/* transactions present with some rows missing */
	bool integrity_ok;
};

static struct outcome run_power_cut(enum db_sync sync, int checkpoint_ms, int cut_after)
{
	char path[64];
	unit_tmp_path(path, sizeof path);
	/* The schema is made and synced before the child starts. */
	struct db *setup = unit_db_connect(path, 5000);
	ck_assert_int_eq(db_exec(setup, "CREATE TABLE acks (tx INTEGER NOT NULL, part INTEGER NOT NULL,"
					" pad BLOB, PRIMARY KEY (tx, part))"),
			 ERR_OK);
	db_close(setup);

	int fds[2];
	ck_assert_int_eq(pipe(fds), 0);
	fflush(NULL);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(fds[0]);
		child_writes(path, sync, checkpoint_ms, cut_after, fds[1]);
	}
	close(fds[1]);
	struct outcome out = {0, 0, 0, false};
	int64_t n = 0;
	while (read(fds[0], &n, sizeof n) == (ssize_t)sizeof n)
		out.acked = n;
	close(fds[0]);
	int status = 0;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the writer failed: status %d", status);
	ck_assert_int_eq(out.acked, cut_after);

	/* After the cut: the disk as the shim left it, through the plain VFS. */
	struct db *db = unit_db_connect(path, 5000);
	char ok[32];
	out.integrity_ok = strcmp(unit_query_text(db, "PRAGMA integrity_check", ok, sizeof ok), "ok") == 0;
	struct db_stmt *st = NULL;
	ck_assert_int_eq(db_prepare(db, "SELECT COUNT(*) FROM acks WHERE tx = ?1", &st), ERR_OK);
	for (int64_t t = 1; t <= out.acked; t++) {
		db_bind_int64(st, 1, t);
		ck_assert_int_eq(db_step_row(st), ERR_OK);
		int64_t rows = db_column_int64(st, 0);
		db_done(st);
		st = NULL;
		ck_assert_int_eq(db_prepare(db, "SELECT COUNT(*) FROM acks WHERE tx = ?1", &st), ERR_OK);
		if (rows == 0)
			out.lost++;
		else if (rows != ROWS_PER_TX)
			out.torn++;
	}
	db_done(st);
	db_close(db);
	unit_db_unlink(path);
	return out;
}

/* Cut points spread over the run: early, around SQLite's automatic
 * checkpoint at 1,000 WAL pages (~330 transactions of ~3 pages), late. */
static const int cuts[] = {1, 7, 60, 250, 333, 340, 400};

START_TEST(full_sync_keeps_every_acknowledged_transaction)
{
	int checked = 0;
	long long acked = 0;
	for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
		/* Checkpoints inside commits (0) and on the checkpoint thread. */
		for (int ckpt = 0; ckpt <= 5; ckpt += 5) {
			struct outcome o = run_power_cut(DB_SYNC_FULL, ckpt, cuts[i]);
			ck_assert_msg(o.integrity_ok, "cut after %d (checkpoint_ms %d): integrity_check failed",
				      cuts[i], ckpt);
			checked++;
			acked += o.acked;
			ck_assert_msg(o.lost == 0 && o.torn == 0,
				      "cut after %d (checkpoint_ms %d): %lld of %lld acknowledged transactions lost,"
				      " %lld torn",
				      cuts[i], ckpt, (long long)o.lost, (long long)o.acked, (long long)o.torn);
		}
	}
	printf("powerloss: --db-sync full: %d power cuts, %lld acknowledged transactions, none lost or torn\n",
	       checked, acked);
}
END_TEST

/* The shim does cut: at --db-sync normal the WAL is not synced on commit,
 * so acknowledged transactions since the last checkpoint are lost (never
 * torn, and the file stays sound). */
START_TEST(normal_sync_loses_acknowledged_transactions_to_a_power_cut)
{
	struct outcome o = run_power_cut(DB_SYNC_NORMAL, 0, 60);
	printf("powerloss: --db-sync normal lost %lld of %lld acknowledged transactions to the cut\n",
	       (long long)o.lost, (long long)o.acked);
	ck_assert(o.integrity_ok);
	ck_assert_int_eq(o.torn, 0);
	ck_assert_int_gt(o.lost, 0);
}
END_TEST

static Suite *powerloss_suite(void)
{
	Suite *s = suite_create("powerloss");
	TCase *tc = tcase_create("power cut");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, full_sync_keeps_every_acknowledged_transaction);
	tcase_add_test(tc, normal_sync_loses_acknowledged_transactions_to_a_power_cut);
	suite_add_tcase(s, tc);
	return s;
}

int main(void) { return unit_run(powerloss_suite()); }
