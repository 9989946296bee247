/*
 * Stress validation of the lookup core (ck regressions/validate style).
 *
 * One writer churns modules through WINDOW address slots (remove the oldest,
 * immediately insert a new module into the freed range, drop init regions
 * of the middle-aged ones) while READERS threads look up addresses.  Every
 * read is checked:
 *   - an address inside one of STABLE always-loaded modules returns it;
 *   - an address in a churn slot returns -1 or a module that uses that slot,
 *     that was inserted, and whose remove() (or, for an init region, whose
 *     remove_init()) had not completed before the lookup began.
 * Single lookups, within() and batched lookups (both algorithms) are checked.
 *
 * Sizes are macros so CI (and sanitizer builds) can shrink them:
 *   -DSTEPS=... writer iterations, -DREADERS=..., -DSTABLE=..., -DWINDOW=...
 *
 * Usage: validate_lookup [check | bench [seconds [readers [reps]]] |
 *                         grow tree|list N...]
 *   check: run the invariant stress, exit 1 on any violation.
 *   bench: reader throughput (pinned threads, no checks on the hot path)
 *          alone; with a writer churning flat out; with a writer churning
 *          one module per 100 us; and with a control thread that only
 *          copies memory.  Prints medians and ratios as JSON.
 *   grow:  for each N, one writer alone inserts N modules in random address
 *          order and removes them oldest first (the old worst case), with
 *          pm_map_validate() at checkpoints (not timed); prints ns per
 *          insert and per remove as JSON, exit 1 if any check fails.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pymod_lookup.h"

#ifndef STEPS
#define STEPS 20000
#endif
#ifndef READERS
#define READERS 2
#endif
#ifndef STABLE
#define STABLE 256
#endif
#ifndef WINDOW
#define WINDOW 64
#endif
#define BATCH 128

#define AREA        UINT64_C(0xffffffffc0000000)
#define SLOT        UINT64_C(0x100000)      /* 1 MiB of address space per module */
#define CHURN_AREA  (AREA + STABLE * SLOT)
#define CHURN_ID0   INT64_C(1000000)

/* Reader-hot globals apart from the ones the writer updates every step. */
static pm_map *map __attribute__((aligned(64)));
static _Atomic int stop;
static _Atomic int64_t removed_upto __attribute__((aligned(64))) = -1; /* churn k whose remove() returned */
static _Atomic int64_t init_removed_upto = -1; /* churn k whose remove_init() returned */
static _Atomic int64_t inserted_upto = -1;     /* churn k whose insert() returned */
static _Atomic long violations __attribute__((aligned(64)));
static _Atomic long reads;

/* Region t of a module in slot base @b: 7 disjoint ranges inside the slot. */
static uint64_t region_base(uint64_t b, int t) { return b + (uint64_t)t * 0x20000; }
static uint64_t region_size(int t) { return 0x1000 * (uint64_t)(t + 1); }

