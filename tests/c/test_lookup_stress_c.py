"""Build and run the C stress validator (tests/c/validate_lookup.c) three
ways: optimised, under ThreadSanitizer, under AddressSanitizer+UBSan.

Writer step counts are macros; PYMOD_STRESS_SCALE (default 1.0) scales them
so CI can shrink or grow the run.  Any invariant violation, sanitizer report
or non-zero exit fails the test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from cffi_build._common import LOOKUP, WARN_FLAGS

# The lookup core's own file list and flags (what the cffi build compiles).
SOURCES = LOOKUP.source_paths()
VALIDATE = str(Path(__file__).resolve().parent / "validate_lookup.c")
BASE = [*WARN_FLAGS, "-pthread", *LOOKUP.include_flags()]
SCALE = float(os.environ.get("PYMOD_STRESS_SCALE", "1.0"))

VARIANTS = {
    # name: (flags, writer steps, environment)
    "plain": (["-O2"], 20000, {}),
    # TSan does not model atomic_thread_fence; every plain shared access in
    # the core also has a non-fence happens-before edge (see pm_rcu.c), so
    # the warning is silenced rather than the fences removed.
    "tsan": (["-O1", "-g", "-fsanitize=thread", "-Wno-tsan"], 3000,
             {"TSAN_OPTIONS": "halt_on_error=1 exitcode=66 second_deadlock_stack=1"}),
    "asan": (["-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
              "-fno-omit-frame-pointer"], 8000,
             {"ASAN_OPTIONS": "halt_on_error=1 detect_leaks=1",
              "UBSAN_OPTIONS": "halt_on_error=1 print_stacktrace=1"}),
}
SANITIZER_MARKS = ("WARNING: ThreadSanitizer", "ERROR: AddressSanitizer", "runtime error:",
                   "ERROR: LeakSanitizer")

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_validate_lookup(variant, tmp_path):
    flags, steps, env = VARIANTS[variant]
    steps = max(50, int(steps * SCALE))
    exe = tmp_path / ("validate_" + variant)
    build = subprocess.run(["gcc", *BASE, *flags, "-DSTEPS=%d" % steps, "-DREADERS=2",
                            *SOURCES, VALIDATE, "-o", str(exe)],
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    run = subprocess.run([str(exe), "check"], capture_output=True, text=True,
                         env={**os.environ, **env}, timeout=600)
    report = run.stdout + run.stderr
    assert not any(m in report for m in SANITIZER_MARKS), report[-4000:]
    assert run.returncode == 0, report[-4000:]
    lines = [ln for ln in run.stdout.splitlines() if ln.startswith("check ")]
    assert len(lines) == 2 and all("violations 0" in ln for ln in lines), run.stdout
    # The run must really have raced: readers did work while the writer churned.
    for ln in lines:
        reads = int(ln.split(" reads")[0].rsplit(" ", 1)[1])
        assert reads > 100, ln
