"""The C DWARF index (``pymod._dwarf_cffi``): build it, open it, look up.

:func:`build_index` reads the DWARF sections (already decompressed and
relocated) and returns one flat index blob; :class:`LineIndex` validates a
blob (bytes, or an mmap of a cache file) once, then answers addresses with
``addr2line -f -i`` frames, innermost first, in one C call per batch with
the GIL released.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np

from pymod._dwarf_cffi import ffi, lib
from pymod.errors import InvalidArgument, StatusKind, status_error

#: The sections build_index reads, in the C library's order (enum pd_section).
SECTIONS: tuple[str, ...] = (".debug_info", ".debug_abbrev", ".debug_line", ".debug_str",
                             ".debug_line_str", ".debug_str_offsets", ".debug_rnglists",
                             ".debug_ranges", ".debug_addr", ".debug_aranges")
_NONE = 0xFFFFFFFF
#: What addr2line prints for an unknown file; a frame's ``file`` then.
UNKNOWN_FILE = "??"

# What each failure status of the DWARF core means (texts: pd_strerror).
_STATUS_KINDS: dict[int, StatusKind] = {
    lib.PD_ENOMEM: "nomem",
    lib.PD_ETRUNC: "noexec",
    lib.PD_EVERSION: "noexec",
    lib.PD_EFORM: "noexec",
    lib.PD_EABBREV: "noexec",
    lib.PD_EDEPTH: "noexec",
    lib.PD_ERANGE: "noexec",
    lib.PD_ELINE: "noexec",
    lib.PD_ETOOBIG: "noexec",
    lib.PD_EBADINDEX: "corrupt",
    lib.PD_ECORRUPT: "corrupt",
    lib.PD_EINVAL: "invalid",
}


def _raise_for(status: int, what: str) -> None:
    if status != lib.PD_OK:
        text = ffi.string(lib.pd_strerror(status)).decode("ascii")
        raise status_error(status, text, _STATUS_KINDS, what=what)


class Frame(NamedTuple):
    """One ``addr2line -f -i`` frame: ``function`` is None where DWARF names
    none (addr2line then prints the ELF symbol, or ``??``), ``file`` is
    :data:`~pymod.dwarf.native.UNKNOWN_FILE` where no line row covers the address, ``line`` 0
    prints as ``?``; ``discriminator`` (innermost frame only) is what
    addr2line prints as `` (discriminator N)``."""

    function: str | None
    file: str
    line: int
    column: int
    inlined: bool
    discriminator: int = 0


class Frames(NamedTuple):
    """A batch's frames as a struct of arrays; strings are offsets into the
    index's string table (0xffffffff: none), see :meth:`LineIndex.string`."""

    function: np.ndarray
    file: np.ndarray
    line: np.ndarray
    column: np.ndarray
    discriminator: np.ndarray
    inlined: np.ndarray


def build_index(sections: Mapping[str, bytes | bytearray | memoryview]) -> bytes:
    """The index blob of these DWARF sections (names as in :data:`SECTIONS`;
    others are ignored, any may be absent).  Raises PymodError (ENOEXEC)
    for malformed DWARF, naming what is wrong."""
    secs = ffi.new("struct pd_sections *")
    keep = []
    for i, name in enumerate(SECTIONS):
        data = sections.get(name)
        if data is None or len(data) == 0:
            continue
        buf = ffi.from_buffer("uint8_t[]", data)
        keep.append(buf)
        secs.data[i] = buf
        secs.size[i] = len(buf)
    out = ffi.new("uint8_t **")
    size = ffi.new("uint64_t *")
    status = lib.pd_build(secs, out, size)
    del keep
    _raise_for(status, "DWARF index")
    try:
        return bytes(ffi.buffer(out[0], size[0]))
    finally:
        lib.pd_free(out[0])


