"""fork() while other threads write to a symbolizer: the child gets it in a
state between two writes, its locks free, and goes on symbolizing and
adding modules.

Before: 30 of 30 children hung on ``Symbolizer._lock`` (a Python lock no
fork hook knew), and with the Python locks out of the way 22 of 30 hung in
the C core, on a symmap's writer lock (not in the ``pthread_atfork``
handlers).  Children that hang are killed after a timeout and fail the test.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

import numpy as np
import pytest

from pymod import Kernel, ModuleLoadError, Symbolizer
from pymod.samples import prebuilt_path
from pymod.symbolize.core import FOUND, SymMap
from pymod.symbolize.follow import KernelSymbolizer
from pymod.symbolize.model import ModuleMap
from tests.hostile.test_fork import fork_children
from tests.symbolize.support import core, maps, table

pytestmark = [pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()"),
              pytest.mark.slow]

# Big enough that a writer spends real time inside each call.
BIG = table(*[(0x100000 + 16 * i, "t", "f%d" % i) for i in range(4000)])
CORE = core((0x1000, "T", "a"), (0x1040, "T", "b"))


def _module(name: str, base: int, symbols=BIG) -> ModuleMap:
    return ModuleMap(name, ((base, 0x100000),), (base, 0x100000), (0, 0), symbols)


def _child_uses(s: Symbolizer) -> None:
    assert str(s.symbolize(0x1000)) == "a+0x0/0x40"
    for m in s.maps.modules:                      # every module there is whole
        if m.symbols is BIG:
            assert str(s.symbolize(m.regions[0][0])) == "f0+0x0/0x10 [%s]" % m.name
    s.add_module(_module("child", 0x9000000, table((0x9000000, "t", "c"))))
    assert str(s.symbolize(0x9000010)) == "c+0x10/0x100000 [child]"
    assert s.symbolize_many([0x9000010]).consistent
    s.remove_module("child")


def test_fork_while_a_symbolizer_is_written():
    s = Symbolizer(maps(CORE))

    def writer(stop: threading.Event) -> None:
        i = 0
        while not stop.is_set():
            s.add_module(_module("m%d" % i, 0x100000))
            s.replace_module(_module("m%d" % i, 0x100000))
            s.remove_module("m%d" % i)
            i += 1

    def batches(stop: threading.Event) -> None:     # holds the tables' lock briefly
        addrs = np.arange(0x100000, 0x200000, 64, dtype=np.uint64)
        while not stop.is_set():
            s.symbolize_many(addrs)

    fork_children([writer, batches], lambda: _child_uses(s))


def test_fork_while_the_c_core_is_written():
    """No Python lock at all: only the C core's fork handlers keep it whole."""
    c = SymMap()
    addrs = BIG.addrs

    def writer(k: int) -> Callable[[threading.Event], None]:
        def run(stop: threading.Event) -> None:
            i = k
            base = np.uint64(k * 0x1000000)
            while not stop.is_set():
                c.add(i, {"text": (int(base) + 0x100000, 0x100000)}, i, addrs + base)
                c.replace(i, i, addrs + base, False)
                c.remove(i)
                i += 2
        return run

    def reader(stop: threading.Event) -> None:      # long read sections: long grace periods
        big = np.random.default_rng(1).integers(0x100000, 0x3200000, 1 << 18, dtype=np.uint64)
        while not stop.is_set():
            c.lookup(big)

    def child() -> None:
        c.add(10**9, {"text": (0x9000000, 0x1000)}, 5, np.array([0x9000000], np.uint64))
        assert c.lookup_one(0x9000010)[0] == FOUND
        c.remove(10**9)
        assert c.generation % 2 == 0

    fork_children([writer(1), writer(2), reader], child)


def test_fork_while_a_kernel_loads_under_its_symbolizer():
    """A load calls the symbolizer's writers under the kernel's mutex while
    another thread writes to the same symbolizer: fork takes the kernel's
    mutex first, then the symbolizer's locks (pymod.forklocks)."""
    k = Kernel()
    k.load_module(prebuilt_path("pm_exporter"))
    s = KernelSymbolizer(k)
    s.set_core(CORE)
    images = [prebuilt_path(n).read_bytes() for n in ("pm_hello", "pm_importer")]

    def loads(stop: threading.Event) -> None:
        while not stop.is_set():
            for image in images:
                try:
                    k.load_module(image)
                except ModuleLoadError:
                    pass
            for name in ("pm_importer", "pm_hello"):
                try:
                    k.delete_module(name)
                except ModuleLoadError:
                    pass

    def writer(stop: threading.Event) -> None:
        while not stop.is_set():
            s.add_module(_module("synthetic", 0x100000))
            s.remove_module("synthetic")

    def child() -> None:
        _child_uses(s)
        k.load_module(images[0]) if k.module("pm_hello") is None else None
        text = k.module("pm_hello").regions()["text"][0]
        assert s.symbolize(text).module == "pm_hello"
        k.delete_module("pm_hello")

    fork_children([loads, writer], child)
