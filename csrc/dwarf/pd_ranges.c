/*
 * Address ranges of a DIE: DW_AT_ranges through .debug_ranges (DWARF 2-4)
 * or .debug_rnglists (DWARF 5, DW_FORM_sec_offset or DW_FORM_rnglistx).
 * Lists are walked in bounds; empty ranges are dropped, as binutils'
 * arange_add() drops them.  The build's range budget bounds the work of
 * many DIEs sharing one long list.
 */
#include "pd_internal.h"

static int push(struct pd_build *b, uint64_t lo, uint64_t hi, uint32_t func)
{
	struct pd_range *r;

	if (hi <= lo)
		return PD_OK;
	if (b->ranges.len >= PD_MAX_ITEMS)
		return PD_ETOOBIG;
	if (!(r = pd_vec_push(&b->ranges)))
		return PD_ENOMEM;
	r->lo = lo;
	r->hi = hi;
	r->func = func;
	return PD_OK;
}

int pd_range_pc(struct pd_build *b, uint64_t lo, uint64_t hi, uint32_t func)
{
	return push(b, lo, hi, func);
}

static int spend(struct pd_build *b)
{
	return b->range_budget-- ? PD_OK : PD_ETOOBIG;
}

static int ranges_v4(struct pd_build *b, const struct pd_unit *u, uint64_t off, uint32_t func)
{
	const struct pd_sections *s = b->s;
	uint64_t base = u->low_pc, lo, hi, all = u->addrsz == 4 ? 0xffffffffu : UINT64_MAX;
	struct pd_cur c;
	int st;

	if (!s->data[PD_RANGES] || off >= s->size[PD_RANGES])
		return PD_ERANGE;
	c.p = s->data[PD_RANGES] + off;
	c.end = s->data[PD_RANGES] + s->size[PD_RANGES];
	for (;;) {
		if ((st = spend(b)) || (st = pd_uN(&c, u->addrsz, &lo)) ||
		    (st = pd_uN(&c, u->addrsz, &hi)))
			return st;
		if (!lo && !hi)
			return PD_OK;
		if (lo == all)
			base = hi;
		else if ((st = push(b, base + lo, base + hi, func)))
			return st;
	}
}

static int addrx(struct pd_build *b, const struct pd_unit *u, struct pd_cur *c, uint64_t *v)
{
	struct pd_attr a = {0x1b, 0, NULL};
	int st = pd_uleb(c, &a.u);

	return st ? st : pd_attr_addr(b, u, &a, v);
}

/* One DW_RLE_* entry after its kind byte; *done at end_of_list. */
static int rle(struct pd_build *b, const struct pd_unit *u, struct pd_cur *c, uint64_t kind,
	       uint64_t *base, uint32_t func)
{
	uint64_t x, y;
	int st;

	switch (kind) {
	case 1:     /* base_addressx */
		return addrx(b, u, c, base);
	case 2:     /* startx_endx */
		if ((st = addrx(b, u, c, &x)) || (st = addrx(b, u, c, &y)))
			return st;
		return push(b, x, y, func);
	case 3:     /* startx_length */
		if ((st = addrx(b, u, c, &x)) || (st = pd_uleb(c, &y)))
			return st;
		return push(b, x, x + y, func);
	case 4:     /* offset_pair */
		if ((st = pd_uleb(c, &x)) || (st = pd_uleb(c, &y)))
			return st;
		return push(b, *base + x, *base + y, func);
	case 5:     /* base_address */
		return pd_uN(c, u->addrsz, base);
	case 6:     /* start_end */
		if ((st = pd_uN(c, u->addrsz, &x)) || (st = pd_uN(c, u->addrsz, &y)))
			return st;
		return push(b, x, y, func);
	case 7:     /* start_length */
		if ((st = pd_uN(c, u->addrsz, &x)) || (st = pd_uleb(c, &y)))
			return st;
		return push(b, x, x + y, func);
	}
	return PD_ERANGE;
}

static int rnglists(struct pd_build *b, const struct pd_unit *u, uint64_t off, uint32_t func)
{
	const struct pd_sections *s = b->s;
	uint64_t base = u->low_pc, kind;
	struct pd_cur c;
	int st;

	if (!s->data[PD_RNGLISTS] || off >= s->size[PD_RNGLISTS])
		return PD_ERANGE;
	c.p = s->data[PD_RNGLISTS] + off;
	c.end = s->data[PD_RNGLISTS] + s->size[PD_RNGLISTS];
	for (;;) {
		if ((st = spend(b)) || (st = pd_u8(&c, &kind)))
			return st;
		if (!kind)
			return PD_OK;
		if ((st = rle(b, u, &c, kind, &base, func)))
			return st;
	}
}

int pd_ranges_add(struct pd_build *b, const struct pd_unit *u, const struct pd_attr *a,
		  uint32_t func)
{
	uint64_t off = a->u;

	if (a->form == 0x23) {      /* rnglistx: through the unit's offset table */
		if (pd_sec_entry(b->s, PD_RNGLISTS, u->rnglists_base, a->u, u->offsz, &off) ||
		    off > UINT64_MAX - u->rnglists_base)
			return PD_ERANGE;
		off += u->rnglists_base;
	}
	if (u->version >= 5)
		return rnglists(b, u, off, func);
	return ranges_v4(b, u, off, func);
}
