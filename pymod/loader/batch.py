"""Loading many modules, dependencies first: what ``pymod load`` does.

Each file is read and decompressed once, on threads: the decompressors
(zlib, lzma, zstandard) and file reads release the GIL, so the cores work in
parallel without a process pool pickling every image back.  The order comes
from each module's ``depends`` modinfo field (what depmod derives from
symbols and modpost records), dependencies before users, otherwise in the
order given.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, TypeVar

from pymod.elf.compression import decompressed
from pymod.elf.kofile import KoFile, ko_from_raw
from pymod.errors import ModuleLoadError, PymodError
from pymod.kmod.tree import modname_of, module_files
from pymod.loader.kernel import Kernel
from pymod.loader.sources import read_module_file


@dataclass
class TreeResult:
    loaded: list[str] = field(default_factory=list)
    failures: list[tuple[str, ModuleLoadError]] = field(default_factory=list)


_E = TypeVar("_E", bound=PymodError)


def detached(e: _E) -> _E:
    """``e`` without its traceback and chained exceptions: a failure kept for
    a report keeps its message, never the frames (and buffers) it was raised in."""
    e.__traceback__ = None
    e.__context__ = e.__cause__ = None
    return e


def _read_image(path: str) -> tuple[bytes, bytes] | PymodError:
    """``(raw, image)``: the work that releases the GIL (I/O, decompression)."""
    try:
        raw = read_module_file(path)
        return raw, decompressed(raw)
    except PymodError as e:
        return detached(e)


def _kofile(path: str, read: tuple[bytes, bytes] | PymodError) -> KoFile | PymodError:
    if isinstance(read, PymodError):
        return read
    try:
        return ko_from_raw(path, read[0], read[1])
    except PymodError as e:
        return detached(e)


def read_all(paths: list[str], jobs: int | None = None) -> list[KoFile | PymodError]:
    """``read_ko`` over ``paths``, reading and decompressing on ``jobs`` threads
    (default: the usable cores); a file that cannot be read gives its error."""
    jobs = jobs or len(os.sched_getaffinity(0))
    if jobs <= 1 or len(paths) < 2:
        return [_kofile(p, _read_image(p)) for p in paths]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(jobs) as pool:
        return [_kofile(p, r) for p, r in zip(paths, pool.map(_read_image, paths), strict=True)]


def _modinfo(ko: KoFile) -> list[tuple[str, str]]:
    try:
        return ko.elf.modinfo()
    except PymodError:
        return []  # unreadable sections: the loader will say why


class _Entry(NamedTuple):
    """A module read for loading, with what ordering needs from its modinfo."""

    ko: KoFile
    name: str
    depends: list[str]


def _entry(ko: KoFile) -> _Entry:
    name = depends = None
    for key, value in _modinfo(ko):
        if key == "name" and name is None:
            name = value
        elif key == "depends" and depends is None:
            depends = [d.replace("-", "_") for d in value.split(",") if d]
    return _Entry(ko, name if name is not None else modname_of(ko.path or "?"), depends or [])


def dependency_order(kos: list[KoFile]) -> list[KoFile]:
    """Dependencies (``depends=``) first, otherwise the given order."""
    return _order([_entry(ko) for ko in kos])


def _order(entries: list[_Entry]) -> list[KoFile]:
    """Dependencies first.  A second file of a name already given is kept and
    goes last, so the kernel answers it as it answers a second load of that
    module (EEXIST when the first is live); nothing is dropped silently."""
    by_name: dict[str, _Entry] = {}
    again: list[KoFile] = []
    for e in entries:
        if e.name in by_name:
            again.append(e.ko)
        else:
            by_name[e.name] = e
    order: list[KoFile] = []
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
                order.append(by_name[current].ko)

    for name in by_name:
        if name not in state:
            visit(name)
    return order + again


def modules_root(path: str | os.PathLike[str]) -> Path | None:
    """The ``lib/modules/<release>`` tree a module file sits in, if any: the
    nearest ancestor holding ``modules.order``, ``modules.dep`` or
    ``modules.builtin`` (what depmod and modprobe work from)."""
    for parent in Path(path).resolve().parents:
        if any((parent / f).is_file() for f in ("modules.order", "modules.dep",
                                                "modules.builtin")):
            return parent
    return None


class _TreeIndex:
    """Module name -> file, per modules tree, each tree walked once."""

    def __init__(self) -> None:
        self._trees: dict[Path, dict[str, str]] = {}

    def files(self, root: Path) -> dict[str, str]:
        tree = self._trees.get(root)
        if tree is None:
            tree = self._trees[root] = {}
            for f in module_files(root):
                tree.setdefault(modname_of(f), f)
        return tree


def _missing_dependencies(entries: list[_Entry], given: set[str], index: _TreeIndex,
                          trees: tuple[Path, ...] = ()) -> list[str]:
    """Files of ``depends`` names that no entry provides, found in ``trees``
    (a target kernel's) or else in the given modules' own trees (one level;
    callers repeat until closed)."""
    have = {e.name for e in entries}
    found: list[str] = []
    for e in entries:
        missing = [d for d in e.depends if d not in have]
        if not missing:
            continue
        own = modules_root(e.ko.path) if e.ko.path else None
        for root in (*trees, *((own,) if own is not None else ())):
            tree = index.files(root)
            for name in [d for d in missing if d not in have]:
                f = tree.get(name)
                if f is not None and f not in given:
                    found.append(f)
                    given.add(f)
                    have.add(name)
    return found


def load_all(kernel: Kernel, sources: Iterable[str | os.PathLike[str]], *,
             jobs: int | None = None, params: str = "", flags: int = 0,
             progress: Callable[[int, int], None] | None = None,
             dependency_trees: Iterable[str | os.PathLike[str]] = ()) -> TreeResult:
    """Load every module file of ``sources`` (files, or directories to walk),
    dependencies first.  A file's dependencies that were not given are
    resolved from ``dependency_trees`` (a target kernel's modules trees),
    else from the modules tree the file sits in, as modprobe would."""
    trees = tuple(Path(t) for t in dependency_trees)
    paths: list[str] = []
    for s in sources:
        paths += module_files(s) if os.path.isdir(s) else [os.fspath(s)]
    result = TreeResult()
    entries: list[_Entry] = []
    given: set[str] = set()
    index = _TreeIndex()
    while paths:
        given.update(paths)
        for path, ko in zip(paths, read_all(paths, jobs), strict=True):
            if isinstance(ko, KoFile):
                entries.append(_entry(ko))
            elif isinstance(ko, ModuleLoadError) and ko.stage == "read":
                result.failures.append((path, ko))
            else:
                # The reader could not index the file; the kernel's own
                # checks give the answer (and the message) a user expects.
                try:
                    result.loaded.append(kernel.load_module(path).name)
                except ModuleLoadError as e:
                    result.failures.append((path, detached(e)))
        paths = _missing_dependencies(entries, given, index, trees)
    ordered = _order(entries)
    for n, ko in enumerate(ordered, 1):
        try:
            result.loaded.append(kernel.load_module(ko, params=params, flags=flags).name)
        except ModuleLoadError as e:
            result.failures.append((ko.path or "?", detached(e)))
        if progress:
            progress(n, len(ordered))
    return result
