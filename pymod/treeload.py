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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from .errors import ModuleLoadError, PymodError
from .kernel import Kernel
from .kofile import KoFile, decompress, detect_compression, ko_from_raw, read_file

MODULE_SUFFIXES = (".ko", ".ko.gz", ".ko.xz", ".ko.zst")


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


def _read_image(path: str) -> tuple[bytes, bytes] | PymodError:
    """``(raw, image)``: the work that releases the GIL (I/O, decompression)."""
    try:
        raw = read_file(path)
        kind = detect_compression(raw)
        return raw, decompress(raw, kind) if kind else raw
    except PymodError as e:
        return e
    except OSError as e:
        return ModuleLoadError(e.errno or 5, "%s: %s" % (path, e.strerror), stage="read")


def _kofile(path: str, read: tuple[bytes, bytes] | PymodError) -> KoFile | PymodError:
    if isinstance(read, PymodError):
        return read
    try:
        return ko_from_raw(path, read[0], read[1])
    except PymodError as e:
        return e


def read_all(paths: list[str], jobs: int | None = None) -> list[KoFile | PymodError]:
    """``read_ko`` over ``paths``, reading and decompressing on ``jobs`` threads
    (default: the usable cores); a file that cannot be read gives its error."""
    jobs = jobs or len(os.sched_getaffinity(0))
    if jobs <= 1 or len(paths) < 2:
        return [_kofile(p, _read_image(p)) for p in paths]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(jobs) as pool:
        return [_kofile(p, r) for p, r in zip(paths, pool.map(_read_image, paths))]


def _modinfo(ko: KoFile) -> list[tuple[str, str]]:
    try:
        return ko.elf.modinfo()
    except PymodError:
        return []  # unreadable sections: the loader will say why


def _name_and_depends(ko: KoFile) -> tuple[str, list[str]]:
    name = depends = None
    for key, value in _modinfo(ko):
        if key == "name" and name is None:
            name = value
        elif key == "depends" and depends is None:
            depends = [d.replace("-", "_") for d in value.split(",") if d]
    if name is None:
        name = Path(ko.path or "?").name.split(".")[0].replace("-", "_")
    return name, depends or []


def dependency_order(kos: list[KoFile]) -> list[KoFile]:
    """Dependencies (``depends=``) first, otherwise the given order."""
    by_name: dict[str, KoFile] = {}
    depends: dict[str, list[str]] = {}
    for ko in kos:
        name, deps = _name_and_depends(ko)
        by_name[name] = ko
        depends[name] = deps
    order: list[KoFile] = []
    state: dict[str, int] = {}   # 1 = visiting, 2 = done

    def visit(name: str) -> None:
        stack = [(name, iter(depends[name]))]
        state[name] = 1
        while stack:
            current, deps = stack[-1]
            for dep in deps:
                if dep in by_name and dep not in state:
                    state[dep] = 1
                    stack.append((dep, iter(depends[dep])))
                    break
            else:
                stack.pop()
                state[current] = 2
                order.append(by_name[current])

    for name in by_name:
        if name not in state:
            visit(name)
    return order


def modules_root(path: str | os.PathLike) -> Path | None:
    """The ``lib/modules/<release>`` tree a module file sits in, if any: the
    nearest ancestor holding ``modules.order``, ``modules.dep`` or
    ``modules.builtin`` (what depmod and modprobe work from)."""
    for parent in Path(path).resolve().parents:
        if any((parent / f).is_file() for f in ("modules.order", "modules.dep",
                                                "modules.builtin")):
            return parent
    return None


def _name_of_file(path: str) -> str:
    return Path(path).name.split(".")[0].replace("-", "_")


def _missing_dependencies(kos: list[KoFile], given: set[str]) -> list[str]:
    """Files, found in the given modules' own trees, of ``depends`` names that
    none of ``kos`` provides (one level; callers repeat until closed)."""
    have = {_name_and_depends(ko)[0] for ko in kos}
    want: dict[Path, set[str]] = {}
    for ko in kos:
        _, deps = _name_and_depends(ko)
        missing = [d for d in deps if d not in have]
        root = modules_root(ko.path) if missing and ko.path else None
        if root is not None:
            want.setdefault(root, set()).update(missing)
    found: list[str] = []
    for root, names in want.items():
        for f in module_files(root):
            if _name_of_file(f) in names and f not in given:
                found.append(f)
                names.discard(_name_of_file(f))
    return found


def load_all(kernel: Kernel, sources: Iterable[str | os.PathLike], *,
             jobs: int | None = None, params: str = "", flags: int = 0,
             progress: Callable[[int, int], None] | None = None) -> TreeResult:
    """Load every module file of ``sources`` (files, or directories to walk),
    dependencies first.  A file's dependencies that were not given are
    resolved from the modules tree it sits in, as modprobe would."""
    paths: list[str] = []
    for s in sources:
        paths += module_files(s) if os.path.isdir(s) else [os.fspath(s)]
    result = TreeResult()
    kos: list[KoFile] = []
    given: set[str] = set()
    while paths:
        given.update(paths)
        for path, ko in zip(paths, read_all(paths, jobs)):
            if isinstance(ko, KoFile):
                kos.append(ko)
            elif isinstance(ko, ModuleLoadError) and ko.stage == "read":
                result.failures.append((path, ko))
            else:
                # The reader could not index the file; the kernel's own
                # checks give the answer (and the message) a user expects.
                try:
                    result.loaded.append(kernel.load_module(path).name)
                except ModuleLoadError as e:
                    result.failures.append((path, e))
        paths = _missing_dependencies(kos, given)
    ordered = dependency_order(kos)
    for n, ko in enumerate(ordered, 1):
        try:
            result.loaded.append(kernel.load_module(ko, params=params, flags=flags).name)
        except ModuleLoadError as e:
            result.failures.append((ko.path or "?", e))
        if progress:
            progress(n, len(ordered))
    return result
