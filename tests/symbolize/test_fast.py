"""The one-address path in C (csrc/symfast): the same answers as the Python
path, its hand-offs to the Python path, the Symbol type, and concurrency."""

from __future__ import annotations

import copy
import gc
import pickle
import threading
import tracemalloc

import numpy as np
import pytest

from pymod import Kernel
from pymod.samples import prebuilt_path
from pymod.symbolize import Symbol, Symbolizer
from pymod.symbolize.follow import KernelSymbolizer
from pymod.symbolize.symbolizer import _symbolize
from tests.symbolize.test_symbolizer import HAND, MASK, _as_tuple, _edges, _module


def _slow(s: Symbolizer, addr, backtrace=False):
    return _symbolize(s._c, s._tables, addr, backtrace)


def _full(sym):
    return None if sym is None else (sym.name, sym.offset, sym.size, sym.module, sym.build_id,
                                     sym.backtrace)


@pytest.mark.parametrize("backtrace", [False, True])
def test_c_path_answers_as_the_python_path(backtrace):
    s = Symbolizer(HAND)
    assert type(s.symbolize) is not type(Symbolizer.symbolize)   # the C path is in use
    for a in _edges(HAND):
        fast, slow = s.symbolize(a, backtrace), _slow(s, a, backtrace)
        assert _full(fast) == _full(slow), hex(a)
        assert fast == slow and (fast is None or str(fast) == str(slow))
        assert _full(s.symbolize(a, backtrace=backtrace)) == _full(slow)


def test_c_path_on_random_addresses_matches_the_batch():
    s = Symbolizer(HAND)
    rng = np.random.default_rng(3)
    addrs = rng.integers(0x0F00, 0x22100, 5000, dtype=np.uint64)
    batch = s.symbolize_many(addrs)
    assert [_full(s.symbolize(int(a))) for a in addrs] == [_full(x) for x in batch]


def test_unusual_arguments_take_the_python_path():
    s = Symbolizer(HAND)
    want = _full(s.symbolize(0x1012))
    assert _full(s.symbolize(np.uint64(0x1012))) == want     # not exactly an int
    assert _full(s.symbolize(0x1013, 1)) == _full(s.symbolize(0x1013, True))
    with pytest.raises(TypeError):
        s.symbolize(True)
    with pytest.raises(TypeError):
        s.symbolize("0x1012")
    with pytest.raises(ValueError):
        s.symbolize(-1)
    with pytest.raises(ValueError):
        s.symbolize(1 << 64)
    with pytest.raises(TypeError):
        s.symbolize(0x1012, colour=True)
    with pytest.raises(TypeError):
        s.symbolize()
    with pytest.raises(TypeError):
        s.symbolize(0x1012, False, True)
    assert s.symbolize(MASK) is None


def test_symbol_type():
    a = Symbol("f", 2, 16, None)
    b = Symbol(name="f", offset=2, size=16, module=None, build_id=None, backtrace=False)
    assert a == b and hash(a) == hash(b) and a != Symbol("f", 3, 16, None)
    assert str(a) == "f+0x2/0x10" and a.format("s") == "f"
    assert str(Symbol("f", 2, 16, "m", backtrace=True)) == "f+0x2/0x10 [m]"
    assert repr(a).startswith("Symbol(name='f', offset=2")
    for clone in (pickle.loads(pickle.dumps(a)), copy.copy(a), copy.deepcopy(a)):
        assert clone == a and _full(clone) == _full(a)
    with pytest.raises(TypeError):
        Symbol(b"f", 0, 1, None)
    with pytest.raises(TypeError):
        Symbol("f", 0, 1, 5)
    with pytest.raises(TypeError):
        Symbol("f", 0, 1, None, "not bytes")
    with pytest.raises(ValueError):
        Symbol("f", -1, 1, None)
    with pytest.raises(AttributeError):
        a.name = "g"                                           # type: ignore[misc]
    with pytest.raises(TypeError):
        type("Sub", (Symbol,), {})                            # final, as a NamedTuple's fields are


def test_a_looked_up_symbol_outlives_its_module():
    """The lazy name keeps its owner's string table: removing the module
    after the lookup does not change the answer already given."""
    s = Symbolizer(HAND)
    sym = s.symbolize(0x10012)
    s.remove_module("a")
    gc.collect()
    assert s.symbolize(0x10012) is None
    assert (sym.name, sym.module) == ("a1", "a")


def test_no_memory_grows_over_many_lookups():
    s = Symbolizer(HAND)
    addrs = [0x1012, 0x10012, 0x12010, 0x900000] * 5000

    def run() -> None:
        for a in addrs:
            x = s.symbolize(a)
            if x is not None:
                _ = (x.name, str(x))

    run()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    run()
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert grown < 64 * 1024, grown


def test_c_path_while_modules_come_and_go():
    """One-address lookups from threads while a writer loads and unloads
    modules: the stable module always answers right, and nothing crashes."""
    k = Kernel()
    s = KernelSymbolizer(k)
    stable = k.load_module(prebuilt_path("pm_exporter"))
    probe = [int(a) for b, size in stable.regions().values() for a in range(b, b + size, 5)]
    want = [_as_tuple(_slow(s, a)) for a in probe]
    stop = threading.Event()
    errors: list[str] = []
    images = [prebuilt_path(n).read_bytes() for n in ("pm_hello", "pm_weak")]

    def writer() -> None:
        while not stop.is_set():
            for image in images:
                mod = k.load_module(image)
                k.delete_module(mod.name)

    def reader() -> None:
        lo = min(b for b, _ in stable.regions().values())
        for _ in range(30):
            if [_as_tuple(s.symbolize(a)) for a in probe] != want:
                errors.append("stable module answered wrong")
            for a in range(lo, lo + (1 << 20), 4096):
                x = s.symbolize(a)
                if x is not None:
                    _ = x.name

    w = threading.Thread(target=writer)
    readers = [threading.Thread(target=reader) for _ in range(2)]
    for t in [w, *readers]:
        t.start()
    for t in readers:
        t.join()
    stop.set()
    w.join()
    assert errors == []


def test_modules_appearing_after_creation_are_found():
    s = Symbolizer(HAND)
    assert s.symbolize(0x50010) is None
    s.add_module(_module("late", 0x50000, [(0x50000, "t", "late1")]))
    assert _full(s.symbolize(0x50010)) == ("late1", 0x10, 0x1000, "late", None, False)
