"""One input type per source, as blazesym's ``Source`` has them; any of them,
several at once, go to one ``Symbolizer(...)``.

* :class:`Kallsyms`: a ``/proc/kallsyms`` capture (and ``/proc/modules``);
* :class:`SystemMap`: vmlinux' ``System.map``, moved by a KASLR offset;
* :class:`SysModule`: a captured ``/sys/module`` tree with the ``.ko`` files
  to place at its sections' addresses;
* :class:`KoDir`: ``.ko`` files placed at ``/proc/modules``' bases;
* :class:`DebugInfo`: debug files (``vmlinux``, ``.ko``, or directories laid
  out as ``/usr/lib/debug``): source lines, and on their own link-time
  addresses and modules by name;
* a :class:`~pymod.loader.kernel.Kernel`: the modules loaded in it now
  (:class:`~pymod.symbolize.follow.KernelSymbolizer` is the symbolizer that
  follows its loads);
* :class:`~pymod.symbolize.model.Maps`: tables made by hand.

Later sources win: a module given twice is taken from the last, and so is
vmlinux.  The readers are those of :mod:`pymod.symbolize.readers`.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from pymod.errors import InvalidArgument, PymodError
from pymod.symbolize.model import CoreMap, Maps, ModuleMap

__all__ = ["Kallsyms", "SystemMap", "SysModule", "KoDir", "DebugInfo", "merge", "sources_of"]

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class Kallsyms:
    path: PathLike | bytes
    modules: PathLike | bytes | None = None

    def maps(self) -> Maps:
        from pymod.symbolize.readers import read_kallsyms

        return read_kallsyms(self.path, self.modules)


@dataclass(frozen=True)
class SystemMap:
    """``System.map``; ``kaslr_offset`` is what KASLR added to every address
    (the running kernel's ``_text`` minus System.map's)."""

    path: PathLike | bytes
    kaslr_offset: int = 0
    all_symbols: bool = True

    def maps(self) -> Maps:
        from pymod.symbolize.readers import read_system_map

        core = read_system_map(self.path, self.all_symbols).core
        if core is None or not self.kaslr_offset:
            return Maps(core, ())
        return Maps(_moved(core, self.kaslr_offset), ())


def _moved(core: CoreMap, by: int) -> CoreMap:
    mask = (1 << 64) - 1

    def move(a: int) -> int:
        return (a + by) & mask if a else 0

    addrs = core.symbols.addrs + np.uint64(by & mask)
    return CoreMap(replace(core.symbols, addrs=addrs), move(core.stext), move(core.etext),
                   move(core.sinittext), move(core.einittext),
                   None if core.end is None else move(core.end))


_KO = (".ko", ".ko.xz", ".ko.gz", ".ko.zst")


def _ko_files(directory: PathLike) -> dict[str, str]:
    """Module name -> its file under ``directory`` (the first in path order)."""
    from pymod.dwarf.finder import module_name

    files: dict[str, str] = {}
    for here, dirs, names in os.walk(directory):
        dirs.sort()
        for f in sorted(names):
            if f.endswith(_KO):
                files.setdefault(module_name(f), os.path.join(here, f))
    return files


@dataclass(frozen=True)
class SysModule:
    """``/sys/module/*/sections`` captured in ``directory``, with the
    ``.ko`` files of ``ko_dir`` placed there (``modules``: a
    ``/proc/modules`` capture, for which modules are still initialising)."""

    directory: PathLike
    ko_dir: PathLike
    modules: PathLike | bytes | None = None

    def maps(self) -> Maps:
        from pymod.symbolize.capture import place_sections
        from pymod.symbolize.readers import read_proc_modules, read_sections

        procs = read_proc_modules(self.modules) if self.modules is not None else {}
        placed = place_sections(_ko_files(self.ko_dir), read_sections(self.directory),
                                {n: (p.state, p.size) for n, p in procs.items()})
        return Maps(None, tuple(placed.modules))


@dataclass(frozen=True)
class KoDir:
    """The ``.ko`` files of ``directory`` at the text bases of ``modules``
    (a ``/proc/modules`` capture)."""

    directory: PathLike
    modules: PathLike | bytes

    def maps(self) -> Maps:
        from pymod.symbolize.readers import place_ko, read_proc_modules

        files = _ko_files(self.directory)
        out = []
        for name, p in read_proc_modules(self.modules).items():
            if name in files and p.base:
                out.append(place_ko(files[name], base=p.base, init=p.state == "Loading"))
        return Maps(None, tuple(out))


@dataclass(frozen=True)
class DebugInfo:
    """Debug files or ``/usr/lib/debug``-like directories (``release``
    picks one kernel there, default the newest)."""

    paths: Sequence[PathLike]
    release: str | None = None

    def __init__(self, *paths: PathLike, release: str | None = None) -> None:
        if not paths:
            raise InvalidArgument("DebugInfo: no path given")
        object.__setattr__(self, "paths", tuple(paths))
        object.__setattr__(self, "release", release)

    def files(self) -> Any:
        from pymod.symbolize.debugfiles import DebugFiles

        return DebugFiles(self.paths, self.release)


def _kernel_maps(kernel: Any) -> Maps:
    from pymod.contract.internal import ModuleState
    from pymod.symbolize.placement import module_map

    with kernel.module_mutex:
        mods = [module_map(m) for m in kernel.modules
                if m.state in (ModuleState.COMING, ModuleState.LIVE)]
    return Maps(None, tuple(mods))


def sources_of(sources: tuple[Any, ...]) -> tuple[Maps | None, list[Any]]:
    """``Symbolizer(*sources)``'s maps and debug file sets."""
    if not sources or sources == (None,):
        return None, []
    if len(sources) == 1 and isinstance(sources[0], Maps):
        return sources[0], []
    return merge(sources)


def merge(sources: Iterable[Any]) -> tuple[Maps, list[Any]]:
    """The maps of ``sources`` together (later ones win) and the debug
    file sets among them."""
    core: CoreMap | None = None
    modules: dict[str, ModuleMap] = {}
    debug: list[Any] = []
    for src in sources:
        if isinstance(src, DebugInfo):
            files = src.files()
            debug.append(files)
            if None in files and core is None:
                from pymod.symbolize.debugfiles import core_of

                core = core_of(files[None])
            continue
        if isinstance(src, Maps):
            maps = src
        elif hasattr(src, "module_mutex") and hasattr(src, "load_module"):   # a Kernel
            maps = _kernel_maps(src)
        elif hasattr(src, "maps") and not isinstance(src, (str, bytes, Path)):
            maps = src.maps()
        else:
            raise PymodError(errno.EINVAL, "Symbolizer: %r is not a source (Kallsyms, SystemMap, "
                             "SysModule, KoDir, DebugInfo, Kernel or Maps)" % (src,))
        core = maps.core or core
        modules.update((m.name, m) for m in maps.modules)
    return Maps(core, tuple(modules.values())), debug
