"""CONFIG_MODULE_FORCE_LOAD: see :class:`pymod.loader.facades.ForceLoad`."""

from __future__ import annotations

from pymod.loader.internal import Module, Taint
from pymod.loader.klog import KernelLog
from pymod.loader.taint import KernelTaints


class ForceLoad:
    def __init__(self, log: KernelLog, taints: KernelTaints):
        self.log = log
        self.taints = taints

    def try_to_force_load(self, mod: Module, reason: str) -> bool:
        if not self.taints.has(Taint.FORCED_MODULE):
            self.log.pr_warn("%s: %s: kernel tainted." % (mod.name, reason))
        self.taints.add_module(mod, Taint.FORCED_MODULE)
        return True


class Stub:
    def try_to_force_load(self, mod: Module, reason: str) -> bool:
        return False
