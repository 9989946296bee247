"""The DWARF core under AddressSanitizer+UBSan: tests/c/fuzz_dwarf.c
mutates the DWARF sections of gcc -g -O2 executables (DWARF 4 and 5),
builds indexes from exact-size heap copies, looks addresses up, and opens
mutated index blobs, so any read out of bounds is reported."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from cffi_build._common import DWARF, WARN_FLAGS
from pymod.dwarf.native import SECTIONS

FUZZER = str(Path(__file__).resolve().parent / "fuzz_dwarf.c")
SCALE = float(os.environ.get("PYMOD_STRESS_SCALE", "1.0"))
MARKS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer")
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
    exe = tmp_path_factory.mktemp("dwarf") / "fuzz_dwarf"
    build = subprocess.run(
        ["gcc", "-O1", "-g", *WARN_FLAGS, "-fsanitize=address,undefined",
         "-fno-sanitize-recover=all", *DWARF.include_flags(), *DWARF.source_paths(), FUZZER,
         "-o", str(exe)], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    return exe


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
    p = subprocess.run([str(fuzzer), str(max(50, int(2000 * SCALE))), *files],
                       capture_output=True, text=True, timeout=600,
                       env={**os.environ, "ASAN_OPTIONS": "halt_on_error=1 detect_leaks=1"})
    report = p.stdout + p.stderr
    assert not any(m in report for m in MARKS), report[-4000:]
    assert p.returncode == 0, report[-4000:]
    _, ok, errors = (int(x) for x in p.stdout.split()[1::2])
    assert ok > 100 and errors > 100     # mutations both hit and miss structure
