"""A batch (``pymod load DIR``, ``pymod check``) costs the images in
flight, never the tree, and a dependency chain costs linear work (issue 15).

Before: every decompressed image of the tree was held at once (eight 9 KB
``.ko.zst`` files of 250 MB each ended in MemoryError; six of 128 MiB took
960 MB), and ``check`` of a chain of 10^4 modules took 24 s and 450 MB,
rescanning every module found so far for each one it added.

The memory tests run the real command pinned to one CPU (one reading
thread: the figures do not depend on the machine's cores) under
RLIMIT_AS, and bound its peak RSS by a few images above a small load's.
"""

from __future__ import annotations

import cProfile
import errno
import os
import pstats
import resource
import subprocess
import sys
from pathlib import Path

import pytest
import zstandard

from pymod.loader import batch, relocate
from pymod.loader.batch import load_all
from pymod.loader.kernel import Kernel
from pymod.samples import prebuilt_path
from pymod.tools.check import Target, check
from tests.hostile.test_loader_inputs import HELLO, named
from tests.hostile.test_memory_bounds import run_bounded
from tests.loader.support import assert_consistent, snapshot

LIMIT_AS = 3 << 30       # six 128 MiB images and their copies fit; a regression dies here
BOMB = 128 << 20         # each bomb's decompressed size (under the 256 MiB cap)
BOMBS = 6


def run_pinned(*args: str, timeout: float = 300) -> tuple[subprocess.CompletedProcess[str], int]:
    """``python -m pymod ARGS`` on one CPU under this file's RLIMIT_AS; (result, peak RSS)."""
    return run_bounded(*args, timeout=timeout, limit_as=LIMIT_AS, one_cpu=True)


@pytest.fixture(scope="module")
def bombs(tmp_path_factory) -> list[Path]:
    """Six distinct modules of a few KB each, each decompressing to 128 MiB
    (a valid module followed by zeros), and one truncated file."""
    top = tmp_path_factory.mktemp("bombs")
    zstd = zstandard.ZstdCompressor(level=3)
    files = []
    for i in range(BOMBS):
        files.append(top / ("pmb%05d.ko.zst" % i))
        files[-1].write_bytes(zstd.compress(named("pmb%05d" % i) + bytes(BOMB)))
    broken = top / "pmbroken.ko.zst"
    broken.write_bytes(files[0].read_bytes()[:200])
    return [*files, broken]


@pytest.fixture(scope="module")
def small_peak() -> int:
    """The peak of loading one small module: the interpreter and the loader."""
    p, rss = run_pinned("load", str(prebuilt_path("pm_hello")))
    assert p.returncode == 0, p.stderr
    return rss


def _bounded(rss: int, small_peak: int) -> None:
    # One image in flight, twice while it is decompressed, and one kept
    # file's worth of slack: 3 images, not 6.
    assert rss < small_peak + 3 * BOMB, (rss >> 20, small_peak >> 20)


@pytest.mark.slow
def test_load_dir_holds_the_images_in_flight_only(bombs, small_peak):
    p, rss = run_pinned("load", str(bombs[0].parent))
    loaded = sorted(line.split()[0] for line in p.stdout.splitlines())
    assert loaded == ["pmb%05d" % i for i in range(BOMBS)], p.stderr
    # the broken file, and go on (beside the note on what module code decides)
    (err,) = [ln for ln in p.stderr.splitlines() if ln and not ln.startswith("pymod load: note:")]
    assert err.startswith("pymod load: %s: " % bombs[-1]) and "zstd" in err, err
    assert p.returncode == 1 and "Traceback" not in p.stderr
    _bounded(rss, small_peak)


@pytest.mark.slow
def test_check_holds_the_images_in_flight_only(bombs, small_peak):
    p, rss = run_pinned("check", "--default-kernel", *map(str, bombs))
    heads = [ln for ln in p.stdout.splitlines() if not ln.startswith(" ")]
    assert len(heads) == BOMBS + 1 and "Traceback" not in p.stderr, p.stdout + p.stderr
    assert all(": LOADS" in h for h in heads[:-1]), heads
    assert heads[-1].startswith("%s: REFUSED" % bombs[-1])
    _bounded(rss, small_peak)


# ------------------------------------------------------------------ a dependency chain
def _chain(top: Path, n: int) -> tuple[Path, Path]:
    """A modules tree of ``n`` modules, each depending on the next; (the
    tree, the first module)."""
    tree = top / ("chain%d" % n) / "lib" / "modules" / "6.12.0-pymod-amd64"
    (tree / "kernel").mkdir(parents=True)
    order = []
    for i in range(n):
        name = "pmc%05d" % i
        (tree / "kernel" / (name + ".ko")).write_bytes(
            named(name, depends="pmc%05d" % (i + 1) if i + 1 < n else "", image=HELLO))
        order.append("kernel/%s.ko\n" % name)
    (tree / "modules.order").write_text("".join(order))
    return tree, tree / "kernel" / "pmc00000.ko"


