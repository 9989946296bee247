"""The reference lookup against cases worked out by hand from the kernel's rules."""

from __future__ import annotations

import pytest

from pymod.symbolize.model import ModuleMap
from pymod.symbolize.reference import reference_lookup, reference_sprint
from tests.symbolize.support import core, maps, table

VMLINUX = (
    (0x0, "A", "percpu_sym"),
    (0x1000, "T", "_stext"),
    (0x1000, "T", "start_alias"),
    (0x1010, "t", "f1"),
    (0x1040, "T", "f2"),
    (0x1040, "t", "f2_alias"),
    (0x1080, "T", "_etext"),
    (0x2000, "D", "data1"),
    (0x3000, "T", "_sinittext"),
    (0x3020, "t", "init_f"),
    (0x3100, "T", "_einittext"),
    (0x4000, "B", "_end"),
)
TEXT_ONLY = maps(core(*VMLINUX))
ALL = maps(core(*VMLINUX, end=0x4000))


@pytest.mark.parametrize("addr, expect", [
    (0x1000, "_stext+0x0/0x10"),          # first byte; the first alias wins
    (0x100f, "_stext+0xf/0x10"),          # last byte
    (0x1010, "f1+0x0/0x30"),
    (0x103f, "f1+0x2f/0x30"),
    (0x1040, "f2+0x0/0x40"),
    (0x107f, "f2+0x3f/0x40"),             # last byte of the text range
    (0x1080, "0x1080"),                   # _etext itself is past the range
    (0xfff, "0xfff"),                     # below _stext
    (0x2000, "0x2000"),                   # data: not without KALLSYMS_ALL
    (0x3000, "_sinittext+0x0/0x20"),
    (0x3020, "init_f+0x0/0xe0"),
    (0x30ff, "init_f+0xdf/0xe0"),
    (0x3100, "0x3100"),                   # one past init text
    (0x0, "0x0"),
])
def test_core_text_only(addr, expect):
    assert reference_sprint(TEXT_ONLY, addr) == expect


@pytest.mark.parametrize("addr, expect", [
    (0x1080, "_etext+0x0/0xf80"),
    (0x2000, "data1+0x0/0x1000"),
    (0x2fff, "data1+0xfff/0x1000"),
    (0x3100, "_einittext+0x0/0xf00"),
    (0x3fff, "_einittext+0xeff/0xf00"),
    (0x4000, "0x4000"),                   # _end: one past
])
def test_core_kallsyms_all(addr, expect):
    assert reference_sprint(ALL, addr) == expect


def test_core_last_symbol_runs_to_the_range_end():
    text = maps(core((0x1000, "T", "a"), (0x1010, "T", "b"), etext=0x1100))
    assert reference_sprint(text, 0x10ff) == "b+0xef/0xf0"
    init = maps(core((0x1000, "T", "a"), (0x3000, "t", "i")))
    assert reference_sprint(init, 0x3050) == "i+0x50/0x100"       # to _einittext
    data = maps(core((0x1000, "T", "a"), (0x2000, "d", "d"), end=0x5000))
    assert reference_sprint(data, 0x2fff) == "d+0xfff/0x3000"     # to _end


def test_core_next_symbol_may_lie_past_the_range():
    # get_symbol_pos takes the next higher address in the table, wherever it is
    m = maps(core((0x1000, "T", "a"), (0x1070, "T", "b"), (0x2000, "D", "d")))
    assert reference_sprint(m, 0x107f) == "b+0xf/0xf90"


def test_core_below_the_first_symbol_wraps_like_the_kernel():
    m = maps(core((0x1010, "T", "f"), etext=0x1100))
    assert reference_lookup(m, 0x1000) == ("f", 2**64 - 0x10, 0xf0, None)


def test_backtrace():
    assert reference_sprint(TEXT_ONLY, 0x1010, "B") == "_stext+0x10/0x10"
    assert reference_lookup(TEXT_ONLY, 0x1010, backtrace=True) == ("_stext", 0x10, 0x10, None)
    assert reference_sprint(TEXT_ONLY, 0x1011, "B") == "f1+0x1/0x30"
    assert reference_sprint(TEXT_ONLY, 0x1000, "B") == "0x1000"   # 0xfff is nobody's
    assert reference_sprint(TEXT_ONLY, 0x1080, "B") == "f2+0x40/0x40"
    assert reference_sprint(TEXT_ONLY, 0x1000, "s") == "_stext"


BID = bytes.fromhex("00112233445566778899aabbccddeeff00112233")
M1 = ModuleMap("m1", ((0x10000, 0x1000), (0x12000, 0x1000)), (0x10000, 0x1000), (0, 0),
               table((0x10000, "t", "a"), (0x10000, "T", "a_alias"), (0x10100, "t", "b"),
                     (0x12010, "d", "d1"), (0x5, "?", "outside")), BID)
M2 = ModuleMap("m2", ((0x20000, 0x1000), (0x30000, 0x1000)), (0x20000, 0x1000),
               (0x30000, 0x1000),
               table((0x20000, "t", "f"), (0x30000, "t", "init_f"), (0x30010, "t", "init_g"),
                     (0x10500, "t", "not_m1s")))
MODS = maps(core(*VMLINUX), M1, M2)


@pytest.mark.parametrize("addr, expect", [
    (0x10000, "a+0x0/0x100 [m1]"),         # first byte; first of equal values wins
    (0x100ff, "a+0xff/0x100 [m1]"),
    (0x10100, "b+0x0/0xf00 [m1]"),         # the last symbol runs to the region end
    (0x10500, "b+0x400/0xf00 [m1]"),       # another module's table plays no part
    (0x10fff, "b+0xeff/0xf00 [m1]"),       # last byte of the region
    (0x11000, "0x11000"),                  # one past: the gap between regions
    (0x12000, "0x12000"),                  # in a region, below its first symbol
    (0x12010, "d1+0x0/0xff0 [m1]"),
    (0x12fff, "d1+0xfef/0xff0 [m1]"),
    (0x13000, "0x13000"),
    (0x1f000, "0x1f000"),                  # between modules
    (0x20fff, "f+0xfff/0x1000 [m2]"),
    (0x30005, "init_f+0x5/0x10 [m2]"),
    (0x30010, "init_g+0x0/0xff0 [m2]"),    # init text: to the init region's end
    (0x31000, "0x31000"),
    (0x1040, "f2+0x0/0x40"),               # vmlinux is asked first
])
def test_modules(addr, expect):
    assert reference_sprint(MODS, addr) == expect


def test_module_build_id_and_backtrace():
    assert reference_sprint(MODS, 0x10004, "Sb") == "a+0x4/0x100 [m1 %s]" % BID.hex()
    assert reference_sprint(MODS, 0x20004, "Sb") == "f+0x4/0x1000 [m2]"   # no id known
    assert reference_sprint(MODS, 0x10100, "B") == "a+0x100/0x100 [m1]"
    assert reference_sprint(MODS, 0x11000, "B") == "b+0xf00/0xf00 [m1]"  # the return addr
    assert reference_sprint(MODS, 0x10000, "B") == "0x10000"            # 0xffff: nobody's
    assert reference_lookup(MODS, 0x10101) == ("b", 1, 0xf00, "m1")


def test_no_core():
    m = maps(None, M1)
    assert reference_sprint(m, 0x10000) == "a+0x0/0x100 [m1]"
    assert reference_sprint(m, 0x1000) == "0x1000"
