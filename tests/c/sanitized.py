"""Building and running the tests/c/fuzz_*.c programs under
AddressSanitizer+UBSan: one build line and one verdict on a run, shared by
the fuzz tests of each C core."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from cffi_build._common import WARN_FLAGS

SCALE = float(os.environ.get("PYMOD_STRESS_SCALE", "1.0"))
MARKS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer")


def build_fuzzer(core, source: str, exe: Path) -> Path:
    """Compile ``source`` with ``core``'s sources (a cffi_build._common part)."""
    build = subprocess.run(
        ["gcc", "-O1", "-g", *WARN_FLAGS, "-fsanitize=address,undefined",
         "-fno-sanitize-recover=all", *core.include_flags(), *core.source_paths(), source,
         "-o", str(exe)], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    return exe


def run_fuzzer(exe: Path, rounds: int, least: int, files: list[str]) -> tuple[int, int]:
    """Run ``rounds`` (scaled, at least ``least``) mutations over ``files``;
    any sanitizer report fails the test. Returns the (ok, errors) counts."""
    p = subprocess.run([str(exe), str(max(least, int(rounds * SCALE))), *files],
                       capture_output=True, text=True, timeout=600,
                       env={**os.environ, "ASAN_OPTIONS": "halt_on_error=1 detect_leaks=1"})
    report = p.stdout + p.stderr
    assert not any(m in report for m in MARKS), report[-4000:]
    assert p.returncode == 0, report[-4000:]
    _, ok, errors = (int(x) for x in p.stdout.split()[1::2])
    return ok, errors
