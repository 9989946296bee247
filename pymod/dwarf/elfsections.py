"""The debug sections of an ELF file, read in bounded memory.

The file is memory-mapped, never read whole: the Debian ``vmlinux`` with
its DWARF is 590 MB and the index builder only touches some of it.  A plain
section comes back as a ``memoryview`` of the mapping (no copy); a
compressed one is decompressed into memory of the size its header states
(capped); a relocatable object's section is copied and relocated
(:mod:`pymod.dwarf.relocate`).  Section headers are parsed by pymod's own
bounds-checked :class:`~pymod.elf.image.ElfImage`.

Every error names the file: a debug file is often one of a thousand.
"""

from __future__ import annotations

import errno
import mmap
import os
import stat
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

from pymod.dwarf.compressed import decompress_chdr, decompress_gnu
from pymod.dwarf.relocate import apply_rela, section_bases
from pymod.elf.constants import (
    ELFCLASS64,
    ELFDATA2LSB,
    ELFMAG,
    ET_REL,
    SHN_UNDEF,
    SHT_NOBITS,
    SHT_REL,
    SHT_RELA,
)
from pymod.elf.image import ElfImage, Section
from pymod.errors import PymodError

__all__ = ["DWARF_SECTIONS", "MAX_SECTION", "ElfDebugFile", "FunctionSymbol",
           "read_debug_sections"]

# What the C index reads (pymod/dwarf/native.py); any may be absent.
DWARF_SECTIONS = (".debug_info", ".debug_abbrev", ".debug_line", ".debug_str",
                  ".debug_line_str", ".debug_str_offsets", ".debug_rnglists",
                  ".debug_ranges", ".debug_addr", ".debug_aranges")
# The largest section decompressed (the 6.1 vmlinux's .debug_info is 160 MiB).
MAX_SECTION = 2 << 30
SHF_COMPRESSED = 0x800
SHT_NOTE = 7
STT_FUNC = 2
NT_GNU_BUILD_ID = 3


class FunctionSymbol(NamedTuple):
    """A function in the symbol table: its address as the debug info numbers
    it (section-relative in a ``.ko``), its size and its section's name."""

    address: int
    size: int
    section: str


def _map(path: str) -> mmap.mmap | bytes:
    # O_NONBLOCK: the open of a FIFO must not wait for a writer (it is then
    # refused as not a regular file); it changes nothing for a regular file.
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        raise PymodError(e.errno or errno.EIO, "%s: %s" % (path, e.strerror)) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise PymodError(errno.EINVAL, "%s: not a regular file" % path)
        if st.st_size == 0:
            return b""
        return mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
    finally:
        os.close(fd)


