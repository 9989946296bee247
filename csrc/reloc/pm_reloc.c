/*
 * The common part of apply_relocate_add(): the loop over one RELA section,
 * the table of architectures, and the status texts.  What a relocation
 * type means is each architecture's hook (pm_reloc_arch.h).
 *
 * Why in C: a distribution tree applies millions of relocations, and every
 * one is a few integer operations; a Python loop would cost more than the
 * rest of the load put together.
 *
 * A relocation whose target falls outside the region stops the section
 * with PM_RELOC_ERANGE, a bound the kernel does not check (pymod's own,
 * for its safety); so does a symbol index past the table (PM_RELOC_ESYMBOL).
 */
#include "pm_reloc_arch.h"

#define RELA_SIZE 24

/* Every architecture pymod models: adding one is a file and a line here. */
static const struct pm_reloc_arch *const arches[] = {
	&pm_reloc_x86_64,
};

static const struct pm_reloc_arch *arch_of(uint16_t machine)
{
	for (size_t k = 0; k < sizeof(arches) / sizeof(arches[0]); k++)
		if (arches[k]->machine == machine)
			return arches[k];
	return NULL;
}

int pm_reloc_supported(uint16_t machine)
{
	return arch_of(machine) != NULL;
}

uint64_t pm_reloc_get_le(const unsigned char *p, size_t size)
{
	uint64_t v = 0;

	for (size_t k = size; k-- > 0;)
		v = v << 8 | p[k];
	return v;
}

void pm_reloc_put_le(unsigned char *p, uint64_t v, size_t size)
{
	for (size_t k = 0; k < size; k++)
		p[k] = (unsigned char)(v >> (8 * k));
}

unsigned char *pm_reloc_target(const struct pm_reloc_region *region, uint64_t loc, size_t size)
{
	uint64_t off = loc - region->base;

	if (loc < region->base || off > region->size || region->size - off < size)
		return NULL;
	return region->bytes + off;
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

int pm_reloc_apply(uint16_t machine, unsigned char *region, size_t region_size,
		   uint64_t region_base, uint64_t section_addr, const unsigned char *rela,
		   size_t n, const uint64_t *symval, size_t nsyms, struct pm_reloc_fault *f)
{
	const struct pm_reloc_arch *arch = arch_of(machine);
	const struct pm_reloc_region r = { region, region_size, region_base };

	if (!region || !rela || !symval || !f)
		return PM_RELOC_EINVAL;
	if (!arch)
		return PM_RELOC_EMACHINE;
	for (size_t i = 0; i < n; i++) {
		const unsigned char *e = rela + i * RELA_SIZE;
		uint64_t r_info = pm_reloc_get_le(e + 8, 8), sym = r_info >> 32;
		uint64_t loc = section_addr + pm_reloc_get_le(e, 8), val;
		uint32_t type = (uint32_t)r_info;
		int status;

		if (sym >= nsyms)
			return fault(f, PM_RELOC_ESYMBOL, i, type, loc, sym);
		val = symval[sym] + pm_reloc_get_le(e + 16, 8);
		status = arch->apply_rela(&r, type, loc, &val);
		if (status != PM_RELOC_OK)
			return fault(f, status, i, type, loc, val);
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
	case PM_RELOC_EMACHINE:
		return "no relocation hook for this ELF machine";
	}
	return "unknown status";
}
