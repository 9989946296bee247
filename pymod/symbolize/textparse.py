"""The line format of ``/proc/kallsyms`` and ``System.map``, parsed in bulk.

``%016lx %c %s`` (vmlinux) or ``%016lx %c %s\\t[%s]`` (a module); 1 to 16
hex digits are read (32-bit kernels print 8).  The text is parsed in
slices of :data:`SLICE` bytes with array operations (no Python object per
line), into a few arrays of 4 or 8 bytes per line that point into the text
as read: memory is the text plus about 25 bytes a line, whatever the lines
hold.  A line ending in ``\\r\\n`` (a capture saved on Windows) counts as
ending in ``\\n``.

What the kernel could never have printed is refused with one line naming
the file and line (EINVAL): an address that is not 1 to 16 ASCII hex
digits, a NUL byte, an empty name, a module name longer than
``MODULE_NAME_LEN - 1`` (55) bytes, and, in ``/proc/kallsyms``, a symbol
name longer than ``KSYM_NAME_LEN - 1`` (511) bytes: the kernel copies
names into buffers of that size.  ``System.map`` is ``nm``'s output, not
the kernel's: a longer name there is dropped, as ``scripts/kallsyms``
drops it when it builds the kernel's table ("Symbol ... too long for
kallsyms").
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pymod.elf.compression import read_file
from pymod.elf.constants import MODULE_NAME_LEN
from pymod.errors import PymodError

__all__ = ["NmLines", "parse_nm", "read_text", "source_path", "hex_address", "KSYM_NAME_LEN",
           "MODULE_NAME_LEN", "SLICE"]

# include/linux/kallsyms.h, 512 in 6.1 and 6.12: %pS (module_address_lookup)
# and /proc/kallsyms (module_get_kallsym) copy a symbol's name into a buffer
# of this size, so no output of the kernel shows more than 511 bytes.
KSYM_NAME_LEN = 512
SLICE = 1 << 20          #: bytes of text parsed at once (bounds the temporaries)

_HEX = np.full(256, 255, dtype=np.uint8)
for _i, _c in enumerate(b"0123456789abcdef"):
    _HEX[_c] = _i
for _i, _c in enumerate(b"ABCDEF"):
    _HEX[_c] = 10 + _i


@dataclass(frozen=True)
class NmLines:
    """Parsed lines, as offsets into ``buf`` (no per-line strings).

    :buf: the text as read (names are not NUL-terminated in it)
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
    name_off: NDArray[Any]
    name_len: NDArray[Any]
    mod_off: NDArray[Any]
    mod_len: NDArray[Any]

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


