"""The two readers of the ELF format agree: pymod.elf.headers (through
ElfImage, the Python one) and the C scanner behind ``pymod deps``.

The Python side applies the scanner's documented rules (pymod.elf.kscan) to
what ElfImage reads: which table is the symbol table, where section and
symbol names are, what lies in bounds.  On the shipped sample modules and on
damaged copies of them, both must read the same names or both refuse.
"""

from __future__ import annotations

import errno
import random
import struct
from pathlib import Path

import pytest

import pymod.elf.kscan as kscan
from pymod.elf.constants import SHN_UNDEF, STB_WEAK
from pymod.elf.headers import EHDR, SHDR, Ehdr, read_ehdr, read_section_headers, symbol_array
from pymod.elf.image import ElfImage
from pymod.elf.strings import c_bytes
from pymod.errors import PymodError

PREBUILT = Path(__file__).resolve().parents[2] / "pymod" / "samples" / "prebuilt"
SAMPLES = sorted(PREBUILT.glob("*.ko"))
Names = tuple[list[str], list[tuple[str, bool]], list[str]]


def _text(raw: bytes) -> str:
    return raw.decode("latin-1")   # as the scanner decodes: byte for byte


def _strings(elf: ElfImage, name: str) -> list[str]:
    sec = elf.section(name)
    return [] if sec is None else [_text(s) for s in elf.bytes_of(sec).split(b"\0") if s]


def python_view(image: bytes) -> Names:
    """The scanner's answer, from the Python parser's reading."""
    elf = ElfImage(image)
    sym = elf.symtab_section
    if sym is None or sym.link >= len(elf.sections) or sym.size % 24:
        return _strings(elf, "__ksymtab_strings"), [], []
    strtab, syms = elf.strtab, elf.symbols()[1:]
    offsets = syms["st_name"].tolist()
    in_range = [off < len(strtab) for off in offsets]
    exports = []
    if all(in_range):
        names = [c_bytes(strtab, off) for off in offsets]
        exports = [_text(n[6:]) for n in names if n.startswith(b"__crc_")]
    exports = exports or _strings(elf, "__ksymtab_strings")
    undef = (syms["st_shndx"] == SHN_UNDEF).tolist()
    if not all(ok for ok, u in zip(in_range, undef, strict=True) if u):
        return exports, [], []
    undefined = [(_text(c_bytes(strtab, off)), (info >> 4) == STB_WEAK)
                 for off, info, u in zip(offsets, syms["st_info"].tolist(), undef, strict=True)
                 if u and c_bytes(strtab, off)]
    vers = elf.section("__versions")
    table = b"" if vers is None else elf.bytes_of(vers)
    versions = [] if len(table) % 64 else [_text(c_bytes(table[at + 8:at + 64]))
                                           for at in range(0, len(table), 64)]
    return exports, undefined, versions


def c_view(image: bytes) -> Names:
    s = kscan.scan_image(image)
    return s.exports, list(zip(s.undefined, map(bool, s.weak), strict=True)), s.versions


def outcome(read, image: bytes) -> Names | str:
    try:
        return read(image)
    except PymodError as e:
        assert e.errno == errno.ENOEXEC
        return "ENOEXEC"


def test_samples_are_there():
    assert len(SAMPLES) >= 10


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_both_readers_read_the_same_names(path):
    data = path.read_bytes()
    mine = python_view(data)
    assert mine == c_view(data)
    assert mine[1] or mine[0], "a sample with neither exports nor needs compares nothing"


def _shdr_at(data: bytes | bytearray, i: int) -> int:
    hdr = read_ehdr(bytes(data))
    return hdr.e_shoff + i * SHDR.size


