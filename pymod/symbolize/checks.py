"""What a symbolizer accepts: the checks its tables pass before the C core sees them.

A pickled :class:`~pymod.symbolize.Symbolizer` is its
:class:`~pymod.symbolize.model.Maps`, and unpickling rebuilds it from them;
a tampered state must be refused there, with one clear error, not fail
later inside a lookup.  So, as ``pm_map_validate`` checks the module map's
invariants, :func:`check_maps` checks everything the symbolizer relies on:
exact types, sorted addresses, one name offset and one type letter per
symbol, every offset inside its string table, bounds and regions inside
0..2**64, no region overlapping another (the module's own or another
module's), no module twice.  :func:`check_table` is the part every table
passes on its way in, from any source.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pymod.errors import InvalidArgument
from pymod.lookup import REGION_KINDS
from pymod.symbolize.model import CoreMap, Maps, ModuleMap, SymbolTable

__all__ = ["check_maps", "check_table", "check_core", "check_module", "check_debug", "check_state"]

_U64 = 1 << 64


def _fail(where: str, what: str) -> InvalidArgument:
    return InvalidArgument("%s: %s" % (where, what))


def _array(value: Any, dtype: type, where: str, field: str) -> np.ndarray[Any, Any]:
    if type(value) is not np.ndarray or value.ndim != 1 or value.dtype != dtype:
        raise _fail(where, "%s must be a one-dimensional %s array" % (field, dtype.__name__))
    return value


def check_table(table: object, where: str) -> SymbolTable:
    """``table`` as the C core and the name readers need it, or
    InvalidArgument naming ``where`` and the broken rule."""
    if type(table) is not SymbolTable:
        raise _fail(where, "symbols must be a SymbolTable, not %s" % type(table).__name__)
    addrs = _array(table.addrs, np.uint64, where, "addrs")
    names = _array(table.names, np.uint32, where, "names")
    if type(table.strtab) is not bytes or type(table.types) is not bytes:
        raise _fail(where, "strtab and types must be bytes")
    n = len(addrs)
    if len(names) != n or len(table.types) != n:
        raise _fail(where, "%d addresses, %d name offsets and %d type letters"
                    % (n, len(names), len(table.types)))
    if n > 1 and not bool((addrs[1:] >= addrs[:-1]).all()):
        raise _fail(where, "the addresses are not sorted")
    if n and (not table.strtab.endswith(b"\0") or int(names.max()) >= len(table.strtab)):
        raise _fail(where, "a name offset outside the string table (%d bytes, NUL-ended)"
                    % len(table.strtab))
    return table


def _u64(value: object, where: str, field: str) -> int:
    if type(value) is not int or not 0 <= value < _U64:
        raise _fail(where, "%s must be an int in 0..2**64-1, not %r" % (field, value))
    return value


def _span(value: object, where: str, field: str) -> tuple[int, int]:
    """A ``(base, size)`` pair inside 0..2**64."""
    if type(value) is not tuple or len(value) != 2:
        raise _fail(where, "%s must be a (base, size) pair" % field)
    base, size = _u64(value[0], where, field), _u64(value[1], where, field)
    if base + size > _U64:
        raise _fail(where, "%s runs past 2**64" % field)
    return base, size


def check_core(core: object) -> CoreMap:
    where = "vmlinux"
    if type(core) is not CoreMap:
        raise _fail(where, "core must be a CoreMap, not %s" % type(core).__name__)
    check_table(core.symbols, where)
    stext, etext = _u64(core.stext, where, "stext"), _u64(core.etext, where, "etext")
    sinit, einit = (_u64(core.sinittext, where, "sinittext"),
                    _u64(core.einittext, where, "einittext"))
    if stext > etext or sinit > einit:
        raise _fail(where, "a text range ends before it starts")
    if core.end is not None and _u64(core.end, where, "end") < stext:
        raise _fail(where, "end lies below stext")
    return core


def check_module(module: object) -> ModuleMap:
    if type(module) is not ModuleMap:
        raise _fail("module", "must be a ModuleMap, not %s" % type(module).__name__)
    if type(module.name) is not str or not module.name:
        raise _fail("module %r" % (module.name,), "the name must be a non-empty str")
    where = "module %s" % module.name
    check_table(module.symbols, where)
    if type(module.regions) is not tuple or len(module.regions) > len(REGION_KINDS):
        raise _fail(where, "regions must be a tuple of at most %d (base, size) pairs"
                    % len(REGION_KINDS))
    spans = sorted(_span(r, where, "a region") for r in module.regions)
    if any(size == 0 for _, size in spans):
        raise _fail(where, "an empty region")
    if any(a + sa > b for (a, sa), (b, _) in zip(spans, spans[1:], strict=False)):
        raise _fail(where, "two of its regions overlap")
    _span(module.text, where, "text")
    _span(module.init_text, where, "init_text")
    if module.build_id is not None and type(module.build_id) is not bytes:
        raise _fail(where, "build_id must be bytes or None")
    return module


def check_maps(maps: object, what: str = "Symbolizer state") -> Maps:
    """Every rule above, over a whole :class:`~pymod.symbolize.model.Maps`; InvalidArgument
    (``"<what>: <where>: <rule>"``) at the first one broken."""
    try:
        if type(maps) is not Maps:
            raise _fail("maps", "must be a Maps, not %s" % type(maps).__name__)
        if maps.core is not None:
            check_core(maps.core)
        if type(maps.modules) is not tuple:
            raise _fail("maps", "modules must be a tuple")
        seen: set[str] = set()
        regions: list[tuple[int, int, str]] = []
        for m in maps.modules:
            check_module(m)
            if m.name in seen:
                raise _fail("module %s" % m.name, "present twice")
            seen.add(m.name)
            regions += [(base, base + size, m.name) for base, size in m.regions]
        regions.sort()
        for (_, end, a), (base, _, b) in zip(regions, regions[1:], strict=False):
            if base < end:
                raise _fail("module %s" % b, "a region overlaps one of module %s" % a)
    except InvalidArgument as e:
        raise InvalidArgument("%s: %s" % (what, e.strerror)) from None
    return maps


def _path(value: object, where: str) -> str:
    """An absolute path as a str without NUL (what a state may name)."""
    if type(value) is not str or not value.startswith("/") or "\0" in value:
        raise _fail(where, "a debug file path must be an absolute str, not %r" % (value,))
    return value


def _owner(value: object, where: str) -> str | None:
    if value is not None and (type(value) is not str or not value):
        raise _fail(where, "an owner must be None (vmlinux) or a module name, not %r"
                    % (value,))
    return value


def check_debug(debug: object) -> tuple[tuple[Any, ...], ...]:
    """A pickled symbolizer's debug files, as :mod:`pymod.symbolize.pickled`
    writes them: a tuple of sets, each ``("files", {owner: path})`` (files
    given by owner) or ``("dirs", (path, ...), release)`` (a
    :class:`~pymod.symbolize.debugfiles.DebugFiles`' paths).  Only the
    shape is checked here; the files are opened, and may be missing, on
    first use."""
    where = "debug info"
    if type(debug) is not tuple:
        raise _fail(where, "must be a tuple of debug file sets")
    for s in debug:
        if type(s) is tuple and len(s) == 2 and s[0] == "files" and type(s[1]) is dict:
            for owner, path in s[1].items():
                _owner(owner, where)
                _path(path, where)
        elif type(s) is tuple and len(s) == 3 and s[0] == "dirs" and type(s[1]) is tuple:
            if not s[1]:
                raise _fail(where, "a set of debug paths is empty")
            for path in s[1]:
                _path(path, where)
            if s[2] is not None and type(s[2]) is not str:
                raise _fail(where, "a release must be a str or None, not %r" % (s[2],))
        else:
            raise _fail(where, "not a debug file set: %r" % (s,))
    return debug


def check_state(state: object) -> tuple[Maps, tuple[tuple[Any, ...], ...]]:
    """A pickled :class:`~pymod.symbolize.Symbolizer`'s state: its
    :class:`~pymod.symbolize.model.Maps` alone, or ``(maps, debug)`` (see :func:`check_debug`);
    InvalidArgument as :func:`check_maps` raises it."""
    if type(state) is tuple and len(state) == 2 and type(state[0]) is Maps:
        try:
            debug = check_debug(state[1])
        except InvalidArgument as e:
            raise InvalidArgument("Symbolizer state: %s" % e.strerror) from None
        return check_maps(state[0]), debug
    return check_maps(state), ()
