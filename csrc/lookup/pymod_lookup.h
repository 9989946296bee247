/*
 * pymod lookup core: the address -> module map of kernel/module/tree_lookup.c
 * and the modules list, as a user-space C library.
 *
 * This header is the library's whole public surface, and the text between
 * the cffi markers below is read verbatim by cffi_build/build_lookup.py as
 * its cdef, so it must stay plain declarations (no macros, no includes).
 *
 * Concurrency contract for every pm_map function:
 *   - writers (insert, remove, remove_init, reclaim, free) serialize on the
 *     map's own mutex and cost O(log n) amortised for n modules (plus, for
 *     reclaim and every PM_RETIRE_BATCH-th removal, one grace period);
 *   - fork(): a child gets every map in a state between two writer calls,
 *     usable at once (no lock left held by a thread the child lacks);
 *   - once remove/remove_init return, no lookup that starts
 *     afterwards can see the removed regions, so the caller may reuse the
 *     address range at once; the memory of a removed module is freed only
 *     after an RCU grace period (batched; pm_map_reclaim() forces one);
 *   - readers (find, find_many, within, addr_min/max, count) never block and
 *     take no lock; each answer is true at some moment during the call;
 *   - pm_map_free() requires that no other thread uses the map any more.
 */
#ifndef PYMOD_LOOKUP_H
#define PYMOD_LOOKUP_H

#include <stddef.h>
#include <stdint.h>

/* cffi:begin */
/* Region kinds: enum mod_mem_type, in the kernel's order. */
enum pm_mem_type {
	PM_MEM_TEXT = 0,
	PM_MEM_DATA = 1,
	PM_MEM_RODATA = 2,
	PM_MEM_RO_AFTER_INIT = 3,
	PM_MEM_INIT_TEXT = 4,
	PM_MEM_INIT_DATA = 5,
	PM_MEM_INIT_RODATA = 6,
	PM_MEM_NTYPES = 7
};

/* How mod_find answers: the latch tree (MODULES_TREE_LOOKUP) or a list scan. */
enum pm_strategy {
	PM_STRATEGY_TREE = 0,
	PM_STRATEGY_LIST = 1
};

/* find_many algorithms (PM_BATCH_AUTO picks by batch size). */
enum pm_batch_mode {
	PM_BATCH_AUTO = 0,
	PM_BATCH_WALK = 1,   /* one latch walk per address */
	PM_BATCH_SORTED = 2  /* radix-sort the batch, one in-order tree pass */
};

/*
 * Status codes: 0 success, negative failure; pm_strerror() names each one,
 * and Python maps them to exceptions.  PM_EIDINDEX .. PM_ELIST are only
 * returned by pm_map_validate(), each naming the invariant it found broken.
 */
enum pm_status {
	PM_OK = 0,
	PM_ENOMEM = -1,       /* allocation failed; nothing changed */
	PM_EDUPID = -2,       /* module id already present */
	PM_EOVERLAP = -3,     /* a region overlaps another module's (see *conflict) */
	PM_EBADREGION = -4,   /* base + size wraps past 2^64 */
	PM_ESELFOVERLAP = -5, /* two regions of the same module overlap */
	PM_ENOENT = -6,       /* no module with that id */
	PM_EINVAL = -7,       /* bad argument (unknown strategy or mode, negative id) */
	PM_EIDINDEX = -8,     /* validate: the modules list and the id index disagree */
	PM_ECOUNT = -9,       /* validate: the module counts disagree */
	PM_ETREE0 = -10,      /* validate: latch copy 0 is not a valid red-black tree */
	PM_ETREE1 = -11,      /* validate: latch copy 1 is not a valid red-black tree */
	PM_ENODES = -12,      /* validate: the tree's nodes are not the live regions */
	PM_ELIST = -13        /* validate: the modules list's back links are broken */
};

/* A fixed, static text for @status ("unknown status" for any other value). */
const char *pm_strerror(int status);

typedef struct pm_map pm_map;

/* New empty map; NULL when out of memory or the strategy is unknown. */
pm_map *pm_map_new(int strategy);
/* Free the map and every module in it.  No concurrent users allowed. */
void pm_map_free(pm_map *map);
int pm_map_strategy(pm_map *map);

/*
 * Insert module @id owning regions base[t], size[t] for each mem type t
 * (size 0 = absent).  On PM_EOVERLAP *conflict is the other module's id.
 * Widens addr_min/addr_max; never shrinks them.  Fails atomically.
 */
int pm_map_insert(pm_map *map, int64_t id, const uint64_t *base, const uint64_t *size,
		  int64_t *conflict);
/* Unlink module @id; its memory is freed after a grace period.  PM_ENOENT if absent. */
int pm_map_remove(pm_map *map, int64_t id);
/* Drop @id's init regions (mod_tree_remove_init).  PM_ENOENT if absent. */
int pm_map_remove_init(pm_map *map, int64_t id);
/* Wait for a grace period and free everything removed so far. */
void pm_map_reclaim(pm_map *map);

/* mod_find: the id owning @addr, or -1. */
int64_t pm_map_find(pm_map *map, uint64_t addr);
/* For each i: out[i] = pm_map_find(addrs[i]).  0 or PM_ENOMEM / PM_EINVAL. */
int pm_map_find_many(pm_map *map, const uint64_t *addrs, int64_t *out, size_t n, int mode);
/* within_module: 1 if @addr lies in one of @id's regions, 0 if not, PM_ENOENT. */
int pm_map_within(pm_map *map, uint64_t addr, int64_t id);

