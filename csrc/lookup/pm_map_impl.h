/*
 * Private layout of struct pm_map and the reader-side helpers on it, shared
 * by pm_map.c (life, deferred work), pm_map_write.c (writers),
 * pm_map_query.c (single lookups, id queries) and pm_batch.c (batched
 * lookups).  The readers depend on this header only.  Not part of the
 * public API.
 */
#ifndef PM_MAP_IMPL_H
#define PM_MAP_IMPL_H

#include <pthread.h>
#include <stddef.h>

#include "pm_latch.h"
#include "pymod_lookup.h"

struct pm_module {
	struct pm_node node[PM_MEM_NTYPES];   /* one latch node per region */
	uint8_t red[PM_MEM_NTYPES][2];        /* their colours (see pm_rb_red) */
	int64_t id __attribute__((aligned(64))); /* reader fields off the colour line */
	/* Region table read by within_module(); zeroed sizes mean "gone". */
	_Atomic uint64_t base[PM_MEM_NTYPES];
	_Atomic uint64_t size[PM_MEM_NTYPES];
	uint8_t in_tree[PM_MEM_NTYPES];       /* writer-private: node linked */
	struct pm_module *_Atomic next;       /* RCU modules list, newest first */
	struct pm_module *prev;               /* writer-private back link: O(1) unlink */
	/*
	 * The owner's opaque data (the symbolizer's symbol table): set before
	 * the module is published, replaced by release stores under the writer
	 * lock; the map never dereferences or frees it.
	 */
	void *_Atomic payload;
};

/* pm_rb_red() finds a node's colour right after its group of nodes. */
_Static_assert(PM_RB_GROUP == PM_MEM_NTYPES, "one rb group per module");
_Static_assert(offsetof(struct pm_module, red) == sizeof(struct pm_node) * PM_RB_GROUP,
	       "colour block must follow the module's nodes");

/* The id -> module index (pm_idtab.h); only pm_map.c looks inside. */
struct pm_idtab;

/* A growable array of pointers (writer-private). */
struct pm_vec {
	void **v;
	size_t n, cap;
};

/*
 * Reader-hot fields first, on cache lines of their own: readers load them on
 * every lookup, so a writer storing to anything on the same line (its mutex,
 * counters, retire list) would turn every lookup during a write into a
 * coherence miss.  Writer-private fields live on a separate line.
 */
struct pm_map {
	/* read by every tree lookup: written only to publish a change */
	int strategy;
	/*
	 * TREE: the latch tree readers walk.  LIST: readers never touch it;
	 * copy 1 alone is the writer's private index of the live regions by
	 * address (no sequence bumps), so an insert's overlap check costs
	 * O(log n) instead of a scan of the list.
	 */
	struct pm_latch_root tree;
	_Atomic uint64_t addr_min, addr_max;  /* widen only */

	/* read by list scans and id lookups; written by every write */
	struct pm_module *_Atomic head __attribute__((aligned(64))); /* always kept */
	struct pm_idtab *_Atomic ids;
	_Atomic size_t nodes;                 /* regions in the tree */

	/* writer side */
	pthread_mutex_t lock __attribute__((aligned(64))); /* serializes writers */
	_Atomic size_t count;
	/* Process-wide registry of live maps, for fork() (under its own lock). */
	struct pm_map *reg_prev, *reg_next;
	/*
	 * Deferred work.  A removed region's node is marked dead at once and
	 * (tree strategy) erased by the next latch update (an insert's, or
	 * reclaim's): removals then cost readers no sequence bumps of their
	 * own.  A removed module
	 * waits in @doomed until its nodes are erased, then in @retired (with
	 * old id tables) until a grace period has passed.
	 */
	struct pm_vec pending;                /* struct pm_node *, dead, linked */
	struct pm_vec doomed;                 /* struct pm_module *, nodes pending */
	struct pm_vec retired;                /* freed after the next grace period */
} __attribute__((aligned(64)));

/*
 * within_module() on one module's region table.
 * Caller: inside an RCU read section (or holding the writer lock), with @m
 * reached through the list or the id index.
 * Concludes: @addr lay in one of @m's regions at some moment during the
 * call; each region's base and size are read separately, which is safe
 * because a live region only ever changes by its size becoming 0.
 */
