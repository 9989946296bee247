"""Source lines through the seam (pymod.symbolize.lines), with a fake line
source standing in for the DWARF index: which debug-file address each
answer asks about, one call per debug file per batch, Symbol.source."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from pymod.symbolize import Symbol, Symbolizer
from pymod.symbolize.lines import DebugFile, Frame, FrameArrays, StaticLines
from pymod.symbolize.model import ModuleMap
from tests.symbolize.support import core, maps, table

# vmlinux as run (KASLR slide 0x100000) and as linked (the debug file)
SLIDE = 0x100000
CORE_ROWS = [(0x1000, "T", "_stext"), (0x1010, "t", "foo"), (0x1040, "T", "bar"),
             (0x1080, "T", "_etext")]
LINKED = table(*[(a, t, n) for a, t, n in CORE_ROWS])
RUN = [(a + SLIDE, t, n) for a, t, n in CORE_ROWS]

F_FOO = [Frame("inner", "/b/lib/x.h", 12, 3, True), Frame("foo", "/b/kernel/foo.c", 40, 9, False)]
F_BAR = [Frame("bar", "/b/kernel/bar.c", 7, 1, False)]


def _sym(debug: bool = True) -> tuple[Symbolizer, StaticLines]:
    s = Symbolizer(maps(core(*RUN, stext=0x1000 + SLIDE, etext=0x1080 + SLIDE)))
    lines = StaticLines({0x1015: F_FOO, 0x1014: F_FOO[1:], 0x1041: F_BAR})
    if debug:
        s.add_debuginfo(DebugFile(lines, LINKED))
    return s, lines


def test_symbol_source_is_none_without_debug_info_and_str_is_unchanged():
    s, _ = _sym(debug=False)
    sym = s.symbolize(0x1015 + SLIDE)
    assert sym.source is None
    assert str(sym) == "foo+0x5/0x30"


def test_source_follows_the_name_not_the_runtime_address():
    s, _ = _sym()
    sym = s.symbolize(0x1015 + SLIDE)
    assert str(sym) == "foo+0x5/0x30"
    assert sym.source == F_FOO
    # a backtrace lookup asks about addr - 1
    assert s.symbolize(0x1015 + SLIDE, backtrace=True).source == F_FOO[1:]


def test_batch_lines_one_call_per_debug_file():
    s, lines = _sym()
    addrs = np.array([0x1015 + SLIDE, 0x1041 + SLIDE, 0x1030 + SLIDE, 0x5], dtype=np.uint64)
    res = s.symbolize_many(addrs, lines=True)
    assert lines.calls == 1
    assert res.lines.counts.tolist() == [2, 1, 0, 0]
    assert [res[i].source if res[i] else None for i in range(4)] == [F_FOO, F_BAR, [], None]
    assert res.format(lines=True) == [
        "foo+0x5/0x30 (/b/lib/x.h:12 /b/kernel/foo.c:40)", "bar+0x1/0x40 (/b/kernel/bar.c:7)",
        "foo+0x20/0x30", "0x5"]
    assert s.symbolize_many(addrs).lines is None


def test_symbolize_name_uses_the_own_table_then_the_debug_file():
    s, _ = _sym()
    got = s.symbolize_name("foo", 5)
    assert str(got) == "foo+0x5/0x30" and got.source == F_FOO
    assert s.symbolize_name("nosuch", 0) is None
    # a module known only by its debug file (no placement): link-time addresses
    mod = table((0x0, "t", "m_a"), (0x20, "t", "m_b"))
    s.add_debuginfo(DebugFile(StaticLines({0x24: F_BAR}), mod, build_id=b"\x01" * 20), "mymod")
    got = s.symbolize_name("m_b", 4, module="mymod")
    assert (got.name, got.offset, got.module, got.source) == ("m_b", 4, "mymod", F_BAR)
    assert s.symbolize_name("m_b", 4, module="other") is None


def test_symbolize_name_of_a_placed_module_adds_its_lines():
    s, _ = _sym()
    t = table((0xffffffffc0000000, "t", "m_a"), (0xffffffffc0000040, "t", "m_b"))
    s.add_module(ModuleMap("m", ((0xffffffffc0000000, 0x1000),), (0xffffffffc0000000, 0x1000),
                           (0, 0), t))
    s.add_debuginfo(DebugFile(StaticLines({0x42: F_BAR}), table((0, "t", "m_a"),
                                                               (0x40, "t", "m_b"))), "m")
    got = s.symbolize_name("m_b", 2, module="m")
    assert str(got) == "m_b+0x2/0xfc0 [m]" and got.source == F_BAR


def test_the_name_index_cache_holds_the_current_tables_only():
    s, _ = _sym()
    base = 0xffffffffc0000000
    for k in range(20):
        t = table((base, "t", "m_a"), (base + 0x40 + k, "t", "m_b"))
        m = ModuleMap("m", ((base, 0x1000),), (base, 0x1000), (0, 0), t)
        if k % 2:
            s.replace_module(m)
        else:
            s.add_module(m)
        got = s.symbolize_name("m_b", 1, module="m")
        assert str(got) == "m_b+0x1/0x%x [m]" % (0x1000 - 0x40 - k)
        assert s.symbolize_name("foo", 5).name == "foo"
        if k % 2:
            s.remove_module("m")
        assert len(s._by_name) <= 2       # vmlinux's and at most the module's

def test_symbol_with_source_pickles_and_keeps_it_immutable():
    sym = Symbol("f", 1, 2, None, None, False, F_FOO)
    again = pickle.loads(pickle.dumps(sym))
    assert again.source == F_FOO and str(again) == "f+0x1/0x2"
    got = sym.source
    got.append("x")
    assert sym.source == F_FOO


def test_frame_arrays_of_chains():
    fa = FrameArrays.of_chains([F_FOO, [], F_BAR])
    assert fa.offsets.tolist() == [0, 2, 2] and fa.chain(2) == F_BAR and fa.chain(1) == []


@pytest.mark.parametrize("bad", [-1])
def test_symbolize_name_refuses_negative_offsets(bad):
    s, _ = _sym()
    with pytest.raises(ValueError):
        s.symbolize_name("foo", bad)
