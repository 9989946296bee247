"""A symbolizer with debug info pickles its debug files by path (never the
index), reopens them through pymod.dwarf.cache on first use, refuses a
tampered state whole, and names a debug file missing on the other side
when its lines are first asked for."""

from __future__ import annotations

import errno
import pickle
import shutil
import subprocess
import sys

import numpy as np
import pytest

from pymod.errors import InvalidArgument, PymodError
from pymod.symbolize import DebugInfo, Symbolizer, debugfiles
from pymod.symbolize.debugfiles import open_debug_file
from pymod.symbolize.inputs import _moved
from pymod.symbolize.lines import DebugFile, StaticLines
from pymod.symbolize.model import Maps
from tests.symbolize.gccdebug import addr2line, agrees

RELEASE = "6.1.0-99-test-amd64"


@pytest.fixture
def opened(cache, monkeypatch):
    """The debug files opened during the test (a private index cache)."""
    got: list[str] = []
    real = debugfiles.open_debug_file

    def counted(path):
        got.append(str(path))
        return real(path)

    monkeypatch.setattr(debugfiles, "open_debug_file", counted)
    return got


def _text(s: Symbolizer) -> np.ndarray:
    core = s.maps.core
    return np.arange(core.stext, core.etext, dtype=np.uint64)


def _sources(s: Symbolizer, addrs: np.ndarray) -> list:
    return [None if sym is None else sym.source for sym in s.symbolize_many(addrs, lines=True)]


def _helper_of(s: Symbolizer, exe, file: str) -> int:
    """An address inside the ``helper`` of ``file`` (both units have one)."""
    for a in _text(s).tolist():
        sym = s.symbolize(a)
        if sym is not None and sym.name == "helper" and sym.source and \
                sym.source[-1].file.endswith(file):
            return a
    raise AssertionError("no helper of %s" % file)


def test_round_trip_keeps_paths_and_reopens_lazily(exe, opened):
    s = Symbolizer.from_debuginfo(exe)
    addrs = _text(s)
    before = _sources(s, addrs)
    assert opened == [str(exe)] and sum(1 for x in before if x) > 100
    state = s.__getstate__()
    assert state[1] == (("dirs", (str(exe),), None),)
    blob = pickle.dumps(s)
    assert len(blob) < 4096                                      # paths, not an index
    again = pickle.loads(blob)
    assert len(opened) == 1                                      # nothing opened yet
    assert _sources(again, addrs) == before
    assert opened == [str(exe)] * 2
    # re-pickled as it came
    assert again.__getstate__()[1] == state[1]
    assert _sources(pickle.loads(pickle.dumps(again)), addrs) == before


REOPEN = """
import pickle, sys
import numpy as np
import pymod.dwarf.cache as c
real, hits = c.load_index, []
def counted(*a, **k):
    got = real(*a, **k)
    hits.append(got.hit)
    return got
c.load_index = counted
s = pickle.loads(sys.stdin.buffer.read())
core = s.maps.core
res = s.symbolize_many(np.arange(core.stext, core.etext, dtype=np.uint64), lines=True)
print(hits, sum(1 for sym in res if sym is not None and sym.source))
"""


def test_another_process_reopens_through_the_index_cache(exe, opened):
    from pymod.dwarf.cache import load_index

    load_index(exe)                 # in this test's cache (opened files are kept per process)
    s = Symbolizer.from_debuginfo(exe)
    res = s.symbolize_many(_text(s), lines=True)
    want = sum(1 for sym in res if sym is not None and sym.source)
    out = subprocess.run([sys.executable, "-c", REOPEN], input=pickle.dumps(s),
                         capture_output=True, check=True).stdout.decode()
    assert out.split() == ["[True]", str(want)]                 # one load, a cache hit


def test_a_name_two_units_share_still_answers_from_its_own_unit(exe, opened):
    """Built from debug info, lines follow each symbol's own address; after a
    round trip the reopened file's table is the owner's again, not a lookup
    by name (which would answer b.c's helper from a.c's)."""
    s = pickle.loads(pickle.dumps(Symbolizer.from_debuginfo(exe)))
    at = _helper_of(Symbolizer.from_debuginfo(exe), exe, "b.c")
    src = s.symbolize(at).source
    assert src[-1].file.endswith("b.c")
    assert agrees(src, addr2line(exe, [at])[at])