static inline int pm_within(struct pm_module *m, uint64_t addr)
{
	for (int t = 0; t < PM_MEM_NTYPES; t++) {
		uint64_t size = pm_load_relaxed(&m->size[t]);

		if (size && addr - pm_load_relaxed(&m->base[t]) < size)
			return 1;
	}
	return 0;
}

/*
 * Bounds quick-reject of __module_address(): inclusive [addr_min, addr_max].
 * Invariant: the bounds only widen, and an insert widens them before it
 * publishes the regions they cover.
 * Caller: any thread, no lock.  Concludes: 0 means no module owned @addr
 * while the bounds read were current, so a lookup may answer -1 at once;
 * 1 proves nothing.
 */
static inline int pm_in_bounds(struct pm_map *map, uint64_t addr)
{
	return addr >= pm_load_relaxed(&map->addr_min) &&
	       addr <= pm_load_relaxed(&map->addr_max);
}

/*
 * mod_find for one address, by the map's strategy: the shared single lookup
 * of pm_map_find() (pm_map.c) and of batched walks (pm_batch.c), so neither
 * file calls into the other.
 * Caller: inside an RCU read section (pm_rcu.h) for the whole call, which
 * keeps every node and module it reaches allocated.
 * Concludes: the id returned owned @addr at some moment during the call, or
 * (-1) no module did; a node marked dead counts as already removed.
 */
static inline int64_t pm_find_locked(struct pm_map *map, uint64_t addr)
{
	if (!pm_in_bounds(map, addr))
		return -1;
	if (map->strategy == PM_STRATEGY_TREE) {
		struct pm_node *n = pm_latch_find(&map->tree, addr);

		return n && !pm_load_relaxed(&n->dead) ? n->id : -1;
	}
	for (struct pm_module *m = pm_load_acquire(&map->head); m;
	     m = pm_load_acquire(&m->next))
		if (pm_within(m, addr))
			return m->id;
	return -1;
}

/*
 * The module owning @addr (tree strategy), or NULL: pm_find_locked() that
 * returns the module itself, so a caller can read its regions and payload.
 * Caller: inside an RCU read section for as long as it uses the module.
 * Concludes: the module owned @addr at some moment during the call.
 */
static inline struct pm_module *pm_find_module_locked(struct pm_map *map, uint64_t addr)
{
	struct pm_node *n;

	if (!pm_in_bounds(map, addr) || map->strategy != PM_STRATEGY_TREE)
		return NULL;
	n = pm_latch_find(&map->tree, addr);
	if (!n || pm_load_relaxed(&n->dead))
		return NULL;
	/* Nodes are the module's first field, one per region type. */
	return (struct pm_module *)(void *)(n - n->type);
}

/* pm_map_insert() with the module's payload set before it is published. */
int pm_map_insert_payload(struct pm_map *map, int64_t id, const uint64_t *base,
			  const uint64_t *size, void *payload, int64_t *conflict);
/* Replace @id's payload (writer lock taken inside); *old gets the previous
 * one, which the caller frees after a grace period.  PM_ENOENT if absent. */
int pm_map_set_payload(struct pm_map *map, int64_t id, void *payload, void **old);
/* @id's payload (NULL if absent); caller holds whatever serializes its own
 * payload updates. */
void *pm_map_get_payload(struct pm_map *map, int64_t id);

/*
 * The writers' deferred work (pm_map.c), which pm_map_write.c queues.
 * Caller: holds @map's writer lock.  pm_map_reserve_step() makes room for
 * one writer step (PM_ENOMEM before changing anything), after which
 * pm_map_vec_push() cannot fail; pm_map_tree_update() erases the pending
 * dead nodes and inserts @ins in one latch update; pm_map_reclaim_locked()
 * also waits for a grace period and frees what was retired.
 */
int pm_map_reserve_step(struct pm_map *map, size_t nodes);
void pm_map_vec_push(struct pm_vec *vec, void *p);
void pm_map_tree_update(struct pm_map *map, struct pm_node *const *ins, size_t nins);
void pm_map_reclaim_locked(struct pm_map *map);

#endif /* PM_MAP_IMPL_H */
