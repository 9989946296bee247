/*
 * Abbreviation tables (.debug_abbrev), parsed once per unit (the fixed
 * sizes depend on the unit's address and offset sizes) and kept for the
 * whole build: references between units need the tables of units read
 * long before.
 */
#include <stdlib.h>
#include "pd_internal.h"

/* Size of one attribute when it does not depend on the data. */
static int spec_size(const struct pd_unit *u, uint32_t form)
{
	switch (form) {
	case 0x01:                       /* addr */
		return (int)u->addrsz;
	case 0x0e: case 0x1f: case 0x17: /* strp, line_strp, sec_offset */
		return (int)u->offsz;
	case 0x10:                       /* ref_addr */
		return (int)(u->version <= 2 ? u->addrsz : u->offsz);
	}
	return pd_form_fixed_size(u->version, form);
}

static int parse_specs(struct pd_cur *c, struct pd_vec *specs, struct pd_abbrev *ab,
		       const struct pd_unit *u)
{
	ab->first = (uint32_t)specs->len;
	ab->nattrs = 0;
	ab->fixed = 0;
	for (;;) {
		uint64_t name, form;
		int64_t implicit = 0;
		struct pd_attrspec *sp;
		int st = pd_uleb(c, &name), size;

		if (st || (st = pd_uleb(c, &form)))
			return st;
		if (!name && !form)
			return PD_OK;
		if (form == 0x21 && (st = pd_sleb(c, &implicit)))
			return st;
		if (name > 0xffff || form > 0xffff || specs->len >= PD_MAX_ITEMS)
			return PD_EABBREV;
		if (!(sp = pd_vec_push(specs)))
			return PD_ENOMEM;
		sp->name = (uint32_t)name;
		sp->form = (uint32_t)form;
		sp->implicit = implicit;
		ab->nattrs++;
		size = spec_size(u, (uint32_t)form);
		if (size < 0 || ab->fixed < 0)
			ab->fixed = -1;
		else
			ab->fixed += size;
	}
}

static int parse_table(const struct pd_build *b, uint64_t off, const struct pd_unit *u,
		       struct pd_abbrevs *t)
{
	struct pd_vec list, specs;
	struct pd_cur c;
	int st = PD_OK;

	pd_vec_init(&list, sizeof(struct pd_abbrev));
	pd_vec_init(&specs, sizeof(struct pd_attrspec));
	if (!b->s->data[PD_ABBREV] || off >= b->s->size[PD_ABBREV])
		return PD_ERANGE;
	c.p = b->s->data[PD_ABBREV] + off;
	c.end = b->s->data[PD_ABBREV] + b->s->size[PD_ABBREV];
	t->direct = 1;
	for (;;) {
		uint64_t code, tag, children;
		struct pd_abbrev *ab;

		if ((st = pd_uleb(&c, &code)) || !code)
			break;
		if ((st = pd_uleb(&c, &tag)) || (st = pd_u8(&c, &children)))
			break;
		if (!(ab = pd_vec_push(&list))) {
			st = PD_ENOMEM;
			break;
		}
		ab->code = code;
		ab->tag = tag > 0xffff ? 0xffff : (uint32_t)tag;
		ab->children = children != 0;
		if (code != list.len)
			t->direct = 0;
		if ((st = parse_specs(&c, &specs, ab, u)))
			break;
	}
	t->list = list.data;
	t->n = list.len;
	t->specs = specs.data;
	if (st) {
		free(t->list);
		free(t->specs);
	}
	return st;
}

static int cmp_code(const void *x, const void *y)
{
	const struct pd_abbrev *a = x, *b = y;

	return a->code < b->code ? -1 : a->code > b->code;
}

int pd_abbrevs_get(struct pd_build *b, uint64_t off, const struct pd_unit *u,
		   struct pd_abbrevs **out)
{
	struct pd_abbrevs **slot, *t;
	int st;

	t = calloc(1, sizeof(*t));
	if (!t)
		return PD_ENOMEM;
	t->offset = off;
	st = parse_table(b, off, u, t);
	if (st) {
		free(t);
		return st;
	}
	if (!t->direct)
		qsort(t->list, (size_t)t->n, sizeof(*t->list), cmp_code);
	if (!(slot = pd_vec_push(&b->abbrev_cache))) {
		free(t->list);
		free(t->specs);
		free(t);
		return PD_ENOMEM;
	}
	*slot = t;
	*out = t;
	return PD_OK;
}

const struct pd_abbrev *pd_abbrev_find(const struct pd_abbrevs *a, uint64_t code)
{
	uint64_t lo = 0, hi = a->n;

	if (a->direct)
		return code && code <= a->n ? &a->list[code - 1] : NULL;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;

		if (a->list[mid].code == code)
			return &a->list[mid];
		if (a->list[mid].code < code)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

void pd_abbrevs_free_all(struct pd_build *b)
{
	struct pd_abbrevs **all = b->abbrev_cache.data;

	for (uint64_t i = 0; i < b->abbrev_cache.len; i++) {
		free(all[i]->list);
		free(all[i]->specs);
		free(all[i]);
	}
	pd_vec_free(&b->abbrev_cache);
}
