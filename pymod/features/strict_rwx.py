"""CONFIG_STRICT_MODULE_RWX: see :class:`pymod.contract.facades.StrictRwx`."""

from __future__ import annotations

import errno

import numpy as np

from pymod.contract.facades import Property
from pymod.contract.internal import LoadInfo
from pymod.contract.klog import KernelLog
from pymod.errors import ModuleLoadError

SHF_WRITE = 0x1
SHF_EXECINSTR = 0x4
_WX = SHF_WRITE | SHF_EXECINSTR


class StrictRwx:
    def __init__(self, log: KernelLog) -> None:
        self.log = log

    def posture(self) -> tuple[Property, ...]:
        return (_answer(True),)

    def module_enforce_rwx_sections(self, info: LoadInfo, modname: str) -> None:
        bad = np.flatnonzero((info.shdrs["sh_flags"] & _WX) == _WX)
        if bad.size:
            i = int(bad[0])
            msg = self.log.pr_err("%s: section %s (index %d) has invalid WRITE|EXEC flags"
                                  % (modname, info.secnames[i], i))
            raise ModuleLoadError(errno.ENOEXEC, msg, module=modname, stage="strict_rwx")


def _answer(enforced: bool) -> Property:
    return Property("W^X sections", enforced, "CONFIG_STRICT_MODULE_RWX",
                    "writable and executable sections are accepted")


class Stub:
    def posture(self) -> tuple[Property, ...]:
        return (_answer(False),)

    def module_enforce_rwx_sections(self, info: LoadInfo, modname: str) -> None:
        pass
