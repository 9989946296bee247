"""CONFIG_EVENT_TRACING: see :class:`pymod.contract.facades.TraceEvents`."""

from __future__ import annotations

from pymod.contract.internal import LoadInfo, Module
from pymod.contract.klog import KernelLog
from pymod.contract.sections import find_sec


class TraceEvents:
    def __init__(self, log: KernelLog, good_taints: int):
        self.log = log
        self.good_taints = good_taints

    def module_coming(self, mod: Module, info: LoadInfo) -> None:
        # trace_module_add_events: only a module with events is looked at
        events = find_sec(info, "_ftrace_events")
        if not events or not int(info.shdrs[events]["sh_size"]):
            return
        if mod.taints & ~self.good_taints:
            self.log.pr_err("%s: module has bad taint, not creating trace events" % mod.name)


class Stub:
    def module_coming(self, mod: Module, info: LoadInfo) -> None:
        pass
