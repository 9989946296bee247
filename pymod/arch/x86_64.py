"""x86-64: arch/x86/kernel/module.c, arch/x86/include/asm/{pgtable_64_types,vermagic}.h.

The relocation arithmetic is ``csrc/reloc/pm_reloc_x86_64.c``; this file
holds the constants and the kernel's messages.
"""

from __future__ import annotations

from pymod._reloc_cffi import lib
from pymod.arch.base import Arch, RelocFault, no_frob
from pymod.elf.constants import EM_X86_64

# pgtable_64_types.h: MODULES_VADDR is __START_KERNEL_map + KERNEL_IMAGE_SIZE
# (1 GiB with KASLR), MODULES_END the fixmap's start.
MODULES_VADDR = 0xFFFFFFFFC0000000
MODULES_END = 0xFFFFFFFFFF000000   # exclusive: the last byte is 0xfffffffffeffffff
# VMALLOC_START with 4-level paging (no KASLR of the vmalloc base).
VMALLOC_START = 0xFFFFC90000000000

R_X86_64_PC32, R_X86_64_PLT32, R_X86_64_PC64 = 2, 4, 24
PC_RELATIVE = (R_X86_64_PC32, R_X86_64_PLT32, R_X86_64_PC64)


def _nonzero_line(f: RelocFault, check_before_pc: bool) -> str:
    # module.c prints through pr_fmt "module: ", then its own "x86/modules: ".
    val = f.val
    if check_before_pc:                 # 6.1: val is still S+A
        if f.type in PC_RELATIVE:
            val = (val + f.loc) & (1 << 64) - 1
        return ("module: x86/modules: Skipping invalid relocation target, existing value is "
                "nonzero for type %d, loc %s, val %x" % (f.type, f.loc_shown, val))
    return ("module: x86/modules: Invalid relocation target, existing value is nonzero for "
            "type %d, loc %s, val %x" % (f.type, f.loc_shown, val))


def reloc_refusal(f: RelocFault, name: str, check_before_pc: bool) -> tuple[str, ...]:
    """``__write_relocate_add``'s pr_err lines for its three refusals."""
    if f.status == lib.PM_RELOC_EUNKNOWN:
        return ("module: %s: Unknown rela relocation: %d" % (name, f.type),)
    if f.status == lib.PM_RELOC_ENONZERO:
        return (_nonzero_line(f, check_before_pc),)
    if f.status == lib.PM_RELOC_EOVERFLOW:
        return ("module: overflow in relocation type %d val %x" % (f.type, f.val),
                "module: `%s' likely not compiled with -mcmodel=kernel" % name)
    return ()


ARCH = Arch(
    name="x86_64",
    kconfig="X86_64",
    e_machine=EM_X86_64,
    modules_vaddr=MODULES_VADDR,
    modules_end=MODULES_END,
    load_copy_base=VMALLOC_START,
    vermagic_suffix="",                # asm/vermagic.h: MODULE_PROC_FAMILY is X86_32's
    frob_arch_sections=no_frob,        # x86 keeps the weak default
    reloc_refusal=reloc_refusal,
)
