"""kbuild's ``Module.symvers``: the one reader and writer of the export list.

Format, one export per line:
``0xCRC<TAB>symbol<TAB>module<TAB>EXPORT_SYMBOL[_GPL]<TAB>namespace``
(the namespace field may be empty or, in old files, absent); ``module`` is
``vmlinux`` or the module's path without ``.ko``.

Duplicates: a symbol listed twice keeps its first line, as modpost keeps
the first export it reads; later lines for the name are ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

__all__ = ["SymversEntry", "parse_symvers", "read_symvers", "format_symvers"]

_KINDS = ("EXPORT_SYMBOL", "EXPORT_SYMBOL_GPL")
# A distribution kernel's Module.symvers is a few MiB.
MAX_SYMVERS = 64 << 20


class SymversEntry(NamedTuple):
    crc: int
    name: str
    module: str
    gpl: bool
    namespace: str = ""

    @property
    def owner(self) -> str:
        """The module name as ``depends=`` spells it (``vmlinux`` for the kernel)."""
        return self.module.rsplit("/", 1)[-1]

    def line(self) -> str:
        kind = _KINDS[self.gpl]
        return "0x%08x\t%s\t%s\t%s\t%s\n" % (self.crc, self.name, self.module, kind, self.namespace)


def _bad_line(line: str, source: str, lineno: int) -> ValueError:
    fields = line.split("\t")
    if len(fields) in (4, 5) and fields[3] in _KINDS:
        return ValueError("%s:%d: bad CRC %r" % (source, lineno, fields[0]))
    return ValueError("%s:%d: not a Module.symvers line: %r" % (source, lineno, line))


def parse_symvers(text: str, source: str = "Module.symvers") -> dict[str, SymversEntry]:
    """Entries by symbol name, in file order; a malformed line raises
    ``ValueError`` naming ``source`` and the line number."""
    entries: dict[str, SymversEntry] = {}
    new = tuple.__new__   # a kernel's file has tens of thousands of lines
    for lineno, line in enumerate(text.splitlines(), 1):
        fields = line.split("\t")
        n = len(fields)
        if n in (4, 5) and fields[3] in _KINDS:
            try:
                crc = int(fields[0], 16)
            except ValueError:
                raise _bad_line(line, source, lineno) from None
            if fields[1] not in entries:
                entries[fields[1]] = new(SymversEntry, (
                    crc, fields[1], fields[2], fields[3] == "EXPORT_SYMBOL_GPL",
                    fields[4] if n == 5 else ""))
        elif line.strip():
            raise _bad_line(line, source, lineno)
    return entries


def read_symvers(path: str | Path) -> dict[str, SymversEntry]:
    """:func:`parse_symvers` of a file read through the bounded reader (a
    regular file of at most ``MAX_SYMVERS`` bytes)."""
    from pymod.elf.compression import read_file

    raw = read_file(str(path), MAX_SYMVERS)
    return parse_symvers(raw.decode("utf-8", "surrogateescape"), str(path))


def format_symvers(entries: Iterable[SymversEntry]) -> str:
    return "".join(e.line() for e in entries)
