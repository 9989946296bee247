/*
 * x86-64: the arithmetic and the checks of the kernel's apply_relocate_add()
 * (arch/x86/kernel/module.c) for one Elf64_Rela entry.
 */
#include "pm_reloc_arch.h"

#define R_X86_64_NONE 0
#define R_X86_64_64 1
#define R_X86_64_PC32 2
#define R_X86_64_PLT32 4
#define R_X86_64_32 10
#define R_X86_64_32S 11
#define R_X86_64_PC64 24

static int all_zero(const unsigned char *p, size_t size)
{
	for (size_t k = 0; k < size; k++)
		if (p[k])
			return 0;
	return 1;
}

static int x86_64_apply_rela(const struct pm_reloc_region *region, uint32_t type,
			     uint64_t loc, uint64_t *val)
{
	unsigned char *at;
	size_t size;

	switch (type) {
	case R_X86_64_NONE:
		return PM_RELOC_OK;
	case R_X86_64_64:
		size = 8;
		break;
	case R_X86_64_32:
		if (*val != (uint32_t)*val)
			return PM_RELOC_EOVERFLOW;
		size = 4;
		break;
	case R_X86_64_32S:
		if ((int64_t)*val != (int64_t)(int32_t)(uint32_t)*val)
			return PM_RELOC_EOVERFLOW;
		size = 4;
		break;
	case R_X86_64_PC32:
	case R_X86_64_PLT32:
		*val -= loc;                        /* truncated to 32 bits, unchecked */
		size = 4;
		break;
	case R_X86_64_PC64:
		*val -= loc;
		size = 8;
		break;
	default:
		return PM_RELOC_EUNKNOWN;
	}
	at = pm_reloc_target(region, loc, size);
	if (!at)
		return PM_RELOC_ERANGE;
	/* The kernel refuses to overwrite: a nonzero target means a relocation
	 * applied twice (6.1 checks before the PC subtraction, 6.12 after; the
	 * message says which, pymod/arch/x86_64.py) */
	if (!all_zero(at, size))
		return PM_RELOC_ENONZERO;
	pm_reloc_put_le(at, *val, size);
	return PM_RELOC_OK;
}

const struct pm_reloc_arch pm_reloc_x86_64 = {
	.name = "x86_64",
	.machine = 62,   /* EM_X86_64 */
	.apply_rela = x86_64_apply_rela,
};
