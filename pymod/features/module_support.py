"""CONFIG_MODULES: see :class:`pymod.contract.facades.ModuleSupport`."""

from __future__ import annotations

import errno

from pymod.contract.facades import Property
from pymod.errors import ModuleLoadError


def _answer(off: bool) -> Property:
    return Property("loadable modules refused", off, "CONFIG_MODULES off",
                    "modules load, subject to the properties below",
                    "no module loads at all: init_module, finit_module and delete_module "
                    "fail with ENOSYS" if off else "")


class ModuleSupport:
    def syscall(self, name: str, module: str | None = None) -> None:
        pass

    def posture(self) -> tuple[Property, ...]:
        return (_answer(False),)


class Stub:
    def syscall(self, name: str, module: str | None = None) -> None:
        raise ModuleLoadError(errno.ENOSYS, "%s: no module support in this kernel "
                              "(CONFIG_MODULES is not set)" % name, module=module,
                              stage="syscall")

    def posture(self) -> tuple[Property, ...]:
        return (_answer(True),)
