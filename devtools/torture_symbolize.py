"""The torture run's symbolizer half: writers that change a Symbolizer
beside the kernel's loads, readers that check every answer.

The symbolizer under test is a ``KernelSymbolizer``: the kernel's loads and
unloads reach it through its hooks, and :func:`synth_writer` adds, replaces
and removes modules of its own at the top of the module area, where the
kernel never places one.  Invariants:

* a stable module's address always gets the answer it had before the run,
  from ``symbolize`` and from ``symbolize_many``;
* an address of a synthetic module gets nothing, or one version's answer
  whole (never a name from one version with an offset from the other);
* any other answer names a module that was once placed at that address;
* under ``module_mutex``, a LIVE module's text base names that module.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pymod.arch.x86_64 import MODULES_END
from pymod.symbolize import Symbolizer
from pymod.symbolize.model import ModuleMap, SymbolTable

SYNTH = 2                   # synthetic modules, one writer thread each
SYNTH_SIZE = 0x1000
PROBES = (0x0, 0x3f, 0x40, 0x7ff, 0x800, SYNTH_SIZE - 1)

# Two versions of each synthetic module: different names, different splits.
_VERSIONS = (((0x0, "tsym_init"), (0x40, "tsym_core")),
             ((0x0, "tsym_head"), (0x800, "tsym_tail")))

Record = Callable[[str, str], None]
Count = Callable[[str, int], None]


def synth_base(i: int) -> int:
    return MODULES_END - (i + 1) * 0x100000


def synth_map(i: int, version: int) -> ModuleMap:
    base = synth_base(i)
    syms = _VERSIONS[version]
    table = SymbolTable.build([base + off for off, _ in syms], [n for _, n in syms],
                              "t" * len(syms))
    region = (base, SYNTH_SIZE)
    return ModuleMap("tsyn%d" % i, (region,), region, (0, 0), table)


def _expected(i: int, version: int, off: int) -> str:
    """``%pS`` of ``synth_base(i) + off`` in one version, from its layout."""
    starts = [s for s, _ in _VERSIONS[version]] + [SYNTH_SIZE]
    k = max(j for j in range(len(starts) - 1) if starts[j] <= off)
    return "%s+%#x/%#x [tsyn%d]" % (_VERSIONS[version][k][1], off - starts[k],
                                     starts[k + 1] - starts[k], i)


@dataclass(frozen=True)
class Expectations:
    """What every probed address may answer with."""

    stable: dict[int, str | None]          # address -> the one answer
    synth: dict[int, frozenset[str]]       # address -> either version's answer

    @staticmethod
    def build(sym: Symbolizer, stable_addrs: Sequence[int]) -> Expectations:
        stable = {a: _text(sym.symbolize(a)) for a in stable_addrs}
        synth = {synth_base(i) + off: frozenset(_expected(i, v, off) for v in (0, 1))
                 for i in range(SYNTH) for off in PROBES}
        return Expectations(stable, synth)


def _text(s: Any) -> str | None:
    return None if s is None else str(s)


def synth_writer(sym: Symbolizer, i: int, stop: float, count: Count, bad: Record) -> None:
    """Add, replace (twice) and remove synthetic module ``i`` until ``stop``."""
    maps = (synth_map(i, 0), synth_map(i, 1))
    while time.monotonic() < stop:
        try:
            sym.add_module(maps[0])
            sym.replace_module(maps[1])
            sym.replace_module(maps[0])
            sym.remove_module(maps[0].name)
            count("symbolizer_writes", 4)
        except Exception as e:  # noqa: BLE001 - any failure here is the bug we look for
            bad("synth-writer", "synthetic module %d: %r" % (i, e))
            return


def probe(sym: Symbolizer, exp: Expectations, randoms: Sequence[int],
          placed: Mapping[str, Collection[tuple[int, int]]], count: Count,
          bad: Record) -> None:
    """One round of reads: single lookups, then one batch over everything."""
    for addr, want in exp.stable.items():
        got = _text(sym.symbolize(addr))
        if got != want:
            bad("sym-stable", "symbolize(%#x) = %s, expected %s" % (addr, got, want))
    for addr, either in exp.synth.items():
        got = _text(sym.symbolize(addr))
        if got is not None and got not in either:
            bad("sym-torn", "symbolize(%#x) = %s, expected one of %s" % (addr, got, sorted(either)))
    addrs = list(exp.stable) + list(exp.synth) + list(randoms)
    res = sym.symbolize_many(np.array(addrs, dtype=np.uint64))
    for addr, s in zip(addrs, res, strict=True):
        _judge_batch(addr, _text(s), s, exp, placed, bad)
    count("symbolize_reads", 2 * len(addrs) - len(randoms))


def _judge_batch(addr: int, got: str | None, s: Any, exp: Expectations,
                 placed: Mapping[str, Collection[tuple[int, int]]], bad: Record) -> None:
    if addr in exp.stable:
        if got != exp.stable[addr]:
            bad("sym-many-stable", "symbolize_many(%#x) = %s, expected %s"
                % (addr, got, exp.stable[addr]))
    elif addr in exp.synth:
        if got is not None and got not in exp.synth[addr]:
            bad("sym-many-torn", "symbolize_many(%#x) = %s" % (addr, got))
    elif s is not None and not any(0 <= addr - b < n for b, n in placed.get(s.module, ())):
        bad("sym-misplaced", "symbolize_many(%#x) = %s, never placed there" % (addr, got))


def random_addrs(rng: random.Random, base: int, span: int, n: int = 32) -> list[int]:
    return [base + rng.randrange(span) for _ in range(n)]
