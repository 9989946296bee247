/*
 * A process-wide RCU-style grace-period domain (user-space, "memb" flavour).
 *
 * Invariant: memory unlinked from every shared structure before
 * pm_rcu_synchronize() starts is not referenced by any reader once
 * pm_rcu_synchronize() returns, so it may be freed or reused.
 *
 * Readers: bracket every access to RCU-protected data with
 * pm_rcu_read_lock()/pm_rcu_read_unlock().  Both are wait-free after a
 * thread's first call (which registers the thread with a lock-free push);
 * sections nest; they must not call pm_rcu_synchronize() inside.
 *
 * Writers: unlink, then pm_rcu_synchronize(), then free.  Any thread may call
 * it (it serializes itself); it spins, then yields, until every reader that
 * started before it has left its section.
 *
 * Scheme: a global grace-period counter; each registered thread owns a
 * cache-line-sized record holding 0 (idle) or the counter value it saw on
 * entry.  synchronize() advances the counter and waits for every record that
 * is non-zero and older than the new value.  A full fence on both sides
 * (reader: after publishing its record; writer: around the advance) orders
 * the reader's record against the writer's unlinking stores.
 */
#ifndef PM_RCU_H
#define PM_RCU_H

#include "pm_atomic.h"

void pm_rcu_read_lock(void);
void pm_rcu_read_unlock(void);
void pm_rcu_synchronize(void);

/* One reader's record (registry entry); see the scheme above. */
struct pm_rcu_reader {
	_Atomic uint64_t ctr;                 /* 0: idle; else gp seen on entry */
	_Atomic int used;                     /* owned by a live thread, or serialized */
	int serialized;                       /* never released; survives fork() idle */
	struct pm_rcu_reader *_Atomic next;   /* registry link, never unlinked */
} __attribute__((aligned(64)));

/* The grace-period counter (pm_rcu.c); readers only load it. */
extern _Atomic uint64_t pm_rcu_gp_ctr;

/*
 * Serialized readers: a record bound to no thread, for a caller that
 * already lets only one thread at a time read through it (the CPython
 * extensions: their read sections run whole under the GIL and never
 * release it).
 * Why: a thread's own record is two thread-local lookups per section, and
 * in a dlopen()ed library each one is a call into the dynamic linker's TLS
 * resolver; a serialized record is a plain pointer the caller keeps.
 * Invariant: at most one section is open on @r at any moment, and sections
 * on it do not nest.  Caller: serializes every use of @r (holds the GIL),
 * never waits or calls back inside a section.  Concludes: exactly what a
 * thread's own section concludes (pm_rcu_synchronize() waits for it).
 * The record lives as long as the process; a fork() child gets it idle.
 * pm_rcu_reader_new_serialized() returns NULL when out of memory.
 */
struct pm_rcu_reader *pm_rcu_reader_new_serialized(void);

/* Open a section on @r (pm_rcu_read_lock() does this on the thread's own
 * record). */
static inline void pm_rcu_read_lock_on(struct pm_rcu_reader *r)
{
	/* Release: a writer that sees this value knows the previous section's
	 * reads are over (the happens-before edge ThreadSanitizer can see). */
	pm_store_release(&r->ctr, pm_load_relaxed(&pm_rcu_gp_ctr));
	/* Order the record's publication before every read of protected data. */
	pm_fence_full();
}

static inline void pm_rcu_read_unlock_on(struct pm_rcu_reader *r)
{
	/* Release: all reads of protected data happen before the writer that
	 * observes 0 goes on to free it. */
	pm_store_release(&r->ctr, 0);
}

#endif /* PM_RCU_H */
