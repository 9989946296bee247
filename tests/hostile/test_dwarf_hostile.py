"""Hostile DWARF for the C index (pymod.dwarf.native.build_index): truncated
units, abbreviation and reference loops, huge lengths, deep nesting, ranges
outside their sections and line programs that never end a sequence give a
PymodError (ENOEXEC) or a usable index, never a crash, in bounded work."""

from __future__ import annotations

import errno
import random
import struct

import pytest

from pymod.dwarf.native import LineIndex, build_index
from pymod.errors import PymodError

ADDR = 0x401000


def uleb(v: int) -> bytes:
    out = bytearray()
    while True:
        byte, v = v & 0x7F, v >> 7
        out.append(byte | (0x80 if v else 0))
        if not v:
            return bytes(out)


def abbrevs() -> bytes:
    def ab(code, tag, children, *attrs):
        body = uleb(code) + uleb(tag) + bytes([children])
        for name, form in attrs:
            body += uleb(name) + uleb(form)
        return body + b"\0\0"
    return b"".join([
        ab(1, 0x11, 1, (0x03, 0x08), (0x10, 0x17)),                  # compile_unit
        ab(2, 0x2E, 1, (0x03, 0x08), (0x11, 0x01), (0x12, 0x06)),    # subprogram
        ab(3, 0x1D, 1, (0x31, 0x13), (0x11, 0x01), (0x12, 0x06),     # inlined_subroutine
           (0x58, 0x0B), (0x59, 0x0B)),
        ab(4, 0x0B, 1),                                               # lexical_block
        ab(5, 0x2E, 0, (0x03, 0x08), (0x55, 0x17)),                  # subprogram, ranges
        ab(6, 0x2E, 0, (0x31, 0x13), (0x11, 0x01), (0x12, 0x06)),    # subprogram, origin
        ab(7, 0x2E, 0, (0x03, 0x16)),                                 # name, DW_FORM_indirect
        ab(8, 0x2E, 0, (0x03, 0x25), (0x11, 0x1B), (0x12, 0x06)),    # strx1, addrx
        ab(9, 0x11, 1, (0x03, 0x08), (0x10, 0x17), (0x72, 0x17),     # unit with bases
           (0x73, 0x17), (0x74, 0x17)),
        ab(10, 0x2E, 0, (0x03, 0x25), (0x55, 0x23)),                 # strx1, rnglistx
    ]) + b"\0"


def unit(dies: bytes, length: int | None = None) -> bytes:
    body = struct.pack("<HBBI", 5, 1, 8, 0) + dies
    return struct.pack("<I", len(body) if length is None else length) + body


def cu_die(children: bytes) -> bytes:
    return uleb(1) + b"a.c\0" + struct.pack("<I", 0) + children + b"\0"


def line_program(ops: bytes) -> bytes:
    hdr = bytes([1, 1, 1, (-5) & 0xFF, 14, 13]) + bytes([0, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0, 1])
    hdr += bytes([1]) + uleb(1) + uleb(0x08) + uleb(1) + b"/src\0"
    hdr += bytes([2]) + uleb(1) + uleb(0x08) + uleb(2) + uleb(0x0B) + uleb(1) + b"a.c\0\0"
    body = struct.pack("<HBB", 5, 8, 0) + struct.pack("<I", len(hdr)) + hdr + ops
    return struct.pack("<I", len(body)) + body


def set_address(a: int) -> bytes:
    return b"\0" + uleb(9) + b"\x02" + struct.pack("<Q", a)


END_SEQUENCE = b"\0\x01\x01"
ROWS = set_address(ADDR) + b"\x01" + b"\x02" + uleb(0x10) + b"\x03" + uleb(4) + b"\x01" + \
    b"\x02" + uleb(0x10)


def sections(info: bytes, line: bytes | None = None, **extra: bytes) -> dict[str, bytes]:
    out = {".debug_info": info, ".debug_abbrev": abbrevs(),
           ".debug_line": line_program(ROWS + END_SEQUENCE) if line is None else line}
    out.update({".debug_" + k: v for k, v in extra.items()})
    return out


