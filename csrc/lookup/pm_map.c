/*
 * The module map: writers, single lookups, id queries.  See pymod_lookup.h.
 * Batched lookups (pm_map_find_many) live in pm_batch.c; both files share
 * only pm_map_impl.h, neither calls the other.
 */
#include <stdlib.h>
#include <string.h>

#include "pm_map_impl.h"
#include "pm_rcu.h"

/* Retired memory (old id tables, removed modules) is freed in batches. */
#define PM_RETIRE_BATCH 32

pm_map *pm_map_new(int strategy)
{
	struct pm_map *map;

	if (strategy != PM_STRATEGY_TREE && strategy != PM_STRATEGY_LIST)
		return NULL;
	map = aligned_alloc(64, sizeof(*map));
	if (!map)
		return NULL;
	memset(map, 0, sizeof(*map));
	map->strategy = strategy;
	pthread_mutex_init(&map->lock, NULL);
	pm_latch_init(&map->tree);
	atomic_init(&map->head, NULL);
	atomic_init(&map->addr_min, UINT64_MAX); /* kernel: addr_min = -1UL */
	atomic_init(&map->addr_max, 0);
	atomic_init(&map->ids, NULL);
	atomic_init(&map->count, 0);
	atomic_init(&map->nodes, 0);
	return map;
}

/* Room for @extra more entries; fails before changing anything. */
static int vec_reserve(struct pm_vec *vec, size_t extra)
{
	size_t cap;
	void **v;

	if (vec->n + extra <= vec->cap)
		return PM_OK;
	cap = (vec->cap ? vec->cap * 2 : 64) + extra;
	v = realloc(vec->v, cap * sizeof(*v));
	if (!v)
		return PM_ENOMEM;
	vec->v = v;
	vec->cap = cap;
	return PM_OK;
}

/* Push onto a vector whose room was reserved earlier (cannot fail). */
static void vec_push(struct pm_vec *vec, void *p)
{
	vec->v[vec->n++] = p;
}

/*
 * Room for everything the next writer step may queue: @nodes dead nodes, one
 * doomed module, and in @retired every doomed module plus two more entries.
 */
static int reserve_step(struct pm_map *map, size_t nodes)
{
	if (vec_reserve(&map->pending, nodes) || vec_reserve(&map->doomed, 1) ||
	    vec_reserve(&map->retired, map->doomed.n + 3))
		return PM_ENOMEM;
	return PM_OK;
}

/*
 * One latch update: erase every pending dead node, insert @ins.  Modules
 * whose nodes are now all unlinked move on to wait for a grace period.
 */
static void tree_update(struct pm_map *map, struct pm_node *const *ins, size_t nins)
{
	size_t nerase = map->pending.n;

	if (!nerase && !nins)
		return;
	pm_latch_update(&map->tree, (struct pm_node *const *)map->pending.v, nerase, ins, nins);
	map->pending.n = 0;
	pm_store_relaxed(&map->nodes, pm_load_relaxed(&map->nodes) + nins - nerase);
	for (size_t i = 0; i < map->doomed.n; i++)
		vec_push(&map->retired, map->doomed.v[i]);
	map->doomed.n = 0;
}

/* Erase what is pending, wait for a grace period, free what is retired. */
static void reclaim(struct pm_map *map)
{
	tree_update(map, NULL, 0);
	if (!map->retired.n)
		return;
	pm_rcu_synchronize();
	for (size_t i = 0; i < map->retired.n; i++)
		free(map->retired.v[i]);
	map->retired.n = 0;
}

void pm_map_free(pm_map *map)
{
	struct pm_module *m, *next;

	if (!map)
		return;
	reclaim(map);
	for (m = pm_load_relaxed(&map->head); m; m = next) {
		next = pm_load_relaxed(&m->next);
		free(m);
	}
	free(pm_load_relaxed(&map->ids));
	free(map->pending.v);
	free(map->doomed.v);
	free(map->retired.v);
	pthread_mutex_destroy(&map->lock);
	free(map);
}

int pm_map_strategy(pm_map *map)
{
	return map->strategy;
}

/* Binary search of the id index; NULL when absent. */
static struct pm_module *idtab_get(struct pm_idtab *t, int64_t id, size_t *pos)
{
	size_t lo = 0, hi = t ? t->n : 0;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t->e[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (pos)
		*pos = lo;
	return (t && lo < t->n && t->e[lo].id == id) ? t->e[lo].mod : NULL;
}

/* A copy of @old with @mod inserted at @pos (mod != NULL) or entry @pos dropped. */
static struct pm_idtab *idtab_edit(struct pm_idtab *old, size_t pos, struct pm_module *mod)
{
	size_t n = old ? old->n : 0, nn = mod ? n + 1 : n - 1;
	struct pm_idtab *t = malloc(sizeof(*t) + nn * sizeof(t->e[0]));

