"""CONFIG_SYSFS: see :class:`pymod.contract.facades.Sysfs` (``/sys/module/<name>/``)."""

from __future__ import annotations

import errno

from pymod.contract.internal import PAGE_SIZE, LoadInfo, MemType, Module, ModuleState
from pymod.errors import ModuleLoadError

_INITSTATE = {ModuleState.LIVE: "live", ModuleState.COMING: "coming",
              ModuleState.GOING: "going"}


def one_page(text: str) -> str:
    """``text`` and its newline as a sysfs read returns them, without the
    newline: at most PAGE_SIZE - 1 bytes (``sysfs_kf_seq_show``; the
    module attributes' own ``scnprintf(buf, PAGE_SIZE, "%s\\n")`` cuts
    to the same)."""
    data = text.encode("utf-8", "surrogateescape")
    if len(data) + 1 < PAGE_SIZE:
        return text
    return data[:PAGE_SIZE - 1].decode("utf-8", "surrogateescape")


class Sysfs:
    """Directories are live views of their module, rendered on read."""

    def __init__(self, compression: str | None = None, refcnt: bool = True,
                 sections: bool = True, data_in_vmalloc: bool = False) -> None:
        self.dirs: dict[str, Module] = {}
        self.compression = compression
        self.refcnt = refcnt                      # MODULE_UNLOAD
        self.sections = sections                  # KALLSYMS: sections/
        self.data_in_vmalloc = data_in_vmalloc    # ARCH_WANTS_MODULES_DATA_IN_VMALLOC

    def module_compression(self) -> str | None:
        return None if self.compression is None else self.compression + "\n"

    def mod_sysfs_setup(self, mod: Module, info: LoadInfo) -> None:
        self.dirs[mod.name] = mod

    def mod_sysfs_teardown(self, mod: Module) -> None:
        self.dirs.pop(mod.name, None)

    def sysfs_read(self, name: str) -> dict[str, str]:
        mod = self.dirs.get(name)
        if mod is None:
            raise ModuleLoadError(errno.ENOENT, "/sys/module/%s: No such file or directory" % name,
                                  module=name, stage="sysfs")
        core_data = sum(mod.mem[t].size for t in MemType if not t.is_init and not t.is_text)
        text = mod.mem[MemType.TEXT].size
        files = {
            "initstate": _INITSTATE.get(mod.state, "unknown"),
            # show_coresize: text, plus core data unless data lives apart
            "coresize": str(text if self.data_in_vmalloc else text + core_data),
            "initsize": str(sum(mod.mem[t].size for t in MemType if t.is_init)),
            "taint": mod.taint_letters,
        }
        if self.data_in_vmalloc:
            files["datasize"] = str(core_data)
        if self.refcnt:
            files["refcnt"] = str(mod.refcount)
        if mod.version is not None:
            files["version"] = one_page(mod.version)
        if mod.srcversion is not None:
            files["srcversion"] = one_page(mod.srcversion)
        for holder in mod.holders:
            files["holders/" + holder.name] = "../../%s" % holder.name
        # one entry per allocated non-empty section, made at load and kept
        # (init sections too, after init)
        for section, addr in mod.section_addrs.items() if self.sections else ():
            files["sections/" + section] = "0x%016x" % addr
        return files


class Stub:
    def module_compression(self) -> str | None:
        return None

    def mod_sysfs_setup(self, mod: Module, info: LoadInfo) -> None:
        pass

    def mod_sysfs_teardown(self, mod: Module) -> None:
        pass

    def sysfs_read(self, name: str) -> dict[str, str]:
        raise ModuleLoadError(errno.ENOENT, "/sys/module/%s: No such file or directory "
                              "(kernel built without CONFIG_SYSFS)" % name,
                              module=name, stage="sysfs")