class LineIndex:
    """An index blob, validated at construction (PymodError EIO for a
    corrupt or foreign one); lookups are read-only and thread-safe."""

    def __init__(self, buffer: bytes | bytearray | memoryview | object) -> None:
        view = memoryview(buffer)  # type: ignore[arg-type]
        # C reads 8-byte fields: copy a misaligned buffer once.
        cbuf = ffi.from_buffer("uint8_t[]", view)
        if int(ffi.cast("uintptr_t", cbuf)) % 8:
            view = memoryview(bytearray(view.tobytes()))
            cbuf = ffi.from_buffer("uint8_t[]", view)
        self._buffer = view
        self._cbuf = cbuf
        out = ffi.new("struct pd_index **")
        _raise_for(lib.pd_index_open(cbuf, len(cbuf), out), "DWARF index")
        self._idx = ffi.gc(out[0], lib.pd_index_close)
        self._strings: dict[int, str] = {}

    @property
    def nrows(self) -> int:
        return int(lib.pd_index_nrows(self._idx))

    @property
    def nfuncs(self) -> int:
        return int(lib.pd_index_nfuncs(self._idx))

    def string(self, offset: int) -> str | None:
        """The string at ``offset`` of the index's table (None for 0xffffffff)."""
        s = self._strings.get(offset)
        if s is None:
            if offset == _NONE:
                return None
            p = lib.pd_index_string(self._idx, offset)
            if p == ffi.NULL:
                raise InvalidArgument("string offset %d out of range" % offset)
            s = ffi.string(p).decode("utf-8", "surrogateescape")
            self._strings[offset] = s
        return s

    def lookup_many(self, addrs: object) -> tuple[np.ndarray, np.ndarray, Frames]:
        """Frames of every address: ``(counts uint32[n], offsets uint64[n],
        frames)``; address i has frames ``offsets[i] : offsets[i]+counts[i]``,
        innermost first, none without line info."""
        a = np.ascontiguousarray(addrs, dtype=np.uint64)
        if a.ndim != 1:
            raise InvalidArgument("addresses must be a 1-dimensional array")
        n = len(a)
        counts = np.empty(n, np.uint32)
        offsets = np.empty(n, np.uint64)
        scratch = np.empty(n, np.uint64)
        total = ffi.new("uint64_t *")
        pa = ffi.from_buffer("uint64_t[]", a)
        _raise_for(lib.pd_index_count(self._idx, pa, n, ffi.from_buffer("uint32_t[]", counts),
                                      ffi.from_buffer("uint64_t[]", offsets),
                                      ffi.from_buffer("uint64_t[]", scratch), total),
                   "DWARF lookup")
        t = int(total[0])
        frames = Frames(np.empty(t, np.uint32), np.empty(t, np.uint32), np.empty(t, np.uint32),
                        np.empty(t, np.uint32), np.empty(t, np.uint32), np.empty(t, np.uint8))
        cf = ffi.new("struct pd_frames *")
        cf.function = ffi.from_buffer("uint32_t[]", frames.function)
        cf.file = ffi.from_buffer("uint32_t[]", frames.file)
        cf.line = ffi.from_buffer("uint32_t[]", frames.line)
        cf.column = ffi.from_buffer("uint32_t[]", frames.column)
        cf.discriminator = ffi.from_buffer("uint32_t[]", frames.discriminator)
        cf.inlined = ffi.from_buffer("uint8_t[]", frames.inlined)
        _raise_for(lib.pd_index_fill(self._idx, n, ffi.from_buffer("uint64_t[]", offsets),
                                     ffi.from_buffer("uint64_t[]", scratch), cf),
                   "DWARF lookup")
        return counts, offsets, frames

    def frames(self, frames: Frames, start: int, count: int) -> list[Frame]:
        """Frames ``start : start+count`` of a batch as :class:`Frame` tuples."""
        out = []
        for k in range(start, start + count):
            out.append(Frame(self.string(int(frames.function[k])),
                             self.string(int(frames.file[k])) or UNKNOWN_FILE,
                             int(frames.line[k]), int(frames.column[k]),
                             bool(frames.inlined[k]), int(frames.discriminator[k])))
        return out

    def lookup(self, addr: int) -> list[Frame]:
        """The frames of one address, innermost first ([] without line info)."""
        if not isinstance(addr, int) or isinstance(addr, bool) or not 0 <= addr < 1 << 64:
            raise InvalidArgument("address must be an int in [0, 2**64)")
        counts, offsets, frames = self.lookup_many(np.array([addr], np.uint64))
        return self.frames(frames, int(offsets[0]), int(counts[0]))