def _batch_calls(tree: Path, first: Path) -> int:
    """Calls made in the batch's own code (pymod/loader/batch.py and the
    tree walk) while ``check`` loads the chain from its first module."""
    profile = cProfile.Profile()
    profile.enable()
    reports = check([str(first)], Target("6.12.0-pymod-amd64", tree, None, None, None),
                    None, None, [], False)
    profile.disable()
    assert [r["name"] for r in reports] == ["pmc00000"] and reports[0]["ok"]
    own = (os.path.join("pymod", "loader", "batch.py"), os.path.join("pymod", "kmod", "tree.py"))
    stats = pstats.Stats(profile).stats    # type: ignore[attr-defined]
    return sum(calls for (path, _, _), (_, calls, *_rest) in stats.items()
               if path.endswith(own))


@pytest.mark.slow
def test_a_dependency_chain_costs_linear_work(tmp_path):
    """Each module found is looked at once: 4 times the chain, about 4 times
    the batch's calls (before: every round re-read every module found so
    far, n^2/2 calls; 10^4 modules took 24 s)."""
    small = _batch_calls(*_chain(tmp_path, 200))
    large = _batch_calls(*_chain(tmp_path, 800))
    assert large < 6 * small, (small, large)
    assert large < 60 * 800, large           # a bounded number of calls per module


def test_load_all_loads_the_chain_dependencies_first(tmp_path):
    tree, first = _chain(tmp_path, 50)
    k = Kernel()
    result = load_all(k, [first], jobs=2)
    assert result.failures == [] and result.loaded == ["pmc%05d" % i for i in range(49, -1, -1)]
    assert len(k.modules) == 50


# ------------------------------------------------------------------ batches go on
@pytest.mark.parametrize("exc", [OverflowError("boom"), MemoryError(), AssertionError("x")])
def test_a_batch_reports_any_failure_and_goes_on(monkeypatch, tmp_path, exc):
    """A load failing with an exception of any type leaves nothing behind,
    is reported naming the file, and the rest of the batch loads."""
    files = []
    for name in ("pm_aaaaa", "pm_bbbbb", "pm_ccccc"):
        files.append(tmp_path / (name + ".ko"))
        files[-1].write_bytes(named(name))
    original = relocate.apply_relocations

    def failing(mod, *args, **kw):
        original(mod, *args, **kw)
        if mod.name == "pm_bbbbb":
            raise exc
    monkeypatch.setattr(relocate, "apply_relocations", failing)
    k = Kernel()
    result = batch.load_all(k, [str(f) for f in files], jobs=1)
    assert result.loaded == ["pm_aaaaa", "pm_ccccc"]
    ((path, err),) = result.failures
    assert path == str(files[1]) and str(files[1]) in err.strerror and err.stage == "pymod"
    assert err.errno == (errno.ENOMEM if isinstance(exc, MemoryError) else errno.EIO)
    assert_consistent(k)
    clean = Kernel()
    batch.load_all(clean, [str(files[0]), str(files[2])], jobs=1)
    ids = ("by_id", "tree")       # internal ids: a failed load used one, as the kernel's do
    assert {key: v for key, v in snapshot(k).items() if key not in ids} == \
        {key: v for key, v in snapshot(clean).items() if key not in ids}


def test_memory_running_out_while_reading_is_reported_and_the_batch_goes_on(monkeypatch,
                                                                          tmp_path):
    files = []
    for name in ("pm_aaaaa", "pm_bbbbb", "pm_ccccc"):
        files.append(tmp_path / (name + ".ko"))
        files[-1].write_bytes(named(name))
    original = batch.decompressed

    def failing(raw, *args):
        if b"pm_bbbbb" in raw:
            raise MemoryError
        return original(raw, *args)
    monkeypatch.setattr(batch, "decompressed", failing)
    k = Kernel()
    result = load_all(k, [str(f) for f in files], jobs=2)
    assert result.loaded == ["pm_aaaaa", "pm_ccccc"]
    ((path, err),) = result.failures
    assert (path, err.errno, err.stage) == (str(files[1]), errno.ENOMEM, "pymod")
    assert err.strerror == "%s: out of memory while loading it" % files[1]
    assert_consistent(k)


def test_the_limit_is_real():
    code = "b = bytearray(%d)" % (LIMIT_AS + (1 << 30))
    p = subprocess.run([sys.executable, "-c", code], capture_output=True,
                       preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS,
                                                             (LIMIT_AS, LIMIT_AS)))
    assert p.returncode != 0 and b"MemoryError" in p.stderr
