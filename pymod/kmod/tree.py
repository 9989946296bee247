"""A ``/lib/modules/<release>`` tree as kmod sees it: which files are modules,
what each is called, and the walk that finds them."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator

from pymod.elf.constants import MODULE_SUFFIXES
from pymod.errors import PymodError

__all__ = ["SKIPPED_DIRS", "modname_of", "is_module_file", "walk_modules", "module_files",
           "first_module_file"]

# depmod never descends into these (the kernel's build and source links).
SKIPPED_DIRS = frozenset(("build", "source"))


def modname_of(filename: str) -> str:
    """``"nf-nat.ko.xz"`` -> ``"nf_nat"``: kmod's name of a module file (the
    base name up to the first dot, ``-`` read as ``_``)."""
    base = filename.rsplit("/", 1)[-1]
    return base.split(".", 1)[0].replace("-", "_")


def is_module_file(filename: str) -> bool:
    return filename.endswith(MODULE_SUFFIXES)


def walk_modules(top: str | os.PathLike[str], rel: str = "") -> Iterator[tuple[str, str]]:
    """``(relpath, path)`` of every module file under ``top``, in ``readdir``
    order as depmod walks (``build``/``source`` skipped at every level).

    Symbolic links to directories are followed, as depmod follows them, but
    no directory is entered twice: depmod itself loops on a link to ``.``
    until it runs out of file descriptors, and two such links make the walk
    exponential.  A directory that cannot be opened raises
    :class:`~pymod.errors.PymodError` naming it.

    The walk keeps its own stack, not Python's (a tree may nest deeper than
    the interpreter's recursion limit), and reads a directory whole before
    descending, so it holds one descriptor at a time at any depth.
    """
    seen: set[tuple[int, int]] = set()
    stack = [(iter(_listing(top, seen)), rel)]
    while stack:
        entries, prefix = stack[-1]
        for name, path, is_dir in entries:
            if not is_dir:
                yield prefix + name, path
            elif (below := _listing(path, seen)):
                stack.append((iter(below), prefix + name + "/"))
                break
        else:
            stack.pop()


def _listing(top: str | os.PathLike[str],
             seen: set[tuple[int, int]]) -> list[tuple[str, str, bool]]:
    """``(name, path, is_dir)`` of the module files and directories in
    ``top``, in readdir order; none when ``top`` was entered before."""
    try:
        st = os.stat(top)
        if (st.st_dev, st.st_ino) in seen:
            return []
        seen.add((st.st_dev, st.st_ino))
        with os.scandir(top) as entries:
            found = []
            for entry in entries:
                if entry.name in SKIPPED_DIRS:
                    continue
                try:
                    is_dir = entry.is_dir()
                    is_file = not is_dir and entry.is_file()
                except OSError:
                    continue
                if is_dir or (is_file and is_module_file(entry.name)):
                    found.append((entry.name, entry.path, is_dir))
            return found
    except OSError as e:
        raise PymodError(e.errno or errno.EIO,
                         "could not open directory %s: %s" % (os.fspath(top), e.strerror)) from e


def module_files(top: str | os.PathLike[str]) -> list[str]:
    """Every module file under ``top``, sorted by path (a stable order to load in)."""
    return sorted(path for _rel, path in walk_modules(top))


def first_module_file(top: str | os.PathLike[str]) -> str | None:
    """The first module file the walk meets under ``top`` (None: none), for
    a fact every module of a tree shares (its kernel's ``sizeof(struct
    module)``): the walk stops there instead of listing the whole tree."""
    return next((path for _rel, path in walk_modules(top)), None)
