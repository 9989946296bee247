/* The index blob's layout, shared by its writer (pd_blob.c) and reader (pd_index.c). */
#ifndef PD_BLOB_H
#define PD_BLOB_H

#include <stdint.h>

#define PD_MAGIC "PMDWIDX"
#define PD_BLOB_VERSION 1

/*
 * All offsets are from the blob's start and 8-aligned.  Rows: row_addr[i]
 * ascending, row_info[i] its (file, line, column, discriminator), file
 * PD_NONE marking a gap.  Segments: seg_addr[i] ascending, seg_func[i] the
 * innermost function from there to the next segment (PD_NONE: none).
 * Functions: struct pd_func, parent < own index.  Strings: NUL-terminated,
 * the table ends with a NUL.
 */
struct pd_hdr {
	char magic[8];
	uint32_t version, hdr_size;
	uint64_t blob_size, nrows, nsegs, nfuncs, strsize;
	uint64_t off_row_addr, off_row_info, off_seg_addr, off_seg_func, off_funcs, off_str;
	uint64_t checksum;        /* FNV-1a of this header with checksum 0 */
	uint64_t reserved[2];
};

struct pd_rowinfo {
	uint32_t file, line, column, disc;
};

uint64_t pd_hdr_checksum(const struct pd_hdr *h);

#endif
