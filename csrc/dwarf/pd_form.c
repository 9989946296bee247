/*
 * Attribute forms (DWARF 5 section 7.5.6, plus GNU's split-DWARF forms):
 * reading a value, skipping one, and resolving string, address and
 * reference values through the unit's base attributes.
 */
#include "pd_internal.h"

enum {
	F_addr = 0x01, F_block2 = 0x03, F_block4 = 0x04, F_data2 = 0x05, F_data4 = 0x06,
	F_data8 = 0x07, F_string = 0x08, F_block = 0x09, F_block1 = 0x0a, F_data1 = 0x0b,
	F_flag = 0x0c, F_sdata = 0x0d, F_strp = 0x0e, F_udata = 0x0f, F_ref_addr = 0x10,
	F_ref1 = 0x11, F_ref2 = 0x12, F_ref4 = 0x13, F_ref8 = 0x14, F_ref_udata = 0x15,
	F_indirect = 0x16, F_sec_offset = 0x17, F_exprloc = 0x18, F_flag_present = 0x19,
	F_strx = 0x1a, F_addrx = 0x1b, F_ref_sup4 = 0x1c, F_strp_sup = 0x1d, F_data16 = 0x1e,
	F_line_strp = 0x1f, F_ref_sig8 = 0x20, F_implicit_const = 0x21, F_loclistx = 0x22,
	F_rnglistx = 0x23, F_ref_sup8 = 0x24, F_strx1 = 0x25, F_strx2 = 0x26, F_strx3 = 0x27,
	F_strx4 = 0x28, F_addrx1 = 0x29, F_addrx2 = 0x2a, F_addrx3 = 0x2b, F_addrx4 = 0x2c,
	F_GNU_addr_index = 0x1f01, F_GNU_str_index = 0x1f02, F_GNU_ref_alt = 0x1f20,
	F_GNU_strp_alt = 0x1f21
};

/* Size of a form whose size does not depend on the data; -1 otherwise. */
int pd_form_fixed_size(unsigned version, uint32_t form)
{
	(void)version;
	switch (form) {
	case F_flag_present: case F_implicit_const:
		return 0;
	case F_data1: case F_ref1: case F_flag: case F_strx1: case F_addrx1:
		return 1;
	case F_data2: case F_ref2: case F_strx2: case F_addrx2:
		return 2;
	case F_strx3: case F_addrx3:
		return 3;
	case F_data4: case F_ref4: case F_strx4: case F_addrx4: case F_ref_sup4:
		return 4;
	case F_data8: case F_ref8: case F_ref_sig8: case F_ref_sup8:
		return 8;
	case F_data16:
		return 16;
	}
	return -1;
}

static int read_block(struct pd_cur *c, unsigned lensz, struct pd_attr *a)
{
	uint64_t n;
	int st = lensz ? pd_uN(c, lensz, &n) : pd_uleb(c, &n);

	if (st)
		return st;
	a->u = n;
	return pd_skip(c, n);
}

static int read_sized(const struct pd_unit *u, struct pd_cur *c, uint32_t form,
		      struct pd_attr *a)
{
	switch (form) {
	case F_addr:
		return pd_uN(c, u->addrsz, &a->u);
	case F_strp: case F_line_strp: case F_sec_offset: case F_strp_sup:
	case F_GNU_ref_alt: case F_GNU_strp_alt:
		return pd_uN(c, u->offsz, &a->u);
	case F_ref_addr:
		return pd_uN(c, u->version <= 2 ? u->addrsz : u->offsz, &a->u);
	case F_udata: case F_ref_udata: case F_strx: case F_addrx: case F_loclistx:
	case F_rnglistx: case F_GNU_addr_index: case F_GNU_str_index:
		return pd_uleb(c, &a->u);
	case F_sdata: {
		int64_t v;
		int st = pd_sleb(c, &v);

		a->u = (uint64_t)v;
		return st;
	}
	case F_string:
		return pd_cstr(c, &a->str);
	case F_block1:
		return read_block(c, 1, a);
	case F_block2:
		return read_block(c, 2, a);
	case F_block4:
		return read_block(c, 4, a);
	case F_block: case F_exprloc:
		return read_block(c, 0, a);
	}
	return PD_EFORM;
}

int pd_form_read(const struct pd_unit *u, struct pd_cur *c, uint32_t form, int64_t implicit,
		 struct pd_attr *a)
{
	int size, hops = 0;

	while (form == F_indirect) {
		uint64_t f;
		int st = pd_uleb(c, &f);

		if (st)
			return st;
		if (++hops > 4 || f > 0xffff)
			return PD_EFORM;
		form = (uint32_t)f;
	}
	a->form = form;
	a->str = NULL;
	a->u = 0;
	if (form == F_implicit_const) {
		a->u = (uint64_t)implicit;
		return PD_OK;
	}
	if (form == F_flag_present) {
		a->u = 1;
		return PD_OK;
	}
	size = pd_form_fixed_size(u->version, form);
	if (size == 16)
		return pd_skip(c, 16);
	if (size > 0)
		return pd_uN(c, (unsigned)size, &a->u);
	return read_sized(u, c, form, a);
}

int pd_form_skip(const struct pd_unit *u, struct pd_cur *c, uint32_t form)
{
	struct pd_attr a;

	return pd_form_read(u, c, form, 0, &a);
}

int pd_form_is_string(uint32_t form)
{
	switch (form) {
	case F_string: case F_strp: case F_line_strp: case F_strx: case F_strx1:
	case F_strx2: case F_strx3: case F_strx4: case F_GNU_str_index:
		return 1;
	}
	return 0;
}

int pd_form_is_ref(uint32_t form)
{
	switch (form) {
	case F_ref_addr: case F_ref1: case F_ref2: case F_ref4: case F_ref8: case F_ref_udata:
		return 1;
	}
	return 0;
}

int pd_attr_ref(const struct pd_unit *u, const struct pd_attr *a, uint64_t *off)
{
	if (a->form == F_ref_addr) {
		*off = a->u;
		return PD_OK;
	}
	if (!pd_form_is_ref(a->form) || a->u >= u->end - u->off)
		return PD_ERANGE;
	*off = u->off + a->u;
	return PD_OK;
}

int pd_attr_string(const struct pd_build *b, const struct pd_unit *u,
		   const struct pd_attr *a, const char **s)
{
	const struct pd_sections *sec = b->s;
	uint64_t off;

	switch (a->form) {
	case F_string:
		*s = a->str;
		return PD_OK;
	case F_strp:
		return pd_sec_str(sec->data[PD_STR], sec->size[PD_STR], a->u, s);
	case F_line_strp:
		return pd_sec_str(sec->data[PD_LINE_STR], sec->size[PD_LINE_STR], a->u, s);
	case F_strx: case F_strx1: case F_strx2: case F_strx3: case F_strx4:
	case F_GNU_str_index:
		if (pd_sec_entry(sec, PD_STR_OFFSETS, u->str_offsets_base, a->u, u->offsz, &off))
			return PD_ERANGE;
		return pd_sec_str(sec->data[PD_STR], sec->size[PD_STR], off, s);
	}
	return PD_EFORM;
}

int pd_attr_addr(const struct pd_build *b, const struct pd_unit *u,
		 const struct pd_attr *a, uint64_t *v)
{
	switch (a->form) {
	case F_addrx: case F_addrx1: case F_addrx2: case F_addrx3: case F_addrx4:
	case F_GNU_addr_index:
		return pd_sec_entry(b->s, PD_ADDR, u->addr_base, a->u, u->addrsz, v);
	}
	*v = a->u;
	return PD_OK;
}
