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

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pymod.errors import InvalidArgument
from pymod.symbolize.model import SymbolTable

__all__ = ["is_mapping_symbol", "mapping_mask", "name_lengths", "make_table",
           "kallsyms_keeps", "kallsyms_order", "tie_order", "holds_at", "KEPT_ABSOLUTE"]

#: scripts/kallsyms keeps these absolute symbols (ia64 and friends).
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


# Names are copied this many bytes at a time: the index arrays of one step
# stay small however many (or however long) the names are.
_COPY_STEP = 1 << 18


def _compact(buf: bytes, offsets: NDArray[Any], lengths: NDArray[Any],
             rows: NDArray[np.int64] | None) -> tuple[bytes, NDArray[np.uint32]]:
    """The names ``buf[offsets[i]:offsets[i]+lengths[i]]`` of ``rows`` (or
    of every row) copied in that order, NUL-terminated; returns the table
    and where each starts."""
    ln_all = lengths if rows is None else lengths[rows]
    n = len(ln_all)
    total = int(ln_all.sum(dtype=np.int64)) + n          # + n: the NULs
    if total >> 32:
        raise InvalidArgument("symbol names of %d bytes: more than a table holds" % total)
    new = np.zeros(n, dtype=np.uint32)
    if n > 1:
        np.cumsum(ln_all[:-1], dtype=np.uint32, out=new[1:])
        new[1:] += np.arange(1, n, dtype=np.uint32)
    del ln_all
    out = np.zeros(total, dtype=np.uint8)              # the NULs are already in place
    src = np.frombuffer(buf, dtype=np.uint8)
    steps = np.arange(0, total, _COPY_STEP, dtype=np.uint32)      # new's own type: no copy
    cuts = np.unique(np.searchsorted(new, steps, side="right") - 1)
    bounds = np.append(cuts, n).tolist()
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        pick = slice(lo, hi) if rows is None else rows[lo:hi]
        ln = np.asarray(lengths[pick], dtype=np.int64)
        within = np.arange(int(ln.sum()), dtype=np.int64) - np.repeat(np.cumsum(ln) - ln, ln)
        out[np.repeat(new[lo:hi].astype(np.int64), ln) + within] = \
            src[np.repeat(np.asarray(offsets[pick], dtype=np.int64), ln) + within]
    return out.tobytes(), new


def make_table(addrs: NDArray[Any], buf: bytes, offsets: NDArray[Any],
               lengths: NDArray[Any] | None, types: bytes | NDArray[np.uint8],
               rows: NDArray[np.int64] | None = None) -> SymbolTable:
    """A :class:`~pymod.symbolize.model.SymbolTable` of the given symbols, in any order: sorted
    stably by address (so among equal addresses the given order stays and
    the first wins), names copied out of ``buf`` into one compact table, in
    address order.

    :addrs: address of each symbol
    :buf: the bytes the names are in
    :offsets: where each name starts in ``buf``
    :lengths: each name's length, or None to read up to the next NUL
    :types: one type letter per symbol
    :rows: the rows of the arrays above to take (default: all), so the
        caller need not gather them first
    """
    a = np.asarray(addrs, dtype=np.uint64)
    letters = np.frombuffer(bytes(types), dtype=np.uint8) if isinstance(types, bytes) \
        else np.asarray(types, dtype=np.uint8)
    off = np.asarray(offsets)
    ln = name_lengths(buf, off) if lengths is None else np.asarray(lengths)
    if rows is not None:
        a, letters = a[rows], letters[rows]
    if len(a) > 1 and not (a[1:] >= a[:-1]).all():      # a text file is sorted already
        order = np.argsort(a, kind="stable")
        a, letters = a[order], letters[order]
        rows = order if rows is None else rows[order]
        del order
    elif a.base is not None:
        a = a.copy()                                   # not a view of the caller's arrays
    strtab, names = _compact(buf, off, ln, rows)
    return SymbolTable(addrs=a, names=names, strtab=strtab, types=letters.tobytes())