def source_path(source: str | os.PathLike[str] | bytes) -> str | None:
    """The path :func:`read_text` reads for ``source``, None for text."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return None
    if isinstance(source, str) and ("\n" in source or source == ""):
        return None
    return os.fspath(source)


def read_text(source: str | os.PathLike[str] | bytes, what: str) -> bytes:
    """A path (str without a newline, or PathLike) is read; text is taken as is."""
    path = source_path(source)
    if path is None:
        if isinstance(source, str):
            return source.encode("utf-8", "surrogateescape")
        return bytes(source)        # type: ignore[arg-type]
    try:
        # The bounded reader: a regular file (or a /proc file, read to the
        # cap), never a FIFO or a device that would not end.
        return read_file(path, MAX_TEXT)
    except PymodError as e:
        raise PymodError(e.errno, "%s: %s" % (what, e.strerror)) from None
    except OSError as e:
        raise PymodError(e.errno or errno.EIO, "%s: %s: %s" % (what, path, e.strerror or e)) \
            from None


def hex_address(digits: bytes) -> int | None:
    """The value of 1 to 16 ASCII hex digits (what ``%lx`` and ``%px``
    print), else None: no sign, ``0x``, white space or underscore, which
    ``int(digits, 16)`` would take."""
    if not 1 <= len(digits) <= 16 or digits.strip(b"0123456789abcdefABCDEF"):
        return None
    return int(digits, 16)


def where(what: str, path: str | None, lineno: int) -> str:
    """``what: FILE:LINE`` (``what: line LINE`` for text given as such)."""
    return "%s: %s:%d" % (what, path, lineno) if path is not None \
        else "%s: line %d" % (what, lineno)


def _why(line: bytes, kallsyms: bool) -> str:
    """What is wrong with one line the bulk checks refused."""
    head, _, rest = line.partition(b" ")
    if hex_address(head) is None:
        return "the address %s is not 1 to 16 hex digits" % _show(head, 40)
    if b"\0" in line:
        return "a NUL byte (the kernel prints names as C strings)"
    name, tab, mod = rest[2:].partition(b"\t")
    if len(rest) < 3 or rest[1:2] != b" " or not 0x21 <= rest[0] <= 0x7e or not name:
        return "not 'address type name [module]'"
    if kallsyms and len(name) >= KSYM_NAME_LEN:
        return "a symbol name of %d bytes (the kernel prints at most %d: KSYM_NAME_LEN)" \
            % (len(name), KSYM_NAME_LEN - 1)
    if tab and not (len(mod) >= 3 and mod[:1] == b"[" and mod[-1:] == b"]"):
        return "not 'address type name [module]'"
    return "a module name of %d bytes (the kernel's are at most %d: MODULE_NAME_LEN)" \
        % (len(mod) - 2, MODULE_NAME_LEN - 1)


def _show(text: bytes, most: int = 120) -> str:
    return repr(text[:most].decode("utf-8", "replace"))


def parse_nm(data: bytes, what: str, path: str | None = None, kallsyms: bool = True) -> NmLines:
    """Every non-empty line of ``data`` (``\\r\\n`` taken as ``\\n``).  A
    malformed line raises EINVAL naming ``what``, ``path`` and the line;
    ``kallsyms`` False reads ``System.map`` (an overlong name is dropped)."""
    cap = data.count(b"\n") + 1
    wide = np.int64 if len(data) >= 1 << 31 else np.int32
    out = _Columns(cap, wide)
    lineno = 0
    for lo, hi in _slices(data):
        chunk = np.frombuffer(data, dtype=np.uint8, count=hi - lo, offset=lo)
        lineno = _parse_slice(chunk, lo, lineno, out, what, path, kallsyms, data)
    return out.lines(data)


def _slices(data: bytes) -> list[tuple[int, int]]:
    """``[lo, hi)`` pieces of about SLICE bytes, each ending after a newline
    (the last one at the end of the text)."""
    out = []
    lo = 0
    while lo < len(data):
        hi = data.find(b"\n", min(lo + SLICE, len(data)) - 1)
        hi = len(data) if hi < 0 else hi + 1
        out.append((lo, hi))
        lo = hi
    return out


class _Columns:
    """The per-line arrays, allocated once for every line the text can hold."""

    def __init__(self, cap: int, wide: Any) -> None:
        self.n = 0
        self.addrs = np.empty(cap, dtype=np.uint64)
        self.types = np.empty(cap, dtype=np.uint8)
        self.name_off = np.empty(cap, dtype=wide)
        self.name_len = np.empty(cap, dtype=wide)
        self.mod_off = np.empty(cap, dtype=wide)
        self.mod_len = np.empty(cap, dtype=wide)

    def add(self, **cols: NDArray[Any]) -> None:
        k = len(cols["addrs"])
        for key, value in cols.items():
            getattr(self, key)[self.n:self.n + k] = value
        self.n += k

    def lines(self, data: bytes) -> NmLines:
        n = self.n

        def cut(a: NDArray[Any]) -> NDArray[Any]:
            return a[:n] if n * 2 > len(a) else a[:n].copy()     # few lines dropped: a view
        return NmLines(data, cut(self.addrs), self.types[:n].tobytes(), cut(self.name_off),
                       cut(self.name_len), cut(self.mod_off), cut(self.mod_len))


def _first_at_or_after(positions: NDArray[np.int64], at: NDArray[np.int64],
                       none: int) -> NDArray[np.int64]:
    """The first of ``positions`` (sorted) at or after each of ``at``; ``none`` if none."""
    k = np.searchsorted(positions, at)
    padded = np.append(positions, none)
    out: NDArray[np.int64] = padded[k]
    return out


def _parse_slice(chunk: NDArray[np.uint8], base: int, lineno: int, out: _Columns, what: str,
                 path: str | None, kallsyms: bool, data: bytes) -> int:
    """One slice's lines into ``out``; returns the number of the last line read."""
    size = len(chunk)
    ends = np.flatnonzero(chunk == 10)
    if not size or chunk[-1] != 10:
        ends = np.append(ends, size)
    starts = np.empty_like(ends)
    starts[:1] = 0
    starts[1:] = ends[:-1] + 1
    numbers = lineno + 1 + np.arange(len(ends))
    crlf = (ends > starts) & (chunk[np.maximum(ends - 1, 0)] == 13)
    ends = ends - crlf
    full = ends > starts
    starts, ends, numbers = starts[full], ends[full], numbers[full]
    sp = _first_at_or_after(np.flatnonzero(chunk == 32), starts, size)
    ndig = sp - starts
    ok = (ndig >= 1) & (ndig <= 16) & (sp + 3 < ends)
    at = np.where(ok, sp, 0)
    kind = chunk[np.minimum(at + 1, size - 1)]
    ok &= (chunk[np.minimum(at + 2, size - 1)] == 32) & (kind > 32) & (kind < 127)
    addrs = _addresses(chunk, starts, ndig, ok)
    name_off = at + 3
    tab = np.minimum(_first_at_or_after(np.flatnonzero(chunk == 9), name_off, size), ends)
    has_mod = tab < ends
    mod_off = np.where(has_mod, tab + 2, -1 - base)
    mod_len = np.where(has_mod, ends - 1 - (tab + 2), 0)
    ok &= ~has_mod | ((chunk[np.minimum(tab + 1, size - 1)] == ord("["))
                      & (chunk[np.maximum(ends - 1, 0)] == ord("]")) & (mod_len >= 1)
                      & (mod_len < MODULE_NAME_LEN))
    name_len = tab - name_off
    ok &= name_len > 0
    if kallsyms:
        ok &= name_len < KSYM_NAME_LEN
    nul = np.searchsorted(ends, np.flatnonzero(chunk == 0))   # the lines holding one
    ok[nul[nul < len(ends)]] = False
    if not ok.all():
        _refuse(data, base, starts, ends, numbers, ok, what, path, kallsyms)
    keep = name_len < KSYM_NAME_LEN       # System.map: scripts/kallsyms drops the rest
    out.add(addrs=addrs[keep], types=kind[keep], name_off=name_off[keep] + base,
            name_len=name_len[keep], mod_off=mod_off[keep] + base, mod_len=mod_len[keep])
    return lineno + int(np.count_nonzero(chunk == 10))


