"""``struct module``: what the simulated kernel keeps of a loaded module."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pymod.loader.internal import (MODULE_REF_BASE, MODULE_TAINT_LETTERS, KernelSymbol,
                       MemType, ModuleState, Taint, taint_letters)


@dataclass(eq=False)
class Region:
    """``struct module_memory``: one page-rounded allocation."""

    base: int = 0
    size: int = 0


@dataclass(eq=False)
class Module:
    """One module, from ``add_unformed_module`` until ``free_module``.

    ``holders`` are the modules that use this one (the kernel's
    ``source_list``, newest first when printed); ``uses`` are the modules this
    one took a reference on (``target_list``).
    """

    name: str
    id: int
    state: ModuleState = ModuleState.UNFORMED
    mem: dict[MemType, Region] = field(default_factory=lambda: {t: Region() for t in MemType})
    taints: int = 0
    refcnt: int = MODULE_REF_BASE
    holders: list["Module"] = field(default_factory=list)
    uses: list["Module"] = field(default_factory=list)
    syms: list[KernelSymbol] = field(default_factory=list)
    has_init: bool = False
    has_exit: bool = False
    using_gplonly_symbols: bool = False
    sig_ok: bool = False
    klp: bool = False
    klp_info: Any = None
    version: str | None = None
    srcversion: str | None = None
    args: str = ""
    source: str | None = None           # file path when loaded from a file
    section_addrs: dict[str, int] = field(default_factory=dict)
    kallsyms: Any = None                # pymod.features.kallsyms.ModKallsyms

    def add_taint(self, flag: Taint) -> None:
        self.taints |= 1 << flag

    def tainted(self, flag: Taint) -> bool:
        return bool(self.taints >> flag & 1)

    @property
    def taint_letters(self) -> str:
        return taint_letters(self.taints, MODULE_TAINT_LETTERS)

    @property
    def refcount(self) -> int:
        """``module_refcount()``: references beyond the base one."""
        return self.refcnt - MODULE_REF_BASE

    @property
    def total_size(self) -> int:
        """``module_total_size()``: every region's (page-rounded) size."""
        return sum(r.size for r in self.mem.values())

    def regions(self) -> dict[str, tuple[int, int]]:
        """Non-empty regions as the lookup core takes them."""
        return {t.kind: (r.base, r.size) for t, r in self.mem.items() if r.size}

    def within(self, addr: int) -> bool:
        """``within_module()``: inside any init or core region."""
        return any(r.size and 0 <= addr - r.base < r.size for r in self.mem.values())

    def flags(self, show_state: bool = True) -> str:
        """``module_flags()``: "(POE)", "(E+)" ... or ""."""
        coming = self.state == ModuleState.COMING
        going = self.state == ModuleState.GOING
        if not (self.taints or (show_state and (coming or going))):
            return ""
        return "(%s%s%s)" % (self.taint_letters, "-" if going and show_state else "",
                             "+" if coming and show_state else "")
