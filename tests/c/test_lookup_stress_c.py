"""Build and run the C stress validator (tests/c/validate_lookup*.c, with
validate_common.c) three ways: optimised, under ThreadSanitizer, under
AddressSanitizer+UBSan.

Writer step counts are macros; PYMOD_STRESS_SCALE (default 1.0) scales them
so CI can shrink or grow the run.  Any invariant violation, sanitizer report
or non-zero exit fails the test.  The same program's ``grow`` mode checks
the map through 200 000 inserts and removals (ASan: 50 000).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from cffi_build._common import LOOKUP, WARN_FLAGS
from tests.c.validators import LOOKUP_VALIDATOR

# The lookup core's own file list and flags (what the cffi build compiles).
SOURCES = LOOKUP.source_paths()
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

# slow: gcc builds (sanitizers among them) and long stress runs.
pytestmark = [pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed"),
              pytest.mark.slow]


def build(variant: str, tmp_path: Path, steps: int) -> Path:
    flags = VARIANTS[variant][0]
    exe = tmp_path / ("validate_" + variant)
    build = subprocess.run(["gcc", *BASE, *flags, "-DSTEPS=%d" % steps, "-DREADERS=2",
                            *SOURCES, *LOOKUP_VALIDATOR, "-o", str(exe)],
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    return exe


def run_clean(variant: str, args: list[str]) -> subprocess.CompletedProcess:
    """Run a built validator; no sanitizer report, exit status 0."""
    run = subprocess.run(args, capture_output=True, text=True,
                         env={**os.environ, **VARIANTS[variant][2]}, timeout=600)
    report = run.stdout + run.stderr
    assert not any(m in report for m in SANITIZER_MARKS), report[-4000:]
    assert run.returncode == 0, report[-4000:]
    return run


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_fork_inside_a_serialized_section(variant, tmp_path):
    # The child never has the thread that was inside the section: its
    # grace period must not wait for it (pm_rcu.c's fork handler).
    run = run_clean(variant, [str(build(variant, tmp_path, 50)), "fork"])
    assert "fork: child ok" in run.stdout, run.stdout


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_validate_lookup(variant, tmp_path):
    steps = max(50, int(VARIANTS[variant][1] * SCALE))
    exe = build(variant, tmp_path, steps)
    run = run_clean(variant, [str(exe), "check"])
    lines = [ln for ln in run.stdout.splitlines() if ln.startswith("check ")]
    assert len(lines) == 2 and all("violations 0" in ln for ln in lines), run.stdout
    # The run must really have raced: readers did work while the writer churned.
    for ln in lines:
        reads = int(ln.split(" reads")[0].rsplit(" ", 1)[1])
        assert reads > 100, ln


# Modules per grow run: one writer inserts them in random address order and
# removes them oldest first, pm_map_validate() at 8 checkpoints.  Not timed
# (the timeout is a hang guard); the figures it prints are the benchmark's.
GROW = {"plain": 200_000, "asan": 50_000}


@pytest.mark.parametrize("strategy", ["tree", "list"])
@pytest.mark.parametrize("variant", list(GROW))
def test_grow_and_shrink(variant, strategy, tmp_path):
    n = max(1000, int(GROW[variant] * SCALE))
    exe = build(variant, tmp_path, 50)
    run = run_clean(variant, [str(exe), "grow", strategy, "1000", str(n)])
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["ok"] is True and result["strategy"] == strategy
    assert [r["n_modules"] for r in result["rows"]] == [1000, n]