uint64_t pm_map_addr_min(pm_map *map);
uint64_t pm_map_addr_max(pm_map *map);
size_t pm_map_count(pm_map *map);
/* Region table of @id into base[7]/size[7]; PM_ENOENT if absent. */
int pm_map_regions(pm_map *map, int64_t id, uint64_t *base, uint64_t *size);
/* Copy up to @cap ids, in list order (newest first); returns the total count. */
size_t pm_map_ids(pm_map *map, int64_t *out, size_t cap);

/*
 * Writer-side self-check (takes the writer lock): both latch copies are valid
 * red-black trees holding exactly the live regions plus the dead ones queued
 * for erasure (list strategy: copy 1 alone, the writer's overlap index, holds
 * the live regions), the list's links and the id index agree.  Returns the
 * number of live regions, or the PM_E... status naming the broken invariant
 * (PM_EIDINDEX .. PM_ELIST).
 */
long pm_map_validate(pm_map *map);

/*
 * Symbolization (pm_sym.c): the kernel's kallsyms_lookup() over symbol
 * tables published RCU-style; see the contract at the top of pm_sym.c.
 * Tables are sorted address arrays (the caller keeps the names: an answer
 * is an index).  Writers serialize on the symmap; readers never block.
 * Every call but pm_symmap_new/get needs a reference to the symmap; fork()
 * waits for the writer calls in progress (pm_symreg.c).
 */
enum pm_sym_reason {
	PM_SYM_FOUND = 0,       /* a symbol names the address */
	PM_SYM_UNKNOWN = 1,     /* neither vmlinux nor a module owns it */
	PM_SYM_NO_SYMBOLS = 2,  /* its owner has no symbols */
	PM_SYM_NO_SYMBOL = 3    /* its owner has symbols, none at or below it */
};
enum pm_sym_owner {
	PM_SYM_OWNER_CORE = -1, /* vmlinux */
	PM_SYM_OWNER_NONE = -2
};
typedef struct pm_symmap pm_symmap;
/* A new symmap holding its creator's reference; NULL when out of memory. */
pm_symmap *pm_symmap_new(void);
/* Drop the creator's reference: the symmap goes with its last reference. */
void pm_symmap_free(pm_symmap *sm);
/* The symmap's handle: a number never reused in this process. */
uint64_t pm_symmap_handle(pm_symmap *sm);
/* A new reference to the live symmap with @handle, or NULL when none has it. */
pm_symmap *pm_symmap_get(uint64_t handle);
/* Drop a reference taken by pm_symmap_get(); the last one frees the symmap. */
void pm_symmap_put(pm_symmap *sm);
/* Every table has a @tag, the caller's name for it, returned by lookups. */
/* Replace vmlinux's table; bounds = stext, etext, sinittext, einittext, end
 * (has_end: KALLSYMS_ALL, [stext, end) is vmlinux's).  PM_EINVAL if unsorted. */
int pm_symmap_set_core(pm_symmap *sm, int64_t tag, const uint64_t *addr, size_t n,
		       const uint64_t *bounds, int has_end);
/* Add module @id: its regions (as pm_map_insert) and its sorted symbol addresses. */
int pm_symmap_add(pm_symmap *sm, int64_t id, const uint64_t *base, const uint64_t *size,
		  int64_t tag, const uint64_t *addr, size_t n, int64_t *conflict);
/* Replace @id's table; with @drop_init also drop its init regions (init done). */
int pm_symmap_replace(pm_symmap *sm, int64_t id, int64_t tag, const uint64_t *addr, size_t n,
		      int drop_init);
/* Remove module @id; returns after its table can no longer be read. */
int pm_symmap_remove(pm_symmap *sm, int64_t id);
/* A sequence count: odd while a change is being published, even between. */
uint64_t pm_symmap_generation(pm_symmap *sm);
/*
 * For each addrs[i] (addrs[i] - 1 with @backtrace, offset then + 1):
 * owner (module id, or PM_SYM_OWNER_*), table (the tag of the table that
 * answered, -1), sym (index in that table, -1), offset, size, reason.
 * gens[0]/gens[1]: the generation before and after the batch (equal and
 * even: the whole batch saw one map).
 */
int pm_symmap_lookup(pm_symmap *sm, const uint64_t *addrs, size_t n, int backtrace,
		     int64_t *owner, int64_t *table, int64_t *sym, uint64_t *offset,
		     uint64_t *size, uint8_t *reason, uint64_t *gens);
/* One address, the same answer as pm_symmap_lookup's, in one struct. */
struct pm_sym_answer {
	int64_t owner, table, sym;
	uint64_t offset, size;
	uint8_t reason;
};
uint8_t pm_symmap_lookup1(pm_symmap *sm, uint64_t addr, int backtrace,
			  struct pm_sym_answer *out);
/* cffi:end */

/*
 * For the CPython extensions only (outside the cdef): pm_map_find,
 * pm_map_within and pm_symmap_lookup1 in a read section on a serialized
 * reader record (pm_rcu.h: the caller lets one thread at a time use @r,
 * and @r comes from pm_rcu_reader_new_serialized()).  Same answers, no
 * thread-local lookups.
 */
struct pm_rcu_reader;
struct pm_rcu_reader *pm_rcu_reader_new_serialized(void);
int64_t pm_map_find_on(pm_map *map, uint64_t addr, struct pm_rcu_reader *r);
int pm_map_within_on(pm_map *map, uint64_t addr, int64_t id, struct pm_rcu_reader *r);
uint8_t pm_symmap_lookup1_on(pm_symmap *sm, uint64_t addr, int backtrace,
			     struct pm_sym_answer *out, struct pm_rcu_reader *r);

#endif /* PYMOD_LOOKUP_H */
