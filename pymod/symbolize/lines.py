"""Source lines for symbols: the seam between the symbolizer and DWARF.

A :class:`LineSource` answers a batch of *debug-file addresses* (the
addresses of the ELF file the debug info describes: vmlinux' link-time
addresses, a ``.ko``'s section-relative ones, as ``addr2line -e FILE``
takes them) with the chain of source frames of each, innermost first, as
``addr2line -f -i`` prints them.  The answer is three values, as the C
index gives them: ``counts[i]`` frames for address ``i`` starting at
``offsets[i]`` in one flat :class:`FrameTable`.

A :class:`DebugFile` is one such source with the debug file's own symbol
table: a symbol found by name there (as ``scripts/decode_stacktrace.sh``
finds it with ``nm``) gives the debug-file address of ``name+offset``
whatever KASLR or a module's load address did at run time.

:class:`IndexLines` adapts the C DWARF index (:mod:`pymod.dwarf.native`'s
``LineIndex``); :class:`StaticLines` answers from a dict (tests, or frames
computed elsewhere).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from pymod.dwarf.native import Frame
from pymod.symbolize.model import SymbolTable

__all__ = ["Frame", "FrameTable", "FrameArrays", "LineSource", "DebugFile", "IndexLines",
           "StaticLines", "frame_text", "decode_ascii", "ascii_names"]


def frame_text(f: Frame) -> str:
    """``file:line`` as ``addr2line`` prints it (``?`` for line 0), with
    `` (discriminator N)`` when there is one."""
    text = "%s:%s" % (f.file or "??", f.line if f.line else "?")
    if f.discriminator:
        text += " (discriminator %d)" % f.discriminator
    return text


@dataclass(frozen=True)
class FrameTable:
    """Frames as parallel columns (a struct of arrays)."""

    function: Sequence[str | None] | NDArray[np.object_]
    file: Sequence[str] | NDArray[np.object_]
    line: NDArray[np.uint32]
    column: NDArray[np.uint32]
    inlined: NDArray[np.bool_]
    discriminator: NDArray[np.uint32] | None = None

    def __len__(self) -> int:
        return len(self.line)

    def frame(self, i: int) -> Frame:
        d = 0 if self.discriminator is None else int(self.discriminator[i])
        return Frame(self.function[i], self.file[i], int(self.line[i]), int(self.column[i]),
                     bool(self.inlined[i]), d)

    def chain(self, offset: int, count: int) -> list[Frame]:
        return [self.frame(k) for k in range(offset, offset + count)]

    @staticmethod
    def of(frames: Iterable[Frame]) -> FrameTable:
        fs = list(frames)
        return FrameTable([f.function for f in fs], [f.file for f in fs],
                          np.array([f.line for f in fs], dtype=np.uint32),
                          np.array([f.column for f in fs], dtype=np.uint32),
                          np.array([f.inlined for f in fs], dtype=np.bool_),
                          np.array([f.discriminator for f in fs], dtype=np.uint32))


EMPTY = FrameTable.of(())


@dataclass(frozen=True)
class FrameArrays:
    """A batch's frames: address ``i`` has ``counts[i]`` frames (0: no line
    information), from ``offsets[i]`` on in ``table``, innermost first."""

    counts: NDArray[np.uint32]
    offsets: NDArray[np.uint64]
    table: FrameTable = field(default=EMPTY)

    def __len__(self) -> int:
        return len(self.counts)

    def chain(self, i: int) -> list[Frame]:
        return self.table.chain(int(self.offsets[i]), int(self.counts[i]))

    @staticmethod
    def none(n: int) -> FrameArrays:
        return FrameArrays(np.zeros(n, np.uint32), np.zeros(n, np.uint64))

    @staticmethod
    def of_chains(chains: Sequence[Sequence[Frame]]) -> FrameArrays:
        counts = np.array([len(c) for c in chains], dtype=np.uint32)
        offsets = np.zeros(len(chains), dtype=np.uint64)
        if len(chains) > 1:
            offsets[1:] = np.cumsum(counts[:-1], dtype=np.uint64)
        return FrameArrays(counts, offsets, FrameTable.of(f for c in chains for f in c))


class LineSource(Protocol):
    """What the symbolizer needs of debug info."""

    def frames_many(self, addrs: NDArray[np.uint64]) -> FrameArrays:
        """The frames of each debug-file address (one native call)."""
        ...


class StaticLines:
    """A :class:`LineSource` answering from ``{address: [Frame, ...]}``."""

    def __init__(self, frames: Mapping[int, Sequence[Frame]]) -> None:
        self._frames = {int(a): list(c) for a, c in frames.items()}
        self.calls = 0

    def frames_many(self, addrs: NDArray[np.uint64]) -> FrameArrays:
        self.calls += 1
        return FrameArrays.of_chains([self._frames.get(a, []) for a in addrs.tolist()])


class IndexLines:
    """A :class:`LineSource` over the C index (``pymod.dwarf.native.LineIndex``):
    its ``lookup_many(addrs) -> (counts, offsets, frames)`` is one C call;
    ``frames`` is a struct of arrays whose ``function`` and ``file`` are
    offsets into the index's string table (``index.string(offset)``)."""

    def __init__(self, index: Any) -> None:
        self.index = index

    def frames_many(self, addrs: NDArray[np.uint64]) -> FrameArrays:
        a = np.ascontiguousarray(addrs, dtype=np.uint64)
        counts, offsets, frames = self.index.lookup_many(a)
        return FrameArrays(np.asarray(counts, dtype=np.uint32),
                           np.asarray(offsets, dtype=np.uint64), self._table(frames))

    def _table(self, frames: Any) -> FrameTable:
        from pymod.dwarf.native import UNKNOWN_FILE

        funcs = self._strings(frames.function, None)
        files = self._strings(frames.file, UNKNOWN_FILE)
        return FrameTable(funcs, files, np.asarray(frames.line, np.uint32),
                          np.asarray(frames.column, np.uint32),
                          np.asarray(frames.inlined, np.bool_),
                          np.asarray(frames.discriminator, np.uint32))

    def _strings(self, offsets: Any, none: str | None) -> NDArray[np.object_]:
        """The strings at ``offsets``, each distinct one decoded once."""
        uniq, inverse = np.unique(np.asarray(offsets), return_inverse=True)
        string = self.index.string
        table = np.empty(len(uniq), dtype=object)
        table[:] = [string(o) or none for o in uniq.tolist()]
        out: NDArray[np.object_] = table[inverse]
        return out


