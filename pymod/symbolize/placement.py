"""Module maps from modules: one loaded in a pymod Kernel, or a ``.ko`` file
placed at addresses captured from another machine.

Both keep what ``find_kallsyms_symbol`` may answer with: symbols after the
null one that are defined, named and not mapping symbols, from the full
table while the module initialises and the core table after.  Type letters
are the ones ``/proc/kallsyms`` prints: ``elf_type`` of the symbol, upper
case when the module exports it (``is_exported``, see
:func:`pymod.loader.kallsyms_text.printed_letters`).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from pymod.contract.internal import PAGE_SIZE, LoadInfo, MemType, Module
from pymod.contract.klog import KernelLog
from pymod.elf.constants import SHF_ALLOC, SHN_ABS, SHN_UNDEF
from pymod.elf.kofile import read_ko
from pymod.elf.ksymtab import exports
from pymod.errors import InvalidArgument, PymodError
from pymod.features.kallsyms import (
    Kallsyms,
    ModKallsyms,
    module_build_id,
    section_letters,
    symbol_letters,
)
from pymod.loader.elfcheck import (
    elf_validity_cache_copy,
    rewrite_section_headers,
    struct_module_name,
)
from pymod.loader.kallsyms_text import printed_letters, printed_types, uses_full_table
from pymod.loader.layout import layout_sections, prepare_layout_flags
from pymod.symbolize.eligible import make_table, mapping_mask, name_lengths
from pymod.symbolize.model import ModuleMap, SymbolTable
from pymod.symbolize.textparse import KSYM_NAME_LEN

__all__ = ["module_map", "module_table", "place_ko", "eligible", "LaidOut", "lay_out",
           "place_laid_out", "init_sections", "core_size", "KSYM_NAME_LEN"]


def eligible(symtab: NDArray[Any], strtab: bytes, st_name: NDArray[Any],
             idx: NDArray[np.int64]) -> NDArray[np.int64]:
    """The rows of ``idx`` that ``find_kallsyms_symbol`` considers."""
    idx = idx[idx != 0]
    names = st_name[idx]
    ok = (symtab["st_shndx"][idx] != SHN_UNDEF) & (name_lengths(strtab, names) > 0)
    ok &= ~mapping_mask(strtab, names)
    out: NDArray[np.int64] = idx[ok]
    return out


def module_table(addrs: NDArray[Any], strtab: bytes, offsets: NDArray[Any],
                 letters: bytes | NDArray[np.uint8]) -> SymbolTable:
    """``make_table`` for a module's symbols, names read from the module's
    ``strtab`` at ``offsets``: each name cut at ``KSYM_NAME_LEN - 1`` bytes,
    as every output of the kernel cuts it, and each distinct name copied
    once however many symbols share it.  So a table costs at most 512 bytes
    per distinct name, not the name's length per symbol (a 1 MB name shared
    by 1000 symbols of a 1.4 KB .ko.xz had asked for 7.45 GiB)."""
    off = np.asarray(offsets, dtype=np.int64)
    length = np.minimum(name_lengths(strtab, off), KSYM_NAME_LEN - 1)
    keys, inverse = np.unique(off * KSYM_NAME_LEN + length, return_inverse=True)
    distinct = make_table(np.arange(len(keys), dtype=np.uint64), strtab, keys // KSYM_NAME_LEN,
                          keys % KSYM_NAME_LEN, np.zeros(len(keys), dtype=np.uint8))
    a = np.asarray(addrs, dtype=np.uint64)
    order = np.argsort(a, kind="stable")       # equal addresses: the first one wins
    types = np.frombuffer(letters, dtype=np.uint8) if isinstance(letters, bytes) \
        else np.asarray(letters, dtype=np.uint8)
    return SymbolTable(addrs=a[order], names=distinct.names[inverse.reshape(-1)[order]],
                       strtab=distinct.strtab, types=types[order].tobytes())


def module_map(mod: Module) -> ModuleMap:
    """A loaded module as a :class:`~pymod.symbolize.model.ModuleMap`: its
    regions (text ones only without KALLSYMS_ALL, where the kernel answers
    nothing else), and the full or core symbol table per
    :func:`~pymod.loader.kallsyms_text.uses_full_table`."""
    ks: ModKallsyms | None = mod.kallsyms
    all_symbols = ks.all_symbols if ks is not None else True
    regions = tuple((r.base, r.size) for t, r in mod.mem.items()
                    if r.size and (all_symbols or t.is_text))
    text = mod.mem[MemType.TEXT]
    init = mod.mem[MemType.INIT_TEXT]
    if ks is None or ks.symtab is None:
        table = module_table(np.zeros(0), b"", np.zeros(0), b"")
        return ModuleMap(mod.name, regions, (text.base, text.size), (init.base, init.size),
                         table, None)
    rows = np.arange(len(ks.addrs), dtype=np.int64) if uses_full_table(mod) \
        else np.asarray(ks.core, dtype=np.int64)
    rows = eligible(ks.symtab, ks.strtab, ks.st_name, rows)
    letters = np.frombuffer(printed_types(mod, ks), dtype=np.uint8)
    table = module_table(ks.addrs[rows], ks.strtab, ks.st_name[rows], letters[rows])
    return ModuleMap(mod.name, regions, (text.base, text.size), (init.base, init.size),
                     table, ks.build_id)


class LaidOut(NamedTuple):
    """A module file laid out by the loader: the dossier and its module."""

    info: LoadInfo
    mod: Module


def lay_out(path: str | os.PathLike[str] | bytes, all_symbols: bool = True) -> LaidOut:
    """The loader's own layout of a module file (no kernel, no allocation)."""
    ko = read_ko(path)
    payload = bytes(ko.payload)
    info = LoadInfo(raw=payload, payload=payload, len=len(payload))
    elf_validity_cache_copy(info, 0, None, KernelLog())
    rewrite_section_headers(info)
    info.elf = ko.elf
    info.symtab = ko.elf.symbols()
    mod = Module(name=struct_module_name(info), id=0)
    mod.klp = info.get_modinfo("livepatch") is not None
    prepare_layout_flags(info)
    layout_sections(info, exit_is_init=False)
    Kallsyms(all_symbols).layout_symtab(mod, info)
    return LaidOut(info, mod)


