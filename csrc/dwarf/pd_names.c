/*
 * Names through DW_AT_abstract_origin / DW_AT_specification, in this unit
 * or another (DW_FORM_ref_addr), as binutils' find_abstract_instance()
 * follows them: the DIE's own linkage name or name, else its target's.
 * Answers are cached by DIE offset (most inlined instances share a few
 * abstract DIEs); a chain longer than PD_MAX_REFCHAIN is an error, which
 * also ends reference loops.
 */
#include <stdlib.h>
#include "pd_internal.h"

/* The slot of key in an open-addressed table of n (a power of 2) keys, 0 free. */
static uint64_t probe(const uint64_t *keys, uint64_t n, uint64_t key)
{
	uint64_t j = (key * 0x9e3779b97f4a7c15ull >> 20) & (n - 1);

	while (keys[j] && keys[j] != key)
		j = (j + 1) & (n - 1);
	return j;
}

static int cache_grow(struct pd_build *b)
{
	uint64_t n = b->name_slots ? b->name_slots * 2 : 4096;
	uint64_t *keys = calloc((size_t)n, sizeof(*keys));
	uint32_t *vals = malloc((size_t)n * sizeof(*vals));

	if (!keys || !vals) {
		free(keys);
		free(vals);
		return PD_ENOMEM;
	}
	for (uint64_t i = 0; i < b->name_slots; i++) {
		uint64_t k = b->name_keys[i], j;

		if (!k)
			continue;
		j = probe(keys, n, k);
		keys[j] = k;
		vals[j] = b->name_vals[i];
	}
	free(b->name_keys);
	free(b->name_vals);
	b->name_keys = keys;
	b->name_vals = vals;
	b->name_slots = n;
	return PD_OK;
}

/* The cache slot of key (die offset + 1): its value, or where it goes. */
static uint64_t cache_slot(const struct pd_build *b, uint64_t key)
{
	return probe(b->name_keys, b->name_slots, key);
}

static int cache_put(struct pd_build *b, uint64_t key, uint32_t val)
{
	uint64_t j;
	int st;

	if ((b->name_count + 1) * 2 > b->name_slots && (st = cache_grow(b)))
		return st;
	j = cache_slot(b, key);
	if (!b->name_keys[j])
		b->name_count++;
	b->name_keys[j] = key;
	b->name_vals[j] = val;
	return PD_OK;
}

static int resolve(struct pd_build *b, uint64_t off, unsigned hops, uint32_t *name)
{
	const struct pd_unit *u = pd_unit_at(b, off);
	const struct pd_abbrev *ab;
	struct pd_fattrs f;
	struct pd_cur c;
	uint64_t code;
	int st;

	*name = PD_NONE;
	if (hops > PD_MAX_REFCHAIN)
		return PD_EDEPTH;
	if (!u || off < u->die_off)
		return PD_ERANGE;
	c.p = b->s->data[PD_INFO] + off;
	c.end = b->s->data[PD_INFO] + u->end;
	if ((st = pd_uleb(&c, &code)))
		return st;
	if (!code || !(ab = pd_abbrev_find(u->abbrevs, code)))
		return PD_EABBREV;
	if ((st = pd_die_fattrs(u, ab, &c, &f)))
		return st;
	if (f.has_linkage || f.has_name || f.origin >= UINT64_MAX - 1)
		return pd_fattrs_name(b, u, &f, name);
	return resolve(b, f.origin, hops + 1, name);
}

int pd_ref_name(struct pd_build *b, uint64_t die_off, uint32_t *name)
{
	uint64_t key = die_off + 1, j;
	int st;

	if (!b->name_slots && (st = cache_grow(b)))
		return st;
	j = cache_slot(b, key);
	if (b->name_keys[j]) {
		*name = b->name_vals[j];
		return PD_OK;
	}
	if ((st = resolve(b, die_off, 0, name)))
		return st;
	return cache_put(b, key, *name);
}
