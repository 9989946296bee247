"""CONFIG_MODULE_DECOMPRESS: see :class:`pymod.loader.facades.Decompress`."""

from __future__ import annotations

import errno

from pymod.errors import ModuleLoadError
from pymod.loader.internal import LoadInfo
from pymod.loader.klog import KernelLog

_NOT_A = {
    "gzip": "not a gzip compressed module",
    "xz": "not an xz compressed module",
    "zstd": "not a zstd compressed module",
}


class Decompress:
    def __init__(self, formats: frozenset[str], log: KernelLog):
        self.formats = formats
        self.log = log

    def module_decompress(self, info: LoadInfo) -> None:
        from pymod.elf.compression import decompress

        kind = info.compression
        if kind not in self.formats:
            # A kernel built for one format tries only that one.
            expected = next(iter(self.formats)) if len(self.formats) == 1 else ""
            msg = self.log.pr_err(_NOT_A.get(expected, "not a supported compressed module"))
            raise ModuleLoadError(errno.EINVAL, msg, stage="decompress")
        payload = info.predecompressed
        if payload is None:
            try:
                payload = decompress(info.raw, kind)
            except ModuleLoadError as e:
                self.log.pr_err(e.strerror)
                raise ModuleLoadError(e.errno, e.strerror, stage="decompress") from None
        info.compressed_len = len(info.raw)
        info.payload = payload
        info.len = len(payload)

    def module_decompress_cleanup(self, info: LoadInfo) -> None:
        # The decompressed pages belong to LoadInfo; dropping the reference frees them.
        info.payload = b""
        info.predecompressed = None


class Stub:
    def module_decompress(self, info: LoadInfo) -> None:
        raise ModuleLoadError(errno.EOPNOTSUPP,
                              "module is %s compressed but the kernel has no "
                              "CONFIG_MODULE_DECOMPRESS" % info.compression,
                              stage="decompress")

    def module_decompress_cleanup(self, info: LoadInfo) -> None:
        pass
