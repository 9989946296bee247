"""The hooks an architecture gives the model: one frozen :class:`Arch`.

Every field is required, so an architecture that forgets one fails at
import, not in the middle of a load.  The model calls them where the kernel
calls its own per-architecture code: ``elf_check_arch`` (``e_machine``),
``module_frob_arch_sections`` (``frob_arch_sections``, in
``layout_and_allocate``), ``apply_relocate_add`` (the C library
``csrc/reloc/``, found by ``e_machine``; its refusals' lines from
``reloc_refusal``), ``execmem_alloc``'s range (``modules_vaddr`` ..
``modules_end``) and ``MODULE_ARCH_VERMAGIC`` (``vermagic_suffix``).

This package sits below the loader (the config reads it), so the hooks that
touch a load's dossier take it untyped: ``frob_arch_sections`` receives the
:class:`pymod.contract.internal.LoadInfo` and the
:class:`pymod.contract.internal.Module`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

__all__ = ["Arch", "RelocFault", "HOOKS", "no_frob"]


@dataclass(frozen=True)
class RelocFault:
    """Where ``pm_reloc_apply`` stopped, as the message hook needs it."""

    status: int      # a negative enum pm_reloc_status
    type: int        # the relocation type (r_info's low 32 bits)
    loc: int         # the target address
    val: int         # the value the kernel's message prints (the C hook's *val)
    loc_shown: str   # loc as the kernel prints it (%p: a keyed hash)


@dataclass(frozen=True)
class Arch:
    """One architecture: its constants and its hooks."""

    # The name Config.arch uses (``uname -m``'s spelling: "x86_64").
    name: str
    # The Kconfig symbol (without CONFIG_) that a .config of this
    # architecture sets: how Config.from_kconfig recognises one.
    kconfig: str
    # elf_check_arch(): the one e_machine a module must carry; also the key
    # of the C relocation library's table.
    e_machine: int
    # The module area execmem_alloc allocates from: [modules_vaddr, modules_end).
    modules_vaddr: int
    modules_end: int
    # Where the load's temporary copy of the file lives (vmalloc space): a
    # non-allocated section's sh_addr during the load.
    load_copy_base: int
    # MODULE_ARCH_VERMAGIC (arch/*/include/asm/vermagic.h), between
    # "modversions " and the RANDSTRUCT part; "" on x86-64.
    vermagic_suffix: str
    # module_frob_arch_sections(info, mod): before W^X and layout; may grow
    # sections (arm64's PLTs); raises a ModuleLoadError to refuse.
    frob_arch_sections: Callable[[Any, Any], None]
    # The lines (all pr_err) apply_relocate_add prints for one of its own
    # refusals, the last being the error's message; () for a status the
    # kernel has not (pymod's own bounds).  Arguments: the fault, the
    # module's name, and whether this kernel checks the target before the
    # PC-relative subtraction (pymod.contract.kver: 6.1).
    reloc_refusal: Callable[[RelocFault, str, bool], tuple[str, ...]]


# Every field, constants and callables alike (the completeness test walks it).
HOOKS = tuple(f.name for f in fields(Arch))


def no_frob(info: Any, mod: Any) -> None:
    """The kernel's weak module_frob_arch_sections: nothing to do."""
