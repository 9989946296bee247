"""CONFIG_DEBUG_FS: see :class:`pymod.contract.facades.Debugfs`."""

from __future__ import annotations

import errno
from collections.abc import Callable

from pymod.errors import ModuleLoadError


class Debugfs:
    def __init__(self) -> None:
        self.files: dict[str, Callable[[], str]] = {}

    def debugfs_create(self, path: str, reader: Callable[[], str]) -> None:
        self.files[path] = reader

    def debugfs_read(self, path: str) -> str:
        reader = self.files.get(path)
        if reader is None:
            raise ModuleLoadError(errno.ENOENT, "/sys/kernel/debug/%s: No such file or directory"
                                  % path, stage="debugfs")
        return reader()


class Stub:
    def debugfs_create(self, path: str, reader: Callable[[], str]) -> None:
        pass

    def debugfs_read(self, path: str) -> str:
        raise ModuleLoadError(errno.ENOENT, "/sys/kernel/debug/%s: No such file or directory "
                              "(kernel built without CONFIG_DEBUG_FS)" % path, stage="debugfs")
