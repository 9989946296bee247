/*
 * Reading an index blob: pd_index_open() validates it once and fully, so
 * the lookups that follow index only in bounds; then batch lookups.
 */
#include <stdlib.h>
#include <string.h>
#include "pd_internal.h"
#include "pd_blob.h"
#include "pd_sort.h"

struct pd_index {
	const uint8_t *blob;
	struct pd_hdr h;
	const uint64_t *row_addr, *seg_addr;
	const struct pd_rowinfo *row_info;
	const uint32_t *seg_func;
	const struct pd_func *funcs;
	const char *str;
	/* Every PD_STRIDE-th address of the rows and segments: a small array
	 * that stays in cache, so a lookup misses only in its final block. */
	uint64_t *row_top, *seg_top;
	uint64_t nrow_top, nseg_top;
};

#define PD_STRIDE 64

static int table_ok(const struct pd_hdr *h, uint64_t off, uint64_t n, uint64_t esz)
{
	return off % 8 == 0 && off >= sizeof(*h) && off <= h->blob_size &&
	       n <= (h->blob_size - off) / esz;
}

static int check_header(const struct pd_hdr *h, uint64_t size)
{
	if (memcmp(h->magic, PD_MAGIC, 8) || h->version != PD_BLOB_VERSION ||
	    h->hdr_size != sizeof(*h))
		return PD_EBADINDEX;
	if (h->checksum != pd_hdr_checksum(h) || h->blob_size != size)
		return PD_ECORRUPT;
	if (!table_ok(h, h->off_row_addr, h->nrows, 8) ||
	    !table_ok(h, h->off_row_info, h->nrows, sizeof(struct pd_rowinfo)) ||
	    !table_ok(h, h->off_seg_addr, h->nsegs, 8) ||
	    !table_ok(h, h->off_seg_func, h->nsegs, 4) ||
	    !table_ok(h, h->off_funcs, h->nfuncs, sizeof(struct pd_func)) ||
	    !table_ok(h, h->off_str, h->strsize, 1) || h->strsize == 0 ||
	    h->strsize >= PD_NONE || h->nfuncs >= PD_NONE)
		return PD_ECORRUPT;
	return PD_OK;
}

static int str_ok(const struct pd_index *x, uint32_t off)
{
	return off == PD_NONE || off < x->h.strsize;
}

static int check_tables(const struct pd_index *x)
{
	const struct pd_hdr *h = &x->h;

	if (x->str[h->strsize - 1])
		return PD_ECORRUPT;
	for (uint64_t i = 0; i < h->nrows; i++)
		if ((i && x->row_addr[i] < x->row_addr[i - 1]) || !str_ok(x, x->row_info[i].file))
			return PD_ECORRUPT;
	for (uint64_t i = 0; i < h->nsegs; i++)
		if ((i && x->seg_addr[i] <= x->seg_addr[i - 1]) ||
		    (x->seg_func[i] != PD_NONE && x->seg_func[i] >= h->nfuncs))
			return PD_ECORRUPT;
	for (uint64_t i = 0; i < h->nfuncs; i++) {
		const struct pd_func *f = &x->funcs[i];

		if (!str_ok(x, f->name) || !str_ok(x, f->call_file) ||
		    (f->parent != PD_NONE && f->parent >= i))
			return PD_ECORRUPT;
	}
	return PD_OK;
}

static uint64_t *sample(const uint64_t *a, uint64_t n, uint64_t *ntop)
{
	uint64_t *top;

	*ntop = (n + PD_STRIDE - 1) / PD_STRIDE;
	top = malloc((size_t)(*ntop ? *ntop : 1) * sizeof(*top));
	for (uint64_t i = 0; top && i < *ntop; i++)
		top[i] = a[i * PD_STRIDE];
	return top;
}

static int make_tops(struct pd_index *x)
{
	x->row_top = sample(x->row_addr, x->h.nrows, &x->nrow_top);
	x->seg_top = sample(x->seg_addr, x->h.nsegs, &x->nseg_top);
	return x->row_top && x->seg_top ? PD_OK : PD_ENOMEM;
}

void pd_index_close(struct pd_index *idx);

int pd_index_open(const uint8_t *blob, uint64_t size, struct pd_index **out)
{
	struct pd_index *x;
	int st;

	*out = NULL;
	if (!blob || size < sizeof(struct pd_hdr) || ((uintptr_t)blob & 7))
		return blob && size >= sizeof(struct pd_hdr) ? PD_EINVAL : PD_EBADINDEX;
	if (!(x = calloc(1, sizeof(*x))))
		return PD_ENOMEM;
	memcpy(&x->h, blob, sizeof(x->h));
	if ((st = check_header(&x->h, size))) {
		free(x);
		return st;
	}
	x->blob = blob;
	x->row_addr = (const uint64_t *)(blob + x->h.off_row_addr);
	x->row_info = (const struct pd_rowinfo *)(blob + x->h.off_row_info);
	x->seg_addr = (const uint64_t *)(blob + x->h.off_seg_addr);
	x->seg_func = (const uint32_t *)(blob + x->h.off_seg_func);
	x->funcs = (const struct pd_func *)(blob + x->h.off_funcs);
	x->str = (const char *)(blob + x->h.off_str);
	if ((st = check_tables(x)) || (st = make_tops(x))) {
		pd_index_close(x);
		return st;
	}
	*out = x;
	return PD_OK;
}

void pd_index_close(struct pd_index *idx)
{
	if (idx) {
		free(idx->row_top);
		free(idx->seg_top);
		free(idx);
	}
}

