"""CONFIG_MODULE_UNLOAD_TAINT_TRACKING: see :class:`pymod.contract.facades.TaintTracking`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pymod.contract.internal import Module, taint_letters

if TYPE_CHECKING:
    from pymod.contract.facades import Debugfs


@dataclass
class _Unloaded:
    name: str
    taints: int
    count: int = 1


class TaintTracking:
    def __init__(self, debugfs: Debugfs):
        self.entries: list[_Unloaded] = []   # newest first, as list_add_rcu keeps them
        debugfs.debugfs_create("modules/unloaded_tainted", self.debugfs_text)

    def try_add_tainted_module(self, mod: Module) -> None:
        if not mod.taints:
            return
        for entry in self.entries:
            if entry.name == mod.name and entry.taints & mod.taints:
                entry.count += 1
                return
        self.entries.insert(0, _Unloaded(mod.name, mod.taints))

    def debugfs_text(self) -> str:
        """debugfs ``modules/unloaded_tainted``: ``name (taints) count`` lines."""
        return "".join("%s (%s) %d\n" % (e.name, taint_letters(e.taints), e.count)
                       for e in self.entries)

    def unloaded_tainted_modules(self) -> str:
        """print_unloaded_tainted_modules: the oops report's line."""
        if not self.entries:
            return ""
        return "Unloaded tainted modules:" + "".join(
            " %s(%s):%d" % (e.name, taint_letters(e.taints), e.count) for e in self.entries)


class Stub:
    def try_add_tainted_module(self, mod: Module) -> None:
        pass

    def unloaded_tainted_modules(self) -> str:
        return ""
