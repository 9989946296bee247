"""``modules.dep`` for a ``/lib/modules/<release>`` tree, as kmod's depmod writes it.

The rules below were read off kmod 30's ``tools/depmod.c`` and
``libkmod-elf.c`` (facts only) and checked against Debian's ``depmod``:

* Discovery walks the tree in ``readdir`` order, skipping ``.``/``..``,
  ``build`` and ``source``.  A file is a module when its name ends in ``.ko``,
  ``.ko.gz``, ``.ko.xz`` or ``.ko.zst``; its name is the file name up to the
  first dot with ``-`` turned into ``_``.  Two files with one name: the one
  under ``updates/`` wins, otherwise the first found (depmod's default search
  list when no ``depmod.d`` configuration exists; configuration files are not
  read).  Debian's kmod is built without zlib and skips ``.ko.gz`` files;
  pymod lists them, as a kmod built with zlib does.
* Line order: depmod keeps its modules in a hash table (Paul Hsieh's
  SuperFastHash, 512 buckets, keys sorted within a bucket) and lists them in
  bucket order; then a stable sort puts the modules named in
  ``modules.order`` first, in that file's order.  A ``modules.order`` whose
  last line lacks a newline is ignored as corrupt.
* Exports of a module: its ``__crc_<name>`` symbols, or when it has none the
  strings of ``__ksymtab_strings``.  The symbol table maps a name to the
  *last* module (in line order) exporting it.
* Needs of a module: its undefined symbols in symbol-table order, then the
  ``__versions`` entries no undefined symbol claimed.  A need resolved to
  another module makes that module a direct dependency (first time only).
  Symbols of vmlinux resolve to nothing.
* Dependency order: a topological sort that starts from the modules nobody
  uses, kept on a stack (the last pushed is taken first), numbers every
  module; a line lists the transitive dependencies sorted by that number, so
  users come before what they use.  A cycle is an error.

``modules.dep`` lines therefore read "dependents first": load a line's
dependencies in *reverse* order, then the module itself (:func:`load_order`).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterable, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, NamedTuple

from pymod.elf.compression import read_file
from pymod.elf.kscan import scan_image
from pymod.errors import PymodError
from pymod.kmod.tree import modname_of, walk_modules

if TYPE_CHECKING:
    import mmap

__all__ = [
    "ModuleSymbols",
    "TreeModule",
    "modname_of",
    "kmod_hash",
    "find_modules",
    "line_order",
    "resolve",
    "dependency_rank",
    "all_dependencies",
    "scan_module",
    "image_symbols",
    "build_deps",
    "format_modules_dep",
    "load_order",
]

# depmod's search list without configuration: "updates" ranks above the
# rest of the tree, everything else shares the lowest rank.
# modules.order lists every module once: a few hundred KiB at most.
MAX_ORDER = 16 << 20
_PRIORITY_DIRS = ("updates",)
_HASH_BUCKETS = 512
# Below this many modules a process pool costs more than it saves.  Only
# decompression makes a pool pay by default: an uncompressed module scans in
# about 40 us, less than handing its result back from a worker costs.
_PARALLEL_MIN = 64


class ModuleSymbols(NamedTuple):
    """What depmod reads from one module file."""

    exports: tuple[str, ...]
    needs: tuple[tuple[str, bool], ...]  # (name, weak), in kmod's order


class TreeModule(NamedTuple):
    """A module file found in a tree."""

    name: str      # normalised module name (``-`` -> ``_``)
    relpath: str   # path relative to the modules directory, as printed
    path: str      # full path


def kmod_hash(key: bytes) -> int:
    """Paul Hsieh's SuperFastHash over ``key``, 32-bit, as kmod's hash table uses.

    Bytes are read as little-endian 16-bit words and the odd tail bytes as
    signed chars (x86 ``char``), which is what fixes depmod's bucket order.
    """
    m = 0xFFFFFFFF
    n = len(key)
    h = n
    i = 0
    for _ in range(n >> 2):
        h = (h + (key[i] | key[i + 1] << 8)) & m
        tmp = ((key[i + 2] | key[i + 3] << 8) << 11) ^ h
        h = ((h << 16) ^ tmp) & m
        h = (h + (h >> 11)) & m
        i += 4
    rem = n & 3
    if rem == 3:
        h = (h + (key[i] | key[i + 1] << 8)) & m
        h ^= (h << 16) & m
        h ^= (_signed_char(key[i + 2]) << 18) & m
        h = (h + (h >> 11)) & m
    elif rem == 2:
        h = (h + (key[i] | key[i + 1] << 8)) & m
        h ^= (h << 11) & m
        h = (h + (h >> 17)) & m
    elif rem == 1:
        h = (h + _signed_char(key[i])) & m
        h ^= (h << 10) & m
        h = (h + (h >> 1)) & m
    h ^= (h << 3) & m
    h = (h + (h >> 5)) & m
    h ^= (h << 4) & m
    h = (h + (h >> 17)) & m
    h ^= (h << 25) & m
    h = (h + (h >> 6)) & m
    return h


def _signed_char(b: int) -> int:
    return b - 256 if b > 127 else b


def _priority(relpath: str) -> int:
    for rank, top in enumerate(_PRIORITY_DIRS):
        if relpath.startswith(top + "/"):
            return len(_PRIORITY_DIRS) - rank
    return 0


def _collect(top: str) -> dict[str, TreeModule]:
    """One module per name: the one under ``updates/`` wins, else the first found."""
    found: dict[str, TreeModule] = {}
    for relpath, path in walk_modules(top):
        mod = TreeModule(modname_of(relpath), relpath, path)
        old = found.get(mod.name)
        if old is None or _priority(relpath) > _priority(old.relpath):
            found[mod.name] = mod
    return found


def _uncompressed_relpath(mod: TreeModule) -> str:
    # depmod cuts the path after "<dir>/<len(modname) chars>.ko"
    slash = mod.relpath.rfind("/")
    return mod.relpath[: slash + 1 + len(mod.name) + 3]


def line_order(modules: Iterable[TreeModule], order_text: str | None) -> list[TreeModule]:
    """The modules in depmod's line order; ``order_text`` is ``modules.order``."""
    def bucket_then_name(m: TreeModule) -> tuple[int, bytes]:
        key = os.fsencode(m.name)
        return kmod_hash(key) & (_HASH_BUCKETS - 1), key

    mods = sorted(modules, key=bucket_then_name)
    if order_text is None or (order_text and not order_text.endswith("\n")):
        return mods
    rank: dict[str, int] = {}
    for idx, line in enumerate(order_text.split("\n")[:-1]):
        rank[line] = idx - 1_000_000_000  # named modules sort before the others
    by_path = {_uncompressed_relpath(m): m for m in mods}
    keyed = {id(by_path[p]): r for p, r in rank.items() if p in by_path}
    return sorted(mods, key=lambda m: keyed.get(id(m), 0))


