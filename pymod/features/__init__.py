"""One module per optional feature: its real implementation and its stub.

:func:`select_features` (with its two helpers) is the only place where a
:class:`~pymod.config.Config`'s Kconfig flags turn into implementations (a
test scans the source to keep it so); the loader then calls every facade
unconditionally.  The facades are declared,
with each stub's meaning, in :mod:`pymod.contract.facades`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pymod.contract.facades import (
    Constructors,
    Debugfs,
    Decompress,
    DynamicDebug,
    ForceLoad,
    Kallsyms,
    Livepatch,
    Lockdown,
    ModuleSupport,
    Namespaces,
    Percpu,
    Retpoline,
    SigCheck,
    Stats,
    StrictRwx,
    Sysfs,
    TaintTracking,
    TraceEvents,
    TreeLookup,
    Unload,
    Versioning,
)

if TYPE_CHECKING:
    from pymod.config import Config
    from pymod.contract.klog import KernelLog
    from pymod.contract.taint import KernelTaints


@dataclass(frozen=True)
class Features:
    decompress: Decompress
    sig: SigCheck
    versioning: Versioning
    force_load: ForceLoad
    unload: Unload
    namespaces: Namespaces
    livepatch: Livepatch
    sysfs: Sysfs
    debugfs: Debugfs
    stats: Stats
    taint_tracking: TaintTracking
    tree: TreeLookup
    strict_rwx: StrictRwx
    kallsyms: Kallsyms
    percpu: Percpu
    dynamic_debug: DynamicDebug
    constructors: Constructors
    retpoline: Retpoline
    trace_events: TraceEvents
    lockdown: Lockdown
    modules: ModuleSupport


def select_features(config: Config, log: KernelLog, taints: KernelTaints, *,
                    symbol_crc: Callable[[str], int | None], sig_enforce: bool,
                    locked_down: Callable[[str], bool] = lambda what: False,
                    blacklisted_hashes: frozenset[bytes] = frozenset(),
                    trusted_keys: tuple[object, ...] = ()) -> Features:
    """Pick each feature's real implementation or stub from ``config``.

    ``symbol_crc(name)`` returns the directory's CRC of an export (None when
    the exporter has none); versioning needs it for ``module_layout``.
    """
    from pymod.features import debugfs

    dbg: Debugfs = debugfs.Debugfs() if config.DEBUG_FS else debugfs.Stub()
    return Features(**_checks(config, log, taints, symbol_crc, sig_enforce, locked_down,
                              blacklisted_hashes, trusted_keys),
                    **_machinery(config, log, taints, dbg), debugfs=dbg)


def _checks(config: Config, log: KernelLog, taints: KernelTaints,
            symbol_crc: Callable[[str], int | None], sig_enforce: bool,
            locked_down: Callable[[str], bool], blacklisted_hashes: frozenset[bytes],
            trusted_keys: tuple[object, ...]) -> dict[str, Any]:
    """The features that accept or refuse a module."""
    from pymod.contract.kver import rules_for
    from pymod.features import (
        constructors,
        force_load,
        livepatch,
        lockdown,
        module_support,
        namespaces,
        retpoline,
        signature,
        strict_rwx,
        versioning,
    )

    force: ForceLoad = (force_load.ForceLoad(log, taints) if config.MODULE_FORCE_LOAD
                        else force_load.Stub())
    forced = ("confidentiality" if config.LOCK_DOWN_KERNEL_FORCE_CONFIDENTIALITY else
              "integrity" if config.LOCK_DOWN_KERNEL_FORCE_INTEGRITY else None)
    # ima_efi.c: under Secure Boot the arch policy sets module.sig_enforce
    ima_sb = config.IMA_ARCH_POLICY and config.IMA_SECURE_AND_OR_TRUSTED_BOOT
    return dict(
        sig=(signature.SigCheck(log, enforce=sig_enforce or config.MODULE_SIG_FORCE,
                                trusted_keys=trusted_keys, locked_down=locked_down,
                                blacklisted_hashes=blacklisted_hashes,
                                series=rules_for(config).pkcs7,
                                blacklist_keyring=config.SYSTEM_BLACKLIST_KEYRING,
                                platform_keyring=config.INTEGRITY_PLATFORM_KEYRING,
                                secure_boot_enforces=ima_sb)
             if config.MODULE_SIG else signature.Stub(ima_appraises=ima_sb)),
        versioning=(versioning.Versioning(log, symbol_crc, force,
                                          config.modversions_reject_missing)
                    if config.MODVERSIONS else versioning.Stub()),
        force_load=force,
        namespaces=(namespaces.AllowMissing(log)
                    if config.MODULE_ALLOW_MISSING_NAMESPACE_IMPORTS
                    else namespaces.Enforce(log)),
        livepatch=livepatch.Livepatch() if config.LIVEPATCH else livepatch.Stub(),
        strict_rwx=(strict_rwx.StrictRwx(log) if config.STRICT_MODULE_RWX
                    else strict_rwx.Stub()),
        constructors=(constructors.Constructors(log) if config.CONSTRUCTORS
                      else constructors.Stub()),
        retpoline=(retpoline.Retpoline(log, config.spectre_v2_mitigation)
                   if config.MITIGATION_RETPOLINE else retpoline.Stub()),
        lockdown=(lockdown.Lockdown(forced, config.LOCK_DOWN_IN_EFI_SECURE_BOOT)
                  if config.SECURITY_LOCKDOWN_LSM else lockdown.Stub()),
        modules=(module_support.ModuleSupport() if config.MODULES
                 else module_support.Stub()),
    )


def _machinery(config: Config, log: KernelLog, taints: KernelTaints,
               dbg: Debugfs) -> dict[str, Any]:
    """The features that hold, lay out, show or count modules."""
    from pymod.contract.kver import rules_for
    from pymod.features import (
        decompress,
        dynamic_debug,
        kallsyms,
        module_unload,
        percpu,
        stats,
        sysfs,
        taint_tracking,
        trace_events,
        tree_lookup,
    )

    return dict(
        decompress=(decompress.Decompress(config.module_compression or "", log)
                    if config.MODULE_DECOMPRESS else decompress.Stub()),
        unload=(module_unload.Unload(taints, allow_force=config.MODULE_FORCE_UNLOAD)
                if config.MODULE_UNLOAD else module_unload.Stub()),
        sysfs=(sysfs.Sysfs(config.module_compression if config.MODULE_DECOMPRESS else None,
                           refcnt=config.MODULE_UNLOAD, sections=config.KALLSYMS,
                           data_in_vmalloc=config.ARCH_WANTS_MODULES_DATA_IN_VMALLOC)
               if config.SYSFS else sysfs.Stub()),
        stats=stats.Stats(log, dbg) if config.MODULE_STATS else stats.Stub(),
        taint_tracking=(taint_tracking.TaintTracking(dbg)
                        if config.MODULE_UNLOAD_TAINT_TRACKING else taint_tracking.Stub()),
        tree=tree_lookup.TreeLookup("tree" if config.MODULES_TREE_LOOKUP else "list"),
        kallsyms=(kallsyms.Kallsyms(all_symbols=config.KALLSYMS_ALL) if config.KALLSYMS
                  else kallsyms.Stub()),
        percpu=(percpu.Percpu(log, config.percpu_static_size, config.percpu_reserve)
                if config.SMP else percpu.Stub()),
        dynamic_debug=(dynamic_debug.DynamicDebug() if config.DYNAMIC_DEBUG
                       else dynamic_debug.Stub(log)),
        trace_events=(trace_events.TraceEvents(log, rules_for(config).trace_good_taints)
                      if config.EVENT_TRACING else trace_events.Stub()),
    )
