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

void pm_rcu_read_lock(void);
void pm_rcu_read_unlock(void);
void pm_rcu_synchronize(void);

#endif /* PM_RCU_H */
