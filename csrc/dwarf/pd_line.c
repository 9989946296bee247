/*
 * Line number programs (.debug_line, DWARF 2-5): the header's directory
 * and file tables, turned into full paths as binutils' concat_filename()
 * joins them, and the state machine, whose rows go to the build's row and
 * sequence vectors.  Rows at one address keep only the last one, as
 * binutils' add_line_info() does.
 */
#include <string.h>
#include "pd_internal.h"
#include "pd_line.h"


static int is_abs(const char *p) { return p[0] == '/'; }

/* binutils' concat_filename(), for one file entry. */
int pd_line_add_file(struct pd_build *b, struct lhdr *h, const char *name, uint64_t dir)
{
	const char **dirs = h->dirs.data, *sub = NULL, *base = NULL;
	uint32_t *slot = pd_vec_push(&b->files);
	int st;

	if (!slot)
		return PD_ENOMEM;
	if (is_abs(name))
		return pd_strtab_add(&b->strings, name, strlen(name), slot);
	if (h->version < 5)
		dir -= 1;             /* 0 wraps: no directory */
	if (dir < h->dirs.len)
		sub = dirs[dir];
	if (!sub || !is_abs(sub))
		base = h->comp_dir;
	if (!base) {
		base = sub;
		sub = NULL;
	}
	st = pd_strtab_join(&b->strings, base, sub, name, slot);
	return st;
}

static int tables_v4(struct pd_build *b, struct lhdr *h, struct pd_cur *c)
{
	const char *s, **d;
	uint64_t dir, skip;
	int st;

	for (;;) {
		if ((st = pd_cstr(c, &s)))
			return st;
		if (!*s)
			break;
		if (!(d = pd_vec_push(&h->dirs)))
			return PD_ENOMEM;
		*d = s;
	}
	for (;;) {
		if ((st = pd_cstr(c, &s)))
			return st;
		if (!*s)
			return PD_OK;
		if ((st = pd_uleb(c, &dir)) || (st = pd_uleb(c, &skip)) ||
		    (st = pd_uleb(c, &skip)) || (st = pd_line_add_file(b, h, s, dir)))
			return st;
	}
}

/* One v5 entry table: formats, count, entries; dirs when files is 0. */
static int entries_v5(struct pd_build *b, struct lhdr *h, struct pd_cur *c, int files)
{
	uint64_t nfmt, n, fmt[2 * 255];
	int st;

	if ((st = pd_u8(c, &nfmt)))
		return st;
	for (uint64_t i = 0; i < 2 * nfmt; i++)
		if ((st = pd_uleb(c, &fmt[i])))
			return st;
	if ((st = pd_uleb(c, &n)))
		return st;
	for (uint64_t e = 0; e < n; e++) {
		const char *path = NULL, **d;
		uint64_t dir = 0;

		for (uint64_t i = 0; i < nfmt; i++) {
			struct pd_attr a;

			if (fmt[2 * i + 1] > 0xffff)
				return PD_EFORM;
			if ((st = pd_form_read(&h->fu, c, (uint32_t)fmt[2 * i + 1], 0, &a)))
				return st;
			if (fmt[2 * i] == 1 && (st = pd_attr_string(b, h->cu, &a, &path)))
				return st;
			if (fmt[2 * i] == 2)
				dir = a.u;
		}
		if (!path)
			return PD_ELINE;
		if (files)
			st = pd_line_add_file(b, h, path, dir);
		else if (!(d = pd_vec_push(&h->dirs)))
			st = PD_ENOMEM;
		else
			*d = path;
		if (st)
			return st;
	}
	return PD_OK;
}

static int read_header(struct pd_build *b, struct lhdr *h, struct pd_cur *c,
		       struct pd_cur *prog)
{
	uint64_t v, hlen, x;
	int st;

	if ((st = pd_u16(c, &v)))
		return st;
	if (v < 2 || v > 5)
		return PD_EVERSION;
	h->version = (unsigned)v;
	if (v >= 5 && ((st = pd_u8(c, &x)) || (st = pd_u8(c, &x))))
		return st;
	if ((st = pd_uN(c, h->fu.offsz, &hlen)))
		return st;
	if (hlen > (uint64_t)(c->end - c->p))
		return PD_ETRUNC;
	prog->p = c->p + hlen;
	prog->end = c->end;
	c->end = prog->p;
	if ((st = pd_u8(c, &x)))
		return st;
	h->min_inst = (unsigned)x;
	if (v >= 4 && (st = pd_u8(c, &x)))
		return st;
	if ((st = pd_u8(c, &x)))   /* default_is_stmt: binutils ignores is_stmt */
		return st;
	if ((st = pd_u8(c, &x)))
		return st;
	h->line_base = (int)(int8_t)x;
	if ((st = pd_u8(c, &x)) || !(h->line_range = (unsigned)x))
		return st ? st : PD_ELINE;
	if ((st = pd_u8(c, &x)) || !(h->opcode_base = (unsigned)x))
		return st ? st : PD_ELINE;
	h->std_lengths = c->p;
	if ((st = pd_skip(c, h->opcode_base - 1)))
		return st;
	if (v < 5)
		return tables_v4(b, h, c);
	if ((st = entries_v5(b, h, c, 0)))
		return st;
	return entries_v5(b, h, c, 1);
}

int pd_line_program(struct pd_build *b, const struct pd_unit *cu, uint64_t off,
		    const char *comp_dir)
{
	const struct pd_sections *s = b->s;
	struct lhdr h;
	struct pd_cur c, prog;
	uint64_t len;
	int st;

	if (!s->data[PD_LINE] || off >= s->size[PD_LINE])
		return PD_ERANGE;
	memset(&h, 0, sizeof(h));
	pd_vec_init(&h.dirs, sizeof(const char *));
	h.comp_dir = comp_dir;
	h.cu = cu;
	h.fu = *cu;
	c.p = s->data[PD_LINE] + off;
	c.end = s->data[PD_LINE] + s->size[PD_LINE];
	if ((st = pd_initial_length(&c, &len, &h.fu.offsz)))
		return st;
	if (len > (uint64_t)(c.end - c.p))
		return PD_ETRUNC;
	c.end = c.p + len;
	b->files.len = 0;
	b->file0_based = 0;
	st = read_header(b, &h, &c, &prog);
	b->file0_based = h.version >= 5;
	if (!st)
		st = pd_line_run(b, &h, &prog);
	pd_vec_free(&h.dirs);
	return st;
}
