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
 * (pm_symmap_lookup) take no lock: they run inside an RCU read section,
 * which keeps every table and module they reach allocated.
 */
#include <stdlib.h>
#include <string.h>

#include "pm_map_impl.h"
#include "pm_rcu.h"

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
};

/* Re-check a batch's RCU section this often, so grace periods stay short. */
#define PM_SYM_CHUNK 4096
/* The page index: about this many entries per page, pages at least 64 bytes. */
#define PM_SYM_PER_PAGE 4
#define PM_SYM_MIN_SHIFT 6

static void symtab_free(struct pm_symtab *t)
{
	if (t) {
		free(t->page);
		free(t);
	}
}

/* Build @t's page index (best effort: without memory, lookups search it all). */
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

pm_symmap *pm_symmap_new(void)
{
	struct pm_symmap *sm = calloc(1, sizeof(*sm));

	if (!sm)
		return NULL;
	sm->map = pm_map_new(PM_STRATEGY_TREE);
	if (!sm->map) {
		free(sm);
		return NULL;
	}
	pthread_mutex_init(&sm->lock, NULL);
	return sm;
}

/* No concurrent users allowed: every table goes at once. */
void pm_symmap_free(pm_symmap *sm)
{
	int64_t *ids;
	size_t n;

	if (!sm)
		return;
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

/*
 * Index of the last entry <= @addr in [@lo, @hi), or @lo - 1 when none is;
 * every entry below @lo must be <= @addr and every one from @hi on above it.
 * Branch-free (the comparison feeds a conditional move), because random
 * addresses make every branch of a binary search a coin toss, and a
 * mispredicted branch costs more than the cache line it waits for.
 */
static long search_range(const uint64_t *addr, size_t lo, size_t hi, uint64_t key)
{
	const uint64_t *p = addr + lo;
	size_t n = hi - lo;

	if (!n)
		return (long)lo - 1;
	/* entries before p are <= key; entries from p + n on are > key */
	while (n > 1) {
		size_t half = n / 2;

		p = p[half] <= key ? p + half : p;
		n -= half;
	}
	return (long)(p - addr) + (*p <= key) - 1;
}

/* Index of the last entry <= @addr, or -1 when every entry is above it. */
static long last_at_or_below(const struct pm_symtab *t, uint64_t addr)
{
	if (t->pages && addr >= t->lo) {
		uint64_t p = (addr - t->lo) >> t->shift;

		/* entries below page p's start are <= addr; those from page p + 1 on are > addr */
		if (p < t->pages)
			return search_range(t->addr, t->page[p], t->page[p + 1], addr);
		return search_range(t->addr, t->page[t->pages], t->n, addr);   /* past the index */
	}
	return search_range(t->addr, 0, t->n, addr);
}

/* The first entry of the run of equal addresses holding index @i. */
static long first_alias(const struct pm_symtab *t, long i)
{
	while (i > 0 && t->addr[i - 1] == t->addr[i])
		i--;
	return i;
}

static int in_core(const struct pm_symtab *c, uint64_t addr)
{
	uint64_t end = c->has_end ? c->end : c->etext;

	return (addr >= c->stext && addr < end) ||
	       (addr >= c->sinittext && addr < c->einittext);
}

/* get_symbol_pos(): vmlinux's answer for an address in_core() accepted. */
static uint8_t core_lookup(const struct pm_symtab *c, uint64_t addr, int64_t *sym,
			   uint64_t *offset, uint64_t *size)
{
	long i;
	size_t k;
	uint64_t start, end;

	if (!c->n)
		return PM_SYM_NO_SYMBOLS;
	i = last_at_or_below(c, addr);
	i = first_alias(c, i < 0 ? 0 : i);   /* none below: symbol 0, offset wraps */
	start = c->addr[i];
	for (k = (size_t)i + 1; k < c->n && c->addr[k] == start; k++)
		;
	if (k < c->n)
		end = c->addr[k];
	else if (addr >= c->sinittext && addr < c->einittext)
		end = c->einittext;
	else
		end = c->has_end ? c->end : c->etext;
	*sym = i;
	*offset = addr - start;
	*size = end - start;
	return PM_SYM_FOUND;
}

/* find_kallsyms_symbol() in the region [@base, @base + @rsize) holding @addr. */
static uint8_t module_lookup(const struct pm_symtab *t, uint64_t base, uint64_t rsize,
			     uint64_t addr, int64_t *sym, uint64_t *offset, uint64_t *size)
{
	long i, above;
	uint64_t best;

	if (!t || !t->n)
		return PM_SYM_NO_SYMBOLS;
	i = last_at_or_below(t, addr);
	above = i + 1;                        /* the first entry above addr */
	if (i < 0 || t->addr[i] < base)
		return PM_SYM_NO_SYMBOL;
	i = first_alias(t, i);
	best = t->addr[i];
	*sym = i;
	*offset = addr - best;
	/* Offsets from @base, so a region ending at 2^64 needs no special case. */
	if ((size_t)above < t->n && t->addr[above] - base < rsize)
		*size = t->addr[above] - best;
	else
		*size = (base - best) + rsize;
	return PM_SYM_FOUND;
}

/* One address; caller inside an RCU read section. */
struct pm_sym_out {
	int64_t *owner, *table, *sym;
	uint64_t *offset, *size;
	uint8_t *reason;
};

/* One address into slot @i of @o; caller inside an RCU read section. */
static uint8_t lookup_one(struct pm_symmap *sm, uint64_t addr, const struct pm_sym_out *o,
			  size_t i)
{
	const struct pm_symtab *c = pm_load_acquire(&sm->core), *t;
	int64_t *sym = &o->sym[i];
	uint64_t *offset = &o->offset[i], *size = &o->size[i];
	struct pm_module *m;

	o->owner[i] = PM_SYM_OWNER_NONE;
	o->table[i] = -1;
	*sym = -1;
	*offset = *size = 0;
	if (c && in_core(c, addr)) {
		o->owner[i] = PM_SYM_OWNER_CORE;
		o->table[i] = c->tag;
		return core_lookup(c, addr, sym, offset, size);
	}
	m = pm_find_module_locked(sm->map, addr);
	if (!m)
		return PM_SYM_UNKNOWN;
	o->owner[i] = m->id;
	t = pm_load_acquire(&m->payload);
	o->table[i] = t ? t->tag : -1;
	for (int k = 0; k < PM_MEM_NTYPES; k++) {
		uint64_t rsize = pm_load_relaxed(&m->size[k]);
		uint64_t base = pm_load_relaxed(&m->base[k]);

		if (rsize && addr - base < rsize)
			return module_lookup(t, base, rsize, addr, sym, offset, size);
	}
	o->owner[i] = PM_SYM_OWNER_NONE;   /* its region went after the tree walk */
	o->table[i] = -1;
	return PM_SYM_UNKNOWN;
}

int pm_symmap_lookup(pm_symmap *sm, const uint64_t *addrs, size_t n, int backtrace,
		     int64_t *owner, int64_t *table, int64_t *sym, uint64_t *offset, uint64_t *size,
		     uint8_t *reason, uint64_t *gens)
{
	const struct pm_sym_out o = { owner, table, sym, offset, size, reason };

	gens[0] = pm_load_acquire(&sm->generation);
	for (size_t start = 0; start < n; start += PM_SYM_CHUNK) {
		size_t stop = n - start < PM_SYM_CHUNK ? n : start + PM_SYM_CHUNK;

		pm_rcu_read_lock();
		for (size_t i = start; i < stop; i++) {
			uint64_t a = backtrace ? addrs[i] - 1 : addrs[i];

			reason[i] = lookup_one(sm, a, &o, i);
			if (backtrace && reason[i] == PM_SYM_FOUND)
				offset[i] += 1;
		}
		pm_rcu_read_unlock();
	}
	pm_fence_acquire();   /* the table reads above happen before the re-read */
	gens[1] = pm_load_relaxed(&sm->generation);
	return PM_OK;
}

uint8_t pm_symmap_lookup1(pm_symmap *sm, uint64_t addr, int backtrace, struct pm_sym_answer *out)
{
	const struct pm_sym_out o = { &out->owner, &out->table, &out->sym, &out->offset,
				      &out->size, &out->reason };

	pm_rcu_read_lock();
	out->reason = lookup_one(sm, backtrace ? addr - 1 : addr, &o, 0);
	pm_rcu_read_unlock();
	if (backtrace && out->reason == PM_SYM_FOUND)
		out->offset += 1;
	return out->reason;
}
