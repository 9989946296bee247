"""Shared pytest fixtures.

Real Debian kernel modules are opt-in: tests marked ``real_kernel`` use the
cache filled by ``devtools/debian_kernel.py`` and are skipped (visibly,
with the reason) when it is absent.  ``.ci/run`` always fills the cache.
"""

from __future__ import annotations

import os

import pytest

from devtools.debian_kernel import kernel_cache_root

# sizeof(struct module) of each Debian kernel the tests fetch, as measured
# (the size of .gnu.linkonce.this_module in every module of that kernel).
STRUCT_MODULE_SIZE = {"6.12": 1280, "6.1": 896}


def series_of(release: str) -> str:
    return ".".join(release.split(".")[:2])


def _kernel_of(series: str):
    from devtools.debian_kernel import find_cached_kernel

    k = find_cached_kernel(kernel_cache_root(), series)
    if k is None:
        pytest.skip("no Debian %s kernel in %s (run devtools/debian_kernel.py --series %s)"
                    % (series, kernel_cache_root(), series))
    return k


@pytest.fixture(scope="session", params=["6.12", "6.1"])
def debian_kernel(request):
    """Each fetched Debian kernel in turn (the 6.12 target and Debian 12's
    own 6.1, an older one with its own rules): a
    ``devtools.debian_kernel.DebianKernel``, or skip."""
    return _kernel_of(request.param)


@pytest.fixture(scope="session")
def debian_kernel_612():
    """The 6.12 kernel alone, for tests about what only it has."""
    return _kernel_of("6.12")


@pytest.fixture(scope="session")
def debian_kernel_61():
    return _kernel_of("6.1")


@pytest.fixture(scope="session")
def debian_dbg_61():
    """vmlinux and a few modules of the 6.1 kernel's ``-dbg`` package: a
    ``devtools.debian_dbg.DebianDbg`` (``.vmlinux``, ``.ko_files()``,
    ``.debug_dir`` laid out as /usr/lib/debug), or skip."""
    from devtools.debian_dbg import find_cached_dbg

    d = find_cached_dbg(kernel_cache_root(), "6.1")
    if d is None:
        pytest.skip("no Debian 6.1 debug files in %s (run devtools/debian_dbg.py --series 6.1)"
                    % kernel_cache_root())
    return d


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """With PYMOD_REQUIRE_REAL=1 (set by .ci/run, which always fetches the
    kernel) a skipped ``real_kernel`` test is a failure, so a broken fetch or
    cache layout cannot pass silently."""
    outcome = yield
    report = outcome.get_result()
    if (report.skipped and os.environ.get("PYMOD_REQUIRE_REAL") == "1"
            and item.get_closest_marker("real_kernel") is not None):
        report.outcome = "failed"
        report.longrepr = "real_kernel test skipped but PYMOD_REQUIRE_REAL=1: %s" % (
            report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr)
