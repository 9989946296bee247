/*
 * The symbolizer validator's readers (see validate_symbols.c for the whole
 * invariant): each batch of pm_symmap_lookup() answers is checked against
 * the reference answer computed here from the tagged table it names (the
 * kernel's module rule, get_symbol_pos() for vmlinux), against retirement
 * and dropped init, against the generations' order and bracketing, and,
 * for equal even generations, against one map answering the whole batch.
 * One batch in four is asked one address at a time instead
 * (pm_symmap_lookup1_on), on one serialized reader record that a mutex,
 * standing for the CPython extensions' GIL, lets one reader at a time use;
 * those answers are checked the same way, the generations excepted.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "validate_symbols.h"
#include "pm_rcu.h"

/* The serialized reader record and the lock that serializes it (the GIL). */
static pthread_mutex_t gil = PTHREAD_MUTEX_INITIALIZER;
static struct pm_rcu_reader *gil_reader;
static pthread_once_t gil_once = PTHREAD_ONCE_INIT;

static void make_gil_reader(void)
{
	gil_reader = pm_rcu_reader_new_serialized();
	if (!gil_reader)
		abort();
}

void fail(const char *what, uint64_t addr, const struct ans *a)
{
	if (!count_violation())
		return;
	fprintf(stderr, "VIOLATION: %s: addr %#" PRIx64, what, addr);
	if (a)
		fprintf(stderr, " -> owner %" PRId64 " table %" PRId64 " sym %" PRId64
			" off %#" PRIx64 " size %#" PRIx64 " reason %" PRId64, a->owner, a->table,
			a->sym, a->off, a->size, a->reason);
	fputc('\n', stderr);
}

/* @w becomes FOUND: symbol @best of @r, which ends at @end. */
static struct ans found_at(struct ans w, const struct rec *r, long best, uint64_t e, uint64_t end)
{
	w.reason = PM_SYM_FOUND;
	w.sym = best;
	w.off = e - r->addr[best];
	w.size = end - r->addr[best];
	return w;
}

/* Kernel module rule in the region of @r's module holding @e, of type *owned - 1
 * (*owned = 0: none). */
static struct ans ref_module(const struct rec *r, uint64_t e, int *owned)
{
	struct ans w = { r->owner, 0, -1, 0, 0, PM_SYM_NO_SYMBOLS };
	uint64_t base = 0, next = 0;
	long best = -1;

	*owned = 0;
	for (int t = 0; t < PM_MEM_NTYPES && !*owned; t++)
		if (r->size[t] && e - r->base[t] < r->size[t]) {
			*owned = t + 1;
			base = r->base[t];
			next = base + r->size[t];   /* 0 for the region ending at 2^64 */
		}
	if (!*owned || !r->n)
		return w;
	for (size_t i = 0; i < r->n; i++) {
		uint64_t v = r->addr[i];

		if (v >= base && v <= e && (best < 0 || v > r->addr[best]))
			best = (long)i;
		if (v > e && (next == 0 || v < next))
			next = v;
	}
	w.reason = PM_SYM_NO_SYMBOL;
	return best < 0 ? w : found_at(w, r, best, e, next);
}

/* get_symbol_pos(): last <= e (symbol 0 if none), first alias, next higher or a bound. */
static struct ans ref_core(const struct rec *r, uint64_t e)
{
	struct ans w = { PM_SYM_OWNER_CORE, 0, -1, 0, 0, PM_SYM_NO_SYMBOLS };
	long best = -1;
	uint64_t end = 0;
	int has_next = 0;

	if (!r->n)
		return w;
	for (size_t i = 0; i < r->n; i++)
		if (r->addr[i] <= e && (best < 0 || r->addr[i] > r->addr[best]))
			best = (long)i;
	if (best < 0)
		best = 0;
	for (size_t i = 0; i < r->n; i++)
		if (r->addr[i] > r->addr[best] && (!has_next || r->addr[i] < end)) {
			end = r->addr[i];
			has_next = 1;
		}
	if (!has_next)
		end = e >= SINIT && e < EINIT ? EINIT : r->has_end ? END : ETEXT;
	return found_at(w, r, best, e, end);
}

