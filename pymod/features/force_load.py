"""CONFIG_MODULE_FORCE_LOAD: see :class:`pymod.contract.facades.ForceLoad`."""

from __future__ import annotations

from pymod.contract.facades import Property
from pymod.contract.internal import Module, Taint
from pymod.contract.klog import KernelLog
from pymod.contract.taint import KernelTaints


class ForceLoad:
    def __init__(self, log: KernelLog, taints: KernelTaints):
        self.log = log
        self.taints = taints

    def posture(self) -> tuple[Property, ...]:
        return _answers(False)

    def try_to_force_load(self, mod: Module, reason: str) -> bool:
        if not self.taints.has(Taint.FORCED_MODULE):
            self.log.pr_warn("%s: %s: kernel tainted." % (mod.name, reason))
        self.taints.add_module(mod, Taint.FORCED_MODULE)
        return True


def _answers(refused: bool) -> tuple[Property, ...]:
    """Vermagic is always checked, but forced loading is what lets a module
    without one in."""
    return (Property("vermagic", True, "always checked", "",
                     "" if refused else "a module without one loads only forced (taint F)"),
            Property("forced loads refused", refused, "CONFIG_MODULE_FORCE_LOAD",
                     "modules without vermagic or versions load, tainted F"))


class Stub:
    def posture(self) -> tuple[Property, ...]:
        return _answers(True)

    def try_to_force_load(self, mod: Module, reason: str) -> bool:
        return False