def test_files_given_by_owner_and_a_directory_round_trip(exe, opened, tmp_path):
    root = tmp_path / "dbg" / "usr" / "lib" / "debug" / "boot"
    root.mkdir(parents=True)
    shutil.copy(exe, root / ("vmlinux-" + RELEASE))
    linked = Symbolizer.from_debuginfo(exe)
    slid = Symbolizer(Maps(_moved(linked.maps.core, 0x10000), ()))
    slid.add_debuginfo(open_debug_file(exe))
    from_dir = Symbolizer(DebugInfo(tmp_path / "dbg", release=RELEASE))
    assert slid.__getstate__()[1] == (("files", {None: str(exe)}),)
    assert from_dir.__getstate__()[1] == (("dirs", (str(tmp_path / "dbg"),), RELEASE),)
    for s in (slid, from_dir):
        addrs = _text(s)
        assert _sources(pickle.loads(pickle.dumps(s)), addrs) == _sources(s, addrs)
        assert pickle.loads(pickle.dumps(s)).symbolize(int(addrs[0x50])).source is not None


def test_relative_paths_are_kept_absolute(exe, opened, monkeypatch):
    monkeypatch.chdir(exe.parent)
    s = Symbolizer.from_debuginfo("vmlinux")
    assert s.__getstate__()[1] == (("dirs", (str(exe),), None),)


def test_lines_given_in_memory_are_refused_not_dropped(exe):
    s = Symbolizer(Symbolizer.from_debuginfo(exe).maps)
    s.add_debuginfo(DebugFile(StaticLines({})), "mymod")
    with pytest.raises(InvalidArgument, match="mymod was given in memory"):
        pickle.dumps(s)


@pytest.mark.parametrize("kind", ["file", "dir"])
def test_a_missing_debug_file_is_named_when_lines_are_asked(exe, opened, tmp_path, kind):
    here = tmp_path / "here"
    (here / "boot").mkdir(parents=True)
    copy = shutil.copy(exe, here / "boot" / ("vmlinux-" + RELEASE))
    if kind == "file":
        s = Symbolizer(Symbolizer.from_debuginfo(exe).maps)
        s.add_debuginfo(open_debug_file(copy))
        gone = str(copy)
    else:
        s = Symbolizer(DebugInfo(here))
        gone = str(here)
    blob = pickle.dumps(s)
    shutil.rmtree(here)
    again = pickle.loads(blob)                   # no error yet
    addrs = _text(again)
    assert again.symbolize_many(addrs).names() == s.symbolize_many(addrs).names()
    with pytest.raises(PymodError, match="debug file %s .*missing" % gone) as e:
        again.symbolize_many(addrs, lines=True)
    assert e.value.errno == errno.ENOENT


@pytest.mark.parametrize("debug", [
    [("files", {None: "/x"})],                    # a list, not a tuple
    (("files", {None: "relative/vmlinux"}),),
    (("files", {None: b"/x"}),),
    (("files", {None: "/x\0y"}),),
    (("files", {"": "/x"}),),
    (("files", {3: "/x"}),),
    (("dirs", (), None),),
    (("dirs", ("/x",), 5),),
    (("dirs", ["/x"], None),),
    (("index", b"\0" * 64),),
])
def test_a_tampered_debug_state_is_refused_before_anything_is_built(exe, debug):
    maps = Symbolizer.from_debuginfo(exe).maps
    s = Symbolizer.__new__(Symbolizer)
    with pytest.raises(InvalidArgument, match="Symbolizer state: debug info"):
        s.__setstate__((maps, debug))


def test_a_tampered_maps_is_still_refused_with_debug_info(exe):
    s = Symbolizer.__new__(Symbolizer)
    with pytest.raises(InvalidArgument, match="Symbolizer state: maps"):
        s.__setstate__(("not maps", (("files", {None: str(exe)}),)))
