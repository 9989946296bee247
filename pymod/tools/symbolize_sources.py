"""Where ``pymod symbolize`` gets its symbols: the options' files, or the
running system's ``/proc/kallsyms`` and ``/proc/modules``.

vmlinux comes from ``--system-map`` when given, else from ``--kallsyms``'
vmlinux lines.  Modules come from ``--kallsyms``' ``[module]`` lines (placed
by ``--modules`` when given) and from ``--ko-dir``: a ``.ko`` file whose
name (``-`` read as ``_``) is a module of ``--sections`` is placed at its
sections' addresses, else one of ``--modules`` at its text base.  A module
found both ways is taken from its ``.ko`` file (exact regions, build id).
Init sections that ``sections/`` still lists after init are left out
(:mod:`pymod.symbolize.capture`), and each kind left out is said on stderr.
"""

from __future__ import annotations

import argparse
import errno
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pymod.errors import PymodError
from pymod.symbolize.model import CoreMap, Maps, ModuleMap
from pymod.symbolize.symbolizer import Symbolizer
from pymod.tools.symbolize_report import Identity

if TYPE_CHECKING:
    from pymod.symbolize.capture import Ignored

# The readers of captures and .ko files (pymod.symbolize.readers, .capture,
# pymod.kmod.tree) are imported where used: --debuginfo alone needs none of
# them, and they weigh on every run's start-up.

__all__ = ["LIVE_KALLSYMS", "LIVE_MODULES", "check_options", "load_maps", "identity_of"]

LIVE_KALLSYMS = "/proc/kallsyms"
LIVE_MODULES = "/proc/modules"


def check_options(ap: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse (usage error) the source options that cannot work together."""
    if args.ko_dir and not (args.modules or args.sections):
        ap.error("--ko-dir needs --modules or --sections (where to place the .ko files)")
    if args.sections and not args.ko_dir:
        ap.error("--sections needs --ko-dir (the .ko files to place)")
    if args.modules and not (args.kallsyms or args.ko_dir):
        ap.error("--modules needs --kallsyms or --ko-dir (the symbols)")


Warn = Callable[[str], None]


def make_symbolizer(args: argparse.Namespace, warn: Warn | None = None) -> Symbolizer:
    """The symbolizer of the options: their maps, with ``--debuginfo``'s
    lines; ``--debuginfo`` alone is a symbolizer over the debug files."""
    debuginfo = getattr(args, "debuginfo", None)
    if debuginfo and not (args.kallsyms or args.system_map or args.ko_dir):
        return Symbolizer.from_debuginfo(*debuginfo)
    out = Symbolizer(load_maps(args, warn))
    if debuginfo:
        from pymod.symbolize.debugfiles import DebugFiles

        out.add_debuginfo(DebugFiles(debuginfo))
    return out


def identity_of(args: argparse.Namespace) -> Identity:
    """What the options' symbols are known to be (for the foreign-trace
    checks): the running system's release; a capture says none."""
    debuginfo = getattr(args, "debuginfo", None)
    if debuginfo:
        return _debug_identity(debuginfo)
    if not (args.kallsyms or args.system_map or args.ko_dir):
        return Identity("the running system's %s" % LIVE_KALLSYMS, os.uname().release)
    what = [o for o, v in (("--kallsyms", args.kallsyms), ("--system-map", args.system_map),
                           ("--ko-dir", args.ko_dir)) if v]
    return Identity(", ".join(what))


def load_maps(args: argparse.Namespace, warn: Warn | None = None) -> Maps:
    """The maps the options name, or the running system's without any;
    ``warn`` hears what was left out of them, one line each."""
    if not (args.kallsyms or args.system_map or args.ko_dir):
        return _live()
    from pymod.symbolize.readers import read_kallsyms, read_system_map

    core: CoreMap | None = None
    modules: dict[str, ModuleMap] = {}
    if args.kallsyms:
        maps = read_kallsyms(Path(args.kallsyms),
                             Path(args.modules) if args.modules else None)
        core = maps.core
        modules.update((m.name, m) for m in maps.modules)
    if args.system_map:
        core = read_system_map(Path(args.system_map)).core
    if args.ko_dir:
        modules.update((m.name, m) for m in _placed(args, warn or (lambda line: None)))
    if core is None and not modules:
        raise PymodError(errno.ENOENT, "no symbols: the sources given hold neither vmlinux "
                         "symbols nor modules")
    return Maps(core, tuple(modules.values()))


