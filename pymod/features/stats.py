"""CONFIG_MODULE_STATS: see :class:`pymod.contract.facades.Stats` (debugfs ``modules/stats``)."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from pymod.contract.internal import MODULE_INIT_COMPRESSED_FILE, LoadInfo
from pymod.contract.klog import KernelLog

if TYPE_CHECKING:
    from pymod.contract.facades import Debugfs

# (counter, label) in the order kernel/module/stats.c prints them.
_LABELS = (
    ("modcount", "Mods ever loaded"),
    ("failed_kreads", "Mods failed on kread"),
    ("failed_decompress", "Mods failed on decompress"),
    ("failed_becoming", "Mods failed on becoming"),
    ("failed_load_modules", "Mods failed on load"),
    ("total_mod_size", "Total module size"),
    ("total_text_size", "Total mod text size"),
    ("invalid_kread_bytes", "Failed kread bytes"),
    ("invalid_decompress_bytes", "Failed decompress bytes"),
    ("invalid_becoming_bytes", "Failed becoming bytes"),
    ("invalid_mod_bytes", "Failed kmod bytes"),
)


# (label, total, count): DIV_ROUND_UP(total, count), printed when both are nonzero.
_AVERAGES = (
    ("Average mod size", "total_mod_size", "modcount"),
    ("Average mod text size", "total_text_size", "modcount"),
    ("Avg fail kread bytes", "invalid_kread_bytes", "failed_kreads"),
    ("Avg fail becoming bytes", "invalid_becoming_bytes", "failed_becoming"),
    ("Avg fail decomp bytes", "invalid_decompress_bytes", "failed_decompress"),
    ("Average fail load bytes", "invalid_mod_bytes", "failed_load_modules"),
)


def _reason(reasons: frozenset[str]) -> str:
    """mod_fail_to_str: which duplicate checks a name failed."""
    if {"becoming", "load"} <= reasons:
        return "Becoming & Load"
    return "Becoming" if "becoming" in reasons else "Load" if "load" in reasons \
        else "Bug-on-stats"


class Stats:
    def __init__(self, log: KernelLog, debugfs: Debugfs):
        self.log = log
        self.values: Counter[str] = Counter()
        self.dup_failed: dict[str, tuple[int, frozenset[str]]] = {}   # newest first
        debugfs.debugfs_create("modules/stats", self.stats_text)

    # As stats.c counts: the image length twice for an invalid module, and
    # the compressed length only when the syscall carried the flag (the
    # kernel decompressed it); a user-space decompression leaves no trace.
    def mod_stat_bump_invalid(self, info: LoadInfo, flags: int) -> None:
        self.values["failed_load_modules"] += 1
        self.values["invalid_mod_bytes"] += info.len * 2
        if flags & MODULE_INIT_COMPRESSED_FILE:
            self.values["invalid_mod_bytes"] += info.compressed_len

    def mod_stat_bump_becoming(self, info: LoadInfo, flags: int) -> None:
        self.values["failed_becoming"] += 1
        self.values["invalid_becoming_bytes"] += info.len
        if flags & MODULE_INIT_COMPRESSED_FILE:
            self.values["invalid_becoming_bytes"] += info.compressed_len

    def mod_stat_failed_decompress(self, info: LoadInfo) -> None:
        """init_module_from_file: the file's whole (compressed) length."""
        self.values["failed_decompress"] += 1
        self.values["invalid_decompress_bytes"] += len(info.raw)

    def mod_stat_module_live(self, text_size: int, total_size: int) -> None:
        self.values["modcount"] += 1
        self.values["total_mod_size"] += total_size
        self.values["total_text_size"] += text_size

    def try_add_failed_module(self, name: str, reason: str) -> None:
        count, reasons = self.dup_failed.pop(name, (0, frozenset()))
        # newest first, as list_add_rcu puts a new name at the head
        self.dup_failed = {name: (count + 1, reasons | {reason}), **self.dup_failed}

    def stats_text(self) -> str:
        v = self.values
        lines = ["%25s\t%u" % (label, v[key]) for key, label in _LABELS]
        wasted = sum(v[k] for k in ("invalid_kread_bytes", "invalid_decompress_bytes",
                                    "invalid_becoming_bytes", "invalid_mod_bytes"))
        lines.append("%25s\t%u" % ("Virtual mem wasted bytes", wasted))
        for label, total, events in _AVERAGES:
            if v[events] and v[total]:
                lines.append("%25s\t%u" % (label, -(-v[total] // v[events])))
        if self.dup_failed:
            lines.append("Duplicate failed modules:")
            lines.append("%25s\t%15s\t%25s" % ("Module-name", "How-many-times", "Reason"))
            for name, (count, reasons) in self.dup_failed.items():
                lines.append("%25s\t%15u\t%25s" % (name, count, _reason(reasons)))
        return "".join(line + "\n" for line in lines)


class Stub:
    def mod_stat_bump_invalid(self, info: LoadInfo, flags: int) -> None:
        pass

    def mod_stat_bump_becoming(self, info: LoadInfo, flags: int) -> None:
        pass

    def mod_stat_failed_decompress(self, info: LoadInfo) -> None:
        pass

    def mod_stat_module_live(self, text_size: int, total_size: int) -> None:
        pass

    def try_add_failed_module(self, name: str, reason: str) -> None:
        pass

    def stats_text(self) -> str:
        return ""
