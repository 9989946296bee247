"""CONFIG_MITIGATION_RETPOLINE: see :class:`pymod.loader.facades.Retpoline`."""

from __future__ import annotations

from pymod.loader.klog import KernelLog


class Retpoline:
    def __init__(self, log: KernelLog, spectre_v2_enabled: bool):
        self.log = log
        self.enabled = spectre_v2_enabled

    def retpoline_module_ok(self, has_retpoline: bool) -> bool:
        if not self.enabled or has_retpoline:
            return True
        self.log.pr_err("System may be vulnerable to spectre v2")
        return False


class Stub:
    def retpoline_module_ok(self, has_retpoline: bool) -> bool:
        return True