def func(name: bytes, lo: int, size: int, children: bytes = b"") -> bytes:
    return uleb(2) + name + b"\0" + struct.pack("<QI", lo, size) + children + b"\0"


def refused(secs: dict[str, bytes], text: str) -> None:
    with pytest.raises(PymodError) as e:
        build_index(secs)
    assert e.value.errno == errno.ENOEXEC
    assert text in str(e.value)


def test_a_well_formed_unit_indexes():
    index = LineIndex(build_index(sections(unit(cu_die(func(b"f", ADDR, 0x20))))))
    frames = index.lookup(ADDR + 0x12)
    assert [(f.function, f.file, f.line) for f in frames] == [("f", "/src/a.c", 5)]
    assert index.lookup(ADDR + 0x20) == []


def test_indexed_forms_through_their_bases():
    """DW_FORM_strx1/addrx/rnglistx, read through str_offsets_base,
    addr_base and rnglists_base (gcc emits them only with -gsplit-dwarf)."""
    strs = b"\0fname\0gname\0"
    str_offsets = struct.pack("<IHH", 12, 5, 0) + struct.pack("<II", 1, 7)
    addr = struct.pack("<IHBB", 20, 5, 8, 0) + struct.pack("<QQ", ADDR, ADDR + 0x40)
    lists = b"\x03" + uleb(1) + uleb(0x10) + b"\0"             # startx_length, end
    rng = struct.pack("<HBBI", 5, 8, 0, 1) + struct.pack("<I", 4) + lists
    rnglists = struct.pack("<I", len(rng)) + rng
    root = uleb(9) + b"a.c\0" + struct.pack("<IIII", 0, 8, 8, 12)
    dies = uleb(8) + bytes([0]) + uleb(0) + struct.pack("<I", 0x20) + uleb(10) + bytes([1]) + \
        uleb(0)
    index = LineIndex(build_index(sections(unit(root + dies + b"\0"), str=strs,
                                           str_offsets=str_offsets, addr=addr,
                                           rnglists=rnglists)))
    assert [(f.function, f.file, f.line) for f in index.lookup(ADDR + 4)] == \
        [("fname", "/src/a.c", 1)]
    assert [(f.function, f.file, f.line) for f in index.lookup(ADDR + 0x48)] == \
        [("gname", "??", 0)]
    assert index.lookup(ADDR + 0x50) == []
    refused(sections(unit(root + uleb(8) + bytes([9]) + uleb(0) + struct.pack("<I", 4) + b"\0"),
                     str=strs, str_offsets=str_offsets, addr=addr), "outside")


def test_truncated_units():
    info = unit(cu_die(func(b"f", ADDR, 0x20)))
    refused(sections(unit(cu_die(func(b"f", ADDR, 0x20)), length=len(info) + 100)), "truncated")
    for cut in range(1, len(info)):
        try:
            build_index(sections(info[:cut]))
        except PymodError as e:
            assert e.errno == errno.ENOEXEC


def test_huge_lengths():
    refused(sections(struct.pack("<IQ", 0xFFFFFFFF, 1 << 62) + b"\0" * 32), "truncated")
    refused(sections(struct.pack("<I", 0xFFFFFFF5) + b"\0" * 32), "version")
    huge_op = set_address(ADDR) + b"\0" + uleb(1 << 60) + b"\x02"
    refused(sections(unit(cu_die(b"")), line_program(huge_op)), "truncated")
    line = bytearray(line_program(ROWS))
    line[0:4] = struct.pack("<I", 1 << 30)
    refused(sections(unit(cu_die(b"")), bytes(line)), "truncated")


