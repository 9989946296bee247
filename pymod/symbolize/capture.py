"""``.ko`` files placed at a captured ``/sys/module/*/sections/`` tree.

The kernel makes ``sections/`` once, at load, from every allocated section
(``add_sect_attrs`` in ``kernel/module/sysfs.c``, 6.1 and 6.12 alike) and
never updates it: after init it still lists ``.init.*`` and the full
``.symtab``/``.strtab`` at addresses whose memory was freed, and modules
loaded since may have been given that memory.  So init sections are placed
only while ``/proc/modules`` says the module's init memory is held, and
never where they would overlap another module's core; what is left out is
returned, for the caller to say.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from pymod.symbolize.model import ModuleMap
from pymod.symbolize.placement import LaidOut, core_size, init_sections, lay_out, place_laid_out

__all__ = ["Ignored", "Placement", "place_sections", "init_is_held"]

PAGE_SIZE = 4096

# Ignored.reason values
LIVE = "live"           # /proc/modules: Live (or Unloading without init memory)
NO_STATE = "no state"   # not in /proc/modules (or none given): taken as Live
OVERLAP = "overlap"     # init memory held, but on another module's memory


@dataclass(frozen=True)
class Ignored:
    """A module's captured init sections that were not placed.

    :module: the module
    :sections: the section names, in section order
    :reason: ``live``, ``no state`` or ``overlap``
    :other: for ``overlap``, the module whose memory they overlap
    """

    module: str
    sections: tuple[str, ...]
    reason: str
    other: str | None = None


@dataclass(frozen=True)
class Placement:
    """The placed modules and the init sections left out."""

    modules: tuple[ModuleMap, ...]
    ignored: tuple[Ignored, ...]


def init_is_held(state: str | None, size: int, core: int) -> bool:
    """Whether init memory is still allocated, from a ``/proc/modules``
    line: while Loading, and while Unloading after a failed init (its size
    still counts init memory; 6.1 adds ``init_layout.size``, 6.12 every
    ``mem[]`` region, and both zero them when init memory is freed)."""
    if state == "Loading":
        return True
    return state == "Unloading" and size >= core + PAGE_SIZE


def _overlaps(regions: tuple[tuple[int, int], ...],
              taken: Mapping[str, tuple[tuple[int, int], ...]], me: str) -> str | None:
    """The first other module whose regions meet ``regions``."""
    for other, theirs in taken.items():
        if other == me:
            continue
        for b, s in regions:
            if any(b < ob + osize and ob < b + s for ob, osize in theirs):
                return other
    return None


def place_sections(files: Mapping[str, str | os.PathLike[str]],
                   sections: Mapping[str, Mapping[str, int]],
                   states: Mapping[str, tuple[str, int]] | None = None,
                   all_symbols: bool = True) -> Placement:
    """Every module of ``sections`` that ``files`` has a ``.ko`` for, placed.

    :files: module name -> its ``.ko`` file
    :sections: module -> section -> address (:func:`~pymod.symbolize.readers.read_sections`)
    :states: module -> ``(state, size)`` from ``/proc/modules``; a module
        without one is taken as Live (init sections left out, which can
        only lose answers, never give wrong ones)
    :all_symbols: CONFIG_KALLSYMS_ALL of the captured kernel
    """
    states = states or {}
    laid: dict[str, LaidOut] = {n: lay_out(files[n], all_symbols) for n in sections if n in files}
    core = {n: place_laid_out(lo, sections=sections[n], all_symbols=all_symbols)
            for n, lo in laid.items()}
    taken = {n: m.regions for n, m in core.items()}
    out: dict[str, ModuleMap] = dict(core)
    ignored: list[Ignored] = []
    for name, lo in laid.items():
        stale = tuple(init_sections(lo, sections[name]))
        if not stale:
            continue
        state, size = states.get(name, (None, 0))
        if not init_is_held(state, size, core_size(lo)):
            ignored.append(Ignored(name, stale, NO_STATE if state is None else LIVE))
            continue
        full = place_laid_out(lo, sections=sections[name], init=True, all_symbols=all_symbols)
        init_regions = tuple(r for r in full.regions if r not in core[name].regions)
        other = _overlaps(init_regions, taken, name)
        if other is not None:
            ignored.append(Ignored(name, stale, OVERLAP, other))
            continue
        out[name] = full
        taken[name] = full.regions
    return Placement(tuple(out.values()), tuple(ignored))
