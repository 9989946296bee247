"""The symbolizer's private surfaces, attacked from Python, and its name tables' cost.

Before: ``pymod._symfast.Fast(...)`` took raw pointers and segfaulted when
built or re-initialised by hand; clearing the tables' cell (or one entry of
it) was a use-after-free; a tampered pickle failed later with SystemError
or IndexError; a 1.4 KB ``.ko.xz`` with 1000 symbols sharing one 1 MB name
asked for 7.45 GiB.  Every crash attempt runs in a subprocess: a signal
fails the test instead of killing the run.
"""

from __future__ import annotations

import dataclasses
import lzma
import pickle
import re
import struct
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from pymod import InvalidArgument, PymodError, Symbolizer
from pymod.samples import prebuilt_path
from tests.hostile.test_memory_bounds import LIMIT_AS, run_bounded
from tests.symbolize.test_symbolizer import HAND

pytestmark = pytest.mark.slow   # each crash attempt runs in its own interpreter

SETUP = """
import copy, gc, pickle, struct
from pymod import PymodError, Symbolizer
from tests.symbolize.test_symbolizer import HAND
s = Symbolizer(HAND)
WANT = str(s.symbolize(0x10010))
def outcome(fn):
    try:
        r = fn()
    except (TypeError, ValueError, RuntimeError, AttributeError, PymodError) as e:
        return type(e).__name__
    return "ok" if r is None or str(r) == WANT else "wrong: %s" % r
"""


def run_python(body: str) -> list[str]:
    """``body`` (after SETUP) in a child under RLIMIT_AS: its stdout lines.
    A signal or an unexpected exception fails here."""
    code = ("import resource; resource.setrlimit(resource.RLIMIT_AS, (%d, %d))\n"
            % (LIMIT_AS, LIMIT_AS)) + SETUP + textwrap.dedent(body)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, "exit %d\n%s" % (p.returncode, p.stderr[-3000:])
    assert "SystemError" not in p.stdout + p.stderr
    return p.stdout.splitlines()


# ---------------------------------------------------------------- the C type
FAST_ATTEMPTS = {
    "raw pointers": "Fast(1, 1, None, [{}], print).symbolize(0x1000)",
    "no arguments": "Fast().symbolize(0x1000)",
    "__new__": "Fast.__new__(Fast).symbolize(0x1000)",
    "object.__new__": "object.__new__(Fast).symbolize(0x1000)",
    "re-initialised": "f.__init__(1, 1, None, [{}], print)",
    "re-initialised by the type": "Fast.__init__(f, 1, 1, s, [{}], print)",
    "copied": "copy.copy(f).symbolize(0x10010)",
    "pickled": "pickle.loads(pickle.dumps(f)).symbolize(0x10010)",
}


@pytest.mark.parametrize("attempt", list(FAST_ATTEMPTS))
def test_the_c_type_cannot_be_made_or_reset_from_python(attempt):
    out = run_python("""
        Fast = type(s.symbolize.__self__)
        f = s.symbolize.__self__
        print(outcome(lambda: %s))
        print(str(s.symbolize(0x10010)) == WANT or str(s.symbolize(0x10010)))
    """ % FAST_ATTEMPTS[attempt])
    assert out == ["TypeError", "True"]


def test_the_factory_takes_handles_and_refuses_the_rest():
    out = run_python("""
        from pymod._symfast import Names, make_fast
        from pymod._lookup_cffi import ffi, lib
        print(outcome(lambda: make_fast(2**63, Names(), print)))
        print(outcome(lambda: make_fast(int(ffi.cast("uintptr_t", s._c._sm)), Names(), print)))
        print(outcome(lambda: make_fast(1, {}, print)))
        # a valid handle is a counted reference: the map outlives its symbolizer
        other = Symbolizer(HAND)
        f = make_fast(int(lib.pm_symmap_handle(other._c._sm)), other._tables.names, print)
        del other
        gc.collect()
        print(str(f.symbolize(0x10010)) == WANT)
    """)
    assert out == ["ValueError", "ValueError", "TypeError", "True"]


# ---------------------------------------------------------------- the tables
def test_clearing_whatever_the_tables_hold_never_crashes():
    """Every container reachable from the tables is emptied (the old cell,
    the owners, the epochs), then every tag dropped from the C registry."""
    out = run_python("""
        sym = s.symbolize(0x10010)                 # the C path caches this entry
        for value in list(vars(s._tables).values()):
            if isinstance(value, (list, dict)):
                value.clear()
        print(outcome(lambda: s.symbolize(0x10010)))
        for tag in range(64):
            getattr(s._tables, "names", None) and s._tables.names.drop(tag)
        print(outcome(lambda: s.symbolize(0x10010)))
        print(outcome(lambda: s.symbolize_many([0x10010, 0x1010]).format()))
        print(sym.name)                             # a Symbol keeps its own names
    """)
    assert out == ["ok", "PymodError", "PymodError", "a1"]


