"""Finding a section and placing one in module memory: the primitives the
load stages and the features share.

``find_sec`` is ``kernel/module/main.c``'s (the first SHF_ALLOC section of a
name); ``module_get_offset_and_type`` and ``ALIGN`` are what
``layout_sections`` (:mod:`pymod.loader.layout`) and the kallsyms feature's
``layout_symtab`` place sections with.  The region sizes are ``unsigned
int`` in ``struct module_memory``, so the arithmetic wraps at 32 bits, as
in the kernel.
"""

from __future__ import annotations

from pymod.contract.internal import LoadInfo, MemType
from pymod.elf.constants import SHF_ALLOC


def find_sec(info: LoadInfo, name: str) -> int:
    """First SHF_ALLOC section called ``name`` (cleared ALLOC means "ignore it"), or 0."""
    flags = info.shdrs["sh_flags"]
    for i, n in enumerate(info.secnames):
        if i and n == name and flags[i] & SHF_ALLOC:
            return i
    return 0


def smp_pcpusec(info: LoadInfo) -> int:
    """``find_pcpusec`` of an SMP kernel (the percpu facade's real form)."""
    return find_sec(info, ".data..percpu")


def get_offset_and_type(info: LoadInfo, mem: MemType, index: int) -> None:
    """``module_get_offset_and_type``: place section ``index`` at the end of ``mem``."""
    place(info, mem, index, int(info.shdrs[index]["sh_addralign"]),
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


def place(info: LoadInfo, mem: MemType, index: int, align: int, size: int) -> None:
    """``module_get_offset_and_type`` with the section's alignment and size
    given: the region's size is an ``unsigned int``, so what does not fit
    32 bits wraps, as in the kernel."""
    end = info.mem_size.get(mem, 0)
    offset = kernel_align(end, align or 1)
    info.mem_size[mem] = (offset + size) & _U32
    info.placement[index] = (mem, offset)
