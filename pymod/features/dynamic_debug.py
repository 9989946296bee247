"""CONFIG_DYNAMIC_DEBUG's module parameter: see :class:`pymod.loader.facades.DynamicDebug`."""

from __future__ import annotations

from pymod.loader.klog import KernelLog


class DynamicDebug:
    def module_param_cb(self, param: str, val: str | None, modname: str) -> int:
        # "dyndbg" or "<module>.dyndbg" takes a query (not modelled further).
        name = param.split(".", 1)[1] if "." in param else param
        return 0 if name == "dyndbg" else -2


class Stub:
    def __init__(self, log: KernelLog):
        self.log = log

    def module_param_cb(self, param: str, val: str | None, modname: str) -> int:
        if param == "dyndbg":
            self.log.pr_warn("dyndbg param is supported only in CONFIG_DYNAMIC_DEBUG builds")
            return 0
        return -22
