/*
 * The line number state machine (DWARF 5 section 6.2.5).  Each emitted row
 * becomes a pd_row; each sequence a pd_seq.  Like binutils, a row at the
 * address of the row before it replaces that row, a sequence ends at its
 * end_sequence row, and rows left after the last end_sequence form a
 * sequence whose last row only marks its end.
 */
#include <string.h>
#include "pd_line.h"

struct lstate {
	uint64_t addr, file, line, column, disc;
	int open;                 /* a sequence is open */
	struct pd_seq *seq;       /* index into b->seqs while open */
	uint64_t seq_idx;
};

uint32_t pd_line_file(struct pd_build *b, uint64_t n)
{
	const uint32_t *files = b->files.data;
	uint32_t off = PD_NONE;

	if (!b->file0_based)
		n -= 1;               /* file 0 wraps: unknown */
	if (n < b->files.len)
		return files[n];
	if (pd_strtab_add(&b->strings, "<unknown>", 9, &off))
		return PD_NONE;
	return off;
}

static int emit(struct pd_build *b, struct lstate *s, int end)
{
	struct pd_row *r, *rows;
	struct pd_seq *q;

	if (s->open) {
		q = (struct pd_seq *)b->seqs.data + s->seq_idx;
		rows = b->rows.data;
		r = &rows[b->rows.len - 1];
		if (!end && r->addr == s->addr)
			goto fill;
	}
	if (b->rows.len >= PD_MAX_ITEMS || !(r = pd_vec_push(&b->rows)))
		return b->rows.len >= PD_MAX_ITEMS ? PD_ETOOBIG : PD_ENOMEM;
	if (!s->open) {
		if (!(q = pd_vec_push(&b->seqs)))
			return PD_ENOMEM;
		s->seq_idx = b->seqs.len - 1;
		q->low = s->addr;
		q->first = b->rows.len - 1;
		q->n = 0;
		q->order = s->seq_idx;
		s->open = 1;
	}
	q = (struct pd_seq *)b->seqs.data + s->seq_idx;
	q->n++;
	q->high = s->addr;
fill:
	r->addr = s->addr;
	r->file = end ? PD_NONE : pd_line_file(b, s->file);
	r->line = (uint32_t)s->line;
	r->column = (uint32_t)s->column;
	r->disc = (uint32_t)s->disc;
	s->disc = 0;
	if (end)
		s->open = 0;
	return PD_OK;
}

/* binutils starts each sequence's file name at file 0 in DWARF 5 (the
 * unit's primary file), though the file register starts at 1. */
static void reset(struct lstate *s, const struct lhdr *h)
{
	s->addr = 0;
	s->file = h->version >= 5 ? 0 : 1;
	s->line = 1;
	s->column = 0;
	s->disc = 0;
}

static int extended(struct pd_build *b, struct lhdr *h, struct pd_cur *c, struct lstate *s)
{
	uint64_t len, op, x;
	struct pd_cur sub;
	const char *name;
	int st;

	if ((st = pd_uleb(c, &len)))
		return st;
	if (len == 0 || len > (uint64_t)(c->end - c->p))
		return len ? PD_ETRUNC : PD_OK;
	sub.p = c->p;
	sub.end = c->p + len;
	c->p = sub.end;
	pd_u8(&sub, &op);
	switch (op) {
	case 1:     /* end_sequence */
		st = emit(b, s, 1);
		reset(s, h);
		return st;
	case 2:     /* set_address */
		if ((st = pd_uN(&sub, (unsigned)(len - 1 > 8 ? 8 : len - 1), &x)))
			return st;
		s->addr = x;
		return PD_OK;
	case 3:     /* define_file */
		if ((st = pd_cstr(&sub, &name)) || (st = pd_uleb(&sub, &x)))
			return st;
		return pd_line_add_file(b, h, name, x);
	case 4:     /* set_discriminator */
		return pd_uleb(&sub, &s->disc);
	}
	return PD_OK;
}

static int standard(struct lhdr *h, struct pd_cur *c, struct lstate *s, uint64_t op)
{
	uint64_t x;
	int64_t d;
	int st = PD_OK;

	switch (op) {
	case 2:     /* advance_pc */
		if (!(st = pd_uleb(c, &x)))
			s->addr += x * h->min_inst;
		return st;
	case 3:     /* advance_line */
		if (!(st = pd_sleb(c, &d)))
			s->line += (uint64_t)d;
		return st;
	case 4:
		return pd_uleb(c, &s->file);
	case 5:
		return pd_uleb(c, &s->column);
	case 8:     /* const_add_pc */
		s->addr += (uint64_t)((255 - h->opcode_base) / h->line_range) * h->min_inst;
		return PD_OK;
	case 9:     /* fixed_advance_pc */
		if (!(st = pd_u16(c, &x)))
			s->addr += x;
		return st;
	case 6: case 7: case 10: case 11:
		return PD_OK;
	}
	for (unsigned i = 0; i < h->std_lengths[op - 1] && !st; i++)
		st = pd_uleb(c, &x);
	return st;
}

int pd_line_run(struct pd_build *b, struct lhdr *h, struct pd_cur *c)
{
	struct lstate s;
	uint64_t op;
	int st = PD_OK;

	memset(&s, 0, sizeof(s));
	reset(&s, h);
	while (!st && c->p < c->end) {
		pd_u8(c, &op);
		if (op >= h->opcode_base) {
			unsigned adj = (unsigned)op - h->opcode_base;

			s.addr += (uint64_t)(adj / h->line_range) * h->min_inst;
			s.line += (uint64_t)(int64_t)(h->line_base + (int)(adj % h->line_range));
			st = emit(b, &s, 0);
		} else if (op == 0) {
			st = extended(b, h, c, &s);
		} else if (op == 1) {
			st = emit(b, &s, 0);
		} else {
			st = standard(h, c, &s, op);
		}
	}
	if (!st && s.open) {
		/* Never ended: its last row only marks the end, as in binutils. */
		struct pd_row *rows = b->rows.data;

		rows[b->rows.len - 1].file = PD_NONE;
	}
	return st;
}
