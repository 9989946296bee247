"""Taint policy: the kernel-wide taint mask and what loading a module adds to it.

``add_taint_module`` taints the module and the kernel (``add_taint_module``
in ``kernel/module/main.c``).  What a module's modinfo and signature taint
for is a list of named steps (``STEPS``); where in the load each runs
is the kernel version's (:mod:`pymod.contract.kver`): 6.12 runs them all in
``module_augment_kernel_taints`` once the module is listed
(:func:`augment_kernel_taints`), 6.1 most of them in ``check_modinfo``.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from typing import Protocol

from pymod.contract.facades import Livepatch, Retpoline, SigCheck
from pymod.contract.internal import KERNEL_TAINT_LETTERS, LoadInfo, Module, Taint, taint_letters
from pymod.contract.klog import KernelLog
from pymod.contract.kver import RULES_6_12
from pymod.errors import ModuleLoadError

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


class Features(Protocol):
    """The facades the steps call (a :class:`pymod.features.Features` is one)."""

    @property
    def sig(self) -> SigCheck: ...
    @property
    def retpoline(self) -> Retpoline: ...
    @property
    def livepatch(self) -> Livepatch: ...


class _Steps:
    """One run of taint steps (``STEPS``) for one module.

    ``proprietary_before`` is the proprietary taint as the run began: the
    kernel reads it at the top of the function whose last line is "module
    license taints kernel." (6.12's module_augment_kernel_taints, 6.1's
    check_module_license_and_versions)."""

    def __init__(self, taints: KernelTaints, log: KernelLog, features: Features,
                 mod: Module, info: LoadInfo):
        self.taints, self.log, self.f, self.mod, self.info = taints, log, features, mod, info
        self.proprietary_before = taints.has(Taint.PROPRIETARY_MODULE)

    def intree(self) -> None:
        if self.info.get_modinfo("intree") is None:
            _taint_once(self.taints, self.log, self.mod, Taint.OOT_MODULE,
                        "%s: loading out-of-tree module taints kernel." % self.mod.name)

    def retpoline(self) -> None:
        if not self.f.retpoline.retpoline_module_ok(
                self.info.get_modinfo("retpoline") is not None):
            self.log.pr_warn("%s: loading module not compiled with retpoline compiler."
                             % self.mod.name)

    def staging(self) -> None:
        if self.info.get_modinfo("staging") is not None:
            self.taints.add_module(self.mod, Taint.CRAP)
            self.log.pr_warn("%s: module is from the staging directory, the quality is "
                             "unknown, you have been warned." % self.mod.name)

    def livepatch_check(self) -> None:
        """``check_modinfo_livepatch``: refuse a livepatch module without LIVEPATCH."""
        if self.info.get_modinfo("livepatch") is not None and \
                not self.f.livepatch.set_livepatch_module(self.mod):
            message = self.log.pr_err("%s: module is marked as livepatch module, but "
                                      "livepatch support is disabled" % self.mod.name)
            raise ModuleLoadError(errno.ENOEXEC, message, module=self.mod.name,
                                  stage="livepatch")

    def livepatch_taint(self) -> None:
        if self.mod.klp:
            self.taints.add_module(self.mod, Taint.LIVEPATCH)
            self.log.pr_notice_once("livepatch", "%s: tainting kernel with TAINT_LIVEPATCH"
                                    % self.mod.name)

    def license(self) -> None:
        license = self.info.get_modinfo("license")
        if license is None:       # absent; an empty licence stays empty (and proprietary)
            license = "unspecified"
        if license not in GPL_COMPATIBLE:
            _taint_once(self.taints, self.log, self.mod, Taint.PROPRIETARY_MODULE,
                        "%s: module license '%s' taints kernel." % (self.mod.name, license))

    def test(self) -> None:
        if self.info.get_modinfo("test") is not None:
            _taint_once(self.taints, self.log, self.mod, Taint.TEST,
                        "%s: loading test module taints kernel." % self.mod.name)

    def signature(self) -> None:
        mod = self.mod
        mod.sig_ok = self.f.sig.module_sig_ok(self.info)
        mod.sig_errno = 0 if mod.sig_ok else self.info.sig_errno
        if not mod.sig_ok:
            self.log.pr_notice_once("sig", "%s: module verification failed: signature "
                                    "and/or required key missing - tainting kernel" % mod.name)
            self.taints.add_module(mod, Taint.UNSIGNED_MODULE)

    def named_proprietary(self) -> None:
        """Known proprietary modules that claim a GPL licence (the kernel's
        list), then the second licence line when this run tainted first."""
        if self.mod.name in ("driverloader", "lve"):
            self.taints.add_module(self.mod, Taint.PROPRIETARY_MODULE)
        elif self.mod.name == "ndiswrapper":
            self.taints.add(Taint.PROPRIETARY_MODULE)
        if not self.proprietary_before and self.taints.has(Taint.PROPRIETARY_MODULE):
            self.log.pr_warn("%s: module license taints kernel." % self.mod.name)


# The step names pymod.contract.kver's rules list, in the order a kernel runs them.
STEPS: dict[str, Callable[[_Steps], None]] = {
    name: getattr(_Steps, name) for name in (
        "intree", "retpoline", "staging", "livepatch_check", "livepatch_taint", "license",
        "test", "signature", "named_proprietary")}


def run_taint_steps(steps: tuple[str, ...], taints: KernelTaints, log: KernelLog,
                    features: Features, mod: Module, info: LoadInfo) -> None:
    """Run ``steps`` (names in ``STEPS``) in order, for one module."""
    run = _Steps(taints, log, features, mod, info)
    for name in steps:
        STEPS[name](run)


def augment_kernel_taints(taints: KernelTaints, log: KernelLog, features: Features,
                          mod: Module, info: LoadInfo,
                          steps: tuple[str, ...] = RULES_6_12.listed_steps) -> None:
    """Taint the module (and the kernel) once it is listed, for what its
    modinfo and signature say: the kernel version's ``listed_steps``."""
    run_taint_steps(steps, taints, log, features, mod, info)
