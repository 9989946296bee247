"""The symbolizer benchmark's inputs and peers: the symbol tables it reads
(``/proc/kallsyms`` plus the sample modules at distinct bases), and the
lookups it compares pymod with (drgn's ``SymbolIndex``, ``bisect``,
``numpy.searchsorted``), each checked against pymod's answers first."""

from __future__ import annotations

import bisect
import time
from collections import deque
from dataclasses import replace
from pathlib import Path

import numpy as np

from bench.timing import best_time
from pymod import Kernel
from pymod.samples import SAMPLES, prebuilt_path
from pymod.symbolize import Symbolizer
from pymod.symbolize.follow import KernelSymbolizer
from pymod.symbolize.model import CoreMap, Maps, ModuleMap, SymbolTable
from pymod.symbolize.readers import read_kallsyms

MODULE_STRIDE = 0x100000          # distance between copies of the sample modules


# ------------------------------------------------------------------ data
def ingest(path: str, repeat: int) -> tuple[Maps, dict[str, float]]:
    """The file read, the parse and the build, each timed alone (ms), and
    ``Symbolizer.from_kallsyms(path)`` end to end."""
    data = Path(path).read_bytes()
    maps = read_kallsyms(data)
    ms = {"read_ms": best_time(lambda: Path(path).read_bytes(), repeat) * 1e3,
          "parse_ms": best_time(lambda: read_kallsyms(data), repeat) * 1e3,
          "build_ms": best_time(lambda: Symbolizer(maps), repeat) * 1e3,
          "total_ms": best_time(lambda: Symbolizer.from_kallsyms(path), repeat) * 1e3,
          "symbols": len(maps.core.symbols) if maps.core else 0,
          "bytes": len(data)}
    return maps, ms


def _shifted(m: ModuleMap, k: int) -> ModuleMap:
    d = k * MODULE_STRIDE
    t = m.symbols
    return replace(m, name="%s_%d" % (m.name, k),
                   regions=tuple((b + d, s) for b, s in m.regions),
                   text=(m.text[0] + d, m.text[1]),
                   init_text=(m.init_text[0] + d, m.init_text[1]) if m.init_text[1] else (0, 0),
                   symbols=SymbolTable(t.addrs + np.uint64(d), t.names, t.strtab, t.types))


def sample_modules(copies: int) -> tuple[ModuleMap, ...]:
    """The loadable sample modules, loaded once in a Kernel, repeated
    ``copies`` times at bases MODULE_STRIDE apart (names suffixed)."""
    k = Kernel()
    for s in SAMPLES:
        if s.loads:
            k.load_module(prebuilt_path(s.name))
    mods = KernelSymbolizer(k).maps.modules
    return tuple(_shifted(m, i) for i in range(copies) for m in mods)


class Universe:
    """Every symbol pymod answers with at its own address: its start, size,
    name; the distinct starts for random addresses and for bisect."""

    def __init__(self, sym: Symbolizer, maps: Maps) -> None:
        tables = ([maps.core.symbols] if maps.core else []) + [m.symbols for m in maps.modules]
        self.all_names: list[str] = []
        addrs = []
        for t in tables:
            addrs.append(t.addrs)
            self.all_names += [t.name(i) for i in range(len(t))]
        a = np.concatenate(addrs)
        r = sym.symbolize_many(a)
        keep = (r.reason == 0) & (r.offset == 0)
        self.sym_addrs, self.sym_sizes = a[keep], r.size[keep]
        self.sym_names = [n for n, k in zip(self.all_names, keep.tolist(), strict=True) if k]
        self.starts, first = np.unique(self.sym_addrs, return_index=True)
        self.sizes = self.sym_sizes[first]
        res = sym.symbolize_many(self.starts)
        self.names = [n or "" for n in res.names()]
        self.sym = sym

    def random(self, n: int, seed: int) -> np.ndarray:
        """``n`` addresses, each in a uniformly chosen symbol at a uniform offset
        (its start where the symbol runs past its owner's range, e.g. etext)."""
        rng = np.random.default_rng(seed)
        i = rng.integers(0, len(self.starts), n)
        off = (rng.random(n) * self.sizes[i].astype(np.float64)).astype(np.uint64)
        a = self.starts[i] + np.minimum(off, self.sizes[i] - np.uint64(1))
        return np.where(self.sym.symbolize_many(a).reason == 0, a, self.starts[i])


def subsample(maps: Maps, n: int, seed: int) -> Maps:
    """vmlinux's table cut to ``n`` symbols (a random subset, order kept)."""
    assert maps.core is not None
    t = maps.core.symbols
    idx = np.sort(np.random.default_rng(seed).choice(len(t), min(n, len(t)), replace=False))
    types = bytes(np.frombuffer(t.types, dtype=np.uint8)[idx])
    core = CoreMap(SymbolTable(t.addrs[idx], t.names[idx], t.strtab, types), maps.core.stext,
                   maps.core.etext, maps.core.sinittext, maps.core.einittext, maps.core.end)
    return Maps(core, ())


# ------------------------------------------------------------------ peers
class Drgn:
    """drgn's SymbolIndex over the same symbols (every alias, pymod's size)."""

    def __init__(self, u: Universe) -> None:
        import drgn

        t0 = time.perf_counter()
        syms = [drgn.Symbol(n, int(a), int(s), drgn.SymbolBinding.GLOBAL, drgn.SymbolKind.FUNC)
                for n, a, s in zip(u.sym_names, u.sym_addrs.tolist(), u.sym_sizes.tolist(),
                                   strict=True)]
        self.prog = drgn.Program()
        self.prog.register_symbol_finder("pymod-bench", drgn.SymbolIndex(syms), enable_index=0)
        self.build_ms = (time.perf_counter() - t0) * 1e3
        self.version = drgn.__version__

    def find(self, a: int) -> tuple[int, int]:
        s = self.prog.symbol(a)
        return s.address, s.size

    def loop(self, addrs: list[int]) -> None:
        deque(map(self.prog.symbol, addrs), maxlen=0)   # each answer dropped, as in a loop


class Bisect:
    """A plain Python bisect over the distinct starts."""

    def __init__(self, u: Universe) -> None:
        self.starts, self.sizes, self.names = u.starts.tolist(), u.sizes.tolist(), u.names

    def find(self, a: int) -> tuple[str, int, int] | None:
        i = bisect.bisect_right(self.starts, a) - 1
        if i >= 0 and a - self.starts[i] < self.sizes[i]:
            return self.names[i], a - self.starts[i], self.sizes[i]
        return None

    def loop(self, addrs: list[int]) -> None:
        deque(map(self.find, addrs), maxlen=0)


def searchsorted(u: Universe, addrs: np.ndarray) -> np.ndarray:  # the index of each's start
    return np.searchsorted(u.starts, addrs, side="right") - 1


def check(sym: Symbolizer, u: Universe, drgn: Drgn | None, addrs: np.ndarray) -> None:
    """Every peer agrees with pymod (start and size; aliases may differ in name)."""
    r = sym.symbolize_many(addrs)
    assert (r.reason == 0).all()
    start = addrs - r.offset
    b = Bisect(u)
    for i, a in enumerate(addrs.tolist()):
        want = (int(start[i]), int(r.size[i]))
        got = b.find(a)
        assert got is not None and (a - got[1], got[2]) == want, (hex(a), got, want)
        if drgn is not None:
            assert drgn.find(a) == want, (hex(a), drgn.find(a), want)
    assert (u.starts[searchsorted(u, addrs)] == start).all()
