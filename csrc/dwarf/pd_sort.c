/*
 * The order of a batch of addresses, by an LSD radix sort on the bits in
 * which they differ (2 or 3 passes for kernel text), so big batches can be
 * answered in address order.
 */
#include <stdlib.h>
#include "pd_internal.h"

#define RADIX_BITS 11
#define RADIX (1u << RADIX_BITS)

int pd_sort_order(const uint64_t *addrs, uint64_t n, uint32_t **order);

static void radix_pass(const uint64_t *key, const uint32_t *in, uint32_t *out, uint64_t n,
		       unsigned shift, uint64_t base)
{
	uint64_t count[RADIX] = {0}, sum = 0;

	for (uint64_t k = 0; k < n; k++)
		count[((key[in[k]] - base) >> shift) & (RADIX - 1)]++;
	for (unsigned d = 0; d < RADIX; d++) {
		uint64_t c = count[d];

		count[d] = sum;
		sum += c;
	}
	for (uint64_t k = 0; k < n; k++)
		out[count[((key[in[k]] - base) >> shift) & (RADIX - 1)]++] = in[k];
}

int pd_sort_order(const uint64_t *addrs, uint64_t n, uint32_t **order)
{
	uint64_t lo = UINT64_MAX, hi = 0;
	uint32_t *a, *b, *t;
	unsigned bits = 0;

	*order = NULL;
	if (n > UINT32_MAX)
		return PD_EINVAL;
	a = malloc((size_t)n * sizeof(*a));
	b = malloc((size_t)n * sizeof(*b));
	if (!a || !b) {
		free(a);
		free(b);
		return PD_ENOMEM;
	}
	for (uint64_t k = 0; k < n; k++) {
		a[k] = (uint32_t)k;
		lo = addrs[k] < lo ? addrs[k] : lo;
		hi = addrs[k] > hi ? addrs[k] : hi;
	}
	while (bits < 64 && (hi - lo) >> bits)
		bits++;
	for (unsigned shift = 0; shift < bits; shift += RADIX_BITS) {
		radix_pass(addrs, a, b, n, shift, lo);
		t = a, a = b, b = t;
	}
	free(b);
	*order = a;
	return PD_OK;
}
