/*
 * Batched mod_find (pm_map_find_many): per-address walks, or over the latch
 * tree, sort the batch and answer it with one in-order pass over the tree
 * copy the sequence selects.  Single lookups come from pm_map_impl.h, the
 * only thing this file shares with pm_map.c.
 *
 * Why: a per-address walk is a chain of dependent cache misses and
 * unpredictable branches (about as slow as a binary search over a flat
 * array).  Sorted, the batch visits each tree node once, every address is
 * resolved by a short binary search inside a small slice of the batch, and
 * the only random memory traffic left is the scatter of results.
 *
 * Packing: addresses inside [addr_min, addr_max] become one 64-bit key,
 * (addr - addr_min) << ibits | index, so an LSD radix sort over the offset
 * bits sorts the addresses and carries their positions for free.  Batches
 * whose span and size do not fit 64 bits fall back to per-address walks.
 *
 * Consistency: each pass reads one copy under the latch protocol; if the
 * sequence moved (or the walk hit the depth bound) the whole pass is redone,
 * so all answers come from one consistent copy.  pm_map_find_many() holds
 * an RCU read section for the whole call.
 */
#include <stdlib.h>
#include <string.h>

#include "pm_map_impl.h"
#include "pm_rcu.h"

/* Below this many addresses, or this many tree nodes, a batch is answered
 * by plain walks: a shallow tree stays in L1 and sorting would cost more
 * than it saves (measured: the crossover is near 64 nodes). */
#define PM_BATCH_SORT_MIN 64
#define PM_BATCH_SORT_MIN_NODES 64
#define RADIX_BITS 11
#define RADIX_SIZE (1u << RADIX_BITS)

static inline int bit_width(uint64_t v)
{
	return v ? 64 - __builtin_clzll(v) : 0;
}

