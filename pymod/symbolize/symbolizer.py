"""``Symbolizer``: addresses -> ``name+0xoff/0xsize [module]``, as the kernel prints them.

Built from any sources (:mod:`pymod.symbolize.inputs`) or following a
:class:`~pymod.loader.kernel.Kernel`'s loads and unloads.  Lookups run in C
(:mod:`pymod.symbolize.core`); names are kept here, one string table per
owner; source lines come from debug files (:mod:`pymod.symbolize.sourced`).
A batch is one C call over the latest published tables; its result carries
the generation before and after it.  A symbolizer pickles as its tables
(arrays and string tables) and its debug files' paths, and is rebuilt; the
debug files are reopened on first use.
"""

from __future__ import annotations

import errno
import functools
import itertools
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pymod import _symfast, forklocks
from pymod.errors import InvalidArgument, PymodError, RegionOverlap, UnknownModule
from pymod.lookup import REGION_KINDS, as_addresses
from pymod.symbolize.checks import check_table
from pymod.symbolize.core import FOUND, NO_SYMBOL, NO_SYMBOLS, UNKNOWN, SymMap
from pymod.symbolize.fmt import format_symbol, format_unknown, parse_format
from pymod.symbolize.lines import DebugFile, FrameArrays, frame_text
from pymod.symbolize.model import CoreMap, Maps, ModuleMap
from pymod.symbolize.pickled import restore, state_of
from pymod.symbolize.sourced import DebugMap
from pymod.symbolize.tables import Owner, Tables

__all__ = ["Symbol", "SymbolizeResult", "Symbolizer"]

# Reason codes of SymbolizeResult.reason (the C core's).
__all__ += ["FOUND", "UNKNOWN", "NO_SYMBOLS", "NO_SYMBOL"]


# A found symbol: ``name``, ``offset``, ``size``, ``module`` (None for
# vmlinux), ``build_id``, ``backtrace``; ``str()`` is its ``%pS`` text
# (``%pB`` for a backtrace lookup), ``format(fmt)`` any other.  A C type
# (csrc/symfast/pm_symobj.c): building one is most of a one-address
# lookup's cost, and a looked-up symbol decodes its name on first use.
Symbol = _symfast.Symbol
_symfast.set_formatter(format_symbol)


@dataclass(frozen=True)
class SymbolizeResult:
    """A batch's answer: numpy arrays in input order; names on demand.

    :addrs: the addresses asked about
    :module_id: the owning module's id (-1 vmlinux, -2 none)
    :table: the tag of the table that answered (-1 none)
    :symbol: index in that table (-1 none)
    :offset: as the format prints it (offset + 1 for a backtrace batch)
    :size: the symbol's size
    :reason: 0 found, 1 unknown address, 2 owner without symbols, 3 no
        symbol at or below the address
    :generations: the map's generation before and after the batch
    :owners: the tables the batch used (tag -> owner), kept with it
    :lines: with ``lines=True``, each address's source frames (counts and
        offsets into one flat frame table), else None
    :sourced: the owners (module names, None for vmlinux) that had debug info
    """

    addrs: NDArray[np.uint64]
    module_id: NDArray[np.int64]
    table: NDArray[np.int64]
    symbol: NDArray[np.int64]
    offset: NDArray[np.uint64]
    size: NDArray[np.uint64]
    reason: NDArray[np.uint8]
    generations: tuple[int, int]
    backtrace: bool
    owners: dict[int, Owner]
    lines: FrameArrays | None = None
    sourced: frozenset[str | None] = frozenset()

    @property
    def generation(self) -> int:
        return self.generations[0]

    @property
    def consistent(self) -> bool:
        """True when the whole batch saw one map, no change being published
        while it ran (the generation is odd during a change)."""
        g0, g1 = self.generations
        return g0 == g1 and g0 % 2 == 0

    @property
    def found(self) -> NDArray[np.bool_]:
        found: NDArray[np.bool_] = self.reason == FOUND
        return found

    def __len__(self) -> int:
        return len(self.addrs)

    def __getitem__(self, i: int) -> Symbol | None:
        if self.reason[i] != FOUND:
            return None
        owner = self.owners.get(int(self.table[i]))
        if owner is None:
            raise _no_names(int(self.table[i]))
        source = None
        if self.lines is not None and owner.module in self.sourced:
            source = self.lines.chain(i)
        return Symbol(owner.symbols.name(int(self.symbol[i])), int(self.offset[i]),
                      int(self.size[i]), owner.module, owner.build_id, self.backtrace, source)

    def __iter__(self) -> Iterator[Symbol | None]:
        return (self[i] for i in range(len(self)))

    def names(self) -> list[str | None]:
        """The symbol name of each address (None when not found)."""
        return [None if sym is None else sym.name for sym in self]

    def format(self, fmt: str = "S", lines: bool = False) -> list[str]:
        """Each address as ``printk(fmt)`` prints it (``0x…`` when unknown);
        with ``lines``, a symbol with source frames is followed by
        `` (file:line ...)``, innermost first, as decode_stacktrace.sh shows them."""
        f = parse_format(fmt)
        if f.backtrace != self.backtrace:
            raise InvalidArgument("format %r needs a batch symbolized with backtrace=%s"
                                  % (fmt, f.backtrace))
        out = []
        for i, sym in enumerate(self):
            text = format_unknown(int(self.addrs[i])) if sym is None else sym.format(f)
            if lines and sym is not None and sym.source:
                text += " (%s)" % " ".join(frame_text(fr) for fr in sym.source)
            out.append(text)
        return out


