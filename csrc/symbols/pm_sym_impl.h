/*
 * Private layout of the symbolizer core, shared by pm_sym.c (tables and
 * writers), pm_symlookup.c (readers) and pm_symreg.c (the registry of live
 * symmaps: handles, references, fork).  Not part of the public API.
 */
#ifndef PM_SYM_IMPL_H
#define PM_SYM_IMPL_H

#include "pm_map_impl.h"

/*
 * An immutable, sorted symbol table (module or vmlinux), with a page index:
 * for page p of [lo, lo + (pages << shift)), page[p] is the number of
 * entries below the page's start, so an address's entry is searched for in
 * [page[p] - 1, page[p + 1]) only: a few cache lines, not log2(n) misses.
 */
struct pm_symtab {
	size_t n;
	int64_t tag;                          /* the caller's name for this table */
	uint64_t lo;                          /* page index: first page's start */
	unsigned shift;                       /* log2 of the page size */
	size_t pages;                         /* 0: no index */
	uint32_t *page;                       /* pages + 1 entries */
	/* vmlinux bounds (unused for modules): stext, etext, sinittext,
	 * einittext, end; has_end = KALLSYMS_ALL. */
	uint64_t stext, etext, sinittext, einittext, end;
	int has_end;
	uint64_t addr[];
};

struct pm_symmap {
	struct pm_map *map;                   /* modules by address; payload = table */
	struct pm_symtab *_Atomic core;       /* vmlinux, or NULL */
	_Atomic uint64_t generation;
	pthread_mutex_t lock;                 /* serializes writers */
	/* pm_symreg.c's, under its registry lock: */
	uint64_t handle;                      /* never reused in the process */
	size_t refs;                          /* the creator's and pm_symmap_get()'s */
	struct pm_symmap *reg_prev, *reg_next;
};

/*
 * Put a new symmap, its fields but the registry's set, on the registry with
 * one reference (the creator's), and make sure its fork handlers are
 * installed.  Caller: holds no symmap lock and has called pm_map_new()
 * first, so pm_map.c's fork handlers were installed before these (their
 * prepare handler then runs after this file's: symmap locks before map
 * locks, the writers' order).  PM_OK, or PM_ENOMEM when no fork handler
 * could be installed (the symmap must then not be handed out).
 */
int pm_symreg_enter(struct pm_symmap *sm);

/* Free @sm and every table in it.  Caller: @sm is off the registry (its
 * last reference went), so no thread can reach it any more. */
void pm_symmap_destroy(struct pm_symmap *sm);

#endif /* PM_SYM_IMPL_H */