def find_modules(modules_dir: str | os.PathLike[str],
                 warn: Callable[[str], None] | None = None) -> list[TreeModule]:
    """Every module of the tree, in the order depmod prints them; an
    unreadable ``modules.order`` is ignored (``warn`` is told why)."""
    top = os.fspath(modules_dir).rstrip("/") or "/"
    found = _collect(top)
    order_text: str | None = None
    order = os.path.join(top, "modules.order")
    try:
        order_text = read_file(order, MAX_ORDER).decode("utf-8", "surrogateescape")
    except FileNotFoundError:
        pass
    except OSError as e:  # depmod goes on without an order it cannot read
        if warn is not None:
            why = e.strerror if isinstance(e, PymodError) else "%s: %s" % (order, e.strerror)
            warn("%s; going on without it" % why)
    return line_order(found.values(), order_text)


def resolve(symbols: Sequence[ModuleSymbols]) -> list[list[int]]:
    """Direct dependencies (indices, first-need order) of each module.

    ``symbols`` is in line order: a name exported twice belongs to the later
    module, as in depmod's symbol hash.
    """
    owner: dict[str, int] = {}
    for i, s in enumerate(symbols):
        owner.update(dict.fromkeys(s.exports, i))
    first = itemgetter(0)
    direct: list[list[int]] = []
    for s in symbols:
        # Owners in first-need order, each once; None ("no module") is left out.
        deps = dict.fromkeys(map(owner.get, map(first, s.needs)))
        direct.append([j for j in deps if j is not None])
    return direct


def dependency_rank(direct: Sequence[Sequence[int]],
                    names: Sequence[str] | None = None) -> list[int]:
    """depmod's topological number of each module (users before what they use).

    Raises :class:`~pymod.errors.PymodError` (ELOOP) naming the modules that cannot be
    ordered: those in a cycle and those only they use.
    """
    n = len(direct)
    users = [0] * n
    for deps in direct:
        for j in deps:
            users[j] += 1
    stack = [i for i in range(n) if users[i] == 0]
    rank = [-1] * n
    done = 0
    while stack:
        i = stack.pop()
        rank[i] = done
        done += 1
        for j in direct[i]:
            users[j] -= 1
            if users[j] == 0:
                stack.append(j)
    if done < n:
        left = [i for i in range(n) if rank[i] < 0]
        shown = ", ".join(names[i] if names else str(i) for i in left)
        raise PymodError(errno.ELOOP, "dependency cycle: %d modules cannot be ordered: %s"
                         % (len(left), shown))
    return rank


