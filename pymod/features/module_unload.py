"""CONFIG_MODULE_UNLOAD and CONFIG_MODULE_FORCE_UNLOAD: see
:class:`pymod.contract.facades.Unload`."""

from __future__ import annotations

import errno

from pymod.contract.facades import Property
from pymod.contract.internal import DELETE_FORCE, Module, Taint
from pymod.contract.taint import KernelTaints
from pymod.errors import ModuleLoadError


def _answers(unloads: bool, forces: bool) -> tuple[Property, ...]:
    return (Property("forced unloads refused", not forces, "CONFIG_MODULE_FORCE_UNLOAD",
                     "rmmod --force unloads modules in use, tainting the kernel R"),
            Property("unloading", unloads, "CONFIG_MODULE_UNLOAD",
                     "no module can be unloaded at all"))


class Unload:
    def __init__(self, taints: KernelTaints, allow_force: bool):
        self.taints = taints
        self.allow_force = allow_force   # CONFIG_MODULE_FORCE_UNLOAD

    def posture(self) -> tuple[Property, ...]:
        return _answers(True, self.allow_force)

    def check_delete_module(self, name: str) -> None:
        pass

    def exit_sections_are_init(self) -> bool:
        return False

    def try_force_unload(self, flags: int) -> bool:
        forced = bool(self.allow_force and flags & DELETE_FORCE)
        if forced:
            self.taints.add(Taint.FORCED_RMMOD)
        return forced

    def proc_usage(self, mod: Module) -> str:
        users = "".join(h.name + "," for h in reversed(mod.holders))
        if mod.has_init and not mod.has_exit:
            users += "[permanent],"
        return " %d %s" % (mod.refcount, users or "-")


class Stub:
    def posture(self) -> tuple[Property, ...]:
        return _answers(False, False)

    def check_delete_module(self, name: str) -> None:
        raise ModuleLoadError(errno.ENOSYS, "delete_module: kernel built without "
                              "CONFIG_MODULE_UNLOAD", module=name, stage="unload")

    def exit_sections_are_init(self) -> bool:
        return True

    def try_force_unload(self, flags: int) -> bool:
        return False

    def proc_usage(self, mod: Module) -> str:
        return " - -"
