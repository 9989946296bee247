"""Build and run the symbolizer's C stress validator (tests/c/validate_symbols*.c,
with validate_common.c) the three ways the lookup core's validator runs:
optimised, under ThreadSanitizer, under AddressSanitizer+UBSan (the same
flags and runtime options, from test_lookup_stress_c).

Reader threads symbolize batches while a writer adds, replaces (init done)
and removes modules and replaces vmlinux's table; every answer is checked
against the tagged table it names.  Writer step counts are scaled by
PYMOD_STRESS_SCALE (default 1.0).  Any violation, sanitizer report or
non-zero exit fails the test.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from tests.c.test_lookup_stress_c import BASE, SANITIZER_MARKS, SOURCES, VARIANTS
from tests.c.validators import SYMBOLS_VALIDATOR

SCALE = float(os.environ.get("PYMOD_STRESS_SCALE", "1.0"))
# Writer steps per variant at scale 1.0 (each: remove + add + replace, and a
# vmlinux table every 64): about 1 s plain, 5 s TSan, 2 s ASan on 2 cores.
STEPS = {"plain": 40000, "tsan": 16000, "asan": 30000}
LINE = re.compile(r"^check symbols: (\d+) writer steps, (\d+) tables, (\d+) equal-generation "
                  r"batches, mixed (\d+), found (\d+), reads (\d+), violations (\d+)$", re.M)

# slow: gcc builds (sanitizers among them) and long stress runs.
pytestmark = [pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed"),
              pytest.mark.slow]


@pytest.mark.parametrize("variant", list(STEPS))
def test_validate_symbols(variant, tmp_path):
    flags, _, env = VARIANTS[variant]
    steps = max(200, int(STEPS[variant] * SCALE))
    exe = tmp_path / ("validate_symbols_" + variant)
    build = subprocess.run(["gcc", *BASE, *flags, "-DSTEPS=%d" % steps, "-DREADERS=2",
                            *SOURCES, *SYMBOLS_VALIDATOR, "-o", str(exe)],
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    run = subprocess.run([str(exe)], capture_output=True, text=True,
                         env={**os.environ, **env}, timeout=600)
    report = run.stdout + run.stderr
    assert not any(m in report for m in SANITIZER_MARKS), report[-4000:]
    assert run.returncode == 0, report[-4000:]
    m = LINE.search(run.stdout)
    assert m, run.stdout
    _, tables, _, mixed, found, reads, violations = map(int, m.groups())
    assert violations == 0, report[-4000:]
    # The run really raced: readers resolved many addresses while the writer churned.
    assert tables > 2 * steps and reads > 1000 and found > reads // 10, m.group(0)
    assert mixed == 0, report[report.find("MIXED"):][:2000]
