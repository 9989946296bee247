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
/* cffi:end */

#endif
