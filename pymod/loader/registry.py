"""The registry: what a kernel holds between loads, and the questions asked of it.

The module list (in load order; ``/proc/modules`` prints newest first), the
ids the address map knows modules by, the symbol directory, the module area,
the taint mask and the log, plus the features chosen from the config.  The
load and unload stages (:mod:`pymod.loader.kernel`, :mod:`~pymod.loader.delete`,
...) take a registry; nothing here loads anything.
"""

from __future__ import annotations

import itertools
import os
import threading
import weakref
from typing import Any

from pymod import forklocks
from pymod.config import DEFAULT_RELEASE, Config
from pymod.contract.internal import Module, ModuleState
from pymod.contract.klog import KernelLog
from pymod.contract.taint import KernelTaints
from pymod.features import Features, select_features
from pymod.loader.memory import ModuleArea
from pymod.loader.symbols import SymbolDirectory, vmlinux_symbols


def _default_symvers(config: Config) -> str | None:
    """The built-in default kernel's ``Module.symvers`` (shipped with the samples)."""
    if config.release != DEFAULT_RELEASE:
        return None
    from pymod.samples import default_symvers

    path = default_symvers()
    return os.fspath(path) if path.exists() else None


class Registry:
    """A simulated kernel's module state.

    ``symvers``: path of the kernel's ``Module.symvers``; None means the
    built-in default kernel's (shipped with the samples) when ``config`` has
    the default release, else no vmlinux exports.

    Concurrency, as in the kernel: ``module_mutex`` serializes everything that
    changes the registry (loads, unloads, references) and the readers that
    walk the module list (``modules``, ``/proc/modules``, sysfs);
    :meth:`find` takes no lock (the lookup core is lock-free and the id
    index is read with one dictionary lookup), so a module it returns may be
    going away, exactly as ``__module_address`` allows.
    """

    def __init__(self, config: Config | None = None,
                 symvers: str | os.PathLike[str] | None = None,
                 trusted_keys: tuple[object, ...] = (), sig_enforce: bool = False,
                 lockdown: bool = False, blacklisted_hashes: frozenset[bytes] = frozenset()):
        self.config = config or Config()
        self.comm = "insmod"             # current->comm in the kernel's messages
        # stand-in kernel-heap addresses for charp parameter copies
        self.kmalloc_ids = itertools.count()
        self.log = KernelLog()
        if symvers is None:
            symvers = _default_symvers(self.config)
        self.symbols = SymbolDirectory(vmlinux_symbols(os.fspath(symvers)) if symvers else ())
        self.taint = KernelTaints(self.log)
        self.features: Features = select_features(
            self.config, self.log, self.taint, symbol_crc=self.symbols.crc_of,
            sig_enforce=sig_enforce, trusted_keys=tuple(trusted_keys),
            locked_down=self.security_locked_down,
            blacklisted_hashes=frozenset(blacklisted_hashes))
        # kernel lockdown at integrity level or above (unsigned modules and
        # hardware parameters are refused): the LSM decides, given lockdown=;
        # a configured default level locks down without lockdown=, and a
        # kernel without the LSM has no lockdown at all
        self.lockdown = self.features.lockdown.at_boot(lockdown)
        arch = self.config.arch_hooks
        self.area = ModuleArea(arch.modules_vaddr, arch.modules_end, arch.load_copy_base)
        # the key of %p's pointer hashing (random per boot in the kernel)
        self.ptr_key = os.urandom(16)
        self._modules: dict[str, Module] = {}
        self._by_id: dict[int, Module] = {}
        self._ids = itertools.count(1)
        self.notices: list[str] = []
        self.last_unloaded: tuple[str, str] | None = None   # (name, taint flags)
        self.module_mutex = threading.RLock()
        # Followers of module changes (a KernelSymbolizer): each has
        # module_coming/module_live/module_gone, called under module_mutex.
        self.watchers: weakref.WeakSet[Any] = weakref.WeakSet()
        # A child must not inherit a load half done by another thread: fork
        # waits for the mutex (before any symbolizer's lock: pymod.forklocks).
        mutex = self.module_mutex
        forklocks.track(self, forklocks.KERNEL, lambda: (mutex,))
        if not self.config.checks_struct_module_size and self.config.version >= (6, 12):
            self.notices.append("sizeof(struct module) unknown: the .gnu.linkonce.this_module "
                                "size check is skipped")

    def security_locked_down(self, what: str) -> bool:
        """``security_locked_down()`` for an integrity reason (``what`` is its
        text in lockdown_reasons[]): the lockdown LSM's notice when locked."""
        if self.lockdown:
            self.log.pr_notice("Lockdown: %s: %s is restricted; see man kernel_lockdown.7"
                               % (self.comm, what))
        return self.lockdown

    @property
    def modules(self) -> list[Module]:
        """Formed modules in load order."""
        with self.module_mutex:
            return [m for m in self._modules.values() if m.state != ModuleState.UNFORMED]

    def module(self, name: str) -> Module | None:
        """``find_module``: a formed module by name, or None."""
        mod = self._modules.get(name)
        return mod if mod is not None and mod.state != ModuleState.UNFORMED else None

    def find(self, addr: int) -> Module | None:
        """``__module_address``: the module owning ``addr`` (UNFORMED ones ignored)."""
        mod_id = self.features.tree.mod_find(addr)
        mod = self._by_id.get(mod_id) if mod_id is not None else None
        return mod if mod is not None and mod.state != ModuleState.UNFORMED else None

    def within_module(self, addr: int, module: Module | str) -> bool:
        mod = self._modules.get(module) if isinstance(module, str) else module
        return mod is not None and mod.within(addr)

    @property
    def taints(self) -> int:
        """The kernel-wide taint mask."""
        return self.taint.mask

    @property
    def tainted(self) -> str:
        """Kernel-wide taint letters (module taints and R), in print order."""
        return self.taint.letters

    def list_module(self, mod: Module) -> None:
        """Put a new module in the address map and the list (``add_unformed_module``).

        The map first: it is the only step that can refuse, so a refusal
        leaves nothing behind (the kernel does both under one mutex)."""
        self.features.tree.mod_tree_insert(mod.id, mod.regions())
        self._modules[mod.name] = mod
        self._by_id[mod.id] = mod

    def unlist_module(self, mod: Module) -> None:
        """Take a module out of the list and the map; returns after the
        lookup core's grace period."""
        del self._modules[mod.name]
        del self._by_id[mod.id]
        self.features.tree.mod_tree_remove(mod.id)

    def notify(self, event: str, mod: Module) -> None:
        """Tell every watcher ``module_<event>(mod)`` (coming, live, gone)."""
        if self.watchers:
            for watcher in list(self.watchers):
                getattr(watcher, "module_" + event)(mod)

    def next_id(self) -> int:
        return next(self._ids)
