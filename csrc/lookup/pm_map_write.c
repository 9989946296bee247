/*
 * The module map's writers: insert (with its overlap checks) and remove,
 * O(log n) amortised each; the deferred work they queue is pm_map.c's.
 * See pymod_lookup.h for the contract.
 */
#include <stdlib.h>
#include <string.h>

#include "pm_idtab.h"
#include "pm_rcu.h"

/* Retired memory (old id tables, removed modules) is freed in batches. */
#define PM_RETIRE_BATCH 32

/*
 * Writer-side: a live module with a region overlapping [base, base+size).
 * Writer lock held.  Searches latch copy 1, which is complete whenever the
 * writer lock is held between operations (for the list strategy it is the
 * writer's own index and nothing else).  O(log n), plus the dead nodes
 * (removed, not yet erased) that intersect the range.
 */
static struct pm_module *find_overlap(struct pm_map *map, uint64_t base, uint64_t size)
{
	struct pm_node *n = pm_rb_overlap(&map->tree.tree[1], 1, base, size);

	return n ? (struct pm_module *)(n - n->type) : NULL;
}

static void widen(_Atomic uint64_t *bound, uint64_t v, int is_min)
{
	uint64_t cur = pm_load_relaxed(bound);

	if (is_min ? v < cur : v > cur)
		pm_store_relaxed(bound, v);
}

/* Argument checks of an insert that need no map: PM_OK or why not. */
static int check_regions(const uint64_t *base, const uint64_t *size)
{
	for (int t = 0; t < PM_MEM_NTYPES; t++) {
		if (size[t] && base[t] + (size[t] - 1) < base[t])
			return PM_EBADREGION;
		for (int u = 0; u < t; u++)
			if (size[t] && size[u] && base[u] <= base[t] + (size[t] - 1) &&
			    base[t] <= base[u] + (size[u] - 1))
				return PM_ESELFOVERLAP;
	}
	return PM_OK;
}

/* A new, unpublished module (writer-private until pm_map_insert links it). */
static struct pm_module *module_new(int64_t id, const uint64_t *base, const uint64_t *size)
{
	struct pm_module *mod = aligned_alloc(64, sizeof(*mod));

	if (!mod)
		return NULL;
	memset(mod, 0, sizeof(*mod));
	mod->id = id;
	for (int t = 0; t < PM_MEM_NTYPES; t++) {
		atomic_init(&mod->base[t], base[t]);
		atomic_init(&mod->size[t], size[t]);
		mod->node[t].base = base[t];
		mod->node[t].size = size[t];
		mod->node[t].id = id;
		mod->node[t].type = (uint8_t)t;
	}
	return mod;
}

/* Writer lock held: PM_EOVERLAP with *conflict set if any of @mod's regions
 * overlaps a live module's, else PM_OK. */
static int check_overlaps(struct pm_map *map, struct pm_module *mod, int64_t *conflict)
{
	for (int t = 0; t < PM_MEM_NTYPES; t++) {
		struct pm_module *other;

		if (!mod->node[t].size)
			continue;
		other = find_overlap(map, mod->node[t].base, mod->node[t].size);
		if (other) {
			*conflict = other->id;
			return PM_EOVERLAP;
		}
	}
	return PM_OK;
}

/*
 * Publish @mod, whose checks passed and whose room was reserved: nothing
 * here can fail.  Writer lock held; @nt is the id table to use (the current
 * one, or a bigger one not yet published, from pm_idtab_fit).  Order follows
 * mod_tree_insert: bounds first, then the id index and the list, then the
 * tree (each published by a release, so a reader that reaches @mod sees it
 * fully initialised).
 */
static void insert_commit(struct pm_map *map, struct pm_module *mod, struct pm_idtab *nt)
{
	struct pm_idtab *old = pm_load_relaxed(&map->ids);
	struct pm_module *head = pm_load_relaxed(&map->head);
	struct pm_node *nodes[PM_MEM_NTYPES];
	size_t n = 0;

	for (int t = 0; t < PM_MEM_NTYPES; t++) {
		if (!mod->node[t].size)
			continue;
		widen(&map->addr_min, mod->node[t].base, 1);
		widen(&map->addr_max, mod->node[t].base + (mod->node[t].size - 1), 0);
		mod->in_tree[t] = 1;
		nodes[n++] = &mod->node[t];
	}
	pm_idtab_add(nt, mod);
	if (nt != old) {
		pm_store_release(&map->ids, nt);
		if (old)
			pm_map_vec_push(&map->retired, old);
	}
	/* list_add_rcu at the head; the back links are writer-private. */
	pm_store_relaxed(&mod->next, head);
	mod->prev = NULL;
	if (head)
		head->prev = mod;
	pm_store_release(&map->head, mod);
	if (map->strategy == PM_STRATEGY_TREE) {
		pm_map_tree_update(map, nodes, n);
	} else {
		for (size_t i = 0; i < n; i++)
			pm_rb_insert(&map->tree.tree[1], nodes[i], 1);
		pm_store_relaxed(&map->nodes, pm_load_relaxed(&map->nodes) + n);
	}
	pm_store_relaxed(&map->count, pm_load_relaxed(&map->count) + 1);
	if (map->retired.n >= PM_RETIRE_BATCH)
		pm_map_reclaim_locked(map);
}

int pm_map_insert(pm_map *map, int64_t id, const uint64_t *base, const uint64_t *size,
		  int64_t *conflict)
{
	return pm_map_insert_payload(map, id, base, size, NULL, conflict);
}

