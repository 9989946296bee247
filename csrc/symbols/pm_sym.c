/*
 * The symbolizer's core: address -> (owner, symbol, offset, size), the
 * kernel's kallsyms_lookup() over tables published RCU-style.
 *
 * A symmap is a latch-tree map (pm_map, tree strategy) whose modules carry
 * their symbol table as the map's payload, plus vmlinux's table behind one
 * pointer, plus a generation counter.  Tables are immutable once published:
 * a change builds a new table, publishes it with one release store and frees
 * the old one after a grace period.  So every single answer comes from one
 * table (never a mixture), and a batch reports the generation before and
 * after it: equal and even means the whole batch saw one map (the count is
 * odd while a change is being published).
 *
 * Writers (set_core, add, replace, remove) serialize on the symmap's mutex;
 * each makes the generation odd before its change and even after it.  Readers
 * (pm_symmap_lookup, in pm_symlookup.c) take no lock: they run inside an RCU
 * read section, which keeps every table and module they reach allocated.
 * pm_symreg.c counts the references to a symmap (the creator's and the C
 * fast path's) and keeps every writer lock consistent across fork().
 */
#include <stdlib.h>
#include <string.h>

#include "pm_rcu.h"
#include "pm_sym_impl.h"

/* The page index: about this many entries per page, pages at least 64 bytes. */
#define PM_SYM_PER_PAGE 4
#define PM_SYM_MIN_SHIFT 6

/* Caller: @t (NULL allowed) was never published, or a grace period has
 * passed since it was unpublished: no reader can hold it. */
static void symtab_free(struct pm_symtab *t)
{
	if (t) {
		free(t->page);
		free(t);
	}
}

/* Build @t's page index (best effort: without memory, lookups search it all).
 * Caller: @t is not yet published (only its builder sees it). */
static void symtab_index(struct pm_symtab *t)
{
	uint64_t span;
	size_t k = 0;

	if (t->n < 2 || t->n > UINT32_MAX)
		return;
	t->lo = t->addr[0];
	span = t->addr[t->n - 1] - t->lo;
	t->shift = PM_SYM_MIN_SHIFT;
	while (t->shift < 63 && (span >> t->shift) > t->n / PM_SYM_PER_PAGE + 1)
		t->shift++;
	t->pages = (size_t)(span >> t->shift) + 1;
	t->page = malloc((t->pages + 1) * sizeof(uint32_t));
	if (!t->page) {
		t->pages = 0;
		return;
	}
	for (size_t p = 0; p < t->pages; p++) {
		uint64_t start = t->lo + ((uint64_t)p << t->shift);   /* p < pages: no wrap */

		while (k < t->n && t->addr[k] < start)
			k++;
		t->page[p] = (uint32_t)k;
	}
	/* The end of the last page may lie past 2^64: every entry is below it. */
	t->page[t->pages] = (uint32_t)t->n;
}

/*
 * A new, unpublished table holding a copy of @addr.  *rc: PM_EINVAL when
 * @addr is not sorted (callers sort: refuse, don't guess), PM_ENOMEM.
 */
static struct pm_symtab *symtab_new(const uint64_t *addr, size_t n, int64_t tag, int *rc)
{
	struct pm_symtab *t;

	*rc = PM_EINVAL;
	for (size_t i = 1; i < n; i++)
		if (addr[i - 1] > addr[i])
			return NULL;
	*rc = PM_ENOMEM;
	if (n > (SIZE_MAX - sizeof(*t)) / sizeof(uint64_t))
		return NULL;
	t = malloc(sizeof(*t) + n * sizeof(uint64_t));
	if (!t)
		return NULL;
	memset(t, 0, sizeof(*t));
	t->n = n;
	t->tag = tag;
	if (n)
		memcpy(t->addr, addr, n * sizeof(uint64_t));
	symtab_index(t);
	*rc = PM_OK;
	return t;
}

/*
 * A new empty symmap holding one reference, its creator's (pm_symreg.c
 * counts them; pm_symmap_free() drops it).  NULL when out of memory or when
 * no fork handler could be installed.
 */
pm_symmap *pm_symmap_new(void)
{
	struct pm_symmap *sm = calloc(1, sizeof(*sm));

	if (!sm)
		return NULL;
	/* First: pm_map.c's fork handlers must be installed before pm_symreg.c's. */
	sm->map = pm_map_new(PM_STRATEGY_TREE);
	if (!sm->map) {
		free(sm);
		return NULL;
	}
	pthread_mutex_init(&sm->lock, NULL);
	if (pm_symreg_enter(sm) != PM_OK) {
		pm_symmap_destroy(sm);
		return NULL;
	}
	return sm;
}

