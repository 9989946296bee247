/* Module memory: see pm_modmem.h for the contract. */
#define _GNU_SOURCE
#include "pm_modmem.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "pm_map_impl.h"

#define CHUNK ((size_t)2 << 20)

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

#if defined(__SANITIZE_ADDRESS__)

struct pm_module *pm_modmem_alloc(void)
{
	struct pm_module *mod = aligned_alloc(64, sizeof(*mod));

	if (mod)
		memset(mod, 0, sizeof(*mod));
	return mod;
}

void pm_modmem_free(struct pm_module *mod)
{
	free(mod);
}

#else

/* A free block's first word links it to the next free one. */
struct free_block {
	struct free_block *next;
};

_Static_assert(sizeof(struct pm_module) % 64 == 0, "blocks must keep nodes on their lines");
_Static_assert(sizeof(struct pm_module) <= CHUNK, "a module must fit a chunk");

static struct free_block *free_list;  /* under @lock */
static char *cur, *end;               /* the newest chunk's unused tail, under @lock */
static unsigned long nchunks;         /* under @lock */

/* Map a new CHUNK-aligned chunk (over-map, then trim the slack); 0 or -1. */
static int chunk_new(void)
{
	size_t len = 2 * CHUNK;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *a;

	if (p == MAP_FAILED)
		return -1;
	a = (char *)(((uintptr_t)p + CHUNK - 1) & ~(uintptr_t)(CHUNK - 1));
	if (a > p)
		munmap(p, (size_t)(a - p));
	if (a + CHUNK < p + len)
		munmap(a + CHUNK, (size_t)(p + len - (a + CHUNK)));
	if (nchunks++)
		(void)madvise(a, CHUNK, MADV_HUGEPAGE); /* advice only: may be refused */
	cur = a;
	end = a + CHUNK;
	return 0;
}

struct pm_module *pm_modmem_alloc(void)
{
	void *block = NULL;

	pthread_mutex_lock(&lock);
	if (free_list) {
		block = free_list;
		free_list = free_list->next;
	} else if ((cur && (size_t)(end - cur) >= sizeof(struct pm_module)) || chunk_new() == 0) {
		block = cur;
		cur += sizeof(struct pm_module);
	}
	pthread_mutex_unlock(&lock);
	if (block)
		memset(block, 0, sizeof(struct pm_module));
	return block;
}

void pm_modmem_free(struct pm_module *mod)
{
	struct free_block *b = (struct free_block *)(void *)mod;

	if (!mod)
		return;
	pthread_mutex_lock(&lock);
	b->next = free_list;
	free_list = b;
	pthread_mutex_unlock(&lock);
}

#endif

void pm_modmem_fork_lock(void)
{
	pthread_mutex_lock(&lock);
}

void pm_modmem_fork_unlock(void)
{
	pthread_mutex_unlock(&lock);
}
