"""The C DWARF index on Debian's 6.1 vmlinux (DWARF 5, 160 MB .debug_info):
2000 random .text addresses answer as ``addr2line -f -i`` does, and the
index reopens from a mapping."""

from __future__ import annotations

import mmap
import random

import numpy as np
import pytest
from elftools.elf.elffile import ELFFile

from pymod.dwarf.native import SECTIONS, LineIndex, build_index
from tests.symbolize.gccdebug import addr2line, agrees


@pytest.mark.slow
@pytest.mark.real_kernel
def test_vmlinux_sample_as_addr2line(debian_dbg_61, tmp_path):
    path = debian_dbg_61.vmlinux
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        elf = ELFFile(f)
        view = memoryview(m)
        secs = {s.name: view[s["sh_offset"]:s["sh_offset"] + s["sh_size"]]
                for s in elf.iter_sections() if s.name in SECTIONS}
        text = elf.get_section_by_name(".text")
        lo, size = text["sh_addr"], text["sh_size"]
        blob = build_index(secs)
        del secs, view
    (tmp_path / "idx").write_bytes(blob)
    with open(tmp_path / "idx", "rb") as f, mmap.mmap(f.fileno(), 0,
                                                       access=mmap.ACCESS_READ) as m:
        index = LineIndex(m)
        rng = random.Random(16)
        addrs = sorted(rng.randrange(lo, lo + size) for _ in range(2000))
        expected = addr2line(path, addrs)
        counts, offsets, frames = index.lookup_many(np.array(addrs, np.uint64))
        answers = [index.frames(frames, int(offsets[i]), int(counts[i]))
                   for i in range(len(addrs))]
        del index, frames
    bad = [(hex(a), ours, expected[a]) for a, ours in zip(addrs, answers, strict=True)
           if not agrees(ours, expected[a])]
    assert bad == [], bad[:3]
    assert sum(len(x) > 1 for x in answers) > 200      # inline chains were compared
