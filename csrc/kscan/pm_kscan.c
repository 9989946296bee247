/*
 * The depmod scan of one module image (see pymod_kscan.h for what it
 * returns).  Why C: in Python the scan costs about 200 us per module, most
 * of it building objects for symbols depmod never looks at; here only the
 * names depmod keeps are touched, and Python slices one buffer.
 *
 * This is the one C reader of the ELF format; Python's one reader is
 * pymod/elf/headers.py (under ElfImage and the loader's checks).  The two
 * are kept apart on purpose: a whole tree (thousands of modules for
 * "pymod deps") is scanned at C speed, and tests/elf/test_one_parser.py
 * checks that both read the same names, on the samples and damaged images.
 *
 * Fields are read byte by byte as little-endian, so the host's byte order
 * and alignment do not matter.  Sizes are compared as "n > size - off"
 * after "off > size" so that no sum can wrap.
 */
#include <string.h>

#include "pymod_kscan.h"

#define EHDR_SIZE 64
#define SHDR_SIZE 64
#define SYM_SIZE 24
#define MODVERSION_SIZE 64 /* {unsigned long crc; char name[56]} */
#define MODVERSION_NAME 8
#define SHT_SYMTAB 2
#define SHT_NOBITS 8
#define SHN_UNDEF 0
#define STB_WEAK 2

struct span {
	const unsigned char *p;
	size_t n;
};

struct names_out {
	char *buf;
	size_t cap;
	size_t len; /* written, or needed once past cap */
};

static uint16_t ld16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t ld32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t ld64(const unsigned char *p)
{
	return (uint64_t)ld32(p) | (uint64_t)ld32(p + 4) << 32;
}

/* Length of the string at @off of @s: up to its NUL or the end of @s. */
static size_t str_len(struct span s, size_t off)
{
	const unsigned char *end = memchr(s.p + off, 0, s.n - off);
	return end ? (size_t)(end - (s.p + off)) : s.n - off;
}

static void put_name(struct names_out *out, const unsigned char *name, size_t n)
{
	if (out->len < out->cap && n < out->cap - out->len) {
		memcpy(out->buf + out->len, name, n);
		out->buf[out->len + n] = '\0';
	}
	out->len += n + 1;
}

/* The file bytes of section header @sh: empty for SHT_NOBITS. */
static int section_bytes(struct span image, const unsigned char *sh, struct span *out)
{
	uint64_t off = ld64(sh + 24), n = ld64(sh + 32);

	out->p = image.p;
	out->n = 0;
	if (ld32(sh + 4) == SHT_NOBITS)
		return PM_KSCAN_OK;
	if (off > image.n || n > image.n - off)
		return PM_KSCAN_ESECTION;
	out->p = image.p + off;
	out->n = (size_t)n;
	return PM_KSCAN_OK;
}

/* Whether the section name at @off of @names is exactly @lit. */
static int name_is(struct span names, uint32_t off, const char *lit, size_t n)
{
	if (off >= names.n || n > names.n - off || memcmp(names.p + off, lit, n) != 0)
		return 0;
	return n == names.n - off || names.p[off + n] == 0;
}

static int ksymtab_strings(struct span image, const unsigned char *sh,
			   struct names_out *out, size_t *count)
{
	struct span s;
	size_t at = 0;
	int rc;

	if (!sh)
		return PM_KSCAN_OK;
	rc = section_bytes(image, sh, &s);
	if (rc)
		return rc;
	while (at < s.n) {
		size_t n = str_len(s, at);

		if (n) {
			put_name(out, s.p + at, n);
			++*count;
		}
		at += n + 1;
	}
	return PM_KSCAN_OK;
}

static int versions(struct span image, const unsigned char *sh,
		    struct names_out *out, size_t *count)
{
	struct span s;
	int rc;

	if (!sh)
		return PM_KSCAN_OK;
	rc = section_bytes(image, sh, &s);
	if (rc || s.n % MODVERSION_SIZE)
		return rc; /* libkmod ignores a table of a wrong size */
	for (size_t at = 0; at < s.n; at += MODVERSION_SIZE) {
		struct span name = {s.p + at + MODVERSION_NAME, MODVERSION_SIZE - MODVERSION_NAME};

		put_name(out, name.p, str_len(name, 0));
		++*count;
	}
	return PM_KSCAN_OK;
}

/*
 * Whether every symbol's name offset lies inside @strtab (*names_ok) and
 * whether every undefined symbol's does (*undefined_ok).
 */
static void check_names(struct span strtab, struct span syms, size_t nsym,
			int *names_ok, int *undefined_ok)
{
	*names_ok = *undefined_ok = 1;
	for (size_t k = 1; k < nsym; k++) {
		const unsigned char *sym = syms.p + k * SYM_SIZE;

		if (ld32(sym) >= strtab.n) {
			*names_ok = 0;
			*undefined_ok &= ld16(sym + 6) != SHN_UNDEF;
		}
	}
}

/* Every non-empty-named SHN_UNDEF symbol, with its weak flag; every name
 * offset is inside @strtab (check_names said so). */
