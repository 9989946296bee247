"""pm_reloc_apply (csrc/reloc/, x86-64's hook) on random entries: it never writes
outside its region, and every value it writes is the psABI's formula."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from pymod._reloc_cffi import ffi, lib
from pymod.elf.constants import EM_X86_64

MASK = (1 << 64) - 1
SIZES = {0: 0, 1: 8, 2: 4, 4: 4, 10: 4, 11: 4, 24: 8}
GUARD = 64
BASE = 0xFFFFFFFFC0001000

entry = st.tuples(st.integers(0, 80),                        # r_offset
                  st.integers(0, 5),                         # symbol index (4, 5: past the table)
                  st.sampled_from([0, 1, 2, 4, 10, 11, 24, 3, 40]),
                  st.integers(-(1 << 63), (1 << 63) - 1))    # r_addend


@settings(max_examples=400, deadline=None)
@given(entries=st.lists(entry, max_size=12),
       symvals=st.lists(st.integers(0, MASK), min_size=4, max_size=4),
       section_at=st.integers(0, 48))
def test_random_relocations(entries, symvals, section_at):
    size = 64
    buf = bytearray(b"\xaa" * GUARD + b"\0" * size + b"\xaa" * GUARD)
    region = ffi.from_buffer("unsigned char[]", buf)
    inner = ffi.cast("unsigned char *", region) + GUARD
    rela = b"".join(struct.pack("<QQq", off, (sym << 32) | t, add)
                    for off, sym, t, add in entries)
    syms = ffi.new("uint64_t[]", symvals)
    fault = ffi.new("struct pm_reloc_fault *")
    section = BASE + section_at
    status = lib.pm_reloc_apply(EM_X86_64, inner, size, BASE, section,
                                ffi.from_buffer("unsigned char[]", rela) if rela else
                                ffi.new("unsigned char[]", 1), len(entries), syms, 4, fault)
    assert buf[:GUARD] == b"\xaa" * GUARD and buf[-GUARD:] == b"\xaa" * GUARD
    # replay in Python: the same stop, the same bytes
    want = bytearray(size)
    expect, stop = lib.PM_RELOC_OK, -1
    for i, (off, sym, t, add) in enumerate(entries):
        stop = i
        if sym >= 4:
            expect = lib.PM_RELOC_ESYMBOL
            break
        val = (symvals[sym] + add) & MASK
        loc = section + off
        if t == 0:
            continue
        if t not in SIZES:
            expect = lib.PM_RELOC_EUNKNOWN
            break
        if t in (2, 4, 24):
            val = (val - loc) & MASK
        if t == 10 and val >= 1 << 32 or t == 11 and not (
                val < 1 << 31 or val >= MASK - (1 << 31) + 1):
            expect = lib.PM_RELOC_EOVERFLOW
            break
        n = SIZES[t]
        at = loc - BASE
        if at + n > size:
            expect = lib.PM_RELOC_ERANGE
            break
        if any(want[at:at + n]):
            expect = lib.PM_RELOC_ENONZERO
            break
        want[at:at + n] = (val & ((1 << 8 * n) - 1)).to_bytes(n, "little")
    assert status == expect
    if status != lib.PM_RELOC_OK:
        assert fault.index == stop
    assert buf[GUARD:GUARD + size] == want
