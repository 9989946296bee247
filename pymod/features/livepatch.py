"""CONFIG_LIVEPATCH: see :class:`pymod.contract.facades.Livepatch`."""

from __future__ import annotations

from dataclasses import dataclass

from pymod.contract.facades import Property
from pymod.contract.internal import LoadInfo, Module


@dataclass(frozen=True)
class KlpModInfo:
    """``struct klp_modinfo``: what livepatch keeps of the ELF after load."""

    hdr: object
    sechdrs: object
    secstrings: bytes
    symndx: int


def _answer(refused: bool) -> Property:
    return Property("livepatch modules refused", refused, "CONFIG_LIVEPATCH",
                    "livepatch modules load, tainted K")


class Livepatch:
    def posture(self) -> tuple[Property, ...]:
        return (_answer(False),)

    def set_livepatch_module(self, mod: Module) -> bool:
        mod.klp = True
        return True

    def copy_module_elf(self, mod: Module, info: LoadInfo) -> None:
        mod.klp_info = KlpModInfo(info.hdr, info.shdrs.copy(), info.secstrings,
                                  info.index.sym)

    def free_module_elf(self, mod: Module) -> None:
        mod.klp_info = None


class Stub:
    def posture(self) -> tuple[Property, ...]:
        return (_answer(True),)

    def set_livepatch_module(self, mod: Module) -> bool:
        return False

    def copy_module_elf(self, mod: Module, info: LoadInfo) -> None:
        pass

    def free_module_elf(self, mod: Module) -> None:
        pass
