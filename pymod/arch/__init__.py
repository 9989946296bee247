"""The architecture seam: everything the model does differently per
architecture, one module per architecture (:mod:`pymod.arch.x86_64`), each
an :class:`~pymod.arch.base.Arch` of constants and hooks, chosen by
``Config.arch``.  docs/arch.rst says how to add one.
"""

from __future__ import annotations

from collections.abc import Callable

from pymod.arch import x86_64
from pymod.arch.base import HOOKS, Arch, RelocFault

__all__ = ["ARCHES", "Arch", "DEFAULT_ARCH", "HOOKS", "RelocFault", "arch_of_kconfig", "get"]

# Every modelled architecture, by name: adding one is a module and a line here.
ARCHES: dict[str, Arch] = {a.name: a for a in (x86_64.ARCH,)}
DEFAULT_ARCH = "x86_64"

# The architecture symbols of kernels pymod does not model (yet), so that a
# .config of one is refused by name rather than read as x86-64's.
_OTHER_KCONFIG = {"ARM64": "arm64", "ARM": "arm", "X86_32": "i386", "RISCV": "riscv",
                  "PPC64": "ppc64", "PPC32": "ppc", "S390": "s390", "LOONGARCH": "loongarch",
                  "MIPS": "mips", "SPARC64": "sparc64"}


def get(name: str) -> Arch:
    """The architecture called ``name``; ``ValueError`` naming the modelled
    ones for any other."""
    try:
        return ARCHES[name]
    except KeyError:
        raise ValueError("no architecture %r in pymod (modelled: %s; docs/arch.rst says how "
                         "to add one)" % (name, ", ".join(sorted(ARCHES)))) from None


def arch_of_kconfig(on: Callable[[str], bool]) -> str:
    """The architecture a ``.config`` is for, ``on(SYMBOL)`` telling whether
    ``CONFIG_SYMBOL`` is set: a modelled one's symbol first, then any other
    known architecture's name (Config refuses it), else the default (a
    fragment of a config that names none)."""
    for arch in ARCHES.values():
        if on(arch.kconfig):
            return arch.name
    for symbol, name in _OTHER_KCONFIG.items():
        if on(symbol):
            return name
    return DEFAULT_ARCH