int pm_map_insert_payload(struct pm_map *map, int64_t id, const uint64_t *base,
			  const uint64_t *size, void *payload, int64_t *conflict)
{
	struct pm_module *mod;
	struct pm_idtab *nt;
	int rc;

	*conflict = -1;
	if (id < 0)
		return PM_EINVAL;
	rc = check_regions(base, size);
	if (rc)
		return rc;
	mod = module_new(id, base, size);
	if (!mod)
		return PM_ENOMEM;
	atomic_init(&mod->payload, payload);

	pthread_mutex_lock(&map->lock);
	rc = PM_EDUPID;
	if (pm_idtab_get(pm_load_relaxed(&map->ids), id))
		goto fail;
	rc = check_overlaps(map, mod, conflict);
	if (rc)
		goto fail;
	rc = PM_ENOMEM;
	if (pm_map_reserve_step(map, 0))
		goto fail;
	nt = pm_idtab_fit(pm_load_relaxed(&map->ids), pm_load_relaxed(&map->count), 1);
	if (!nt)
		goto fail;
	insert_commit(map, mod, nt);
	pthread_mutex_unlock(&map->lock);
	return PM_OK;
fail:
	pthread_mutex_unlock(&map->lock);
	free(mod);
	return rc;
}

/*
 * Take @mod's linked nodes (only the init ones if @init_only) out of the
 * lookups.  TREE: mark them dead and queue them for erasure by the next
 * latch update (from now on no lookup answers with them); returns how many
 * were queued, room in map->pending having been reserved by the caller.
 * LIST: erase them from the writer's overlap index at once (no reader walks
 * it); returns 0.  Writer lock held.
 */
static size_t tree_kill(struct pm_map *map, struct pm_module *mod, int init_only)
{
	size_t n = 0, erased = 0;

	for (int t = init_only ? PM_MEM_INIT_TEXT : 0; t < PM_MEM_NTYPES; t++) {
		if (!mod->in_tree[t])
			continue;
		mod->in_tree[t] = 0;
		if (map->strategy == PM_STRATEGY_LIST) {
			pm_rb_erase(&map->tree.tree[1], &mod->node[t], 1);
			erased++;
			continue;
		}
		pm_store_release(&mod->node[t].dead, 1);
		pm_map_vec_push(&map->pending, &mod->node[t]);
		n++;
	}
	if (erased)
		pm_store_relaxed(&map->nodes, pm_load_relaxed(&map->nodes) - erased);
	return n;
}

/*
 * list_del_rcu: unlink @mod through its back link in O(1).  Writer lock held.
 * @mod's own next link stays intact, so a reader standing on @mod still
 * reaches the rest of the list; @mod is freed only after a grace period.
 */
static void list_unlink(struct pm_map *map, struct pm_module *mod)
{
	struct pm_module *prev = mod->prev, *next = pm_load_relaxed(&mod->next);

	pm_store_release(prev ? &prev->next : &map->head, next);
	if (next)
		next->prev = prev;
}

int pm_map_remove(pm_map *map, int64_t id)
{
	struct pm_module *mod;
	struct pm_idtab *ids, *nt;

	pthread_mutex_lock(&map->lock);
	ids = pm_load_relaxed(&map->ids);
	mod = pm_idtab_get(ids, id);
	if (!mod) {
		pthread_mutex_unlock(&map->lock);
		return PM_ENOENT;
	}
	if (pm_map_reserve_step(map, PM_MEM_NTYPES)) {
		pthread_mutex_unlock(&map->lock);
		return PM_ENOMEM;
	}
	list_unlink(map, mod);
	pm_idtab_del(ids, mod);
	pm_store_relaxed(&map->count, pm_load_relaxed(&map->count) - 1);
	/*
	 * The range is reusable at once: from here no lookup answers @mod (its
	 * nodes are dead or gone), and an insert erases dead nodes before
	 * linking new ones.  Its memory must outlive readers already on it:
	 * freed after its nodes are erased plus a grace period, shared by a
	 * batch of removals (one synchronize per batch keeps writers from
	 * polling readers' records on every call, each poll a reader's miss).
	 */
	if (tree_kill(map, mod, 0) || map->pending.n)
		pm_map_vec_push(&map->doomed, mod);
	else
		pm_map_vec_push(&map->retired, mod);
	/* Shrink a mostly empty index; on ENOMEM the old one simply stays. */
	nt = pm_idtab_fit(ids, pm_load_relaxed(&map->count), 0);
	if (nt && nt != ids) {
		pm_store_release(&map->ids, nt);
		pm_map_vec_push(&map->retired, ids);
	}
	if (map->retired.n + map->doomed.n >= PM_RETIRE_BATCH)
		pm_map_reclaim_locked(map);
	pthread_mutex_unlock(&map->lock);
	return PM_OK;
}

int pm_map_remove_init(pm_map *map, int64_t id)
{
	struct pm_module *mod;

	pthread_mutex_lock(&map->lock);
	mod = pm_idtab_get(pm_load_relaxed(&map->ids), id);
	if (!mod) {
		pthread_mutex_unlock(&map->lock);
		return PM_ENOENT;
	}
	if (pm_map_reserve_step(map, PM_MEM_NTYPES)) {
		pthread_mutex_unlock(&map->lock);
		return PM_ENOMEM;
	}
	tree_kill(map, mod, 1);
	for (int t = PM_MEM_INIT_TEXT; t < PM_MEM_NTYPES; t++)
		pm_store_relaxed(&mod->size[t], 0);
	/* No grace period: the init nodes are part of the module's allocation
	 * and are freed with it, after the grace period of pm_map_remove(). */
	pthread_mutex_unlock(&map->lock);
	return PM_OK;
}
