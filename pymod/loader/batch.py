"""Loading many modules, dependencies first: what ``pymod load`` does.

Two passes.  The first reads every file for what ordering needs (its name
and ``depends`` modinfo field, what depmod derives from symbols and modpost
records); the second loads in dependency order, otherwise in the order
given.  Reading and decompressing run a few files ahead on threads (file
reads and the decompressors release the GIL).  Memory is bounded by the
images in flight, never by the tree: the first pass keeps an image for the
second only while the images kept stay under :data:`KEEP_BUDGET`, and reads
the rest again when their turn comes, so a tree of decompression bombs
costs a few bombs.  A file that fails at any point, for any reason, is
reported and the batch goes on.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, TypeGuard, TypeVar

from pymod.elf.compression import decompressed
from pymod.elf.constants import MAX_DECOMPRESSED
from pymod.elf.kofile import KoFile, ko_from_raw
from pymod.errors import ModuleLoadError, PymodError
from pymod.kmod.tree import modname_of, module_files
from pymod.loader.kernel import Kernel
from pymod.loader.module_input import read_module_file

#: What the first pass may keep of the images it read, for the second.  In
#: all no more than one module may decompress to (Debian's cloud tree, 110
#: MB, fits), and no image larger than a large real module (a bomb is never
#: kept).  Other files are read again when their turn comes.
KEEP_BUDGET = MAX_DECOMPRESSED
KEEP_ONE = 16 << 20
#: Reading threads by default (more add little, and each holds an image).
DEFAULT_JOBS_MAX = 8
#: Reading threads at most.
MAX_JOBS = 64
# A KoFile's own cost beyond its bytes (the parsed headers, numpy views).
_KO_OVERHEAD = 16 << 10


@dataclass
class TreeResult:
    loaded: list[str] = field(default_factory=list)
    failures: list[tuple[str, ModuleLoadError]] = field(default_factory=list)


#: Any pymod error: :func:`detached` returns the type it is given.
_E = TypeVar("_E", bound=PymodError)
_T = TypeVar("_T")
_R = TypeVar("_R")


def detached(e: _E) -> _E:
    """``e`` without its traceback and chained exceptions: a failure kept for
    a report keeps its message, never the frames (and buffers) it was raised in."""
    e.__traceback__ = None
    e.__context__ = e.__cause__ = None
    return e


def unexpected(path: str, e: Exception) -> ModuleLoadError:
    """A failure that is not one of the kernel's answers (a pymod bug, or
    memory running out) as a report line naming the file: the batch goes on."""
    if isinstance(e, MemoryError):
        return ModuleLoadError(errno.ENOMEM, "%s: out of memory while loading it" % path,
                               stage="pymod")
    return ModuleLoadError(errno.EIO, "%s: pymod failed on it (%s: %s)"
                           % (path, type(e).__name__, e), stage="pymod")


def read_kofile(path: str) -> KoFile | PymodError:
    """A module file read whole (compression undone, ELF viewed), or why not
    (:func:`unexpected` for what is no refusal: memory running out)."""
    try:
        raw = read_module_file(path)
        return ko_from_raw(path, raw, decompressed(raw))
    except PymodError as e:
        return detached(e)
    except Exception as e:
        return unexpected(path, e)


def _reported(e: PymodError) -> TypeGuard[ModuleLoadError]:
    """A failure to read that ends the file's turn: the kernel's load would
    not get further (a read refused, or pymod's own failure)."""
    return isinstance(e, ModuleLoadError) and e.stage in ("read", "pymod")


def _in_order(fn: Callable[[_T], _R], items: Iterable[_T], pool: Executor | None,
              ahead: int) -> Iterator[_R]:
    """``fn`` over ``items`` in order, on ``pool`` with at most ``ahead``
    calls running or waiting to be taken (``Executor.map`` would run them
    all, and hold every result, at once)."""
    if pool is None:
        yield from map(fn, items)
        return
    window: list[Future[_R]] = []
    for item in items:
        window.append(pool.submit(fn, item))
        if len(window) >= ahead:
            yield window.pop(0).result()
    while window:
        yield window.pop(0).result()


class _Entry(NamedTuple):
    """A module to load, with what ordering needs from its modinfo."""

    path: str
    name: str
    depends: list[str]


def _modinfo(ko: KoFile) -> list[tuple[str, str]]:
    try:
        return ko.elf.modinfo()
    except PymodError:
        return []  # unreadable sections: the loader will say why


def _entry(ko: KoFile) -> _Entry:
    name = depends = None
    for key, value in _modinfo(ko):
        if key == "name" and name is None:
            name = value
        elif key == "depends" and depends is None:
            depends = [d.replace("-", "_") for d in value.split(",") if d]
    path = ko.path or "?"
    return _Entry(path, name if name is not None else modname_of(path), depends or [])


def _scan(path: str) -> tuple[_Entry, KoFile] | PymodError | None:
    """The first pass over one file: its entry and the file read, or a
    refusal; None when pymod cannot index it (the kernel's load will say)."""
    ko = read_kofile(path)
    if isinstance(ko, PymodError):
        return ko
    try:
        return _entry(ko), ko
    except Exception:
        return None


def _order(entries: list[_Entry]) -> list[_Entry]:
    """Dependencies first.  A second file of a name already given is kept and
    goes last, so the kernel answers it as it answers a second load of that
    module (EEXIST when the first is live); nothing is dropped silently."""
    by_name: dict[str, _Entry] = {}
    again: list[_Entry] = []
    for e in entries:
        if e.name in by_name:
            again.append(e)
        else:
            by_name[e.name] = e
    order: list[_Entry] = []
    state: dict[str, int] = {}   # 1 = visiting, 2 = done

    def visit(name: str) -> None:
        stack = [(name, iter(by_name[name].depends))]
        state[name] = 1
        while stack:
            current, deps = stack[-1]
            for dep in deps:
                if dep in by_name and dep not in state:
                    state[dep] = 1
                    stack.append((dep, iter(by_name[dep].depends)))
                    break
            else:
                stack.pop()
                state[current] = 2
                order.append(by_name[current])

    for name in by_name:
        if name not in state:
            visit(name)
    return order + again


_TREE_FILES = ("modules.order", "modules.dep", "modules.builtin")


def modules_root(path: str | os.PathLike[str]) -> Path | None:
    """The ``lib/modules/<release>`` tree a module file sits in, if any: the
    nearest ancestor holding ``modules.order``, ``modules.dep`` or
    ``modules.builtin`` (what depmod and modprobe work from)."""
    for parent in Path(path).resolve().parents:
        if any((parent / f).is_file() for f in _TREE_FILES):
            return parent
    return None


class _TreeIndex:
    """Module name -> file, per modules tree, each tree walked once; the
    tree of each directory, looked up once."""

    def __init__(self) -> None:
        self._trees: dict[Path, dict[str, str]] = {}
        self._roots: dict[str, Path | None] = {}

    def files(self, root: Path) -> dict[str, str]:
        tree = self._trees.get(root)
        if tree is None:
            tree = self._trees[root] = {}
            for f in module_files(root):
                tree.setdefault(modname_of(f), f)
        return tree

    def root_of(self, path: str) -> Path | None:
        folder = os.path.dirname(os.path.abspath(path))
        if folder not in self._roots:
            self._roots[folder] = modules_root(path)
        return self._roots[folder]


def _missing_dependencies(new: list[_Entry], have: set[str], given: set[str],
                          index: _TreeIndex, trees: tuple[Path, ...] = ()) -> list[str]:
    """Files of the ``depends`` names of ``new`` entries that no entry
    provides (``have``), found in ``trees`` (a target kernel's) or else in
    the entry's own tree (one level; callers repeat with what this found)."""
    found: list[str] = []
    for e in new:
        missing = [d for d in e.depends if d not in have]
        if not missing:
            continue
        own = index.root_of(e.path)
        for root in (*trees, *((own,) if own is not None else ())):
            tree = index.files(root)
            for name in [d for d in missing if d not in have]:
                f = tree.get(name)
                if f is not None and f not in given:
                    found.append(f)
                    given.add(f)
                    have.add(name)
    return found


class _Batch:
    """One :func:`load_all`: its kernel and options, the reading threads,
    the images kept from the first pass, and the report."""

    def __init__(self, kernel: Kernel, params: str, flags: int, pool: Executor | None,
                 ahead: int) -> None:
        self.kernel, self.params, self.flags = kernel, params, flags
        self.pool, self.ahead = pool, ahead
        self.result = TreeResult()
        self.kept: dict[int, KoFile] = {}     # id(entry) -> its file, read in the first pass
        self.kept_bytes = 0

    def load(self, path: str, source: KoFile | str) -> None:
        try:
            mod = self.kernel.load_module(source, params=self.params, flags=self.flags)
        except ModuleLoadError as e:
            self.result.failures.append((path, detached(e)))
        except Exception as e:   # any other failure names the file too; the batch goes on
            self.result.failures.append((path, unexpected(path, e)))
        else:
            self.result.loaded.append(mod.name)

    def scan(self, paths: list[str]) -> list[_Entry]:
        """The first pass over ``paths``: their entries; a file that cannot
        be read is reported, one pymod cannot index is loaded at once (the
        kernel's own checks give the answer, and the message)."""
        new: list[_Entry] = []
        # next() by hand: zip and enumerate keep their last item, so one
        # more image would live while the next is read
        scans = _in_order(_scan, paths, self.pool, self.ahead)
        for path in paths:
            got = next(scans)
            if isinstance(got, tuple):
                new.append(got[0])
                self._keep(got[0], got[1])
            elif got is not None and _reported(got):
                self.result.failures.append((path, got))
            else:
                self.load(path, path)
            del got
        return new

    def _keep(self, entry: _Entry, ko: KoFile) -> None:
        cost = len(ko.raw) + (len(ko.image) if ko.image is not ko.raw else 0) + _KO_OVERHEAD
        if cost <= KEEP_ONE and self.kept_bytes + cost <= KEEP_BUDGET:
            self.kept[id(entry)] = ko
            self.kept_bytes += cost

    def _source(self, entry: _Entry) -> KoFile | PymodError:
        ko = self.kept.pop(id(entry), None)
        return ko if ko is not None else read_kofile(entry.path)

    def load_in_order(self, ordered: list[_Entry],
                      progress: Callable[[int, int], None] | None) -> None:
        """The second pass: each file loaded in turn, read again unless kept."""
        sources = _in_order(self._source, ordered, self.pool, self.ahead)
        for n, entry in enumerate(ordered, 1):
            src = next(sources)
            if isinstance(src, PymodError) and _reported(src):
                self.result.failures.append((entry.path, src))
            else:
                self.load(entry.path, entry.path if isinstance(src, PymodError) else src)
            del src   # the image goes before the next one is taken
            if progress:
                progress(n, len(ordered))


def load_all(kernel: Kernel, sources: Iterable[str | os.PathLike[str]], *,
             jobs: int | None = None, params: str = "", flags: int = 0,
             progress: Callable[[int, int], None] | None = None,
             dependency_trees: Iterable[str | os.PathLike[str]] = ()) -> TreeResult:
    """Load every module file of ``sources`` (files, or directories to walk),
    dependencies first.  A file's dependencies that were not given are
    resolved from ``dependency_trees`` (a target kernel's modules trees),
    else from the modules tree the file sits in, as modprobe would.
    ``jobs`` threads read and decompress (default: the usable cores, at
    most :data:`DEFAULT_JOBS_MAX`; never more than :data:`MAX_JOBS`); each
    holds one image at a time."""
    trees = tuple(Path(t) for t in dependency_trees)
    paths: list[str] = []
    for s in sources:
        paths += module_files(s) if os.path.isdir(s) else [os.fspath(s)]
    jobs = min(jobs, MAX_JOBS) if jobs else min(len(os.sched_getaffinity(0)), DEFAULT_JOBS_MAX)
    pool = ThreadPoolExecutor(jobs) if jobs > 1 else None
    try:
        batch = _Batch(kernel, params, flags, pool, jobs)
        entries: list[_Entry] = []
        have: set[str] = set()
        given: set[str] = set()
        index = _TreeIndex()
        while paths:
            given.update(paths)
            new = batch.scan(paths)
            entries += new
            have.update(e.name for e in new)
            paths = _missing_dependencies(new, have, given, index, trees)
        batch.load_in_order(_order(entries), progress)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return batch.result
