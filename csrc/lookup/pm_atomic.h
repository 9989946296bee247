/*
 * Named atomic helpers for every shared access of the lookup core.
 *
 * Every load or store that can race with another thread goes through one of
 * these, so the memory order of each access is written down once, by name,
 * and ThreadSanitizer sees only C11 atomics on the racy paths.  Plain loads
 * and stores remain only for data that is private to its writer or
 * immutable while shared (a node's key after publication).
 */
#ifndef PM_ATOMIC_H
#define PM_ATOMIC_H

#include <stdatomic.h>
#include <stdint.h>

/* Relaxed: no ordering, only freedom from tearing (READ_ONCE/WRITE_ONCE). */
#define pm_load_relaxed(p)      atomic_load_explicit((p), memory_order_relaxed)
#define pm_store_relaxed(p, v)  atomic_store_explicit((p), (v), memory_order_relaxed)

/*
 * Acquire load / release store pair: a reader that acquires a pointer sees
 * every plain write the writer made before releasing it (publication).
 */
#define pm_load_acquire(p)      atomic_load_explicit((p), memory_order_acquire)
#define pm_store_release(p, v)  atomic_store_explicit((p), (v), memory_order_release)

/* Fences: smp_rmb/smp_wmb/smp_mb equivalents. */
#define pm_fence_acquire()      atomic_thread_fence(memory_order_acquire)
#define pm_fence_release()      atomic_thread_fence(memory_order_release)
#define pm_fence_full()         atomic_thread_fence(memory_order_seq_cst)

#define pm_fetch_add(p, v)      atomic_fetch_add_explicit((p), (v), memory_order_seq_cst)

static inline void pm_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

#endif /* PM_ATOMIC_H */
