"""A module's symbol interface: what it exports, what it needs, which CRCs it expects.

Layouts (Linux 6.x, x86-64 relocatable modules):

* ``__ksymtab`` / ``__ksymtab_gpl``: 12-byte ``struct kernel_symbol`` entries
  ``{int value_offset, name_offset, namespace_offset}``.  In a ``.ko`` these
  words are still zero; their targets live in ``.rela__ksymtab*`` as PC32
  relocations (symbol + addend).  Names and namespaces point into
  ``__ksymtab_strings`` (an empty string means no namespace).
* ``__kcrctab*``: the CRC of export ``foo`` is the u32 at the LOCAL symbol
  ``__crc_foo``.
* ``__versions``: 64-byte ``{unsigned long crc; char name[56]}`` entries.
"""

from __future__ import annotations

import errno
import re
import struct
from collections.abc import Callable
from typing import NamedTuple

from pymod.elf.constants import (
    KSYM_ENTRY_SIZE,
    MODVERSION_ENTRY_SIZE,
    SHN_UNDEF,
    SHT_NOBITS,
    SHT_RELA,
    STB_WEAK,
)
from pymod.elf.image import ElfImage, Section
from pymod.elf.strings import c_string, string_reader
from pymod.errors import PymodError

__all__ = ["Export", "exports", "undefined_symbols", "versions",
           "KSYM_ENTRY_SIZE", "MODVERSION_ENTRY_SIZE"]

_RELA = struct.Struct("<QQq")  # Elf64_Rela: r_offset, r_info, r_addend
_VERSION = struct.Struct("<Q56s")
_CRC_U32 = struct.Struct("<I")
# Every place a name starting "__crc_" can begin, overlapping ones included
# ("__crc___crc_x" names two).
_CRC_PREFIX = re.compile(b"(?=__crc_)")


class Export(NamedTuple):
    """One exported symbol; ``section``/``offset`` locate its definition in the module."""

    name: str
    namespace: str
    gpl: bool
    crc: int | None
    section: int = 0
    offset: int = 0


def _enoexec(message: str) -> PymodError:
    return PymodError(errno.ENOEXEC, message)


def _relocations_for(elf: ElfImage, target: Section) -> dict[int, tuple[int, int]]:
    """``r_offset -> (symbol index, addend)`` for every RELA section applying to ``target``."""
    out: dict[int, tuple[int, int]] = {}
    for s in elf.sections:
        if s.type == SHT_RELA and s.info == target.index:
            raw = elf.data_of(s)
            for off, info, addend in _RELA.iter_unpack(raw[:len(raw) - len(raw) % _RELA.size]):
                out[off] = (info >> 32, addend)
    return out


class _Resolver:
    """Turns (symbol index, addend) into (section index, offset within it)."""

    def __init__(self, elf: ElfImage):
        syms = elf.symbols()
        self.shndx = syms["st_shndx"].tolist()
        self.value = syms["st_value"].tolist()

    def target(self, sym: int, addend: int, what: str) -> tuple[int, int]:
        if sym >= len(self.shndx):
            raise _enoexec("%s relocation names symbol %d of %d" % (what, sym, len(self.shndx)))
        return self.shndx[sym], self.value[sym] + addend


def _string_at(strings: Section | None, read: Callable[[int], str], shndx: int, offset: int,
               what: str) -> str:
    if strings is None or shndx != strings.index:
        raise _enoexec("%s does not point into __ksymtab_strings" % what)
    return read(offset)


def _crcs(elf: ElfImage) -> dict[str, int]:
    sym = elf.symtab_section
    if sym is None:
        return {}
    # Only the __crc_ symbols' names are decoded: find where such names
    # start in the string table, then the symbols pointing there.
    starts = {m.start() for m in _CRC_PREFIX.finditer(elf.strtab)}
    if not starts:
        return {}
    syms = elf.symbols()
    st_name = syms["st_name"].tolist()
    shndx = syms["st_shndx"].tolist()
    value = syms["st_value"].tolist()
    out: dict[str, int] = {}
    cache: dict[int, bytes] = {}
    for i, off in enumerate(st_name):
        if off not in starts:
            continue
        name = elf.string_at(off)
        idx = shndx[i]
        if idx == 0 or idx >= len(elf.sections):
            continue          # an undefined __crc_ name (an import) holds no CRC
        if idx not in cache:
            sec = elf.sections[idx]
            cache[idx] = b"" if sec.type == SHT_NOBITS else elf.bytes_of(sec)
        buf = cache[idx]
        if value[i] + 4 > len(buf):
            raise _enoexec("%s lies outside its section" % name)
        out[name[6:]] = _CRC_U32.unpack_from(buf, value[i])[0]
    return out


def exports(elf: ElfImage) -> list[Export]:
    """Exports of ``__ksymtab`` then ``__ksymtab_gpl``, each in table order."""
    tables = [(s, s.name == "__ksymtab_gpl") for s in elf.sections
              if s.name in ("__ksymtab", "__ksymtab_gpl") and s.type != SHT_NOBITS]
    if not tables:
        return []
    tables.sort(key=lambda t: t[1])
    strings = elf.section("__ksymtab_strings")
    has_entries = any(sec.size >= KSYM_ENTRY_SIZE for sec, _ in tables)
    read = string_reader(elf.bytes_of(strings) if strings is not None and has_entries else b"")
    resolver = _Resolver(elf)
    crcs = _crcs(elf)
    out: list[Export] = []
    for sec, gpl in tables:
        rel = _relocations_for(elf, sec)
        for base in range(0, sec.size - sec.size % KSYM_ENTRY_SIZE, KSYM_ENTRY_SIZE):
            fields = []
            for k, what in ((0, "value"), (4, "name"), (8, "namespace")):
                r = rel.get(base + k)
                if r is None:
                    raise _enoexec("%s entry %d has no %s relocation"
                                   % (sec.name, base // KSYM_ENTRY_SIZE, what))
                fields.append(resolver.target(r[0], r[1], "%s %s" % (sec.name, what)))
            name = _string_at(strings, read, *fields[1], "%s name" % sec.name)
            ns = _string_at(strings, read, *fields[2], "%s namespace of %s" % (sec.name, name))
            out.append(Export(name, ns, gpl, crcs.get(name), fields[0][0], fields[0][1]))
    return out


def undefined_symbols(elf: ElfImage) -> list[tuple[str, bool]]:
    """``(name, weak)`` for every SHN_UNDEF symbol after the null entry, in table order."""
    import numpy as np

    syms = elf.symbols()
    if len(syms) <= 1:
        return []
    idx = np.flatnonzero(syms["st_shndx"][1:] == SHN_UNDEF) + 1
    name_of = elf.string_at
    return [(name_of(n), b >> 4 == STB_WEAK) for n, b in
            zip(syms["st_name"][idx].tolist(), syms["st_info"][idx].tolist(), strict=True)]


def versions(elf: ElfImage) -> list[tuple[int, str]]:
    """``(crc, name)`` from ``__versions`` in file order; the crc is the raw
    ``unsigned long`` (the kernel compares the low 32 bits)."""
    sec = elf.section("__versions")
    if sec is None or sec.type == SHT_NOBITS:
        return []
    raw = elf.bytes_of(sec)
    return [(crc, c_string(name, 0)) for crc, name in
            _VERSION.iter_unpack(raw[:len(raw) - len(raw) % MODVERSION_ENTRY_SIZE])]
