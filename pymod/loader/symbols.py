"""The symbol directory: vmlinux exports plus every formed module's exports.

``find_symbol`` answers as the kernel's does: vmlinux first, then modules;
a caller that may not use GPL-only exports does not see them at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from pymod.loader.internal import KernelSymbol


def read_symvers(path: str | Path) -> list[KernelSymbol]:
    """The ``vmlinux`` rows of a ``Module.symvers`` (modules export their own)."""
    out = []
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        for lineno, line in enumerate(f, 1):
            fields = line.rstrip("\n").split("\t")
            if len(fields) < 4:
                if line.strip():
                    raise ValueError("%s:%d: expected crc, symbol, module, export type"
                                     % (path, lineno))
                continue
            crc, name, owner, kind = fields[:4]
            if owner != "vmlinux":
                continue
            namespace = fields[4] if len(fields) > 4 and fields[4] else None
            out.append(KernelSymbol(name, 0, namespace, kind.endswith("_GPL"),
                                    int(crc, 16), None))
    return out


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
