"""What a simulated kernel shows, asked from outside: its module memory
(as a debugger reads ``/proc/kcore``), ``/sys/module``, debugfs, the
module lines of ``/proc/kallsyms`` and its security posture.

Functions over a :class:`~pymod.loader.kernel.Kernel` (any
:class:`~pymod.loader.registry.Registry`), each under its
``module_mutex`` where the kernel's module list is read, so that the class
itself is the syscalls and the load driver.  ``/proc/modules`` and the
oops report's module line stay methods of the kernel
(:meth:`~pymod.loader.kernel.Kernel.proc_modules`,
:meth:`~pymod.loader.kernel.Kernel.print_modules`).
"""

from __future__ import annotations

import errno

from pymod.errors import InvalidArgument, InvalidType, PymodError
from pymod.loader import posture as _posture
from pymod.loader.kallsyms_text import kallsyms_text
from pymod.loader.param_sysfs import param_files
from pymod.loader.registry import Registry

__all__ = ["read", "sysfs", "debugfs", "kallsyms", "posture"]


def read(kernel: Registry, addr: int, size: int) -> bytes:
    """``size`` bytes of loaded module memory at kernel address ``addr``,
    as a debugger reads ``/proc/kcore``: the bytes after relocation.
    Raises EFAULT unless one live region holds the whole range (freed
    init memory included)."""
    for name, value in (("addr", addr), ("size", size)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidType("read: %s must be an int, not %s"
                              % (name, type(value).__name__))
    if not 0 <= addr < 1 << 64 or size < 0:
        raise InvalidArgument("read: address %#x or size %d out of range" % (addr, size))
    with kernel.module_mutex:
        mod = kernel.find(addr)
        for region in mod.mem.values() if mod is not None else ():
            off = addr - region.base
            if mod is not None and region.size and region.data is not None \
                    and 0 <= off < region.size:
                if off + size > region.size:
                    raise PymodError(errno.EFAULT, "read: %#x+%#x runs past the end of "
                                     "%s's region at %#x" % (addr, size, mod.name,
                                                             region.base))
                return bytes(region.data[off:off + size])
    raise PymodError(errno.EFAULT, "read: no live module memory at %#x" % addr)


def sysfs(kernel: Registry, name: str) -> dict[str, str]:
    """``/sys/module/<name>/``: file name -> contents (no trailing newline)."""
    with kernel.module_mutex:
        files = kernel.features.sysfs.sysfs_read(name)
        # the list's own entry, UNFORMED ones included, as sysfs_read sees it
        mod = kernel._modules.get(name)
        if mod is not None:
            files.update(param_files(kernel, mod))
        return files


def debugfs(kernel: Registry, path: str) -> str:
    """A debugfs file under ``/sys/kernel/debug/`` (``modules/stats``,
    ``modules/unloaded_tainted``); ENOENT without the option behind it."""
    return kernel.features.debugfs.debugfs_read(path)


def kallsyms(kernel: Registry) -> str:
    """The module lines of ``/proc/kallsyms`` this kernel would print."""
    with kernel.module_mutex:
        return kallsyms_text(kernel)


def posture(kernel: Registry) -> dict[str, dict[str, object]]:
    """Which security properties this kernel enforces, each with the
    setting responsible and what happens without it (for metrics; see
    ``pymod posture`` for a table)."""
    return _posture.as_dict(_posture.posture(kernel))
