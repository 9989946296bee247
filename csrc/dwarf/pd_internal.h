/*
 * Internals shared by the DWARF reader's files: a bounds-checked cursor,
 * growable arrays, the string interner and the builder's state.
 */
#ifndef PD_INTERNAL_H
#define PD_INTERNAL_H

#include <stdint.h>
#include <stddef.h>
#include "pymod_dwarf.h"

#define PD_NONE 0xffffffffu
#define PD_MAX_DEPTH 1024        /* DIE nesting: real compilers stay far below */
#define PD_MAX_REFCHAIN 64       /* abstract_origin/specification hops */
#define PD_MAX_ITEMS 0xfffffff0u /* rows, functions, bytes of strings */

/* A read position inside one buffer; every read checks the end. */
struct pd_cur {
	const uint8_t *p;
	const uint8_t *end;
};

int pd_u8(struct pd_cur *c, uint64_t *v);
int pd_u16(struct pd_cur *c, uint64_t *v);
int pd_u24(struct pd_cur *c, uint64_t *v);
int pd_u32(struct pd_cur *c, uint64_t *v);
int pd_u64(struct pd_cur *c, uint64_t *v);
int pd_uN(struct pd_cur *c, unsigned n, uint64_t *v);
int pd_uleb(struct pd_cur *c, uint64_t *v);
int pd_sleb(struct pd_cur *c, int64_t *v);
int pd_skip(struct pd_cur *c, uint64_t n);
int pd_cstr(struct pd_cur *c, const char **s);
/* A NUL-terminated string at off in a section (PD_ERANGE if none). */
int pd_sec_str(const uint8_t *sec, uint64_t size, uint64_t off, const char **s);
/* Entry `index` (`width` bytes) of the table at `base` in section `sec`: the
 * DWARF 5 str_offsets, addr and rnglists tables; PD_ERANGE when outside. */
int pd_sec_entry(const struct pd_sections *s, enum pd_section sec, uint64_t base,
		 uint64_t index, unsigned width, uint64_t *v);
/* An initial length: 4 or 12 bytes; *offsz is 4 or 8. */
int pd_initial_length(struct pd_cur *c, uint64_t *len, unsigned *offsz);

/* Growable array of fixed-size elements. */
struct pd_vec {
	void *data;
	uint64_t len, cap;
	size_t esz;
};
void pd_vec_init(struct pd_vec *v, size_t esz);
void *pd_vec_push(struct pd_vec *v);   /* NULL on ENOMEM or overflow */
void pd_vec_free(struct pd_vec *v);

/* String interner: content -> offset in one NUL-separated byte table. */
struct pd_strtab {
	struct pd_vec bytes;   /* of char */
	uint32_t *slots;       /* offset + 1, 0 = empty */
	uint64_t nslots, count;
};
int pd_strtab_init(struct pd_strtab *t);
void pd_strtab_free(struct pd_strtab *t);
int pd_strtab_add(struct pd_strtab *t, const char *s, size_t n, uint32_t *off);
/* "a/b/c" from up to three parts (NULL parts skipped). */
int pd_strtab_join(struct pd_strtab *t, const char *a, const char *b, const char *c,
		   uint32_t *off);

/* Builder records. */
struct pd_row {         /* one line-table row, or a sequence end (file == PD_NONE) */
	uint64_t addr;
	uint32_t file, line, column, disc;
};
struct pd_seq {         /* rows [first, first+n) of the build's row vector */
	uint64_t low, high, first, n, order;
};
struct pd_func {        /* one subprogram or inlined subroutine */
	uint32_t name, call_file, call_line, call_column, parent;
};
struct pd_range {
	uint64_t lo, hi;
	uint32_t func;
};

/* Parsed abbreviation table. */
struct pd_attrspec {
	uint32_t name, form;
	int64_t implicit;
};
struct pd_abbrev {
	uint64_t code;
	uint32_t tag, nattrs, first;   /* specs[first .. first+nattrs) */
	uint8_t children;
	int32_t fixed;                 /* byte size of all attributes, -1 if variable */
};
struct pd_abbrevs {
	uint64_t offset;
	struct pd_abbrev *list;        /* sorted by code; dense when direct */
	uint64_t n;
	struct pd_attrspec *specs;
	int direct;                    /* list[code - 1] is code */
};

/* One unit's header and base attributes. */
struct pd_unit {
	uint64_t off, end, die_off;    /* in .debug_info */
	unsigned version, offsz, addrsz;
	struct pd_abbrevs *abbrevs;
	uint64_t str_offsets_base, addr_base, rnglists_base, low_pc;
	uint64_t stmt_list;
	const char *comp_dir;
	int has_stmt, skip;            /* skip: a type or split unit */
};