/* An answer with no owner: legal unless the probe's address must be owned. */
static void check_unowned(const struct probe *p, const struct ans *a)
{
	if (a->reason != PM_SYM_UNKNOWN || a->table != -1 || a->sym != -1 || a->off || a->size)
		fail("unowned answer is not a clean UNKNOWN", p->e, a);
	else if (p->kind == K_STABLE)
		fail("stable module's address not found", p->e, a);
	else if (p->kind == K_CORE && ((p->e >= STEXT && p->e < ETEXT) ||
				       (p->e >= SINIT && p->e < EINIT)))
		fail("vmlinux text address not found", p->e, a);
}

/* One answer; @d0: writer changes complete before the batch began. */
static void check_answer(const struct probe *p, const struct ans *a, uint64_t d0)
{
	const struct rec *r;
	struct ans w;
	uint64_t ret;
	int owned = 1;

	if (a->owner == PM_SYM_OWNER_NONE) {
		check_unowned(p, a);
		return;
	}
	r = rec_of(a->table);
	if (!r || r->owner != a->owner) {
		fail("answer's table is unknown or another owner's", p->e, a);
		return;
	}
	if ((ret = atomic_load(&r->retired)) && ret <= d0)
		fail("table retired before the batch answered", p->e, a);
	if (a->owner == PM_SYM_OWNER_CORE) {
		owned = (p->e >= STEXT && p->e < (r->has_end ? END : ETEXT)) ||
			(p->e >= SINIT && p->e < EINIT);
		w = ref_core(r, p->e);
	} else {
		w = ref_module(r, p->e, &owned);
		if ((ret = atomic_load(&r->init_gone)) && ret <= d0 && owned > PM_MEM_INIT_TEXT)
			fail("init region answered after init was dropped", p->e, a);
	}
	w.table = a->table;
	if (!owned)
		fail("answer's owner does not own the address", p->e, a);
	else if (memcmp(&w, a, sizeof(w)))
		fail("answer differs from its table's", p->e, a);
	if (p->kind == K_NEVER || (p->kind == K_CORE) != (a->owner == PM_SYM_OWNER_CORE))
		fail("address answered by an owner that never had it", p->e, a);
	if (p->kind == K_STABLE && (a->owner != p->slot || a->table != stable_tag[p->slot] ||
				    a->reason != PM_SYM_FOUND))
		fail("stable module's address answered wrongly", p->e, a);
	if (a->reason == PM_SYM_FOUND)
		atomic_fetch_add_explicit(&found, 1, memory_order_relaxed);
}

/* A probe; K_SAME probes go to the first page of one of two churn slots. */
static struct probe make_probe(uint64_t *seed, const int *same)
{
	struct probe p = { 0, (int)(rnd(seed) % 5), (int)(rnd(seed) % STABLE) };
	int t = (int)(rnd(seed) % PM_MEM_NTYPES), w = (int)(rnd(seed) % WINDOW);
	uint64_t r = rnd(seed);

	if (p.kind == K_STABLE) {
		p.e = stable_base(p.slot, t) + r % stable_size(p.slot, t);
	} else if (p.kind == K_CHURN || p.kind == K_SAME) {
		p.slot = p.kind == K_CHURN ? w : same[r & 1];
		p.e = CHURN_AREA + p.slot * SLOT + (p.kind == K_CHURN ?
			r % (PM_MEM_NTYPES * RSTRIDE) : 1 + (r >> 1) % 0xfff);
	} else if (p.kind == K_CORE) {
		p.e = STEXT - 0x1000 + r % (END - STEXT + 0x2000);
	} else {   /* a gap in a stable slot, unused module space, low (per-cpu) space */
		p.e = r % 3 == 0 ? stable_base(p.slot, t % 6) + RMAX + (r >> 2) % RMAX :
		      r % 3 == 1 ? NEVER_AREA + (r >> 2) % (4 * SLOT) : (r >> 2) % SLOT;
	}
	return p;
}

struct out {
	int64_t owner[BATCH], table[BATCH], sym[BATCH];
	uint64_t off[BATCH], size[BATCH], gens[2];
	uint8_t reason[BATCH];
};

static struct ans answer(const struct out *o, int i, int bt)
{
	struct ans a = { o->owner[i], o->table[i], o->sym[i], o->off[i], o->size[i], o->reason[i] };

	if (bt && a.reason == PM_SYM_FOUND)
		a.off -= 1;   /* %pB: the lookup was at addr - 1, offset + 1 */
	return a;
}

