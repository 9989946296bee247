/*
 * A name -> address map over an ELF symbol table, as decode_stacktrace.sh
 * finds a function through nm: the lowest address of a t/T symbol of that
 * name.  Built once, then read only: any number of readers at once.
 */
#include <stdlib.h>
#include <string.h>
#include "pd_internal.h"

struct pd_namemap {
	const char *strtab;      /* the caller's; it outlives the map */
	uint64_t strsize;
	uint64_t nslots;         /* a power of 2, at least twice the names */
	uint32_t *slot_name;     /* string offset of each slot's name */
	uint64_t *slot_addr;
	uint8_t *used;
};

static uint64_t hash_name(const char *s, uint64_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (uint64_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
	return h;
}

/* The slot holding name, or the free slot where it would go. */
static uint64_t probe(const struct pd_namemap *m, const char *name, uint64_t len)
{
	uint64_t j = hash_name(name, len) & (m->nslots - 1);

	while (m->used[j]) {
		const char *have = m->strtab + m->slot_name[j];

		/* name holds no NUL: strncmp stops at have's, inside strtab */
		if (!strncmp(have, name, (size_t)len) && have[len] == '\0')
			return j;
		j = (j + 1) & (m->nslots - 1);
	}
	return j;
}

/* The length of the string at off, or -1 when off or its NUL is outside. */
int64_t pd_strtab_len(const char *strtab, uint64_t strsize, uint64_t off)
{
	const char *nul;

	if (off >= strsize)
		return -1;
	nul = memchr(strtab + off, '\0', (size_t)(strsize - off));
	return nul ? nul - (strtab + off) : -1;
}

int pd_namemap_new(const char *strtab, uint64_t strsize, const uint32_t *name_off,
		   const uint64_t *addrs, const char *types, uint64_t n, struct pd_namemap **out)
{
	struct pd_namemap *m;
	uint64_t want = 16;

	if (!out || (n && (!strtab || !name_off || !addrs || !types)) || n > (1ull << 40))
		return PD_EINVAL;
	while (want < 2 * n)
		want *= 2;
	m = calloc(1, sizeof(*m));
	if (!m)
		return PD_ENOMEM;
	m->strtab = strtab;
	m->strsize = strsize;
	m->nslots = want;
	m->slot_name = malloc((size_t)want * sizeof(*m->slot_name));
	m->slot_addr = malloc((size_t)want * sizeof(*m->slot_addr));
	m->used = calloc((size_t)want, 1);
	if (!m->slot_name || !m->slot_addr || !m->used) {
		pd_namemap_free(m);
		return PD_ENOMEM;
	}
	/* The table is in address order: a name's first symbol is its lowest. */
	for (uint64_t i = 0; i < n; i++) {
		int64_t len;
		uint64_t j;

		if (types[i] != 't' && types[i] != 'T')
			continue;
		len = pd_strtab_len(strtab, strsize, name_off[i]);
		if (len < 0) {
			pd_namemap_free(m);
			return PD_ERANGE;
		}
		j = probe(m, strtab + name_off[i], (uint64_t)len);
		if (!m->used[j]) {
			m->used[j] = 1;
			m->slot_name[j] = name_off[i];
			m->slot_addr[j] = addrs[i];
		}
	}
	*out = m;
	return PD_OK;
}

void pd_namemap_free(struct pd_namemap *m)
{
	if (!m)
		return;
	free(m->slot_name);
	free(m->slot_addr);
	free(m->used);
	free(m);
}

int pd_namemap_get(const struct pd_namemap *m, const char *name, uint64_t len, uint64_t *addr)
{
	uint64_t j = probe(m, name, len);

	if (!m->used[j])
		return 0;
	*addr = m->slot_addr[j];
	return 1;
}
