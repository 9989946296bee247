"""Which symbols a lookup may answer with, and the one table builder.

Three rule sets, each the kernel's:

* a module's symbols (``find_kallsyms_symbol``): every defined symbol with
  a name that is not a mapping symbol (``$...``, ``.L...``, ``L0...``);
* vmlinux's table (``scripts/kallsyms`` run on ``System.map``): absolute
  symbols dropped but for four, ``u`` and ``n`` symbols dropped, per-cpu
  symbols typed ``A``, and equal addresses ordered by the tool's rule
  (:func:`kallsyms_order`);
* ``/proc/kallsyms`` prints exactly the table vmlinux looks up in, so its
  core lines are all eligible, in file order.

:func:`make_table` turns parallel arrays into a
:class:`~pymod.symbolize.model.SymbolTable` with a compact string table,
without a Python object per symbol.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pymod.symbolize.model import SymbolTable

__all__ = ["is_mapping_symbol", "mapping_mask", "name_lengths", "make_table",
           "kallsyms_keeps", "kallsyms_order", "KEPT_ABSOLUTE"]

# scripts/kallsyms keeps these absolute symbols (ia64 and friends).
KEPT_ABSOLUTE = frozenset({"__kernel_syscall_via_break", "__kernel_syscall_via_epc",
                           "__kernel_sigtramp", "__gp"})


def is_mapping_symbol(name: str | bytes) -> bool:
    """``is_mapping_symbol``: ``$...``, ``.L...`` and ``L0...`` carry no meaning."""
    b = name.encode("utf-8", "surrogateescape") if isinstance(name, str) else name
    return b[:1] == b"$" or b[:2] == b".L" or b[:2] == b"L0"


def mapping_mask(strtab: bytes, offsets: NDArray[Any]) -> NDArray[np.bool_]:
    """:func:`is_mapping_symbol` of the name at each offset of ``strtab``."""
    buf = np.frombuffer(strtab, dtype=np.uint8)
    off = np.asarray(offsets, dtype=np.int64)
    n = len(buf)
    if n == 0:
        return np.zeros(off.shape, dtype=np.bool_)
    first = np.where(off < n, buf[np.minimum(off, n - 1)], 0)
    second = np.where(off + 1 < n, buf[np.minimum(off + 1, n - 1)], 0)
    dotl = (first == ord(".")) & (second == ord("L"))
    l0 = (first == ord("L")) & (second == ord("0"))
    mask: NDArray[np.bool_] = (first == ord("$")) | dotl | l0
    return mask


def name_lengths(strtab: bytes, offsets: NDArray[Any]) -> NDArray[np.int64]:
    """strlen() of the name at each offset; an offset past the table is an
    empty name."""
    buf = np.frombuffer(strtab, dtype=np.uint8)
    off = np.asarray(offsets, dtype=np.int64)
    nuls = np.flatnonzero(buf == 0)
    ends = np.full(off.shape, len(strtab), dtype=np.int64)
    if nuls.size:
        k = np.searchsorted(nuls, off)
        found = k < nuls.size
        ends[found] = nuls[k[found]]
    lengths: NDArray[np.int64] = np.maximum(ends - off, 0)
    return lengths


def _compact(buf: bytes, offsets: NDArray[np.int64],
             lengths: NDArray[np.int64]) -> tuple[bytes, NDArray[np.int64]]:
    """Each name ``buf[offsets[i]:offsets[i]+lengths[i]]`` copied, NUL-terminated."""
    n = len(offsets)
    if n == 0:
        return b"", np.zeros(0, dtype=np.int64)
    if n > 1 and (offsets[1:] > offsets[:-1] + lengths[:-1]).all() \
            and int(offsets[-1] + lengths[-1]) < len(buf):
        return _compact_ascending(buf, offsets, lengths)
    src = np.frombuffer(buf + b"\0", dtype=np.uint8)
    sizes = lengths + 1
    new = np.zeros(n, dtype=np.int64)
    np.cumsum(sizes[:-1], out=new[1:])
    start = np.where(lengths > 0, offsets, len(buf))
    gather = np.repeat(start - new, sizes) + np.arange(int(sizes.sum()), dtype=np.int64)
    out = src[np.minimum(gather, len(buf))]
    out[new + lengths] = 0
    return out.tobytes(), new


def _compact_ascending(buf: bytes, offsets: NDArray[np.int64],
                       lengths: NDArray[np.int64]) -> tuple[bytes, NDArray[np.int64]]:
    """:func:`_compact` for names in increasing, disjoint spans of ``buf``
    (a parsed text file): one mask over the buffer, no index arrays."""
    lo, hi = int(offsets[0]), int(offsets[-1] + lengths[-1] + 1)
    src = np.frombuffer(buf, dtype=np.uint8)[lo:hi]      # only the names' window
    sizes = lengths + 1
    gaps = np.diff(offsets, prepend=lo) - np.concatenate(([0], sizes[:-1]))
    runs = np.empty(2 * len(offsets), dtype=np.int64)
    runs[0::2], runs[1::2] = gaps, sizes
    inside = np.zeros(len(runs), dtype=np.bool_)
    inside[1::2] = True
    keep = np.repeat(inside, runs)
    out = src[keep]
    new = np.zeros(len(offsets), dtype=np.int64)
    np.cumsum(sizes[:-1], out=new[1:])
    out[new + lengths] = 0
    return out.tobytes(), new


def make_table(addrs: NDArray[Any], buf: bytes, offsets: NDArray[Any],
               lengths: NDArray[Any] | None, types: bytes | NDArray[np.uint8]) -> SymbolTable:
    """A :class:`SymbolTable` of the given symbols, in any order: sorted
    stably by address (so among equal addresses the given order stays and
    the first wins), names copied out of ``buf`` into one compact table.

    :addrs: address of each symbol
    :buf: the bytes the names are in
    :offsets: where each name starts in ``buf``
    :lengths: each name's length, or None to read up to the next NUL
    :types: one type letter per symbol
    """
    a = np.asarray(addrs, dtype=np.uint64)
    off = np.asarray(offsets, dtype=np.int64)
    ln = name_lengths(buf, off) if lengths is None else np.asarray(lengths, dtype=np.int64)
    letters = np.frombuffer(bytes(types), dtype=np.uint8) if isinstance(types, bytes) \
        else np.asarray(types, dtype=np.uint8)
    order = np.argsort(a, kind="stable")
    by_place = np.argsort(off, kind="stable")      # names copied in the order they lie
    strtab, new = _compact(buf, off[by_place], ln[by_place])
    where = np.empty(len(off), dtype=np.int64)
    where[by_place] = new
    return SymbolTable(addrs=a[order], names=where[order].astype(np.uint32), strtab=strtab,
                       types=letters[order].tobytes())


def kallsyms_keeps(name_of: Callable[[int], str], types: bytes) -> NDArray[np.bool_]:
    """``scripts/kallsyms``' read filter on ``System.map`` lines: ``u`` and
    ``n`` symbols go, and absolute ones but for :data:`KEPT_ABSOLUTE`
    (``name_of(i)`` is line i's name)."""
    t = np.frombuffer(types, dtype=np.uint8)
    keep: NDArray[np.bool_] = (t != ord("u")) & (t != ord("n"))
    for i in np.flatnonzero((t == ord("A")) | (t == ord("a"))).tolist():
        keep[i] = name_of(i) in KEPT_ABSOLUTE
    return keep


def _provided_by_linker_script(name: str) -> bool:
    """The tool's guess at a linker-script symbol: ``__start_X``, ``__stop_X``,
    ``__end_X``, ``__X_start``, ``__X_end`` (names of 8+ characters)."""
    if len(name) < 8 or not name.startswith("__"):
        return False
    return (name.startswith(("__start_", "__stop_", "__end_"))
            or name.endswith(("_start", "_end")))


def _tie_key(name: str, letter: int) -> tuple[bool, bool, int]:
    weak = letter in (ord("w"), ord("W"))
    return weak, _provided_by_linker_script(name), len(name) - len(name.lstrip("_"))


def kallsyms_order(addrs: NDArray[np.uint64], names: list[str], types: bytes) -> NDArray[np.int64]:
    """The order ``scripts/kallsyms`` gives its table: by address; at equal
    addresses non-weak before weak, then other symbols before linker-script
    ones, then fewer leading underscores first, then input order."""
    order = np.argsort(addrs, kind="stable")
    s = addrs[order]
    if len(s) < 2:
        return order.astype(np.int64)
    tied = np.flatnonzero(s[1:] == s[:-1])
    if tied.size == 0:
        return order.astype(np.int64)
    starts = tied[np.concatenate(([True], tied[1:] != tied[:-1] + 1))]
    out = order.astype(np.int64)
    for start in starts.tolist():
        end = start + 1
        while end < len(s) and s[end] == s[start]:
            end += 1
        run = out[start:end].tolist()
        run.sort(key=lambda i: _tie_key(names[i], types[i]))
        out[start:end] = run
    return out
