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
as ``u``); see :func:`printed_letters`.

pymod records no value for an undefined symbol, so where the kernel
prints the address it resolved to, these lines print 0.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from pymod.contract.internal import Module, ModuleState
from pymod.elf.constants import SHN_UNDEF, STB_LOCAL
from pymod.features.kallsyms import ModKallsyms

__all__ = ["kallsyms_text", "module_kallsyms_lines", "printed_letters", "printed_types",
           "uses_full_table"]


def uses_full_table(mod: Module) -> bool:
    """The full symbol table is in use until init is done: while UNFORMED or
    COMING, and while GOING after a failed init (init memory still held)."""
    if mod.state in (ModuleState.UNFORMED, ModuleState.COMING):
        return True
    return mod.state == ModuleState.GOING and any(
        r.size for t, r in mod.mem.items() if t.is_init)


def printed_letters(symtab: NDArray[Any], strtab: bytes, st_name: NDArray[Any], letters: bytes,
                    export_names: Iterable[str]) -> bytes:
    """The letter ``/proc/kallsyms`` prints for each symbol: ``elf_type``'s,
    upper case if exported, else lower case.

    The kernel calls a symbol exported when the module's export table has
    its name with the same value.  pymod does not keep export values, so a
    defined symbol whose name the module exports counts; when several
    defined symbols share that name only the non-local ones do (the export
    names the global one; a ``static`` of the same name elsewhere is not it).
    """
    out = np.frombuffer(letters, dtype=np.uint8)
    lower = np.where((out >= ord("A")) & (out <= ord("Z")), out | 0x20, out).astype(np.uint8)
    wanted = {n.encode("utf-8", "surrogateescape") for n in export_names}
    if not wanted:
        return lower.tobytes()
    defined = np.flatnonzero(symtab["st_shndx"] != SHN_UNDEF).tolist()
    by_name: dict[bytes, list[int]] = {}
    offs = st_name.tolist()
    # A name longer than every exported one is not read to its end: symbols
    # sharing one long name would cost its length each.
    cap = max(map(len, wanted)) + 1
    for i in defined:
        o = offs[i]
        end = strtab.find(b"\0", o, o + cap)
        if end < 0:
            if o + cap < len(strtab):
                continue
            end = len(strtab)
        name = strtab[o:end]
        if name in wanted:
            by_name.setdefault(name, []).append(i)
    upper = lower.copy()
    binds = (symtab["st_info"] >> 4).tolist()
    for rows in by_name.values():
        if len(rows) > 1 and any(binds[i] != STB_LOCAL for i in rows):
            rows = [i for i in rows if binds[i] != STB_LOCAL]
        for i in rows:
            if ord("a") <= lower[i] <= ord("z"):
                upper[i] = lower[i] - 0x20
    result: bytes = upper.tobytes()
    return result


def printed_types(mod: Module, ks: ModKallsyms) -> bytes:
    """The printed letters of a loaded module's symbols, computed once."""
    if ks.printed_types is None:
        ks.printed_types = printed_letters(ks.symtab, ks.strtab, ks.st_name, ks.types(),
                                           [s.name for s in mod.syms]) \
            if ks.symtab is not None else ks.types()
    return ks.printed_types


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
