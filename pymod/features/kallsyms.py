"""CONFIG_KALLSYMS: see :class:`pymod.loader.facades.Kallsyms`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pymod.elf.constants import ELF64_SYM_SIZE, SHF_ALLOC, SHF_EXECINSTR
from pymod.loader.internal import LoadInfo, MemType, Module

if TYPE_CHECKING:
    from numpy.typing import NDArray

MOD_KALLSYMS_SIZE = 32     # struct mod_kallsyms on 64-bit
MOD_KALLSYMS_ALIGN = 8


@dataclass
class ModKallsyms:
    """A module's symbol table as kallsyms sees it.

    Every symbol is kept during init; ``core`` are the indices kept after.
    Names are decoded on demand: most are never asked for.
    """

    strtab: bytes
    st_name: NDArray[Any]
    addrs: NDArray[Any]
    core: NDArray[np.integer[Any]]

    def name(self, i: int) -> str:
        start = int(self.st_name[i])
        end = self.strtab.find(b"\0", start)
        return self.strtab[start:end if end >= 0 else None].decode("utf-8", "surrogateescape")


def _symtab(info: LoadInfo) -> NDArray[Any]:
    """``info.symtab`` once the ELF checks have read it (as ``info.shdrs``)."""
    if info.symtab is None:
        raise RuntimeError("the symbol table is read by elf_validity_cache_copy first")
    return info.symtab


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

    def _core_mask(self, info: LoadInfo) -> NDArray[np.bool_]:
        """``is_core_symbol`` over the whole table (index 0 always kept)."""
        syms = _symtab(info)
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
        from pymod.loader.layout import get_offset_and_type

        sym, strx = info.index.sym, info.index.str
        shdrs, symtab = info.shdrs, _symtab(info)
        shdrs["sh_flags"][sym] |= np.uint64(SHF_ALLOC)
        get_offset_and_type(info, MemType.INIT_DATA, sym)
        keep = self._core_mask(info)
        info.core_symbols = np.flatnonzero(keep)
        ndst = int(keep.sum())
        offsets = symtab["st_name"][keep].astype(np.int64)
        strtab_size = int((_name_lengths(info.strtab, offsets) + 1).sum())
        align = int(shdrs[sym]["sh_addralign"]) or 1
        data = info.mem_size.get(MemType.DATA, 0)
        symoffs = -(-data // align) * align
        info.mem_size[MemType.DATA] = symoffs + ndst * ELF64_SYM_SIZE + strtab_size + ndst
        shdrs["sh_flags"][strx] |= np.uint64(SHF_ALLOC)
        get_offset_and_type(info, MemType.INIT_DATA, strx)
        init = info.mem_size.get(MemType.INIT_DATA, 0)
        init = -(-init // MOD_KALLSYMS_ALIGN) * MOD_KALLSYMS_ALIGN
        info.mem_size[MemType.INIT_DATA] = init + MOD_KALLSYMS_SIZE + len(symtab)

    def add_kallsyms(self, mod: Module, info: LoadInfo) -> None:
        syms = _symtab(info)
        nsec = len(info.shdrs)
        bases = np.zeros(nsec + 1, dtype=np.uint64)
        for i, (mem, offset) in info.placement.items():
            bases[i] = np.uint64(mod.mem[mem].base + offset)
        shndx = np.minimum(syms["st_shndx"].astype(np.int64), nsec)
        addrs = np.where(bases[shndx] != 0, bases[shndx] + syms["st_value"], syms["st_value"])
        core = info.core_symbols if info.core_symbols is not None else np.zeros(0, np.int64)
        mod.kallsyms = ModKallsyms(info.strtab, syms["st_name"], addrs, core)


class Stub:
    def layout_symtab(self, mod: Module, info: LoadInfo) -> None:
        pass

    def add_kallsyms(self, mod: Module, info: LoadInfo) -> None:
        pass