class Symbolizer:
    """The kernel's symbol lookup over vmlinux and modules, batch-fast and
    safe while other threads add and remove modules."""

    def __init__(self, *sources: Any) -> None:
        """From any sources (:mod:`pymod.symbolize.inputs`); later ones win."""
        self._c = SymMap()
        self._tables = Tables()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()                  # serializes writers
        self._modules: dict[str, tuple[int, int, ModuleMap]] = {}   # name -> id, tag, map
        self._core: tuple[int, CoreMap] | None = None
        self._debug = DebugMap()                         # owner -> its debug file
        self._by_name: dict[int, dict[str, int]] = {}    # tag -> name -> index
        # symbolize() in C (csrc/symfast), shadowing the method below, which
        # stays the documented form and the path for anything unusual.  The
        # fallback is bound to the parts, not to self: no reference cycle.
        slow = functools.partial(_symbolize, self._c, self._tables)
        self.__dict__["symbolize"] = self._c.fast_symbolize(self._tables.names, slow)
        # fork() waits for a writer (and a batch's registration) in progress
        locks = (self._lock, self._tables._lock)
        forklocks.track(self, forklocks.SYMBOLIZER, lambda: locks)
        from pymod.symbolize.inputs import sources_of

        maps, debug = sources_of(sources)
        if maps is not None:
            if maps.core is not None:
                self.set_core(maps.core)
            for m in maps.modules:
                self.add_module(m)
        for files in debug:
            self.add_debuginfo(files)

    # ------------------------------------------------------------- building
    @classmethod
    def from_maps(cls, maps: Maps) -> Symbolizer:
        return cls(maps)

    @classmethod
    def from_kallsyms(cls, path: Any, modules: Any = None) -> Symbolizer:
        """A ``/proc/kallsyms``-format file, optionally with ``/proc/modules``."""
        from pymod.symbolize.readers import read_kallsyms

        return cls(read_kallsyms(path, modules))

    @classmethod
    def from_system_map(cls, path: Any) -> Symbolizer:
        from pymod.symbolize.readers import read_system_map

        return cls(read_system_map(path))

    @property
    def generation(self) -> int:
        """A sequence count, even between changes and odd while one is published."""
        return self._c.generation

    @property
    def maps(self) -> Maps:
        """What the symbolizer answers from now."""
        with self._lock:
            return Maps(self._core[1] if self._core else None,
                        tuple(m for _, _, m in self._modules.values()))

    def set_core(self, core_map: CoreMap) -> None:
        """Replace vmlinux's table."""
        check_table(core_map.symbols, "vmlinux")
        with self._lock:
            tag = self._tables.register(Owner(None, core_map.symbols))
            bounds = (core_map.stext, core_map.etext, core_map.sinittext, core_map.einittext)
            try:
                self._c.set_core(tag, core_map.symbols.addrs, bounds, core_map.end)
            except BaseException:
                self._tables.retire(tag)
                raise
            if self._core is not None:
                self._tables.retire(self._core[0])
            self._core = (tag, core_map)

    def add_module(self, module: ModuleMap,
                   kinds: dict[str, tuple[int, int]] | None = None) -> int:
        """Add a module; ``kinds`` (region kind -> (base, size)) lets a later
        :meth:`replace_module` drop its init regions.  Returns its id."""
        regions = kinds if kinds is not None else _slots(module.regions)
        check_table(module.symbols, "module %s" % module.name)
        with self._lock:
            if module.name in self._modules:
                raise InvalidArgument("module %s is already in the symbolizer" % module.name)
            mod_id = next(self._ids)
            tag = self._tables.register(Owner(module.name, module.symbols, module.build_id,
                                              module.regions))
            try:
                self._c.add(mod_id, regions, tag, module.symbols.addrs)
            except RegionOverlap as e:
                self._tables.retire(tag)
                raise self._named(e, module.name) from None
            except BaseException:
                self._tables.retire(tag)
                raise
            self._modules[module.name] = (mod_id, tag, module)
            return mod_id

    def replace_module(self, module: ModuleMap, drop_init: bool = False) -> None:
        """New symbols for a module already present (e.g. init done: core
        symbols only, and with ``drop_init`` its init regions dropped)."""
        check_table(module.symbols, "module %s" % module.name)
        with self._lock:
            mod_id, old_tag, _ = self._present(module.name)
            tag = self._tables.register(Owner(module.name, module.symbols, module.build_id,
                                              module.regions))
            try:
                self._c.replace(mod_id, tag, module.symbols.addrs, drop_init)
            except BaseException:
                self._tables.retire(tag)
                raise
            self._tables.retire(old_tag)
            self._modules[module.name] = (mod_id, tag, module)

    def remove_module(self, name: str) -> None:
        """Returns once no lookup can answer with the module any more."""
        with self._lock:
            mod_id, tag, _ = self._present(name)
            self._c.remove(mod_id)
            self._tables.retire(tag)
            del self._modules[name]

    def _named(self, e: RegionOverlap, name: str) -> RegionOverlap:
        """``e`` saying which modules overlap by name, not by internal id."""
        other = next((n for n, (i, _, _) in self._modules.items() if i == e.other), "?")
        return RegionOverlap("module %s: a region overlaps a region of module %s"
                             % (name, other), e.module, e.other)

    def _present(self, name: str) -> tuple[int, int, ModuleMap]:
        try:
            return self._modules[name]
        except KeyError:
            raise UnknownModule("module %s is not in the symbolizer" % name) from None

    # ------------------------------------------------------------- lookups
    def symbolize(self, addr: int, backtrace: bool = False) -> Symbol | None:
        """The symbol naming ``addr`` (``%pB``'s lookup with ``backtrace``), or None."""
        return _symbolize(self._c, self._tables, addr, backtrace)

    def symbolize_many(self, addrs: object, backtrace: bool = False,
                       lines: bool = False) -> SymbolizeResult:
        """Every address of ``addrs`` (a uint64 array is fastest) in one C call;
        with ``lines``, each address's source frames too (one C call per
        debug file: the result's ``lines``, see :class:`~pymod.symbolize.SymbolizeResult`)."""
        res = self._batch(addrs, backtrace)
        if not lines:
            return res
        from dataclasses import replace

        from pymod.symbolize.sourced import result_frames

        frames, sourced = result_frames(res, self._debug)
        return replace(res, lines=frames, sourced=sourced)

    def _batch(self, addrs: object, backtrace: bool) -> SymbolizeResult:
        a = as_addresses(addrs)
        token = self._tables.enter()
        try:
            raw = self._c.lookup(a, backtrace)
            owners = self._tables.owners    # holds every tag the batch can have seen
        finally:
            self._tables.leave(token)
        return SymbolizeResult(a, raw.owner, raw.table, raw.sym, raw.offset, raw.size,
                               raw.reason, raw.generations, backtrace, owners)

    # ------------------------------------------------------------- source lines
    def add_debuginfo(self, debug: DebugFile | Mapping[str | None, DebugFile],
                      module: str | None = None) -> None:
        """Source lines (:attr:`Symbol.source`) for vmlinux (``module`` None)
        or a module, or for every owner a mapping such as DebugFiles has."""
        with self._lock:
            if isinstance(debug, DebugFile):
                self._debug.given[module] = debug
            else:
                self._debug.found.append(debug)
            if "symbolize" in self.__dict__ and not getattr(self.__dict__["symbolize"],
                                                            "sourced", False):
                from pymod.symbolize.sourced import SourcedSymbolize

                self.__dict__["symbolize"] = SourcedSymbolize(self.__dict__["symbolize"], self)

    @property
    def debuginfo(self) -> Mapping[str | None, DebugFile]:
        """The debug files by owner (None for vmlinux), each opened on first use."""
        return self._debug

    @classmethod
    def from_debuginfo(cls, *paths: Any, release: str | None = None) -> Symbolizer:
        """Over debug files alone (files, or directories laid out as
        ``/usr/lib/debug``; ``release`` picks one kernel there, default the
        newest): vmlinux at link-time addresses, modules by name."""
        from pymod.symbolize.inputs import DebugInfo

        return cls(DebugInfo(*paths, release=release))

    def symbolize_name(self, name: str, offset: int = 0,
                       module: str | None = None) -> Symbol | None:
        """The symbol at ``name+offset`` of vmlinux (``module`` None) or a
        module: by name in the owner's table here (then ``symbolize()``'s
        answer there), else in its debug file; None when neither has it."""
        from pymod.symbolize.sourced import by_name

        sym: Symbol | None = by_name(self, name, offset, module)
        return sym

    # ------------------------------------------------------------- pickling
    # Its tables and its debug files' paths; a state from elsewhere has every
    # rule checked before anything is built (pymod.symbolize.pickled).
    __getstate__ = state_of
    __setstate__ = restore


