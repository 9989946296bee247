/*
 * Units of .debug_info: the first pass reads every unit's header and its
 * root DIE's base attributes (string offsets, addresses, range lists,
 * comp_dir, stmt_list), so that references into any unit can be read in
 * the second pass.
 */
#include "pd_internal.h"

enum { AT_stmt_list = 0x10, AT_low_pc = 0x11, AT_comp_dir = 0x1b,
       AT_str_offsets_base = 0x72, AT_addr_base = 0x73, AT_rnglists_base = 0x74,
       AT_GNU_addr_base = 0x2133 };

static int read_header(struct pd_build *b, struct pd_cur *c, struct pd_unit *u)
{
	uint64_t len, v, x, abbrev_off;
	int st;

	u->off = (uint64_t)(c->p - b->s->data[PD_INFO]);
	if ((st = pd_initial_length(c, &len, &u->offsz)))
		return st;
	if (len > (uint64_t)(c->end - c->p) || len < 2)
		return PD_ETRUNC;
	c->end = c->p + len;
	u->end = (uint64_t)(c->end - b->s->data[PD_INFO]);
	if ((st = pd_u16(c, &v)))
		return st;
	if (v < 2 || v > 5)
		return PD_EVERSION;
	u->version = (unsigned)v;
	if (v >= 5) {
		if ((st = pd_u8(c, &x)) || (st = pd_u8(c, &v)) ||
		    (st = pd_uN(c, u->offsz, &abbrev_off)))
			return st;
		u->skip = x != 1 && x != 3;   /* compile and partial units only */
	} else if ((st = pd_uN(c, u->offsz, &abbrev_off)) || (st = pd_u8(c, &v))) {
		return st;
	}
	if (v != 4 && v != 8)
		return PD_EVERSION;
	u->addrsz = (unsigned)v;
	u->die_off = (uint64_t)(c->p - b->s->data[PD_INFO]);
	if (u->skip)
		return PD_OK;
	return pd_abbrevs_get(b, abbrev_off, u, &u->abbrevs);
}

/* The root DIE's attributes that other DIEs' values depend on. */
static int read_root(struct pd_build *b, struct pd_cur *c, struct pd_unit *u)
{
	const struct pd_abbrev *ab;
	struct pd_attr comp_dir = {0, 0, NULL}, low = {0, 0, NULL};
	uint64_t code;
	int st;

	if ((st = pd_uleb(c, &code)))
		return st;
	if (!code || !(ab = pd_abbrev_find(u->abbrevs, code)))
		return code ? PD_EABBREV : PD_OK;
	for (uint32_t i = 0; i < ab->nattrs; i++) {
		const struct pd_attrspec *sp = &u->abbrevs->specs[ab->first + i];
		struct pd_attr a;

		if ((st = pd_form_read(u, c, sp->form, sp->implicit, &a)))
			return st;
		switch (sp->name) {
		case AT_stmt_list:
			u->stmt_list = a.u;
			u->has_stmt = 1;
			break;
		case AT_low_pc:
			low = a;
			break;
		case AT_comp_dir:
			comp_dir = a;
			break;
		case AT_str_offsets_base:
			u->str_offsets_base = a.u;
			break;
		case AT_addr_base: case AT_GNU_addr_base:
			u->addr_base = a.u;
			break;
		case AT_rnglists_base:
			u->rnglists_base = a.u;
			break;
		}
	}
	/* Strings and addresses need the bases, which may come after them. */
	if (comp_dir.form && pd_form_is_string(comp_dir.form) &&
	    (st = pd_attr_string(b, u, &comp_dir, &u->comp_dir)))
		return st;
	if (low.form && (st = pd_attr_addr(b, u, &low, &u->low_pc)))
		return st;
	return PD_OK;
}

int pd_units_read(struct pd_build *b)
{
	const struct pd_sections *s = b->s;
	struct pd_cur all;
	int st;

	if (!s->data[PD_INFO])
		return PD_OK;
	all.p = s->data[PD_INFO];
	all.end = all.p + s->size[PD_INFO];
	while (all.p < all.end) {
		struct pd_unit *u = pd_vec_push(&b->units);
		struct pd_cur c = all;

		if (!u)
			return PD_ENOMEM;
		*u = (struct pd_unit){0};
		if ((st = read_header(b, &c, u)))
			return st;
		if (!u->skip && (st = read_root(b, &c, u)))
			return st;
		all.p = s->data[PD_INFO] + u->end;
	}
	return PD_OK;
}

const struct pd_unit *pd_unit_at(const struct pd_build *b, uint64_t off)
{
	const struct pd_unit *units = b->units.data;
	uint64_t lo = 0, hi = b->units.len;

	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;

		if (off < units[mid].off)
			hi = mid;
		else if (off >= units[mid].end)
			lo = mid + 1;
		else
			return units[mid].skip ? NULL : &units[mid];
	}
	return NULL;
}
