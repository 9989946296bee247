"""A lenient, bounds-checked ELF64 view of a module image.

It reads whatever can be read safely and refuses (:class:`~pymod.errors.PymodError`,
ENOEXEC) only what it cannot read without going out of bounds.  It does not
apply the kernel's validity rules: the loader does, in the kernel's order and
with the kernel's messages, on the raw header fields exposed here.  Nothing
copies the image: sections are views.  numpy is imported only when a symbol
table is read, so tools that never need one start faster.  The records
themselves are read by :mod:`pymod.elf.headers`, the one Python reader of
the format; what is lenient here is this view's own rule on top of it.
"""

from __future__ import annotations

import copy
import errno
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any, NamedTuple

from pymod.elf.constants import ELF64_SHDR_SIZE, SHT_NOBITS, SHT_SYMTAB
from pymod.elf.headers import read_ehdr, read_section_headers, sym_dtype, symbol_array
from pymod.elf.modinfo_section import ModinfoPairs, kmod_modinfo
from pymod.elf.strings import string_reader
from pymod.errors import PymodError

if TYPE_CHECKING:
    import mmap

    import numpy as np

__all__ = ["Section", "ElfImage"]

def _enoexec(message: str) -> PymodError:
    return PymodError(errno.ENOEXEC, message)


class Section(NamedTuple):
    # The field shadows tuple.index(), which mypy reports; the name is public API
    # (Section.index, _replace(index=...)) and no caller uses tuple.index() on it.
    index: int  # type: ignore[assignment]
    name: str
    type: int
    flags: int
    addr: int
    offset: int
    size: int
    link: int
    info: int
    addralign: int
    entsize: int


class ElfImage:
    """A lenient, bounds-checked view of an ELF64 little-endian relocatable image.

    The header is read at construction (a buffer shorter than an ELF header
    raises ``PymodError`` ENOEXEC).  Section headers, symbols and strings are
    read on first use; whatever would read outside the buffer raises
    ``PymodError`` ENOEXEC naming what was out of bounds.  Section names that
    cannot be resolved (bad ``e_shstrndx``, ``sh_name`` out of range) read as "".
    No kernel validity rule (magic, type, machine...) is enforced here.
    """

    def __init__(self, payload: bytes | bytearray | memoryview | mmap.mmap):
        # bytes are kept as they are; anything else is viewed, never copied.
        self.data = payload if isinstance(payload, bytes) else memoryview(payload).cast("B")
        self.hdr = read_ehdr(self.data)
        (self.e_ident, self.e_type, self.e_machine, self.e_version, self.e_entry,
         self.e_phoff, self.e_shoff, self.e_flags, self.e_ehsize, self.e_phentsize,
         self.e_phnum, self.e_shentsize, self.e_shnum, self.e_shstrndx) = self.hdr
        self._by_name: dict[str, Section] | None = None

    def __len__(self) -> int:
        return len(self.data)

    @cached_property
    def headers(self) -> list[tuple[int, ...]]:
        """The raw ``Elf64_Shdr`` field tuples (``sh_name`` first), in table order."""
        if self.e_shnum == 0:
            return []
        if self.e_shentsize != ELF64_SHDR_SIZE:
            raise _enoexec("e_shentsize is %d, not %d: cannot read section headers"
                           % (self.e_shentsize, ELF64_SHDR_SIZE))
        return read_section_headers(self.data, self.e_shoff, self.e_shnum)

    @cached_property
    def sections(self) -> list[Section]:
        """Every section, named through ``e_shstrndx`` ("" where that cannot be read)."""
        raw = self.headers
        names = b""
        if self.e_shstrndx < len(raw):
            s = raw[self.e_shstrndx]
            if s[1] != SHT_NOBITS and s[4] + s[5] <= len(self.data):
                names = bytes(self.data[s[4]:s[4] + s[5]])
        name_of = string_reader(names)
        make = tuple.__new__  # what Section._make does, without a call per field
        return [make(Section, (i, name_of(r[0]), *r[1:])) for i, r in enumerate(raw)]

    def section(self, name: str) -> Section | None:
        """The first section called ``name``, or None."""
        if self._by_name is None:
            by_name: dict[str, Section] = {}
            for s in self.sections:
                by_name.setdefault(s.name, s)
            self._by_name = by_name
        return self._by_name.get(name)

    def data_of(self, section: Section) -> memoryview:
        """The file bytes of ``section`` (empty for SHT_NOBITS); bounds-checked."""
        if section.type == SHT_NOBITS:
            return memoryview(b"")
        end = section.offset + section.size
        if end > len(self.data):
            raise _enoexec("section %d (%s) at offset %#x size %#x runs past the end of "
                           "the %d-byte image" % (section.index, section.name or "?",
                                                  section.offset, section.size, len(self.data)))
        return memoryview(self.data)[section.offset:end]

    def bytes_of(self, section: Section) -> bytes:
        return bytes(self.data_of(section))

    @cached_property
    def symtab_section(self) -> Section | None:
        for s in self.sections:
            if s.type == SHT_SYMTAB:
                return s
        return None

    @cached_property
    def _strtab(self) -> bytes:
        sym = self.symtab_section
        if sym is None:
            return b""
        if sym.link >= len(self.sections):
            raise _enoexec("symbol table's sh_link %d is not a section" % sym.link)
        return self.bytes_of(self.sections[sym.link])

    def symbols(self) -> np.ndarray[Any, np.dtype[Any]]:
        """The SHT_SYMTAB entries as a structured array (``SYM_DTYPE``); empty if none."""
        return self._symbols

    @cached_property
    def _symbols(self) -> np.ndarray[Any, np.dtype[Any]]:
        import numpy as np

        sym = self.symtab_section
        if sym is None:
            return np.zeros(0, dtype=sym_dtype())
        return symbol_array(self.data_of(sym))

    @property
    def strtab(self) -> bytes:
        """The symbol table's string table (b"" without a symbol table)."""
        return self._strtab

    def with_strtab(self, strtab: bytes) -> ElfImage:
        """This image, its symbol names read from ``strtab`` instead: the
        loader's view, where the kernel reads names past the string table's
        ``sh_size`` (:func:`pymod.loader.kbuf.kernel_strtab`).  Everything
        else already read is shared, not read again."""
        other = copy.copy(self)
        other.__dict__.pop("string_at", None)
        other.__dict__["_strtab"] = strtab
        return other

    def symbol_name(self, i: int) -> str:
        return self.string_at(int(self._symbols["st_name"][i]))

    @cached_property
    def string_at(self) -> Callable[[int], str]:
        """``string_at(st_name)``: a name in :attr:`strtab`, as
        :func:`~pymod.elf.strings.c_string` reads it."""
        return string_reader(self._strtab)

    def modinfo(self) -> ModinfoPairs:
        """``.modinfo`` as ``(key, value)`` pairs in file order, by kmod's rule
        (:func:`pymod.elf.modinfo_section.kmod_modinfo`); no ``.modinfo`` gives []."""
        return list(self._modinfo)

    @cached_property
    def _modinfo(self) -> tuple[tuple[str, str], ...]:
        # Parsed once: a whole-tree load asks for it from several stages.
        sec = self.section(".modinfo")
        if sec is None:
            return ()
        return tuple(kmod_modinfo(self.data_of(sec)))
