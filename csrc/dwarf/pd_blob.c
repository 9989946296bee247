/*
 * From the reader's rows, sequences, functions and ranges to the blob:
 * sequences are sorted and trimmed as binutils' sort_line_sequences()
 * does (by start, longest first; nested ones dropped, overlapping ones cut
 * at the previous end), and function ranges become segments that each name
 * the smallest range around them (binutils' "best fit"; a tie goes to the
 * later DIE).
 */
#include <stdlib.h>
#include <string.h>
#include "pd_internal.h"
#include "pd_blob.h"

struct flat {
	struct pd_vec addr, info, seg_addr, seg_func;
};

static int cmp_seq(const void *x, const void *y)
{
	const struct pd_seq *a = x, *b = y;

	if (a->low != b->low)
		return a->low < b->low ? -1 : 1;
	if (a->high != b->high)
		return a->high > b->high ? -1 : 1;
	return a->order < b->order ? -1 : a->order > b->order;
}

static int put_row(struct flat *f, uint64_t addr, const struct pd_row *r, int end)
{
	uint64_t *a = f->addr.len ? (uint64_t *)f->addr.data + f->addr.len - 1 : NULL;
	struct pd_rowinfo *ri;

	if (a && addr < *a)
		return PD_OK;        /* a row going backwards: unreachable anyway */
	if (!(a = pd_vec_push(&f->addr)) || !(ri = pd_vec_push(&f->info)))
		return PD_ENOMEM;
	*a = addr;
	ri->file = end ? PD_NONE : r->file;
	ri->line = r->line;
	ri->column = r->column;
	ri->disc = r->disc;
	return PD_OK;
}

static int flatten_rows(struct pd_build *b, struct flat *f)
{
	struct pd_seq *seqs = b->seqs.data;
	const struct pd_row *rows = b->rows.data;
	uint64_t last_high = 0;
	int have = 0, st;

	if (b->seqs.len)
		qsort(seqs, (size_t)b->seqs.len, sizeof(*seqs), cmp_seq);
	for (uint64_t i = 0; i < b->seqs.len; i++) {
		const struct pd_row *r = rows + seqs[i].first;
		uint64_t low = seqs[i].low, high = seqs[i].high, n = seqs[i].n, k = 0;

		if (!n)
			continue;
		if (have && low < last_high) {
			if (seqs[i].high <= last_high)
				continue;
			low = last_high;
		}
		while (k + 1 < n && r[k + 1].addr <= low)
			k++;
		for (uint64_t j = k; j < n; j++) {
			/* A sequence cut to its unit's ranges ends early. */
			int end = j + 1 == n || r[j].file == PD_NONE || (j > k && r[j].addr >= high);

			if ((st = put_row(f, end ? high : j == k ? low : r[j].addr, &r[j], end)))
				return st;
			if (end)
				break;
		}
		last_high = seqs[i].high;
		have = 1;
	}
	return PD_OK;
}

static int cmp_range(const void *x, const void *y)
{
	const struct pd_range *a = x, *b = y;

	if (a->lo != b->lo)
		return a->lo < b->lo ? -1 : 1;
	if (a->hi != b->hi)
		return a->hi > b->hi ? -1 : 1;
	return a->func < b->func ? -1 : a->func > b->func;
}

static int put_seg(struct flat *f, uint64_t addr, uint32_t func)
{
	uint64_t n = f->seg_addr.len, *a;
	uint32_t *fn;

	if (n && ((uint64_t *)f->seg_addr.data)[n - 1] == addr) {
		f->seg_addr.len--, f->seg_func.len--, n--;
	}
	if (n && ((uint32_t *)f->seg_func.data)[n - 1] == func)
		return PD_OK;
	if (!(a = pd_vec_push(&f->seg_addr)) || !(fn = pd_vec_push(&f->seg_func)))
		return PD_ENOMEM;
	*a = addr;
	*fn = func;
	return PD_OK;
}

/* Close every range on the stack that ends at or before x. */
static int close_until(struct flat *f, struct pd_vec *stack, uint64_t x)
{
	const struct pd_range **s = stack->data;
	int st;

	while (stack->len && s[stack->len - 1]->hi <= x) {
		uint64_t hi = s[--stack->len]->hi;

		while (stack->len && s[stack->len - 1]->hi <= hi)
			stack->len--;
		st = put_seg(f, hi, stack->len ? s[stack->len - 1]->func : PD_NONE);
		if (st)
			return st;
	}
	return PD_OK;
}

