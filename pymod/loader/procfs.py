"""``/proc/modules``: one line per formed module, newest first.

``name size refcnt users state 0xaddress [(taints)]``; the refcount and
users columns come from the unload facade (``- -`` without MODULE_UNLOAD).
"""

from __future__ import annotations

from pymod.loader.internal import MemType, ModuleState
from pymod.loader.registry import Registry

_STATE = {ModuleState.GOING: "Unloading", ModuleState.COMING: "Loading"}


def proc_modules(reg: Registry) -> str:
    lines = []
    usage = reg.features.unload.proc_usage
    for mod in reversed(reg.modules):
        flags = mod.flags(show_state=True)
        lines.append("%s %u%s %s 0x%016x%s\n" % (
            mod.name, mod.total_size, usage(mod), _STATE.get(mod.state, "Live"),
            mod.mem[MemType.TEXT].base, " " + flags if mod.taints else ""))
    return "".join(lines)
