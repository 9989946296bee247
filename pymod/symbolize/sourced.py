"""Symbols with their source lines: a symbolizer's answers mapped to debug-file
addresses and asked of each owner's :class:`~pymod.symbolize.lines.DebugFile`.

An answer ``name+offset`` of an owner (vmlinux or a module) becomes the
debug-file address of ``name`` plus the offset: the same answer whatever
KASLR or the module's load address was, as ``scripts/decode_stacktrace.sh``
computes it.  When the owner's table *is* the debug file's (a symbolizer
built from debug info), the symbol's own address is used, so symbols that
share a name resolve exactly.  Each debug file is asked once per batch.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pymod.symbolize.lines import DebugFile, Frame, FrameArrays, FrameTable
from pymod.symbolize.model import SymbolTable

__all__ = ["Debugs", "frames_at", "result_frames", "name_index", "containing"]

Debugs = Mapping[str | None, DebugFile]


def frames_at(debugs: Debugs, owners: Sequence[str | None], group: NDArray[np.int32],
              addrs: NDArray[np.uint64], valid: NDArray[np.bool_]) -> FrameArrays:
    """Frames of each row's debug-file address ``addrs[i]`` in the debug file
    of ``owners[group[i]]`` (a module name, None for vmlinux); rows not
    ``valid`` get none.  One native lookup per debug file."""
    n = len(group)
    counts = np.zeros(n, np.uint32)
    offsets = np.zeros(n, np.uint64)
    tables: list[FrameTable] = []
    base = 0
    for g, key in enumerate(owners):
        debug = debugs.get(key)
        rows = np.flatnonzero(valid & (group == g))
        if debug is None or not rows.size:
            continue
        got = debug.lines.frames_many(np.ascontiguousarray(addrs[rows], dtype=np.uint64))
        counts[rows] = got.counts
        offsets[rows] = got.offsets + np.uint64(base)
        tables.append(got.table)
        base += len(got.table)
    return FrameArrays(counts, offsets, _concat(tables))


def _concat(tables: list[FrameTable]) -> FrameTable:
    if len(tables) == 1:
        return tables[0]
    if not tables:
        return FrameTable.of(())
    return FrameTable(np.concatenate([np.asarray(t.function, dtype=object) for t in tables]),
                      np.concatenate([np.asarray(t.file, dtype=object) for t in tables]),
                      np.concatenate([t.line for t in tables]),
                      np.concatenate([t.column for t in tables]),
                      np.concatenate([t.inlined for t in tables]),
                      np.concatenate([t.discriminator if t.discriminator is not None
                                      else np.zeros(len(t), np.uint32) for t in tables]))


class DebugMap(Mapping[str | None, DebugFile]):
    """A symbolizer's debug files: given one by one, or found on demand in
    a :class:`~pymod.symbolize.debugfiles.DebugFiles` (the first that has
    the owner wins; one given for an owner overrides them)."""

    def __init__(self) -> None:
        self.given: dict[str | None, DebugFile] = {}
        self.found: list[Mapping[str | None, DebugFile]] = []

    def __getitem__(self, owner: str | None) -> DebugFile:
        got = self.given.get(owner)
        if got is not None:
            return got
        for f in self.found:
            if owner in f:
                return f[owner]
        raise KeyError(owner)

    def __contains__(self, owner: object) -> bool:
        return owner in self.given or any(owner in f for f in self.found)

    def __iter__(self) -> Any:
        seen = dict.fromkeys(self.given)
        for f in self.found:
            seen.update(dict.fromkeys(f))
        return iter(seen)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def result_frames(result: Any, debugs: Debugs) -> tuple[FrameArrays, frozenset[str | None]]:
    """The frames of every found address of a ``SymbolizeResult``: the
    address looked up (``addr - 1`` for a backtrace batch) in its owner's
    debug file; and the owners that had one."""
    n = len(result.addrs)
    found = result.reason == 0
    group = np.full(n, -1, np.int32)
    owners: list[str | None] = []
    addrs = np.zeros(n, np.uint64)
    valid = np.zeros(n, np.bool_)
    tags = result.table
    sourced = set()
    for tag in np.unique(tags[found]).tolist():
        owner = result.owners.get(tag)
        debug = debugs.get(owner.module) if owner is not None else None
        if debug is None:
            continue
        sourced.add(owner.module)
        rows = np.flatnonzero(found & (tags == tag))
        syms = result.symbol[rows]
        base, ok = _bases(owner.symbols, debug, syms)
        addrs[rows] = base + result.offset[rows] - np.uint64(1 if result.backtrace else 0)
        valid[rows] = ok
        group[rows] = len(owners)
        owners.append(owner.module)
    return frames_at(debugs, owners, group, addrs, valid), frozenset(sourced)


def _bases(table: SymbolTable, debug: DebugFile,
           syms: NDArray[np.int64]) -> tuple[NDArray[np.uint64], NDArray[np.bool_]]:
    """Debug-file addresses of the symbols ``syms`` of ``table``."""
    if debug.symbols is None or debug.symbols is table:
        return table.addrs[syms], np.ones(len(syms), np.bool_)
    uniq, inverse = np.unique(syms, return_inverse=True)
    got = debug.addresses_of([table.name(int(s)) for s in uniq.tolist()])
    base = np.array([0 if a is None else a for a in got], dtype=np.uint64)[inverse]
    ok = np.array([a is not None for a in got], dtype=np.bool_)[inverse]
    return base, ok


def name_index(table: SymbolTable) -> dict[str, int]:
    """name -> index in ``table``: a ``t``/``T`` symbol of that name first, as
    ``nm | awk`` in decode_stacktrace.sh picks it (the lowest address when
    several share it), else the first of any type."""
    text: dict[str, int] = {}
    other: dict[str, int] = {}
    types = table.types
    for i in range(len(table)):
        (text if types[i] in b"tT" else other).setdefault(table.name(i), i)
    for name, i in other.items():
        text.setdefault(name, i)
    return text


def containing(table: SymbolTable, addr: int) -> tuple[int, int] | None:
    """``(index, size)`` of the symbol holding ``addr`` in ``table`` (the
    first of equal addresses; the size runs to the next higher address,
    0 for the last)."""
    a = table.addrs
    k = int(np.searchsorted(a, np.uint64(addr), side="right")) - 1
    if k < 0:
        return None
    first = int(np.searchsorted(a, a[k], side="left"))
    nxt = int(np.searchsorted(a, a[k], side="right"))
    size = int(a[nxt]) - int(a[k]) if nxt < len(a) else 0
    return first, size


def one_chain(debug: DebugFile, addr: int) -> list[Frame]:
    """The frames of one debug-file address."""
    got = debug.lines.frames_many(np.array([addr], dtype=np.uint64))
    return got.chain(0)


def by_name(symbolizer: Any, name: str, offset: int, module: str | None) -> Any:
    """``Symbolizer.symbolize_name``: the owner's own table first (a placed
    answer, lines added when its debug file is known), else its debug file."""
    if offset < 0:
        from pymod.errors import InvalidArgument

        raise InvalidArgument("offset must be >= 0")
    with symbolizer._lock:
        placed = symbolizer._core if module is None else symbolizer._modules.get(module)
        tag = placed[0] if module is None and placed else placed[1] if placed else None
        owner = symbolizer._tables.owners.get(tag) if tag is not None else None
        debug = symbolizer._debug.get(module)
    if owner is not None and tag is not None:
        i = _names_of(symbolizer, tag, owner).get(name)
        if i is not None:
            return symbolizer.symbolize(int(owner.symbols.addrs[i]) + offset)
    if debug is None or debug.symbols is None:
        return None
    return _from_debug(debug, name, offset, module)


def _names_of(symbolizer: Any, tag: int, owner: Any) -> dict[str, int]:
    """The owner's name index, built once per table (cached by tag).  The
    cache holds the current tables' only: a symbolizer that follows a
    kernel's loads and unloads would otherwise keep every table's."""
    cache: dict[int, dict[str, int]] = symbolizer._by_name
    got = cache.get(tag)
    if got is None:
        got = name_index(owner.symbols)
        with symbolizer._lock:
            live = {t for _, t, _ in symbolizer._modules.values()}
            if symbolizer._core is not None:
                live.add(symbolizer._core[0])
            for old in [t for t in cache if t not in live]:
                del cache[old]
            if tag in live:
                cache[tag] = got
    return got


def _from_debug(debug: DebugFile, name: str, offset: int, module: str | None) -> Any:
    from pymod._symfast import Symbol

    base = debug.address_of(name)
    if base is None or debug.symbols is None:
        return None
    at = base + offset
    hit = containing(debug.symbols, at)
    if hit is None:
        return None
    i, size = hit
    start = int(debug.symbols.addrs[i])
    return Symbol(debug.symbols.name(i), at - start, size, module, debug.build_id, False,
                  one_chain(debug, at))


class SourcedSymbolize:
    """``symbolize`` once debug info is given: the one-address answer with
    its source frames added."""

    sourced = True

    def __init__(self, plain: Any, owner: Any) -> None:
        self.plain = plain
        self.owner = weakref.ref(owner)     # no cycle through the instance's dict

    def __call__(self, addr: object, backtrace: bool = False) -> Any:
        sym: Any = self.plain(addr, backtrace)
        owner = self.owner()
        if sym is None or owner is None or sym.module not in owner._debug:
            return sym
        return owner.symbolize_many(np.array([addr], dtype=np.uint64), backtrace,
                                   lines=True)[0]
