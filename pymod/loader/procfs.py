"""``/proc/modules``: one line per formed module, newest first; and the
oops report's "Modules linked in:" line (``print_modules``).

``name size refcnt users state 0xaddress [(taints)]``; the refcount and
users columns come from the unload facade (``- -`` without MODULE_UNLOAD).
A reader that may not see kernel addresses (``kallsyms_show_value``
false: no CAP_SYSLOG under kptr_restrict) gets zeros for them.
"""

from __future__ import annotations

from pymod.contract.internal import MemType, ModuleState
from pymod.loader.registry import Registry

_STATE = {ModuleState.GOING: "Unloading", ModuleState.COMING: "Loading"}


def proc_modules(reg: Registry, show_addresses: bool = True) -> str:
    lines = []
    usage = reg.features.unload.proc_usage
    for mod in reversed(reg.modules):
        flags = mod.flags(show_state=True)
        lines.append("%s %u%s %s 0x%016x%s\n" % (
            mod.name, mod.total_size, usage(mod), _STATE.get(mod.state, "Live"),
            mod.mem[MemType.TEXT].base if show_addresses else 0,
            " " + flags if mod.taints else ""))
    return "".join(lines)


def print_modules(reg: Registry) -> str:
    """``print_modules``: the modules newest first with their flags, the
    unloaded tainted ones (taint tracking), the last unloaded module."""
    text = "Modules linked in:" + "".join(" %s%s" % (m.name, m.flags(show_state=True))
                                          for m in reversed(reg.modules))
    tracked = reg.features.taint_tracking.unloaded_tainted_modules()
    if tracked:
        text += "\n" + tracked   # its own printk line, then pr_cont resumes it
    if reg.last_unloaded is not None:
        text += " [last unloaded: %s%s]" % reg.last_unloaded
    return text + "\n"