def kallsyms_keeps(types: bytes,
                   named: Callable[[str], NDArray[np.bool_]]) -> NDArray[np.bool_]:
    """``scripts/kallsyms``' read filter on ``System.map`` lines: ``u`` and
    ``n`` symbols go, and absolute ones but for :data:`KEPT_ABSOLUTE`
    (``named(name)`` tells which lines have that name)."""
    t = np.frombuffer(types, dtype=np.uint8)
    keep: NDArray[np.bool_] = (t != ord("u")) & (t != ord("n"))
    absolute = (t == ord("A")) | (t == ord("a"))
    if absolute.any():
        kept = np.zeros(len(t), dtype=np.bool_)
        for name in sorted(KEPT_ABSOLUTE):
            kept |= named(name)
        keep &= ~absolute | kept
    return keep


def holds_at(src: NDArray[np.uint8], off: NDArray[np.int64], ln: NDArray[np.int64],
                 at: NDArray[np.int64], text: bytes) -> NDArray[np.bool_]:
    """Whether each name holds ``text`` at position ``at`` (within the name)."""
    ok: NDArray[np.bool_] = (at >= 0) & (at + len(text) <= ln)
    for k, c in enumerate(text):
        ok &= src[np.where(ok, off + at + k, 0)] == c
    return ok


def _tie_keys(buf: bytes, off: NDArray[np.int64], ln: NDArray[np.int64],
              types: NDArray[np.uint8]) -> list[NDArray[Any]]:
    """``compare_symbols``' keys after the address, most significant first:
    weak, maybe provided by the linker script (``__start_X``, ``__stop_X``,
    ``__end_X``, ``__X_start``, ``__X_end``; 8+ characters), leading
    underscores."""
    src = np.frombuffer(buf, dtype=np.uint8)      # every index read lies inside a name
    zero = np.zeros(len(off), dtype=np.int64)
    weak = (types == ord("w")) | (types == ord("W"))
    linker = (ln >= 8) & holds_at(src, off, ln, zero, b"__")
    linker &= (holds_at(src, off, ln, zero + 2, b"start_")
               | holds_at(src, off, ln, zero + 2, b"stop_")
               | holds_at(src, off, ln, zero + 2, b"end_")
               | holds_at(src, off, ln, ln - 6, b"_start")
               | holds_at(src, off, ln, ln - 4, b"_end"))
    under = np.zeros(len(off), dtype=np.int64)
    rows = np.flatnonzero(ln > 0)
    while rows.size:
        rows = rows[src[off[rows] + under[rows]] == ord("_")]
        under[rows] += 1
        rows = rows[under[rows] < ln[rows]]
    return [weak, linker, under]


def tie_order(addrs: NDArray[np.uint64], buf: bytes, offsets: NDArray[Any],
              lengths: NDArray[Any], types: NDArray[np.uint8],
              rows: NDArray[np.int64] | None = None) -> NDArray[np.int64]:
    """The order ``scripts/kallsyms`` gives its table (``compare_symbols``):
    by address; at equal addresses non-weak before weak, then other symbols
    before linker-script ones, then fewer leading underscores first, then
    input order.  Row i's name is ``buf[offsets[i]:offsets[i] + lengths[i]]``.
    Returns ``rows`` (default: every row) in that order."""
    s = addrs.copy() if rows is None else addrs[rows]
    order = np.argsort(s, kind="stable").astype(np.int64, copy=False)
    s.sort(kind="stable")                # in place: s[i] is now the address of order[i]
    tied = np.zeros(len(s), dtype=np.bool_)
    tied[1:] = s[1:] == s[:-1]
    tied[:-1] |= tied[1:]
    del s
    if rows is not None:
        order = rows[order]
    t = order[tied]                      # every row sharing its address
    if t.size == 0:
        return order
    weak, linker, under = _tie_keys(buf, np.asarray(offsets, dtype=np.int64)[t],
                                    np.asarray(lengths, dtype=np.int64)[t],
                                    np.asarray(types, dtype=np.uint8)[t])
    order[tied] = t[np.lexsort((t, under, linker, weak, addrs[t]))]
    return order


def kallsyms_order(addrs: NDArray[np.uint64], names: Sequence[str],
                   types: bytes) -> NDArray[np.int64]:
    """:func:`tie_order` of symbols given as a list of names."""
    encoded = [n.encode("utf-8", "surrogateescape") for n in names]
    ln = np.array([len(e) for e in encoded], dtype=np.int64)
    off = np.zeros(len(ln), dtype=np.int64)
    if len(ln) > 1:
        np.cumsum(ln[:-1], out=off[1:])
    return tie_order(np.asarray(addrs, dtype=np.uint64), b"".join(encoded), off, ln,
                     np.frombuffer(types, dtype=np.uint8))
