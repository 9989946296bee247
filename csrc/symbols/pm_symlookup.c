/*
 * The symbolizer's readers: kallsyms_lookup() over the tables pm_sym.c
 * publishes.  They take no lock: each runs inside an RCU read section,
 * which keeps every table and module it reaches allocated (see pm_sym.c).
 */
#include "pm_rcu.h"
#include "pm_sym_impl.h"

/* Re-check a batch's RCU section this often, so grace periods stay short. */
#define PM_SYM_CHUNK 4096

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

/* Index of the last entry <= @addr, or -1 when every entry is above it.
 * Caller: inside an RCU read section that reached @t (so @t stays allocated). */
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

/* The first entry of the run of equal addresses holding index @i (0 <= @i < n).
 * Caller: as last_at_or_below(). */
static long first_alias(const struct pm_symtab *t, long i)
{
	while (i > 0 && t->addr[i - 1] == t->addr[i])
		i--;
	return i;
}

/* @addr lies in vmlinux's ranges.  Caller: as last_at_or_below(). */
static int in_core(const struct pm_symtab *c, uint64_t addr)
{
	uint64_t end = c->has_end ? c->end : c->etext;

	return (addr >= c->stext && addr < end) ||
	       (addr >= c->sinittext && addr < c->einittext);
}

/* get_symbol_pos(): vmlinux's answer for an address in_core() accepted.
 * Caller: as last_at_or_below(). */
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

/* find_kallsyms_symbol() in the region [@base, @base + @rsize) holding @addr.
 * Caller: as last_at_or_below(); @t may be NULL (no table). */
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

/* Any thread holding a reference to @sm, no lock (it never blocks a writer
 * beyond one chunk's read section).  Caller: not inside a writer call. */
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

/* As pm_symmap_lookup() for one address.  Caller: inside a read section. */
static uint8_t lookup1_locked(pm_symmap *sm, uint64_t addr, int backtrace,
			      struct pm_sym_answer *out)
{
	const struct pm_sym_out o = { &out->owner, &out->table, &out->sym, &out->offset,
				      &out->size, &out->reason };

	out->reason = lookup_one(sm, backtrace ? addr - 1 : addr, &o, 0);
	if (backtrace && out->reason == PM_SYM_FOUND)
		out->offset += 1;
	return out->reason;
}

/* One short read section.  The C fast path (csrc/symfast) calls the _on
 * form with the GIL held, which is safe because no writer ever waits for
 * the GIL inside a grace period. */
uint8_t pm_symmap_lookup1(pm_symmap *sm, uint64_t addr, int backtrace, struct pm_sym_answer *out)
{
	uint8_t reason;

	pm_rcu_read_lock();
	reason = lookup1_locked(sm, addr, backtrace, out);
	pm_rcu_read_unlock();
	return reason;
}

uint8_t pm_symmap_lookup1_on(pm_symmap *sm, uint64_t addr, int backtrace,
			     struct pm_sym_answer *out, struct pm_rcu_reader *r)
{
	uint8_t reason;

	pm_rcu_read_lock_on(r);
	reason = lookup1_locked(sm, addr, backtrace, out);
	pm_rcu_read_unlock_on(r);
	return reason;
}