/* Generations: ordered, monotonic, and bracketing the writer's changes. */
static void check_gens(const struct out *o, uint64_t *prev, uint64_t d0, uint64_t s1)
{
	if (o->gens[0] > o->gens[1])
		fail("gens[0] > gens[1]", o->gens[0], NULL);
	if (o->gens[0] < *prev)
		fail("generation went back", o->gens[0], NULL);
	/* two steps per change: odd while it is published, even after */
	if (o->gens[0] < gen0 + 2 * d0)
		fail("generation misses a change completed before the batch", o->gens[0], NULL);
	if (o->gens[1] > gen0 + 2 * s1)
		fail("generation counts a change not begun", o->gens[1], NULL);
	*prev = o->gens[1];
}

/* Equal generations: one map, so repeated probes of one slot agree. */
static void check_same(const struct probe *ps, const struct out *o, int bt, const int *same)
{
	int first[2] = { -1, -1 };

	atomic_fetch_add_explicit(&same_gen_batches, 1, memory_order_relaxed);
	for (int i = 0; i < BATCH; i++) {
		int k = ps[i].slot == same[0] ? 0 : 1;
		struct ans a, b;

		if (ps[i].kind != K_SAME)
			continue;
		if (first[k] < 0)
			first[k] = i;
		if (o->owner[i] == o->owner[first[k]] && o->table[i] == o->table[first[k]])
			continue;
		a = answer(o, first[k], bt);
		b = answer(o, i, bt);
		if (atomic_fetch_add(&mixed, 1) < 3)
			fprintf(stderr, "MIXED: gens %" PRIu64 " == %" PRIu64 " but %#" PRIx64 " -> owner %"
				PRId64 " table %" PRId64 ", then %#" PRIx64 " -> owner %" PRId64 " table %"
				PRId64 "\n", o->gens[0], o->gens[1], ps[first[k]].e, a.owner, a.table,
				ps[i].e, b.owner, b.table);
		return;
	}
}

/* The batch one address per call, as pymod._symfast asks. */
static void lookup_singly(const uint64_t *addrs, int bt, struct out *o)
{
	struct pm_sym_answer a;

	pthread_once(&gil_once, make_gil_reader);
	for (int i = 0; i < BATCH; i++) {
		pthread_mutex_lock(&gil);
		o->reason[i] = pm_symmap_lookup1_on(sm, addrs[i], bt, &a, gil_reader);
		pthread_mutex_unlock(&gil);
		o->owner[i] = a.owner;
		o->table[i] = a.table;
		o->sym[i] = a.sym;
		o->off[i] = a.offset;
		o->size[i] = a.size;
	}
}

void *reader(void *arg)
{
	uint64_t seed = (uintptr_t)arg * 2654435761u + 1, addrs[BATCH], prev = 0, d0, s1;
	struct probe ps[BATCH];
	struct out o;

	while (!atomic_load(&stop)) {
		int bt = (rnd(&seed) & 7) == 0;
		int same[2] = { (int)(rnd(&seed) % WINDOW), (int)(rnd(&seed) % WINDOW) };

		for (int i = 0; i < BATCH; i++) {
			ps[i] = make_probe(&seed, same);
			addrs[i] = ps[i].e + (uint64_t)bt;
		}
		d0 = atomic_load(&ops_done);
		if ((rnd(&seed) & 3) == 0) {
			lookup_singly(addrs, bt, &o);
			o.gens[0] = 1;     /* no generations: skip the batch-wide checks */
			o.gens[1] = 2;
		} else {
			if (pm_symmap_lookup(sm, addrs, BATCH, bt, o.owner, o.table, o.sym, o.off,
					     o.size, o.reason, o.gens) != PM_OK)
				fail("pm_symmap_lookup failed", 0, NULL);
			s1 = atomic_load(&ops_started);
			check_gens(&o, &prev, d0, s1);
		}
		for (int i = 0; i < BATCH; i++) {
			struct ans a = answer(&o, i, bt);

			check_answer(&ps[i], &a, d0);
		}
		if (o.gens[0] == o.gens[1] && o.gens[0] % 2 == 0 && same[0] != same[1])
			check_same(ps, &o, bt, same);
		atomic_fetch_add_explicit(&reads, BATCH, memory_order_relaxed);
	}
	return NULL;
}

