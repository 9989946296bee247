/*
 * pymod DWARF core: reads the line programs and the inlined-subroutine
 * trees of DWARF 2-5 debug sections and builds one flat, position
 * independent index blob; then answers address -> frames from a blob.
 *
 * The sections are plain memory, already decompressed and relocated by the
 * caller.  Every parser checks its bounds: a malformed input gives a
 * negative status, never a read outside a buffer.  A blob handed to
 * pd_index_open() is validated once, fully (header checksum, every count,
 * every string offset, every parent link), so lookups need no checks.
 *
 * The text between the cffi markers is read verbatim by
 * cffi_build/build_dwarf.py as its cdef.
 */
#ifndef PYMOD_DWARF_H
#define PYMOD_DWARF_H

#include <stddef.h>
#include <stdint.h>

/* cffi:begin */
/* The sections pd_build() reads (index into pd_sections' arrays). */
enum pd_section {
	PD_INFO = 0,
	PD_ABBREV = 1,
	PD_LINE = 2,
	PD_STR = 3,
	PD_LINE_STR = 4,
	PD_STR_OFFSETS = 5,
	PD_RNGLISTS = 6,
	PD_RANGES = 7,
	PD_ADDR = 8,
	PD_ARANGES = 9,
	PD_NSECTIONS = 10
};

struct pd_sections {
	const uint8_t *data[10];   /* NULL when absent */
	uint64_t size[10];
};

/* Status codes: 0 success, negative failure; pd_strerror() names each one. */
enum pd_status {
	PD_OK = 0,
	PD_ENOMEM = -1,      /* allocation failed */
	PD_ETRUNC = -2,      /* a unit or table runs past its section */
	PD_EVERSION = -3,    /* unsupported DWARF version */
	PD_EFORM = -4,       /* unknown attribute form */
	PD_EABBREV = -5,     /* abbreviation code missing or table malformed */
	PD_EDEPTH = -6,      /* DIE nesting or reference chain too deep */
	PD_ERANGE = -7,      /* an offset or index points outside its section */
	PD_ELINE = -8,       /* malformed line program header */
	PD_ETOOBIG = -9,     /* more rows, functions or strings than an index holds */
	PD_EBADINDEX = -10,  /* blob: not an index (magic or version) */
	PD_ECORRUPT = -11,   /* blob: checksum, size or an offset is wrong */
	PD_EINVAL = -12      /* invalid argument */
};

/* One lookup answer's frames: a struct of arrays the caller allocates. */
struct pd_frames {
	uint32_t *function;       /* string offset, 0xffffffff when unknown */
	uint32_t *file;           /* string offset, 0xffffffff when unknown */
	uint32_t *line;
	uint32_t *column;
	uint32_t *discriminator;
	uint8_t *inlined;         /* 1 for every frame but the outermost */
};

struct pd_index;

const char *pd_strerror(int status);

/* Build an index blob from the sections; *out is malloc'ed, pd_free() it. */
int pd_build(const struct pd_sections *sections, uint8_t **out, uint64_t *out_size);
void pd_free(void *p);

/* Validate a blob and wrap it (the blob must outlive the index). */
int pd_index_open(const uint8_t *blob, uint64_t size, struct pd_index **out);
void pd_index_close(struct pd_index *idx);
uint64_t pd_index_nrows(const struct pd_index *idx);
uint64_t pd_index_nfuncs(const struct pd_index *idx);
/* The NUL-terminated string at a validated offset (NULL if out of range). */
const char *pd_index_string(const struct pd_index *idx, uint32_t off);

/*
 * Batch lookup, two passes.  pd_index_count() fills counts[i] (frames of
 * addrs[i]), offsets[i] (its first frame in the flat table), scratch[i]
 * (opaque, for pd_index_fill) and returns the total in *total.
 * pd_index_fill() writes the frames into arrays of *total entries.
 */
int pd_index_count(const struct pd_index *idx, const uint64_t *addrs, uint64_t n,
		   uint32_t *counts, uint64_t *offsets, uint64_t *scratch, uint64_t *total);
int pd_index_fill(const struct pd_index *idx, uint64_t n, const uint64_t *offsets,
		  const uint64_t *scratch, struct pd_frames *frames);

/*
 * The text addr2line -i prints for each address's chain, its frames joined
 * by one space: "file:line"; "??" for an unknown file, "?" for line 0;
 * " (discriminator N)" after a known line when the innermost frame has one
 * (addr2line keeps it for the callers); "??:?" for an address without
 * lines.  A file that starts with strip[0:strip_len] loses that prefix.
 * Address i's text is out[ends[i-1]:ends[i]] (from 0 for i = 0); flags[i]
 * is 1, and the text empty, when a file name holds a byte outside
 * printable ASCII or the chain is deeper than 64: the caller spells those.
 * *done addresses are written; fewer than n when out is full (call again
 * for the rest).  Reads the index only.
 */
int pd_index_chain_text(const struct pd_index *idx, const uint64_t *addrs, uint64_t n,
			const char *strip, uint64_t strip_len, char *out, uint64_t cap,
			uint64_t *ends, uint8_t *flags, uint64_t *done);

/*
 * A symbol table's names -> the lowest address of a t/T symbol of each (as
 * decode_stacktrace.sh finds a function with nm).  The arrays are read
 * once; strtab must outlive the map (its strings, each NUL-terminated
 * inside strsize, or PD_ERANGE).  The table is in address order.  Read
 * only once built: any number of readers.
 */
struct pd_namemap;
int pd_namemap_new(const char *strtab, uint64_t strsize, const uint32_t *name_off,
		   const uint64_t *addrs, const char *types, uint64_t n, struct pd_namemap **out);
void pd_namemap_free(struct pd_namemap *m);

/*
 * The line decode_stacktrace.sh writes for bare addresses the symbolizer
 * named name+offset: "name (chain) \n", the name at name_off[i] of strtab
 * (0xffffffff: none), found in map, its chain as pd_index_chain_text()
 * writes it for map's address + offsets[i].  flags[i]: 0 written to
 * out[ends[i-1]:ends[i]]; 1 left to the caller (a byte outside printable
 * ASCII, a chain deeper than 64); 2 not for this path (no name, an empty
 * one, one the script's word split cuts, one map lacks).  *done rows are
 * answered; fewer than n when out is full (call again for the rest).
 */
int pd_decode_bare(const struct pd_index *idx, const struct pd_namemap *map, const char *strtab,
		   uint64_t strsize, const uint32_t *name_off, const uint64_t *offsets, uint64_t n,
		   const char *strip, uint64_t strip_len, char *out, uint64_t cap, uint64_t *ends,
		   uint8_t *flags, uint64_t *done);
/* cffi:end */

#endif
