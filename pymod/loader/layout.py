"""Layout: where each section goes in module memory (``layout_sections``).

Core pass, then init pass; the first matching mask wins.  Results go into
the dossier (``info.mem_size`` per memory type, ``info.placement`` per
section); :mod:`pymod.loader.memory` then allocates the regions.
"""

from __future__ import annotations

import numpy as np

from pymod.contract.internal import LoadInfo, MemType
from pymod.contract.sections import find_sec, place
from pymod.elf.constants import SHF_ALLOC, SHF_EXECINSTR, SHF_RO_AFTER_INIT, SHF_WRITE

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
                place(info, mem, i, aligns[i], sizes[i])