def _captured(info: LoadInfo, sections: Mapping[str, int]) -> list[tuple[int, str]]:
    """``(section index, name)`` of the captured sections the layout places."""
    flags, sizes = info.shdrs["sh_flags"], info.shdrs["sh_size"]
    return [(i, info.secnames[i]) for i in sorted(info.placement)
            if info.secnames[i] in sections and sizes[i] and flags[i] & SHF_ALLOC]


def init_sections(laid: LaidOut, sections: Mapping[str, int]) -> list[str]:
    """The captured sections that live in init memory (``.init.*``, and the
    full ``.symtab``/``.strtab`` that kallsyms keeps there until init is
    done): sections/ lists them for the module's whole life, so once init
    memory is freed their addresses are stale."""
    info = laid.info
    return [name for i, name in _captured(info, sections) if info.placement[i][0].is_init]


def core_size(laid: LaidOut) -> int:
    """The page-rounded size of the core regions (``/proc/modules``' size
    once init memory is gone)."""
    return sum(-(-s // PAGE_SIZE) * PAGE_SIZE for m, s in laid.info.mem_size.items()
               if not m.is_init)


def _region_bases(info: LoadInfo, base: int | None, sections: Mapping[str, int] | None,
                  init: bool) -> dict[MemType, int]:
    """Each region's address: from the sections' captured addresses (every
    section of a region must agree), else the text region at ``base``.
    Init sections are read only with ``init``: after init their addresses
    are stale, and may lie in memory that other modules have since taken.
    The symbol tables kallsyms appends after the sections place their
    region only when no section does: where they start is not the same in
    every version (6.1 page-aligns the init layout before them)."""
    if sections is None:
        if base is None:
            raise InvalidArgument("place_ko: give base or sections")
        return {MemType.TEXT: base}
    tables = (info.index.sym, info.index.str)
    captured = _captured(info, sections)
    bases: dict[MemType, int] = {}
    for pass_tables in (False, True):
        found: dict[MemType, int] = {}
        for i, name in captured:
            mem, offset = info.placement[i]
            if (mem.is_init and not init) or (i in tables) != pass_tables or mem in bases:
                continue
            b = sections[name] - offset
            if b < 0:   # (a huge alignment can put a section 4 GiB into its region)
                raise PymodError(errno.EINVAL, "place_ko: section %s at %#x cannot lie %#x "
                                 "bytes into its %s region" % (name, sections[name], offset,
                                                              mem.kind))
            if found.setdefault(mem, b) != b:
                raise PymodError(errno.EINVAL, "place_ko: section %s at %#x does not fit the "
                                 "%s region at %#x" % (name, sections[name], mem.kind, found[mem]))
        bases.update(found)
    return bases


def place_ko(path: str | os.PathLike[str] | bytes, base: int | None = None,
             sections: Mapping[str, int] | None = None, init: bool = False,
             all_symbols: bool = True) -> ModuleMap:
    """A ``.ko`` file's symbols placed where a captured system has them.

    With ``sections`` (``section name -> address``, one module of
    :func:`~pymod.symbolize.readers.read_sections`) every region whose
    sections are listed is placed; else the text region is placed at
    ``base`` (``/proc/modules``' address) and the others, whose addresses
    are unknown, are left out (their addresses do not resolve).  Region
    sizes come from pymod's layout of the file, as the kernel computes them.
    Per-cpu symbols keep their offset in the per-cpu area, as in a module
    loaded in pymod.

    :init: the module is still initialising: init regions and the full
        table; without it the init sections
        (:func:`~pymod.symbolize.placement.init_sections`) are not read at all
    :all_symbols: CONFIG_KALLSYMS_ALL of the captured kernel
    """
    return place_laid_out(lay_out(path, all_symbols), base, sections, init, all_symbols)


def place_laid_out(laid: LaidOut, base: int | None = None,
                   sections: Mapping[str, int] | None = None, init: bool = False,
                   all_symbols: bool = True) -> ModuleMap:
    """:func:`place_ko` for a file already laid out (by :func:`lay_out`
    with the same ``all_symbols``)."""
    info, mod = laid
    bases = _region_bases(info, base, sections, init)
    size = {m: -(-s // PAGE_SIZE) * PAGE_SIZE for m, s in info.mem_size.items()}
    regions = tuple((bases[m], size[m]) for m in MemType
                    if m in bases and size.get(m) and (all_symbols or m.is_text))
    syms = info.symtab
    assert syms is not None
    nsec = len(info.shdrs)
    where = np.zeros(nsec + 1, dtype=np.uint64)
    known = np.zeros(nsec + 1, dtype=np.bool_)
    for i, (mem, offset) in info.placement.items():
        if mem in bases:
            # a pointer's sum, as the kernel's: it wraps at 2**64
            where[i], known[i] = (bases[mem] + offset) & 0xFFFFFFFFFFFFFFFF, True
    # per-cpu symbols: pymod keeps their offset in the per-cpu area (not modelled)
    known[info.index.pcpu] = info.index.pcpu != 0
    shndx = np.minimum(syms["st_shndx"].astype(np.int64), nsec)
    absolute = syms["st_shndx"] == SHN_ABS
    rows = np.arange(len(syms), dtype=np.int64) if init \
        else np.asarray(info.core_symbols, dtype=np.int64)
    rows = eligible(syms, info.strtab, syms["st_name"], rows)
    rows = rows[known[shndx[rows]] | absolute[rows]]
    addrs = where[shndx] + syms["st_value"].astype(np.uint64)
    assert info.elf is not None
    letters = printed_letters(syms, info.strtab, syms["st_name"],
                              symbol_letters(syms, section_letters(info), info.index.pcpu),
                              [e.name for e in exports(info.elf)])
    table = module_table(addrs[rows], info.strtab, syms["st_name"][rows],
                         np.frombuffer(letters, dtype=np.uint8)[rows])
    text, init_text = (MemType.TEXT, MemType.INIT_TEXT)
    return ModuleMap(mod.name, regions,
                     (bases.get(text, 0), size.get(text, 0) if text in bases else 0),
                     (bases.get(init_text, 0), size.get(init_text, 0) if init_text in bases else 0),
                     table, module_build_id(info))
