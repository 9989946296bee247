/*
 * binutils searches a unit only for addresses inside the unit's own ranges
 * (its root DIE's DW_AT_low_pc/high_pc or DW_AT_ranges); a unit without
 * any is searched for every address.  So the rows and function ranges of
 * a unit with ranges are cut to them here, before all units are merged.
 */
#include <stdlib.h>
#include <string.h>
#include "pd_internal.h"

static int cmp_lo(const void *x, const void *y)
{
	const struct pd_range *a = x, *b = y;

	return a->lo < b->lo ? -1 : a->lo > b->lo;
}

/* The unit's ranges, sorted and merged, into cu (a vector of pd_range). */
int pd_unit_ranges(struct pd_build *b, const struct pd_unit *u, struct pd_vec *cu)
{
	const struct pd_abbrev *ab;
	struct pd_fattrs f;
	struct pd_cur c;
	uint64_t code, start = b->ranges.len, n = 0;
	struct pd_range *r;
	int st;

	cu->len = 0;
	c.p = b->s->data[PD_INFO] + u->die_off;
	c.end = b->s->data[PD_INFO] + u->end;
	if ((st = pd_uleb(&c, &code)) || !code || !(ab = pd_abbrev_find(u->abbrevs, code)))
		return st;
	if ((st = pd_die_fattrs(u, ab, &c, &f)))
		return st;
	if ((f.has_ranges || (f.has_low && f.has_high)) && (st = pd_add_pc(b, u, &f, PD_NONE)))
		return st;
	if (b->ranges.len == start)
		return PD_OK;
	r = (struct pd_range *)b->ranges.data + start;
	qsort(r, (size_t)(b->ranges.len - start), sizeof(*r), cmp_lo);
	for (uint64_t i = 0; i < b->ranges.len - start; i++) {
		struct pd_range *out = n ? (struct pd_range *)cu->data + n - 1 : NULL;

		if (out && r[i].lo <= out->hi) {
			if (r[i].hi > out->hi)
				out->hi = r[i].hi;
			continue;
		}
		if (!(out = pd_vec_push(cu)))
			return PD_ENOMEM;
		*out = r[i];
		n++;
	}
	b->ranges.len = start;
	return PD_OK;
}

static int clip_funcs(struct pd_build *b, const struct pd_vec *cu, uint64_t start)
{
	const struct pd_range *c = cu->data;
	struct pd_vec tmp;
	int st = PD_OK;

	pd_vec_init(&tmp, sizeof(struct pd_range));
	for (uint64_t i = start; i < b->ranges.len && !st; i++) {
		struct pd_range r = ((struct pd_range *)b->ranges.data)[i], *out;

		for (uint64_t j = 0; j < cu->len; j++) {
			uint64_t lo = r.lo > c[j].lo ? r.lo : c[j].lo, hi = r.hi < c[j].hi ? r.hi : c[j].hi;

			if (lo >= hi)
				continue;
			if (!(out = pd_vec_push(&tmp))) {
				st = PD_ENOMEM;
				break;
			}
			*out = (struct pd_range){lo, hi, r.func};
		}
	}
	b->ranges.len = start;
	for (uint64_t i = 0; i < tmp.len && !st; i++) {
		struct pd_range *out = pd_vec_push(&b->ranges);

		if (!out)
			st = PD_ENOMEM;
		else
			*out = ((struct pd_range *)tmp.data)[i];
	}
	pd_vec_free(&tmp);
	return st;
}

static int clip_seqs(struct pd_build *b, const struct pd_vec *cu, uint64_t start)
{
	const struct pd_range *c = cu->data;
	uint64_t end = b->seqs.len;

	for (uint64_t i = start; i < end; i++) {
		struct pd_seq s = ((struct pd_seq *)b->seqs.data)[i], *out;
		int first = 1;

		((struct pd_seq *)b->seqs.data)[i].high = ((struct pd_seq *)b->seqs.data)[i].low;
		for (uint64_t j = 0; j < cu->len; j++) {
			uint64_t lo = s.low > c[j].lo ? s.low : c[j].lo, hi = s.high < c[j].hi ? s.high : c[j].hi;

			if (lo >= hi)
				continue;
			out = first ? (struct pd_seq *)b->seqs.data + i : pd_vec_push(&b->seqs);
			if (!out)
				return PD_ENOMEM;
			*out = s;
			out->low = lo;
			out->high = hi;
			first = 0;
		}
		if (first)   /* outside the unit: empty, dropped when flattened */
			((struct pd_seq *)b->seqs.data)[i].n = 0;
	}
	return PD_OK;
}

int pd_clip_unit(struct pd_build *b, const struct pd_vec *cu, uint64_t seq_start,
		 uint64_t range_start)
{
	int st;

	if (!cu->len)
		return PD_OK;
	if ((st = clip_seqs(b, cu, seq_start)))
		return st;
	return clip_funcs(b, cu, range_start);
}
