/*
 * The second pass over .debug_info: each unit's line program, then its DIE
 * tree, from which every subprogram, entry point and inlined subroutine
 * with code becomes a pd_func (its caller the nearest enclosing function
 * DIE, as binutils' scan_unit_for_symbols() links caller_func) and its
 * ranges pd_ranges.  Other DIEs are skipped, in one step when all their
 * attributes have fixed sizes.
 */
#include <string.h>
#include "pd_internal.h"

enum { AT_name = 0x03, AT_low_pc = 0x11, AT_high_pc = 0x12, AT_abstract_origin = 0x31,
       AT_specification = 0x47, AT_ranges = 0x55, AT_call_column = 0x57,
       AT_call_file = 0x58, AT_call_line = 0x59, AT_linkage_name = 0x6e,
       AT_MIPS_linkage_name = 0x2007 };
enum { TAG_entry_point = 0x03, TAG_inlined_subroutine = 0x1d, TAG_subprogram = 0x2e };

static void note(const struct pd_unit *u, const struct pd_attr *a, uint32_t name,
		 struct pd_fattrs *f)
{
	switch (name) {
	case AT_name:
		if (pd_form_is_string(a->form) && !f->has_name)
			f->name = *a, f->has_name = 1;
		break;
	case AT_linkage_name: case AT_MIPS_linkage_name:
		if (pd_form_is_string(a->form))
			f->linkage = *a, f->has_linkage = 1;
		break;
	case AT_low_pc:
		f->low = *a, f->has_low = 1;
		break;
	case AT_high_pc:
		f->high = *a, f->has_high = 1;
		break;
	case AT_ranges:
		f->ranges = *a, f->has_ranges = 1;
		break;
	case AT_abstract_origin: case AT_specification:
		if (f->origin == UINT64_MAX && pd_attr_ref(u, a, &f->origin))
			f->origin = UINT64_MAX - 1;   /* bad: an error if the name is needed */
		break;
	case AT_call_file:
		f->call_file = a->u, f->has_call_file = 1;
		break;
	case AT_call_line:
		f->call_line = a->u;
		break;
	case AT_call_column:
		f->call_column = a->u;
		break;
	}
}

int pd_die_fattrs(const struct pd_unit *u, const struct pd_abbrev *ab, struct pd_cur *c,
		  struct pd_fattrs *f)
{
	memset(f, 0, sizeof(*f));
	f->origin = UINT64_MAX;
	for (uint32_t i = 0; i < ab->nattrs; i++) {
		const struct pd_attrspec *sp = &u->abbrevs->specs[ab->first + i];
		struct pd_attr a;
		int st = pd_form_read(u, c, sp->form, sp->implicit, &a);

		if (st)
			return st;
		note(u, &a, sp->name, f);
	}
	return PD_OK;
}

int pd_fattrs_name(struct pd_build *b, const struct pd_unit *u, const struct pd_fattrs *f,
		   uint32_t *name)
{
	const char *s;
	int st;

	*name = PD_NONE;
	if (f->has_linkage || f->has_name) {
		st = pd_attr_string(b, u, f->has_linkage ? &f->linkage : &f->name, &s);
		if (st)
			return st;
		return pd_strtab_add(&b->strings, s, strlen(s), name);
	}
	if (f->origin == UINT64_MAX - 1)
		return PD_ERANGE;     /* a reference outside its unit */
	if (f->origin < UINT64_MAX - 1)
		return pd_ref_name(b, f->origin, name);
	return PD_OK;
}

int pd_add_pc(struct pd_build *b, const struct pd_unit *u, const struct pd_fattrs *f,
		  uint32_t func)
{
	uint64_t lo, hi;
	int st;

	if (f->has_ranges)
		return pd_ranges_add(b, u, &f->ranges, func);
	if ((st = pd_attr_addr(b, u, &f->low, &lo)) || (st = pd_attr_addr(b, u, &f->high, &hi)))
		return st;
	/* high_pc: an address in an address form, else an offset from low_pc. */
	if (f->high.form != 0x01 && !(f->high.form >= 0x29 && f->high.form <= 0x2c) &&
	    f->high.form != 0x1b)
		hi += lo;
	return pd_range_pc(b, lo, hi, func);
}

