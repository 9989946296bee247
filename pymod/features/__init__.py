"""One module per optional feature: its real implementation and its stub.

:func:`select_features` is the single place where a :class:`Config` turns into
implementations; the loader then calls every facade unconditionally.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pymod.loader.internal import (Debugfs, Decompress, Kallsyms, Livepatch, SigCheck,
                        Stats, StrictRwx, Sysfs, TaintTracking, TreeLookup,
                        Versioning)

if TYPE_CHECKING:
    from pymod.config import Config
    from pymod.loader.klog import KernelLog


@dataclass(frozen=True)
class Features:
    decompress: Decompress
    sig: SigCheck
    versioning: Versioning
    livepatch: Livepatch
    sysfs: Sysfs
    debugfs: Debugfs
    stats: Stats
    taint_tracking: TaintTracking
    tree: TreeLookup
    strict_rwx: StrictRwx
    kallsyms: Kallsyms


def select_features(config: "Config", log: "KernelLog", *, symbol_crc,
                    sig_enforce: bool, trusted_keys: tuple = ()) -> Features:
    """Pick each feature's real implementation or stub from ``config``.

    ``symbol_crc(name)`` returns the directory's CRC of an export (None when
    the exporter has none); versioning needs it for ``module_layout``.
    """
    from pymod.features import (debugfs, decompress, kallsyms, livepatch, signature, stats,
                   strict_rwx, sysfs, taint_tracking, tree_lookup, versioning)

    dbg = debugfs.Debugfs() if config.DEBUG_FS else debugfs.Stub()
    st = stats.Stats(log, dbg) if config.MODULE_STATS else stats.Stub()
    tt = (taint_tracking.TaintTracking(dbg) if config.MODULE_UNLOAD_TAINT_TRACKING
          else taint_tracking.Stub())
    return Features(
        decompress=(decompress.Decompress(config.decompress_formats, log)
                    if config.MODULE_DECOMPRESS else decompress.Stub()),
        sig=(signature.SigCheck(log, enforce=sig_enforce or config.MODULE_SIG_FORCE,
                                trusted_keys=trusted_keys)
             if config.MODULE_SIG else signature.Stub()),
        versioning=(versioning.Versioning(log, symbol_crc, config)
                    if config.MODVERSIONS else versioning.Stub()),
        livepatch=livepatch.Livepatch() if config.LIVEPATCH else livepatch.Stub(),
        sysfs=sysfs.Sysfs() if config.SYSFS else sysfs.Stub(),
        debugfs=dbg,
        stats=st,
        taint_tracking=tt,
        tree=tree_lookup.TreeLookup("tree" if config.MODULES_TREE_LOOKUP else "list"),
        strict_rwx=strict_rwx.StrictRwx(log) if config.STRICT_MODULE_RWX else strict_rwx.Stub(),
        kallsyms=kallsyms.Kallsyms(config) if config.KALLSYMS else kallsyms.Stub(),
    )
