/*
 * Stress validation of the symbolizer core (pm_sym.c), like validate_lookup.c.
 * READERS threads call pm_symmap_lookup() on batches; one writer keeps STABLE
 * modules (the last ends at 2^64), churns modules through WINDOW slots (add a
 * full table, replace(drop_init=1) with the core-only one, remove, add a new
 * module in the freed range at once) and replaces vmlinux's table every
 * CORE_EVERY steps.  Tags are unique; what each tagged table holds is kept
 * here for the whole run.  On every answer: a stable module's address is
 * FOUND with its module and tag; an answer naming a table is what a linear
 * scan of that table gives (the kernel's module rule in the region holding
 * the address, get_symbol_pos() for vmlinux); an address no module ever had
 * (outside vmlinux) is UNKNOWN; a table retired before the batch began never
 * answers, nor an init region once init was dropped; gens[0] <= gens[1],
 * never going back, counting exactly the changes done before / begun after
 * the batch.  Equal, even generations must mean one map (repeated probes of
 * a churn slot agree): a batch that breaks this counts as "mixed", a violation.
 * -DSTEPS (writer steps) and -DREADERS size the run; exit 1 on a violation.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pymod_lookup.h"

#ifndef STEPS
#define STEPS 4000
#endif
#ifndef READERS
#define READERS 2
#endif
#define STABLE 16
#define WINDOW 16
#define CORE_EVERY 64
#define BATCH 64
#define MAX_SYMS 64
#define CORE_MAX 512

#define AREA       UINT64_C(0xffffffffc0000000)
#define SLOT       UINT64_C(0x100000)
#define RSTRIDE    UINT64_C(0x20000)        /* region t at slot + t * RSTRIDE */
#define RMAX       UINT64_C(0x10000)        /* churn regions: at most this big */
#define CHURN_AREA (AREA + STABLE * SLOT)
#define NEVER_AREA (CHURN_AREA + WINDOW * SLOT)   /* no module ever */
#define TOP_SLOT   (UINT64_C(0) - PM_MEM_NTYPES * RSTRIDE)  /* last stable one */
#define CHURN_ID0  INT64_C(1000000)
#define STEXT      UINT64_C(0xffffffff81000000)
#define ETEXT      (STEXT + 0x100000)
#define SINIT      (STEXT + 0x200000)
#define EINIT      (SINIT + 0x40000)
#define END        (STEXT + 0x300000)

/* What a tagged table holds; published before its tag is handed out. */
struct rec {
	int64_t owner;                        /* module id or PM_SYM_OWNER_CORE */
	size_t n;
	uint64_t *addr;
	uint64_t base[PM_MEM_NTYPES], size[PM_MEM_NTYPES];   /* its module's */
	int has_end;                          /* vmlinux: KALLSYMS_ALL */
	_Atomic uint64_t retired;             /* ops_done when retired, 0: live */
	_Atomic uint64_t init_gone;           /* ops_done when init was dropped */
};

struct ans {                                  /* no padding: compared with memcmp */
	int64_t owner, table, sym;
	uint64_t off, size;
	int64_t reason;
};

enum kind { K_STABLE, K_CHURN, K_CORE, K_NEVER, K_SAME };
struct probe {
	uint64_t e;                           /* the address looked up */
	int kind, slot;
};

