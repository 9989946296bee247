/*
 * Stress validation of the lookup core (ck regressions/validate style): the
 * invariant check and main.  The bench and grow modes are in
 * validate_lookup_bench.c, the shared layout and probes in validate_lookup.h.
 *
 * One writer churns modules through WINDOW address slots (remove the oldest,
 * immediately insert a new module into the freed range, drop init regions
 * of the middle-aged ones) while READERS threads look up addresses.  Every
 * read is checked:
 *   - an address inside one of STABLE always-loaded modules returns it;
 *   - an address in a churn slot returns -1 or a module that uses that slot,
 *     that was inserted, and whose remove() (or, for an init region, whose
 *     remove_init()) had not completed before the lookup began.
 * Single lookups, within() and batched lookups (both algorithms) are checked;
 * half the single lookups run on one serialized reader record that a mutex
 * (standing for the CPython extensions' GIL) lets one reader at a time use.
 *
 * Sizes are macros so CI (and sanitizer builds) can shrink them:
 *   -DSTEPS=... writer iterations, -DREADERS=..., -DSTABLE=..., -DWINDOW=...
 *
 * Usage: validate_lookup [check | fork | bench [seconds [readers [reps]]] |
 *                         grow tree|list N...]
 *   check: run the invariant stress, exit 1 on any violation.
 *   fork:  fork while another thread is inside a read section on a
 *          serialized record; the child's grace period must still end.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "validate_lookup.h"
#include "pm_rcu.h"

/* Reader-hot globals apart from the ones the writer updates every step. */
pm_map *map __attribute__((aligned(64)));
_Atomic int64_t removed_upto __attribute__((aligned(64))) = -1;
_Atomic int64_t init_removed_upto = -1;
_Atomic int64_t inserted_upto = -1;

/* The serialized reader record and the lock that serializes it (the GIL). */
static pthread_mutex_t gil = PTHREAD_MUTEX_INITIALIZER;
static struct pm_rcu_reader *gil_reader;

static void fail(const char *what, uint64_t addr, int64_t got)
{
	if (count_violation())
		fprintf(stderr, "VIOLATION: %s: addr %#" PRIx64 " -> %" PRId64 "\n", what, addr, got);
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

		if (rnd(&seed) & 1) {
			check(&p, pm_map_find(map, p.addr), r0, ir0);
			if (p.stable_id >= 0 && pm_map_within(map, p.addr, p.stable_id) != 1)
				fail("within() denies a stable module", p.addr, p.stable_id);
		} else {
			pthread_mutex_lock(&gil);
			check(&p, pm_map_find_on(map, p.addr, gil_reader), r0, ir0);
			if (p.stable_id >= 0 &&
			    pm_map_within_on(map, p.addr, p.stable_id, gil_reader) != 1)
				fail("within_on() denies a stable module", p.addr, p.stable_id);
			pthread_mutex_unlock(&gil);
		}

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

void churn_step(int64_t k)
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

void load_stable(void)
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
	start_threads(th, READERS, reader_check);
	for (int64_t k = 0; k < STEPS; k++)
		churn_step(k);
	atomic_store(&stop, 1);
	join_threads(th, READERS);
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

/* A thread that opens a section on the serialized record and stays in it
 * until told to leave. */
static _Atomic int in_section, leave;

static void *section_holder(void *arg)
{
	(void)arg;
	pm_rcu_read_lock_on(gil_reader);
	atomic_store(&in_section, 1);
	while (!atomic_load(&leave))
		pm_cpu_relax();
	pm_rcu_read_unlock_on(gil_reader);
	return NULL;
}

/* The child lost the thread inside the section: the record must be idle
 * and still owned there, and a remove (a grace period at reclaim) must end;
 * alarm() turns a hang into a failure. */
static int run_fork(void)
{
	pthread_t th;
	int status;
	pid_t pid;

	map = pm_map_new(PM_STRATEGY_TREE);
	load_stable();
	pthread_create(&th, NULL, section_holder, NULL);
	while (!atomic_load(&in_section))
		pm_cpu_relax();
	pid = fork();
	if (pid == 0) {
		alarm(20);
		/* Idle, and still its owner's: no thread of the child may take it. */
		if (atomic_load(&gil_reader->ctr) != 0 || atomic_load(&gil_reader->used) != 1)
			_exit(5);
		if (pm_map_remove(map, 0) != PM_OK)
			_exit(3);
		pm_map_reclaim(map);
		_exit(pm_map_find_on(map, AREA, gil_reader) == -1 ? 0 : 4);
	}
	atomic_store(&leave, 1);
	pthread_join(th, NULL);
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return 2;
	printf("fork: child %s\n", WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "ok" : "FAILED");
	pm_map_free(map);
	return !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(int argc, char **argv)
{
	gil_reader = pm_rcu_reader_new_serialized();
	if (!gil_reader)
		return 2;
	if (argc > 1 && strcmp(argv[1], "fork") == 0)
		return run_fork();
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
