/*
 * pymod relocation library: apply_relocate_add() over one RELA section,
 * for each architecture pymod models, behind one table of per-architecture
 * hooks (pm_reloc_arch.h; the model is drgn's libdrgn/platform.h and the
 * kernel's weak arch hooks).  The caller names the architecture by its ELF
 * e_machine; a machine without a hook is PM_RELOC_EMACHINE.
 *
 * Contract: single-threaded, no shared state; the caller owns every
 * buffer.  Nothing is written outside [region, region + region_size).
 *
 * The text between the cffi markers is read verbatim by
 * cffi_build/build_reloc.py as its cdef: plain declarations only.
 */
#ifndef PYMOD_RELOC_H
#define PYMOD_RELOC_H

#include <stddef.h>
#include <stdint.h>

/* cffi:begin */
/*
 * Status codes: 0 success, negative failure; pm_reloc_strerror() names
 * each.  EUNKNOWN..EOVERFLOW are the kernel's refusals (all -ENOEXEC);
 * ESYMBOL and ERANGE are pymod's own bounds; EINVAL and EMACHINE are a
 * caller's mistakes.
 */
enum pm_reloc_status {
	PM_RELOC_OK = 0,
	PM_RELOC_EUNKNOWN = -1,   /* a relocation type the architecture does not know */
	PM_RELOC_ENONZERO = -2,   /* the target's existing value is nonzero */
	PM_RELOC_EOVERFLOW = -3,  /* the value does not fit the relocation's field */
	PM_RELOC_ESYMBOL = -4,    /* symbol index past the symbol table (val = the index) */
	PM_RELOC_ERANGE = -5,     /* target outside the region */
	PM_RELOC_EINVAL = -6,     /* NULL argument */
	PM_RELOC_EMACHINE = -7    /* no relocation hook for this e_machine */
};

/* A fixed, static text for @status ("unknown status" for any other value). */
const char *pm_reloc_strerror(int status);

/* 1 when @machine (an ELF e_machine) has a relocation hook, else 0. */
int pm_reloc_supported(uint16_t machine);

/* Where a section stopped: entry @index, its type, target address and value. */
struct pm_reloc_fault {
	size_t index;
	uint32_t type;
	uint64_t loc;
	uint64_t val;
};
/*
 * Apply @n Elf64_Rela entries (@rela, raw little-endian, 24 bytes each) of
 * a module for @machine to the section at address @section_addr, which
 * lies in the region [@region_base, @region_base + @region_size) whose
 * bytes are @region.  symval[k] is symbol k's value after simplify_symbols.
 * On failure, *fault says where; entries before it have been applied, as
 * the kernel, which also stops at the first failure, leaves them.
 */
int pm_reloc_apply(uint16_t machine, unsigned char *region, size_t region_size,
		   uint64_t region_base, uint64_t section_addr, const unsigned char *rela,
		   size_t n, const uint64_t *symval, size_t nsyms, struct pm_reloc_fault *fault);
/* cffi:end */

#endif /* PYMOD_RELOC_H */
