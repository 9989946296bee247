"""The C writer of ``pymod symbolize --debuginfo``'s bare-address lines
(``pd_decode_bare``, ``pd_index_chain_text``) gives byte for byte what the
Python batch path and the general, line-by-line path give, on a program
built here at kernel addresses with a build directory, inlined frames, a
name two functions share, a name the script's split cuts, a name that is
not ASCII and a file name with a control byte; and it leaves to Python
exactly the rows Python spells differently."""

from __future__ import annotations

import numpy as np
import pytest

from pymod.dwarf.text import LEFT, NOT_HERE, WRITTEN, NameMap, chain_texts, decode_bare
from pymod.errors import PymodError
from pymod.symbolize.debugfiles import open_debug_file
from pymod.tools import main
from tests.symbolize.gccdebug import KERNEL_TEXT, build_kernel_like


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    return build_kernel_like(tmp_path_factory.mktemp("kernlike"))


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PYMOD_CACHE", str(tmp_path / "cache"))


def _addresses(path) -> list[str]:
    lines = ["%016x" % a for a in range(KERNEL_TEXT, KERNEL_TEXT + 0x140)]
    return lines + ["%016x" % (KERNEL_TEXT + 0x100000), "00000000deadbeef", ""]


def _run(monkeypatch, capsys, kernel, inputs, mode: str) -> tuple[str, str, int]:
    """stdout, stderr, and how many lines C wrote."""
    from pymod.tools import symbolize, symbolize_fast

    written = [0]

    def counted(*args):
        texts, flags = decode_bare(*args)
        written[0] += int((flags == WRITTEN).sum())
        return texts, flags

    monkeypatch.setattr(symbolize, "fast_path", mode != "general")
    monkeypatch.setattr(symbolize_fast, "decode_bare", counted)
    if mode == "python":            # no C index in sight: the Python batch path
        monkeypatch.setattr(symbolize_fast, "LineIndex", type("NotAnIndex", (), {}))
    assert main(["symbolize", "--debuginfo", str(kernel), str(inputs)]) == 0
    got = capsys.readouterr()
    monkeypatch.undo()
    return got.out, got.err, written[0]


def test_c_lines_equal_python_and_general(kernel, cache, monkeypatch, capsys, tmp_path):
    f = tmp_path / "bare.txt"
    f.write_text("\n".join(_addresses(kernel)))
    outs = {mode: _run(monkeypatch, capsys, kernel, f, mode)
            for mode in ("general", "python", "c")}
    assert outs["c"][:2] == outs["python"][:2] == outs["general"][:2]
    assert outs["general"][2] == outs["python"][2] == 0
    # C wrote all but the odd:name, café and control-byte lines
    left = sum("odd:name" in ln or "caf" in ln or "\\x01" in ln
               for ln in outs["c"][0].splitlines())
    assert outs["c"][2] == 0x140 - left and left > 16 + 16
    out = outs["c"][0].splitlines()
    assert "kernel_init (init/main.c:15) " in out                 # the build dir stripped
    assert any(ln.startswith("helper (init/main.c:2 init/main.c:7)") for ln in out)  # inlined
    assert "café (init/main.c:14) " in out and "weird (we\\x01ird.c:1) " in out
    assert "odd:name+0x5/0x10 " in out                            # the script's split cut it


def test_decode_bare_flags_each_row(kernel, cache):
    from pymod.dwarf.cache import load_index

    debug = open_debug_file(kernel)
    t = debug.symbols
    index = load_index(kernel).index
    names = {t.name(i): int(t.names[i]) for i in range(len(t))}
    rows = [("helper", 5), ("odd:name", 5), ("café", 1), ("weird", 1), ("kernel_init", 3)]
    offs = [names[n] for n, _ in rows] + [0xFFFFFFFF]
    texts, flags = decode_bare(index, debug.name_map(), t.strtab, offs,
                               [o for _, o in rows] + [0], "")
    assert flags.tolist() == [WRITTEN, NOT_HERE, LEFT, LEFT, WRITTEN, NOT_HERE]
    assert texts[0].startswith("helper (") and texts[0].endswith(") \n")
    assert texts[1:4] == ["", "", ""] and texts[5] == ""
    # the second helper (kernel/b.c) is named, and found as the first, the lowest
    second = [i for i in range(len(t)) if t.name(i) == "helper"][-1]
    again, _ = decode_bare(index, debug.name_map(), t.strtab, [int(t.names[second])], [5], "")
    assert again == [texts[0]]
    # a name the map lacks
    other = t.strtab + b"absent\0"
    _, flags = decode_bare(index, debug.name_map(), other, [len(t.strtab)], [0], "")
    assert flags.tolist() == [NOT_HERE]


def test_chain_text_resumes_when_the_buffer_is_full(kernel, cache):
    from pymod._dwarf_cffi import ffi, lib
    from pymod.dwarf.cache import load_index

    index = load_index(kernel).index
    addrs = np.arange(KERNEL_TEXT, KERNEL_TEXT + 0x140, dtype=np.uint64)
    whole, left = chain_texts(index, addrs, None)
    assert left.sum() > 0 and all(t == "" for t in np.array(whole, object)[left])
    ends = np.zeros(len(addrs), np.uint64)
    flags = np.zeros(len(addrs), np.uint8)
    done = ffi.new("uint64_t *")
    out = ffi.new("char[]", 100)
    assert lib.pd_index_chain_text(index._idx, ffi.from_buffer("uint64_t[]", addrs), len(addrs),
                                   b"", 0, out, 100, ffi.from_buffer("uint64_t[]", ends),
                                   ffi.from_buffer("uint8_t[]", flags), done) == 0
    k = int(done[0])
    assert 0 < k < len(addrs) and int(ends[k - 1]) <= 100
    assert ffi.buffer(out, int(ends[k - 1]))[:].decode() == "".join(whole[:k])


def test_name_map_refuses_names_outside_its_table():
    with pytest.raises(PymodError, match="symbol names"):
        NameMap(b"\0foo\0", [1, 9], [0x10, 0x20], b"tt")
    with pytest.raises(PymodError, match="symbol names"):
        NameMap(b"\0foo", [1], [0x10], b"T")                     # no NUL: runs off the end
    NameMap(b"\0foo", [1], [0x10], b"d")                         # not text: never read
    with pytest.raises(PymodError, match="differ in length"):
        NameMap(b"\0foo\0", [1, 1], [0x10], b"tt")
