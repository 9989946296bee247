"""Unloading and references: ``delete_module(2)``, ``try_module_get`` /
``module_put``, and ``free_module``, which a failed load's unwind shares."""

from __future__ import annotations

import errno

from pymod.contract.internal import DELETE_FORCE, Module, ModuleState
from pymod.elf.constants import MODULE_NAME_LEN
from pymod.errors import ModuleLoadError
from pymod.loader.memory import free_mem
from pymod.loader.registry import Registry


def try_module_get(reg: Registry, name: str) -> bool:
    """``try_module_get``: a reference on a module that ``module_is_live()``
    (not going away; a module still in its init counts)."""
    mod = reg.module(name)
    if mod is None or mod.state == ModuleState.GOING:
        return False
    mod.refcnt += 1
    return True


def module_put(reg: Registry, name: str) -> None:
    mod = reg.module(name)
    if mod is None or mod.refcount <= 0:
        raise ModuleLoadError(errno.EINVAL, "module_put: %s holds no reference" % name,
                              module=name, stage="refcount")
    mod.refcnt -= 1


def _refuse(code: int, message: str, name: str) -> ModuleLoadError:
    return ModuleLoadError(code, message, module=name, stage="unload")


def delete_module(reg: Registry, name: str, force: bool = False) -> None:
    """``delete_module(2)``: unload a LIVE module nobody uses."""
    unload = reg.features.unload
    unload.check_delete_module(name)
    flags = DELETE_FORCE if force else 0
    # strncpy_from_user(name, MODULE_NAME_LEN): the name ends at a NUL; an
    # empty one, or one that fills the buffer, names nothing.
    name = name.split("\0", 1)[0]
    if not name or len(name.encode("utf-8", "surrogateescape")) >= MODULE_NAME_LEN:
        raise _refuse(errno.ENOENT, "delete_module: no module named %r" % name[:80], name)
    mod = reg.module(name)
    if mod is None:
        raise _refuse(errno.ENOENT, "%s: module is not loaded" % name, name)
    if mod.holders:
        raise _refuse(errno.EWOULDBLOCK, "%s: module is in use by: %s"
                      % (name, " ".join(h.name for h in reversed(mod.holders))), name)
    if mod.state != ModuleState.LIVE:
        raise _refuse(errno.EBUSY, "%s: module is %s" % (
            name, "still initialising" if mod.state == ModuleState.COMING else "going away"),
            name)
    if mod.has_init and not mod.has_exit and not unload.try_force_unload(flags):
        raise _refuse(errno.EBUSY, "%s: module has an init but no exit function: "
                      "it cannot be removed" % name, name)
    if mod.refcount != 0 and not unload.try_force_unload(flags):
        raise _refuse(errno.EWOULDBLOCK, "%s: module is in use (refcount %d)"
                      % (name, mod.refcount), name)
    mod.state = ModuleState.GOING
    # for oops reports: the name and taints of the last module unloaded
    reg.last_unloaded = (mod.name, mod.flags(show_state=False))
    free_module(reg, mod)


def module_unload_free(mod: Module) -> None:
    """Drop the references ``mod`` holds on the modules it uses."""
    for target in mod.uses:
        target.refcnt -= 1
        target.holders.remove(mod)
    mod.uses.clear()


def free_module(reg: Registry, mod: Module) -> None:
    """Everything a live module holds, released (``free_module``)."""
    f = reg.features
    reg.notify("gone", mod)
    f.sysfs.mod_sysfs_teardown(mod)
    mod.state = ModuleState.UNFORMED
    reg.symbols.withdraw(mod.syms)
    reg.unlist_module(mod)
    f.livepatch.free_module_elf(mod)
    module_unload_free(mod)
    f.taint_tracking.try_add_tainted_module(mod)
    f.percpu.percpu_modfree(mod)
    free_mem(reg.area, mod)
