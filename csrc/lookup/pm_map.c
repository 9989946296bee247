/*
 * The module map: its life (new, free, fork safety) and the writers'
 * deferred work (reserve, latch update, reclaim).  See pymod_lookup.h.
 * The writers are pm_map_write.c, the single lookups and id queries
 * pm_map_query.c, batched lookups (pm_map_find_many) pm_batch.c; they share
 * pm_map_impl.h.  The id index is pm_idtab.c.
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
void pm_map_vec_push(struct pm_vec *vec, void *p)
{
	vec->v[vec->n++] = p;
}

/*
 * Room for everything the next writer step may queue: @nodes dead nodes, one
 * doomed module, and in @retired every doomed module plus two more entries.
 */
int pm_map_reserve_step(struct pm_map *map, size_t nodes)
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
void pm_map_tree_update(struct pm_map *map, struct pm_node *const *ins, size_t nins)
{
	size_t nerase = map->pending.n;

	if (!nerase && !nins)
		return;
	pm_latch_update(&map->tree, (struct pm_node *const *)map->pending.v, nerase, ins, nins);
	map->pending.n = 0;
	pm_store_relaxed(&map->nodes, pm_load_relaxed(&map->nodes) + nins - nerase);
	for (size_t i = 0; i < map->doomed.n; i++)
		pm_map_vec_push(&map->retired, map->doomed.v[i]);
	map->doomed.n = 0;
}

/* Erase what is pending, wait for a grace period, free what is retired. */
void pm_map_reclaim_locked(struct pm_map *map)
{
	pm_map_tree_update(map, NULL, 0);
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
	pm_map_reclaim_locked(map);
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

void pm_map_reclaim(pm_map *map)
{
	pthread_mutex_lock(&map->lock);
	pm_map_reclaim_locked(map);
	pthread_mutex_unlock(&map->lock);
}
