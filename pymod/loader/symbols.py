"""The symbol directory: vmlinux exports plus every formed module's exports.

``find_symbol`` answers as the kernel's does: vmlinux first, then modules;
a caller that may not use GPL-only exports does not see them at all.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pymod.loader.internal import KernelSymbol
from pymod.loader.symvers import read_symvers


def vmlinux_symbols(path: str | Path) -> list[KernelSymbol]:
    """The ``vmlinux`` rows of a ``Module.symvers`` (modules export their own)."""
    return [KernelSymbol(name, 0, ns or None, gpl, crc, None)
            for crc, name, module, gpl, ns in read_symvers(path).values()
            if module == "vmlinux"]


class SymbolDirectory:
    def __init__(self, vmlinux: Iterable[KernelSymbol] = ()):
        self.vmlinux: dict[str, KernelSymbol] = {s.name: s for s in vmlinux}
        self.modules: dict[str, KernelSymbol] = {}

    def find_symbol(self, name: str, gplok: bool = True) -> KernelSymbol | None:
        sym = self.vmlinux.get(name)
        if sym is None:
            sym = self.modules.get(name)
        if sym is not None and sym.gpl_only and not gplok:
            return None
        return sym

    def crc_of(self, name: str) -> int | None:
        sym = self.find_symbol(name)
        return sym.crc if sym is not None else None

    def publish(self, syms: Iterable[KernelSymbol]) -> None:
        """Make a formed module's exports visible (callers checked duplicates)."""
        for s in syms:
            self.modules[s.name] = s

    def withdraw(self, syms: Iterable[KernelSymbol]) -> None:
        for s in syms:
            if self.modules.get(s.name) is s:
                del self.modules[s.name]

    def __len__(self) -> int:
        return len(self.vmlinux) + len(self.modules)
