"""CONFIG_DYNAMIC_DEBUG's module parameter: see :class:`pymod.contract.facades.DynamicDebug`."""

from __future__ import annotations

from pymod.contract.klog import KernelLog


class DynamicDebug:
    def module_param_cb(self, param: str, val: str | None, modname: str) -> tuple[int, str]:
        # ddebug_dyndbg_param_cb cuts "<module>.<name>" at the first '.' in
        # place (it serves boot parameters too), so the caller's string then
        # reads "<module>"; "dyndbg" or "<module>.dyndbg" takes a query (not
        # modelled further).
        head, dot, name = param.partition(".")
        if not dot:
            head = name = param
        return (0 if name == "dyndbg" else -2), head


class Stub:
    def __init__(self, log: KernelLog):
        self.log = log

    def module_param_cb(self, param: str, val: str | None, modname: str) -> tuple[int, str]:
        if param == "dyndbg":
            self.log.pr_warn("dyndbg param is supported only in CONFIG_DYNAMIC_DEBUG builds")
            return 0, param
        return -22, param
