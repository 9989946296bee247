"""%pS and its kin, as lib/vsprintf.c and __sprint_symbol print them."""

from __future__ import annotations

import pytest

from pymod.errors import InvalidArgument
from pymod.symbolize.fmt import format_symbol, format_unknown, parse_format

BID = bytes(range(1, 21))


def test_pS_vmlinux_and_module():
    assert format_symbol("vfs_read", 0x12, 0x1a0, None) == "vfs_read+0x12/0x1a0"
    assert format_symbol("nft_do_chain", 0x5, 0x40, "nf_tables") == \
        "nft_do_chain+0x5/0x40 [nf_tables]"


def test_zero_offset_prints_0x0():
    # the kernel's %#lx prints 0 as 0x0 (lib/vsprintf.c number(): the 0x
    # prefix is kept for base 16 even for zero)
    assert format_symbol("f", 0, 1, None) == "f+0x0/0x1"


def test_ps_keeps_the_module_but_not_offset():
    assert format_symbol("f", 3, 16, "m", fmt="s") == "f [m]"
    assert format_symbol("f", 3, 16, None, fmt="s") == "f"
    assert format_symbol("f", 3, 16, "m", BID, fmt="sb") == "f [m]"


def test_build_id_formats():
    hexid = BID.hex()
    assert format_symbol("f", 1, 2, "m", BID, "Sb") == "f+0x1/0x2 [m %s]" % hexid
    assert format_symbol("f", 1, 2, "m", BID, "Bb") == "f+0x1/0x2 [m %s]" % hexid
    assert format_symbol("f", 1, 2, "m", BID, "SRb") == "f+0x1/0x2 [m %s]" % hexid
    # a short id is printed as the kernel stores it: 20 bytes, zero padded
    assert format_symbol("f", 1, 2, "m", b"\xab" * 8, "Sb") == \
        "f+0x1/0x2 [m %s]" % ("ab" * 8 + "00" * 12)
    # no id known: nothing added; vmlinux: no brackets at all
    assert format_symbol("f", 1, 2, "m", None, "Sb") == "f+0x1/0x2 [m]"
    assert format_symbol("f", 1, 2, None, BID, "Sb") == "f+0x1/0x2"
    # without b the id is not printed
    assert format_symbol("f", 1, 2, "m", BID, "S") == "f+0x1/0x2 [m]"


def test_unknown():
    assert format_unknown(0xffffffffc0001234) == "0xffffffffc0001234"
    assert format_unknown(0) == "0x0"


def test_format_spelling():
    assert parse_format("%pS") == parse_format("pS") == parse_format("S")
    assert parse_format("B").backtrace and parse_format("Bb").add_build_id
    assert not parse_format("BRb").add_build_id      # 'b' must follow B directly
    assert not parse_format("s").add_offset
    with pytest.raises(InvalidArgument):
        parse_format("pX")
