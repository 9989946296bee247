"""A symbolizer that follows a :class:`~pymod.loader.kernel.Kernel`: each
module enters it when it becomes COMING (all its symbols, init regions
included), changes when it goes LIVE (core symbols only, init regions
dropped) and leaves when it is freed, as the kernel's kallsyms does."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pymod.contract.internal import Module, ModuleState
from pymod.symbolize.placement import module_map
from pymod.symbolize.symbolizer import Symbolizer

if TYPE_CHECKING:
    from pymod.loader.kernel import Kernel

__all__ = ["KernelSymbolizer"]


def _kinds(mod: Module, all_symbols: bool) -> dict[str, tuple[int, int]]:
    """The module's regions by kind, as module_map() keeps them."""
    return {t.kind: (r.base, r.size) for t, r in mod.mem.items()
            if r.size and (all_symbols or t.is_text)}


def _unfollowed(state: object) -> Symbolizer:
    """A copy of a KernelSymbolizer: its tables, following nothing."""
    sym = Symbolizer.__new__(Symbolizer)
    sym.__setstate__(state)
    return sym


class KernelSymbolizer(Symbolizer):
    """A :class:`~pymod.symbolize.Symbolizer` over ``kernel``'s loaded
    modules that follows its loads and unloads from now on.

    The kernel holds it weakly among its watchers and calls the three hooks
    under its ``module_mutex``.  A copy or a pickle follows no kernel: it is
    a plain :class:`~pymod.symbolize.Symbolizer` of the same tables.
    """

    def __init__(self, kernel: Kernel) -> None:
        super().__init__()
        with kernel.module_mutex:
            for mod in kernel.modules:
                if mod.state in (ModuleState.COMING, ModuleState.LIVE):
                    self.module_coming(mod)
            kernel.watchers.add(self)

    def __reduce__(self) -> tuple[Any, ...]:
        return _unfollowed, (self.__getstate__(),)

    def module_coming(self, mod: Module) -> None:
        m = module_map(mod)
        all_symbols = mod.kallsyms.all_symbols if mod.kallsyms is not None else True
        self.add_module(m, _kinds(mod, all_symbols))

    def module_live(self, mod: Module) -> None:
        self.replace_module(module_map(mod), drop_init=True)

    def module_gone(self, mod: Module) -> None:
        if mod.name in self._modules:
            self.remove_module(mod.name)
