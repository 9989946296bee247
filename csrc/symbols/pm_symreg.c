/*
 * The registry of live symmaps: handles, references and fork().
 *
 * Handles: each symmap gets a number never reused in the process, so code
 * outside this library (the C fast path, csrc/symfast) names a symmap
 * without taking an address from Python: pm_symmap_get() turns a handle
 * into a reference, or refuses it.
 *
 * References: the creator's (pm_symmap_new(); pm_symmap_free() drops it)
 * and one per pm_symmap_get(); the last pm_symmap_put() frees the symmap.
 * They are counted under @reg_lock, which also guards the list.
 *
 * fork() safety, as pm_map.c gives it to maps.  Invariant: while a process
 * forks, no writer of any live symmap is inside an operation, so the
 * child's copy of each is a state between two writer calls, its writer lock
 * free.  How: the prepare handler takes @reg_lock, then each symmap's
 * writer lock (waiting for the writer in progress); the parent and child
 * handlers release them all.  Lock order: @reg_lock, then symmap locks,
 * then map locks (pm_map.c's prepare handler, installed before this one by
 * pm_symmap_new(), runs after it); a writer holds its symmap's lock and
 * then takes its map's, and never takes @reg_lock.  Caller's duty, as for
 * maps: do not fork from inside a read section or a writer call.
 */
#include <stdlib.h>

#include "pm_sym_impl.h"

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pm_symmap *symmaps;        /* newest first */
static uint64_t next_handle = 1;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
static int fork_ready;

/* The forking thread, before fork(): holds no symmap or map lock. */
static void fork_prepare(void)
{
	pthread_mutex_lock(&reg_lock);
	for (struct pm_symmap *sm = symmaps; sm; sm = sm->reg_next)
		pthread_mutex_lock(&sm->lock);
}

/* Parent and child alike: the forking thread holds every lock it took. */
static void fork_release(void)
{
	for (struct pm_symmap *sm = symmaps; sm; sm = sm->reg_next)
		pthread_mutex_unlock(&sm->lock);
	pthread_mutex_unlock(&reg_lock);
}

/* Once per process (pthread_once). */
static void fork_install(void)
{
	fork_ready = pthread_atfork(fork_prepare, fork_release, fork_release) == 0;
}

/* Caller and invariant: see pm_sym_impl.h. */
int pm_symreg_enter(struct pm_symmap *sm)
{
	if (pthread_once(&fork_once, fork_install) != 0 || !fork_ready)
		return PM_ENOMEM;
	pthread_mutex_lock(&reg_lock);
	sm->handle = next_handle++;
	sm->refs = 1;
	sm->reg_prev = NULL;
	sm->reg_next = symmaps;
	if (symmaps)
		symmaps->reg_prev = sm;
	symmaps = sm;
	pthread_mutex_unlock(&reg_lock);
	return PM_OK;
}

/* Caller: holds a reference to @sm.  The handle never changes: no lock. */
uint64_t pm_symmap_handle(pm_symmap *sm)
{
	return sm->handle;
}

/*
 * Any thread, holding no symmap lock.  The newest symmaps are searched
 * first: a handle is usually redeemed right after its symmap was made.
 */
pm_symmap *pm_symmap_get(uint64_t handle)
{
	struct pm_symmap *sm;

	pthread_mutex_lock(&reg_lock);
	for (sm = symmaps; sm; sm = sm->reg_next) {
		if (sm->handle == handle) {
			sm->refs++;
			break;
		}
	}
	pthread_mutex_unlock(&reg_lock);
	return sm;
}

/*
 * Caller: owns the reference it drops and uses @sm no more; holds no
 * symmap lock.  The last reference takes the symmap off the registry
 * (under @reg_lock, so a fork sees it on the list or not at all) and then
 * frees it outside the lock (pm_map_free() takes pm_map.c's registry lock).
 */
void pm_symmap_put(pm_symmap *sm)
{
	int last;

	pthread_mutex_lock(&reg_lock);
	last = --sm->refs == 0;
	if (last) {
		if (sm->reg_prev)
			sm->reg_prev->reg_next = sm->reg_next;
		else
			symmaps = sm->reg_next;
		if (sm->reg_next)
			sm->reg_next->reg_prev = sm->reg_prev;
	}
	pthread_mutex_unlock(&reg_lock);
	if (last)
		pm_symmap_destroy(sm);
}

/* The creator's reference (NULL allowed): see pm_symmap_put(). */
void pm_symmap_free(pm_symmap *sm)
{
	if (sm)
		pm_symmap_put(sm);
}