static void undefined_symbols(struct span strtab, struct span syms, size_t nsym,
			      struct names_out *out, unsigned char *weak, size_t weak_cap,
			      struct pm_kscan_result *res)
{
	for (size_t k = 1; k < nsym; k++) {
		const unsigned char *sym = syms.p + k * SYM_SIZE;
		uint32_t off;
		size_t n;

		if (ld16(sym + 6) != SHN_UNDEF)
			continue;
		off = ld32(sym);
		n = str_len(strtab, off);
		if (!n)
			continue;
		put_name(out, strtab.p + off, n);
		if (res->n_undefined < weak_cap)
			weak[res->n_undefined] = (sym[4] >> 4) == STB_WEAK;
		res->n_undefined++;
	}
}

/* __crc_ exports, undefined symbols and versions of a readable symbol table. */
static int symbols(struct span image, const unsigned char *symtab_sh, const unsigned char *strtab_sh,
		   const unsigned char *kstrings_sh, const unsigned char *versions_sh,
		   struct names_out *out, unsigned char *weak, size_t weak_cap,
		   struct pm_kscan_result *res)
{
	static const char crc[] = "__crc_";
	const size_t crc_len = sizeof(crc) - 1;
	struct span strtab, syms;
	size_t nsym;
	int names_ok, undefined_ok, rc;

	rc = section_bytes(image, strtab_sh, &strtab);
	if (rc)
		return rc;
	rc = section_bytes(image, symtab_sh, &syms);
	if (rc)
		return rc;
	nsym = syms.n / SYM_SIZE;
	check_names(strtab, syms, nsym, &names_ok, &undefined_ok);

	/* libkmod gives up on a table with a name out of range: no exports
	 * from it (the strings fallback below) and, if an undefined symbol's
	 * name is the bad one, no needs at all. */
	if (names_ok) {
		for (size_t k = 1; k < nsym; k++) {
			uint32_t off = ld32(syms.p + k * SYM_SIZE);

			if (crc_len <= strtab.n - off && memcmp(strtab.p + off, crc, crc_len) == 0) {
				put_name(out, strtab.p + off + crc_len, str_len(strtab, off + crc_len));
				res->n_exports++;
			}
		}
	}
	if (!res->n_exports) {
		rc = ksymtab_strings(image, kstrings_sh, out, &res->n_exports);
		if (rc)
			return rc;
	}
	if (!undefined_ok)
		return PM_KSCAN_OK;
	undefined_symbols(strtab, syms, nsym, out, weak, weak_cap, res);
	return versions(image, versions_sh, out, &res->n_versions);
}

int pm_kscan(const unsigned char *image, size_t size,
	     char *names, size_t names_cap,
	     unsigned char *weak, size_t weak_cap,
	     struct pm_kscan_result *result)
{
	static const char versions_name[] = "__versions";
	static const char kstrings_name[] = "__ksymtab_strings";
	struct span img = {image, size}, shnames = {image, 0};
	struct names_out out = {names, names ? names_cap : 0, 0};
	const unsigned char *sh = NULL, *symtab = NULL, *vers = NULL, *kstrings = NULL;
	uint64_t shoff;
	unsigned shnum, shstrndx;
	int rc;

	if (!image || !result)
		return PM_KSCAN_EINVAL;
	memset(result, 0, sizeof(*result));
	if (!weak)
		weak_cap = 0;
	if (size < EHDR_SIZE)
		return PM_KSCAN_ESHORT;
	shoff = ld64(image + 40);
	shnum = ld16(image + 60);
	shstrndx = ld16(image + 62);
	if (shnum) {
		if (ld16(image + 58) != SHDR_SIZE)
			return PM_KSCAN_ESHDR;
		if (shoff > size || (uint64_t)shnum * SHDR_SIZE > size - shoff)
			return PM_KSCAN_ESHDR;
		sh = image + shoff;
	}
	/* Unreadable section names read as "": such sections are not found. */
	if (shstrndx < shnum && section_bytes(img, sh + (size_t)shstrndx * SHDR_SIZE, &shnames))
		shnames.n = 0;

	for (unsigned i = 0; i < shnum; i++) {
		const unsigned char *h = sh + (size_t)i * SHDR_SIZE;
		uint32_t name = ld32(h);

		if (!symtab && ld32(h + 4) == SHT_SYMTAB)
			symtab = h;
		if (!vers && name_is(shnames, name, versions_name, sizeof(versions_name) - 1))
			vers = h;
		if (!kstrings && name_is(shnames, name, kstrings_name, sizeof(kstrings_name) - 1))
			kstrings = h;
	}

	if (!symtab || ld32(symtab + 40) >= shnum || ld64(symtab + 32) % SYM_SIZE) {
		rc = ksymtab_strings(img, kstrings, &out, &result->n_exports);
	} else {
		rc = symbols(img, symtab, sh + (size_t)ld32(symtab + 40) * SHDR_SIZE, kstrings, vers,
			     &out, weak, weak_cap, result);
	}
	if (rc)
		return rc;
	result->names_len = out.len;
	if (out.len > out.cap || result->n_undefined > weak_cap)
		return PM_KSCAN_ENOSPC;
	return PM_KSCAN_OK;
}
