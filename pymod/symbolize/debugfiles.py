"""Debug files as the symbolizer uses them: opened lazily, by owner.

:func:`open_debug_file` reads one ELF file with DWARF (``vmlinux``, a
``.ko``) into a :class:`~pymod.symbolize.lines.DebugFile`: its line index
(cached on disk, :mod:`pymod.dwarf.cache`), its function symbols and build
id.  :class:`DebugFiles` maps owners (None: vmlinux, else a module name) to
debug files found in the paths given (files, or directories laid out as
``/usr/lib/debug``, :class:`pymod.dwarf.finder.DebugDir`), opening each on
first use: a trace touches a few modules of the thousands a kernel ships.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pymod.elf.constants import SHF_ALLOC, SHF_EXECINSTR
from pymod.errors import InvalidArgument
from pymod.symbolize.lines import DebugFile, IndexLines
from pymod.symbolize.model import CoreMap, SymbolTable

__all__ = ["open_debug_file", "DebugFiles", "core_of"]

STT_SECTION, STT_FILE = 3, 4      # st_info & 0xf (pymod.elf.constants has no STT_)
_RELEASE = re.compile(r"(?:/boot/vmlinux-|/lib/modules/)([^/]+)")


def release_of(path: str | os.PathLike[str]) -> str | None:
    """The release a debug file's path names (``boot/vmlinux-<release>``,
    ``lib/modules/<release>/...``), or None."""
    m = _RELEASE.search(os.fspath(Path(path).absolute()))
    if m is None:
        return None
    return m.group(1).removesuffix(".debug")


# Opened files, by what identifies the file on disk: the command opens
# vmlinux for its symbolizer and again for the trace checks' identity, and
# each opening reads 10^5 symbols.
_OPENED: dict[tuple[str, int, int, int], DebugFile] = {}
_OPENED_LOCK = threading.Lock()


def open_debug_file(path: str | os.PathLike[str]) -> DebugFile:
    """The lines, functions and build id of the ELF file ``path`` (opened
    once per process while the file is unchanged)."""
    st = os.stat(path)
    key = (os.fspath(path), st.st_ino, st.st_size, st.st_mtime_ns)
    with _OPENED_LOCK:
        got = _OPENED.get(key)
        if got is None:
            got = _OPENED[key] = _open_debug_file(path)
    return got


def _open_debug_file(path: str | os.PathLike[str]) -> DebugFile:
    from pymod.dwarf.cache import load_index
    from pymod.dwarf.elfsections import ElfDebugFile

    with ElfDebugFile(path) as elf:
        bases = ko_bases(elf.elf) if elf.relocatable else None
        table = text_symbols(elf.elf, bases)
    got = load_index(path, bases=bases)
    return DebugFile(IndexLines(got.index), table,
                     bytes.fromhex(got.build_id) if got.build_id else None,
                     release_of(path), os.fspath(path))


def ko_bases(elf: Any) -> dict[int, int]:
    """Where a ``.ko``'s sections are placed for its lines: ``.text`` at 0,
    as ``addr2line -e FILE.ko`` numbers it, every other allocated section
    after it (they all start at 0 in the file, so an offset into
    ``.init.text`` or ``.exit.text`` would otherwise read as one in
    ``.text``: addr2line answers such an address from ``.text``, the first
    section that holds it; pymod from the symbol's own section)."""
    text = elf.section(".text")
    at = text.size if text is not None else 0
    bases: dict[int, int] = {}
    for sec in elf.sections[:0xFF00]:
        if not sec.flags & SHF_ALLOC or sec.size == 0 or (text and sec.index == text.index):
            continue
        align = max(sec.addralign, 64)
        at = -(-at // align) * align
        bases[sec.index] = at
        at += sec.size
    return bases


def text_symbols(elf: Any, bases: Mapping[int, int] | None = None) -> SymbolTable:
    """The symbols ``nm`` prints as ``t``/``T``: defined, in an executable
    section, not a section or file symbol; at ``st_value`` plus their
    section's base in ``bases`` (a ``.ko``, see :func:`ko_bases`)."""
    syms = elf.symbols()
    sections = elf.sections
    execs = np.zeros(0x10000, dtype=np.bool_)
    for sec in sections[:0xFF00]:
        execs[sec.index] = bool(sec.flags & SHF_EXECINSTR)
    kind = syms["st_info"] & 0xF
    shndx = syms["st_shndx"].astype(np.int64)
    pick = np.flatnonzero(execs[shndx] & (shndx != 0) & (kind != STT_SECTION) & (kind != STT_FILE)
                          & (shndx < 0xFF00))
    base = np.zeros(0x10000, dtype=np.uint64)
    for index, at in (bases or {}).items():
        base[index] = at
    addrs = syms["st_value"][pick].astype(np.uint64) + base[shndx[pick]]
    strtab = elf.strtab
    if strtab.isascii() and len(strtab) < 2**32 - 1:
        return _table_of_strtab(addrs, syms["st_name"][pick], strtab)
    name_of = elf.string_at
    return SymbolTable.build(addrs, [name_of(n) for n in syms["st_name"][pick].tolist()],
                             "t" * len(pick))


def _table_of_strtab(addrs: NDArray[np.uint64], st_name: NDArray[Any],
                     strtab: bytes) -> SymbolTable:
    """The table over the ELF string table itself (vmlinux has 10^5 names:
    decoding each one costs a start-up).  A NUL is appended so the last
    name ends, and a name offset past the table reads that NUL (""), as
    ``c_string`` reads it."""
    order = np.argsort(addrs, kind="stable")
    names = st_name.astype(np.uint64)[order]
    names[names >= len(strtab)] = len(strtab)
    return SymbolTable(addrs=addrs[order], names=names.astype(np.uint32),
                       strtab=strtab + b"\0", types=b"t" * len(order))


def core_of(debug: DebugFile) -> CoreMap:
    """vmlinux' table from its debug file: its functions, at link-time
    addresses, answering from the lowest function to the end of the highest
    (the text and init text ranges together)."""
    table = debug.symbols
    if table is None or len(table) == 0:
        raise InvalidArgument("%s: no function symbols" % debug.path)
    lo, hi = int(table.addrs[0]), int(table.addrs[-1]) + 1
    return CoreMap(table, lo, hi)


class DebugFiles(Mapping[str | None, DebugFile]):
    """Owner -> debug file, from files and ``/usr/lib/debug``-like
    directories; each file is opened (index built or mapped) on first use.
    A file is vmlinux when its name starts with ``vmlinux``, else the module
    its name says."""

    def __init__(self, paths: Iterable[str | os.PathLike[str]], release: str | None = None):
        from pymod.dwarf.finder import DebugDir, module_name

        self._paths: dict[str | None, Path] = {}
        self._dirs: list[DebugDir] = []
        self._open: dict[str | None, DebugFile] = {}
        self._lock = threading.Lock()
        self.release = release
        given = list(paths)
        self.paths = tuple(os.path.abspath(p) for p in given)    # what a pickle keeps
        for p in map(Path, given):
            if p.is_dir():
                d = DebugDir(p)
                self._dirs.append(d)
                v = d.vmlinux(release)
                if v is not None:
                    self._paths.setdefault(None, v)
            elif p.name.startswith("vmlinux"):
                self._paths[None] = p
            elif p.exists():
                self._paths[module_name(p.name)] = p
            else:
                raise InvalidArgument("--debuginfo %s: no such file or directory" % p)

    def path(self, owner: str | None) -> Path | None:
        got = self._paths.get(owner)
        if got is None and owner is not None:
            for d in self._dirs:
                got = d.module(owner, self.release)
                if got is not None:
                    self._paths[owner] = got
                    break
        return got

    def __getitem__(self, owner: str | None) -> DebugFile:
        with self._lock:
            got = self._open.get(owner)
            if got is None:
                path = self.path(owner)
                if path is None:
                    raise KeyError(owner)
                got = self._open[owner] = open_debug_file(path)
            return got

    def __contains__(self, owner: object) -> bool:
        return (owner is None or isinstance(owner, str)) and self.path(owner) is not None

    def __iter__(self) -> Iterator[str | None]:
        return iter(list(self._paths))

    def __len__(self) -> int:
        return len(self._paths)
