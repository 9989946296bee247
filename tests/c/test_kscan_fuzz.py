"""pm_kscan under AddressSanitizer+UBSan: tests/c/fuzz_kscan.c mutates the
sample modules (and, with the Debian cache, real ones) and scans every
mutant from an exact-size heap copy, so any out-of-bounds read is reported."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from cffi_build._common import KSCAN, WARN_FLAGS
from pymod.samples import prebuilt_dir

FUZZER = str(Path(__file__).resolve().parent / "fuzz_kscan.c")
SCALE = float(os.environ.get("PYMOD_STRESS_SCALE", "1.0"))
MARKS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer")

# slow: gcc builds (sanitizers among them) and long stress runs.
pytestmark = [pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed"),
              pytest.mark.slow]


@pytest.fixture(scope="module")
def fuzzer(tmp_path_factory):
    exe = tmp_path_factory.mktemp("kscan") / "fuzz_kscan"
    build = subprocess.run(
        ["gcc", "-O1", "-g", *WARN_FLAGS,
         "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
         *KSCAN.include_flags(), *KSCAN.source_paths(), FUZZER, "-o", str(exe)],
        capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    return exe


def run(fuzzer, rounds: int, files: list[str]) -> tuple[int, int]:
    p = subprocess.run([str(fuzzer), str(max(10, int(rounds * SCALE))), *files],
                       capture_output=True, text=True, timeout=600,
                       env={**os.environ, "ASAN_OPTIONS": "halt_on_error=1 detect_leaks=1"})
    report = p.stdout + p.stderr
    assert not any(m in report for m in MARKS), report[-4000:]
    assert p.returncode == 0, report[-4000:]
    scans, ok, errors = (int(x) for x in p.stdout.split()[1::2])
    return ok, errors


def test_mutated_samples(fuzzer):
    files = sorted(str(p) for p in prebuilt_dir().glob("*.ko"))
    ok, errors = run(fuzzer, 1000, files)
    # Both outcomes occur: the mutations hit structure and miss it.
    assert ok > 1000 and errors > 1000


@pytest.mark.real_kernel
def test_mutated_real_modules(fuzzer, debian_kernel, tmp_path):
    import lzma

    files = []
    for src in debian_kernel.ko_files()[::25]:            # ~45 modules across the tree
        raw = src.read_bytes()
        data = lzma.decompress(raw) if src.name.endswith(".xz") else raw
        dst = tmp_path / src.name.split(".")[0]
        dst.write_bytes(data)
        files.append(str(dst))
    ok, errors = run(fuzzer, 300, files)
    assert ok > 100 and errors > 100