def _debug_identity(paths: Sequence[str]) -> Identity:
    """The release and vmlinux build id of ``--debuginfo`` (vmlinux opened)."""
    from pymod.symbolize.debugfiles import DebugFiles, release_of

    files = DebugFiles(paths)
    where = files.path(None)
    if where is None:
        return Identity("--debuginfo")
    build_id = files[None].build_id
    return Identity("--debuginfo %s" % where, release_of(where),
                    build_id.hex() if build_id else None)


def _live() -> Maps:
    """``/proc/kallsyms`` with ``/proc/modules`` (left out when absent: a
    kernel without modules).  All-zero addresses raise EPERM, as the
    readers do; a missing or unreadable file says which."""
    from pymod.symbolize.readers import read_kallsyms

    modules = Path(LIVE_MODULES) if os.path.exists(LIVE_MODULES) else None
    try:
        return read_kallsyms(Path(LIVE_KALLSYMS), modules)
    except PymodError as e:
        if e.errno == errno.EPERM:
            raise
        raise PymodError(e.errno, "%s (no --kallsyms, --system-map or --ko-dir given, so "
                         "the running system's %s is read)"
                         % (e.strerror, LIVE_KALLSYMS)) from None


def _placed(args: argparse.Namespace, warn: Warn) -> list[ModuleMap]:
    """The ``.ko`` files of ``--ko-dir`` placed where ``--sections`` or
    ``--modules`` say their modules are."""
    from pymod.kmod.tree import modname_of, module_files
    from pymod.symbolize.capture import place_sections
    from pymod.symbolize.readers import place_ko, read_proc_modules, read_sections

    files: dict[str, str] = {}
    for found in module_files(args.ko_dir):
        files.setdefault(modname_of(found), found)
    sections = read_sections(args.sections) if args.sections else {}
    procs = read_proc_modules(Path(args.modules)) if args.modules else {}
    placed = place_sections(files, sections, {n: (p.state, p.size) for n, p in procs.items()})
    for line in ignored_lines(placed.ignored, bool(args.modules)):
        warn(line)
    out = list(placed.modules)
    for name in [n for n in procs if n not in sections]:
        path = files.get(name)
        if path is None or not procs[name].base:
            continue
        out.append(place_ko(path, base=procs[name].base, init=procs[name].state == "Loading"))
    if not out:
        raise PymodError(errno.ENOENT, "--ko-dir %s: no module file for any module of %s"
                         % (args.ko_dir, "--sections" if args.sections else "--modules"))
    return out


def _names(names: Sequence[str], most: int = 5) -> str:
    return ", ".join(names[:most]) + (", ..." if len(names) > most else "")


def ignored_lines(ignored: Sequence[Ignored], with_modules: bool) -> list[str]:
    """What was left out, said once per kind (the many Live modules of a
    capture in one line) and once per module whose init memory overlaps."""
    from pymod.symbolize.capture import LIVE, NO_STATE

    out = []
    live = [i.module for i in ignored if i.reason == LIVE]
    if live:
        out.append("note: --sections: the init sections of %d Live module%s left out (init "
                   "memory is freed after init, sections/ keeps the old addresses): %s"
                   % (len(live), "s" if len(live) > 1 else "", _names(live)))
    guessed = [i.module for i in ignored if i.reason == NO_STATE]
    if guessed:
        out.append("note: --sections: %d module%s %s taken as Live, the init sections left "
                   "out: %s" % (len(guessed), "s" if len(guessed) > 1 else "",
                                "not in --modules" if with_modules else "(no --modules given)",
                                _names(guessed)))
    for i in ignored:
        if i.reason not in (LIVE, NO_STATE):
            out.append("warning: --sections: %s is still initialising but its init sections "
                       "(%s) overlap %s's memory: left out (was the capture taken at one time?)"
                       % (i.module, _names(list(i.sections)), i.other))
    return out