def _symbolize(c: SymMap, tables: Tables, addr: object, backtrace: bool = False) -> Symbol | None:
    """Symbolizer.symbolize in Python (the C path's fallback)."""
    addr = _address(addr)
    while True:
        generation = c.generation
        before = tables.owners
        reason, tag, sym, offset, size = c.lookup_one(addr, bool(backtrace))
        if reason != FOUND:
            return None
        # The tag was registered before its table was published, and is
        # dropped only after it was unpublished: one of the two views has
        # it, unless the table came and went during this very call (which
        # changed the generation: then look again).
        owner = tables.owners.get(tag) or before.get(tag)
        if owner is not None:
            return Symbol(owner.symbols.name(sym), offset, size, owner.module,
                          owner.build_id, bool(backtrace))
        if c.generation == generation and generation % 2 == 0:
            raise _no_names(tag)


def _no_names(tag: int) -> PymodError:
    """A table answered whose names are gone: only a change made to the
    symbolizer's private tables from outside can do that."""
    return PymodError(errno.EIO, "symbolizer: table %d answered but has no names "
                      "(its tables were changed from outside)" % tag)


def _slots(regions: tuple[tuple[int, int], ...]) -> dict[str, tuple[int, int]]:
    if len(regions) > len(REGION_KINDS):
        raise InvalidArgument("a module has at most %d regions" % len(REGION_KINDS))
    return {REGION_KINDS[i]: r for i, r in enumerate(regions)}


def _address(addr: object) -> int:
    if type(addr) is int and 0 <= addr < 1 << 64:   # the common case, first
        return addr
    if isinstance(addr, bool) or not isinstance(addr, (int, np.integer)):
        from pymod.errors import InvalidType

        raise InvalidType("address must be an int, not %s" % type(addr).__name__)
    value = int(addr)
    if not 0 <= value < 1 << 64:
        raise InvalidArgument("address %d outside 0..2**64-1" % value)
    return value
