"""Symbol namespaces and CONFIG_MODULE_ALLOW_MISSING_NAMESPACE_IMPORTS:
see :class:`pymod.contract.facades.Namespaces`."""

from __future__ import annotations

from pymod.contract.facades import Property
from pymod.contract.internal import KernelSymbol, LoadInfo, Module
from pymod.contract.klog import KernelLog


def _message(mod: Module, sym: KernelSymbol) -> str:
    return ("%s: module uses symbol (%s) from namespace %s, but does not import it."
            % (mod.name, sym.name, sym.namespace))


def _answer(enforced: bool) -> Property:
    return Property("namespace imports", enforced,
                    "CONFIG_MODULE_ALLOW_MISSING_NAMESPACE_IMPORTS off",
                    "a missing MODULE_IMPORT_NS only warns")


def _imports(info: LoadInfo, sym: KernelSymbol) -> bool:
    return not sym.namespace or sym.namespace in info.modinfo_all("import_ns")


class Enforce:
    """The default: a missing ``MODULE_IMPORT_NS`` refuses the symbol."""

    def __init__(self, log: KernelLog):
        self.log = log

    def posture(self) -> tuple[Property, ...]:
        return (_answer(True),)

    def verify_namespace(self, info: LoadInfo, mod: Module, sym: KernelSymbol) -> str | None:
        if _imports(info, sym):
            return None
        return self.log.pr_err(_message(mod, sym))


class AllowMissing:
    """CONFIG_MODULE_ALLOW_MISSING_NAMESPACE_IMPORTS=y: warn and accept."""

    def __init__(self, log: KernelLog):
        self.log = log

    def posture(self) -> tuple[Property, ...]:
        return (_answer(False),)

    def verify_namespace(self, info: LoadInfo, mod: Module, sym: KernelSymbol) -> str | None:
        if not _imports(info, sym):
            self.log.pr_warn(_message(mod, sym))
        return None
