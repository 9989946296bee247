"""Layout: where each section goes in module memory (``layout_sections``).

Core pass, then init pass; the first matching mask wins.  Results go into
the dossier (``info.mem_size`` per memory type, ``info.placement`` per
section); :mod:`pymod.loader.memory` then allocates the regions.
"""

from __future__ import annotations

import numpy as np

from pymod.elf.constants import SHF_ALLOC, SHF_EXECINSTR, SHF_RO_AFTER_INIT, SHF_WRITE
from pymod.loader.elfcheck import find_sec
from pymod.loader.internal import LoadInfo, MemType

# layout_sections(): (required flags, forbidden flags) -> core / init type.
# ARCH_SHF_SMALL is 0 on x86, so its rows collapse into the ones above.
_LAYOUT_MASKS = (
    (SHF_EXECINSTR | SHF_ALLOC, 0, MemType.TEXT, MemType.INIT_TEXT),
    (SHF_ALLOC, SHF_WRITE, MemType.RODATA, MemType.INIT_RODATA),
    (SHF_RO_AFTER_INIT | SHF_ALLOC, 0, MemType.RO_AFTER_INIT, None),
    (SHF_WRITE | SHF_ALLOC, 0, MemType.DATA, MemType.INIT_DATA),
)


def prepare_layout_flags(info: LoadInfo) -> None:
    """Per-cpu data is allocated separately; ro_after_init sections are marked."""
    flags = info.shdrs["sh_flags"]
    flags[info.index.pcpu] &= ~np.uint64(SHF_ALLOC)
    for name in (".data..ro_after_init", "__jump_table"):
        ndx = find_sec(info, name)
        if ndx:
            flags[ndx] |= np.uint64(SHF_RO_AFTER_INIT)


def get_offset_and_type(info: LoadInfo, mem: MemType, index: int) -> None:
    """``module_get_offset_and_type``: place section ``index`` at the end of ``mem``."""
    _place(info, mem, index, int(info.shdrs[index]["sh_addralign"]),
           int(info.shdrs[index]["sh_size"]))


_U32 = 0xFFFFFFFF


def kernel_align(x: int, align: int) -> int:
    """``ALIGN(x, align)`` for ``x`` an ``unsigned int`` (a region's size in
    ``struct module_memory``): the mask works in ``x``'s type, so the
    alignment is cut to 32 bits and the sum wraps; 2^32 aligns everything
    to 0, and an alignment that is no power of two rounds as its mask
    says, not to a multiple."""
    mask = ((align & _U32) - 1) & _U32
    return (x + mask) & ~mask & _U32


def _place(info: LoadInfo, mem: MemType, index: int, align: int, size: int) -> None:
    """``module_get_offset_and_type``: the region's size is an ``unsigned
    int``, so what does not fit 32 bits wraps, as in the kernel."""
    end = info.mem_size.get(mem, 0)
    offset = kernel_align(end, align or 1)
    info.mem_size[mem] = (offset + size) & _U32
    info.placement[index] = (mem, offset)


def layout_sections(info: LoadInfo, exit_is_init: bool) -> None:
    """Core pass, then init pass; first matching mask wins (``layout_sections``)."""
    flags = info.shdrs["sh_flags"].tolist()
    aligns = info.shdrs["sh_addralign"].tolist()
    sizes = info.shdrs["sh_size"].tolist()
    names = info.secnames
    is_init = [n.startswith(".init") or (exit_is_init and n.startswith(".exit"))
               for n in names]
    placement = info.placement
    for init_pass in (False, True):
        for need, forbid, core_type, init_type in _LAYOUT_MASKS:
            mem = init_type if init_pass else core_type
            for i, f in enumerate(flags):
                if (f & need) != need or f & forbid or is_init[i] != init_pass \
                        or i in placement:
                    continue
                if mem is None:
                    continue  # the kernel WARNs: an init section cannot be ro_after_init
                _place(info, mem, i, aligns[i], sizes[i])