/* LSD radix sort of keys[0..n) on bits [shift, shift+bits); result in keys. */
static int radix_sort(uint64_t *keys, size_t n, int shift, int bits)
{
	int passes = (bits + RADIX_BITS - 1) / RADIX_BITS;
	size_t (*hist)[RADIX_SIZE];
	uint64_t *tmp, *src = keys, *dst;

	if (passes == 0 || n < 2)
		return PM_OK;
	hist = calloc((size_t)passes, sizeof(*hist));
	tmp = malloc(n * sizeof(*tmp));
	if (!hist || !tmp) {
		free(hist);
		free(tmp);
		return PM_ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		for (int p = 0; p < passes; p++)
			hist[p][(keys[i] >> (shift + p * RADIX_BITS)) & (RADIX_SIZE - 1)]++;
	dst = tmp;
	for (int p = 0; p < passes; p++) {
		int sh = shift + p * RADIX_BITS;
		size_t sum = 0;

		/* A digit every key shares would be a pure copy: skip it. */
		if (hist[p][(keys[0] >> sh) & (RADIX_SIZE - 1)] == n)
			continue;
		for (unsigned b = 0; b < RADIX_SIZE; b++) {
			size_t c = hist[p][b];

			hist[p][b] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++)
			dst[hist[p][(src[i] >> sh) & (RADIX_SIZE - 1)]++] = src[i];
		uint64_t *t = src;
		src = dst;
		dst = t;
	}
	if (src != keys)
		memcpy(keys, src, n * sizeof(*keys));
	free(hist);
	free(tmp);
	return PM_OK;
}

struct pass {
	const uint64_t *keys;
	int64_t *out;
	uint64_t lo;      /* address of offset 0 */
	int ibits;
	uint64_t imask;
};

static inline uint64_t key_addr(const struct pass *ps, uint64_t k)
{
	return ps->lo + (k >> ps->ibits);
}

static inline void assign(const struct pass *ps, size_t a, size_t b, int64_t id)
{
	for (size_t k = a; k < b; k++)
		ps->out[ps->keys[k] & ps->imask] = id;
}

/* First k in [a, b) whose address is >= v (addresses ascend with k). */
static inline size_t lower_bound(const struct pass *ps, size_t a, size_t b, uint64_t v)
{
	while (a < b) {
		size_t mid = a + (b - a) / 2;

		if (key_addr(ps, ps->keys[mid]) < v)
			a = mid + 1;
		else
			b = mid;
	}
	return a;
}

/* First k in [a, b) whose address is past node @n (all are >= n->base). */
static inline size_t past_node(const struct pass *ps, size_t a, size_t b,
			       const struct pm_node *n)
{
	while (a < b) {
		size_t mid = a + (b - a) / 2;

		if (key_addr(ps, ps->keys[mid]) - n->base < n->size)
			a = mid + 1;
		else
			b = mid;
	}
	return a;
}

/*
 * One in-order pass over copy @seq & 1: every key in [0, m) gets the id of
 * the node containing it, or -1.  Returns 1 when the depth bound was hit.
 */
static int tree_pass(struct pm_latch_root *root, unsigned seq, const struct pass *ps,
		     size_t m)
{
	struct frame { struct pm_node *n; size_t a, b; int depth; }
		stack[2 * PM_RB_MAX_DEPTH + 4];
	int c = seq & 1, sp = 0, torn = 0;

	stack[sp++] = (struct frame){ pm_load_acquire(&root->tree[c]), 0, m, 0 };
	while (sp) {
		struct frame f = stack[--sp];
		size_t p1, p2;

		if (f.a == f.b)
			continue;
		if (!f.n || f.depth > PM_RB_MAX_DEPTH || sp + 2 > (int)(sizeof(stack) / sizeof(stack[0]))) {
			torn |= f.n != NULL;
			assign(ps, f.a, f.b, -1);
			continue;
		}
		p1 = lower_bound(ps, f.a, f.b, f.n->base);
		p2 = past_node(ps, p1, f.b, f.n);
		assign(ps, p1, p2, pm_load_relaxed(&f.n->dead) ? -1 : f.n->id);
		stack[sp++] = (struct frame){ pm_rb_child(f.n, c, 1), p2, f.b, f.depth + 1 };
		stack[sp++] = (struct frame){ pm_rb_child(f.n, c, 0), f.a, p1, f.depth + 1 };
	}
	return torn;
}

/*
 * The sorted algorithm for the whole batch.
 * Caller: inside an RCU read section for the whole call; strategy is TREE.
 * Concludes: each out[i] is an answer pm_find_locked() could have given
 * during the call; when the batch fits the packing, all were read from one
 * consistent tree copy.  PM_ENOMEM leaves @out partly written.
 */
static int batch_sorted(struct pm_map *map, const uint64_t *addrs, int64_t *out, size_t n)
{
	uint64_t lo = pm_load_relaxed(&map->addr_min), hi = pm_load_relaxed(&map->addr_max);
	struct pass ps;
	uint64_t *keys;
	size_t m = 0;
	int sbits, ibits, rc;
	unsigned seq;

	if (n == 0)
		return PM_OK;
	if (lo > hi) { /* empty map */
		for (size_t i = 0; i < n; i++)
			out[i] = -1;
		return PM_OK;
	}
	sbits = bit_width(hi - lo);
	ibits = bit_width(n - 1) ? bit_width(n - 1) : 1;
	if (sbits + ibits > 64) {
		for (size_t i = 0; i < n; i++)
			out[i] = pm_find_locked(map, addrs[i]);
		return PM_OK;
	}
	keys = malloc(n * sizeof(*keys));
	if (!keys)
		return PM_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		uint64_t off = addrs[i] - lo;

		if (off <= hi - lo)
			keys[m++] = off << ibits | i;
		else
			out[i] = -1;
	}
	rc = radix_sort(keys, m, ibits, sbits);
	if (rc == PM_OK && m) {
		ps = (struct pass){ keys, out, lo, ibits, (UINT64_C(1) << ibits) - 1 };
		do {
			seq = pm_latch_begin(&map->tree);
			rc = tree_pass(&map->tree, seq, &ps, m);
		} while (pm_latch_retry(&map->tree, seq) || rc);
	}
	free(keys);
	return rc;
}

int pm_map_find_many(pm_map *map, const uint64_t *addrs, int64_t *out, size_t n, int mode)
{
	int rc = PM_OK;

	if (mode != PM_BATCH_AUTO && mode != PM_BATCH_WALK && mode != PM_BATCH_SORTED)
		return PM_EINVAL;
	pm_rcu_read_lock();
	if (map->strategy == PM_STRATEGY_TREE && mode != PM_BATCH_WALK &&
	    (mode == PM_BATCH_SORTED || (n >= PM_BATCH_SORT_MIN &&
	     pm_load_relaxed(&map->nodes) >= PM_BATCH_SORT_MIN_NODES)))
		rc = batch_sorted(map, addrs, out, n);
	else
		for (size_t i = 0; i < n; i++)
			out[i] = pm_find_locked(map, addrs[i]);
	pm_rcu_read_unlock();
	return rc;
}
