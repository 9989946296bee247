"""The kernel's address lookup in plain Python: the oracle the C core is tested against.

Written for obviousness, not speed.  ``kallsyms_lookup_buildid`` order:

1. vmlinux (``is_ksym_addr`` then ``get_symbol_pos``): the address must be
   in ``[stext, etext)`` or ``[sinittext, einittext)``, or with
   KALLSYMS_ALL (``end`` given) in ``[stext, end)``.  Binary search for the
   last symbol at or below it, step back over aliases to the first of
   them, and the size runs to the next higher address in the table; with
   none, to ``einittext`` for an init-text address, else ``end`` (with
   KALLSYMS_ALL) or ``etext``.  Sizes and offsets are unsigned 64-bit.
2. a module (``__module_address`` then ``find_kallsyms_symbol``): the first
   module with a region holding the address, and in it the first region
   that holds it.  Best is the greatest symbol value in ``[base, addr]``
   (the first in table order among equal ones), next is the least value in
   ``(addr, base + size)``, else ``base + size``.  No best: not found.

The gate area (vsyscall page) and ``[__init_begin, __init_end)`` outside
``[stext, end)`` are not modelled (on x86-64 init lies inside it).
"""

from __future__ import annotations

import numpy as np

from pymod.symbolize.fmt import format_symbol, format_unknown, parse_format
from pymod.symbolize.model import CoreMap, Maps, ModuleMap, SymbolTable

__all__ = ["reference_lookup", "reference_sprint", "core_lookup", "module_lookup", "Found"]

MASK = 0xFFFFFFFFFFFFFFFF
Found = tuple[str, int, int, "str | None"]


def _in_core(core: CoreMap, addr: int) -> bool:
    """``is_ksym_addr``."""
    if core.end is not None:
        return core.stext <= addr < core.end or core.sinittext <= addr < core.einittext
    return core.stext <= addr < core.etext or core.sinittext <= addr < core.einittext


def core_lookup(core: CoreMap, addr: int) -> tuple[str, int, int] | None:
    """``get_symbol_pos`` for an address ``is_ksym_addr`` accepts."""
    if not _in_core(core, addr) or len(core.symbols) == 0:
        return None
    addrs = core.symbols.addrs
    # the last symbol at or below addr (the kernel's search starts at 0, so
    # with none below it answers with symbol 0 and a wrapped offset)
    low = max(int(np.searchsorted(addrs, np.uint64(addr), side="right")) - 1, 0)
    while low > 0 and addrs[low - 1] == addrs[low]:     # the first alias
        low -= 1
    start = int(addrs[low])
    # the next higher address: the first one past every alias of start
    k = int(np.searchsorted(addrs, np.uint64(start), side="right"))
    end = int(addrs[k]) if k < len(addrs) else None
    if end is None:
        if core.sinittext <= addr < core.einittext:
            end = core.einittext
        elif core.end is not None:
            end = core.end
        else:
            end = core.etext
    return core.symbols.name(low), (addr - start) & MASK, (end - start) & MASK


def _best_in(table: SymbolTable, base: int, end: int, addr: int) -> tuple[str, int, int] | None:
    best: int | None = None
    best_val = base - 1
    next_val = end
    for i, a in enumerate(int(x) for x in table.addrs):
        if best_val < a <= addr:
            best, best_val = i, a
        if addr < a < next_val:
            next_val = a
    if best is None:
        return None
    return table.name(best), addr - best_val, next_val - best_val


def module_lookup(mod: ModuleMap, addr: int) -> tuple[str, int, int] | None:
    """``find_kallsyms_symbol`` in the region of ``mod`` holding ``addr``."""
    for base, size in mod.regions:
        if size and base <= addr < base + size:
            return _best_in(mod.symbols, base, base + size, addr)
    return None


def _owner(maps: Maps, addr: int) -> ModuleMap | None:
    for mod in maps.modules:
        if any(size and base <= addr < base + size for base, size in mod.regions):
            return mod
    return None


def reference_lookup(maps: Maps, addr: int, backtrace: bool = False) -> Found | None:
    """``(name, offset, size, module)`` for ``addr`` (module None for
    vmlinux), or None when the kernel would print the bare address.

    With ``backtrace`` (``%pB``) ``addr - 1`` is looked up and the offset
    returned is one more than that lookup's, the one ``%pB`` prints.
    """
    where = (addr - 1) & MASK if backtrace else addr
    if maps.core is not None and _in_core(maps.core, where):
        found = core_lookup(maps.core, where)
        module = None
    else:
        owner = _owner(maps, where)
        found = module_lookup(owner, where) if owner is not None else None
        module = owner.name if owner is not None else None
    if found is None:
        return None
    name, offset, size = found
    return name, (offset + 1) & MASK if backtrace else offset, size, module


def reference_sprint(maps: Maps, addr: int, fmt: str = "S") -> str:
    """What ``printk("%pS")`` (or ``%ps``, ``%pB``, ``%pSb`` ...) prints for ``addr``."""
    f = parse_format(fmt)
    found = reference_lookup(maps, addr, f.backtrace)
    if found is None:
        return format_unknown(addr)
    name, offset, size, module = found
    build_id = None
    if module is not None:
        build_id = next((m.build_id for m in maps.modules if m.name == module), None)
    return format_symbol(name, offset, size, module, build_id, f)