def test_abbreviation_and_reference_loops():
    # An inlined subroutine whose abstract origin is itself.
    me = 12 + len(cu_die(b"")) - 1 + len(func(b"f", ADDR, 0x20)) - 1
    inl = uleb(3) + struct.pack("<IQIBB", me, ADDR, 8, 1, 3) + b"\0"
    refused(sections(unit(cu_die(func(b"f", ADDR, 0x20, inl)))), "too deeply")
    # A DIE with a code its table lacks, and a DW_FORM_indirect chain.
    refused(sections(unit(cu_die(uleb(99)))), "abbreviation")
    ind = uleb(7) + uleb(0x16) * 10 + uleb(0x08) + b"x\0"
    refused(sections(unit(cu_die(ind))), "form")


def test_deep_nesting_is_refused_early():
    deep = uleb(4) * 100_000 + b"\0" * 100_000
    refused(sections(unit(cu_die(func(b"f", ADDR, 0x20, deep)))), "too deeply")


def test_ranges_outside_their_sections():
    die = uleb(5) + b"g\0" + struct.pack("<I", 4096)
    refused(sections(unit(cu_die(die)), rnglists=b"\0" * 16), "outside")
    refused(sections(unit(cu_die(die))), "outside")
    base_x = b"\x01" + uleb(3) + b"\0"           # DW_RLE_base_addressx with no .debug_addr
    die0 = uleb(5) + b"g\0" + struct.pack("<I", 0)
    refused(sections(unit(cu_die(die0)), rnglists=base_x), "outside")
    # A reference past its unit.
    origin = uleb(6) + struct.pack("<IQI", 1 << 20, ADDR, 8)
    refused(sections(unit(cu_die(origin))), "outside")


def test_shared_range_lists_are_bounded():
    entries = b"".join(b"\x07" + struct.pack("<Q", ADDR + 16 * i) + uleb(8) for i in range(5000))
    die = uleb(5) + b"g\0" + struct.pack("<I", 0)
    refused(sections(unit(cu_die(die * 5000)), rnglists=entries + b"\0"), "too much")


def test_a_sequence_never_ended():
    index = LineIndex(build_index(sections(unit(cu_die(b"")), line_program(ROWS))))
    assert [(f.file, f.line) for f in index.lookup(ADDR + 4)] == [("/src/a.c", 1)]
    # The last row only marks the end, as binutils reads it.
    assert index.lookup(ADDR + 0x10) == []
    assert index.lookup(ADDR + 0x30) == []


@pytest.mark.parametrize("seed", range(4))
def test_mutated_real_sections(seed, tmp_path):
    import shutil
    import subprocess

    from elftools.elf.elffile import ELFFile

    if shutil.which("gcc") is None:
        pytest.skip("gcc not found")
    src = tmp_path / "m.c"
    src.write_text("static inline int sq(int x) { return x * x; }\n"
                   "int f(int a) { int s = 0; for (int i = 0; i < a; i++) s += sq(i); return s; }\n"
                   "int main(int c, char **v) { return f(c) + sq(c); }\n")
    exe = tmp_path / "m"
    subprocess.run(["gcc", "-g", "-O2", "-gdwarf-%d" % (4 + seed % 2), str(src), "-o", str(exe)],
                   check=True, capture_output=True)
    with open(exe, "rb") as fh:
        elf = ELFFile(fh)
        secs = {s.name: s.data() for s in elf.iter_sections() if s.name.startswith(".debug_")}
    rng = random.Random(seed)
    outcomes = {"built": 0, "refused": 0}
    for _ in range(300):
        name = rng.choice([".debug_info", ".debug_abbrev", ".debug_line", ".debug_str",
                           ".debug_rnglists" if seed % 2 else ".debug_ranges"])
        if name not in secs:
            continue
        data = bytearray(secs[name])
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.2:
            del data[rng.randrange(len(data)):]
        try:
            index = LineIndex(build_index({**secs, name: bytes(data)}))
        except PymodError as e:
            assert e.errno == errno.ENOEXEC
            outcomes["refused"] += 1
            continue
        outcomes["built"] += 1
        for a in range(0x1000, 0x1200, 3):
            index.lookup(a)
    assert outcomes["built"] and outcomes["refused"]
