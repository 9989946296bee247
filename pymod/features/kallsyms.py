"""CONFIG_KALLSYMS: see :class:`pymod.contract.facades.Kallsyms`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pymod.contract.internal import LoadInfo, MemType, Module
from pymod.contract.sections import get_offset_and_type, kernel_align
from pymod.elf.constants import (
    ELF64_SYM_SIZE,
    SHF_ALLOC,
    SHF_EXECINSTR,
    SHF_WRITE,
    SHN_ABS,
    SHN_UNDEF,
    SHT_NOBITS,
    STB_WEAK,
)

if TYPE_CHECKING:
    from numpy.typing import NDArray

MOD_KALLSYMS_SIZE = 32     # struct mod_kallsyms on 64-bit
MOD_KALLSYMS_ALIGN = 8

SHT_NOTE = 7
SHN_LORESERVE = 0xFF00
STT_OBJECT = 1
NT_GNU_BUILD_ID = 3
BUILD_ID_SIZE_MAX = 20


@dataclass
class ModKallsyms:
    """A module's symbol table as kallsyms sees it.

    Every symbol is kept during init; ``core`` are the indices kept after.
    Names are decoded on demand: most are never asked for.

    :symtab: the ELF symbol rows (``st_info`` and ``st_shndx`` are read)
    :sec_letters: ``elf_type``'s letter for a symbol of each section, from
        the section headers as they were at ``add_kallsyms`` (computed on
        first use from ``sections``: most loads never print their symbols)
    :sections: ``(sh_flags, sh_type, names)`` as they were at ``add_kallsyms``
    :pcpu: the per-cpu section's index (its symbols are ``a``), 0 if none
    :build_id: the ``.note.gnu.build-id`` descriptor (``init_build_id``), or None
    :all_symbols: CONFIG_KALLSYMS_ALL (lookups answer in data regions too)
    :printed_types: the letters /proc/kallsyms prints (exported ones upper
        case), filled by :mod:`pymod.symbolize` on first use
    """

    strtab: bytes
    st_name: NDArray[Any]
    addrs: NDArray[Any]
    core: NDArray[np.integer[Any]]
    symtab: NDArray[Any] | None = None
    sec_letters: bytes = b""
    sections: tuple[NDArray[Any], NDArray[Any], list[str]] | None = None
    pcpu: int = 0
    build_id: bytes | None = None
    all_symbols: bool = True
    printed_types: bytes | None = None

    def name(self, i: int) -> str:
        start = int(self.st_name[i])
        end = self.strtab.find(b"\0", start)
        return self.strtab[start:end if end >= 0 else None].decode("utf-8", "surrogateescape")

    def types(self) -> bytes:
        """``elf_type`` of every symbol: the kernel's typetab (lower case but
        ``U``; /proc/kallsyms upper-cases the exported ones)."""
        if self.symtab is None:
            return b"?" * len(self.addrs)
        if not self.sec_letters and self.sections is not None:
            self.sec_letters = _section_letters(*self.sections)
        return symbol_letters(self.symtab, self.sec_letters, self.pcpu)


def section_letters(info: LoadInfo) -> bytes:
    """The section part of ``elf_type`` for each section (x86: no small-data
    sections, so never ``g`` or ``s``)."""
    return _section_letters(info.shdrs["sh_flags"], info.shdrs["sh_type"], info.secnames)


def _section_letters(flags: NDArray[Any], types: NDArray[Any], names: list[str]) -> bytes:
    nobits = types == SHT_NOBITS
    out = np.full(len(flags), ord("?"), dtype=np.uint8)
    other = (flags & SHF_ALLOC) == 0
    other &= ~nobits
    for i in np.flatnonzero(other).tolist():   # unallocated sections: few
        if names[i].startswith(".debug"):
            out[i] = ord("n")
    out[nobits] = ord("b")
    alloc = ((flags & SHF_ALLOC) != 0) & ~nobits
    out[alloc] = np.where((flags[alloc] & SHF_WRITE) != 0, ord("d"), ord("r"))
    out[(flags & SHF_EXECINSTR) != 0] = ord("t")
    return out.tobytes()


def symbol_letters(symtab: NDArray[Any], sec_letters: bytes, pcpu: int) -> bytes:
    """``elf_type`` for every row of ``symtab``: weak first (``v`` object,
    else ``w``), then undefined ``U``, absolute or per-cpu ``a``, another
    reserved index ``?``, else the section's letter."""
    shndx = symtab["st_shndx"].astype(np.int64)
    info = symtab["st_info"].astype(np.int64)
    table = np.frombuffer(sec_letters + b"?", dtype=np.uint8)
    letters = table[np.minimum(shndx, len(table) - 1)]
    letters = np.where(shndx >= SHN_LORESERVE, ord("?"), letters)
    special = (shndx == SHN_ABS) | ((shndx == pcpu) & (pcpu != 0))
    letters = np.where(special, ord("a"), letters)
    letters = np.where(shndx == SHN_UNDEF, ord("U"), letters)
    weak = (info >> 4) == STB_WEAK
    letters = np.where(weak, np.where((info & 0xF) == STT_OBJECT, ord("v"), ord("w")), letters)
    return letters.astype(np.uint8).tobytes()


