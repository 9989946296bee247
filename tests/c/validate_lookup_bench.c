/*
 * The lookup validator's measuring modes (see validate_lookup.c for usage):
 *   bench: reader throughput alone, beside a churning writer (flat out and
 *          paced) and beside a control thread that only copies memory; no
 *          checks on the hot path.
 *   grow:  one writer alone fills and empties maps of N modules; the
 *          invariant checked is pm_map_validate()'s, at 4 checkpoints each
 *          way (not timed): the map is well formed and holds PM_MEM_NTYPES
 *          regions for every module inserted and not yet removed, and
 *          pm_map_count() agrees.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "validate_lookup.h"

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

/* Interleaved repetitions, median of each: external load drifts, and
 * interleaving spreads it evenly over the modes being compared. */
int run_bench(double seconds, int nreaders, int reps)
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

int run_grow(int argc, char **argv)
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

