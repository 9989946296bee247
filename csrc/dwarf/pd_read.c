/*
 * Bounds-checked reads of little-endian DWARF data, growable arrays and
 * the string interner.  Every reader returns PD_ETRUNC rather than read
 * past its cursor's end.
 */
#include <stdlib.h>
#include <string.h>
#include "pd_internal.h"

int pd_uN(struct pd_cur *c, unsigned n, uint64_t *v)
{
	uint64_t x = 0;

	if ((uint64_t)(c->end - c->p) < n)
		return PD_ETRUNC;
	for (unsigned i = 0; i < n; i++)
		x |= (uint64_t)c->p[i] << (8 * i);
	c->p += n;
	*v = x;
	return PD_OK;
}

int pd_u8(struct pd_cur *c, uint64_t *v) { return pd_uN(c, 1, v); }
int pd_u16(struct pd_cur *c, uint64_t *v) { return pd_uN(c, 2, v); }
int pd_u24(struct pd_cur *c, uint64_t *v) { return pd_uN(c, 3, v); }
int pd_u32(struct pd_cur *c, uint64_t *v) { return pd_uN(c, 4, v); }
int pd_u64(struct pd_cur *c, uint64_t *v) { return pd_uN(c, 8, v); }

/*
 * One LEB128 number: its low 64 bits in *v, *shift past its last group and
 * that group in *last (sign extension needs both).  Bits past 64 are read
 * and dropped, as binutils drops them.
 */
static inline int pd_leb(struct pd_cur *c, uint64_t *v, unsigned *shift, uint8_t *last)
{
	uint64_t x = 0;

	for (*shift = 0; c->p < c->end; *shift += 7) {
		uint8_t byte = *c->p++;

		if (*shift < 64)
			x |= (uint64_t)(byte & 0x7f) << *shift;
		if (!(byte & 0x80)) {
			*shift += 7;
			*last = byte;
			*v = x;
			return PD_OK;
		}
	}
	return PD_ETRUNC;
}

int pd_uleb(struct pd_cur *c, uint64_t *v)
{
	unsigned shift;
	uint8_t last;

	return pd_leb(c, v, &shift, &last);
}

int pd_sleb(struct pd_cur *c, int64_t *v)
{
	uint64_t x;
	unsigned shift;
	uint8_t last;
	int st = pd_leb(c, &x, &shift, &last);

	if (st)
		return st;
	if (shift < 64 && (last & 0x40))
		x |= ~(uint64_t)0 << shift;
	*v = (int64_t)x;
	return PD_OK;
}

int pd_skip(struct pd_cur *c, uint64_t n)
{
	if ((uint64_t)(c->end - c->p) < n)
		return PD_ETRUNC;
	c->p += n;
	return PD_OK;
}

int pd_cstr(struct pd_cur *c, const char **s)
{
	const uint8_t *nul = memchr(c->p, 0, (size_t)(c->end - c->p));

	if (!nul)
		return PD_ETRUNC;
	*s = (const char *)c->p;
	c->p = nul + 1;
	return PD_OK;
}

int pd_sec_str(const uint8_t *sec, uint64_t size, uint64_t off, const char **s)
{
	if (!sec || off >= size || !memchr(sec + off, 0, (size_t)(size - off)))
		return PD_ERANGE;
	*s = (const char *)sec + off;
	return PD_OK;
}

int pd_sec_entry(const struct pd_sections *s, enum pd_section sec, uint64_t base,
		 uint64_t index, unsigned width, uint64_t *v)
{
	uint64_t off;
	struct pd_cur c;

	if (!s->data[sec] || index > (UINT64_MAX >> 4))
		return PD_ERANGE;
	off = base + index * width;
	if (off < base || off > s->size[sec])
		return PD_ERANGE;
	c.p = s->data[sec] + off;
	c.end = s->data[sec] + s->size[sec];
	return pd_uN(&c, width, v) ? PD_ERANGE : PD_OK;
}

int pd_initial_length(struct pd_cur *c, uint64_t *len, unsigned *offsz)
{
	int st = pd_u32(c, len);

	if (st)
		return st;
	*offsz = 4;
	if (*len == 0xffffffffu) {
		*offsz = 8;
		return pd_u64(c, len);
	}
	if (*len >= 0xfffffff0u)
		return PD_EVERSION;
	return PD_OK;
}

