/*
 * Latch tree: two copies of a red-black tree behind a sequence counter, so
 * that readers never block and never write shared memory.
 *
 * Invariant: whenever the sequence is even, copy 0 is a complete, valid tree
 * and readers use it; whenever it is odd, copy 1 is.  A writer changes only
 * the copy readers are currently told to avoid:
 *     seq++ (odd)  -> modify copy 0 -> seq++ (even) -> modify copy 1
 * Each bump is bracketed by release fences (smp_wmb; seq++; smp_wmb).
 *
 * Writers: hold the owner's writer lock across a whole insert/erase.
 * Readers: pm_latch_find() needs no lock, but must run inside an RCU read
 * section (pm_rcu.h): an erased node stays reachable by a slow reader until
 * a grace period has passed, and only then may its memory be reused.
 * A reader may conclude: the node returned contained @addr at some moment
 * during the call (or no node did), i.e. the answer is linearizable.  (The
 * map layered on top also marks removed nodes dead before erasing them
 * lazily; it checks that flag on the node a lookup returns.)
 */
#ifndef PM_LATCH_H
#define PM_LATCH_H

#include "pm_rbtree.h"

struct pm_latch_root {
	_Atomic unsigned seq;
	pm_rb_root tree[2];
};

void pm_latch_init(struct pm_latch_root *root);
/*
 * One latch update (two sequence bumps in all): erase @nerase nodes, then
 * insert @ninsert nodes, in each copy.  Erasing first lets an inserted range
 * reuse one whose node is being erased in the same update.
 */
void pm_latch_update(struct pm_latch_root *root, struct pm_node *const *erase, size_t nerase,
		     struct pm_node *const *insert, size_t ninsert);

/* Reader side of the sequence protocol. */
static inline unsigned pm_latch_begin(struct pm_latch_root *root)
{
	return pm_load_acquire(&root->seq);
}

/* True when the copy read since pm_latch_begin() may have changed under us. */
static inline int pm_latch_retry(struct pm_latch_root *root, unsigned start)
{
	pm_fence_acquire(); /* smp_rmb: our tree loads before the re-read */
	return pm_load_relaxed(&root->seq) != start;
}

/*
 * Node containing @addr in the copy chosen by @seq, or NULL.  Sets *torn when
 * the walk exceeded the depth bound (only possible while the copy is being
 * modified, so the caller's retry check will fail too).
 */
static inline struct pm_node *pm_latch_walk(struct pm_latch_root *root, unsigned seq,
					    uint64_t addr, int *torn)
{
	int c = seq & 1, depth = 0;
	struct pm_node *n = pm_load_acquire(&root->tree[c]);

	while (n) {
		if (++depth > PM_RB_MAX_DEPTH) {
			*torn = 1;
			return NULL;
		}
		/* Both children start loading while this node is compared: on a
		 * tree larger than the caches the next level's miss overlaps
		 * this one's work (a prefetch never faults, even on a node a
		 * writer is unlinking). */
		__builtin_prefetch(pm_load_relaxed(&n->child[c][0]));
		__builtin_prefetch(pm_load_relaxed(&n->child[c][1]));
		if (addr < n->base)
			n = pm_rb_child(n, c, 0);
		else if (addr - n->base >= n->size)
			n = pm_rb_child(n, c, 1);
		else
			return n;
	}
	return NULL;
}

/* Lock-free lookup; call inside an RCU read section. */
static inline struct pm_node *pm_latch_find(struct pm_latch_root *root, uint64_t addr)
{
	struct pm_node *n;
	unsigned seq;
	int torn;

	do {
		torn = 0;
		seq = pm_latch_begin(root);
		n = pm_latch_walk(root, seq, addr, &torn);
	} while (pm_latch_retry(root, seq) || torn);
	return n;
}

#endif /* PM_LATCH_H */