def parse_build_id(note: bytes | memoryview) -> bytes | None:
    """The first GNU build-id descriptor (1..20 bytes) in a run of ELF notes
    (``namesz, descsz, type``, the name, the descriptor, each 4-aligned), as
    ``build_id_parse_buf`` finds it; None when there is none."""
    off, end = 0, len(note)
    while end - off > 12 + 4:
        namesz, descsz, ntype = (int.from_bytes(note[off + k:off + k + 4], "little")
                                 for k in (0, 4, 8))
        after = off + 12 + -(-namesz // 4) * 4 + -(-descsz // 4) * 4
        if after > end:
            break
        name = bytes(note[off + 12:off + 16])
        if (ntype == NT_GNU_BUILD_ID and namesz == 4 and name == b"GNU\0"
                and 0 < descsz <= BUILD_ID_SIZE_MAX):
            return bytes(note[off + 16:off + 16 + descsz])
        off = after
    return None


def module_build_id(info: LoadInfo) -> bytes | None:
    """``init_build_id``: the first non-empty SHF_ALLOC note section holding a
    build id (normally ``.note.gnu.build-id``)."""
    shdrs = info.shdrs
    for i in np.flatnonzero((shdrs["sh_type"] == SHT_NOTE) & (shdrs["sh_size"] != 0)
                            & ((shdrs["sh_flags"] & SHF_ALLOC) != 0)).tolist():
        start = int(shdrs[i]["sh_offset"])
        found = parse_build_id(info.payload[start:start + int(shdrs[i]["sh_size"])])
        if found is not None:
            return found
    return None


def _name_lengths(strtab: bytes, offsets: NDArray[np.int64]) -> NDArray[np.int64]:
    """strlen() of every string starting at ``offsets`` in ``strtab``.

    A name offset past the table (only in a corrupt file: 6.12 does not
    check st_name and would read out of bounds) counts as an empty name, so
    a bad symbol can never make a layout size negative."""
    buf = np.frombuffer(strtab, dtype=np.uint8)
    nuls = np.flatnonzero(buf == 0)
    if nuls.size == 0:
        ends = np.full(offsets.shape, len(strtab), dtype=np.int64)
    else:
        k = np.minimum(np.searchsorted(nuls, offsets), nuls.size - 1)
        ends = np.where(nuls[k] >= offsets, nuls[k], len(strtab)).astype(np.int64)
    lengths: NDArray[np.int64] = np.maximum(ends - offsets, 0)
    return lengths


class Kallsyms:
    def __init__(self, all_symbols: bool):
        self.all = all_symbols   # CONFIG_KALLSYMS_ALL: data symbols stay too

    def _core_mask(self, info: LoadInfo, livepatch: bool = False) -> NDArray[np.bool_]:
        """``is_core_symbol`` over the whole table (index 0 always kept; a
        livepatch module keeps every symbol)."""
        syms = info.syms
        if livepatch:
            return np.ones(len(syms), dtype=np.bool_)
        shnum = len(info.shdrs)
        flags = info.shdrs["sh_flags"]
        sec_ok = (flags & SHF_ALLOC) != 0
        if not self.all:
            sec_ok &= (flags & SHF_EXECINSTR) != 0
        for i, (mem, _) in info.placement.items():
            if mem.is_init:
                sec_ok[i] = False
        shndx = syms["st_shndx"].astype(np.int64)
        valid = (shndx != 0) & (shndx < shnum) & (syms["st_name"] != 0)
        keep: NDArray[np.bool_] = valid & sec_ok[np.minimum(shndx, shnum - 1)]
        if self.all and info.index.pcpu:
            keep |= valid & (shndx == info.index.pcpu)
        keep[:1] = True
        return keep

    def layout_symtab(self, mod: Module, info: LoadInfo) -> None:
        sym, strx = info.index.sym, info.index.str
        shdrs, symtab = info.shdrs, info.syms
        shdrs["sh_flags"][sym] |= np.uint64(SHF_ALLOC)
        get_offset_and_type(info, MemType.INIT_DATA, sym)
        keep = self._core_mask(info, mod.klp)
        info.core_symbols = np.flatnonzero(keep)
        ndst = int(keep.sum())
        offsets = symtab["st_name"][keep].astype(np.int64)
        strtab_size = int((_name_lengths(info.strtab, offsets) + 1).sum())
        # the sizes are unsigned ints: they wrap as the kernel's do
        symoffs = kernel_align(info.mem_size.get(MemType.DATA, 0),
                               int(shdrs[sym]["sh_addralign"]) or 1)
        info.mem_size[MemType.DATA] = (symoffs + ndst * ELF64_SYM_SIZE + strtab_size
                                       + ndst) & 0xFFFFFFFF
        shdrs["sh_flags"][strx] |= np.uint64(SHF_ALLOC)
        get_offset_and_type(info, MemType.INIT_DATA, strx)
        init = kernel_align(info.mem_size.get(MemType.INIT_DATA, 0), MOD_KALLSYMS_ALIGN)
        info.mem_size[MemType.INIT_DATA] = (init + MOD_KALLSYMS_SIZE + len(symtab)) & 0xFFFFFFFF

    def add_kallsyms(self, mod: Module, info: LoadInfo) -> None:
        # A copy, as the kernel copies the table into module memory: a view
        # would keep the whole file's image alive as long as the module.
        syms = info.syms.copy()
        nsec = len(info.shdrs)
        bases = np.zeros(nsec + 1, dtype=np.uint64)
        for i, (mem, offset) in info.placement.items():
            bases[i] = np.uint64(mod.mem[mem].base + offset)
        shndx = np.minimum(syms["st_shndx"].astype(np.int64), nsec)
        addrs = np.where(bases[shndx] != 0, bases[shndx] + syms["st_value"], syms["st_value"])
        core = info.core_symbols if info.core_symbols is not None else np.zeros(0, np.int64)
        mod.kallsyms = ModKallsyms(info.strtab, syms["st_name"], addrs, core, symtab=syms,
                                   sections=(info.shdrs["sh_flags"].copy(),
                                             info.shdrs["sh_type"].copy(), info.secnames),
                                   pcpu=info.index.pcpu,
                                   build_id=module_build_id(info), all_symbols=self.all)


class Stub:
    def layout_symtab(self, mod: Module, info: LoadInfo) -> None:
        pass

    def add_kallsyms(self, mod: Module, info: LoadInfo) -> None:
        pass
