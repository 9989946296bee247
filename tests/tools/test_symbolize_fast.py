"""``pymod symbolize --debuginfo``'s batch path for bare address lines gives
byte for byte what the general, line-by-line path gives: on a mixed trace
(bare addresses in and out of a Call Trace and a bpftrace key, names the
script's split would cut, a name two functions share, modules with and
without debug info, chunks cut anywhere), and on random addresses of the
real 6.1 ``-dbg`` vmlinux."""

from __future__ import annotations

import random
import subprocess

import pytest

from pymod.symbolize.lines import DebugFile, Frame, StaticLines
from pymod.symbolize.model import ModuleMap
from pymod.tools import main
from tests.symbolize.support import core, maps, table

B = "/build/linux"
K = 0xffffffff81000000
VMLINUX = DebugFile(StaticLines({
    0x1000: [Frame("kernel_init", B + "/init/main.c", 1479, 1, False)],
    0x2015: [Frame("inl", B + "/include/x.h", 9, 2, True, 3),
             Frame("foo", B + "/kernel/foo.c", 40, 1, False)],
    0x2016: [Frame("foo", B + "/kernel/foo.c", 41, 1, False, 2)],
    0x2020: [Frame("foo", "/elsewhere/foo.c", 0, 1, False)],
    0x4004: [Frame("dup", B + "/a/dup.c", 4, 1, False)],
    0x5004: [Frame("dup", B + "/b/dup.c", 5, 1, False)],
}), table((0x1000, "T", "kernel_init"), (0x2000, "t", "foo"), (0x3000, "t", "bar"),
          (0x4000, "t", "dup"), (0x5000, "t", "dup"), (0x6000, "t", "odd:name")))
MOD = DebugFile(StaticLines({0x45: [Frame("m_fn", "/elsewhere/m.c", 7, 1, False)]}),
                table((0x40, "t", "m_fn")))
MB = 0xffffffffc0000000


def _module(name: str, base: int) -> ModuleMap:
    return ModuleMap(name, ((base, 0x1000),), (base, 0x1000), (0, 0),
                     table((base + 0x40, "t", "m_fn")))


def _symbolizer():
    from pymod.symbolize import Symbolizer

    rows = [(K + 0x1000, "T", "kernel_init"), (K + 0x2000, "t", "foo"),
            (K + 0x3000, "t", "bar"), (K + 0x4000, "t", "dup"), (K + 0x5000, "t", "dup"),
            (K + 0x6000, "t", "odd:name"), (K + 0x7000, "t", "nodebug")]
    s = Symbolizer(maps(core(*rows, stext=K, etext=K + 0x8000),
                        _module("mod", MB), _module("gone", MB + 0x10000)))
    s.add_debuginfo(VMLINUX)
    s.add_debuginfo(MOD, "mod")
    return s


def _run(monkeypatch, capsys, path, fast: bool, chunk: int) -> tuple[str, str, int]:
    """stdout, stderr and the number of lines the general path decoded."""
    from pymod.tools import symbolize

    s = _symbolizer()
    general = symbolize._line_texts
    seen = [0]

    def counted(name, annotator, as_json, report, numbers, lines, per_line):
        seen[0] += len(lines)
        return general(name, annotator, as_json, report, numbers, lines, per_line)

    monkeypatch.setattr(symbolize, "make_symbolizer", lambda args, warn: s)
    monkeypatch.setattr(symbolize, "fast_path", fast)
    monkeypatch.setattr(symbolize, "CHUNK_LINES", chunk)
    monkeypatch.setattr(symbolize, "_line_texts", counted)
    assert main(["symbolize", "--debuginfo", str(path.parent), str(path)]) == 0
    got = capsys.readouterr()
    return got.out, got.err, seen[0]


MIXED = [
    "%016x" % (K + 0x2015), "0x%016x" % (K + 0x2016), "0X%016X" % (K + 0x2020),
    "%016x" % (K + 0x4004), "%016x" % (K + 0x5004),       # dup: the lowest dup answers
    "%016x" % (K + 0x3001),                                # no line rows: ??:?
    "%016x" % (K + 0x6001), "%016x" % (K + 0x7001),        # name cut by the split; no debug
    "%016x" % (MB + 0x45), "%016x" % (MB + 0x10045),       # module; module without debug
    "%016x" % (K + 0x9000), "00000000deadbeef",            # unknown; not a kernel address
    "[    1.0] RIP: 0010:0x%016x" % (K + 0x2015), "[    1.1] Call Trace:",
    "%016x" % (K + 0x2016),                                # in a Call Trace: a return address
    "[    1.2]  foo+0x15/0x40", "[    1.3]  ? 0x%016x" % (K + 0x2015), "",
    "%016x\r" % (K + 0x2015), "  %016x" % (K + 0x2015), "  %016x" % (K + 0x2016),
    "@[", "%016x" % (K + 0x2016), "%016x" % (K + 0x2015), "]: 3",
    "%016x" % (K + 0x2015), "[    1.4] Code: 00 11", "%016x" % (K + 0x2016),
]


