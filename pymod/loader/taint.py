"""Taint policy: the kernel-wide taint mask and what loading a module adds to it.

``add_taint_module`` taints the module and the kernel (``add_taint_module``
in ``kernel/module/main.c``); ``augment_kernel_taints`` is the kernel's
function of that name, run once per load after the module is listed.
"""

from __future__ import annotations

from pymod.loader.facades import Retpoline, SigCheck
from pymod.loader.internal import KERNEL_TAINT_LETTERS, LoadInfo, Module, Taint, taint_letters
from pymod.loader.klog import KernelLog

# license_is_gpl_compatible() (include/linux/license.h)
GPL_COMPATIBLE = frozenset({"GPL", "GPL v2", "GPL and additional rights", "Dual BSD/GPL",
                            "Dual MIT/GPL", "Dual MPL/GPL"})


# The taints the module code adds with LOCKDEP_NOW_UNRELIABLE (forced load,
# proprietary licence, forced unload); every other module taint, and the
# unsafe-parameter U of kernel/params.c, is LOCKDEP_STILL_OK.
LOCKDEP_UNRELIABLE = frozenset({Taint.FORCED_MODULE, Taint.PROPRIETARY_MODULE,
                                Taint.FORCED_RMMOD})


class KernelTaints:
    """``tainted_mask``: the kernel-wide taint bits."""

    def __init__(self, log: KernelLog) -> None:
        self.mask = 0
        self.log = log
        # lib/debug_locks.c's debug_locks: 1 at boot whatever CONFIG_LOCKDEP
        # says, cleared by the first taint that makes lockdep unreliable.
        self.debug_locks = True

    def has(self, flag: Taint) -> bool:
        return bool(self.mask >> flag & 1)

    def add(self, flag: Taint) -> None:
        """``add_taint``: taint the kernel only (e.g. R, a forced unload)."""
        if flag in LOCKDEP_UNRELIABLE and self.debug_locks:
            self.debug_locks = False       # __debug_locks_off() succeeds once a boot
            self.log.pr_warn("Disabling lock debugging due to kernel taint")
        self.mask |= 1 << flag

    def add_module(self, mod: Module, flag: Taint) -> None:
        """``add_taint_module``: taint the module and the kernel."""
        self.add(flag)
        mod.add_taint(flag)

    @property
    def letters(self) -> str:
        """Kernel-wide taint letters (module taints and R), in print order."""
        return taint_letters(self.mask, KERNEL_TAINT_LETTERS)


def _taint_once(taints: KernelTaints, log: KernelLog, mod: Module, flag: Taint,
                message: str) -> None:
    """Warn only when the kernel was not already tainted so, then taint."""
    if not taints.has(flag):
        log.pr_warn(message)
    taints.add_module(mod, flag)


def augment_kernel_taints(taints: KernelTaints, log: KernelLog, sig: SigCheck,
                          retpoline: Retpoline, mod: Module, info: LoadInfo) -> None:
    """Taint the module (and the kernel) for what its modinfo and signature say."""
    proprietary_before = taints.has(Taint.PROPRIETARY_MODULE)
    if info.get_modinfo("intree") is None:
        _taint_once(taints, log, mod, Taint.OOT_MODULE,
                    "%s: loading out-of-tree module taints kernel." % mod.name)
    if not retpoline.retpoline_module_ok(info.get_modinfo("retpoline") is not None):
        log.pr_warn("%s: loading module not compiled with retpoline compiler." % mod.name)
    if info.get_modinfo("staging") is not None:
        taints.add_module(mod, Taint.CRAP)
        log.pr_warn("%s: module is from the staging directory, the quality is "
                    "unknown, you have been warned." % mod.name)
    if mod.klp:
        taints.add_module(mod, Taint.LIVEPATCH)
        log.pr_notice_once("livepatch", "%s: tainting kernel with TAINT_LIVEPATCH" % mod.name)
    license = info.get_modinfo("license")
    if license is None:       # absent; an empty licence stays empty (and proprietary)
        license = "unspecified"
    if license not in GPL_COMPATIBLE:
        _taint_once(taints, log, mod, Taint.PROPRIETARY_MODULE,
                    "%s: module license '%s' taints kernel." % (mod.name, license))
    if info.get_modinfo("test") is not None:
        _taint_once(taints, log, mod, Taint.TEST,
                    "%s: loading test module taints kernel." % mod.name)
    mod.sig_ok = sig.module_sig_ok(info)
    mod.sig_errno = 0 if mod.sig_ok else info.sig_errno
    if not mod.sig_ok:
        log.pr_notice_once("sig", "%s: module verification failed: signature and/or "
                           "required key missing - tainting kernel" % mod.name)
        taints.add_module(mod, Taint.UNSIGNED_MODULE)
    # Known proprietary modules that claim a GPL licence (the kernel's list).
    if mod.name in ("driverloader", "lve"):
        taints.add_module(mod, Taint.PROPRIETARY_MODULE)
    elif mod.name == "ndiswrapper":
        taints.add(Taint.PROPRIETARY_MODULE)
    if not proprietary_before and taints.has(Taint.PROPRIETARY_MODULE):
        log.pr_warn("%s: module license taints kernel." % mod.name)
