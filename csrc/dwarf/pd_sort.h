/* Sorting a lookup batch by address (pd_sort.c, used by pd_index.c). */
#ifndef PD_SORT_H
#define PD_SORT_H

#include <stdint.h>

struct pd_pair {
	uint64_t key;
	uint32_t idx, pad;
};

int pd_sort_pairs(const uint64_t *addrs, uint64_t n, struct pd_pair **sorted);

#endif