def _damaged(data: bytes) -> dict[str, bytes]:
    """A few hostile images, each one field wrong."""
    hdr = read_ehdr(data)
    heads = read_section_headers(data, hdr.e_shoff, hdr.e_shnum)
    symtab = next(i for i, h in enumerate(heads) if h[1] == 2)
    link = heads[symtab][6]
    out: dict[str, bytes] = {}

    def patch(name: str, at: int, fmt: str, value: int) -> None:
        bad = bytearray(data)
        struct.pack_into(fmt, bad, at, value)
        out[name] = bytes(bad)

    patch("shstrndx past the table", 62, "<H", hdr.e_shnum)
    patch("shentsize 40", 58, "<H", 40)
    patch("shnum 0", 60, "<H", 0)
    patch("shoff wraps", 40, "<Q", 2 ** 64 - 64)
    patch("symtab link past the table", _shdr_at(data, symtab) + 40, "<I", hdr.e_shnum)
    patch("symtab size not whole", _shdr_at(data, symtab) + 32, "<Q", heads[symtab][5] - 1)
    patch("strtab past the end", _shdr_at(data, link) + 24, "<Q", len(data))
    patch("strtab is NOBITS", _shdr_at(data, link) + 4, "<I", 8)
    patch("names table is NOBITS", _shdr_at(data, hdr.e_shstrndx) + 4, "<I", 8)
    first_sym = heads[symtab][4] + 24
    patch("symbol name out of range", first_sym, "<I", 0xFFFFFFF0)
    out["truncated header"] = data[:EHDR.size - 1]
    out["truncated table"] = data[:hdr.e_shoff + SHDR.size * hdr.e_shnum - 1]
    return out


@pytest.mark.parametrize("sample", ["pm_importer", "pm_exporter", "pm_weak"])
def test_both_readers_agree_on_hostile_images(sample):
    data = (PREBUILT / (sample + ".ko")).read_bytes()
    seen = set()
    for what, image in _damaged(data).items():
        mine = outcome(python_view, image)
        assert mine == outcome(c_view, image), what
        seen.add(mine == "ENOEXEC")
    assert seen == {True, False}   # some damage was read past, some refused


def test_both_readers_agree_on_random_damage():
    rng = random.Random(17)
    images = [p.read_bytes() for p in SAMPLES]
    kinds = {"read": 0, "ENOEXEC": 0}
    for _ in range(400):
        data = bytearray(rng.choice(images))
        hdr = read_ehdr(bytes(data))
        table_end = min(hdr.e_shoff + SHDR.size * hdr.e_shnum, len(data))
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(max(table_end - 1024, 40), table_end)
            data[at] = rng.getrandbits(8) if rng.random() < 0.7 else rng.choice((0, 0xFF))
        mine = outcome(python_view, bytes(data))
        assert mine == outcome(c_view, bytes(data))
        kinds["ENOEXEC" if mine == "ENOEXEC" else "read"] += 1
    assert kinds["read"] > 50 and kinds["ENOEXEC"] > 20, kinds


def test_the_shared_reader_judges_only_bounds():
    data = (PREBUILT / "pm_hello.ko").read_bytes()
    bad = bytearray(data)
    bad[:4] = b"\0BAD"
    struct.pack_into("<HH", bad, 16, 0xFFFF, 0xFFFF)   # e_type, e_machine
    hdr = read_ehdr(bytes(bad))
    assert isinstance(hdr, Ehdr) and hdr.e_ident[:4] == b"\0BAD" and hdr.e_machine == 0xFFFF
    heads = read_section_headers(bad, hdr.e_shoff, hdr.e_shnum)
    assert len(heads) == hdr.e_shnum and heads[0][1] == 0
    with pytest.raises(PymodError, match="section header table .* runs past the end"):
        read_section_headers(data, hdr.e_shoff, hdr.e_shnum + 1)
    with pytest.raises(PymodError, match="shorter than an ELF64 header"):
        read_ehdr(data[:63])
    assert len(symbol_array(b"\0" * 50)) == 2   # a partial last entry is none
    with pytest.raises(PymodError, match="symbol table"):
        symbol_array(b"\0" * 48, 24, 48)
