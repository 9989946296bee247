"""Loading many modules, dependencies first: what ``pymod load`` does.

Each file is read and decompressed once (on every usable core for large
sets); the order comes from each module's ``depends`` modinfo field (what
depmod derives from symbols and modpost records), dependencies before users,
otherwise in the order given.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from .errors import ModuleLoadError, PymodError
from .kernel import Kernel
from .kofile import KoFile, read_ko

MODULE_SUFFIXES = (".ko", ".ko.gz", ".ko.xz", ".ko.zst")
_PARALLEL_MIN = 64


@dataclass
class TreeResult:
    loaded: list[str] = field(default_factory=list)
    failures: list[tuple[str, ModuleLoadError]] = field(default_factory=list)


def module_files(modules_dir: str | os.PathLike) -> list[str]:
    """Every module file under ``modules_dir`` (``build``/``source`` skipped), sorted."""
    out = []
    for root, dirs, files in os.walk(modules_dir):
        if root == os.fspath(modules_dir):
            dirs[:] = [d for d in dirs if d not in ("build", "source")]
        dirs.sort()
        out += [os.path.join(root, f) for f in sorted(files) if f.endswith(MODULE_SUFFIXES)]
    return out


def _read(path: str) -> KoFile | PymodError:
    try:
        return read_ko(path)
    except PymodError as e:
        return e
    except OSError as e:
        return ModuleLoadError(e.errno or 5, "%s: %s" % (path, e.strerror), stage="read")


def read_all(paths: list[str], jobs: int | None = None) -> list[KoFile | PymodError]:
    """``read_ko`` over ``paths``; decompression fans out over the usable cores."""
    jobs = jobs or len(os.sched_getaffinity(0))
    if jobs <= 1 or len(paths) < _PARALLEL_MIN:
        return [_read(p) for p in paths]
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(jobs) as pool:
        return list(pool.map(_read, paths, chunksize=16))


def _modinfo(ko: KoFile) -> list[tuple[str, str]]:
    try:
        return ko.elf.modinfo()
    except PymodError:
        return []  # unreadable sections: the loader will say why


def _modname(ko: KoFile) -> str:
    for key, value in _modinfo(ko):
        if key == "name":
            return value
    return Path(ko.path or "?").name.split(".")[0].replace("-", "_")


def dependency_order(kos: list[KoFile]) -> list[KoFile]:
    """Dependencies (``depends=``) first, otherwise the given order."""
    by_name = {_modname(k): k for k in kos}
    order: list[KoFile] = []
    state: dict[str, int] = {}   # 1 = visiting, 2 = done

    def visit(name: str) -> None:
        stack = [(name, iter(_depends(by_name[name])))]
        state[name] = 1
        while stack:
            current, deps = stack[-1]
            for dep in deps:
                if dep in by_name and dep not in state:
                    state[dep] = 1
                    stack.append((dep, iter(_depends(by_name[dep]))))
                    break
            else:
                stack.pop()
                state[current] = 2
                order.append(by_name[current])

    for name in by_name:
        if name not in state:
            visit(name)
    return order


def _depends(ko: KoFile) -> list[str]:
    for key, value in _modinfo(ko):
        if key == "depends":
            return [d.replace("-", "_") for d in value.split(",") if d]
    return []


def load_all(kernel: Kernel, sources: Iterable[str | os.PathLike], *,
             jobs: int | None = None, params: str = "", flags: int = 0,
             progress: Callable[[int, int], None] | None = None) -> TreeResult:
    """Load every module file of ``sources`` (files, or directories to walk)."""
    paths: list[str] = []
    for s in sources:
        paths += module_files(s) if os.path.isdir(s) else [os.fspath(s)]
    result = TreeResult()
    kos: list[KoFile] = []
    for path, ko in zip(paths, read_all(paths, jobs)):
        if isinstance(ko, KoFile):
            kos.append(ko)
        else:
            err = ko if isinstance(ko, ModuleLoadError) else ModuleLoadError(
                ko.errno, ko.strerror, stage="read")
            result.failures.append((path, err))
    ordered = dependency_order(kos)
    for n, ko in enumerate(ordered, 1):
        try:
            result.loaded.append(kernel.load_module(ko, params=params, flags=flags).name)
        except ModuleLoadError as e:
            result.failures.append((ko.path or "?", e))
        if progress:
            progress(n, len(ordered))
    return result