static pm_symmap *sm;
static struct rec *_Atomic *recs;
static int64_t ntags, max_tags;
static int64_t stable_tag[STABLE];
static uint64_t gen0;
static _Atomic int stop;
static _Atomic uint64_t ops_started, ops_done;
static _Atomic long violations, reads, found, same_gen_batches, mixed;

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void fail(const char *what, uint64_t addr, const struct ans *a)
{
	if (atomic_fetch_add(&violations, 1) >= 10)
		return;
	fprintf(stderr, "VIOLATION: %s: addr %#" PRIx64, what, addr);
	if (a)
		fprintf(stderr, " -> owner %" PRId64 " table %" PRId64 " sym %" PRId64
			" off %#" PRIx64 " size %#" PRIx64 " reason %" PRId64, a->owner, a->table,
			a->sym, a->off, a->size, a->reason);
	fputc('\n', stderr);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* Stable module @s's region @t; the top module's last region ends at 2^64. */
static uint64_t stable_base(int s, int t)
{
	return (s == STABLE - 1 ? TOP_SLOT : AREA + (uint64_t)s * SLOT) + (uint64_t)t * RSTRIDE;
}

static uint64_t stable_size(int s, int t)
{
	return s == STABLE - 1 && t == PM_MEM_NTYPES - 1 ? RSTRIDE : 0x1000 * (uint64_t)(t + 1);
}

/* Record a new table; its tag. */
static int64_t new_tag(int64_t owner, const uint64_t *addr, size_t n, const uint64_t *base,
		       const uint64_t *size, int has_end)
{
	struct rec *r = calloc(1, sizeof(*r));

	if (!r || ntags >= max_tags || !(r->addr = malloc((n ? n : 1) * sizeof(uint64_t)))) {
		fprintf(stderr, "setup: out of memory or tags\n");
		exit(2);
	}
	r->owner = owner;
	r->n = n;
	r->has_end = has_end;
	memcpy(r->addr, addr, n * sizeof(uint64_t));
	for (int t = 0; base && t < PM_MEM_NTYPES; t++) {
		r->base[t] = base[t];
		r->size[t] = size[t];
	}
	atomic_store(&recs[ntags], r);
	return ntags++;
}

static struct rec *rec_of(int64_t tag)
{
	return tag >= 0 && tag < max_tags ? atomic_load(&recs[tag]) : NULL;
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

static void *reader(void *arg)
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
		if (pm_symmap_lookup(sm, addrs, BATCH, bt, o.owner, o.table, o.sym, o.off, o.size,
				     o.reason, o.gens) != PM_OK)
			fail("pm_symmap_lookup failed", 0, NULL);
		s1 = atomic_load(&ops_started);
		check_gens(&o, &prev, d0, s1);
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

/* A writer change is done: retire @old, mark @init_gone's init dropped. */
static void op_done(const char *what, int rc, int64_t old, int64_t init_gone)
{
	uint64_t d = atomic_load(&ops_done) + 1;

	if (rc != PM_OK) {
		fprintf(stderr, "writer: %s: %s\n", what, pm_strerror(rc));
		atomic_fetch_add(&violations, 1);
		atomic_fetch_add(&ops_started, (uint64_t)-1);   /* no bump happened */
		return;
	}
	if (old >= 0)
		atomic_store(&rec_of(old)->retired, d);
	if (init_gone >= 0)
		atomic_store(&rec_of(init_gone)->init_gone, d);
	atomic_store(&ops_done, d);
}

/* A writer change: begun, then done. */
#define OP(what, call, old, gone) (atomic_fetch_add(&ops_started, 1), op_done(what, call, old, gone))

/* vmlinux table version @v: aliases, sometimes per-cpu symbols from 0. */
static void core_step(uint64_t *seed, int64_t *cur, int v)
{
	uint64_t a[CORE_MAX], bounds[5] = { STEXT, ETEXT, SINIT, EINIT, END };
	size_t n = 0;
	int has_end = v & 1;
	int64_t tag;

	if (v % 3 == 0)   /* absolute per-cpu symbols: the table spans most of 2^64 */
		for (int i = 0; i < 8; i++)
			a[n++] = (uint64_t)(i / 2) * 0x40;
	for (int i = 0; i < 500; i++) {   /* text (some below _stext), init text, data */
		uint64_t lo = i < 400 ? STEXT - 0x1000 : i < 440 ? SINIT : ETEXT;
		uint64_t span = i < 400 ? ETEXT - lo : i < 440 ? EINIT - SINIT : END - ETEXT;

		a[n++] = lo + (rnd(seed) % (span / 0x10)) * 0x10;
	}
	qsort(a, n, sizeof(a[0]), cmp_u64);
	tag = new_tag(PM_SYM_OWNER_CORE, a, n, NULL, NULL, has_end);
	OP("set_core", pm_symmap_set_core(sm, tag, a, n, bounds, has_end), *cur, -1);
	*cur = tag;
}

/* Symbols of a module: region starts (always if @stable), random ones, aliases. */
static size_t module_syms(uint64_t *seed, const uint64_t *base, const uint64_t *size,
			  int stable, uint64_t *a)
{
	size_t n = 0;

	for (int t = 0; t < PM_MEM_NTYPES; t++) {
		if (!size[t])
			continue;
		if (stable || rnd(seed) % 4)
			a[n++] = base[t];
		for (int k = (int)(rnd(seed) % 6); k > 0; k--)
			a[n++] = base[t] + (rnd(seed) % (size[t] / 0x40 + 1)) * 0x40;
	}
	qsort(a, n, sizeof(a[0]), cmp_u64);
	return n;
}

static void load_stable(uint64_t *seed)
{
	uint64_t base[PM_MEM_NTYPES], size[PM_MEM_NTYPES], a[MAX_SYMS];
	int64_t conflict;

	for (int s = 0; s < STABLE; s++) {
		size_t n;

		for (int t = 0; t < PM_MEM_NTYPES; t++) {
			base[t] = stable_base(s, t);
			size[t] = stable_size(s, t);
		}
		n = module_syms(seed, base, size, 1, a);
		stable_tag[s] = new_tag(s, a, n, base, size, 0);
		OP("add stable", pm_symmap_add(sm, s, base, size, stable_tag[s], a, n, &conflict),
		   -1, -1);
	}
}

/* Writer step @k: remove module k - WINDOW, add module k into its range,
 * end the init of module k - WINDOW / 2 (core-only table, init dropped). */
static void churn_step(uint64_t *seed, int64_t k, int64_t *cur)
{
	uint64_t base[PM_MEM_NTYPES], size[PM_MEM_NTYPES], a[MAX_SYMS];
	uint64_t slot = CHURN_AREA + (uint64_t)(k % WINDOW) * SLOT;
	int64_t conflict, tag, j = k - WINDOW / 2;
	size_t n = 0;

	if (k >= WINDOW)
		OP("remove", pm_symmap_remove(sm, CHURN_ID0 + k - WINDOW), cur[k % WINDOW], -1);
	for (int t = 0; t < PM_MEM_NTYPES; t++) {
		base[t] = slot + t * RSTRIDE;
		size[t] = t && rnd(seed) % 8 == 0 ? 0 : 0x1000 * (1 + rnd(seed) % (RMAX / 0x1000));
	}
	if (k % 13 != 5)   /* now and then a module without symbols */
		n = module_syms(seed, base, size, 0, a);
	tag = new_tag(CHURN_ID0 + k, a, n, base, size, 0);
	OP("add", pm_symmap_add(sm, CHURN_ID0 + k, base, size, tag, a, n, &conflict), -1, -1);
	cur[k % WINDOW] = tag;
	if (j >= 0) {
		const struct rec *full = rec_of(cur[j % WINDOW]);
		uint64_t init = full->base[PM_MEM_INIT_TEXT];

		for (n = 0; n < full->n && full->addr[n] < init; n++)
			;
		tag = new_tag(CHURN_ID0 + j, full->addr, n, full->base, full->size, 0);
		OP("replace", pm_symmap_replace(sm, CHURN_ID0 + j, tag, full->addr, n, 1),
		   cur[j % WINDOW], tag);
		cur[j % WINDOW] = tag;
	}
}

int main(void)
{
	pthread_t th[READERS];
	uint64_t seed = 88172645463325252u;
	int64_t cur[WINDOW], core = -1;

	max_tags = STABLE + 2 * (int64_t)STEPS + STEPS / CORE_EVERY + 2;
	recs = calloc((size_t)max_tags, sizeof(*recs));
	sm = pm_symmap_new();
	if (!recs || !sm)
		return 2;
	core_step(&seed, &core, 0);
	load_stable(&seed);
	gen0 = pm_symmap_generation(sm) - 2 * atomic_load(&ops_done);   /* two steps per change */
	for (long i = 0; i < READERS; i++)
		pthread_create(&th[i], NULL, reader, (void *)(i + 1));
	for (int64_t k = 0; k < STEPS; k++) {
		churn_step(&seed, k, cur);
		if (k % CORE_EVERY == CORE_EVERY - 1)
			core_step(&seed, &core, (int)(k / CORE_EVERY) + 1);
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < READERS; i++)
		pthread_join(th[i], NULL);
	printf("check symbols: %d writer steps, %" PRId64 " tables, %ld equal-generation batches,"
	       " mixed %ld, found %ld, reads %ld, violations %ld\n", STEPS, ntags,
	       atomic_load(&same_gen_batches), atomic_load(&mixed), atomic_load(&found),
	       atomic_load(&reads), atomic_load(&violations));
	pm_symmap_free(sm);
	for (int64_t t = 0; t < ntags; t++)
		free(recs[t]->addr), free(recs[t]);
	free(recs);
	atomic_fetch_add(&violations, atomic_load(&mixed));   /* equal, even gens: one map */
	return atomic_load(&violations) != 0;
}