struct pd_build {
	const struct pd_sections *s;
	struct pd_vec rows, seqs, funcs, ranges;
	struct pd_vec files;           /* uint32 string offsets of this unit's files */
	struct pd_vec units;           /* struct pd_unit, all units */
	struct pd_vec abbrev_cache;    /* struct pd_abbrevs */
	struct pd_strtab strings;
	uint64_t *name_keys;           /* ref-name cache: die offset + 1 */
	uint32_t *name_vals;
	uint64_t name_slots, name_count;
	int file0_based;               /* this unit's line table is DWARF 5 */
	uint64_t range_budget;         /* list entries left to read */
};

/* pd_abbrev.c */
int pd_abbrevs_get(struct pd_build *b, uint64_t off, const struct pd_unit *u,
		   struct pd_abbrevs **out);
const struct pd_abbrev *pd_abbrev_find(const struct pd_abbrevs *a, uint64_t code);
void pd_abbrevs_free_all(struct pd_build *b);

/* pd_form.c: attribute values */
struct pd_attr {
	uint32_t form;
	uint64_t u;            /* constant, offset, address or index */
	const char *str;       /* for string forms, once resolved */
};
int pd_form_read(const struct pd_unit *u, struct pd_cur *c, uint32_t form, int64_t implicit,
		 struct pd_attr *a);
int pd_form_skip(const struct pd_unit *u, struct pd_cur *c, uint32_t form);
int pd_form_fixed_size(unsigned version, uint32_t form);  /* -1 variable/unknown */
int pd_attr_string(const struct pd_build *b, const struct pd_unit *u,
		   const struct pd_attr *a, const char **s);
int pd_attr_addr(const struct pd_build *b, const struct pd_unit *u,
		 const struct pd_attr *a, uint64_t *v);
int pd_form_is_string(uint32_t form);
int pd_form_is_ref(uint32_t form);
/* Global .debug_info offset of a reference attribute. */
int pd_attr_ref(const struct pd_unit *u, const struct pd_attr *a, uint64_t *off);

/* pd_line.c */
int pd_line_program(struct pd_build *b, const struct pd_unit *cu, uint64_t off,
		    const char *comp_dir);
/* String offset of file number n of the current unit's line table. */
uint32_t pd_line_file(struct pd_build *b, uint64_t n);

/* pd_ranges.c */
int pd_ranges_add(struct pd_build *b, const struct pd_unit *u, const struct pd_attr *a,
		  uint32_t func);
int pd_range_pc(struct pd_build *b, uint64_t lo, uint64_t hi, uint32_t func);

/* pd_info.c */
int pd_info_scan(struct pd_build *b);
int pd_units_read(struct pd_build *b);
/* pd_clip.c */
int pd_unit_ranges(struct pd_build *b, const struct pd_unit *u, struct pd_vec *cu);
int pd_clip_unit(struct pd_build *b, const struct pd_vec *cu, uint64_t seq_start,
		 uint64_t range_start);
/* Name of a function DIE from its own attributes (PD_NONE if none); *origin
 * gets its abstract_origin/specification target or UINT64_MAX. */
struct pd_fattrs {
	struct pd_attr name, linkage, low, high, ranges;
	uint64_t origin, call_file, call_line, call_column;
	int has_name, has_linkage, has_low, has_high, has_ranges, has_call_file;
};
int pd_die_fattrs(const struct pd_unit *u, const struct pd_abbrev *ab, struct pd_cur *c,
		  struct pd_fattrs *f);
int pd_add_pc(struct pd_build *b, const struct pd_unit *u, const struct pd_fattrs *f,
	      uint32_t func);
int pd_fattrs_name(struct pd_build *b, const struct pd_unit *u, const struct pd_fattrs *f,
		   uint32_t *name);

/* pd_names.c */
int pd_ref_name(struct pd_build *b, uint64_t die_off, uint32_t *name);
const struct pd_unit *pd_unit_at(const struct pd_build *b, uint64_t off);

/*
 * pd_index.c, for pd_text.c: the frames of one address, innermost first,
 * written to f from slot 0 when they are at most cap; returns how many
 * there are (more than cap: none written).  Reads the index only.
 */
uint32_t pd_index_frames1(const struct pd_index *x, uint64_t addr, struct pd_frames *f,
			  uint32_t cap);

/* pd_namemap.c, for pd_text.c */
int64_t pd_strtab_len(const char *strtab, uint64_t strsize, uint64_t off);
int pd_namemap_get(const struct pd_namemap *m, const char *name, uint64_t len, uint64_t *addr);

/* pd_blob.c */
int pd_blob_write(struct pd_build *b, uint8_t **out, uint64_t *out_size);

#endif
