"""CONFIG_CONSTRUCTORS: see :class:`pymod.contract.facades.Constructors`."""

from __future__ import annotations

import errno

from pymod.contract.internal import LoadInfo, Module
from pymod.contract.klog import KernelLog
from pymod.contract.sections import find_sec
from pymod.errors import ModuleLoadError


class Constructors:
    def __init__(self, log: KernelLog):
        self.log = log

    def check_ctors(self, mod: Module, info: LoadInfo) -> None:
        if find_sec(info, ".ctors") and find_sec(info, ".init_array"):
            raise ModuleLoadError(errno.EINVAL, self.log.pr_warn(
                "%s: has both .ctors and .init_array." % mod.name),
                module=mod.name, stage="sections")


class Stub:
    def check_ctors(self, mod: Module, info: LoadInfo) -> None:
        pass
