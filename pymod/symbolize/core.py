"""The binding of the C symbolizer core (``csrc/symbols/``).

A :class:`SymMap` holds sorted address arrays in C, one per table, each
tagged with a caller-chosen integer; :meth:`SymMap.lookup` answers a whole
batch in one C call with the GIL released.  Names stay in Python (the tags
say which table an index refers to).  Arguments are checked here, before C.
"""

from __future__ import annotations

import threading
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from pymod._lookup_cffi import ffi, lib
from pymod.lookup import REGION_KINDS, as_addresses
from pymod.lookup import _raise_for as _check  # the lookup core's one status table

__all__ = ["SymMap", "Lookup", "FOUND", "UNKNOWN", "NO_SYMBOLS", "NO_SYMBOL", "OWNER_CORE",
           "OWNER_NONE"]

FOUND: int = lib.PM_SYM_FOUND
UNKNOWN: int = lib.PM_SYM_UNKNOWN
NO_SYMBOLS: int = lib.PM_SYM_NO_SYMBOLS
NO_SYMBOL: int = lib.PM_SYM_NO_SYMBOL
OWNER_CORE: int = lib.PM_SYM_OWNER_CORE
OWNER_NONE: int = lib.PM_SYM_OWNER_NONE

_KIND_INDEX = {k: i for i, k in enumerate(REGION_KINDS)}


def _u64(values: Any) -> NDArray[np.uint64]:
    return np.ascontiguousarray(values, dtype=np.uint64)


class Lookup(NamedTuple):
    """One batch's raw answer, every array in input order.

    :owner: module id, ``OWNER_CORE`` (vmlinux) or ``OWNER_NONE``
    :table: tag of the table that answered, -1 when none did
    :sym: index of the symbol in that table, -1 when none
    :offset: address minus the symbol's (plus one for ``%pB``)
    :size: the symbol's size
    :reason: ``FOUND``, ``UNKNOWN``, ``NO_SYMBOLS`` or ``NO_SYMBOL``
    :generations: the map's generation before and after the batch
    """

    owner: NDArray[np.int64]
    table: NDArray[np.int64]
    sym: NDArray[np.int64]
    offset: NDArray[np.uint64]
    size: NDArray[np.uint64]
    reason: NDArray[np.uint8]
    generations: tuple[int, int]


class _Scratch(threading.local):
    """A per-thread answer struct for one-address lookups (no numpy arrays)."""

    def __init__(self) -> None:
        self.answer = ffi.new("struct pm_sym_answer *")


class SymMap:
    """A C symmap: vmlinux's table, modules with their regions and tables."""

    def __init__(self) -> None:
        sm = lib.pm_symmap_new()
        if sm == ffi.NULL:
            raise MemoryError("pm_symmap_new")
        self._sm = ffi.gc(sm, lib.pm_symmap_free)
        self._scratch = _Scratch()

    def lookup_one(self, addr: int, backtrace: bool = False) -> tuple[int, int, int, int, int]:
        """One address (a checked int): ``(reason, table, sym, offset, size)``."""
        out = self._scratch.answer
        if lib.pm_symmap_lookup1(self._sm, addr, backtrace, out) != FOUND:
            return out.reason, -1, -1, 0, 0
        return FOUND, out.table, out.sym, out.offset, out.size

    def fast_symbolize(self, names: Any, slow: Any) -> Any:
        """The C one-address path (``pymod._symfast``) over this map: a
        callable ``(addr, backtrace=False)`` answering as ``slow`` does, which
        it hands anything unusual to.  ``names`` is the tables' C registry
        (``pymod._symfast.Names``); the C path holds its own reference
        to the map, taken through the map's handle (never an address)."""
        from pymod._symfast import make_fast

        return make_fast(int(lib.pm_symmap_handle(self._sm)), names, slow).symbolize

    @property
    def generation(self) -> int:
        return int(lib.pm_symmap_generation(self._sm))

    def set_core(self, tag: int, addrs: NDArray[np.uint64], bounds: tuple[int, int, int, int],
                 end: int | None) -> None:
        """vmlinux's sorted addresses; bounds = stext, etext, sinittext, einittext."""
        a = _u64(addrs)
        b = _u64([*bounds, end or 0])
        _check(lib.pm_symmap_set_core(self._sm, tag, ffi.from_buffer("uint64_t[]", a), len(a),
                                      ffi.from_buffer("uint64_t[]", b), end is not None),
               "vmlinux symbols")

    def add(self, mod_id: int, regions: dict[str, tuple[int, int]], tag: int,
            addrs: NDArray[np.uint64]) -> None:
        """Module ``mod_id`` at ``regions`` (kind -> (base, size)) with its table."""
        base = np.zeros(len(REGION_KINDS), dtype=np.uint64)
        size = np.zeros(len(REGION_KINDS), dtype=np.uint64)
        for kind, (b, s) in regions.items():
            base[_KIND_INDEX[kind]], size[_KIND_INDEX[kind]] = b, s
        a = _u64(addrs)
        conflict = ffi.new("int64_t *")
        rc = lib.pm_symmap_add(self._sm, mod_id, ffi.from_buffer("uint64_t[]", base),
                               ffi.from_buffer("uint64_t[]", size), tag,
                               ffi.from_buffer("uint64_t[]", a), len(a), conflict)
        _check(rc, "module %d" % mod_id, mod_id, int(conflict[0]))

    def replace(self, mod_id: int, tag: int, addrs: NDArray[np.uint64], drop_init: bool) -> None:
        a = _u64(addrs)
        _check(lib.pm_symmap_replace(self._sm, mod_id, tag, ffi.from_buffer("uint64_t[]", a),
                                     len(a), drop_init), "module %d" % mod_id)

    def remove(self, mod_id: int) -> None:
        """Returns once no lookup can read the module's table any more."""
        _check(lib.pm_symmap_remove(self._sm, mod_id), "module %d" % mod_id)

    def lookup(self, addrs: object, backtrace: bool = False) -> Lookup:
        """Every address of ``addrs`` in one C call, with the GIL released."""
        a = as_addresses(addrs)
        n = a.shape[0]
        out = Lookup(np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.int64),
                     np.empty(n, np.uint64), np.empty(n, np.uint64), np.empty(n, np.uint8),
                     (0, 0))
        gens = ffi.new("uint64_t[2]")

        def buf(kind: str, arr: NDArray[Any]) -> Any:
            return ffi.from_buffer(kind, arr, require_writable=True)

        lib.pm_symmap_lookup(self._sm, ffi.from_buffer("uint64_t[]", a), n, bool(backtrace),
                             buf("int64_t[]", out.owner), buf("int64_t[]", out.table),
                             buf("int64_t[]", out.sym), buf("uint64_t[]", out.offset),
                             buf("uint64_t[]", out.size), buf("uint8_t[]", out.reason), gens)
        return out._replace(generations=(int(gens[0]), int(gens[1])))
