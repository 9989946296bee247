/*
 * The per-architecture hooks of the relocation library (not part of the
 * cffi API).  One architecture is one file, pm_reloc_<arch>.c, defining
 * one const struct pm_reloc_arch; pm_reloc.c lists them in its table.
 *
 * The common loop (pm_reloc.c) reads each Elf64_Rela, refuses a symbol
 * index past the table, computes S + A (modulo 2**64, as the kernel's u64)
 * and calls the hook with it; the hook does the rest of the kernel's
 * apply_relocate_add() for that one entry: the type's formula, its checks,
 * and the write through pm_reloc_target(), which is the only way to reach
 * the region's bytes.
 */
#ifndef PM_RELOC_ARCH_H
#define PM_RELOC_ARCH_H

#include "pymod_reloc.h"

/* The region the section lies in. */
struct pm_reloc_region {
	unsigned char *bytes;
	size_t size;
	uint64_t base;
};

/*
 * One relocation of @type at address @loc; *val is S + A on entry and, on
 * return, the value the kernel's message would print (after a PC-relative
 * subtraction, say).  Returns PM_RELOC_OK (also for a type that writes
 * nothing) or a negative status.
 */
typedef int pm_reloc_one_fn(const struct pm_reloc_region *region, uint32_t type,
			    uint64_t loc, uint64_t *val);

struct pm_reloc_arch {
	const char *name;          /* as pymod.arch names it: "x86_64" */
	uint16_t machine;          /* ELF e_machine */
	pm_reloc_one_fn *apply_rela;
};

/*
 * The @size bytes at @loc inside @region, or NULL when any of them lies
 * outside it (the caller returns PM_RELOC_ERANGE: pymod's own bound).
 */
unsigned char *pm_reloc_target(const struct pm_reloc_region *region, uint64_t loc, size_t size);

/* Little-endian field access, whatever the host's order. */
uint64_t pm_reloc_get_le(const unsigned char *p, size_t size);
void pm_reloc_put_le(unsigned char *p, uint64_t v, size_t size);

/* The architectures (one line each in pm_reloc.c's table). */
extern const struct pm_reloc_arch pm_reloc_x86_64;

#endif /* PM_RELOC_ARCH_H */
