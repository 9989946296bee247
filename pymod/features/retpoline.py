"""CONFIG_MITIGATION_RETPOLINE (CONFIG_RETPOLINE before 6.9): see
:class:`pymod.contract.facades.Retpoline`."""

from __future__ import annotations

from pymod.contract.klog import KernelLog

# arch/x86/kernel/cpu/bugs.c defines pr_fmt as "Spectre V2 : " above
# retpoline_module_ok, in 6.1 and 6.12 alike.
PR_FMT = "Spectre V2 : "


class Retpoline:
    def __init__(self, log: KernelLog, spectre_v2_enabled: bool):
        self.log = log
        self.enabled = spectre_v2_enabled

    def retpoline_module_ok(self, has_retpoline: bool) -> bool:
        if not self.enabled or has_retpoline:
            return True
        self.log.pr_err(PR_FMT + "System may be vulnerable to spectre v2")
        return False


class Stub:
    def retpoline_module_ok(self, has_retpoline: bool) -> bool:
        return True
