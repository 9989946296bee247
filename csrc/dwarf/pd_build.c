/*
 * pd_build(): the two passes over .debug_info (units, then line programs
 * and DIE trees) and the blob; pd_strerror().
 */
#include <stdlib.h>
#include <string.h>
#include "pd_internal.h"

static void release(struct pd_build *b)
{
	pd_vec_free(&b->rows);
	pd_vec_free(&b->seqs);
	pd_vec_free(&b->funcs);
	pd_vec_free(&b->ranges);
	pd_vec_free(&b->files);
	pd_vec_free(&b->units);
	pd_abbrevs_free_all(b);
	pd_strtab_free(&b->strings);
	free(b->name_keys);
	free(b->name_vals);
}

int pd_build(const struct pd_sections *sections, uint8_t **out, uint64_t *out_size)
{
	struct pd_build b;
	uint32_t empty;
	int st;

	if (!sections || !out || !out_size)
		return PD_EINVAL;
	*out = NULL;
	*out_size = 0;
	memset(&b, 0, sizeof(b));
	b.s = sections;
	pd_vec_init(&b.rows, sizeof(struct pd_row));
	pd_vec_init(&b.seqs, sizeof(struct pd_seq));
	pd_vec_init(&b.funcs, sizeof(struct pd_func));
	pd_vec_init(&b.ranges, sizeof(struct pd_range));
	pd_vec_init(&b.files, sizeof(uint32_t));
	pd_vec_init(&b.units, sizeof(struct pd_unit));
	pd_vec_init(&b.abbrev_cache, sizeof(struct pd_abbrevs *));
	/* Range lists: a real list is read once or a few times; this bounds sharing. */
	b.range_budget = 4 * (sections->size[PD_INFO] + sections->size[PD_RANGES] +
			      sections->size[PD_RNGLISTS]) + 1024;
	st = pd_strtab_init(&b.strings);
	if (!st)
		st = pd_strtab_add(&b.strings, "", 0, &empty);
	if (!st)
		st = pd_units_read(&b);
	if (!st)
		st = pd_info_scan(&b);
	if (!st)
		st = pd_blob_write(&b, out, out_size);
	release(&b);
	return st;
}

const char *pd_strerror(int status)
{
	switch ((enum pd_status)status) {
	case PD_OK:
		return "success";
	case PD_ENOMEM:
		return "out of memory";
	case PD_ETRUNC:
		return "truncated DWARF data";
	case PD_EVERSION:
		return "unsupported DWARF version or unit";
	case PD_EFORM:
		return "unknown DWARF attribute form";
	case PD_EABBREV:
		return "bad abbreviation code or table";
	case PD_EDEPTH:
		return "DIEs nested or referenced too deeply";
	case PD_ERANGE:
		return "an offset or index points outside its section";
	case PD_ELINE:
		return "malformed line program header";
	case PD_ETOOBIG:
		return "too much debug data for one index";
	case PD_EBADINDEX:
		return "not a pymod DWARF index";
	case PD_ECORRUPT:
		return "corrupt DWARF index";
	case PD_EINVAL:
		return "invalid argument";
	}
	return "unknown status";
}