@dataclass
class DebugFile:
    """One debug file: its lines, its own symbol table (for names), and what
    identifies it.

    :lines: its :class:`LineSource` (debug-file addresses)
    :symbols: its symbol table (``nm``'s), or None
    :build_id: its ``.note.gnu.build-id``, or None
    :release: the kernel release it was built for, when known
    :path: where it was read from
    """

    lines: LineSource
    symbols: SymbolTable | None = None
    build_id: bytes | None = None
    release: str | None = None
    path: str | None = None
    _by_name: dict[str, int] | None = field(default=None, repr=False)
    _scanned: int = field(default=0, repr=False)
    _name_map: Any = field(default=None, repr=False)

    def address_of(self, name: str) -> int | None:
        """The address of the function ``name`` in this file, as
        ``decode_stacktrace.sh`` takes it from ``nm``: a ``t``/``T`` symbol
        of that name (the lowest address when several share it).  The first
        few names are searched for in the string table: indexing vmlinux'
        10^5 names costs a short trace's start-up."""
        if self._by_name is None:
            if self._scanned < _SCANS and self.symbols is not None:
                self._scanned += 1
                got = _scan_name(self.symbols, name)
                if got is not _MANY:
                    return got  # type: ignore[return-value]
            self._by_name = _text_names(self.symbols)
        return self._by_name.get(name)

    def name_map(self) -> Any:
        """:meth:`address_of` for the C batch path
        (:class:`pymod.dwarf.text.NameMap`), made once; needs ``symbols``."""
        if self._name_map is None:
            from pymod.dwarf.text import NameMap

            if self.symbols is None:
                raise ValueError("a debug file without symbols has no name map")
            t = self.symbols
            self._name_map = NameMap(t.strtab, t.names, t.addrs, t.types)
        return self._name_map

    def addresses_of(self, names: Sequence[str]) -> list[int | None]:
        """:meth:`address_of` of each name; a batch larger than the names
        searched for one by one is answered from the index at once (one
        search costs a pass over vmlinux' string table)."""
        if self._by_name is None and len(names) > _SCANS - self._scanned:
            self._by_name = _text_names(self.symbols)
        if self._by_name is None:
            return [self.address_of(n) for n in names]
        get = self._by_name.get
        return [get(n) for n in names]


_SCANS = 16          # names searched for before the names are indexed
_MANY = object()     # a name too common in the string table to search for


def _scan_name(table: SymbolTable, name: str) -> int | None | object:
    """:meth:`DebugFile.address_of` without an index: every place the name
    ends a string of the table, and the first t/T symbol starting there
    (the table is in address order); ``_MANY`` when it is everywhere."""
    needle = name.encode("utf-8", "surrogateescape") + b"\0"
    strtab = table.strtab
    spots: list[int] = []
    at = strtab.find(needle)
    while at >= 0:
        if len(spots) >= 64:
            return _MANY
        spots.append(at)
        at = strtab.find(needle, at + 1)
    if not spots or len(needle) == 1:
        return _MANY if spots else None
    types = table.types
    for i in np.flatnonzero(np.isin(table.names, np.array(spots, np.uint64))).tolist():
        if types[i] in b"tT":
            return int(table.addrs[i])
    return None


def _text_names(table: SymbolTable | None) -> dict[str, int]:
    out: dict[str, int] = {}
    if table is None:
        return out
    if table.strtab.isascii():
        return _text_names_ascii(table)
    types = table.types
    addrs = table.addrs.tolist()
    for i in range(len(table)):         # ascending: the first kept is the lowest
        if types[i] in b"tT":
            out.setdefault(table.name(i), addrs[i])
    return out


AsciiStrtab = tuple[str, NDArray[np.intp]]


def decode_ascii(strtab: bytes) -> AsciiStrtab:
    """An ASCII string table decoded once, and where its NULs are (one
    appended, so the last name ends): vmlinux has 10^5 names, a start-up
    cost decoded name by name."""
    padded = strtab + b"\0"
    return padded.decode("ascii"), np.flatnonzero(np.frombuffer(padded, np.uint8) == 0)


def ascii_names(decoded: AsciiStrtab, starts: NDArray[Any]) -> list[str]:
    """The names starting at ``starts`` of a :func:`decode_ascii` table."""
    text, nul = decoded
    starts = np.asarray(starts, np.int64)
    ends = nul[np.searchsorted(nul, starts)]
    return [text[a:b] for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]


def _text_names_ascii(table: SymbolTable) -> dict[str, int]:
    """:func:`_text_names` of an ASCII string table, decoded once."""
    letters = np.frombuffer(table.types, np.uint8)
    pick = np.flatnonzero((letters == ord("t")) | (letters == ord("T")))
    names = ascii_names(decode_ascii(table.strtab), table.names[pick])
    # Written from the highest address down: the lowest of a name stays.
    return dict(zip(reversed(names), reversed(table.addrs[pick].tolist()), strict=True))