static int function(struct pd_build *b, const struct pd_unit *u, const struct pd_abbrev *ab,
		    struct pd_cur *c, uint32_t caller, uint32_t *out)
{
	struct pd_fattrs f;
	struct pd_func *fn;
	uint32_t idx;
	int st = pd_die_fattrs(u, ab, c, &f);

	*out = PD_NONE;
	if (st || !(f.has_ranges || (f.has_low && f.has_high)))
		return st;
	if (b->funcs.len >= PD_MAX_ITEMS)
		return PD_ETOOBIG;
	idx = (uint32_t)b->funcs.len;
	if (!(fn = pd_vec_push(&b->funcs)))
		return PD_ENOMEM;
	fn->parent = ab->tag == TAG_inlined_subroutine ? caller : PD_NONE;
	fn->call_file = f.has_call_file ? pd_line_file(b, f.call_file) : PD_NONE;
	fn->call_line = (uint32_t)f.call_line;
	fn->call_column = (uint32_t)f.call_column;
	if ((st = pd_fattrs_name(b, u, &f, &fn->name)))
		return st;
	*out = idx;
	return pd_add_pc(b, u, &f, idx);
}

static int skip_die(const struct pd_unit *u, const struct pd_abbrev *ab, struct pd_cur *c)
{
	if (ab->fixed >= 0)
		return pd_skip(c, (uint64_t)ab->fixed);
	for (uint32_t i = 0; i < ab->nattrs; i++) {
		const struct pd_attrspec *sp = &u->abbrevs->specs[ab->first + i];
		int st;

		if (sp->form == 0x21)
			continue;
		if ((st = pd_form_skip(u, c, sp->form)))
			return st;
	}
	return PD_OK;
}

static int walk(struct pd_build *b, const struct pd_unit *u, struct pd_cur *c)
{
	uint32_t funcs[PD_MAX_DEPTH + 1];
	unsigned depth = 0;

	funcs[0] = PD_NONE;
	while (c->p < c->end) {
		const struct pd_abbrev *ab;
		uint64_t code;
		uint32_t caller = PD_NONE, fn = PD_NONE;
		int st = pd_uleb(c, &code);

		if (st)
			return st;
		if (!code) {
			if (depth-- <= 1)
				return PD_OK;
			continue;
		}
		if (!(ab = pd_abbrev_find(u->abbrevs, code)))
			return PD_EABBREV;
		if (ab->tag == TAG_subprogram || ab->tag == TAG_inlined_subroutine ||
		    ab->tag == TAG_entry_point) {
			for (unsigned i = depth; i-- > 0 && caller == PD_NONE;)
				caller = funcs[i];
			st = function(b, u, ab, c, caller, &fn);
		} else {
			st = skip_die(u, ab, c);
		}
		if (st)
			return st;
		if (depth == 0 && !ab->children)
			return PD_OK;
		funcs[depth] = fn;
		if (ab->children && ++depth > PD_MAX_DEPTH)
			return PD_EDEPTH;
	}
	return PD_OK;
}

static int scan_unit(struct pd_build *b, const struct pd_unit *u, struct pd_vec *cu);

int pd_info_scan(struct pd_build *b)
{
	const struct pd_unit *units = b->units.data;
	struct pd_vec cu;
	int st = PD_OK;

	pd_vec_init(&cu, sizeof(struct pd_range));
	for (uint64_t i = 0; i < b->units.len && !st; i++)
		if (!units[i].skip)
			st = scan_unit(b, &units[i], &cu);
	pd_vec_free(&cu);
	return st;
}

static int scan_unit(struct pd_build *b, const struct pd_unit *u, struct pd_vec *cu)
{
	uint64_t seq_start = b->seqs.len, range_start;
	struct pd_cur c;
	int st;

	b->files.len = 0;
	b->file0_based = 0;
	if (u->has_stmt && (st = pd_line_program(b, u, u->stmt_list, u->comp_dir)))
		return st;
	c.p = b->s->data[PD_INFO] + u->die_off;
	c.end = b->s->data[PD_INFO] + u->end;
	if ((st = pd_unit_ranges(b, u, cu)))
		return st;
	range_start = b->ranges.len;
	if ((st = walk(b, u, &c)))
		return st;
	return pd_clip_unit(b, cu, seq_start, range_start);
}
