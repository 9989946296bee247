"""The one Python reader of the ELF64 little-endian format: the header, the
section header table and the symbol table, as raw fields.

It judges nothing but bounds: a field holds whatever the file holds, and
only a read that would leave the buffer is refused
(:class:`~pymod.errors.PymodError`, ENOEXEC).  The rules on top are its
callers': :class:`~pymod.elf.image.ElfImage` is lenient (a section name it
cannot read is ""), and the loader (:mod:`pymod.loader.elfcheck`) applies
the kernel's checks, in the kernel's order and with the kernel's messages,
*before* it asks for a table, so that these bounds never speak for the
kernel.  Strings in a table are read by :mod:`pymod.elf.strings`.

Each record is described once, as ``(field, numpy type)`` pairs; its
``struct`` form (tuples, no numpy: what ``pymod info`` needs) and its
numpy dtype (whole tables as arrays: what the loader needs) are both made
from that description.  numpy is imported on the first array read.

The other reader of the format is the C scanner behind ``pymod deps``
(``csrc/kscan/``, :mod:`pymod.elf.kscan`), kept in C for speed over whole
trees; ``tests/elf/test_one_parser.py`` checks that both read the same names.
"""

from __future__ import annotations

import errno
import struct
from typing import TYPE_CHECKING, Any, NamedTuple

from pymod.errors import PymodError

if TYPE_CHECKING:
    import mmap

    import numpy as np

__all__ = ["EHDR", "EHDR_FIELDS", "SHDR", "SHDR_FIELDS", "SYM_FIELDS", "Ehdr", "read_ehdr",
           "read_section_headers", "section_header_array", "shdr_dtype", "sym_dtype",
           "symbol_array"]

#: ``Elf64_Ehdr``, field by field (``e_ident`` is the 16 identification bytes).
EHDR_FIELDS = [
    ("e_ident", "S16"), ("e_type", "<u2"), ("e_machine", "<u2"), ("e_version", "<u4"),
    ("e_entry", "<u8"), ("e_phoff", "<u8"), ("e_shoff", "<u8"), ("e_flags", "<u4"),
    ("e_ehsize", "<u2"), ("e_phentsize", "<u2"), ("e_phnum", "<u2"),
    ("e_shentsize", "<u2"), ("e_shnum", "<u2"), ("e_shstrndx", "<u2"),
]
#: ``Elf64_Shdr``, field by field.
SHDR_FIELDS = [
    ("sh_name", "<u4"), ("sh_type", "<u4"), ("sh_flags", "<u8"), ("sh_addr", "<u8"),
    ("sh_offset", "<u8"), ("sh_size", "<u8"), ("sh_link", "<u4"), ("sh_info", "<u4"),
    ("sh_addralign", "<u8"), ("sh_entsize", "<u8"),
]
#: ``Elf64_Sym``, field by field.
SYM_FIELDS = [
    ("st_name", "<u4"), ("st_info", "u1"), ("st_other", "u1"),
    ("st_shndx", "<u2"), ("st_value", "<u8"), ("st_size", "<u8"),
]

_STRUCT_CODES = {"S16": "16s", "u1": "B", "<u2": "H", "<u4": "I", "<u8": "Q"}


def _struct(fields: list[tuple[str, str]]) -> struct.Struct:
    return struct.Struct("<" + "".join(_STRUCT_CODES[code] for _name, code in fields))


#: The ``struct`` forms of ``Elf64_Ehdr`` and ``Elf64_Shdr`` (64 bytes each).
EHDR = _struct(EHDR_FIELDS)
SHDR = _struct(SHDR_FIELDS)


class Ehdr(NamedTuple):
    """The ELF64 header's fields (``Elf64_Ehdr``), as the file holds them."""

    e_ident: bytes
    e_type: int
    e_machine: int
    e_version: int
    e_entry: int
    e_phoff: int
    e_shoff: int
    e_flags: int
    e_ehsize: int
    e_phentsize: int
    e_phnum: int
    e_shentsize: int
    e_shnum: int
    e_shstrndx: int


_DTYPES: dict[str, np.dtype[Any]] = {}


def _dtype(name: str, fields: list[tuple[str, str]]) -> np.dtype[Any]:
    # Built on first use: importing numpy costs more than `pymod info` needs.
    dtype = _DTYPES.get(name)
    if dtype is None:
        import numpy as np

        dtype = _DTYPES[name] = np.dtype(fields)
    return dtype


def sym_dtype() -> np.dtype[Any]:
    """numpy dtype of an ``Elf64_Sym``."""
    return _dtype("sym", SYM_FIELDS)


def shdr_dtype() -> np.dtype[Any]:
    """numpy dtype of an ``Elf64_Shdr``."""
    return _dtype("shdr", SHDR_FIELDS)


def _check_table(what: str, offset: int, count: int, entsize: int, end: int) -> None:
    if offset + count * entsize > end:
        raise PymodError(errno.ENOEXEC, "%s (offset %#x, %d entries) runs past the end of the "
                         "%d-byte image" % (what, offset, count, end))


def read_ehdr(buf: bytes | bytearray | memoryview | mmap.mmap) -> Ehdr:
    """The header at the start of ``buf``; ENOEXEC when ``buf`` is shorter."""
    if len(buf) < EHDR.size:
        raise PymodError(errno.ENOEXEC, "image of %d bytes is shorter than an ELF64 header "
                         "(%d)" % (len(buf), EHDR.size))
    return Ehdr._make(EHDR.unpack_from(buf))


def read_section_headers(buf: bytes | bytearray | memoryview | mmap.mmap, shoff: int,
                         shnum: int) -> list[tuple[int, ...]]:
    """``shnum`` raw ``Elf64_Shdr`` field tuples at ``shoff`` (``sh_name``
    first, in :data:`SHDR_FIELDS` order), without numpy."""
    _check_table("section header table", shoff, shnum, SHDR.size, len(buf))
    return list(SHDR.iter_unpack(memoryview(buf)[shoff:shoff + shnum * SHDR.size]))


def section_header_array(buf: bytes | bytearray | memoryview | mmap.mmap, shoff: int, shnum: int,
                         end: int | None = None) -> np.ndarray[Any, np.dtype[Any]]:
    """``shnum`` section headers at ``shoff`` as a private, writable array of
    :func:`shdr_dtype` (the loader edits flags in place); the table must end
    by ``end`` (default: the end of ``buf``)."""
    import numpy as np

    limit = len(buf) if end is None else min(end, len(buf))
    _check_table("section header table", shoff, shnum, SHDR.size, limit)
    table: np.ndarray[Any, np.dtype[Any]] = np.frombuffer(buf, dtype=shdr_dtype(), count=shnum,
                                                          offset=shoff).copy()
    return table


def symbol_array(buf: bytes | bytearray | memoryview | mmap.mmap, offset: int = 0,
                 size: int | None = None) -> np.ndarray[Any, np.dtype[Any]]:
    """The ``Elf64_Sym`` entries of ``buf[offset:offset + size]`` (to the end
    when ``size`` is None), a read-only view of :func:`sym_dtype`.  There
    are ``size // 24`` of them: a partial last entry is none, as the kernel
    counts."""
    import numpy as np

    entsize = sym_dtype().itemsize
    count = (max(len(buf) - offset, 0) if size is None else size) // entsize
    _check_table("symbol table", offset, count, entsize, len(buf))
    return np.frombuffer(buf, dtype=sym_dtype(), count=count, offset=offset)
