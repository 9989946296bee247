"""The competitors of the lookup benchmark, built over the same regions.

Every competitor answers the same question for the same addresses: which
module owns this address (-1 / None when none).  Builders return callables
so the timing code treats them alike.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any

import numpy as np

from pymod._lookfast import Probe
from pymod.lookup import REGION_KINDS, ModTree

AREA = 0xFFFFFFFFC0000000
# Page-rounded region sizes of a typical small module, in mod_mem_type order.
SIZES = (0x5000, 0x2000, 0x3000, 0x1000, 0x1000, 0x1000, 0x1000)
GAP = 0x1000


@dataclass
class Regions:
    n_modules: int
    bases: np.ndarray      # sorted region bases (uint64)
    sizes: np.ndarray      # matching sizes
    owners: np.ndarray     # matching module ids (int64)
    per_module: list[dict[str, tuple[int, int]]]

    @property
    def lo(self) -> int:
        return int(self.bases[0])

    @property
    def hi(self) -> int:
        return int(self.bases[-1] + self.sizes[-1])


def make_regions(n_modules: int) -> Regions:
    per_module, rows = [], []
    addr = AREA
    for m in range(n_modules):
        regs = {}
        for kind, size in zip(REGION_KINDS, SIZES, strict=True):
            regs[kind] = (addr, size)
            rows.append((addr, size, m))
            addr += size + GAP
        per_module.append(regs)
    arr = np.array(rows, dtype=np.uint64)
    return Regions(n_modules, arr[:, 0].copy(), arr[:, 1].copy(),
                   arr[:, 2].astype(np.int64), per_module)


def random_addresses(r: Regions, count: int, seed: int = 0) -> np.ndarray:
    """Uniform over the regions' span plus 5% either side: mostly hits, some
    gaps, some outside the bounds; unsorted."""
    rng = np.random.default_rng(seed)
    span = r.hi - r.lo
    lo = max(0, r.lo - span // 20)
    return rng.integers(lo, r.hi + span // 20, count, dtype=np.uint64)


# Update benchmarks: module slot s owns [UPDATE_AREA + s * UPDATE_SLOT, +UPDATE_SLOT),
# laid out as make_regions lays out a module; room for far more than 10**6 slots.
UPDATE_AREA = 0xFFFF_8000_0000_0000
UPDATE_SLOT = 0x20000


def slot_regions(slot: int) -> dict[str, tuple[int, int]]:
    """The seven regions of a module in address slot ``slot``."""
    regs, addr = {}, UPDATE_AREA + slot * UPDATE_SLOT
    for kind, size in zip(REGION_KINDS, SIZES, strict=True):
        regs[kind] = (addr, size)
        addr += size + GAP
    return regs


def build_modtree(r: Regions, strategy: str) -> ModTree:
    t = ModTree(strategy)
    for m, regs in enumerate(r.per_module):
        t.insert(m, regs)
    return t


class NoopTree(Probe):
    """The cheapest extension call on ``ModTree.find``'s path: a Python
    subclass of a C type (with ModTree's slots) whose ``find`` tests its
    address exactly as ModTree's does, then returns None without a lookup.
    ``ModTree.find`` / ``NoopTree.find`` is what the lookup itself costs."""

    __slots__ = ModTree.__slots__


class BisectMap:
    """Sorted Python lists + bisect: the obvious pure-Python baseline."""

    def __init__(self, r: Regions) -> None:
        self.bases = [int(b) for b in r.bases]
        self.sizes = [int(s) for s in r.sizes]
        self.owners = [int(o) for o in r.owners]

    def find(self, addr: int) -> int | None:
        i = bisect.bisect_right(self.bases, addr) - 1
        if i >= 0 and addr - self.bases[i] < self.sizes[i]:
            return self.owners[i]
        return None


def searchsorted_many(r: Regions, addrs: np.ndarray) -> np.ndarray:
    """numpy.searchsorted plus the owner check, vectorised."""
    idx = np.searchsorted(r.bases, addrs, side="right").astype(np.int64) - 1
    safe = np.maximum(idx, 0)
    hit = (idx >= 0) & ((addrs - r.bases[safe]) < r.sizes[safe])
    return np.where(hit, r.owners[safe], -1)


def build_intervaltree(r: Regions) -> Any:
    from intervaltree import IntervalTree

    return IntervalTree.from_tuples(
        (int(b), int(b + s), int(o)) for b, s, o in zip(r.bases, r.sizes, r.owners, strict=True))


def intervaltree_find(it: Any, addr: int) -> int | None:
    hits = it[addr]
    return next(iter(hits)).data if hits else None
