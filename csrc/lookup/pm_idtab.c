/* The id index, writer side and self-check: see pm_idtab.h for the contract. */
#include "pm_idtab.h"

#include <stdlib.h>

const uint64_t pm_idtab_tomb_word = 0;

/* A rebuilt table is at most a quarter full; the smallest has 16 slots. */
#define IDTAB_MIN_SLOTS 16

/*
 * A new table of @slots slots, all NULL (calloc: an all-zero atomic
 * pointer is NULL on every platform this builds for).  Writer-private until
 * the caller publishes it.
 */
static struct pm_idtab *idtab_alloc(size_t slots)
{
	struct pm_idtab *t = calloc(1, sizeof(*t) + slots * sizeof(t->slot[0]));

	if (!t)
		return NULL;
	t->mask = slots - 1;
	t->used = 0;
	return t;
}

/*
 * Writer lock held.  Keeps @t while it has room for @extra more inserts and
 * is not mostly empty (a table over 16 times its live entries shrinks, so
 * memory follows the module count down too).  Otherwise copies the live
 * entries into a table of 4x (live + extra) slots, rounded up to a power of
 * 2: O(slots) work at most once per slots/4 operations.
 */
struct pm_idtab *pm_idtab_fit(struct pm_idtab *t, size_t live, size_t extra)
{
	size_t slots = t ? t->mask + 1 : 0, want = IDTAB_MIN_SLOTS;
	struct pm_idtab *nt;

	if (t && t->used + extra <= slots / 2 &&
	    (slots == IDTAB_MIN_SLOTS || live * 16 >= slots))
		return t;
	while (want < 4 * (live + extra))
		want *= 2;
	nt = idtab_alloc(want);
	if (!nt)
		return NULL;
	for (size_t i = 0; i < slots; i++) {
		struct pm_module *m = pm_load_relaxed(&t->slot[i]);

		if (m && m != PM_IDTAB_TOMB)
			pm_idtab_add(nt, m);
	}
	return nt;
}

/*
 * Writer lock held; @m's id is absent and @t has room.  Takes the first
 * tombstone or NULL on the probe path: every live id's slot stays reachable
 * (no NULL appears before it).  The release store publishes @m, fully
 * initialised, to readers probing @t right now.
 */
void pm_idtab_add(struct pm_idtab *t, struct pm_module *m)
{
	size_t i = pm_idtab_hash(m->id) & t->mask;
	struct pm_module *cur;

	while ((cur = pm_load_relaxed(&t->slot[i])) != NULL && cur != PM_IDTAB_TOMB)
		i = (i + 1) & t->mask;
	if (!cur)
		t->used++;
	pm_store_release(&t->slot[i], m);
}

/*
 * Writer lock held; @m is live in @t.  Its slot becomes a tombstone, not
 * NULL, so probes for ids further along the path go on past it.  Relaxed:
 * the tombstone publishes no data (readers never dereference it), and @m
 * itself stays allocated for readers already holding it (grace period).
 */
void pm_idtab_del(struct pm_idtab *t, struct pm_module *m)
{
	size_t i = pm_idtab_hash(m->id) & t->mask;

	while (pm_load_relaxed(&t->slot[i]) != m)
		i = (i + 1) & t->mask;
	pm_store_relaxed(&t->slot[i], PM_IDTAB_TOMB);
}

/* Writer lock held (validate). */
long pm_idtab_count(struct pm_idtab *t)
{
	size_t live = 0, used = 0, slots;

	if (!t)
		return 0;
	slots = t->mask + 1;
	for (size_t i = 0; i < slots; i++) {
		struct pm_module *m = pm_load_relaxed(&t->slot[i]);

		used += m != NULL;
		live += m != NULL && m != PM_IDTAB_TOMB;
	}
	if (used != t->used || used * 2 > slots)
		return -1;
	return (long)live;
}
