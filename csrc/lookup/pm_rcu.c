/* RCU-style grace periods: see pm_rcu.h for the contract. */
#define _GNU_SOURCE
#include "pm_rcu.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

#include "pm_atomic.h"

_Atomic uint64_t pm_rcu_gp_ctr = 1;
static struct pm_rcu_reader *_Atomic registry;
static pthread_mutex_t gp_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t exit_key;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

static _Thread_local struct pm_rcu_reader *self;
static _Thread_local unsigned nesting;

/* Thread exit: the record goes back to the pool (it is never freed, so a
 * concurrent synchronize() may still read it safely). */
static void reader_release(void *arg)
{
	struct pm_rcu_reader *r = arg;

	pm_store_release(&r->ctr, 0);
	pm_store_release(&r->used, 0);
}

/*
 * fork() child: only the forking thread survives, but the records of the
 * parent's other threads were copied, some perhaps marked "in a read
 * section" forever, which would hang every synchronize() in the child.
 * They are released; the forking thread keeps its own (not inside a read
 * section: the lookup core never forks from one), and serialized records
 * stay their owners', idle.
 */
static void after_fork_child(void)
{
	for (struct pm_rcu_reader *r = pm_load_relaxed(&registry); r;
	     r = pm_load_relaxed(&r->next)) {
		pm_store_relaxed(&r->ctr, 0);
		pm_store_relaxed(&r->used, r == self || r->serialized);
	}
	pthread_mutex_init(&gp_lock, NULL);
}

static void make_key(void)
{
	(void)pthread_key_create(&exit_key, reader_release);
	(void)pthread_atfork(NULL, NULL, after_fork_child);
}

/* A new record, in use, pushed on the registry (lock-free); NULL when out
 * of memory. */
static struct pm_rcu_reader *reader_push(int serialized)
{
	struct pm_rcu_reader *r = aligned_alloc(64, sizeof(*r)), *head;

	if (!r)
		return NULL;
	atomic_init(&r->ctr, 0);
	atomic_init(&r->used, 1);
	r->serialized = serialized;
	head = pm_load_relaxed(&registry);
	do {
		pm_store_relaxed(&r->next, head);
	} while (!atomic_compare_exchange_weak_explicit(&registry, &head, r,
			memory_order_release, memory_order_relaxed));
	return r;
}

/* First read section of a thread: reuse a free record or push a new one.
 * Lock-free, so even registration never blocks on a writer. */
static struct pm_rcu_reader *reader_register(void)
{
	struct pm_rcu_reader *r;

	pthread_once(&exit_once, make_key);
	for (r = pm_load_acquire(&registry); r; r = pm_load_acquire(&r->next)) {
		int expect = 0;

		if (atomic_compare_exchange_strong(&r->used, &expect, 1))
			goto out;
	}
	r = reader_push(0);
	if (!r)
		abort(); /* 64 bytes once per thread: nothing sane to unwind to */
out:
	(void)pthread_setspecific(exit_key, r);
	self = r;
	return r;
}

struct pm_rcu_reader *pm_rcu_reader_new_serialized(void)
{
	pthread_once(&exit_once, make_key); /* the fork handler */
	return reader_push(1);
}

/* A thread's own record: the outermost section publishes it as a
 * serialized record's does (pm_rcu.h); inner ones only count. */
void pm_rcu_read_lock(void)
{
	if (nesting++)
		return;
	pm_rcu_read_lock_on(self ? self : reader_register());
}

void pm_rcu_read_unlock(void)
{
	if (--nesting)
		return;
	pm_rcu_read_unlock_on(self);
}

void pm_rcu_synchronize(void)
{
	struct pm_rcu_reader *r;
	uint64_t gp;

	pthread_mutex_lock(&gp_lock);
	pm_fence_full(); /* unlinking stores before the advance */
	gp = pm_fetch_add(&pm_rcu_gp_ctr, 1) + 1;
	pm_fence_full(); /* the advance before reading any record */
	for (r = pm_load_acquire(&registry); r; r = pm_load_acquire(&r->next)) {
		unsigned backoff = 1;
		uint64_t c;

		/*
		 * Exponential backoff between polls: every poll pulls the reader's
		 * record line away from it, and a reader re-entering its section
		 * then pays a coherence miss.  Polling rarely keeps readers at full
		 * speed while a writer waits.
		 */
		while ((c = pm_load_acquire(&r->ctr)) != 0 && c < gp) {
			if (backoff <= 1024) {
				for (unsigned i = 0; i < backoff; i++)
					pm_cpu_relax();
				backoff *= 2;
			} else {
				sched_yield();
			}
		}
	}
	pthread_mutex_unlock(&gp_lock);
}
