"""Directory links in a modules tree: two links to "." made every walk
exponential and hung ``deps``, ``load DIR`` and ``check --kernel-dir``
(depmod itself loops until it runs out of descriptors).  Each command now
enters every directory once and answers within its timeout."""

from __future__ import annotations

from pathlib import Path

import pytest

from pymod.samples import prebuilt_path
from tests.hostile.test_memory_bounds import PEAK_RSS, run_bounded

LINKS = 6        # 2**6 paths to each file through the links when walked naively


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    rel = tmp_path / "lib" / "modules" / "9.9.9"
    sub = rel / "kernel" / "sub"
    sub.mkdir(parents=True)
    (sub / "pm_hello.ko").write_bytes(prebuilt_path("pm_hello").read_bytes())
    for i in range(LINKS):
        (rel / "kernel" / ("dot%d" % i)).symlink_to(".")
    (sub / "up").symlink_to("..")
    return rel


def test_deps_walks_each_directory_once(tree: Path):
    p, rss = run_bounded("deps", "-o", "-", str(tree), timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "kernel/sub/pm_hello.ko:\n"      # one file, listed once
    assert rss < PEAK_RSS


def test_load_dir_walks_each_directory_once(tree: Path):
    p, _ = run_bounded("load", str(tree), timeout=60)
    assert p.returncode == 0, p.stderr
    assert [ln.split()[0] for ln in p.stdout.splitlines()] == ["pm_hello"]


def test_check_kernel_dir_walks_each_directory_once(tree: Path, tmp_path: Path):
    config = tmp_path / "config"
    config.write_text("CONFIG_MODULES=y\n")
    symvers = prebuilt_path("pm_hello").parent.parent / "default.symvers"
    p, _ = run_bounded("check", "--kernel-dir", str(tree), "--config", str(config),
                       "--symvers", str(symvers), str(tree / "kernel" / "sub" / "pm_hello.ko"),
                       timeout=60)
    # The sample was built for another release: a verdict, not a hang.
    assert p.returncode == 1 and "version magic" in p.stdout, (p.stdout, p.stderr)
