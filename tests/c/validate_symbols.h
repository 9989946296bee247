/*
 * The symbolizer's stress validator, shared between its parts
 * (validate_symbols.c: the tagged tables, the writer and main;
 * validate_symbols_readers.c: the readers and the reference answers they
 * are checked against): sizes, the address layout, the records of every
 * tagged table, and the counters.
 */
#ifndef PM_VALIDATE_SYMBOLS_H
#define PM_VALIDATE_SYMBOLS_H

#include "pymod_lookup.h"
#include "validate_common.h"

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

extern pm_symmap *sm;
extern struct rec *_Atomic *recs;
extern int64_t max_tags;
extern int64_t stable_tag[STABLE];
extern uint64_t gen0;
extern _Atomic uint64_t ops_started, ops_done;
extern _Atomic long found, same_gen_batches, mixed;

/* Stable module @s's region @t; the top module's last region ends at 2^64. */
static inline uint64_t stable_base(int s, int t)
{
	return (s == STABLE - 1 ? TOP_SLOT : AREA + (uint64_t)s * SLOT) + (uint64_t)t * RSTRIDE;
}

static inline uint64_t stable_size(int s, int t)
{
	return s == STABLE - 1 && t == PM_MEM_NTYPES - 1 ? RSTRIDE : 0x1000 * (uint64_t)(t + 1);
}

static inline struct rec *rec_of(int64_t tag)
{
	return tag >= 0 && tag < max_tags ? atomic_load(&recs[tag]) : NULL;
}

void fail(const char *what, uint64_t addr, const struct ans *a);
void *reader(void *arg);

#endif
