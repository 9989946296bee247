"""CONFIG_LIVEPATCH: see :class:`pymod.loader.facades.Livepatch`."""

from __future__ import annotations

from dataclasses import dataclass

from pymod.loader.internal import LoadInfo, Module


@dataclass(frozen=True)
class KlpModInfo:
    """``struct klp_modinfo``: what livepatch keeps of the ELF after load."""

    hdr: object
    sechdrs: object
    secstrings: bytes
    symndx: int


class Livepatch:
    def set_livepatch_module(self, mod: Module) -> bool:
        mod.klp = True
        return True

    def copy_module_elf(self, mod: Module, info: LoadInfo) -> None:
        mod.klp_info = KlpModInfo(info.hdr, info.shdrs.copy(), info.secstrings,
                                  info.index.sym)

    def free_module_elf(self, mod: Module) -> None:
        mod.klp_info = None


class Stub:
    def set_livepatch_module(self, mod: Module) -> bool:
        return False

    def copy_module_elf(self, mod: Module, info: LoadInfo) -> None:
        pass

    def free_module_elf(self, mod: Module) -> None:
        pass
