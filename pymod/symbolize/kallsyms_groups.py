"""The ``[module]`` lines of ``/proc/kallsyms``, grouped by module name.

The kernel prints each module's lines together, but a file may interleave
them; either way the names are compared as 8-byte words in bulk (a module
name is at most 55 bytes: 7 words), so the Python work is one step per
distinct module, and the temporaries are bounded by ``_GROUP_STEP``
lines at a time.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numpy.typing import NDArray

from pymod.symbolize.textparse import NmLines

__all__ = ["group_modules"]


def _name_words(lines: NmLines, rows: NDArray[np.int64],
                count: int = 7) -> Iterator[NDArray[np.uint64]]:
    """The module name of each row as ``count`` little-endian 8-byte words,
    one word of every row at a time, the bytes past the name zeroed (names
    are at most 55 bytes: 7 words)."""
    last = len(lines.buf) - 8
    words = np.ndarray((last + 1,), dtype="<u8", buffer=lines.buf, strides=(1,))
    off = lines.mod_off[rows].astype(np.int64)
    ln = lines.mod_len[rows].astype(np.int64)
    for k in range(0, 8 * count, 8):
        at = np.minimum(off + k, last)               # a name at the very end: read back
        w = words[at] >> ((off + k - at) * 8).astype(np.uint64)
        keep = (np.clip(ln - k, 0, 8) * 8).astype(np.uint64)
        yield np.where(keep == 64, w, w & ((np.uint64(1) << (keep & np.uint64(63))) - np.uint64(1)))


_GROUP_STEP = 1 << 18      # module lines compared at once (bounds the temporaries)


def _blocks(n: int) -> Iterator[slice]:
    return (slice(lo, min(lo + _GROUP_STEP, n)) for lo in range(0, n, _GROUP_STEP))


def _run_starts(lines: NmLines, idx: NDArray[np.int64]) -> NDArray[np.int64]:
    """Where in ``idx`` each run of lines of one module starts."""
    new = np.ones(len(idx), dtype=np.bool_)
    for b in _blocks(len(idx)):
        lo = max(b.start, 1)
        rows = idx[lo - 1:b.stop]                    # each row with the one before it
        ln = lines.mod_len[rows]
        same = ln[1:] == ln[:-1]
        for w in _name_words(lines, rows, -(-int(ln.max(initial=0)) // 8)):
            same &= w[1:] == w[:-1]
        new[lo:b.stop] = ~same
    return np.flatnonzero(new)


def _name_keys(lines: NmLines, heads: NDArray[np.int64]) -> NDArray[np.uint64]:
    """A 64-bit hash of each row's module name (FNV-style over its words)."""
    key = lines.mod_len[heads].astype(np.uint64)
    count = -(-int(lines.mod_len[heads].max(initial=0)) // 8)   # the same for every block
    for b in _blocks(len(heads)):
        for w in _name_words(lines, heads[b], count):
            key[b] = (key[b] * np.uint64(0x100000001B3)) ^ w
    return key


def _same_names(lines: NmLines, a: NDArray[np.int64], b: NDArray[np.int64]) -> bool:
    """Whether rows ``a[i]`` and ``b[i]`` name the same module, for every i."""
    for s in _blocks(len(a)):
        if (lines.mod_len[a[s]] != lines.mod_len[b[s]]).any():
            return False
        if any((x != y).any() for x, y in zip(_name_words(lines, a[s]),
                                               _name_words(lines, b[s]), strict=True)):
            return False
    return True


def group_modules(lines: NmLines, idx: NDArray[np.int64]) -> dict[str, NDArray[np.int64]]:
    """The rows of ``idx`` (module lines) by module name, in order of first
    appearance.  Names are compared as words in bulk, so the Python work is
    one step per distinct module, however the lines are interleaved (the
    kernel prints each module's lines together: one run each)."""
    if idx.size == 0 or len(lines.buf) < 8:
        return {}
    starts = _run_starts(lines, idx)
    heads = idx[starts]
    _, first, group = np.unique(_name_keys(lines, heads), return_index=True,
                                return_inverse=True)
    if not _same_names(lines, heads, heads[first][group]):    # a collision: by name
        return _group_by_name(lines, idx)
    if len(first) == len(starts):                    # one run a module: slices, no copies
        ends = np.append(starts[1:], len(idx))
        return {lines.module_name(int(h)): idx[a:b] for h, a, b in
                zip(heads.tolist(), starts.tolist(), ends.tolist(), strict=True)}
    del heads
    first_at = idx[starts[first]]                    # each module's first line
    if len(starts) < len(idx):
        group = np.repeat(group, np.diff(np.append(starts, len(idx))))
    del starts
    by_group = idx[np.argsort(group, kind="stable")]
    bounds = np.concatenate(([0], np.cumsum(np.bincount(group, minlength=len(first)))))
    return {lines.module_name(int(first_at[g])): by_group[bounds[g]:bounds[g + 1]]
            for g in np.argsort(first_at, kind="stable").tolist()}   # first appearance first


def _group_by_name(lines: NmLines, idx: NDArray[np.int64]) -> dict[str, NDArray[np.int64]]:
    groups: dict[str, list[int]] = {}
    for i in idx.tolist():
        groups.setdefault(lines.module_name(i), []).append(i)
    return {k: np.asarray(v, dtype=np.int64) for k, v in groups.items()}
