"""A symbolizer that follows a :class:`~pymod.loader.kernel.Kernel`: each
module enters it when it becomes COMING (all its symbols, init regions
included), changes when it goes LIVE (core symbols only, init regions
dropped) and leaves when it is freed, as the kernel's kallsyms does."""

from __future__ import annotations

from pymod.contract.internal import Module
from pymod.symbolize.placement import module_map
from pymod.symbolize.symbolizer import Symbolizer

__all__ = ["KernelSymbolizer"]


def _kinds(mod: Module, all_symbols: bool) -> dict[str, tuple[int, int]]:
    """The module's regions by kind, as module_map() keeps them."""
    return {t.kind: (r.base, r.size) for t, r in mod.mem.items()
            if r.size and (all_symbols or t.is_text)}


class KernelSymbolizer(Symbolizer):
    """Built by ``Kernel.symbolizer()``; the kernel calls the three hooks
    under its ``module_mutex``."""

    def module_coming(self, mod: Module) -> None:
        m = module_map(mod)
        all_symbols = mod.kallsyms.all_symbols if mod.kallsyms is not None else True
        self.add_module(m, _kinds(mod, all_symbols))

    def module_live(self, mod: Module) -> None:
        self.replace_module(module_map(mod), drop_init=True)

    def module_gone(self, mod: Module) -> None:
        if mod.name in self._modules:
            self.remove_module(mod.name)
