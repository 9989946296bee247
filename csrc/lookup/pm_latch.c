/* Latch tree writer side: see pm_latch.h for the contract. */
#include "pm_latch.h"

void pm_latch_init(struct pm_latch_root *root)
{
	atomic_init(&root->seq, 0);
	atomic_init(&root->tree[0], NULL);
	atomic_init(&root->tree[1], NULL);
}

/* raw_write_seqcount_latch(): order earlier copy updates before the bump and
 * the bump before later ones, so a reader that sees any store of the next
 * phase also sees the new sequence value. */
static void latch_bump(struct pm_latch_root *root)
{
	pm_fence_release();
	pm_store_relaxed(&root->seq, pm_load_relaxed(&root->seq) + 1);
	pm_fence_release();
}

/* Both phases apply the same edit list, so both copies end up equal.
 * Several nodes per phase: one module's regions cost two bumps, not 2*n,
 * which is what readers pay for (each bump is a miss on the seq line and
 * may force a retry). */
void pm_latch_update(struct pm_latch_root *root, struct pm_node *const *erase, size_t nerase,
		     struct pm_node *const *insert, size_t ninsert)
{
	for (int c = 0; c < 2; c++) {
		latch_bump(root);
		for (size_t i = 0; i < nerase; i++)
			pm_rb_erase(&root->tree[c], erase[i], c);
		for (size_t i = 0; i < ninsert; i++)
			pm_rb_insert(&root->tree[c], insert[i], c);
	}
}
