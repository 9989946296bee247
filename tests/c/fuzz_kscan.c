/*
 * Mutation fuzzer for pm_kscan() (csrc/pm_kscan.c), built with ASan+UBSan by
 * tests/test_kscan_fuzz.py.  Every scan runs on an exact-size heap copy, so
 * ASan reports any read past the image.  Deterministic: seeded per file.
 *
 * Usage: fuzz_kscan ROUNDS FILE...   (uncompressed ELF images)
 * Prints "scans N ok N errors N"; exits non-zero only via a sanitizer.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pymod_kscan.h"

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf;
	long n;

	if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET))
		exit(2);
	buf = malloc((size_t)n + 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n)
		exit(2);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* Mostly headers and section headers: that is where structure lives. */
static void mutate(unsigned char *p, size_t *len, uint64_t *seed)
{
	int edits = 1 + (int)(rnd(seed) % 8);

	for (int i = 0; i < edits && *len; i++) {
		uint64_t r = rnd(seed) % 10;
		size_t hot = *len < 64 + 64 * 40 ? *len : 64 + 64 * 40;
		size_t pos = (r < 6 ? rnd(seed) % hot : rnd(seed) % *len);

		if (r < 8) {
			p[pos] = (unsigned char)rnd(seed);
		} else if (r == 8) {
			*len = rnd(seed) % *len;        /* truncate */
		} else {
			uint64_t v = rnd(seed);         /* a wild 64-bit field */

			memcpy(p + pos, &v, pos + 8 <= *len ? 8 : *len - pos);
		}
	}
}

int main(int argc, char **argv)
{
	long rounds = argc > 1 ? atol(argv[1]) : 1000, scans = 0, ok = 0, errors = 0;
	static char names[1 << 20];
	static unsigned char weak[1 << 16];

	for (int a = 2; a < argc; a++) {
		size_t orig_len;
		unsigned char *orig = slurp(argv[a], &orig_len);
		uint64_t seed = 0x9e3779b97f4a7c15ull ^ (uint64_t)a;

		for (long r = 0; r < rounds; r++) {
			size_t len = orig_len;
			unsigned char *img = malloc(orig_len ? orig_len : 1);
			struct pm_kscan_result res;
			int rc;

			memcpy(img, orig, orig_len);
			mutate(img, &len, &seed);
			/* Exact-size copy: one byte past the image is out of bounds. */
			unsigned char *exact = malloc(len ? len : 1);
			memcpy(exact, img, len);
			rc = pm_kscan(exact, len, names, sizeof(names), weak, sizeof(weak), &res);
			scans++;
			if (rc == PM_KSCAN_OK)
				ok++;
			else
				errors++;
			free(exact);
			free(img);
		}
		free(orig);
	}
	printf("scans %ld ok %ld errors %ld\n", scans, ok, errors);
	return 0;
}
