/*
 * Module memory: the blocks a struct pm_module lives in, carved from 2 MiB
 * chunks the kernel may back with transparent huge pages.
 *
 * Why: a lookup walks about log2(regions) nodes, one cache line each, in as
 * many modules; on 4 KiB pages a walk over a large map also misses the TLB
 * at nearly every level below the top (measured, 70,000 regions: a single
 * find from Python 230-360 ns on malloc's pages, 175-200 ns on huge ones).
 * Every chunk but the first is advised MADV_HUGEPAGE; the first is not, so
 * a process with a few thousand modules in all never pins a huge page.
 *
 * Invariant: a block is either on the free list or owned by exactly one
 * module (allocated, linked or retired); chunks stay mapped for the life of
 * the process, as a slab cache keeps its high-water mark.
 * Callers: any thread.  The allocator serializes itself on one lock, a leaf
 * (held for a few instructions; nothing is taken under it).  A block goes
 * back only when no reader can reach it any more (after its grace period),
 * so readers never see a block reused under them.  fork(): pm_map.c's
 * handlers take the lock around the fork (pm_modmem_fork_lock/unlock).
 * Under AddressSanitizer blocks come from malloc instead, so that a use
 * after free stays visible to it.
 */
#ifndef PM_MODMEM_H
#define PM_MODMEM_H

struct pm_module;

/* A zeroed block for one module, or NULL when out of memory. */
struct pm_module *pm_modmem_alloc(void);
/* Give @mod's block back (NULL: nothing). */
void pm_modmem_free(struct pm_module *mod);
/* fork() prepare / parent and child: hold the lock across the fork. */
void pm_modmem_fork_lock(void);
void pm_modmem_fork_unlock(void);

#endif /* PM_MODMEM_H */