uint64_t pd_index_nrows(const struct pd_index *idx) { return idx->h.nrows; }
uint64_t pd_index_nfuncs(const struct pd_index *idx) { return idx->h.nfuncs; }

const char *pd_index_string(const struct pd_index *idx, uint32_t off)
{
	return off < idx->h.strsize ? idx->str + off : NULL;
}

/* Index of the last entry <= addr in a sorted array, or n when none. */
static uint64_t floor_idx(const uint64_t *a, uint64_t n, uint64_t addr)
{
	uint64_t lo = 0, len = n;

	if (!n || addr < a[0])
		return n;
	while (len > 1) {
		uint64_t half = len / 2;

		if (a[lo + half] <= addr)
			lo += half;
		len -= half;
	}
	return lo;
}

/* floor_idx() through the sampled addresses: cache misses in one block only. */
static uint64_t floor_top(const uint64_t *a, uint64_t n, const uint64_t *top, uint64_t ntop,
			  uint64_t addr)
{
	uint64_t t = floor_idx(top, ntop, addr), lo, len;

	if (t == ntop)
		return n;
	lo = t * PD_STRIDE;
	len = n - lo < PD_STRIDE ? n - lo : PD_STRIDE;
	return lo + floor_idx(a + lo, len, addr);
}

static uint32_t depth_of(const struct pd_index *x, uint32_t func)
{
	uint32_t d = 0;

	for (; func != PD_NONE; func = x->funcs[func].parent)
		d++;
	return d;
}

/* Frames of one address: its row and innermost function in *scratch. */
static uint32_t count_one(const struct pd_index *x, uint64_t addr, uint64_t *scratch)
{
	uint64_t r = floor_top(x->row_addr, x->h.nrows, x->row_top, x->nrow_top, addr);
	uint64_t s = floor_top(x->seg_addr, x->h.nsegs, x->seg_top, x->nseg_top, addr);
	uint32_t row = r < x->h.nrows && x->row_info[r].file != PD_NONE ? (uint32_t)r : PD_NONE;
	uint32_t fn = s < x->h.nsegs ? x->seg_func[s] : PD_NONE;

	*scratch = (uint64_t)row << 32 | fn;
	return fn == PD_NONE ? (row != PD_NONE) : depth_of(x, fn);
}

int pd_index_count(const struct pd_index *x, const uint64_t *addrs, uint64_t n,
		   uint32_t *counts, uint64_t *offsets, uint64_t *scratch, uint64_t *total)
{
	struct pd_pair *sorted = NULL;
	uint64_t sum = 0;

	/* A large batch is answered in address order, where neighbours share
	 * cache lines; a small one, or one we cannot sort, in its own order. */
	if (n >= 4096 && pd_sort_pairs(addrs, n, &sorted) == PD_OK) {
		for (uint64_t k = 0; k < n; k++) {
			uint32_t i = sorted[k].idx;

			counts[i] = count_one(x, sorted[k].key, &scratch[i]);
		}
		free(sorted);
	} else {
		for (uint64_t i = 0; i < n; i++)
			counts[i] = count_one(x, addrs[i], &scratch[i]);
	}
	for (uint64_t i = 0; i < n; i++) {
		offsets[i] = sum;
		sum += counts[i];
	}
	*total = sum;
	return PD_OK;
}

static void put(struct pd_frames *f, uint64_t k, uint32_t fn, uint32_t file, uint32_t line,
		uint32_t col, uint32_t disc, uint8_t inlined)
{
	f->function[k] = fn;
	f->file[k] = file;
	f->line[k] = line;
	f->column[k] = col;
	f->discriminator[k] = disc;
	f->inlined[k] = inlined;
}

/* The frames of one address from its scratch word, from slot k on. */
static void fill_one(const struct pd_index *x, uint64_t scratch, struct pd_frames *f, uint64_t k)
{
	uint32_t row = (uint32_t)(scratch >> 32), fn = (uint32_t)scratch;
	const struct pd_rowinfo *ri = row == PD_NONE ? NULL : &x->row_info[row];
	uint32_t name = fn == PD_NONE ? PD_NONE : x->funcs[fn].name;

	if (row == PD_NONE && fn == PD_NONE)
		return;
	put(f, k++, name, ri ? ri->file : PD_NONE, ri ? ri->line : 0, ri ? ri->column : 0,
	    ri ? ri->disc : 0, fn != PD_NONE && x->funcs[fn].parent != PD_NONE);
	for (; fn != PD_NONE && x->funcs[fn].parent != PD_NONE; fn = x->funcs[fn].parent) {
		const struct pd_func *in = &x->funcs[fn];
		uint32_t up = in->parent;

		put(f, k++, x->funcs[up].name, in->call_file, in->call_line, in->call_column,
		    0, x->funcs[up].parent != PD_NONE);
	}
}

int pd_index_fill(const struct pd_index *x, uint64_t n, const uint64_t *offsets,
		  const uint64_t *scratch, struct pd_frames *f)
{
	for (uint64_t i = 0; i < n; i++) {
		uint32_t row = (uint32_t)(scratch[i] >> 32), fn = (uint32_t)scratch[i];

		if (row != PD_NONE && row >= x->h.nrows)
			return PD_EINVAL;
		if (fn != PD_NONE && fn >= x->h.nfuncs)
			return PD_EINVAL;
		fill_one(x, scratch[i], f, offsets[i]);
	}
	return PD_OK;
}

uint32_t pd_index_frames1(const struct pd_index *x, uint64_t addr, struct pd_frames *f,
			  uint32_t cap)
{
	uint64_t scratch;
	uint32_t count = count_one(x, addr, &scratch);

	if (count <= cap)
		fill_one(x, scratch, f, 0);
	return count;
}
