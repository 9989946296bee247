/*
 * Fuzzer for the DWARF core under ASan+UBSan: argv[1] rounds, argv[2..11]
 * the files of the ten sections in enum pd_section order ("-" when absent).
 * Each round mutates one section (bytes changed, maybe truncated), builds
 * from exact-size heap copies (so any read past a section is reported),
 * then opens the blob, looks addresses up, and opens a mutated blob copy.
 * Prints "builds N ok N errors N".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "pymod_dwarf.h"

static uint8_t *slurp(const char *path, uint64_t *size)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc(n ? (size_t)n : 1);
	if (fread(buf, 1, (size_t)n, f) != (size_t)n)
		n = 0;
	fclose(f);
	*size = (uint64_t)n;
	return buf;
}

/* The chains' texts through a small buffer: every call answers some rows
 * (or one row needs more room), every text ends inside the buffer. */
static void chain_texts(const struct pd_index *idx, const uint64_t *addrs, uint64_t n)
{
	static char out[4096];
	uint64_t ends[5000], done, at = 0;
	uint8_t flags[5000];

	while (at < n) {
		if (pd_index_chain_text(idx, addrs + at, n - at, "/", 1, out, sizeof(out),
					ends + at, flags + at, &done))
			abort();
		for (uint64_t k = at; k < at + done; k++)
			if (ends[k] > sizeof(out) || (k > at && ends[k] < ends[k - 1]) || flags[k] > 1)
				abort();
		if (!done)
			return;         /* one chain longer than 4 KiB: fine, stop here */
		at += done;
	}
}

static void lookups(const uint8_t *blob, uint64_t size, unsigned seed)
{
	struct pd_index *idx;
	uint64_t addrs[5000], offsets[5000], scratch[5000], total;
	uint32_t counts[5000];

	if (pd_index_open(blob, size, &idx))
		return;
	for (unsigned i = 0; i < 5000; i++)
		addrs[i] = 0x1000 + (uint64_t)((seed * 2654435761u + i * 7) % 0x2000);
	pd_index_count(idx, addrs, 5000, counts, offsets, scratch, &total);
	if (total < 1000000) {
		uint32_t *a = malloc((total + 1) * 4 * 5);
		uint8_t *b = malloc(total + 1);
		struct pd_frames f = {a, a + total + 1, a + 2 * (total + 1), a + 3 * (total + 1),
				      a + 4 * (total + 1), b};

		pd_index_fill(idx, 5000, offsets, scratch, &f);
		for (uint64_t k = 0; k < total; k++)
			if (f.function[k] != 0xffffffffu && !pd_index_string(idx, f.function[k]))
				abort();
		free(a);
		free(b);
	}
	chain_texts(idx, addrs, 5000);
	pd_index_close(idx);
}

static void round_(uint8_t **orig, uint64_t *sizes, unsigned r, unsigned *ok, unsigned *err)
{
	struct pd_sections s;
	uint8_t *blob;
	uint64_t bsize;
	unsigned pick = (unsigned)rand() % 10;
	int st;

	memset(&s, 0, sizeof(s));
	for (unsigned i = 0; i < 10; i++) {
		uint64_t n = sizes[i];
		uint8_t *copy;

		if (!orig[i])
			continue;
		if (i == pick && n && rand() % 5 == 0)
			n = (uint64_t)rand() % n;
		copy = malloc(n ? n : 1);
		memcpy(copy, orig[i], n);
		for (int k = 0; i == pick && n && k < 1 + rand() % 4; k++)
			copy[(uint64_t)rand() % n] = (uint8_t)rand();
		s.data[i] = copy;
		s.size[i] = n;
	}
	st = pd_build(&s, &blob, &bsize);
	if (st == PD_OK) {
		uint8_t *bad = malloc(bsize);

		(*ok)++;
		lookups(blob, bsize, r);
		memcpy(bad, blob, bsize);
		bad[(uint64_t)rand() % bsize] ^= (uint8_t)(1 + rand() % 255);
		lookups(bad, bsize, r);
		free(bad);
		pd_free(blob);
	} else {
		(*err)++;
		if (!pd_strerror(st))
			abort();
	}
	for (unsigned i = 0; i < 10; i++)
		free((void *)s.data[i]);
}

int main(int argc, char **argv)
{
	uint8_t *orig[10] = {0};
	uint64_t sizes[10] = {0};
	unsigned rounds, ok = 0, err = 0;

	if (argc != 12)
		return 2;
	rounds = (unsigned)atoi(argv[1]);
	for (int i = 0; i < 10; i++)
		if (strcmp(argv[2 + i], "-"))
			orig[i] = slurp(argv[2 + i], &sizes[i]);
	srand(16);
	for (unsigned r = 0; r < rounds; r++)
		round_(orig, sizes, r, &ok, &err);
	for (int i = 0; i < 10; i++)
		free(orig[i]);
	printf("builds %u ok %u errors %u\n", rounds, ok, err);
	return 0;
}
