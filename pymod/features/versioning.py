"""CONFIG_MODVERSIONS: see :class:`pymod.contract.facades.Versioning`."""

from __future__ import annotations

from collections.abc import Callable

from pymod.contract.facades import ForceLoad, Property
from pymod.contract.internal import OK, LoadInfo, Module, Verdict
from pymod.contract.klog import KernelLog
from pymod.contract.sections import find_sec


class Versioning:
    """``check_version`` reads ``info.versions`` (the module's ``__versions``).

    ``symbol_crc(name)`` is the symbol directory's CRC of an export;
    ``reject_missing`` is Debian's rule for a symbol absent from ``__versions``
    (mainline warns and accepts it).
    """

    def __init__(self, log: KernelLog, symbol_crc: Callable[[str], int | None],
                 force_load: ForceLoad, reject_missing: bool):
        self.log = log
        self.symbol_crc = symbol_crc
        self.force_load = force_load
        self.reject_missing = reject_missing

    def posture(self) -> tuple[Property, ...]:
        return (_answer(True),)

    def check_version(self, info: LoadInfo, symname: str, mod: Module,
                      crc: int | None) -> Verdict:
        if crc is None:
            return OK  # exporter has no CRCs: nothing to compare
        if info.index.vers == 0:
            # modprobe --force stripped them; refused silently unless forcing is built in
            return Verdict(self.force_load.try_to_force_load(mod, symname))
        have = info.versions.get(symname)
        if have is None:
            message = "%s: no symbol version for %s" % (info.name, symname)
            if self.reject_missing:
                return Verdict(False, self.log.pr_warn(message))
            self.log.pr_notice_once("no symbol version", message)
            return OK
        # an unsigned long from __versions against the export's u32: a
        # __versions CRC with any upper bit set never matches
        if have == crc & 0xFFFFFFFF:
            return OK
        return Verdict(False, self.log.pr_warn("%s: disagrees about version of symbol %s"
                                               % (info.name, symname)))

    def check_modstruct_version(self, info: LoadInfo, mod: Module) -> Verdict:
        return self.check_version(info, "module_layout", mod, self.symbol_crc("module_layout"))

    def same_magic(self, amagic: str, bmagic: str, has_crcs: bool) -> bool:
        if has_crcs:
            amagic = amagic[_first_space(amagic):]
            bmagic = bmagic[_first_space(bmagic):]
        return amagic == bmagic

    def exports_lack_crcs(self, mod: Module, info: LoadInfo) -> bool:
        plain = sum(1 for s in mod.syms if not s.gpl_only)
        gpl = len(mod.syms) - plain
        return bool((plain and not find_sec(info, "__kcrctab"))
                    or (gpl and not find_sec(info, "__kcrctab_gpl")))


def _first_space(s: str) -> int:
    i = s.find(" ")
    return len(s) if i < 0 else i


def _answer(enforced: bool) -> Property:
    return Property("symbol versions (CRCs)", enforced, "CONFIG_MODVERSIONS",
                    "every symbol is deemed compatible, any CRC")


class Stub:
    def posture(self) -> tuple[Property, ...]:
        return (_answer(False),)

    def check_version(self, info: LoadInfo, symname: str, mod: Module,
                      crc: int | None) -> Verdict:
        return OK

    def check_modstruct_version(self, info: LoadInfo, mod: Module) -> Verdict:
        return OK

    def same_magic(self, amagic: str, bmagic: str, has_crcs: bool) -> bool:
        return amagic == bmagic

    def exports_lack_crcs(self, mod: Module, info: LoadInfo) -> bool:
        return False
