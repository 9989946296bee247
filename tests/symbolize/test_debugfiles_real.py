"""Named frames of Debian's 6.1 ``-dbg`` modules through
``Symbolizer.from_debuginfo``: every text section's functions (``.text``,
``.init.text``, ``.exit.text``, ``.text.unlikely`` all start at 0 in a
``.ko``) answer as ``addr2line -i -j SECTION`` does for that section."""

from __future__ import annotations

import random
import subprocess

import pytest

from pymod.symbolize import Symbolizer
from pymod.tools.symbolize_decode import NO_LINE, frame_line


def _functions(path) -> list[tuple[str, str, int, int]]:
    """(name, section, value, size) of each sized function, from objdump -t
    (its flag column holds ``F``)."""
    out = subprocess.run(["objdump", "-t", str(path)], capture_output=True, text=True,
                         check=True).stdout
    seen: dict[str, list[tuple[str, str, int, int]]] = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 6 and "F" in f[2:-3] and "text" in f[-3] and int(f[-2], 16) > 1:
            seen.setdefault(f[-1], []).append((f[-1], f[-3], int(f[0], 16), int(f[-2], 16)))
    at: dict[tuple[str, int], int] = {}
    for v in seen.values():
        at[v[0][1], v[0][2]] = at.get((v[0][1], v[0][2]), 0) + 1
    # unique names, and no alias at the same place (cleanup_module and its exit function)
    return [v[0] for v in seen.values() if len(v) == 1 and at[v[0][1], v[0][2]] == 1]


@pytest.mark.slow
@pytest.mark.real_kernel
def test_module_frames_per_section_match_addr2line(debian_dbg_61):
    rng = random.Random(7)
    sections_seen = set()
    for path in debian_dbg_61.ko_files()[:3]:
        module = path.name.removesuffix(".ko").replace("-", "_")
        sym = Symbolizer.from_debuginfo(path)
        funcs = _functions(path)
        for name, section, value, size in rng.sample(funcs, min(40, len(funcs))):
            off = rng.randrange(size)
            got = sym.symbolize_name(name, off, module=module)
            assert got is not None and (got.name, got.offset, got.module) == (name, off, module)
            ref = subprocess.run(["addr2line", "-i", "-j", section, "-e", str(path),
                                  "%x" % (value + off)], capture_output=True, text=True,
                                 check=True).stdout.split("\n")
            want = " ".join(x for x in ref if x)
            assert frame_line(got.source or [NO_LINE], None) == \
                ("??:?" if want == "??:0" else want), (name, section, off)
            sections_seen.add(section)
    assert len(sections_seen) >= 2      # not .text alone
