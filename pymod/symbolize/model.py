"""What a symbolizer is built from: symbol tables and where each one applies.

Every source (a :class:`~pymod.loader.kernel.Kernel`, ``/proc/kallsyms``,
``System.map``, ``.ko`` files placed at captured bases) is turned into these
plain, picklable values; the C core (:mod:`pymod.symbolize.core`) takes them
as arrays and one string table, never as per-symbol Python objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["SymbolTable", "ModuleMap", "CoreMap", "Maps"]


@dataclass(frozen=True)
class SymbolTable:
    """The symbols of vmlinux or of one module that lookups may answer with.

    Only eligible symbols are here (the source's reader applied the kernel's
    rules: no undefined, empty-named or mapping symbols; for a module, core
    symbols only once its init is done).  ``addrs`` is sorted ascending; for
    equal addresses the source's order is kept, and the first one wins a
    lookup (the kernel's tie rule).

    :addrs: uint64 address of each symbol, sorted
    :names: uint32 offset of each name in ``strtab``
    :strtab: the names, each NUL-terminated
    :types: one nm-style type letter per symbol (``t``, ``T``, ``d`` ...)
    """

    addrs: NDArray[np.uint64]
    names: NDArray[np.uint32]
    strtab: bytes
    types: bytes

    def __len__(self) -> int:
        return len(self.addrs)

    def name(self, i: int) -> str:
        start = int(self.names[i])
        end = self.strtab.find(b"\0", start)
        return self.strtab[start:end].decode("utf-8", "surrogateescape")

    @staticmethod
    def build(addrs: Any, names: list[str], types: str | bytes) -> SymbolTable:
        """From parallel sequences in any order (sorted here, stably)."""
        a = np.asarray(addrs, dtype=np.uint64)
        order = np.argsort(a, kind="stable")
        encoded = [n.encode("utf-8", "surrogateescape") + b"\0" for n in names]
        offsets = np.zeros(len(encoded), dtype=np.uint64)
        if encoded:
            offsets[1:] = np.cumsum([len(e) for e in encoded[:-1]], dtype=np.uint64)
        letters = types.encode("ascii") if isinstance(types, str) else bytes(types)
        return SymbolTable(addrs=a[order], names=offsets[order].astype(np.uint32),
                           strtab=b"".join(encoded),
                           types=bytes(letters[i] for i in order.tolist()))


@dataclass(frozen=True)
class ModuleMap:
    """One module: where it lives and the symbols that name its addresses.

    The kernel (``find_kallsyms_symbol``) answers for any address inside any
    of the module's regions; the size of the last symbol runs to the end of
    the text region (the init text region for an address inside init memory).

    :name: the module name as ``[module]`` shows it
    :regions: ``(base, size)`` of every non-empty region (core and, while the
        module initialises, init)
    :text: ``(base, size)`` of the core text region
    :init_text: ``(base, size)`` of the init text region, ``(0, 0)`` after init
    :symbols: its :class:`SymbolTable`
    :build_id: the ``.note.gnu.build-id`` descriptor, or None
    """

    name: str
    regions: tuple[tuple[int, int], ...]
    text: tuple[int, int]
    init_text: tuple[int, int]
    symbols: SymbolTable
    build_id: bytes | None = None


@dataclass(frozen=True)
class CoreMap:
    """vmlinux (``kallsyms_lookup``): an address is its when it lies in
    ``[stext, etext)`` or ``[sinittext, einittext)``, or, when data symbols
    are kept (KALLSYMS_ALL; ``end`` not None), in ``[stext, end)``.  The last
    symbol of a range runs to that range's end.  A bound the source did not
    give is 0."""

    symbols: SymbolTable
    stext: int
    etext: int
    sinittext: int = 0
    einittext: int = 0
    end: int | None = None


@dataclass(frozen=True)
class Maps:
    """Everything one symbolizer answers from."""

    core: CoreMap | None
    modules: tuple[ModuleMap, ...]
