/*
 * What the C stress validators share (validate_lookup*.c and
 * validate_symbols*.c, each built as its own program with validate_common.c):
 * the stop flag the readers poll, the violation and read counters, the
 * xorshift generator both draw probes from, a monotonic clock, qsort
 * comparators, and starting / joining the reader threads.  The invariants
 * themselves live with each program.
 */
#ifndef PM_VALIDATE_COMMON_H
#define PM_VALIDATE_COMMON_H

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

extern _Atomic int stop;                      /* set once: readers finish */
extern _Atomic long violations, reads;

/* xorshift64: cheap, and inline so probe generation stays off the profile. */
static inline uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Count a violation; nonzero for the first 10, the ones worth printing. */
int count_violation(void);

double now(void);
int cmp_double(const void *a, const void *b);
int cmp_u64(const void *a, const void *b);

/* Threads th[0..n) run @fn with arguments 1..n (each reader's seed). */
void start_threads(pthread_t *th, int n, void *(*fn)(void *));
void join_threads(pthread_t *th, int n);

#endif
