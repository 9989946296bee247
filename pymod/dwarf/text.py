"""Texts the C index writes in batch: ``addr2line -i`` chains, and whole
``decode_stacktrace.sh`` lines for bare addresses.

For 10^5 addresses, building these strings one by one in Python costs more
than the lookups; C writes them into one buffer.  C leaves to Python what
Python spells differently (a byte outside printable ASCII: see
``pymod.tools.common.terminal_safe``) and says so in a flag per address.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from pymod._dwarf_cffi import ffi, lib
from pymod.dwarf.native import LineIndex, _raise_for
from pymod.errors import InvalidArgument

__all__ = ["NameMap", "chain_texts", "decode_bare", "WRITTEN", "LEFT", "NOT_HERE"]

#: Flags of decode_bare (pd_decode_bare's).
WRITTEN, LEFT, NOT_HERE = 0, 1, 2


class NameMap:
    """A symbol table's names -> the lowest address of a t/T symbol of each,
    in C (``pd_namemap``): what ``decode_stacktrace.sh`` asks ``nm``."""

    def __init__(self, strtab: bytes, names: Any, addrs: Any, types: bytes) -> None:
        self.strtab = bytes(strtab)
        self._names = np.ascontiguousarray(names, np.uint32)
        self._addrs = np.ascontiguousarray(addrs, np.uint64)
        n = len(self._names)
        if len(self._addrs) != n or len(types) != n:
            raise InvalidArgument("symbol table columns differ in length")
        self._types = bytes(types)
        out = ffi.new("struct pd_namemap **")
        _raise_for(lib.pd_namemap_new(self.strtab, len(self.strtab),
                                      ffi.from_buffer("uint32_t[]", self._names),
                                      ffi.from_buffer("uint64_t[]", self._addrs), self._types,
                                      n, out), "symbol names")
        self._map = ffi.gc(out[0], lib.pd_namemap_free)


def _vector(a: Any, dtype: Any) -> Any:
    v = np.ascontiguousarray(a, dtype=dtype)
    if v.ndim != 1:
        raise InvalidArgument("addresses must be a 1-dimensional array")
    return v


def _written(n: int, call: Callable[[int, Any, int, Any, Any, Any], int]) -> tuple[list[str], Any]:
    """Run ``call(at, out, cap, ends, flags, done)`` over rows ``at:`` until
    all ``n`` are answered; the text of each row ("" unless written) and
    the flags."""
    ends = np.zeros(n, np.uint64)
    flags = np.zeros(n, np.uint8)
    done = ffi.new("uint64_t *")
    texts: list[str] = []
    at = 0
    cap = max(4096, n * 128)
    while at < n:
        out = ffi.new("char[]", cap)
        _raise_for(call(at, out, cap, ffi.from_buffer("uint64_t[]", ends[at:]),
                        ffi.from_buffer("uint8_t[]", flags[at:]), done), "DWARF lookup")
        k = int(done[0])
        if k == 0:              # one row longer than the buffer (64 frames at most)
            cap *= 2
            continue
        stops = ends[at:at + k].tolist()
        text = ffi.buffer(out, stops[-1])[:].decode("ascii")
        texts += [text[b:e] for b, e in zip([0, *stops[:-1]], stops, strict=True)]
        at += k
    return texts, flags


def _prefix(strip: str | None) -> bytes:
    return b"" if strip is None else strip.encode("utf-8", "surrogateescape")


def chain_texts(index: LineIndex, addrs: Any, strip: str | None) -> tuple[list[str], Any]:
    """The ``addr2line -i`` text of each address's chain, frames joined by a
    space, files without the prefix ``strip`` (``pd_index_chain_text``);
    and a bool per address whose text C left to the caller ("" then)."""
    a = _vector(addrs, np.uint64)
    prefix = _prefix(strip)
    texts, flags = _written(len(a), lambda at, out, cap, ends, flags, done: (
        lib.pd_index_chain_text(index._idx, ffi.from_buffer("uint64_t[]", a[at:]),
                                len(a) - at, prefix, len(prefix), out, cap, ends, flags,
                                done)))
    return texts, flags.astype(np.bool_)


def decode_bare(index: LineIndex, names: NameMap, strtab: bytes, name_offsets: Any,
                offsets: Any, strip: str | None) -> tuple[list[str], Any]:
    """``decode_stacktrace.sh``'s line for each bare address named
    ``name+offset`` (``pd_decode_bare``): the name at ``name_offsets[i]`` of
    ``strtab`` (0xffffffff: none), found in ``names``; and the flag of
    each row (:data:`WRITTEN`, :data:`LEFT`, :data:`NOT_HERE`)."""
    off = _vector(name_offsets, np.uint32)
    rel = _vector(offsets, np.uint64)
    if len(off) != len(rel):
        raise InvalidArgument("name offsets and offsets differ in length")
    prefix = _prefix(strip)
    return _written(len(off), lambda at, out, cap, ends, flags, done: (
        lib.pd_decode_bare(index._idx, names._map, strtab, len(strtab),
                           ffi.from_buffer("uint32_t[]", off[at:]),
                           ffi.from_buffer("uint64_t[]", rel[at:]), len(off) - at, prefix,
                           len(prefix), out, cap, ends, flags, done)))
