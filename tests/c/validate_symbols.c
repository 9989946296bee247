/*
 * Stress validation of the symbolizer core (pm_sym.c), like validate_lookup.c:
 * the tagged tables, the writer and main (the readers and their reference
 * answers are in validate_symbols_readers.c, the layout in validate_symbols.h).
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "validate_symbols.h"

pm_symmap *sm;
struct rec *_Atomic *recs;
int64_t max_tags;
int64_t stable_tag[STABLE];
uint64_t gen0;
_Atomic uint64_t ops_started, ops_done;
_Atomic long found, same_gen_batches, mixed;
static int64_t ntags;   /* tags handed out: the writer's alone */

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
	start_threads(th, READERS, reader);
	for (int64_t k = 0; k < STEPS; k++) {
		churn_step(&seed, k, cur);
		if (k % CORE_EVERY == CORE_EVERY - 1)
			core_step(&seed, &core, (int)(k / CORE_EVERY) + 1);
	}
	atomic_store(&stop, 1);
	join_threads(th, READERS);
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
