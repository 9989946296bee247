"""Finding debug files: by build id, by module name, and ``vmlinux``, in a
directory laid out as ``/usr/lib/debug`` is.

The layouts are the distributions' (Debian's ``linux-image-*-dbg``,
Fedora's ``kernel-debuginfo``, gdb's ``debug-file-directory``):

- ``.build-id/xx/rest.debug``, ``xx`` the first byte of the build id in hex;
- ``boot/vmlinux-<release>`` and ``lib/modules/<release>/vmlinux``;
- ``lib/modules/<release>/**/<name>.ko`` (``.ko.debug`` on Fedora), where
  ``-`` and ``_`` in a module's name are the same, as the kernel has them
  (``scripts/Makefile.lib`` turns every ``-`` of ``KBUILD_MODNAME`` into ``_``).

A directory that holds ``usr/lib/debug`` (an extracted package) counts as that
directory.  Nothing here reads a file's contents; the caller checks that a
found file's build id is the one it wanted.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

__all__ = ["DEFAULT_DEBUG_DIRS", "DebugDir", "by_build_id", "module_name"]

DEFAULT_DEBUG_DIRS = ("/usr/lib/debug",)
_SUFFIXES = (".ko.debug", ".ko", ".ko.xz", ".ko.gz", ".ko.zst")
# What a debug directory's scan takes: debug files are never compressed whole
# (a .ko.xz is a shipped, stripped module).
_DEBUG_SUFFIXES = (".ko.debug", ".ko")
_HEX = re.compile(r"[0-9a-f]{4,}\Z")


def module_name(name: str | os.PathLike[str]) -> str:
    """The kernel's name of a module: ``drivers/x/nf-conntrack.ko.xz`` ->
    ``nf_conntrack``."""
    base = os.path.basename(os.fspath(name))
    for suffix in _SUFFIXES:
        if base.endswith(suffix):
            base = base[:-len(suffix)]
            break
    return base.replace("-", "_")


def _version_key(release: str) -> tuple[tuple[int, str], ...]:
    return tuple((int(p), "") if p.isdigit() else (-1, p) for p in re.split(r"(\d+)", release) if p)


def by_build_id(build_id: str | bytes, dirs: Iterable[str | os.PathLike[str]]
                = DEFAULT_DEBUG_DIRS) -> Path | None:
    """``<dir>/.build-id/xx/rest.debug`` in the first of ``dirs`` that has it."""
    hexid = build_id.hex() if isinstance(build_id, bytes) else build_id.lower()
    if not _HEX.match(hexid):
        return None
    for d in dirs:
        path = DebugDir(d).root / ".build-id" / hexid[:2] / (hexid[2:] + ".debug")
        if path.is_file():
            return path
    return None


class DebugDir:
    """A ``/usr/lib/debug``-like directory."""

    def __init__(self, path: str | os.PathLike[str]):
        root = Path(path)
        if (root / "usr" / "lib" / "debug").is_dir():
            root = root / "usr" / "lib" / "debug"
        self.root = root
        self._modules: dict[str, dict[str, list[Path]]] = {}

    def __repr__(self) -> str:
        return "DebugDir(%r)" % str(self.root)

    def releases(self) -> list[str]:
        """The kernel releases with something here, oldest first."""
        found = set()
        boot = self.root / "boot"
        if boot.is_dir():
            found |= {p.name[len("vmlinux-"):] for p in boot.glob("vmlinux-*") if p.is_file()}
        mods = self.root / "lib" / "modules"
        if mods.is_dir():
            found |= {p.name for p in mods.iterdir() if p.is_dir()}
        return sorted(found, key=_version_key)

    def vmlinux(self, release: str | None = None) -> Path | None:
        """``boot/vmlinux-<release>`` or ``lib/modules/<release>/vmlinux``; without
        a release, that of the newest release that has one."""
        releases = [release] if release is not None else self.releases()[::-1]
        for r in releases:
            if "/" in r or r in ("", ".", ".."):
                continue
            for path in (self.root / "boot" / ("vmlinux-" + r),
                         self.root / "lib" / "modules" / r / "vmlinux"):
                if path.is_file():
                    return path
        return None

    def modules(self, release: str | None = None) -> dict[str, list[Path]]:
        """Module name -> its debug files (sorted), in ``lib/modules/<release>``
        (every release when None)."""
        key = release or ""
        if key not in self._modules:
            self._modules[key] = self._scan(release)
        return self._modules[key]

    def module(self, name: str, release: str | None = None) -> Path | None:
        """The debug file of module ``name`` (``-`` and ``_`` alike); the one
        under ``kernel/`` first, as depmod prefers nothing else to it."""
        found = self.modules(release).get(module_name(name))
        return found[0] if found else None

    def _scan(self, release: str | None) -> dict[str, list[Path]]:
        top = self.root / "lib" / "modules"
        if release is not None:
            if "/" in release or release in ("", ".", ".."):
                return {}
            top = top / release
        table: dict[str, list[Path]] = {}
        for here, dirs, files in os.walk(top):       # never follows links to directories
            dirs.sort()
            for f in sorted(files):
                # a regular file (through a link too), as vmlinux() takes: a
                # link loop or a device is no debug file to shadow a real one
                if f.endswith(_DEBUG_SUFFIXES) and os.path.isfile(os.path.join(here, f)):
                    table.setdefault(module_name(f), []).append(Path(here) / f)
        for paths in table.values():
            paths.sort(key=lambda p: ("/kernel/" not in str(p), str(p)))
        return table
