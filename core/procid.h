/*
 * procid.h - who this process is, and whether another process that wrote
 * its identity into the database is still alive.
 *
 * Work a process claims in the database (a billing run in status running)
 * carries the claimant's identity, so that a process starting later can
 * tell work left by a dead process (to be marked interrupted) from work a
 * live one is still doing.  The identity is "host:boot:pid:start": the
 * host name, the kernel's boot id, the process id and the process's start
 * time in clock ticks since boot (Linux /proc), so a reused pid or a
 * reboot is not mistaken for the same process.
 *
 * Invariants:
 * - procid_check() answers PROCID_DEAD only when it is sure: the same host
 *   and a process that is gone, or another boot of this host.  An identity
 *   from another host (or one it cannot parse or verify) is PROCID_UNKNOWN,
 *   and the caller must leave the work alone.  Processes sharing one
 *   database must have distinct host names unless they share a pid
 *   namespace (containers with one host name and separate pid namespaces
 *   would see each other's pids as gone).
 */
#ifndef HEARTH_CORE_PROCID_H
#define HEARTH_CORE_PROCID_H

enum procid_state { PROCID_ALIVE, PROCID_DEAD, PROCID_UNKNOWN };

/* Longest identity, NUL included. */
#define PROCID_MAX 160

/* This process's identity (computed once per process, again after a
 * fork; static storage). */
const char *procid_self(void);

/* Whether the process `id` (a procid_self() of some process) still runs. */
enum procid_state procid_check(const char *id);

#endif
