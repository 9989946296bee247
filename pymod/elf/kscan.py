"""The C module scanner (``csrc/kscan/pm_kscan.c``): the names depmod reads from one image.

:func:`scan_image` returns, for an ELF64 little-endian module image (bytes,
a mapped file, any buffer):

* ``exports``: the names behind the ``__crc_<name>`` symbols in symbol-table
  order, or when there are none the non-empty strings of
  ``__ksymtab_strings`` (when a symbol's name offset is out of range the
  ``__crc_`` symbols are not trusted and the strings are used);
* ``undefined``: the name of every non-empty-named SHN_UNDEF symbol, in
  table order (empty when an undefined symbol's name is out of range), and
  ``weak``: one byte per undefined symbol, 1 when it is STB_WEAK, else 0;
* ``versions``: every ``__versions`` entry name (none when the section's
  size is not a multiple of 64, or when ``undefined`` was abandoned).

An image it cannot read that way raises :class:`~pymod.errors.PymodError` (ENOEXEC); the
C code checks every offset, so garbage never makes it read out of bounds.
Names are decoded as Latin-1: every byte is one character, so equal byte
strings stay equal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from pymod._kscan_cffi import ffi, lib
from pymod.errors import StatusKind, status_error

if TYPE_CHECKING:
    import mmap

__all__ = ["KScan", "scan_image"]

# Room for the names of a large module; a larger one is retried at its size.
_NAMES_ROOM = 64 << 10
_WEAK_ROOM = 4096
# Scratch buffers are filled before they are read: no need to zero them.
_new = ffi.new_allocator(should_clear_after_alloc=False)

# Every failure status (texts: pm_kscan_strerror) means the image cannot be
# read as a module: ENOEXEC, as the kernel answers for a bad image.
_STATUS_KINDS: dict[int, StatusKind] = {
    status: "noexec" for status in ffi.typeof("enum pm_kscan_status").elements if status < 0}


class KScan(NamedTuple):
    exports: list[str]
    undefined: list[str]
    weak: bytes
    versions: list[str]


def scan_image(image: bytes | bytearray | memoryview | mmap.mmap) -> KScan:
    """What depmod reads from ``image`` (any buffer holding an ELF64 LE image)."""
    result = ffi.new("struct pm_kscan_result *")
    names_room, weak_room = _NAMES_ROOM, _WEAK_ROOM
    with ffi.from_buffer("unsigned char[]", image) as buf:
        size = len(buf)
        while True:
            names = _new("char[]", names_room)
            weak = _new("unsigned char[]", weak_room)
            rc = lib.pm_kscan(buf, size, names, names_room, weak, weak_room, result)
            if rc != lib.PM_KSCAN_ENOSPC:
                break
            names_room = max(names_room, result.names_len)
            weak_room = max(weak_room, result.n_undefined)
    if rc != lib.PM_KSCAN_OK:
        text = ffi.string(lib.pm_kscan_strerror(rc)).decode("ascii")
        raise status_error(rc, text, _STATUS_KINDS, what="%d-byte image" % size)
    n_exp, n_und = result.n_exports, result.n_undefined
    parts = ffi.buffer(names, result.names_len)[:].decode("latin-1").split("\0")
    return KScan(parts[:n_exp], parts[n_exp:n_exp + n_und], ffi.buffer(weak, n_und)[:],
                 parts[n_exp + n_und:n_exp + n_und + result.n_versions])
