/*
 * The lookup core's stress validator, shared between its parts
 * (validate_lookup.c: the invariant check and main; validate_lookup_bench.c:
 * the bench and grow modes): sizes as macros CI can shrink, the address
 * layout, the state the writer publishes for the readers, and the probes
 * both kinds of reader draw.
 */
#ifndef PM_VALIDATE_LOOKUP_H
#define PM_VALIDATE_LOOKUP_H

#include "pymod_lookup.h"
#include "validate_common.h"

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

extern pm_map *map;
extern _Atomic int64_t removed_upto;       /* churn k whose remove() returned */
extern _Atomic int64_t init_removed_upto;  /* churn k whose remove_init() returned */
extern _Atomic int64_t inserted_upto;      /* churn k whose insert() returned */

/* Region t of a module in slot base @b: 7 disjoint ranges inside the slot. */
static inline uint64_t region_base(uint64_t b, int t) { return b + (uint64_t)t * 0x20000; }
static inline uint64_t region_size(int t) { return 0x1000 * (uint64_t)(t + 1); }

static inline void regions(uint64_t slot_base, uint64_t *base, uint64_t *size)
{
	for (int t = 0; t < PM_MEM_NTYPES; t++) {
		base[t] = region_base(slot_base, t);
		size[t] = region_size(t);
	}
}

/* Address + what it must satisfy. */
struct probe {
	uint64_t addr;
	int64_t stable_id;   /* >= 0: must be exactly this */
	int slot, type;      /* churn probe otherwise */
};

static inline struct probe make_probe(uint64_t *seed)
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

void churn_step(int64_t k);
void load_stable(void);
int run_bench(double seconds, int nreaders, int reps);
int run_grow(int argc, char **argv);

#endif
