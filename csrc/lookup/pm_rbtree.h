/*
 * A red-black tree of disjoint address ranges, built for a latch.
 *
 * Each node carries two independent sets of links and colours ("copies"), so
 * the same node can sit in two trees at once; every operation names the copy
 * it works on.  There are no parent pointers: writers rebalance along an
 * explicit path stack, which keeps a node to one cache line (key, both
 * copies' child links and the owner id are everything a reader touches).
 *
 * Invariants (per copy, between writer operations): the usual red-black
 * rules; keys (base) strictly ordered; ranges [base, base+size) disjoint.
 *
 * Callers: writers hold the owner's writer lock for the whole operation.
 * Every child-link store is one atomic release store, so a lockless reader
 * walking a copy while it is rebalanced sees, at each step, some node that
 * was linked at some moment (never a torn pointer, never uninitialised
 * memory).  Such a walk may miss nodes or revisit them; it is the latch's
 * sequence check, not this file, that makes a reader's answer correct, and
 * the reader's depth bound that makes its walk finite.
 */
#ifndef PM_RBTREE_H
#define PM_RBTREE_H

#include <stddef.h>
#include <stdint.h>

#include "pm_atomic.h"

/* Height bound of a valid tree with < 2^63 nodes is 2*log2(n+1) <= 126. */
#define PM_RB_MAX_DEPTH 128

struct pm_node {
	uint64_t base;                        /* immutable while linked */
	uint64_t size;                        /* immutable while linked, > 0 */
	struct pm_node *_Atomic child[2][2];  /* [copy][0 = left, 1 = right] */
	int64_t id;                           /* owner module id */
	uint8_t type;                         /* index in its group (mod_mem_type) */
	/* Set (once) when the region is removed but the node is still linked,
	 * waiting to be erased by the map's next latch update; readers that
	 * land on a dead node answer "no module". */
	_Atomic uint8_t dead;
} __attribute__((aligned(64)));

typedef struct pm_node *_Atomic pm_rb_root;

/*
 * Colours live off the nodes' cache lines: a recolouring would otherwise
 * dirty a line every reader walks through.  Nodes come in groups of
 * PM_RB_GROUP (node->type is the index), and right after a group's nodes
 * sits its colour block, uint8_t [PM_RB_GROUP][2] (writer-private).
 */
#define PM_RB_GROUP 7

static inline uint8_t *pm_rb_red(struct pm_node *n, int copy)
{
	struct pm_node *first = n - n->type;

	return (uint8_t *)(first + PM_RB_GROUP) + n->type * 2 + copy;
}

static inline struct pm_node *pm_rb_child(struct pm_node *n, int copy, int dir)
{
	return pm_load_acquire(&n->child[copy][dir]);
}

/* Link @node (key node->base, not yet in copy @copy) and rebalance. */
void pm_rb_insert(pm_rb_root *root, struct pm_node *node, int copy);

/* Unlink @node (currently in copy @copy) and rebalance. */
void pm_rb_erase(pm_rb_root *root, struct pm_node *node, int copy);

/*
 * Writer-side overlap query: a node of copy @copy that is not dead and whose
 * range intersects [base, base+size), or NULL.  Caller holds the writer lock.
 */
struct pm_node *pm_rb_overlap(pm_rb_root *root, int copy, uint64_t base, uint64_t size);

/*
 * Validate copy @copy: order, disjointness, red-black rules.  Returns the
 * node count, or -1 when an invariant is broken.  Caller holds the writer
 * lock (test/debug use).
 */
long pm_rb_validate(pm_rb_root *root, int copy);

#endif /* PM_RBTREE_H */