def test_one_dropped_entry_is_not_a_use_after_free():
    out = run_python("""
        tag = s._tables.names and max(s._tables.owners)
        s.symbolize(0x10010)                       # cached
        for t in list(s._tables.owners):
            s._tables.names.drop(t)                # the cached entry's last other owner
        gc.collect()
        print(outcome(lambda: s.symbolize(0x10010)))   # the Python path answers
    """)
    assert out == ["ok"]


def test_the_c_registry_checks_what_it_is_given():
    out = run_python("""
        names = s._tables.names
        tag = max(s._tables.owners)
        print(outcome(lambda: names.put(tag, b"a\\0", struct.pack("I", 10**6), None, None)))
        print(outcome(lambda: names.put(tag, "a", b"", None, None)))
        print(outcome(lambda: names.put(tag, b"a\\0", b"\\0\\0\\0", None, None)))
        for t in list(s._tables.owners):           # valid, but fewer names than symbols
            names.put(t, b"a\\0", b"", None, None)
        print(outcome(lambda: s.symbolize(0x10010).name))
        print(outcome(lambda: setattr(names, "by_tag", {})))
    """)
    assert out == ["ValueError", "TypeError", "ValueError", "RuntimeError", "AttributeError"]


# ---------------------------------------------------------------- pickles
def _forged(state: object) -> bytes:
    """A pickle of a Symbolizer whose state is ``state``."""
    s = Symbolizer()
    s.__getstate__ = lambda: state         # type: ignore[method-assign]
    return pickle.dumps(s)


def _mod(st, **kw):
    return dataclasses.replace(st, modules=(dataclasses.replace(st.modules[0], **kw),
                                            *st.modules[1:]))


def _sym(st, **kw):
    return _mod(st, symbols=dataclasses.replace(st.modules[0].symbols, **kw))


def _core(st, **kw):
    return dataclasses.replace(st, core=dataclasses.replace(st.core, **kw))


TAMPERED = {
    "name offset past the strtab": lambda st: _sym(st, names=np.array([0, 10**6, 0], np.uint32)),
    "fewer names than symbols": lambda st: _sym(st, names=np.array([0], np.uint32)),
    "names of another dtype": lambda st: _sym(st, names=np.zeros(3, np.float64)),
    "strtab not bytes": lambda st: _sym(st, strtab="a1\0"),
    "strtab without its NUL": lambda st: _sym(st, strtab=st.modules[0].symbols.strtab[:-1]),
    "unsorted addresses": lambda st: _sym(st, addrs=st.modules[0].symbols.addrs[::-1].copy()),
    "addresses in two dimensions": lambda st: _sym(st, addrs=np.zeros((3, 1), np.uint64)),
    "type letters missing": lambda st: _sym(st, types=b""),
    "module name not a str": lambda st: _mod(st, name=5),
    "negative region": lambda st: _mod(st, regions=((-5, 10),)),
    "region past 2**64": lambda st: _mod(st, regions=(((1 << 64) - 8, 16),)),
    "overlapping modules": lambda st: dataclasses.replace(
        st, modules=(*st.modules, dataclasses.replace(st.modules[0], name="twin"))),
    "one module twice": lambda st: dataclasses.replace(st, modules=st.modules * 2),
    "build id not bytes": lambda st: _mod(st, build_id=7),
    "symbols missing": lambda st: _mod(st, symbols=None),
    "vmlinux name offset past the strtab": lambda st: _core(
        st, symbols=dataclasses.replace(st.core.symbols,
                                        names=np.full(len(st.core.symbols), 99, np.uint32))),
    "vmlinux bound not an int": lambda st: _core(st, stext=None),
    "not maps at all": lambda st: (1, 2),
}


@pytest.mark.parametrize("tamper", list(TAMPERED))
def test_a_tampered_pickle_is_refused_on_load(tamper):
    data = _forged(TAMPERED[tamper](Symbolizer(HAND).__getstate__()))
    with pytest.raises(InvalidArgument, match=r"^\[Errno 22\] Symbolizer state: ") as e:
        pickle.loads(data)
    assert isinstance(e.value, PymodError)


def test_an_untampered_pickle_still_loads():
    s = pickle.loads(_forged(Symbolizer(HAND).__getstate__()))
    assert str(s.symbolize(0x10010)) == "a1+0x0/0xf0 [a]"


