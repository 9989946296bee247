"""CONFIG_SYSFS: see :class:`pymod.loader.facades.Sysfs` (``/sys/module/<name>/``)."""

from __future__ import annotations

import errno

from pymod.errors import ModuleLoadError
from pymod.loader.internal import LoadInfo, MemType, Module, ModuleState

_INITSTATE = {ModuleState.LIVE: "live", ModuleState.COMING: "coming",
              ModuleState.GOING: "going"}


class Sysfs:
    """Directories are live views of their module, rendered on read."""

    def __init__(self, compression: str | None = None) -> None:
        self.dirs: dict[str, Module] = {}
        self.compression = compression

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
        files = {
            "initstate": _INITSTATE.get(mod.state, "unknown"),
            "coresize": str(sum(mod.mem[t].size for t in MemType if not t.is_init)),
            "initsize": str(sum(mod.mem[t].size for t in MemType if t.is_init)),
            "taint": mod.taint_letters,
            "refcnt": str(mod.refcount),
        }
        if mod.version is not None:
            files["version"] = mod.version
        if mod.srcversion is not None:
            files["srcversion"] = mod.srcversion
        for holder in mod.holders:
            files["holders/" + holder.name] = "../../%s" % holder.name
        for section, addr in mod.section_addrs.items():
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
