/*
 * The module map's single lookups (mod_find, within_module) and id queries,
 * readers all: each runs inside an RCU read section and never blocks.  The
 * consistency check and the payload slot, which take the writer lock, are
 * here too.  See pymod_lookup.h for the contract.
 */
#include <stdlib.h>
#include <string.h>

#include "pm_idtab.h"
#include "pm_rcu.h"

int64_t pm_map_find(pm_map *map, uint64_t addr)
{
	int64_t id;

	pm_rcu_read_lock();
	id = pm_find_locked(map, addr);
	pm_rcu_read_unlock();
	return id;
}

/* within_module() by id.  Caller: inside an RCU read section. */
static inline int within_locked(pm_map *map, uint64_t addr, int64_t id)
{
	struct pm_module *mod = pm_idtab_get(pm_load_acquire(&map->ids), id);

	return mod ? pm_within(mod, addr) : PM_ENOENT;
}

int pm_map_within(pm_map *map, uint64_t addr, int64_t id)
{
	int rc;

	pm_rcu_read_lock();
	rc = within_locked(map, addr, id);
	pm_rcu_read_unlock();
	return rc;
}

int64_t pm_map_find_on(pm_map *map, uint64_t addr, struct pm_rcu_reader *r)
{
	int64_t id;

	pm_rcu_read_lock_on(r);
	id = pm_find_locked(map, addr);
	pm_rcu_read_unlock_on(r);
	return id;
}

int pm_map_within_on(pm_map *map, uint64_t addr, int64_t id, struct pm_rcu_reader *r)
{
	int rc;

	pm_rcu_read_lock_on(r);
	rc = within_locked(map, addr, id);
	pm_rcu_read_unlock_on(r);
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
