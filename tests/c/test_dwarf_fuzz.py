"""The DWARF core under AddressSanitizer+UBSan: tests/c/fuzz_dwarf.c
mutates the DWARF sections of gcc -g -O2 executables (DWARF 4 and 5),
builds indexes from exact-size heap copies, looks addresses up, and opens
mutated index blobs, so any read out of bounds is reported."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from cffi_build._common import DWARF
from pymod.dwarf.native import SECTIONS
from tests.c.sanitized import build_fuzzer, run_fuzzer

FUZZER = str(Path(__file__).resolve().parent / "fuzz_dwarf.c")
PROGRAM = r"""
static inline int sq(int x) { return x * x; }
static inline __attribute__((always_inline)) int cube(int x) { return sq(x) * x; }
int f(int a) { int s = 0; for (int i = 0; i < a; i++) s += cube(i) ^ sq(s); return s; }
int main(int c, char **v) { (void)v; return f(c) + sq(c); }
"""

# slow: gcc builds (sanitizers among them) and long stress runs.
pytestmark = [pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed"),
              pytest.mark.slow]


@pytest.fixture(scope="module")
def fuzzer(tmp_path_factory):
    return build_fuzzer(DWARF, FUZZER, tmp_path_factory.mktemp("dwarf") / "fuzz_dwarf")


@pytest.mark.parametrize("version", [4, 5])
def test_mutated_sections(fuzzer, tmp_path, version):
    (tmp_path / "p.c").write_text(PROGRAM)
    exe = tmp_path / "p"
    subprocess.run(["gcc", "-g", "-O2", "-gdwarf-%d" % version, str(tmp_path / "p.c"), "-o",
                    str(exe)], check=True, capture_output=True)
    files = []
    with open(exe, "rb") as f:
        elf = ELFFile(f)
        for name in SECTIONS:
            sec = elf.get_section_by_name(name)
            if sec is None:
                files.append("-")
                continue
            path = tmp_path / name.lstrip(".")
            path.write_bytes(sec.data())
            files.append(str(path))
    ok, errors = run_fuzzer(fuzzer, 2000, 50, files)
    assert ok > 100 and errors > 100     # mutations both hit and miss structure
