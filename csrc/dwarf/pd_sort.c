/*
 * A batch of addresses in address order, by an LSD radix sort of (address,
 * index) pairs on the bits in which the addresses differ (2 or 3 passes
 * for kernel text), so big batches can be answered in address order.
 * The pairs carry their keys: every pass reads and writes sequentially.
 */
#include <stdlib.h>
#include "pd_internal.h"
#include "pd_sort.h"

#define RADIX_BITS 11
#define RADIX (1u << RADIX_BITS)

static void radix_pass(const struct pd_pair *in, struct pd_pair *out, uint64_t n,
		       unsigned shift, uint64_t base)
{
	uint64_t count[RADIX] = {0}, sum = 0;

	for (uint64_t k = 0; k < n; k++)
		count[((in[k].key - base) >> shift) & (RADIX - 1)]++;
	for (unsigned d = 0; d < RADIX; d++) {
		uint64_t c = count[d];

		count[d] = sum;
		sum += c;
	}
	for (uint64_t k = 0; k < n; k++)
		out[count[((in[k].key - base) >> shift) & (RADIX - 1)]++] = in[k];
}

int pd_sort_pairs(const uint64_t *addrs, uint64_t n, struct pd_pair **sorted)
{
	uint64_t lo = UINT64_MAX, hi = 0;
	struct pd_pair *a, *b, *t;
	unsigned bits = 0;

	*sorted = NULL;
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
		a[k].key = addrs[k];
		a[k].idx = (uint32_t)k;
		lo = addrs[k] < lo ? addrs[k] : lo;
		hi = addrs[k] > hi ? addrs[k] : hi;
	}
	while (bits < 64 && (hi - lo) >> bits)
		bits++;
	for (unsigned shift = 0; shift < bits; shift += RADIX_BITS) {
		radix_pass(a, b, n, shift, lo);
		t = a, a = b, b = t;
	}
	free(b);
	*sorted = a;
	return PD_OK;
}
