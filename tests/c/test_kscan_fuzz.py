"""pm_kscan under AddressSanitizer+UBSan: tests/c/fuzz_kscan.c mutates the
sample modules (and, with the Debian cache, real ones) and scans every
mutant from an exact-size heap copy, so any out-of-bounds read is reported."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cffi_build._common import KSCAN
from pymod.samples import prebuilt_dir
from tests.c.sanitized import build_fuzzer, run_fuzzer

FUZZER = str(Path(__file__).resolve().parent / "fuzz_kscan.c")

# slow: gcc builds (sanitizers among them) and long stress runs.
pytestmark = [pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed"),
              pytest.mark.slow]


@pytest.fixture(scope="module")
def fuzzer(tmp_path_factory):
    return build_fuzzer(KSCAN, FUZZER, tmp_path_factory.mktemp("kscan") / "fuzz_kscan")


def run(fuzzer, rounds: int, files: list[str]) -> tuple[int, int]:
    return run_fuzzer(fuzzer, rounds, 10, files)


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
