"""A :class:`~pymod.symbolize.Symbolizer`'s pickled state: its tables, and
its debug files by *path*.

An index is hundreds of megabytes and lives in a cache on each machine
(:mod:`pymod.dwarf.cache`), so a pickle names the debug files, made absolute,
and the other side reopens each one on first use, building or mapping its
index there.  The state is ``maps`` alone when there are no debug files (as
before), else ``(maps, debug)``, checked whole by
:func:`~pymod.symbolize.checks.check_state` before anything is built.  A
debug file missing on the other side is not an error until its lines are
asked for; then :class:`~pymod.errors.PymodError` (ENOENT) names it.

A debug file whose lines were given in memory (no path) cannot be shipped:
pickling refuses it rather than drop its lines silently.
"""

from __future__ import annotations

import errno
import os
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from typing import Any

from pymod.errors import InvalidArgument, PymodError
from pymod.symbolize.checks import check_state
from pymod.symbolize.lines import DebugFile
from pymod.symbolize.model import SymbolTable

__all__ = ["state_of", "restore", "ReopenedFiles", "ReopenedDirs"]

Owner = str | None
TableOf = Callable[[Owner], SymbolTable | None]


def missing(path: str) -> PymodError:
    return PymodError(errno.ENOENT, "debug file %s (named by a pickled symbolizer) is "
                      "missing here: no such file or directory" % path)


def _same(a: SymbolTable, b: SymbolTable) -> bool:
    return (len(a) == len(b) and a.strtab == b.strtab and a.types == b.types
            and bool((a.addrs == b.addrs).all()) and bool((a.names == b.names).all()))


def _adopt(debug: DebugFile, table: SymbolTable | None) -> DebugFile:
    """A symbolizer built from debug info answers with the debug file's own
    table, and then lines follow each symbol's own address (exact where
    names repeat).  Pickled, the two are copies; a reopened file whose
    table equals its owner's is answered with the owner's (a copy of the
    DebugFile: an opened one may be shared with other symbolizers)."""
    if table is not None and debug.symbols is not None and debug.symbols is not table \
            and _same(debug.symbols, table):
        return replace(debug, symbols=table)
    return debug


class _Reopened(Mapping[Owner, DebugFile]):
    def __init__(self, table_of: TableOf) -> None:
        self._table_of = table_of
        self._lock = threading.Lock()
        self._open: dict[Owner, DebugFile] = {}

    def _files(self) -> Mapping[Owner, Any]:
        raise NotImplementedError

    def _get(self, owner: Owner) -> DebugFile:
        raise NotImplementedError

    def __getitem__(self, owner: Owner) -> DebugFile:
        with self._lock:
            got = self._open.get(owner)
            if got is None:
                got = self._open[owner] = _adopt(self._get(owner), self._table_of(owner))
            return got

    def __contains__(self, owner: object) -> bool:
        return owner in self._files()

    def __iter__(self) -> Iterator[Owner]:
        return iter(self._files())

    def __len__(self) -> int:
        return len(self._files())


class ReopenedFiles(_Reopened):
    """Debug files given by owner (``add_debuginfo(file, module)``), each
    opened from its path on first use."""

    def __init__(self, paths: Mapping[Owner, str], table_of: TableOf) -> None:
        super().__init__(table_of)
        self.paths = dict(paths)

    def _files(self) -> Mapping[Owner, Any]:
        return self.paths

    def _get(self, owner: Owner) -> DebugFile:
        from pymod.symbolize.debugfiles import open_debug_file

        path = self.paths[owner]
        if not os.path.exists(path):
            raise missing(path)
        return open_debug_file(path)


class ReopenedDirs(_Reopened):
    """A :class:`~pymod.symbolize.debugfiles.DebugFiles` rebuilt from its
    paths on first use (every path must exist then)."""

    def __init__(self, paths: tuple[str, ...], release: str | None, table_of: TableOf) -> None:
        super().__init__(table_of)
        self.paths, self.release = paths, release
        self._got: Any = None
        self._building = threading.Lock()     # not _lock: __getitem__ holds that one

    def _files(self) -> Mapping[Owner, Any]:
        from pymod.symbolize.debugfiles import DebugFiles

        if self._got is None:
            with self._building:
                if self._got is None:
                    for p in self.paths:
                        if not os.path.exists(p):
                            raise missing(p)
                    self._got = DebugFiles(self.paths, self.release)
        files: Mapping[Owner, Any] = self._got
        return files

    def _get(self, owner: Owner) -> DebugFile:
        got: DebugFile = self._files()[owner]
        return got


def _kept(debug: DebugFile, owner: Owner) -> str:
    if debug.path is None:
        raise InvalidArgument("Symbolizer: the debug info of %s was given in memory (no file) "
                              "and cannot be pickled" % (owner or "vmlinux"))
    return os.path.abspath(os.fsdecode(debug.path))


def _set_state(files: Mapping[Owner, DebugFile]) -> tuple[Any, ...]:
    from pymod.symbolize.debugfiles import DebugFiles

    if isinstance(files, ReopenedFiles):
        return ("files", dict(files.paths))
    if isinstance(files, (ReopenedDirs, DebugFiles)):
        return ("dirs", files.paths, files.release)
    return ("files", {owner: _kept(f, owner) for owner, f in files.items()})


def state_of(symbolizer: Any) -> object:
    """``Symbolizer.__getstate__``: its maps, and its debug files' paths
    (the owner given one by ``add_debuginfo(file, owner)`` first: it wins)."""
    debug = symbolizer._debug
    sets = [("files", {o: _kept(f, o) for o, f in debug.given.items()})] if debug.given else []
    sets += [_set_state(f) for f in debug.found]
    return symbolizer.maps if not sets else (symbolizer.maps, tuple(sets))


def _tables(ref: weakref.ref[Any]) -> TableOf:
    """Owner -> the table the symbolizer answers with now (None: none).
    Read without the symbolizer's lock: a debug file may be opened under it."""
    def table_of(owner: Owner) -> SymbolTable | None:
        s = ref()
        if s is None:
            return None
        if owner is None:
            return s._core[1].symbols if s._core is not None else None
        placed = s._modules.get(owner)
        return placed[2].symbols if placed is not None else None
    return table_of


def restore(symbolizer: Any, state: object) -> None:
    """``Symbolizer.__setstate__``: the state checked whole, then built; the
    debug files are reopened (index built or mapped) on first use."""
    maps, debug = check_state(state)
    symbolizer.__init__(maps)
    table_of = _tables(weakref.ref(symbolizer))
    for s in debug:
        symbolizer.add_debuginfo(ReopenedFiles(s[1], table_of) if s[0] == "files"
                                 else ReopenedDirs(s[1], s[2], table_of))
