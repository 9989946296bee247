/*
 * The module map: writers, single lookups, id queries.  See pymod_lookup.h.
 * Batched lookups (pm_map_find_many) live in pm_batch.c; both files share
 * only pm_map_impl.h, neither calls the other.  The id index is pm_idtab.c.
 *
 * Every writer operation is O(log n) amortised in the number of modules n:
 * the id index is a hash table updated in place (rebuilt only when it
 * doubles or shrinks), the modules list is unlinked through a back link,
 * overlap checks search an address-ordered tree (for the list strategy a
 * writer-private one), and reclamation handles each retired object once.
 */
#include <stdlib.h>
#include <string.h>

#include "pm_idtab.h"
#include "pm_rcu.h"

/* Retired memory (old id tables, removed modules) is freed in batches. */
#define PM_RETIRE_BATCH 32

/*
 * fork() safety.  Invariant: while a process forks, no writer of any live
 * map is inside an operation, so the child's copy of every map is a state
 * between two writer operations (consistent, with its writer lock free),
 * and the child's first write cannot wait on a lock held by a thread that
 * does not exist there.
 * How: every live map is on the registry @maps (under @maps_lock); the
 * pthread_atfork prepare handler takes @maps_lock and then each map's
 * writer lock, waiting for the operations in progress to finish; the parent
 * and child handlers release them all.  (pm_rcu.c's own child handler
 * frees the reader records of the threads the child lost.)
 * Lock order: @maps_lock before any map's lock; writers, which hold a map's
 * lock, never take @maps_lock.  Caller's duty: do not fork from inside a
 * read section or a writer call (the C core never does).
 */
static pthread_mutex_t maps_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pm_map *maps;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
static int fork_ready;

static void fork_prepare(void)
{
	pthread_mutex_lock(&maps_lock);
	for (struct pm_map *m = maps; m; m = m->reg_next)
		pthread_mutex_lock(&m->lock);
}

/* Parent and child alike: the forking thread holds every lock it took. */
static void fork_release(void)
{
	for (struct pm_map *m = maps; m; m = m->reg_next)
		pthread_mutex_unlock(&m->lock);
	pthread_mutex_unlock(&maps_lock);
}

static void fork_install(void)
{
	fork_ready = pthread_atfork(fork_prepare, fork_release, fork_release) == 0;
}

