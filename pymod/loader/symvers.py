"""Read and write kbuild's ``Module.symvers`` (one export per line).

Format: ``0xCRC<TAB>symbol<TAB>module<TAB>EXPORT_SYMBOL[_GPL]<TAB>namespace``;
``module`` is ``vmlinux`` or the module's path without ``.ko``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable


@dataclass(frozen=True)
class SymversEntry:
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
        kind = "EXPORT_SYMBOL_GPL" if self.gpl else "EXPORT_SYMBOL"
        return "0x%08x\t%s\t%s\t%s\t%s\n" % (self.crc, self.name, self.module, kind, self.namespace)


def parse_symvers(text: str, source: str = "Module.symvers") -> dict[str, SymversEntry]:
    """Entries by symbol name; the first line for a name wins, as in modpost."""
    entries: dict[str, SymversEntry] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) not in (4, 5) or fields[3] not in ("EXPORT_SYMBOL", "EXPORT_SYMBOL_GPL"):
            raise ValueError("%s:%d: not a Module.symvers line: %r" % (source, lineno, line))
        try:
            crc = int(fields[0], 16)
        except ValueError:
            raise ValueError("%s:%d: bad CRC %r" % (source, lineno, fields[0])) from None
        entry = SymversEntry(crc, fields[1], fields[2], fields[3] == "EXPORT_SYMBOL_GPL",
                             fields[4] if len(fields) == 5 else "")
        entries.setdefault(entry.name, entry)
    return entries


def read_symvers(path: str | Path) -> dict[str, SymversEntry]:
    path = Path(path)
    return parse_symvers(path.read_text(), str(path))


def format_symvers(entries: Iterable[SymversEntry]) -> str:
    return "".join(e.line() for e in entries)
