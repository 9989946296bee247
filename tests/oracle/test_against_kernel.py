"""The real kernels judge pymod: Debian's 6.12 and 6.1 booted in QEMU answer
the oracle's generated questions, with and without ``module.sig_enforce=1``,
and pymod must give the same errno and the same printk lines.

``PYMOD_ORACLE_CASES`` sets how many cases (CI: 5000 over both kernels);
without QEMU or the cached kernels the tests are skipped, visibly, except
under ``PYMOD_REQUIRE_REAL=1`` (CI), where a skipped ``real_kernel`` test
fails (tests/conftest.py).
"""

from __future__ import annotations

import os
import shutil

import pytest

from devtools.debian_kernel import find_cached_kernel
from devtools.oracle.compare import Table

pytestmark = [pytest.mark.oracle, pytest.mark.real_kernel, pytest.mark.slow]

CASES = int(os.environ.get("PYMOD_ORACLE_CASES", "400"))
SEED = int(os.environ.get("PYMOD_ORACLE_SEED", "1"))
# The agreement pymod is held to, outside what module code decides.
MIN_ERRNO = 99.9
MIN_MESSAGE = 99.5


@pytest.fixture(scope="module")
def oracle():
    if shutil.which("qemu-system-x86_64") is None:
        pytest.skip("qemu-system-x86_64 not installed (apt-get install qemu-system-x86 "
                    "busybox-static)")
    for series in ("6.12", "6.1"):
        if find_cached_kernel(series=series) is None:
            pytest.skip("no Debian %s kernel cached (devtools/debian_kernel.py)" % series)
    from devtools.oracle.__main__ import run_all

    results = run_all(cases=CASES, seed=SEED)
    table = Table()
    for r in results:
        for v in r["verdicts"]:
            table.add(r["label"], v)
        for v in r["checked"]:
            table.add(r["label"] + " pymod check", v, total="check")
    print("\n" + table.render())
    return results, table


def test_enough_cases_over_both_kernels_and_both_modes(oracle):
    results, _ = oracle
    labels = {r["label"] for r in results}
    assert labels == {"6.12/plain", "6.12/enforce", "6.1/plain", "6.1/enforce"}
    assert sum(len(r["cases"]) for r in results) >= CASES * 0.95
    families = {c.family for r in results for c in r["cases"]}
    assert families >= {"pristine", "mutation", "compress", "foreign", "deps", "params"}


def test_errno_agreement(oracle):
    _, table = oracle
    row = table.rows["all"]
    assert 100 * row["errno"] / row["judged"] >= MIN_ERRNO, table.render()


def test_message_agreement_text_and_level(oracle):
    _, table = oracle
    row = table.rows["all"]
    assert 100 * row["level"] / row["judged"] >= MIN_MESSAGE, table.render()


def test_pymod_check_agrees_too(oracle):
    _, table = oracle
    row = table.rows["check"]
    assert row["judged"] >= 0.01 * CASES
    assert 100 * row["errno"] / row["judged"] >= MIN_ERRNO, table.render()
    assert 100 * row["level"] / row["judged"] >= MIN_MESSAGE, table.render()


def test_every_pristine_module_loads_on_both_sides(oracle):
    results, _ = oracle
    for r in results:
        for v in r["verdicts"]:
            if v.family == "pristine" and v.where == "step 0" and "unsigned" not in \
                    r["cases"][v.case].what:
                assert v.kernel[0] == 0 and v.pymod[0] == 0, (r["label"], v)