pm_map *pm_map_new(int strategy)
{
	struct pm_map *map;

	if (strategy != PM_STRATEGY_TREE && strategy != PM_STRATEGY_LIST)
		return NULL;
	if (pthread_once(&fork_once, fork_install) != 0 || !fork_ready)
		return NULL; /* no fork handler: not safe to hand out */
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
	pthread_mutex_lock(&maps_lock);
	map->reg_prev = NULL;
	map->reg_next = maps;
	if (maps)
		maps->reg_prev = map;
	maps = map;
	pthread_mutex_unlock(&maps_lock);
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
	pthread_mutex_lock(&maps_lock);
	if (map->reg_prev)
		map->reg_prev->reg_next = map->reg_next;
	else
		maps = map->reg_next;
	if (map->reg_next)
		map->reg_next->reg_prev = map->reg_prev;
	pthread_mutex_unlock(&maps_lock);
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
			vec_push(&map->retired, old);
	}
	/* list_add_rcu at the head; the back links are writer-private. */
	pm_store_relaxed(&mod->next, head);
	mod->prev = NULL;
	if (head)
		head->prev = mod;
	pm_store_release(&map->head, mod);
	if (map->strategy == PM_STRATEGY_TREE) {
		tree_update(map, nodes, n);
	} else {
		for (size_t i = 0; i < n; i++)
			pm_rb_insert(&map->tree.tree[1], nodes[i], 1);
		pm_store_relaxed(&map->nodes, pm_load_relaxed(&map->nodes) + n);
	}
	pm_store_relaxed(&map->count, pm_load_relaxed(&map->count) + 1);
	if (map->retired.n >= PM_RETIRE_BATCH)
		reclaim(map);
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
	if (reserve_step(map, 0))
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
		vec_push(&map->pending, &mod->node[t]);
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
	if (reserve_step(map, PM_MEM_NTYPES)) {
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
		vec_push(&map->doomed, mod);
	else
		vec_push(&map->retired, mod);
	/* Shrink a mostly empty index; on ENOMEM the old one simply stays. */
	nt = pm_idtab_fit(ids, pm_load_relaxed(&map->count), 0);
	if (nt && nt != ids) {
		pm_store_release(&map->ids, nt);
		vec_push(&map->retired, ids);
	}
	if (map->retired.n + map->doomed.n >= PM_RETIRE_BATCH)
		reclaim(map);
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

int pm_map_within(pm_map *map, uint64_t addr, int64_t id)
{
	struct pm_module *mod;
	int rc;

	pm_rcu_read_lock();
	mod = pm_idtab_get(pm_load_acquire(&map->ids), id);
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
	mod = pm_idtab_get(pm_load_acquire(&map->ids), id);
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

/*
 * Writer lock held.  The modules list against its back links and the id
 * index: PM_OK, or the status naming what disagrees.  Counts the live
 * regions into *regions.
 */
static long check_list(struct pm_map *map, long *regions)
{
	struct pm_idtab *ids = pm_load_relaxed(&map->ids);
	struct pm_module *prev = NULL;
	size_t nmods = 0;

	*regions = 0;
	for (struct pm_module *m = pm_load_relaxed(&map->head); m;
	     prev = m, m = pm_load_relaxed(&m->next), nmods++) {
		if (m->prev != prev)
			return PM_ELIST;
		if (pm_idtab_get(ids, m->id) != m)
			return PM_EIDINDEX;
		for (int t = 0; t < PM_MEM_NTYPES; t++)
			*regions += pm_load_relaxed(&m->size[t]) != 0;
	}
	if (pm_idtab_count(ids) != (long)nmods)
		return PM_EIDINDEX;
	return nmods == pm_load_relaxed(&map->count) ? PM_OK : PM_ECOUNT;
}

long pm_map_validate(pm_map *map)
{
	long nodes[2], live, linked, rc;

	pthread_mutex_lock(&map->lock);
	rc = check_list(map, &live);
	if (rc)
		goto out;
	for (int c = 0; c < 2; c++) {
		nodes[c] = pm_rb_validate(&map->tree.tree[c], c);
		if (nodes[c] < 0) {
			rc = c ? PM_ETREE1 : PM_ETREE0;
			goto out;
		}
	}
	/* Dead nodes are still linked until the next latch update.  The list
	 * strategy keeps copy 1 only, as its overlap index. */
	linked = live + (long)map->pending.n;
	rc = nodes[1] == linked && pm_load_relaxed(&map->nodes) == (size_t)linked &&
	     nodes[0] == (map->strategy == PM_STRATEGY_TREE ? linked : 0) ? live : PM_ENODES;
out:
	pthread_mutex_unlock(&map->lock);
	return rc;
}

int pm_map_set_payload(struct pm_map *map, int64_t id, void *payload, void **old)
{
	struct pm_module *m;

	pthread_mutex_lock(&map->lock);
	m = pm_idtab_get(pm_load_relaxed(&map->ids), id);
	if (m) {
		*old = pm_load_relaxed(&m->payload);
		pm_store_release(&m->payload, payload);
	}
	pthread_mutex_unlock(&map->lock);
	return m ? PM_OK : PM_ENOENT;
}

void *pm_map_get_payload(struct pm_map *map, int64_t id)
{
	struct pm_module *m;
	void *p;

	pthread_mutex_lock(&map->lock);
	m = pm_idtab_get(pm_load_relaxed(&map->ids), id);
	p = m ? pm_load_relaxed(&m->payload) : NULL;
	pthread_mutex_unlock(&map->lock);
	return p;
}
