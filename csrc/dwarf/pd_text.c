/*
 * The text addr2line -i prints for a chain, in batch: the symbolize
 * command's bare-address path spends most of its time building these
 * strings one by one in Python.  Reads the index only: any number of
 * callers at once.
 */
#include <stdio.h>
#include <string.h>
#include "pd_internal.h"

#define PD_TEXT_DEPTH 64      /* deeper chains are left to the caller */

struct pd_out {
	char *p, *end;
};

static int put_bytes(struct pd_out *o, const char *s, uint64_t len)
{
	if ((uint64_t)(o->end - o->p) < len)
		return 0;
	memcpy(o->p, s, (size_t)len);
	o->p += len;
	return 1;
}

static int put_uint(struct pd_out *o, const char *fmt, uint32_t v)
{
	char buf[32];
	int len = snprintf(buf, sizeof(buf), fmt, v);

	return len > 0 && put_bytes(o, buf, (uint64_t)len);
}

/* 1 when every byte is printable ASCII: the caller's terminal_safe would
 * leave the text as it is, and decoding it cannot fail. */
static int printable(const char *s, uint64_t len)
{
	for (uint64_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

/* One frame, "file:line[ (discriminator N)]": 1 written, 0 full, -1 not printable. */
static int put_frame(const struct pd_index *x, struct pd_out *o, uint32_t file, uint32_t line,
		     uint32_t disc, const char *strip, uint64_t strip_len)
{
	const char *name = file == 0xffffffffu ? NULL : pd_index_string(x, file);
	uint64_t len = name ? strlen(name) : 0;

	if (!len) {
		name = "??";
		len = 2;
	} else if (strip_len && len >= strip_len && !memcmp(name, strip, (size_t)strip_len)) {
		name += strip_len;
		len -= strip_len;
	}
	if (!printable(name, len))
		return -1;
	if (!put_bytes(o, name, len) || !(line ? put_uint(o, ":%u", line) : put_bytes(o, ":?", 2)))
		return 0;
	return !(line && disc) || put_uint(o, " (discriminator %u)", disc);
}

/* One address's chain: 1 written, 0 full, -1 left to the caller. */
static int put_chain(const struct pd_index *x, struct pd_out *o, uint64_t addr,
		     const char *strip, uint64_t strip_len)
{
	uint32_t function[PD_TEXT_DEPTH], file[PD_TEXT_DEPTH], line[PD_TEXT_DEPTH];
	uint32_t column[PD_TEXT_DEPTH], disc[PD_TEXT_DEPTH];
	uint8_t inlined[PD_TEXT_DEPTH];
	struct pd_frames f = { function, file, line, column, disc, inlined };
	uint32_t n = pd_index_frames1(x, addr, &f, PD_TEXT_DEPTH);

	if (n > PD_TEXT_DEPTH)
		return -1;
	if (!n)
		return put_bytes(o, "??:?", 4);
	for (uint32_t k = 0; k < n; k++) {
		/* addr2line keeps the innermost frame's discriminator for the callers */
		int r = put_frame(x, o, file[k], line[k], disc[0], strip, strip_len);

		if (r <= 0)
			return r;
		if (k + 1 < n && !put_bytes(o, " ", 1))
			return 0;
	}
	return 1;
}

int pd_index_chain_text(const struct pd_index *x, const uint64_t *addrs, uint64_t n,
			const char *strip, uint64_t strip_len, char *out, uint64_t cap,
			uint64_t *ends, uint8_t *flags, uint64_t *done)
{
	struct pd_out o = { out, out + cap };

	if (!x || (n && (!addrs || !ends || !flags)) || (cap && !out) || (strip_len && !strip) ||
	    !done)
		return PD_EINVAL;
	for (*done = 0; *done < n; ++*done) {
		char *start = o.p;
		int r = put_chain(x, &o, addrs[*done], strip, strip_len);

		if (!r) {
			o.p = start;
			break;
		}
		if (r < 0)
			o.p = start;
		flags[*done] = r < 0;
		ends[*done] = (uint64_t)(o.p - out);
	}
	return PD_OK;
}

/* How a name's bytes stand for the script's word split: 0 plain, 2 split
 * or empty (not the batch path's), 1 not ASCII (the caller decides). */
static int name_kind(const char *s, uint64_t len)
{
	int kind = len ? 0 : 2;

	for (uint64_t i = 0; i < len && kind != 2; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x80)
			kind = 1;
		else if (c <= 0x20 || c == 0x7f || strchr("[]()<>:+/\\", c))
			kind = 2;
	}
	return kind;
}

/* One row: 0 written, 1 or 2 its flag, -1 out is full. */
static int put_bare(const struct pd_index *x, const struct pd_namemap *map, struct pd_out *o,
		    const char *strtab, uint64_t strsize, uint32_t name_off, uint64_t offset,
		    const char *strip, uint64_t strip_len)
{
	int64_t len = name_off == 0xffffffffu ? -1 : pd_strtab_len(strtab, strsize, name_off);
	const char *name = strtab + name_off;
	uint64_t base;
	int kind, r;

	if (len < 0)
		return 2;
	kind = name_kind(name, (uint64_t)len);
	if (kind)
		return kind;
	if (!pd_namemap_get(map, name, (uint64_t)len, &base))
		return 2;
	if (!put_bytes(o, name, (uint64_t)len) || !put_bytes(o, " (", 2))
		return -1;
	r = put_chain(x, o, base + offset, strip, strip_len);
	if (r <= 0)
		return r ? 1 : -1;
	return put_bytes(o, ") \n", 3) ? 0 : -1;
}

int pd_decode_bare(const struct pd_index *x, const struct pd_namemap *map, const char *strtab,
		   uint64_t strsize, const uint32_t *name_off, const uint64_t *offsets, uint64_t n,
		   const char *strip, uint64_t strip_len, char *out, uint64_t cap, uint64_t *ends,
		   uint8_t *flags, uint64_t *done)
{
	struct pd_out o = { out, out + cap };

	if (!x || !map || (n && (!strtab || !name_off || !offsets || !ends || !flags)) ||
	    (cap && !out) || (strip_len && !strip) || !done)
		return PD_EINVAL;
	for (*done = 0; *done < n; ++*done) {
		char *start = o.p;
		int r = put_bare(x, map, &o, strtab, strsize, name_off[*done], offsets[*done], strip,
				 strip_len);

		if (r < 0) {
			o.p = start;
			break;
		}
		if (r > 0)
			o.p = start;
		flags[*done] = (uint8_t)r;
		ends[*done] = (uint64_t)(o.p - out);
	}
	return PD_OK;
}