def all_dependencies(direct: Sequence[Sequence[int]], rank: Sequence[int]) -> list[list[int]]:
    """Transitive dependencies of each module, sorted by ``rank``.

    ``direct`` must be acyclic, as :func:`dependency_rank` has checked.
    """
    memo: dict[int, frozenset[int]] = {}

    def closure(i: int) -> frozenset[int]:
        # Iterative post-order: dependency chains can be deeper than Python's stack.
        todo = [i]
        while todo:
            k = todo[-1]
            pending = [j for j in direct[k] if j not in memo]
            if pending:
                todo.extend(pending)
                continue
            todo.pop()
            if k not in memo:
                acc: set[int] = set()
                for j in direct[k]:
                    acc.add(j)
                    acc |= memo[j]
                memo[k] = frozenset(acc)
        return memo[i]

    return [sorted(closure(i), key=rank.__getitem__) for i in range(len(direct))]


def scan_module(path: str) -> ModuleSymbols:
    """Exports and needs of one module file, the way libkmod reads them.

    The file is decompressed by magic, as libkmod does.  The signature
    trailer is left in place (libkmod parses the whole file too), and an
    uncompressed file is mapped, not read: the scan touches only the pages
    holding the section headers, symbol tables and strings it needs.
    """
    from pymod.elf.compression import decompressed, map_file

    return image_symbols(decompressed(map_file(path)))


def image_symbols(image: bytes | bytearray | memoryview | mmap.mmap) -> ModuleSymbols:
    """libkmod's view of an ELF image (see :mod:`pymod.elf.kscan` for what is read).

    Needs are the undefined symbols, then the ``__versions`` entries no
    undefined symbol claimed; an undefined symbol claims the first entry
    of its name.
    """
    scan = scan_image(image)
    needs = list(zip(scan.undefined, map(bool, scan.weak), strict=True))
    claimed = set(scan.undefined)
    seen: set[str] = set()
    for name in scan.versions:
        if name in claimed and name not in seen:
            seen.add(name)
            continue
        needs.append((name, False))
    return ModuleSymbols(tuple(scan.exports), tuple(needs))


def _scan_chunk(paths: Sequence[str]) -> list[tuple[ModuleSymbols, str | None]]:
    out: list[tuple[ModuleSymbols, str | None]] = []
    for p in paths:
        try:
            out.append((scan_module(p), None))
        except (OSError, ValueError) as e:  # depmod lists unreadable modules bare
            out.append((ModuleSymbols((), ()), "%s: %s" % (p, e)))
    return out


def _scan_all(paths: Sequence[str], jobs: int, progress: Callable[[int, int], None] | None
              ) -> list[tuple[ModuleSymbols, str | None]]:
    total = len(paths)
    results: list[tuple[ModuleSymbols, str | None]] = []
    if jobs <= 1 or total < _PARALLEL_MIN:
        for k, p in enumerate(paths):
            results.extend(_scan_chunk([p]))
            if progress:
                progress(k + 1, total)
        return results
    import multiprocessing

    size = max(1, min(32, total // (jobs * 8)))
    chunks = [paths[k:k + size] for k in range(0, total, size)]
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        for part in pool.imap(_scan_chunk, chunks):  # ordered: merge is deterministic
            results.extend(part)
            if progress:
                progress(len(results), total)
    return results


def _default_jobs() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def build_deps(modules_dir: str | os.PathLike[str], jobs: int | None = None,
               progress: Callable[[int, int], None] | None = None,
               warn: Callable[[str], None] | None = None) -> dict[str, list[str]]:
    """``{relpath: [dependency relpaths]}`` in ``modules.dep`` order.

    Each list is depmod's: transitive, users before what they use; load it
    reversed (see :func:`load_order`).  ``jobs`` processes scan the files
    (default: the usable CPUs when at least ``_PARALLEL_MIN`` files are
    compressed, else one); ``progress(done, total)`` is called as files are
    scanned; ``warn`` receives one message per unreadable module.
    """
    mods = find_modules(modules_dir, warn)
    if not jobs:
        compressed = sum(1 for m in mods if not m.relpath.endswith(".ko"))
        jobs = _default_jobs() if compressed >= _PARALLEL_MIN else 1
    scanned = _scan_all([m.path for m in mods], jobs, progress)
    if warn:
        for _sym, msg in scanned:
            if msg:
                warn(msg)
    direct = resolve([s for s, _ in scanned])
    rank = dependency_rank(direct, [m.relpath for m in mods])
    closure = all_dependencies(direct, rank)
    return {m.relpath: [mods[j].relpath for j in deps]
            for m, deps in zip(mods, closure, strict=True)}


def format_modules_dep(deps: dict[str, list[str]]) -> str:
    """The text of ``modules.dep``: ``module: dep dep...`` per line."""
    return "".join("%s:%s\n" % (m, "".join(" " + d for d in ds)) for m, ds in deps.items())


def load_order(deps: dict[str, list[str]], relpath: str) -> list[str]:
    """``relpath`` and its dependencies, each after everything it needs."""
    return [*reversed(deps[relpath]), relpath]