static int segments(struct pd_build *b, struct flat *f)
{
	struct pd_range *r = b->ranges.data;
	struct pd_vec stack;
	int st = PD_OK;

	pd_vec_init(&stack, sizeof(struct pd_range *));
	if (b->ranges.len)
		qsort(r, (size_t)b->ranges.len, sizeof(*r), cmp_range);
	for (uint64_t i = 0; i < b->ranges.len && !st; i++) {
		const struct pd_range **top;

		if ((st = close_until(f, &stack, r[i].lo)) || (st = put_seg(f, r[i].lo, r[i].func)))
			break;
		if (!(top = pd_vec_push(&stack)))
			st = PD_ENOMEM;
		else
			*top = &r[i];
	}
	if (!st)
		st = close_until(f, &stack, UINT64_MAX);
	pd_vec_free(&stack);
	return st;
}

uint64_t pd_hdr_checksum(const struct pd_hdr *h)
{
	struct pd_hdr copy = *h;
	const uint8_t *p = (const uint8_t *)&copy;
	uint64_t x = 0xcbf29ce484222325ull;

	copy.checksum = 0;
	for (size_t i = 0; i < sizeof(copy); i++)
		x = (x ^ p[i]) * 0x100000001b3ull;
	return x;
}

static uint64_t place(uint64_t *at, uint64_t bytes)
{
	uint64_t off = *at;

	*at = (off + bytes + 7) & ~(uint64_t)7;
	return off;
}

static int assemble(struct pd_build *b, struct flat *f, uint8_t **out, uint64_t *out_size)
{
	struct pd_hdr h;
	uint64_t at = sizeof(h);
	uint8_t *blob;

	memset(&h, 0, sizeof(h));
	memcpy(h.magic, PD_MAGIC, 8);
	h.version = PD_BLOB_VERSION;
	h.hdr_size = sizeof(h);
	h.nrows = f->addr.len;
	h.nsegs = f->seg_addr.len;
	h.nfuncs = b->funcs.len;
	h.strsize = b->strings.bytes.len;
	h.off_row_addr = place(&at, h.nrows * 8);
	h.off_row_info = place(&at, h.nrows * sizeof(struct pd_rowinfo));
	h.off_seg_addr = place(&at, h.nsegs * 8);
	h.off_seg_func = place(&at, h.nsegs * 4);
	h.off_funcs = place(&at, h.nfuncs * sizeof(struct pd_func));
	h.off_str = place(&at, h.strsize);
	h.blob_size = at;
	h.checksum = pd_hdr_checksum(&h);
	if (!(blob = calloc(1, (size_t)at)))
		return PD_ENOMEM;
	memcpy(blob, &h, sizeof(h));
	if (h.nrows) {
		memcpy(blob + h.off_row_addr, f->addr.data, h.nrows * 8);
		memcpy(blob + h.off_row_info, f->info.data, h.nrows * sizeof(struct pd_rowinfo));
	}
	if (h.nsegs) {
		memcpy(blob + h.off_seg_addr, f->seg_addr.data, h.nsegs * 8);
		memcpy(blob + h.off_seg_func, f->seg_func.data, h.nsegs * 4);
	}
	if (h.nfuncs)
		memcpy(blob + h.off_funcs, b->funcs.data, h.nfuncs * sizeof(struct pd_func));
	if (h.strsize)
		memcpy(blob + h.off_str, b->strings.bytes.data, h.strsize);
	*out = blob;
	*out_size = at;
	return PD_OK;
}

int pd_blob_write(struct pd_build *b, uint8_t **out, uint64_t *out_size)
{
	struct flat f;
	int st;

	pd_vec_init(&f.addr, 8);
	pd_vec_init(&f.info, sizeof(struct pd_rowinfo));
	pd_vec_init(&f.seg_addr, 8);
	pd_vec_init(&f.seg_func, 4);
	st = flatten_rows(b, &f);
	pd_vec_free(&b->rows);
	if (!st)
		st = segments(b, &f);
	pd_vec_free(&b->ranges);
	if (!st)
		st = assemble(b, &f, out, out_size);
	pd_vec_free(&f.addr);
	pd_vec_free(&f.info);
	pd_vec_free(&f.seg_addr);
	pd_vec_free(&f.seg_func);
	return st;
}
