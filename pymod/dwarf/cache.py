"""The DWARF index of a debug file, built once and kept on disk.

An index is built by the C core (:func:`pymod.dwarf.native.build_index`)
from the sections :mod:`pymod.dwarf.elfsections` reads, and written to
``$PYMOD_CACHE/dwarf`` (default ``~/.cache/pymod/dwarf``) under a name that
says which DWARF it holds: the file's build id when it has one (so a
separate ``.debug`` file and the unstripped binary share an index), else a
hash of its real path, size and modification time.  The file is written
atomically (:func:`pymod.atomicio.write_atomic`), so concurrent builders
race harmlessly and a reader never sees half an index.

A reuse maps the file (no read, no copy) and hands the mapping to
:class:`~pymod.dwarf.native.LineIndex`, which validates it whole: a
truncated, corrupt or foreign cache file (another version's, or any bytes
at all) is rebuilt, never trusted.  A cache that cannot be written (a
read-only directory) costs the rebuild each time and nothing else.

A file without ``.debug_info`` (a stripped ``.ko`` shares its build id
with its debug file) is never cached, so it cannot shadow the real one.
"""

from __future__ import annotations

import functools
import hashlib
import mmap
import os
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from pymod.atomicio import write_atomic
from pymod.dwarf.elfsections import DWARF_SECTIONS, ElfDebugFile
from pymod.errors import PymodError

__all__ = ["cache_dir", "cache_file", "get_index", "load_index", "IndexResult"]

Sections = Mapping[str, Any]
Builder = Callable[[Sections], bytes]
Opener = Callable[[Any], Any]


class IndexResult(NamedTuple):
    """What :func:`load_index` did: the index, the cache file it lives in (None
    when kept in memory only), whether that file was reused, the build id."""

    index: Any
    cache_file: Path | None
    hit: bool
    build_id: str | None


def cache_dir() -> Path:
    """``$PYMOD_CACHE/dwarf``, else ``~/.cache/pymod/dwarf``."""
    root = os.environ.get("PYMOD_CACHE") or Path.home() / ".cache" / "pymod"   # "" is unset
    return Path(root) / "dwarf"


def cache_file(path: str | os.PathLike[str], build_id: str | None,
               variant: str = "", directory: Path | None = None) -> Path:
    """Where the index of ``path`` is kept.  ``variant`` distinguishes indexes
    of one file read differently (other section bases)."""
    directory = cache_dir() if directory is None else directory
    if build_id:
        stem = "id-" + build_id
    else:
        st = os.stat(path)
        who = "%s\0%d\0%d\0%d" % (os.path.realpath(path), st.st_size, st.st_mtime_ns, st.st_ino)
        stem = "path-" + hashlib.sha256(who.encode("utf-8", "surrogateescape")).hexdigest()[:40]
    if variant:
        stem += "-" + hashlib.sha256(variant.encode()).hexdigest()[:16]
    return directory / ("%s-%s.idx" % (stem, builder_tag()))


@functools.cache
def builder_tag() -> str:
    """Which C index builder made a cache file: a hash of the compiled
    library.  An index is valid for its blob format but also holds the
    builder's answers, so a changed builder (a fixed rule, a new pymod) must
    not be served an older builder's index under the same build id."""
    from pymod import _dwarf_cffi

    path = _dwarf_cffi.__file__
    if path is None:
        return "0"
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:12]


def _map_cached(path: Path) -> mmap.mmap | None:
    """``path`` mapped read-only, or None when there is no usable file there
    (missing, a link, not a regular file, empty).  O_NONBLOCK: a FIFO there
    must not wait for a writer."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size == 0:
            return None
        return mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):
        return None
    finally:
        os.close(fd)


def _open_cached(path: Path, opener: Opener) -> Any | None:
    mapped = _map_cached(path)
    if mapped is None:
        return None
    try:
        return opener(mapped)
    except (PymodError, ValueError):       # corrupt or foreign: rebuilt by the caller
        return None


def _store(path: Path, blob: bytes) -> bool:
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_atomic(path, blob)
    except OSError:
        return False
    return True


def _default_builder(sections: Sections) -> bytes:
    from pymod.dwarf.native import build_index

    return build_index(sections)


def _default_opener(buffer: Any) -> Any:
    from pymod.dwarf.native import LineIndex

    return LineIndex(buffer)


def load_index(path: str | os.PathLike[str], *, directory: Path | None | bool = None,
               bases: Mapping[int, int] | None = None, builder: Builder | None = None,
               opener: Opener | None = None) -> IndexResult:
    """The index of the debug file ``path``, from the cache when it holds a
    valid one, else built (and stored).  ``directory=False`` never touches a
    cache; ``builder``/``opener`` replace the C core's (tests)."""
    builder = builder or _default_builder
    opener = opener or _default_opener
    with ElfDebugFile(path, bases=bases) as debug:
        build_id = debug.build_id
        if directory is False or not debug.has_section(".debug_info"):
            return IndexResult(opener(builder(debug.sections(DWARF_SECTIONS))), None, False,
                               build_id)
        variant = ",".join("%d=%#x" % kv for kv in sorted(bases.items())) if bases else ""
        where = cache_file(path, build_id, variant,
                           None if directory is None or directory is True else Path(directory))
        index = _open_cached(where, opener)
        if index is not None:
            return IndexResult(index, where, True, build_id)
        blob = builder(debug.sections(DWARF_SECTIONS))
    if _store(where, blob):
        index = _open_cached(where, opener)
        if index is not None:
            return IndexResult(index, where, False, build_id)
    return IndexResult(opener(blob), None, False, build_id)


def get_index(path: str | os.PathLike[str], **options: Any) -> Any:
    """The :class:`~pymod.dwarf.native.LineIndex` of ``path`` (see :func:`load_index`)."""
    return load_index(path, **options).index
