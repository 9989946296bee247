"""pymod.dwarf.native on linked gcc -g -O2 executables (DWARF 4 and 5, one
built with -flto so abstract origins cross units): every .text byte
answers as ``addr2line -f -i`` does; and blobs that are not an index are
refused."""

from __future__ import annotations

import errno
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
from elftools.elf.elffile import ELFFile

from pymod.dwarf.native import SECTIONS, UNKNOWN_FILE, LineIndex, build_index
from pymod.errors import PymodError
from tests.symbolize.gccdebug import addr2line, agrees

MAIN_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include "util.h"
static inline int sq(int x) { return x * x + (x > 3 ? 1 : 2); }
static inline __attribute__((always_inline)) int twice(int x)
{
	int s = 0;
	for (int i = 0; i < x; i++)
		s += sq(i) ^ i;
	return s;
}
__attribute__((noinline)) int work(int n)
{
	int t = 0;
	for (int i = 0; i < n; i++) {
		t += twice(i);
		if (t > 1000)
			t -= sq(t) + mix(t, i);
	}
	return t;
}
static __attribute__((noinline)) int other(const char *s) { return atoi(s) * twice(3); }
int main(int argc, char **argv)
{
	printf("%d %d %d\n", work(argc * 10), other(argc > 1 ? argv[1] : "5"), helper(argc));
	return 0;
}
"""
UTIL_H = r"""
static inline __attribute__((always_inline)) int mix(int a, int b)
{
	return (a << 3) ^ (b * 7) ^ (a > b ? a - b : b - a);
}
int helper(int n);
"""
UTIL_C = r"""
#include "util.h"
static inline int clamp(int v) { return v < 0 ? 0 : v > 99 ? 99 : v; }
int helper(int n)
{
	int acc = 0;
	for (int i = 0; i < n * 3; i++)
		acc += clamp(mix(acc, i));
	return acc;
}
"""

BUILDS = {"dwarf5": ["-gdwarf-5"], "dwarf4": ["-gdwarf-4"], "dwarf5-lto": ["-gdwarf-5", "-flto"]}


@pytest.fixture(scope="module")
def executables(tmp_path_factory) -> dict[str, Path]:
    for tool in ("gcc", "addr2line"):
        if shutil.which(tool) is None:
            pytest.skip("%s not found" % tool)
    d = tmp_path_factory.mktemp("dwarfexe")
    for name, text in (("main.c", MAIN_C), ("util.h", UTIL_H), ("util.c", UTIL_C)):
        (d / name).write_text(text)
    out = {}
    for kind, flags in BUILDS.items():
        exe = d / kind
        subprocess.run(["gcc", "-g", "-O2", *flags, "main.c", "util.c", "-o", exe.name],
                       cwd=d, check=True, capture_output=True)
        out[kind] = exe
    return out


def _sections(path: Path) -> tuple[dict[str, bytes], int, int]:
    with open(path, "rb") as f:
        elf = ELFFile(f)
        secs = {s.name: s.data() for s in elf.iter_sections() if s.name in SECTIONS}
        text = elf.get_section_by_name(".text")
        return secs, text["sh_addr"], text["sh_size"]


@pytest.mark.parametrize("kind", sorted(BUILDS))
def test_every_text_address_as_addr2line(executables, kind):
    exe = executables[kind]
    secs, lo, size = _sections(exe)
    index = LineIndex(build_index(secs))
    addrs = list(range(lo, lo + size))
    expected = addr2line(exe, addrs)
    counts, offsets, frames = index.lookup_many(np.array(addrs, np.uint64))
    bad = []
    inlined = 0
    for i, a in enumerate(addrs):
        ours = index.frames(frames, int(offsets[i]), int(counts[i]))
        inlined += len(ours) > 1
        if not agrees(ours, expected[a]):
            bad.append((hex(a), ours, expected[a]))
    assert bad == [], bad[:5]
    assert inlined > size // 10   # the programs exist to test inline chains
    assert any(len(v) >= 3 for v in expected.values())


def test_lookup_one_equals_batch(executables):
    secs, lo, size = _sections(executables["dwarf5"])
    index = LineIndex(build_index(secs))
    addrs = np.arange(lo, lo + size, dtype=np.uint64)
    counts, offsets, frames = index.lookup_many(addrs)
    for i in range(0, size, 7):
        assert index.lookup(int(addrs[i])) == index.frames(frames, int(offsets[i]),
                                                           int(counts[i]))
    assert counts.dtype == np.uint32 and offsets.dtype == np.uint64
    assert int(offsets[-1]) + int(counts[-1]) == len(frames.line)
    assert index.lookup(0) == [] and index.lookup((1 << 64) - 1) == []


def test_frames_mark_inlined_and_outermost(executables):
    secs, lo, size = _sections(executables["dwarf4"])
    index = LineIndex(build_index(secs))
    chains = [index.lookup(a) for a in range(lo, lo + size)]
    deep = [c for c in chains if len(c) > 1]
    assert deep
    for c in deep:
        assert [f.inlined for f in c] == [True] * (len(c) - 1) + [False]
        assert all(f.file != UNKNOWN_FILE for f in c[1:])


def test_empty_sections_give_an_empty_index():
    index = LineIndex(build_index({}))
    assert index.nrows == 0 and index.lookup(0x1000) == []


def _blob(executables) -> bytes:
    return build_index(_sections(executables["dwarf5"])[0])


def _reseal(blob: bytearray) -> None:
    """Rewrite the header checksum (FNV-1a 64 of the 128-byte header with
    the checksum field, at 104, zeroed), so a test reaches the table checks."""
    h = bytearray(blob[:128])
    h[104:112] = bytes(8)
    x = 0xCBF29CE484222325
    for byte in h:
        x = ((x ^ byte) * 0x100000001B3) & ((1 << 64) - 1)
    blob[104:112] = struct.pack("<Q", x)


def test_foreign_and_corrupt_blobs_are_refused(executables):
    blob = _blob(executables)
    LineIndex(blob)
    cases = {
        "empty": b"",
        "text": b"not an index at all" * 10,
        "truncated": blob[:-8],
        "longer": blob + bytes(8),
        "magic": b"X" + blob[1:],
        "checksum": blob[:30] + bytes([blob[30] ^ 1]) + blob[31:],
    }
    for name, bad in cases.items():
        with pytest.raises(PymodError) as e:
            LineIndex(bad)
        assert e.value.errno == errno.EIO, name


def test_resealed_bad_tables_are_refused(executables):
    blob = _blob(executables)
    nrows, nsegs, nfuncs, strsize = struct.unpack_from("<4Q", blob, 24)
    off_row_info, off_funcs, off_str = (struct.unpack_from("<Q", blob, o)[0]
                                        for o in (64, 88, 96))
    edits = {
        "row file out of strings": (off_row_info, struct.pack("<I", strsize + 5)),
        "function name out of strings": (off_funcs, struct.pack("<I", strsize)),
        "parent after child": (off_funcs + 16, struct.pack("<I", nfuncs - 1)),
        "strings not terminated": (off_str + strsize - 1, b"x"),
        "table past the end": (96, struct.pack("<Q", len(blob))),
        "rows count": (24, struct.pack("<Q", nrows + 10**6)),
    }
    assert nsegs and nfuncs > 1
    for name, (at, data) in edits.items():
        bad = bytearray(blob)
        bad[at:at + len(data)] = data
        _reseal(bad)
        with pytest.raises(PymodError) as e:
            LineIndex(bytes(bad))
        assert e.value.errno == errno.EIO, name


def test_index_from_a_misaligned_or_mapped_buffer(executables, tmp_path):
    import mmap

    blob = _blob(executables)
    ref = LineIndex(blob)
    odd = memoryview(b"\0" + blob)[1:]
    assert LineIndex(odd).nrows == ref.nrows
    path = tmp_path / "idx"
    path.write_bytes(blob)
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        mapped = LineIndex(m)
        assert mapped.nfuncs == ref.nfuncs
        del mapped
