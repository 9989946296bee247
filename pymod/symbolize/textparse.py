"""The line format of ``/proc/kallsyms`` and ``System.map``, parsed in bulk.

``%016lx %c %s`` (vmlinux) or ``%016lx %c %s\\t[%s]`` (a module).  The common
case, 16 hex digits, is parsed with array operations over the whole text
(no Python object per line); anything else (32-bit kernels' 8 digits, hand
written files) goes through a line-by-line reader with the same result.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pymod.elf.compression import read_file
from pymod.errors import PymodError

__all__ = ["NmLines", "parse_nm", "read_text"]

_HEX = np.full(256, 255, dtype=np.uint8)
for _i, _c in enumerate(b"0123456789abcdef"):
    _HEX[_c] = _i
for _i, _c in enumerate(b"ABCDEF"):
    _HEX[_c] = 10 + _i


@dataclass(frozen=True)
class NmLines:
    """Parsed lines, as offsets into ``buf`` (no per-line strings).

    :buf: the text; every name follows a space and ends at a NUL here, and
        so does every module name
    :addrs: uint64 address of each line
    :types: the type letter of each line
    :name_off: where each symbol name starts in ``buf``
    :name_len: its length
    :mod_off: where the module name starts (-1 on a vmlinux line)
    :mod_len: its length (0 on a vmlinux line)
    """

    buf: bytes
    addrs: NDArray[np.uint64]
    types: bytes
    name_off: NDArray[np.int64]
    name_len: NDArray[np.int64]
    mod_off: NDArray[np.int64]
    mod_len: NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.addrs)

    def module_name(self, i: int) -> str:
        start = int(self.mod_off[i])
        return self.buf[start:start + int(self.mod_len[i])].decode("utf-8", "surrogateescape")

    def name(self, i: int) -> str:
        start = int(self.name_off[i])
        return self.buf[start:start + int(self.name_len[i])].decode("utf-8", "surrogateescape")


# /proc/kallsyms of a distribution kernel is about 10 MiB; System.map less.
MAX_TEXT = 256 << 20


def read_text(source: str | os.PathLike[str] | bytes, what: str) -> bytes:
    """A path (str without a newline, or PathLike) is read; text is taken as is."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    if isinstance(source, str) and ("\n" in source or source == ""):
        return source.encode("utf-8", "surrogateescape")
    path = os.fspath(source)
    try:
        # The bounded reader: a regular file (or a /proc file, read to the
        # cap), never a FIFO or a device that would not end.
        return read_file(path, MAX_TEXT)
    except PymodError as e:
        raise PymodError(e.errno, "%s: %s" % (what, e.strerror)) from None
    except OSError as e:
        raise PymodError(e.errno or errno.EIO, "%s: %s: %s" % (what, path, e.strerror or e)) \
            from None


def _bad_line(what: str, lineno: int, line: bytes) -> PymodError:
    return PymodError(errno.EINVAL, "%s: line %d is not 'address type name [module]': %r"
                      % (what, lineno, line[:120].decode("utf-8", "replace")))


def parse_nm(data: bytes, what: str) -> NmLines:
    """Every non-empty line of ``data``; a malformed line raises EINVAL
    naming ``what`` and the line."""
    if data and not data.endswith(b"\n"):
        data += b"\n"
    fast = _parse_fixed(data)
    return fast if fast is not None else _parse_slow(data, what)


def _line_bounds(buf: NDArray[np.uint8]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    ends = np.flatnonzero(buf == 10).astype(np.int64)
    starts = np.zeros(len(ends), dtype=np.int64)
    starts[1:] = ends[:-1] + 1
    keep = ends > starts
    return starts[keep], ends[keep]


def _parse_fixed(data: bytes) -> NmLines | None:
    """The 16-digit layout for every line at once, or None if any line differs."""
    buf = np.frombuffer(data, dtype=np.uint8)
    starts, ends = _line_bounds(buf)
    n = len(starts)
    if n == 0:
        return _empty(data)
    if (ends - starts < 20).any():
        return None
    if (buf[starts + 16] != 32).any() or (buf[starts + 18] != 32).any():
        return None
    digits = _HEX[buf[starts[:, None] + np.arange(16, dtype=np.int64)]]
    if (digits == 255).any():
        return None
    addrs = np.zeros(n, dtype=np.uint64)
    for k in range(16):
        addrs = (addrs << np.uint64(4)) | digits[:, k].astype(np.uint64)
    name_off = starts + 19
    name_end = ends.copy()
    mod_off = np.full(n, -1, dtype=np.int64)
    mod_len = np.zeros(n, dtype=np.int64)
    tabs = np.flatnonzero(buf == 9).astype(np.int64)
    if tabs.size:
        line = np.searchsorted(starts, tabs, side="right") - 1
        first = np.concatenate(([True], line[1:] != line[:-1]))
        tabs, line = tabs[first], line[first]
        tabs, line = tabs[tabs >= name_off[line]], line[tabs >= name_off[line]]
        e = ends[line]
        if (e - tabs < 3).any() or (buf[tabs + 1] != ord("[")).any() \
                or (buf[e - 1] != ord("]")).any():
            return None
        name_end[line] = tabs
        mod_off[line] = tabs + 2
        mod_len[line] = e - 1 - (tabs + 2)
    text = bytearray(data)
    view = np.frombuffer(text, dtype=np.uint8)
    view[name_end] = 0
    view[ends] = 0
    has_mod = mod_off >= 0
    view[ends[has_mod] - 1] = 0          # the closing bracket
    return NmLines(bytes(text), addrs, buf[starts + 17].tobytes(), name_off,
                   name_end - name_off, mod_off, mod_len)


def _empty(data: bytes) -> NmLines:
    z = np.zeros(0, dtype=np.int64)
    return NmLines(data, np.zeros(0, dtype=np.uint64), b"", z, z, z, z)


def _parse_slow(data: bytes, what: str) -> NmLines:
    """Line by line: any number of hex digits, one space, one letter, one
    space, the name, optionally a tab and ``[module]``."""
    out = bytearray()
    cols: dict[str, list[Any]] = {k: [] for k in ("a", "t", "no", "nl", "mo", "ml")}
    for lineno, line in enumerate(data.split(b"\n"), 1):
        if not line:
            continue
        head, sep, rest = line.partition(b" ")
        if not sep or len(rest) < 3 or rest[1:2] != b" " or not head:
            raise _bad_line(what, lineno, line)
        try:
            cols["a"].append(int(head, 16))
        except ValueError:
            raise _bad_line(what, lineno, line) from None
        name, tab, mod = rest[2:].partition(b"\t")
        if tab and not (len(mod) >= 2 and mod[:1] == b"[" and mod[-1:] == b"]"):
            raise _bad_line(what, lineno, line)
        if not name or cols["a"][-1] >> 64:
            raise _bad_line(what, lineno, line)
        cols["t"].append(rest[0])
        out += b" "                      # as in the text: a space before each name
        cols["no"].append(len(out))
        cols["nl"].append(len(name))
        out += name + b"\0"
        cols["mo"].append(len(out) if tab else -1)
        cols["ml"].append(len(mod) - 2 if tab else 0)
        if tab:
            out += mod[1:-1] + b"\0"
    as64 = {k: np.asarray(cols[k], dtype=np.int64) for k in ("no", "nl", "mo", "ml")}
    return NmLines(bytes(out), np.asarray(cols["a"], dtype=np.uint64), bytes(cols["t"]),
                   as64["no"], as64["nl"], as64["mo"], as64["ml"])