@pytest.mark.parametrize("chunk", [1, 3, 4096])
def test_mixed_trace_fast_equals_general(monkeypatch, capsys, tmp_path, chunk):
    f = tmp_path / "mixed.txt"
    f.write_text("\n".join(MIXED))          # the last line without its newline
    slow = _run(monkeypatch, capsys, f, False, chunk)
    fast = _run(monkeypatch, capsys, f, True, chunk)
    assert fast[:2] == slow[:2]
    assert slow[2] == len(MIXED) and fast[2] < len(MIXED)
    out = slow[0].splitlines()
    assert out[3] == "dup (a/dup.c:4) " and out[4] == "dup (a/dup.c:4) "
    assert out[1] == "foo (kernel/foo.c:41 (discriminator 2)) " and out[5] == "bar (??:?) "
    assert "Cannot find .ko for module gone" in slow[1]


def test_bare_list_takes_the_batch_path(monkeypatch, capsys, tmp_path):
    rng = random.Random(5)
    addrs = [K + rng.randrange(0x1000, 0x8000) for _ in range(3000)]
    f = tmp_path / "bare.txt"
    f.write_text("".join("%016x\n" % a for a in addrs))
    slow = _run(monkeypatch, capsys, f, False, 1000)
    fast = _run(monkeypatch, capsys, f, True, 1000)
    assert fast[:2] == slow[:2]
    # only the names the split would cut, and those the debug file lacks, go back
    back = sum(a >= K + 0x6000 for a in addrs)
    assert fast[2] == back and slow[2] == len(addrs)


@pytest.mark.real_kernel
def test_real_vmlinux_fast_equals_general(debian_dbg_61, monkeypatch, capsys, tmp_path):
    from pymod.tools import symbolize

    vmlinux = debian_dbg_61.vmlinux
    text = subprocess.run(["nm", "-S", "--defined-only", str(vmlinux)], capture_output=True,
                          text=True, check=True).stdout
    spans = [(int(a, 16), int(s, 16)) for a, s, t, *_ in
             (ln.split() for ln in text.splitlines() if ln.count(" ") >= 3)
             if t in "tT" and int(s, 16) > 0]
    rng = random.Random(16)
    lines = []
    for _ in range(3000):
        base, size = spans[rng.randrange(len(spans))]
        lines.append("%016x" % (base + rng.randrange(size)))
    lines[1000:1000] = ["[    2.0] Call Trace:", lines[5], "[    2.1]  ? %s" % lines[6], ""]
    f = tmp_path / "real.txt"
    f.write_text("\n".join(lines) + "\n")
    outs = []
    for fast in (False, True):
        monkeypatch.setattr(symbolize, "fast_path", fast)
        assert main(["symbolize", "--debuginfo", str(vmlinux), str(f)]) == 0
        outs.append(capsys.readouterr())
    assert outs[0].out == outs[1].out and outs[0].err == outs[1].err
    assert sum(" (" in line for line in outs[0].out.splitlines()) > 2900


def test_name_search_equals_the_name_index():
    """The first names are searched for in the string table, the later ones
    in an index of every name: the same answers (a name that is another's
    tail, shared names, data symbols, names absent)."""
    import numpy as np

    from pymod.symbolize.lines import _text_names
    from pymod.symbolize.model import SymbolTable

    strtab = b"\0bar_foo\0foo\0x\0dup\0data\0"
    rows = [(0x10, 4, "t"), (0x20, 1, "t"), (0x30, 9, "T"), (0x40, 15, "t"), (0x50, 15, "t"),
            (0x05, 15, "d"), (0x60, 19, "D"), (0x70, 13, "t"), (0x80, 13, "t"), (0x08, 19, "t")]
    rows.sort(key=lambda r: r[0])            # a table is in address order
    t = SymbolTable(np.array([r[0] for r in rows], np.uint64),
                    np.array([r[1] for r in rows], np.uint32), strtab,
                    "".join(r[2] for r in rows).encode())
    index = _text_names(t)
    names = ["foo", "_foo", "bar_foo", "x", "dup", "data", "absent", "oo", "bar"]
    scanned = DebugFile(StaticLines({}), t)
    assert [scanned.address_of(n) for n in names] == [index.get(n) for n in names]
    assert scanned._by_name is None          # all by search
    assert scanned.address_of("") == index.get("")     # everywhere: indexed
    assert scanned._by_name is not None
    assert (index["_foo"], index["foo"], index["dup"], index["data"]) == (0x10, 0x30, 0x40, 0x08)