/* Every table goes at once.  Caller: @sm is unreachable (pm_symreg.c). */
void pm_symmap_destroy(struct pm_symmap *sm)
{
	int64_t *ids;
	size_t n;

	n = pm_map_count(sm->map);
	ids = malloc((n ? n : 1) * sizeof(*ids));
	if (ids) {
		n = pm_map_ids(sm->map, ids, n);
		for (size_t i = 0; i < n; i++)
			symtab_free(pm_map_get_payload(sm->map, ids[i]));
		free(ids);
	}
	pm_map_free(sm->map);
	symtab_free(pm_load_relaxed(&sm->core));
	pthread_mutex_destroy(&sm->lock);
	free(sm);
}

/* Any thread holding a reference to @sm; no lock. */
uint64_t pm_symmap_generation(pm_symmap *sm)
{
	return pm_load_acquire(&sm->generation);
}

/*
 * The generation is a sequence count: odd while a change is being
 * published, even between changes.  begin: make it odd before any store of
 * the change can be seen (a reader that sees one also sees the odd count,
 * or a later one, when it re-reads).  end: make it even after every store.
 * Caller: holds sm->lock.
 */
static void change_begin(struct pm_symmap *sm)
{
	pm_fetch_add(&sm->generation, 1);
	pm_fence_release();
}

/* Caller: holds sm->lock; the change is visible.  Then retire @old. */
static void change_end(struct pm_symmap *sm, struct pm_symtab *old)
{
	pm_fence_release();
	pm_fetch_add(&sm->generation, 1);
	if (old) {
		pm_rcu_synchronize();
		symtab_free(old);
	}
}

/*
 * The writers below: any thread holding a reference to @sm, holding no
 * symmap lock (each takes sm->lock, then pm_map.c takes the map's own: that
 * order, which pm_symreg.c's fork handler follows).  The new table is built
 * before the lock is taken, so a writer holds it only to publish.
 */
int pm_symmap_set_core(pm_symmap *sm, int64_t tag, const uint64_t *addr, size_t n,
		       const uint64_t *bounds, int has_end)
{
	int rc;
	struct pm_symtab *t = symtab_new(addr, n, tag, &rc), *old;

	if (!t)
		return rc;
	t->stext = bounds[0];
	t->etext = bounds[1];
	t->sinittext = bounds[2];
	t->einittext = bounds[3];
	t->end = bounds[4];
	t->has_end = has_end;
	pthread_mutex_lock(&sm->lock);
	change_begin(sm);
	old = pm_load_relaxed(&sm->core);
	pm_store_release(&sm->core, t);
	change_end(sm, old);
	pthread_mutex_unlock(&sm->lock);
	return PM_OK;
}

int pm_symmap_add(pm_symmap *sm, int64_t id, const uint64_t *base, const uint64_t *size,
		  int64_t tag, const uint64_t *addr, size_t n, int64_t *conflict)
{
	int rc;
	struct pm_symtab *t = symtab_new(addr, n, tag, &rc);

	*conflict = -1;
	if (!t)
		return rc;
	pthread_mutex_lock(&sm->lock);
	change_begin(sm);
	rc = pm_map_insert_payload(sm->map, id, base, size, t, conflict);
	change_end(sm, NULL);
	pthread_mutex_unlock(&sm->lock);
	if (rc != PM_OK)
		symtab_free(t);   /* never published */
	return rc;
}

int pm_symmap_replace(pm_symmap *sm, int64_t id, int64_t tag, const uint64_t *addr, size_t n,
		      int drop_init)
{
	int rc;
	struct pm_symtab *t = symtab_new(addr, n, tag, &rc);
	void *old = NULL;

	if (!t)
		return rc;
	pthread_mutex_lock(&sm->lock);
	change_begin(sm);
	rc = pm_map_set_payload(sm->map, id, t, &old);
	if (rc == PM_OK && drop_init)
		pm_map_remove_init(sm->map, id);   /* cannot fail: @id is present */
	change_end(sm, old);
	pthread_mutex_unlock(&sm->lock);
	if (rc != PM_OK)
		symtab_free(t);   /* never published */
	return rc;
}

int pm_symmap_remove(pm_symmap *sm, int64_t id)
{
	void *old;
	int rc;

	pthread_mutex_lock(&sm->lock);
	change_begin(sm);
	old = pm_map_get_payload(sm->map, id);
	rc = pm_map_remove(sm->map, id);
	change_end(sm, rc == PM_OK ? old : NULL);   /* after its grace period no reader holds it */
	pthread_mutex_unlock(&sm->lock);
	return rc;
}