def test_overlapping_modules_are_named_not_numbered():
    s = Symbolizer(HAND)
    twin = dataclasses.replace(HAND.modules[0], name="twin")
    with pytest.raises(InvalidArgument, match=r"module twin: a region overlaps a region of "
                                              r"module a$"):
        s.add_module(twin)
    assert str(s.symbolize(0x10010)) == "a1+0x0/0xf0 [a]"      # nothing half-done


# ---------------------------------------------------------------- long names
def long_name_module(n: int, name_len: int = 1 << 20) -> bytes:
    """pm_hello.ko with ``n`` more global symbols in .exit.text (a core text
    section), all named by one ``name_len``-byte name appended to .strtab."""
    img = prebuilt_path("pm_hello").read_bytes()
    shoff, = struct.unpack_from("<Q", img, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", img, 0x3a)
    sh = [list(struct.unpack_from("<IIQQQQIIQQ", img, shoff + i * shentsize))
          for i in range(shnum)]
    names = sh[shstrndx][4]

    def secname(s: list[int]) -> bytes:
        return img[names + s[0]:img.index(b"\0", names + s[0])]

    sym = next(i for i, s in enumerate(sh) if s[1] == 2)      # SHT_SYMTAB
    text = next(i for i, s in enumerate(sh) if secname(s) == b".exit.text")
    strtab = sh[sym][6]
    old_str = img[sh[strtab][4]:sh[strtab][4] + sh[strtab][5]]
    extra = b"".join(struct.pack("<IBBHQQ", len(old_str), 0x12, 0, text, i % sh[text][5], 0)
                     for i in range(n))                        # GLOBAL FUNC
    out = bytearray(img[:shoff])
    for idx, data in ((strtab, old_str + b"x" * name_len + b"\0"),
                      (sym, img[sh[sym][4]:sh[sym][4] + sh[sym][5]] + extra)):
        out += b"\0" * (-len(out) % 8)
        sh[idx][4], sh[idx][5] = len(out), len(data)
        out += data
    out += b"\0" * (-len(out) % 8)
    struct.pack_into("<Q", out, 0x28, len(out))
    for s in sh:
        out += struct.pack("<IIQQQQIIQQ", *s)
    return lzma.compress(bytes(out), format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32)


def _ko_dir(tmp_path, n):
    d = tmp_path / ("ko%d" % n)
    d.mkdir()
    (d / "pm_hello.ko.xz").write_bytes(long_name_module(n))
    return d


def test_symbols_sharing_one_long_name_cost_it_once(tmp_path):
    """--ko-dir: 100 and 1000 symbols sharing a 1 MB name cost about the
    same (were 1.7 GB and a 7.45 GiB MemoryError), and the name is printed
    cut where the kernel's KSYM_NAME_LEN buffer cuts it."""
    (tmp_path / "modules").write_text("pm_hello 16384 0 - Live 0xffffffffc0000000 (E)\n")
    (tmp_path / "addrs").write_text("ffffffffc0000005\n")
    rss = {}
    for n in (100, 1000):
        ko = _ko_dir(tmp_path, n)
        assert ko.joinpath("pm_hello.ko.xz").stat().st_size < 4096
        p, rss[n] = run_bounded("symbolize", "--modules", str(tmp_path / "modules"),
                                "--ko-dir", str(ko), str(tmp_path / "addrs"))
        assert p.returncode == 0, p.stderr
        name = re.fullmatch(r"ffffffffc0000005 <- (x+)\+0x0/0x\w+ \[pm_hello\]\n", p.stdout)
        assert name and len(name.group(1)) == 511, p.stdout[:200]
    assert rss[1000] < rss[100] + (16 << 20)      # 900 more symbols: no 900 more names
    assert rss[1000] < 256 << 20


def test_a_kernels_symbolizer_keeps_one_copy_of_a_shared_name(tmp_path):
    ko = _ko_dir(tmp_path, 100)
    code = textwrap.dedent("""
        import resource, sys, tracemalloc
        resource.setrlimit(resource.RLIMIT_AS, (%d, %d))
        from pymod import Kernel
        from pymod.symbolize.follow import KernelSymbolizer
        k = Kernel()
        k.load_module(sys.argv[1])
        tracemalloc.start()
        s = KernelSymbolizer(k)
        peak = tracemalloc.get_traced_memory()[1]
        print(peak, len(s.symbolize(k.module("pm_hello").regions()["text"][0] + 5).name))
    """ % (LIMIT_AS, LIMIT_AS))
    p = subprocess.run([sys.executable, "-c", code, str(ko / "pm_hello.ko.xz")],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    peak, name_len = map(int, p.stdout.split())
    assert name_len == 511
    assert peak < 8 << 20          # was 1.86 GB: a copy of the 1 MB name per symbol
