/*
 * x86-64 RELA relocations: the arithmetic and the checks of the kernel's
 * apply_relocate_add() (arch/x86/kernel/module.c) over one relocation
 * section, written into a module's memory region.
 *
 * Why in C: a distribution tree applies millions of relocations, and every
 * one is a few integer operations; a Python loop would cost more than the
 * rest of the load put together.
 *
 * Contract: single-threaded, no shared state; the caller owns every
 * buffer.  Nothing is written outside [region, region + region_size): a
 * relocation whose target falls outside the region stops the section with
 * PM_RELOC_ERANGE, a bound the kernel does not check (pymod's own, for its
 * safety).  Relocations before the failing one have been written, as in the
 * kernel, which also stops at the first failure.
 */
#include <string.h>

#include "pymod_kscan.h"

#define RELA_SIZE 24
#define R_X86_64_NONE 0
#define R_X86_64_64 1
#define R_X86_64_PC32 2
#define R_X86_64_PLT32 4
#define R_X86_64_32 10
#define R_X86_64_32S 11
#define R_X86_64_PC64 24

static uint64_t get_le64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int k = 7; k >= 0; k--)
		v = v << 8 | p[k];
	return v;
}

static void put_le(unsigned char *p, uint64_t v, size_t size)
{
	for (size_t k = 0; k < size; k++)
		p[k] = (unsigned char)(v >> (8 * k));
}

static int all_zero(const unsigned char *p, size_t size)
{
	for (size_t k = 0; k < size; k++)
		if (p[k])
			return 0;
	return 1;
}

static int fault(struct pm_reloc_fault *f, int status, size_t index, uint32_t type,
		 uint64_t loc, uint64_t val)
{
	f->index = index;
	f->type = type;
	f->loc = loc;
	f->val = val;
	return status;
}

int pm_reloc_apply(unsigned char *region, size_t region_size, uint64_t region_base,
		   uint64_t section_addr, const unsigned char *rela, size_t n,
		   const uint64_t *symval, size_t nsyms, struct pm_reloc_fault *f)
{
	if (!region || !rela || !symval || !f)
		return PM_RELOC_EINVAL;
	for (size_t i = 0; i < n; i++) {
		const unsigned char *r = rela + i * RELA_SIZE;
		uint64_t r_offset = get_le64(r), r_info = get_le64(r + 8);
		uint64_t addend = get_le64(r + 16), sym = r_info >> 32;
		uint32_t type = (uint32_t)r_info;
		uint64_t loc = section_addr + r_offset, val, off;
		size_t size;

		if (sym >= nsyms)
			return fault(f, PM_RELOC_ESYMBOL, i, type, loc, sym);
		val = symval[sym] + addend;                 /* modulo 2**64, as the kernel's u64 */
		switch (type) {
		case R_X86_64_NONE:
			continue;
		case R_X86_64_64:
			size = 8;
			break;
		case R_X86_64_32:
			if (val != (uint32_t)val)
				return fault(f, PM_RELOC_EOVERFLOW, i, type, loc, val);
			size = 4;
			break;
		case R_X86_64_32S:
			if ((int64_t)val != (int64_t)(int32_t)(uint32_t)val)
				return fault(f, PM_RELOC_EOVERFLOW, i, type, loc, val);
			size = 4;
			break;
		case R_X86_64_PC32:
		case R_X86_64_PLT32:
			val -= loc;                         /* truncated to 32 bits, unchecked */
			size = 4;
			break;
		case R_X86_64_PC64:
			val -= loc;
			size = 8;
			break;
		default:
			return fault(f, PM_RELOC_EUNKNOWN, i, type, loc, val);
		}
		off = loc - region_base;
		if (loc < region_base || off > region_size || region_size - off < size)
			return fault(f, PM_RELOC_ERANGE, i, type, loc, val);
		if (!all_zero(region + off, size))
			return fault(f, PM_RELOC_ENONZERO, i, type, loc, val);
		put_le(region + off, val, size);
	}
	return PM_RELOC_OK;
}

/*
 * The text of every status.  The switch names every enumerator and has no
 * default, so -Wswitch refuses a build in which a status was added without
 * its text.  Phrases without a subject: the caller says which relocation.
 */
const char *pm_reloc_strerror(int status)
{
	switch ((enum pm_reloc_status)status) {
	case PM_RELOC_OK:
		return "success";
	case PM_RELOC_EUNKNOWN:
		return "unknown rela relocation type";
	case PM_RELOC_ENONZERO:
		return "the target's existing value is nonzero";
	case PM_RELOC_EOVERFLOW:
		return "the value does not fit the 32-bit relocation";
	case PM_RELOC_ESYMBOL:
		return "past the symbol table (pymod's own check: the kernel would read past it)";
	case PM_RELOC_ERANGE:
		return "outside the module's memory (pymod's own check: the kernel would write there)";
	case PM_RELOC_EINVAL:
		return "NULL region, relocations, symbol values or fault";
	}
	return "unknown status";
}
