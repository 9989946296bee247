"""The symbol directory: vmlinux exports plus every formed module's exports.

``find_symbol`` answers as the kernel's does: vmlinux first, then modules;
a caller that may not use GPL-only exports does not see them at all.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pymod.contract.internal import KernelSymbol
from pymod.loader.symvers import read_symvers

# Module.symvers has no addresses.  Without them, vmlinux's exports get
# stand-ins: one every 16 bytes from here, in name order, inside the kernel
# image's range, so relocations against them compute what they would for a
# real symbol there (PC32 from the module area fits, 32S sign-extends).
VMLINUX_EXPORTS_BASE = 0xFFFFFFFF82000000
VMLINUX_EXPORT_STRIDE = 16


def vmlinux_symbols(path: str | Path) -> list[KernelSymbol]:
    """The ``vmlinux`` rows of a ``Module.symvers`` (modules export their
    own), at stand-in addresses (see ``VMLINUX_EXPORTS_BASE``)."""
    rows = sorted((name, ns, gpl, crc)
                  for crc, name, module, gpl, ns in read_symvers(path).values()
                  if module == "vmlinux")
    return [KernelSymbol(name, VMLINUX_EXPORTS_BASE + k * VMLINUX_EXPORT_STRIDE, ns or None,
                         gpl, crc, None)
            for k, (name, ns, gpl, crc) in enumerate(rows)]


class SymbolDirectory:
    def __init__(self, vmlinux: Iterable[KernelSymbol] = ()):
        self.vmlinux: dict[str, KernelSymbol] = {s.name: s for s in vmlinux}
        self.modules: dict[str, KernelSymbol] = {}
        self._by_value: dict[int, str] | None = None

    def find_symbol(self, name: str, gplok: bool = True) -> KernelSymbol | None:
        sym = self.vmlinux.get(name)
        if sym is None:
            sym = self.modules.get(name)
        if sym is not None and sym.gpl_only and not gplok:
            return None
        return sym

    def name_at(self, value: int) -> str | None:
        """The export at address ``value`` (vmlinux's, then modules'), or None."""
        if self._by_value is None:
            self._by_value = {s.value: s.name for s in self.vmlinux.values()}
        name = self._by_value.get(value)
        if name is None:
            name = next((s.name for s in self.modules.values() if s.value == value), None)
        return name

    def crc_of(self, name: str) -> int | None:
        sym = self.find_symbol(name)
        return sym.crc if sym is not None else None

    def publish(self, syms: Iterable[KernelSymbol]) -> None:
        """Make a formed module's exports visible (callers checked them against
        other modules; a name one module exports twice resolves to the first)."""
        for s in syms:
            self.modules.setdefault(s.name, s)

    def withdraw(self, syms: Iterable[KernelSymbol]) -> None:
        for s in syms:
            if self.modules.get(s.name) is s:
                del self.modules[s.name]

    def __len__(self) -> int:
        return len(self.vmlinux) + len(self.modules)
