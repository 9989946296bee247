"""CONFIG_MODULE_STATS: see :class:`pymod.loader.facades.Stats` (debugfs ``modules/stats``)."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from pymod.loader.internal import MODULE_INIT_COMPRESSED_FILE, LoadInfo, MemType, Module
from pymod.loader.klog import KernelLog

if TYPE_CHECKING:
    from pymod.loader.facades import Debugfs

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


class Stats:
    def __init__(self, log: KernelLog, debugfs: Debugfs):
        self.log = log
        self.values: Counter[str] = Counter()
        self.dup_failed: dict[str, Counter[str]] = {}
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

    def mod_stat_module_live(self, mod: Module) -> None:
        self.values["modcount"] += 1
        self.values["total_mod_size"] += mod.total_size
        self.values["total_text_size"] += sum(mod.mem[t].size for t in MemType if t.is_text)

    def try_add_failed_module(self, name: str, reason: str) -> None:
        self.dup_failed.setdefault(name, Counter())[reason] += 1

    def stats_text(self) -> str:
        lines = ["%25s\t%u" % (label, self.values[key]) for key, label in _LABELS]
        if self.dup_failed:
            lines.append("Duplicate failed modules:")
            lines.append("%25s\t%15s\t%25s" % ("Module-name", "How-many-times", "Reason"))
            for name, reasons in self.dup_failed.items():
                for reason, count in reasons.items():
                    lines.append("%25s\t%15u\t%25s" % (name, count, reason))
        return "".join(line + "\n" for line in lines)


class Stub:
    def mod_stat_bump_invalid(self, info: LoadInfo, flags: int) -> None:
        pass

    def mod_stat_bump_becoming(self, info: LoadInfo, flags: int) -> None:
        pass

    def mod_stat_failed_decompress(self, info: LoadInfo) -> None:
        pass

    def mod_stat_module_live(self, mod: Module) -> None:
        pass

    def try_add_failed_module(self, name: str, reason: str) -> None:
        pass

    def stats_text(self) -> str:
        return ""
