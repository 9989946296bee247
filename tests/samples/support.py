"""Helpers shared by the sample tests: reading a built ``.ko`` back.

Structure is read two independent ways: through pymod's own readers
(``pymod.elf.kofile``/``pymod.elf.ksymtab``) and through pyelftools
(relocations, section flags), so a builder bug cannot hide behind a matching
reader bug.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from elftools.elf.descriptions import describe_reloc_type
from elftools.elf.elffile import ELFFile

from pymod.elf.kofile import read_ko
from pymod.elf.ksymtab import exports, undefined_symbols, versions

needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None or shutil.which("ld") is None,
                               reason="gcc/binutils not installed: cannot build the samples")


def pyelf(path: Path) -> ELFFile:
    """The module read by pyelftools (the independent reader)."""
    return ELFFile(io.BytesIO(path.read_bytes()))


def relocations(elf: ELFFile, name: str) -> list[tuple[int, str, str]]:
    """(offset, type name, symbol name) of one relocation section."""
    sec = elf.get_section_by_name(name)
    if sec is None:
        return []
    symtab = elf.get_section(sec["sh_link"])
    return [(r["r_offset"], describe_reloc_type(r["r_info_type"], elf),
             symtab.get_symbol(r["r_info_sym"]).name) for r in sec.iter_relocations()]


def modinfo_of(path: Path) -> dict[str, list[str]]:
    """``.modinfo`` as key -> values, in order."""
    out: dict[str, list[str]] = {}
    for key, value in read_ko(path).elf.modinfo():
        out.setdefault(key, []).append(value)
    return out


def symbol_named(elf: ELFFile, name: str):
    """The first ``.symtab`` symbol called ``name``, or None."""
    found = elf.get_section_by_name(".symtab").get_symbol_by_name(name)
    return found[0] if found else None


def shape_of(path: Path) -> dict:
    """What must agree between a prebuilt copy and a fresh build."""
    ko = read_ko(path)
    return {
        "sections": [(s.name, s.type, s.flags) for s in ko.elf.sections],
        "this_module": ko.elf.section(".gnu.linkonce.this_module").size,
        "modinfo": ko.elf.modinfo(),
        "exports": sorted((e.name, e.gpl, e.namespace, e.crc) for e in exports(ko.elf)),
        "versions": sorted(versions(ko.elf)),
        "undefined": sorted(undefined_symbols(ko.elf)),
    }
