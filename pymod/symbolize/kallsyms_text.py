"""The module part of ``/proc/kallsyms`` a real kernel prints for a pymod Kernel.

``kernel/kallsyms.c`` prints, after vmlinux's symbols, every symbol of
every formed module, newest module first, in the order of the table the
module uses at that moment (the full ELF table while it initialises, the
core table after), skipping empty names, as ``%px %c %s\\t[%s]``.

The letter is ``elf_type``'s (computed at load from the section headers
as the loader left them: weak ``v``/``w``, undefined ``U``, absolute or
per-cpu ``a``, executable ``t``, read-only ``r``, writable ``d``,
``NOBITS`` ``b``, ``.debug*`` ``n``, else ``?``), printed upper case when
the module exports the symbol and lower case otherwise (so ``U`` prints
as ``u``); see :func:`~pymod.symbolize.placement.printed_letters`.

pymod records no value for an undefined symbol, so where the kernel
prints the address it resolved to, these lines print 0.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import numpy as np

from pymod.contract.internal import Module, ModuleState
from pymod.features.kallsyms import ModKallsyms
from pymod.symbolize.placement import printed_types, uses_full_table

__all__ = ["kallsyms_text", "module_kallsyms_lines"]


class _HasModules(Protocol):
    """Anything with a ``modules`` list, as a kernel has."""

    @property
    def modules(self) -> list[Module]: ...


def module_kallsyms_lines(mod: Module) -> list[str]:
    """One module's ``/proc/kallsyms`` lines (none while UNFORMED or
    without kallsyms)."""
    ks: ModKallsyms | None = mod.kallsyms
    if mod.state == ModuleState.UNFORMED or ks is None:
        return []
    rows = range(len(ks.addrs)) if uses_full_table(mod) else ks.core.tolist()
    letters = printed_types(mod, ks)
    addrs = np.asarray(ks.addrs, dtype=np.uint64).tolist()
    offs = np.asarray(ks.st_name).tolist()
    strtab = ks.strtab
    out = []
    suffix = "\t[%s]\n" % mod.name
    for i in rows:
        start = offs[i]
        end = strtab.find(b"\0", start)
        name = strtab[start:end if end >= 0 else None]
        if name:
            out.append("%016x %c %s%s" % (addrs[i], letters[i], name.decode(
                "utf-8", "surrogateescape"), suffix))
    return out


def kallsyms_text(kernel: _HasModules | Iterable[Module]) -> str:
    """The ``[module]`` lines of ``/proc/kallsyms`` for a Kernel's modules
    (or for the given modules, in the kernel's list order: oldest first),
    newest module first, as a reader allowed to see addresses gets them.
    The module list must not change meanwhile: call it under the kernel's
    ``module_mutex``."""
    modules = kernel.modules if hasattr(kernel, "modules") else list(kernel)
    return "".join(line for mod in reversed(list(modules))
                   for line in module_kallsyms_lines(mod))
