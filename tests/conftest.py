"""Shared pytest fixtures.

Real Debian kernel modules are opt-in: tests marked ``real_kernel`` use the
cache filled by ``devtools/debian_kernel.py`` and are skipped (visibly,
with the reason) when it is absent.  ``.ci/run`` always fills the cache.
"""

from __future__ import annotations

import os

import pytest

from devtools.debian_kernel import kernel_cache_root


@pytest.fixture(scope="session")
def debian_kernel():
    """The newest fetched Debian kernel: a ``devtools.debian_kernel.DebianKernel`` or skip."""
    from devtools.debian_kernel import find_cached_kernel

    k = find_cached_kernel(kernel_cache_root())
    if k is None:
        pytest.skip("no Debian kernel in %s (run devtools/debian_kernel.py)"
                    % kernel_cache_root())
    return k


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
