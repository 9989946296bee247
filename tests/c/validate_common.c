/*
 * The C stress validators' shared helpers (declared in validate_common.h):
 * counters, clock, comparators, reader threads.
 */
#define _GNU_SOURCE
#include <time.h>

#include "validate_common.h"

_Atomic int stop;
/* Reader-written counters on a line of their own, apart from the state
 * readers only read. */
_Atomic long violations __attribute__((aligned(64)));
_Atomic long reads;

int count_violation(void)
{
	return atomic_fetch_add(&violations, 1) < 10;
}

double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

void start_threads(pthread_t *th, int n, void *(*fn)(void *))
{
	for (long i = 0; i < n; i++)
		pthread_create(&th[i], NULL, fn, (void *)(i + 1));
}

void join_threads(pthread_t *th, int n)
{
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
}
