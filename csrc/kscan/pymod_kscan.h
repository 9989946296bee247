/*
 * pymod module scanner: what depmod reads from one module image, in C.
 *
 * One call walks an ELF64 little-endian image (a mapped file or a
 * decompressed buffer) and copies out the names libkmod's depmod uses:
 *   - exports: the names behind the symbols called "__crc_<name>", in
 *     symbol-table order; when there are none, the non-empty strings of
 *     "__ksymtab_strings";
 *   - undefined: every SHN_UNDEF symbol after the null entry with a
 *     non-empty name, in symbol-table order, with a weak flag;
 *   - versions: the name of every "__versions" entry.
 * The rules for odd images (which table gives up, which is an error) are
 * the ones pymod/elf/kscan.py documents; this file only reads.  It is the
 * one C reader of the ELF format (pm_kscan.c says why it is C); Python's is
 * pymod/elf/headers.py, and tests/elf/test_one_parser.py holds them to the
 * same names.
 *
 * Nothing is read outside [image, image + size): every offset and size of
 * the image is checked first, and an image the rules cannot read gives a
 * negative status.
 *
 * The text between the cffi markers is read verbatim by
 * cffi_build/build_kscan.py as its cdef: plain declarations only.
 */
#ifndef PYMOD_KSCAN_H
#define PYMOD_KSCAN_H

#include <stddef.h>
#include <stdint.h>

/* cffi:begin */
/* Status codes: 0 success, negative failure; pm_kscan_strerror() names each. */
enum pm_kscan_status {
	PM_KSCAN_OK = 0,
	PM_KSCAN_ESHORT = -1,    /* shorter than an ELF64 header */
	PM_KSCAN_ESHDR = -2,     /* section header table unreadable */
	PM_KSCAN_ESECTION = -3,  /* a section the scan reads lies outside the image */
	PM_KSCAN_ENOSPC = -4,    /* names/weak too small; the counts say how much is needed */
	PM_KSCAN_EINVAL = -5     /* NULL image or result */
};

/* A fixed, static text for @status ("unknown status" for any other value). */
const char *pm_kscan_strerror(int status);

/* Counts of one scan; on PM_KSCAN_OK and PM_KSCAN_ENOSPC they are the full counts. */
struct pm_kscan_result {
	size_t n_exports;
	size_t n_undefined;
	size_t n_versions;
	size_t names_len;  /* bytes of names written (or needed) */
};

/*
 * Scan @image of @size bytes.  Writes every name NUL-terminated into
 * @names: the exports, then the undefined symbols, then the versions;
 * weak[i] is 1 when the i-th undefined symbol is STB_WEAK, else 0.
 * Returns PM_KSCAN_ENOSPC when names_len > names_cap or n_undefined >
 * weak_cap (the buffers then hold garbage); call again with room.
 */
int pm_kscan(const unsigned char *image, size_t size,
	     char *names, size_t names_cap,
	     unsigned char *weak, size_t weak_cap,
	     struct pm_kscan_result *result);

/* cffi:end */

#endif /* PYMOD_KSCAN_H */
