/*
 * The id index: module id -> struct pm_module, read lock-free under RCU,
 * updated in place by the map's writers in amortised O(1).
 *
 * An open-addressing hash table (linear probing) of module pointers; the
 * key is the module's own (immutable) id.  A slot holds NULL (never used),
 * PM_IDTAB_TOMB (its module was removed) or a live module.  A slot only
 * ever goes NULL -> module -> TOMB -> module -> TOMB ..., never back to
 * NULL, and an entry never moves: growing, shrinking or sweeping tombstones
 * builds a whole new table, published by one release store, and the old
 * one is retired (freed after a grace period) and never written again.
 *
 * Invariants:
 *   - at most one live slot per id; every live slot's module is in the
 *     map's modules list;
 *   - between the probe start of a live id and its slot there is no NULL
 *     (insert takes the first TOMB or NULL on the probe path, and slots
 *     never become NULL again);
 *   - used (live + tombstones) <= slots / 2, so every probe meets a NULL.
 * Readers: inside an RCU read section; pm_idtab_get() is wait-free.
 * Writers: hold the map's writer lock.
 */
#ifndef PM_IDTAB_H
#define PM_IDTAB_H

#include <stddef.h>
#include <stdint.h>

#include "pm_map_impl.h"   /* struct pm_module: the key is its id */

struct pm_idtab {
	size_t mask;                          /* slots - 1; slots a power of 2 */
	size_t used;                          /* live + tombstones (writer-private) */
	struct pm_module *_Atomic slot[];
};

/* The tombstone: an address no module has, never dereferenced. */
extern const uint64_t pm_idtab_tomb_word;
#define PM_IDTAB_TOMB ((struct pm_module *)(uintptr_t)&pm_idtab_tomb_word)

/* splitmix64's finalizer: ids that differ in any bit spread over all slots. */
static inline size_t pm_idtab_hash(int64_t id)
{
	uint64_t z = (uint64_t)id + UINT64_C(0x9e3779b97f4a7c15);

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return (size_t)(z ^ (z >> 31));
}

/*
 * The module with @id in @t (NULL table = empty), or NULL.
 * Caller: inside an RCU read section, with @t loaded by an acquire (or
 * holding the writer lock).  Modules reached through the table stay
 * allocated until the section ends; their ids are immutable.
 * Concludes: the module returned was in the index (live) at some moment
 * during the call, and NULL means no module with @id was at some moment
 * during it: an entry never moves, so a probe passing the slot of a live id
 * would have found it there.
 */
static inline struct pm_module *pm_idtab_get(struct pm_idtab *t, int64_t id)
{
	if (!t)
		return NULL;
	for (size_t i = pm_idtab_hash(id) & t->mask;; i = (i + 1) & t->mask) {
		struct pm_module *m = pm_load_acquire(&t->slot[i]);

		if (!m)
			return NULL;
		if (m != PM_IDTAB_TOMB && m->id == id)
			return m;
	}
}

/*
 * Writer side.  All of these: caller holds the map's writer lock.
 *
 * pm_idtab_fit(): the table to use for @live live entries plus @extra more
 * inserts: @t itself when it has room (and is not grossly oversized), else a
 * new, unpublished table holding @t's live entries (tombstones swept).
 * Returns NULL only when allocation failed (nothing changed then).  The
 * caller publishes a new table with a release store and retires @t.
 * Amortised O(1) per operation: a rebuild leaves the table at most a quarter
 * full, and the next one needs a quarter of its slots' worth of operations.
 */
struct pm_idtab *pm_idtab_fit(struct pm_idtab *t, size_t live, size_t extra);

/* Add @m (whose id is absent); @t has room (pm_idtab_fit).  One release
 * store publishes it to readers already probing @t. */
void pm_idtab_add(struct pm_idtab *t, struct pm_module *m);

/* Replace @m's slot by a tombstone (one release store); @m must be live. */
void pm_idtab_del(struct pm_idtab *t, struct pm_module *m);

/* Self-check (validate): the number of live entries, or -1 when the
 * table's bookkeeping is broken (used miscounted, or no NULL slot left). */
long pm_idtab_count(struct pm_idtab *t);

#endif /* PM_IDTAB_H */