def _addresses(chunk: NDArray[np.uint8], starts: NDArray[np.int64], ndig: NDArray[np.int64],
               ok: NDArray[np.bool_]) -> NDArray[np.uint64]:
    """Each line's 1 to 16 hex digits; a line with any other byte there is
    marked not ``ok``."""
    rows = np.flatnonzero(ok)
    at, nd = starts[rows], ndig[rows]
    if (nd == 16).all():                 # the kernel's 16 digits: one (lines, 16) block
        digits = _HEX[chunk[at[:, None] + np.arange(16)]]
        bad = (digits == 255).any(axis=1)
        pairs = np.ascontiguousarray((digits[:, 0::2] << 4) | digits[:, 1::2])
        acc = pairs.view(">u8").ravel().astype(np.uint64)
    else:                                # any count: one digit of every line at a time
        acc = np.zeros(len(rows), dtype=np.uint64)
        bad = np.zeros(len(rows), dtype=np.bool_)
        for k in range(16):
            live = nd > k
            digit = _HEX[chunk[np.where(live, at + k, at)]]
            bad |= live & (digit == 255)
            acc = np.where(live, (acc << np.uint64(4)) | digit.astype(np.uint64), acc)
    ok[rows[bad]] = False
    addrs = np.zeros(len(starts), dtype=np.uint64)
    addrs[rows] = acc
    return addrs


def _refuse(data: bytes, base: int, starts: NDArray[np.int64], ends: NDArray[np.int64],
            numbers: NDArray[Any], ok: NDArray[np.bool_], what: str, path: str | None,
            kallsyms: bool) -> None:
    i = int(np.flatnonzero(~ok)[0])
    line = data[base + int(starts[i]):base + int(ends[i])]
    raise PymodError(errno.EINVAL, "%s: %s: %s" % (where(what, path, int(numbers[i])),
                                                  _why(line, kallsyms), _show(line)))