static void regions(uint64_t slot_base, uint64_t *base, uint64_t *size)
{
	for (int t = 0; t < PM_MEM_NTYPES; t++) {
		base[t] = region_base(slot_base, t);
		size[t] = region_size(t);
	}
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void fail(const char *what, uint64_t addr, int64_t got)
{
	if (atomic_fetch_add(&violations, 1) < 10)
		fprintf(stderr, "VIOLATION: %s: addr %#" PRIx64 " -> %" PRId64 "\n", what, addr, got);
}

/* Address + what it must satisfy. */
struct probe {
	uint64_t addr;
	int64_t stable_id;   /* >= 0: must be exactly this */
	int slot, type;      /* churn probe otherwise */
};

static struct probe make_probe(uint64_t *seed)
{
	struct probe p;
	int t = (int)(rnd(seed) % PM_MEM_NTYPES);
	uint64_t off = rnd(seed) % region_size(t);

	p.type = t;
	if (rnd(seed) & 1) {
		int s = (int)(rnd(seed) % STABLE);

		p.stable_id = s;
		p.slot = -1;
		p.addr = region_base(AREA + (uint64_t)s * SLOT, t) + off;
	} else {
		p.stable_id = -1;
		p.slot = (int)(rnd(seed) % WINDOW);
		p.addr = region_base(CHURN_AREA + (uint64_t)p.slot * SLOT, t) + off;
	}
	return p;
}

static void check(const struct probe *p, int64_t got, int64_t r0, int64_t ir0)
{
	if (p->stable_id >= 0) {
		if (got != p->stable_id)
			fail("stable module not found", p->addr, got);
		return;
	}
	if (got == -1)
		return;
	int64_t k = got - CHURN_ID0;

	if (k < 0 || k % WINDOW != p->slot)
		fail("address answered by a module not owning it", p->addr, got);
	else if (k <= r0)
		fail("module returned after its removal completed", p->addr, got);
	else if (p->type >= PM_MEM_INIT_TEXT && k <= ir0)
		fail("init region returned after remove_init completed", p->addr, got);
	else if (k > atomic_load(&inserted_upto) + 1)
		fail("module returned before it was inserted", p->addr, got);
}

static void *reader_check(void *arg)
{
	uint64_t seed = (uintptr_t)arg * 2654435761u + 1;
	uint64_t addrs[BATCH];
	int64_t out[BATCH];
	struct probe ps[BATCH];

	while (!atomic_load(&stop)) {
		int64_t r0 = atomic_load(&removed_upto), ir0 = atomic_load(&init_removed_upto);
		struct probe p = make_probe(&seed);

		check(&p, pm_map_find(map, p.addr), r0, ir0);
		if (p.stable_id >= 0 && pm_map_within(map, p.addr, p.stable_id) != 1)
			fail("within() denies a stable module", p.addr, p.stable_id);

		if ((rnd(&seed) & 15) == 0) {
			int mode = (rnd(&seed) & 1) ? PM_BATCH_SORTED : PM_BATCH_WALK;

			r0 = atomic_load(&removed_upto);
			ir0 = atomic_load(&init_removed_upto);
			for (int i = 0; i < BATCH; i++) {
				ps[i] = make_probe(&seed);
				addrs[i] = ps[i].addr;
			}
			if (pm_map_find_many(map, addrs, out, BATCH, mode) != PM_OK)
				fail("find_many failed", 0, -1);
			for (int i = 0; i < BATCH; i++)
				check(&ps[i], out[i], r0, ir0);
		}
		atomic_fetch_add_explicit(&reads, 1, memory_order_relaxed);
	}
	return NULL;
}

static void churn_step(int64_t k)
{
	uint64_t base[PM_MEM_NTYPES], size[PM_MEM_NTYPES];
	int64_t conflict;

	if (k >= WINDOW) {
		if (pm_map_remove(map, CHURN_ID0 + k - WINDOW) != PM_OK)
			fail("writer: remove failed", 0, k - WINDOW);
		atomic_store(&removed_upto, k - WINDOW);
	}
	regions(CHURN_AREA + (uint64_t)(k % WINDOW) * SLOT, base, size);
	if (pm_map_insert(map, CHURN_ID0 + k, base, size, &conflict) != PM_OK)
		fail("writer: insert into a just-freed range failed", base[0], conflict);
	atomic_store(&inserted_upto, k);
	if (k >= WINDOW / 2) {
		if (pm_map_remove_init(map, CHURN_ID0 + k - WINDOW / 2) != PM_OK)
			fail("writer: remove_init failed", 0, k - WINDOW / 2);
		atomic_store(&init_removed_upto, k - WINDOW / 2);
	}
}

static void load_stable(void)
{
	uint64_t base[PM_MEM_NTYPES], size[PM_MEM_NTYPES];
	int64_t conflict;

	for (int s = 0; s < STABLE; s++) {
		regions(AREA + (uint64_t)s * SLOT, base, size);
		if (pm_map_insert(map, s, base, size, &conflict) != PM_OK) {
			fprintf(stderr, "setup: insert of stable module %d failed\n", s);
			exit(2);
		}
	}
}

static int run_check(int strategy)
{
	pthread_t th[READERS];
	long nodes;

	map = pm_map_new(strategy);
	load_stable();
	atomic_store(&stop, 0);
	for (long i = 0; i < READERS; i++)
		pthread_create(&th[i], NULL, reader_check, (void *)(i + 1));
	for (int64_t k = 0; k < STEPS; k++)
		churn_step(k);
	atomic_store(&stop, 1);
	for (int i = 0; i < READERS; i++)
		pthread_join(th[i], NULL);
	nodes = pm_map_validate(map);
	if (nodes < 0) {
		fprintf(stderr, "final validate: %s\n", pm_strerror((int)nodes));
		fail("final validate", 0, nodes);
	}
	printf("check %s: %d writer steps, %ld reads, final nodes %ld, violations %ld\n",
	       strategy == PM_STRATEGY_TREE ? "tree" : "list", STEPS, atomic_load(&reads),
	       nodes, atomic_load(&violations));
	pm_map_free(map);
	return atomic_load(&violations) != 0;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void *reader_bench(void *arg)
{
	uint64_t seed = (uintptr_t)arg * 2654435761u + 1;
	long n = 0;
	int64_t sink = 0;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		for (int i = 0; i < 64; i++) {
			struct probe p = make_probe(&seed);

			sink += pm_map_find(map, p.addr);
		}
		n += 64;
	}
	atomic_fetch_add(&reads, n + (sink == 42));
	return NULL;
}

/* Writer behaviours for the throughput bench. */
enum wmode { W_NONE, W_CHURN, W_PACED, W_CONTROL };
#define PACE_NS 100000 /* paced churn: one module swap per 100 us */

static _Atomic long writer_steps;

static void *writer_bench(void *arg)
{
	enum wmode mode = (enum wmode)(uintptr_t)arg;
	static char src[1 << 16], dst[1 << 16];

	for (int64_t k = WINDOW; !atomic_load(&stop); k++) {
		atomic_fetch_add_explicit(&writer_steps, 1, memory_order_relaxed);
		if (mode == W_CONTROL) {
			/* Same machine load as a writer, no shared data: separates
			 * hardware contention from the map's own interference. */
			memcpy(dst, src, sizeof(dst));
			__asm__ __volatile__("" ::: "memory");
			continue;
		}
		churn_step(k);
		if (mode == W_PACED) {
			struct timespec ts = { 0, PACE_NS };

			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

/* Bench threads are pinned (readers from CPU 0 up, the writer on the last
 * CPU) so the figure measures interference through memory, not the
 * scheduler stacking a writer on a reader's CPU. */
static void pin(pthread_t th, int cpu)
{
	cpu_set_t set;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	CPU_ZERO(&set);
	CPU_SET(ncpu > 0 ? cpu % ncpu : 0, &set);
	(void)pthread_setaffinity_np(th, sizeof(set), &set);
}

static double bench_once(double seconds, enum wmode mode, int nreaders, double *wrate)
{
	pthread_t th[64], w;
	struct timespec ts = { (time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9) };
	double t0, t1;

	map = pm_map_new(PM_STRATEGY_TREE);
	load_stable();
	atomic_store(&removed_upto, -1);
	atomic_store(&init_removed_upto, -1);
	/* Every mode starts from the churn's steady state (a full window, half
	 * of it past init), so readers see the same map shape with or without a
	 * writer and only the writer's activity differs. */
	for (int64_t k = 0; k < WINDOW; k++)
		churn_step(k);
	atomic_store(&reads, 0);
	atomic_store(&writer_steps, 0);
	atomic_store(&stop, 0);
	t0 = now();
	for (long i = 0; i < nreaders; i++) {
		pthread_create(&th[i], NULL, reader_bench, (void *)(i + 1));
		pin(th[i], (int)i);
	}
	if (mode != W_NONE) {
		pthread_create(&w, NULL, writer_bench, (void *)(uintptr_t)mode);
		pin(w, (int)sysconf(_SC_NPROCESSORS_ONLN) - 1);
	}
	nanosleep(&ts, NULL);
	atomic_store(&stop, 1);
	for (int i = 0; i < nreaders; i++)
		pthread_join(th[i], NULL);
	t1 = now();
	if (mode != W_NONE)
		pthread_join(w, NULL);
	pm_map_free(map);
	*wrate = atomic_load(&writer_steps) / (t1 - t0);
	return atomic_load(&reads) / (t1 - t0);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Interleaved repetitions, median of each: external load drifts, and
 * interleaving spreads it evenly over the modes being compared. */
static int run_bench(double seconds, int nreaders, int reps)
{
	static const char *names[] = { "alone", "churn", "paced_churn", "control" };
	double r[4][32], w[4][32], med[4], wmed[4];

	if (reps > 32)
		reps = 32;
	for (int i = 0; i < reps; i++)
		for (int m = 0; m < 4; m++)
			r[m][i] = bench_once(seconds, (enum wmode)m, nreaders, &w[m][i]);
	printf("{\"readers\": %d, \"reps\": %d, \"seconds\": %.2f", nreaders, reps, seconds);
	for (int m = 0; m < 4; m++) {
		qsort(r[m], (size_t)reps, sizeof(double), cmp_double);
		qsort(w[m], (size_t)reps, sizeof(double), cmp_double);
		med[m] = r[m][reps / 2];
		wmed[m] = w[m][reps / 2];
		printf(", \"%s_lookups_per_s\": %.0f", names[m], med[m]);
	}
	printf(", \"churn_swaps_per_s\": %.0f, \"paced_swaps_per_s\": %.0f", wmed[1], wmed[2]);
	printf(", \"ratio_churn\": %.3f, \"ratio_paced\": %.3f, \"ratio_control\": %.3f"
	       ", \"ratio_churn_vs_control\": %.3f}\n", med[1] / med[0], med[2] / med[0],
	       med[3] / med[0], med[1] / med[3]);
	return 0;
}

/* grow mode: module m of a run lives in slot perm[m] of its own area. */
#define GROW_AREA UINT64_C(0x100000000000)

static int grow_check(const char *when, size_t n, long want)
{
	long got = pm_map_validate(map);

	if (got == want && pm_map_count(map) == n)
		return 0;
	fprintf(stderr, "grow: after %s of %zu: validate %ld (%s), count %zu, want %ld\n",
		when, n, got, got < 0 ? pm_strerror((int)got) : "ok", pm_map_count(map), want);
	return 1;
}

/* Timed phase: [from, to) inserts (or removals) of a run over @perm. */
static double grow_phase(const uint64_t *perm, size_t from, size_t to, int insert)
{
	uint64_t base[PM_MEM_NTYPES], size[PM_MEM_NTYPES];
	int64_t conflict;
	double t0 = now();

	for (size_t m = from; m < to; m++) {
		int rc;

		if (insert) {
			regions(GROW_AREA + perm[m] * SLOT, base, size);
			rc = pm_map_insert(map, (int64_t)m, base, size, &conflict);
		} else {
			rc = pm_map_remove(map, (int64_t)m);
		}
		if (rc != PM_OK) {
			fprintf(stderr, "grow: %s of module %zu: %s\n", insert ? "insert" : "remove",
				m, pm_strerror(rc));
			exit(1);
		}
	}
	return now() - t0;
}

/* One size: ns per insert and per remove, checked at 4 checkpoints each way. */
static int grow_one(int strategy, size_t n, double *ins_ns, double *rem_ns)
{
	uint64_t *perm = malloc(n * sizeof(*perm)), seed = 0x9e3779b97f4a7c15u ^ n;
	double tin = 0, trm = 0;
	int bad = 0;

	if (!perm)
		return 1;
	for (size_t i = 0; i < n; i++)
		perm[i] = i;
	for (size_t i = n; i > 1; i--) { /* Fisher-Yates: random address order */
		size_t j = rnd(&seed) % i;
		uint64_t t = perm[i - 1];

		perm[i - 1] = perm[j];
		perm[j] = t;
	}
	map = pm_map_new(strategy);
	for (int q = 1; q <= 4; q++) {
		tin += grow_phase(perm, n * (q - 1) / 4, n * q / 4, 1);
		bad |= grow_check("inserts", n * q / 4, (long)(n * q / 4) * PM_MEM_NTYPES);
	}
	for (int q = 1; q <= 4; q++) {
		trm += grow_phase(perm, n * (q - 1) / 4, n * q / 4, 0);
		bad |= grow_check("removals", n - n * q / 4, (long)(n - n * q / 4) * PM_MEM_NTYPES);
	}
	pm_map_free(map);
	free(perm);
	*ins_ns = tin / (double)n * 1e9;
	*rem_ns = trm / (double)n * 1e9;
	return bad;
}

static int run_grow(int argc, char **argv)
{
	int strategy = strcmp(argv[2], "list") == 0 ? PM_STRATEGY_LIST : PM_STRATEGY_TREE;
	int bad = 0;

	printf("{\"strategy\": \"%s\", \"rows\": [", argv[2]);
	for (int i = 3; i < argc; i++) {
		size_t n = (size_t)strtoull(argv[i], NULL, 10);
		double ins = 0, rem = 0;

		bad |= grow_one(strategy, n, &ins, &rem);
		printf("%s{\"n_modules\": %zu, \"insert_ns\": %.1f, \"remove_ns\": %.1f}",
		       i > 3 ? ", " : "", n, ins, rem);
		fflush(stdout);
	}
	printf("], \"ok\": %s}\n", bad ? "false" : "true");
	return bad;
}

int main(int argc, char **argv)
{
	if (argc > 2 && strcmp(argv[1], "grow") == 0)
		return run_grow(argc, argv);
	if (argc > 1 && strcmp(argv[1], "bench") == 0)
		return run_bench(argc > 2 ? atof(argv[2]) : 0.5, argc > 3 ? atoi(argv[3]) : 1,
				 argc > 4 ? atoi(argv[4]) : 5);
	if (run_check(PM_STRATEGY_TREE))
		return 1;
	atomic_store(&reads, 0);
	atomic_store(&removed_upto, -1);
	atomic_store(&init_removed_upto, -1);
	atomic_store(&inserted_upto, -1);
	return run_check(PM_STRATEGY_LIST);
}