class ElfDebugFile:
    """One ELF file with (perhaps) DWARF: ``vmlinux``, a ``.ko``, a ``.debug``.

    ``bases`` gives sections of a relocatable object other addresses than
    their ``sh_addr`` (0), by section index; the debug info and
    :meth:`functions` then both use them.
    """

    def __init__(self, path: str | os.PathLike[str], *, max_section: int = MAX_SECTION,
                 bases: Mapping[int, int] | None = None):
        self.path = os.fspath(path)
        self.max_section = max_section
        self._map = _map(self.path)
        try:
            self.elf = ElfImage(self._map)
        except PymodError as e:
            raise PymodError(e.errno, "%s: %s" % (self.path, e.strerror)) from None
        ident = self.elf.e_ident
        if ident[:4] != ELFMAG or ident[4] != ELFCLASS64 or ident[5] != ELFDATA2LSB:
            raise PymodError(errno.ENOEXEC, "%s: not a 64-bit little-endian ELF file" % self.path)
        self.relocatable = self.elf.e_type == ET_REL
        self._sections = self._read_headers()
        self._bases = section_bases(self.elf, bases) if self.relocatable else None

    def _read_headers(self) -> list[Section]:
        try:
            return self.elf.sections
        except PymodError as e:
            raise PymodError(e.errno, "%s: %s" % (self.path, e.strerror)) from None

    def __enter__(self) -> ElfDebugFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Unmap the file, unless sections handed out still view it (then the
        mapping goes when the last of them does)."""
        if isinstance(self._map, mmap.mmap):
            try:
                self._map.close()
            except BufferError:
                pass

    def _where(self, s: Section) -> str:
        return "%s: section %s" % (self.path, s.name or "[%d]" % s.index)

    def _raw(self, s: Section) -> memoryview:
        try:
            return self.elf.data_of(s)
        except PymodError as e:
            raise PymodError(e.errno, "%s: %s" % (self.path, e.strerror)) from None

    def _find(self, name: str) -> Section | None:
        gnu = ".z" + name[1:]
        for s in self._sections:
            if s.type != SHT_NOBITS and (s.name == name or s.name == gnu):
                return s
        return None

    def _contents(self, s: Section) -> bytes | bytearray | memoryview:
        raw = self._raw(s)
        if s.flags & SHF_COMPRESSED:
            return decompress_chdr(self._where(s), raw, self.max_section)
        if s.name.startswith(".zdebug"):
            return decompress_gnu(self._where(s), raw, self.max_section)
        return raw

    def has_section(self, name: str) -> bool:
        """Whether section ``name`` (or its ``.zdebug`` form) has contents;
        reads nothing but the headers."""
        return self._find(name) is not None

    def section(self, name: str) -> bytes | bytearray | memoryview | None:
        """The contents of section ``name`` (``.zdebug_*`` counts as
        ``.debug_*``), decompressed and, in a relocatable object, relocated;
        None without one."""
        s = self._find(name)
        if s is None:
            return None
        data = self._contents(s)
        if not self.relocatable:
            return data
        relas = [r for r in self._sections if r.type in (SHT_RELA, SHT_REL) and r.info == s.index
                 and r.index != s.index]
        if not relas:
            return data
        out = data if isinstance(data, bytearray) else bytearray(data)
        for r in relas:
            if r.type == SHT_REL:
                raise PymodError(errno.ENOEXEC, "%s: SHT_REL relocations are not supported"
                                 % self._where(r))
            rela = self._contents(r)
            assert self._bases is not None
            try:
                apply_rela(self._where(r), self.elf, out, s.index, memoryview(rela), self._bases)
            except PymodError as e:
                if self.path in e.strerror:
                    raise
                # the symbol table's own faults (ElfImage's messages) name no file
                raise PymodError(e.errno, "%s: %s" % (self._where(r), e.strerror)) from None
        return out

    def sections(self, names: Iterable[str] = DWARF_SECTIONS
                 ) -> dict[str, bytes | bytearray | memoryview]:
        """``{name: contents}`` for each of ``names`` the file has."""
        found = {}
        for name in names:
            data = self.section(name)
            if data is not None:
                found[name] = data
        return found

    @property
    def build_id(self) -> str | None:
        """The ``NT_GNU_BUILD_ID`` note's bytes in hex (in ``.note.gnu.build-id``
        or, in ``vmlinux``, among ``.notes``), or None."""
        for s in self._sections:
            if s.type == SHT_NOTE:
                found = _build_id_in(self._raw(s))
                if found is not None:
                    return found
        return None

    def functions(self) -> dict[str, tuple[FunctionSymbol, ...]]:
        """Every defined ``STT_FUNC`` symbol: name -> its entries by address
        (static functions of one name may be several)."""
        try:
            syms = self.elf.symbols()
            name_of = self.elf.string_at
        except PymodError as e:
            raise PymodError(e.errno, "%s: %s" % (self.path, e.strerror)) from None
        return _function_table(syms, name_of, self._sections, self._bases)


def _build_id_in(note: memoryview) -> str | None:
    pos = 0
    while pos + 12 <= len(note):
        namesz, descsz, ntype = (int.from_bytes(note[pos + i:pos + i + 4], "little")
                                 for i in (0, 4, 8))
        name_end = pos + 12 + namesz
        desc = (name_end + 3) & ~3
        if desc + descsz > len(note):
            return None
        if ntype == NT_GNU_BUILD_ID and bytes(note[pos + 12:name_end]).rstrip(b"\0") == b"GNU":
            return bytes(note[desc:desc + descsz]).hex()
        pos = (desc + descsz + 3) & ~3
    return None


def _function_table(syms: Any, name_of: Callable[[int], str], sections: list[Section],
                    bases: Any) -> dict[str, tuple[FunctionSymbol, ...]]:
    import numpy as np

    pick = np.nonzero(((syms["st_info"] & 0xF) == STT_FUNC) & (syms["st_shndx"] != SHN_UNDEF))[0]
    value = syms["st_value"][pick]
    shndx = syms["st_shndx"][pick]
    if bases is not None:
        value = value + bases[shndx]
    table: dict[str, list[FunctionSymbol]] = {}
    for name, addr, size, sec in zip(syms["st_name"][pick].tolist(), value.tolist(),
                                  syms["st_size"][pick].tolist(), shndx.tolist(),
                                  strict=True):
        secname = sections[sec].name if sec < len(sections) else ""
        table.setdefault(name_of(name), []).append(FunctionSymbol(addr, size, secname))
    return {name: tuple(sorted(entries)) for name, entries in table.items()}


def read_debug_sections(path: str | os.PathLike[str], names: Iterable[str] = DWARF_SECTIONS,
                        *, max_section: int = MAX_SECTION
                        ) -> dict[str, bytes | bytearray | memoryview]:
    """The DWARF sections of ``path`` (see :meth:`ElfDebugFile.sections`)."""
    return ElfDebugFile(path, max_section=max_section).sections(names)
