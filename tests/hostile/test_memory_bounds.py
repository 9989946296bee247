"""Hostile inputs cost bounded memory and never hang.

Each case runs the real command in a subprocess under an address-space limit
and a timeout, and asserts a clean one-line error and the child's peak RSS.
Without the bounded reader, ``pymod load /dev/zero`` grew past 9 GB and a FIFO
hung forever; without detached failures, 16 decompression bombs held 9 GB.
"""

from __future__ import annotations

import gzip
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from pymod.elf.constants import MAX_DECOMPRESSED
from pymod.samples import prebuilt_path

pytestmark = pytest.mark.slow   # each case runs the real command under a memory limit

LIMIT_AS = 6 << 30        # a regression dies here instead of taking the machine
PEAK_RSS = 1536 << 20     # what a clean refusal may cost at most (cap: 256 MiB)


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT_AS, LIMIT_AS))


def run_bounded(*args: str, timeout: float = 120, limit_as: int = LIMIT_AS,
                one_cpu: bool = False) -> tuple[subprocess.CompletedProcess[str], int]:
    """``python -m pymod ARGS`` under RLIMIT_AS ``limit_as``, on one CPU when
    ``one_cpu`` (one reading thread: figures that do not depend on the
    machine's cores); (result, peak RSS in bytes)."""
    code = ("import os, resource, subprocess, sys\n"
            "def limit():\n"
            "    if %r:\n"
            "        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})\n"
            "    resource.setrlimit(resource.RLIMIT_AS, (%d, %d))\n"
            "p = subprocess.run(sys.argv[1:], capture_output=True, text=True, timeout=%r,"
            " preexec_fn=limit)\n"
            "sys.stdout.write(p.stdout); sys.stderr.write(p.stderr)\n"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
            "sys.exit(p.returncode)\n" % (one_cpu, limit_as, limit_as, timeout))
    p = subprocess.run([sys.executable, "-c", code, sys.executable, "-m", "pymod", *args],
                       capture_output=True, text=True, timeout=timeout + 30)
    *lines, rss = p.stderr.splitlines()
    p.stderr = "\n".join(lines) + "\n" if lines else ""
    return p, int(rss) * 1024


def _one_line_errors(stderr: str) -> list[str]:
    assert "Traceback" not in stderr, stderr
    return [ln for ln in stderr.splitlines() if ln]


def test_load_dev_zero_is_refused_at_once():
    p, rss = run_bounded("load", "/dev/zero")
    assert p.returncode == 1
    assert _one_line_errors(p.stderr) == [
        "pymod load: /dev/zero: EINVAL (-22): /dev/zero: not a regular file"]
    assert rss < PEAK_RSS


def test_load_fifo_does_not_hang(tmp_path):
    fifo = tmp_path / "x.ko"
    os.mkfifo(fifo)
    p, rss = run_bounded("load", str(fifo), timeout=60)
    assert p.returncode == 1 and "not a regular file" in p.stderr
    assert rss < PEAK_RSS


def test_fifo_inside_a_tree_does_not_hang(tmp_path):
    (tmp_path / "kernel").mkdir()
    os.mkfifo(tmp_path / "kernel" / "a.ko")
    (tmp_path / "kernel" / "b.ko").write_bytes(prebuilt_path("pm_hello").read_bytes())
    p, _ = run_bounded("load", str(tmp_path), timeout=60)
    # depmod's walk takes regular files only: the FIFO is not a module file
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("pm_hello ")


def test_sparse_file_past_the_cap_is_not_read(tmp_path):
    big = tmp_path / "big.ko"
    with open(big, "wb") as f:
        f.truncate(3 << 30)           # 3 GiB, no blocks: reading it would cost 3 GiB
    p, rss = run_bounded("load", str(big))
    assert p.returncode == 1
    assert "EFBIG" in p.stderr and "the cap" in p.stderr
    assert rss < PEAK_RSS


@pytest.mark.parametrize("option", ["--config", "--symvers"])
def test_config_and_symvers_inputs_are_bounded(option):
    p, rss = run_bounded("load", option, "/dev/zero", str(prebuilt_path("pm_hello")))
    assert p.returncode == 1
    assert _one_line_errors(p.stderr) == ["pymod load: /dev/zero: not a regular file"]
    assert rss < PEAK_RSS


@pytest.fixture(scope="module")
def bomb(tmp_path_factory) -> Path:
    """A 1 MiB gzip file that decompresses to past the cap."""
    path = tmp_path_factory.mktemp("bombs") / "bomb.ko.gz"
    with gzip.open(path, "wb", compresslevel=1) as f:
        chunk = bytes(16 << 20)
        for _ in range(MAX_DECOMPRESSED // len(chunk) + 1):
            f.write(chunk)
    return path


def test_many_bombs_in_one_load_keep_no_buffers(tmp_path, bomb):
    data = bomb.read_bytes()
    for i in range(16):
        (tmp_path / ("b%02d.ko.gz" % i)).write_bytes(data)
    p, rss = run_bounded("load", "-j", "2", str(tmp_path), timeout=600)
    assert p.returncode == 1
    errors = _one_line_errors(p.stderr)
    assert len(errors) == 16 and all("EFBIG" in e for e in errors), errors
    assert rss < PEAK_RSS + (MAX_DECOMPRESSED * 2)   # at most one bomb per reading thread


def test_the_limit_is_real():
    # The harness itself: a child that needs more than the limit fails.
    code = "b = bytearray(%d)" % (LIMIT_AS + (1 << 30))
    p = subprocess.run([sys.executable, "-c", code], preexec_fn=_limit, capture_output=True)
    assert p.returncode != 0 and b"MemoryError" in p.stderr


def test_symbolize_streams_endless_input_in_bounded_memory():
    """``pymod symbolize /dev/zero``: no newline ever comes; lines are taken
    in bounded pieces, so output flows and memory stays flat."""
    fixture = Path(__file__).resolve().parent.parent / "tools" / "fixtures" / "kallsyms"
    p = subprocess.Popen([sys.executable, "-m", "pymod", "symbolize", "--kallsyms", str(fixture),
                          "/dev/zero"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS,
                                                               (1 << 30, 1 << 30)))
    try:
        assert p.stdout is not None
        got = 0
        while got < (64 << 20):          # 64 MiB of output: far more than one chunk
            block = p.stdout.read(1 << 20)
            assert block, p.stderr.read().decode() if p.stderr else ""
            got += len(block)
    finally:
        p.kill()
        p.wait()


@pytest.mark.parametrize("kind", ["dev_zero", "fifo", "directory"])
def test_symbolizer_sources_refuse_what_is_not_a_file(tmp_path, kind):
    import errno

    from pymod import PymodError, Symbolizer

    src = {"dev_zero": "/dev/zero", "directory": str(tmp_path)}.get(kind)
    if src is None:
        src = str(tmp_path / "fifo")
        os.mkfifo(src)
    for build in (Symbolizer.from_kallsyms, Symbolizer.from_system_map):
        with pytest.raises(PymodError) as e:
            build(src)
        assert e.value.errno == errno.EINVAL and "not a regular file" in str(e.value)