	if (!t)
		return NULL;
	t->n = nn;
	if (pos)
		memcpy(t->e, old->e, pos * sizeof(t->e[0]));
	if (mod) {
		t->e[pos].id = mod->id;
		t->e[pos].mod = mod;
		if (n > pos)
			memcpy(t->e + pos + 1, old->e + pos, (n - pos) * sizeof(t->e[0]));
	} else if (n > pos + 1) {
		memcpy(t->e + pos, old->e + pos + 1, (n - pos - 1) * sizeof(t->e[0]));
	}
	return t;
}

/* Writer-side: a live module with a region overlapping [base, base+size). */
static struct pm_module *find_overlap(struct pm_map *map, uint64_t base, uint64_t size)
{
	uint64_t last = base + (size - 1);

	if (map->strategy == PM_STRATEGY_TREE) {
		/* Copy 1 is complete whenever the writer lock is held between ops. */
		struct pm_node *n = pm_rb_overlap(&map->tree.tree[1], 1, base, size);

		return n ? (struct pm_module *)(n - n->type) : NULL;
	}
	for (struct pm_module *m = pm_load_relaxed(&map->head); m;
	     m = pm_load_relaxed(&m->next)) {
		for (int t = 0; t < PM_MEM_NTYPES; t++) {
			uint64_t s = pm_load_relaxed(&m->size[t]);
			uint64_t b = pm_load_relaxed(&m->base[t]);

			if (s && b <= last && base <= b + (s - 1))
				return m;
		}
	}
	return NULL;
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
 * here can fail.  Writer lock held.  Order follows mod_tree_insert: bounds
 * first, then the id index and the list, then the tree (each published by
 * a release, so a reader that reaches @mod sees it fully initialised).
 */
static void insert_commit(struct pm_map *map, struct pm_module *mod, struct pm_idtab *nt)
{
	struct pm_idtab *old = pm_load_relaxed(&map->ids);
	struct pm_node *nodes[PM_MEM_NTYPES];
	size_t n = 0;

	for (int t = 0; t < PM_MEM_NTYPES; t++) {
		if (!mod->node[t].size)
			continue;
		widen(&map->addr_min, mod->node[t].base, 1);
		widen(&map->addr_max, mod->node[t].base + (mod->node[t].size - 1), 0);
		nodes[n++] = &mod->node[t];
	}
	pm_store_release(&map->ids, nt);
	pm_store_relaxed(&mod->next, pm_load_relaxed(&map->head));
	pm_store_release(&map->head, mod);
	if (map->strategy == PM_STRATEGY_TREE) {
		for (size_t i = 0; i < n; i++)
			mod->in_tree[nodes[i]->type] = 1;
		tree_update(map, nodes, n);
	}
	pm_store_relaxed(&map->count, pm_load_relaxed(&map->count) + 1);
	if (old)
		vec_push(&map->retired, old);
	if (map->retired.n >= PM_RETIRE_BATCH)
		reclaim(map);
}

int pm_map_insert(pm_map *map, int64_t id, const uint64_t *base, const uint64_t *size,
		  int64_t *conflict)
{
	struct pm_module *mod;
	struct pm_idtab *nt;
	size_t pos;
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

	pthread_mutex_lock(&map->lock);
	rc = PM_EDUPID;
	if (idtab_get(pm_load_relaxed(&map->ids), id, &pos))
		goto fail;
	rc = check_overlaps(map, mod, conflict);
	if (rc)
		goto fail;
	rc = PM_ENOMEM;
	if (reserve_step(map, 0))
		goto fail;
	nt = idtab_edit(pm_load_relaxed(&map->ids), pos, mod);
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
 * Mark @mod's linked nodes (only the init ones if @init_only) dead and queue
 * them for erasure: from now on no lookup answers with them.  Returns how
 * many were queued.  Room in map->pending was reserved by the caller.
 */
static size_t tree_kill(struct pm_map *map, struct pm_module *mod, int init_only)
{
	size_t n = 0;

	for (int t = init_only ? PM_MEM_INIT_TEXT : 0; t < PM_MEM_NTYPES; t++) {
		if (!mod->in_tree[t])
			continue;
		pm_store_release(&mod->node[t].dead, 1);
		vec_push(&map->pending, &mod->node[t]);
		mod->in_tree[t] = 0;
		n++;
	}
	return n;
}

int pm_map_remove(pm_map *map, int64_t id)
{
	struct pm_module *mod, *_Atomic *link;
	struct pm_idtab *old, *nt;
	size_t pos;

	pthread_mutex_lock(&map->lock);
	old = pm_load_relaxed(&map->ids);
	mod = idtab_get(old, id, &pos);
	if (!mod) {
		pthread_mutex_unlock(&map->lock);
		return PM_ENOENT;
	}
	if (reserve_step(map, PM_MEM_NTYPES) || !(nt = idtab_edit(old, pos, NULL))) {
		pthread_mutex_unlock(&map->lock);
		return PM_ENOMEM;
	}
	/* list_del_rcu: the successor link stays intact for readers on @mod. */
	for (link = &map->head; pm_load_relaxed(link) != mod;
	     link = &pm_load_relaxed(link)->next)
		;
	pm_store_release(link, pm_load_relaxed(&mod->next));
	pm_store_release(&map->ids, nt);
	pm_store_relaxed(&map->count, pm_load_relaxed(&map->count) - 1);
	/*
	 * The range is reusable at once: from here no lookup answers @mod (its
	 * nodes are dead or gone), and an insert erases dead nodes before
	 * linking new ones.  Its memory must outlive readers already on it:
	 * freed after its nodes are erased plus a grace period, shared by a
	 * batch of removals (one synchronize per batch keeps writers from
	 * polling readers' records on every call, each poll a reader's miss).
	 */
	vec_push(&map->retired, old);
	if (tree_kill(map, mod, 0) || map->pending.n)
		vec_push(&map->doomed, mod);
	else
		vec_push(&map->retired, mod);
	if (map->retired.n + map->doomed.n >= PM_RETIRE_BATCH)
		reclaim(map);
	pthread_mutex_unlock(&map->lock);
	return PM_OK;
}

int pm_map_remove_init(pm_map *map, int64_t id)
{
	struct pm_module *mod;

	pthread_mutex_lock(&map->lock);
	mod = idtab_get(pm_load_relaxed(&map->ids), id, NULL);
	if (!mod) {
		pthread_mutex_unlock(&map->lock);
		return PM_ENOENT;
	}
	if (reserve_step(map, PM_MEM_NTYPES)) {
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

void pm_map_reclaim(pm_map *map)
{
	pthread_mutex_lock(&map->lock);
	reclaim(map);
	pthread_mutex_unlock(&map->lock);
}

int64_t pm_map_find(pm_map *map, uint64_t addr)
{
	int64_t id;

	pm_rcu_read_lock();
	id = pm_find_locked(map, addr);
	pm_rcu_read_unlock();
	return id;
}

int64_t pm_map_noop(pm_map *map, uint64_t addr)
{
	(void)map;
	(void)addr;
	return -1;
}

int pm_map_within(pm_map *map, uint64_t addr, int64_t id)
{
	struct pm_module *mod;
	int rc;

	pm_rcu_read_lock();
	mod = idtab_get(pm_load_acquire(&map->ids), id, NULL);
	rc = mod ? pm_within(mod, addr) : PM_ENOENT;
	pm_rcu_read_unlock();
	return rc;
}

uint64_t pm_map_addr_min(pm_map *map)
{
	return pm_load_relaxed(&map->addr_min);
}

uint64_t pm_map_addr_max(pm_map *map)
{
	return pm_load_relaxed(&map->addr_max);
}

size_t pm_map_count(pm_map *map)
{
	return pm_load_relaxed(&map->count);
}

int pm_map_regions(pm_map *map, int64_t id, uint64_t *base, uint64_t *size)
{
	struct pm_module *mod;

	pm_rcu_read_lock();
	mod = idtab_get(pm_load_acquire(&map->ids), id, NULL);
	if (mod)
		for (int t = 0; t < PM_MEM_NTYPES; t++) {
			base[t] = pm_load_relaxed(&mod->base[t]);
			size[t] = pm_load_relaxed(&mod->size[t]);
		}
	pm_rcu_read_unlock();
	return mod ? PM_OK : PM_ENOENT;
}

size_t pm_map_ids(pm_map *map, int64_t *out, size_t cap)
{
	size_t n = 0;

	pm_rcu_read_lock();
	for (struct pm_module *m = pm_load_acquire(&map->head); m;
	     m = pm_load_acquire(&m->next), n++)
		if (n < cap)
			out[n] = m->id;
	pm_rcu_read_unlock();
	return n;
}

long pm_map_validate(pm_map *map)
{
	long nodes[2], expect = 0, linked;
	size_t nmods = 0;
	struct pm_idtab *ids;
	long rc;

	pthread_mutex_lock(&map->lock);
	ids = pm_load_relaxed(&map->ids);
	for (struct pm_module *m = pm_load_relaxed(&map->head); m;
	     m = pm_load_relaxed(&m->next), nmods++) {
		if (idtab_get(ids, m->id, NULL) != m) {
			rc = PM_EIDINDEX;
			goto out;
		}
		for (int t = 0; t < PM_MEM_NTYPES; t++)
			expect += map->strategy == PM_STRATEGY_TREE &&
				  pm_load_relaxed(&m->size[t]) != 0;
	}
	if (nmods != (ids ? ids->n : 0) || nmods != pm_load_relaxed(&map->count)) {
		rc = PM_ECOUNT;
		goto out;
	}
	for (int c = 0; c < 2; c++) {
		nodes[c] = pm_rb_validate(&map->tree.tree[c], c);
		if (nodes[c] < 0) {
			rc = c ? PM_ETREE1 : PM_ETREE0;
			goto out;
		}
	}
	linked = expect + (long)map->pending.n; /* dead nodes are still linked */
	rc = nodes[0] == linked && nodes[1] == linked &&
	     pm_load_relaxed(&map->nodes) == (size_t)linked ? expect : PM_ENODES;
out:
	pthread_mutex_unlock(&map->lock);
	return rc;
}
