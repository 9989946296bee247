"""debugfiles.text_symbols: the table over the ELF string table itself and
the one built from decoded names (a string table that is not ASCII) agree."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import pymod
from pymod.elf.constants import SHF_EXECINSTR
from pymod.elf.image import ElfImage
from pymod.symbolize.debugfiles import text_symbols

HELLO = (Path(pymod.__file__).parent / "samples" / "prebuilt" / "pm_hello.ko").read_bytes()


def _entries(table) -> list[tuple[int, str]]:
    return [(int(table.addrs[i]), table.name(i)) for i in range(len(table))]


def test_non_ascii_string_table_gives_the_same_functions():
    elf = ElfImage(HELLO)
    fast = text_symbols(elf)
    assert elf.strtab.isascii() and len(fast) > 0
    # Make a name outside executable sections non-ASCII: the table of text
    # symbols must not change, only the path that builds it.
    syms, sections = elf.symbols(), elf.sections
    text = np.array([sections[s].flags & SHF_EXECINSTR != 0 if 0 < s < len(sections) else False
                     for s in syms["st_shndx"].tolist()])
    other = int(syms["st_name"][np.flatnonzero(~text & (syms["st_name"] > 0))[0]])
    at = elf.symtab_section
    strtab_offset = sections[at.link].offset
    patched = bytearray(HELLO)
    patched[strtab_offset + other] = 0xE9
    slow_elf = ElfImage(bytes(patched))
    assert not slow_elf.strtab.isascii()
    assert _entries(text_symbols(slow_elf)) == _entries(fast)