void pd_vec_init(struct pd_vec *v, size_t esz)
{
	v->data = NULL;
	v->len = v->cap = 0;
	v->esz = esz;
}

void *pd_vec_push(struct pd_vec *v)
{
	if (v->len == v->cap) {
		uint64_t cap = v->cap ? v->cap * 2 : 64;
		void *p;

		if (cap > ((uint64_t)SIZE_MAX / 2) / v->esz)
			return NULL;
		p = realloc(v->data, (size_t)(cap * v->esz));
		if (!p)
			return NULL;
		v->data = p;
		v->cap = cap;
	}
	return (char *)v->data + (v->len++) * v->esz;
}

void pd_vec_free(struct pd_vec *v)
{
	free(v->data);
	pd_vec_init(v, v->esz);
}

int pd_strtab_init(struct pd_strtab *t)
{
	pd_vec_init(&t->bytes, 1);
	t->nslots = 1024;
	t->count = 0;
	t->slots = calloc((size_t)t->nslots, sizeof(*t->slots));
	return t->slots ? PD_OK : PD_ENOMEM;
}

void pd_strtab_free(struct pd_strtab *t)
{
	pd_vec_free(&t->bytes);
	free(t->slots);
	t->slots = NULL;
}

static uint64_t pd_hash(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull;
	return h ^ (h >> 29);
}

static int pd_strtab_grow(struct pd_strtab *t)
{
	uint64_t n = t->nslots * 2;
	uint32_t *slots = calloc((size_t)n, sizeof(*slots));
	const char *base = t->bytes.data;

	if (!slots)
		return PD_ENOMEM;
	for (uint64_t i = 0; i < t->nslots; i++) {
		uint32_t v = t->slots[i];
		const char *s;
		uint64_t j;

		if (!v)
			continue;
		s = base + v - 1;
		j = pd_hash(s, strlen(s)) & (n - 1);
		while (slots[j])
			j = (j + 1) & (n - 1);
		slots[j] = v;
	}
	free(t->slots);
	t->slots = slots;
	t->nslots = n;
	return PD_OK;
}

int pd_strtab_add(struct pd_strtab *t, const char *s, size_t n, uint32_t *off)
{
	uint64_t j = pd_hash(s, n) & (t->nslots - 1);
	const char *base = t->bytes.data;
	uint64_t start = t->bytes.len;

	for (; t->slots[j]; j = (j + 1) & (t->nslots - 1)) {
		const char *e = base + t->slots[j] - 1;

		if (!strncmp(e, s, n) && e[n] == 0) {
			*off = t->slots[j] - 1;
			return PD_OK;
		}
	}
	if (start + n + 1 >= PD_MAX_ITEMS)
		return PD_ETOOBIG;
	for (size_t i = 0; i <= n; i++) {
		char *p = pd_vec_push(&t->bytes);

		if (!p)
			return PD_ENOMEM;
		*p = i < n ? s[i] : 0;
	}
	t->slots[j] = (uint32_t)start + 1;
	*off = (uint32_t)start;
	if (++t->count * 2 > t->nslots)
		return pd_strtab_grow(t);
	return PD_OK;
}

int pd_strtab_join(struct pd_strtab *t, const char *a, const char *b, const char *c,
		   uint32_t *off)
{
	const char *parts[3] = {a, b, c};
	size_t len = 0, n = 0;
	char stackbuf[1024], *buf = stackbuf;
	int st;

	for (int i = 0; i < 3; i++)
		if (parts[i])
			len += strlen(parts[i]) + 1;
	if (len > sizeof(stackbuf) && !(buf = malloc(len)))
		return PD_ENOMEM;
	for (int i = 0; i < 3; i++) {
		size_t k;

		if (!parts[i])
			continue;
		if (n)
			buf[n++] = '/';
		k = strlen(parts[i]);
		memcpy(buf + n, parts[i], k);
		n += k;
	}
	st = pd_strtab_add(t, buf, n, off);
	if (buf != stackbuf)
		free(buf);
	return st;
}

void pd_free(void *p)
{
	free(p);
}
