"""CONFIG_MODVERSIONS: see :class:`pymod.loader.internal.Versioning`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from pymod.loader.internal import LoadInfo
from pymod.loader.klog import KernelLog

if TYPE_CHECKING:
    from pymod.config import Config
    from pymod.loader.module import Module


class Versioning:
    """``check_version`` reads ``info.versions`` (the module's ``__versions``).

    ``force_load(mod, reason) -> bool`` is the kernel's ``try_to_force_load``
    (taint F when CONFIG_MODULE_FORCE_LOAD, refusal otherwise); it is set by
    the Kernel that owns this instance.
    """

    def __init__(self, log: KernelLog, symbol_crc: Callable[[str], int | None],
                 config: "Config"):
        self.log = log
        self.symbol_crc = symbol_crc
        self.reject_missing = config.modversions_reject_missing
        self.force_load: Callable[["Module", str], bool] = lambda mod, reason: False

    def check_version(self, info: LoadInfo, symname: str, mod: "Module",
                      crc: int | None) -> bool:
        if crc is None:
            return True  # exporter has no CRCs: nothing to compare
        if info.index.vers == 0:
            return self.force_load(mod, symname)  # modprobe --force stripped them
        have = info.versions.get(symname)
        if have is None:
            if self.reject_missing:
                self.log.pr_warn("%s: no symbol version for %s" % (info.name, symname))
                return False
            self.log.pr_notice_once("no symbol version",
                                    "%s: no symbol version for %s" % (info.name, symname))
            return True
        if have & 0xFFFFFFFF == crc & 0xFFFFFFFF:
            return True
        self.log.pr_warn("%s: disagrees about version of symbol %s" % (info.name, symname))
        return False

    def check_modstruct_version(self, info: LoadInfo, mod: "Module") -> bool:
        return self.check_version(info, "module_layout", mod, self.symbol_crc("module_layout"))

    def same_magic(self, amagic: str, bmagic: str, has_crcs: bool) -> bool:
        if has_crcs:
            amagic = amagic[_first_space(amagic):]
            bmagic = bmagic[_first_space(bmagic):]
        return amagic == bmagic


def _first_space(s: str) -> int:
    i = s.find(" ")
    return len(s) if i < 0 else i


class Stub:
    def check_version(self, info: LoadInfo, symname: str, mod: "Module",
                      crc: int | None) -> bool:
        return True

    def check_modstruct_version(self, info: LoadInfo, mod: "Module") -> bool:
        return True

    def same_magic(self, amagic: str, bmagic: str, has_crcs: bool) -> bool:
        return amagic == bmagic
