"""Hostile inputs to the symbolizer's readers, and the names they carry into
the tools' text output (issue 15).

Each file here is a few KB to a few tens of MB.  Before these fixes a
3.4 MB kallsyms asked for 16 GB (an N x longest-module-name matrix),
10**7 lines took 2 GB, CRLF line endings resolved nothing, a '²' or a
26-digit size gave a bare ValueError/OverflowError, building a symbolizer
of n modules cost n**2, and names reached the terminal with their escape
sequences.
"""

from __future__ import annotations

import errno
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from pymod.errors import PymodError
from pymod.samples import prebuilt_path
from pymod.symbolize.model import Maps, ModuleMap, SymbolTable
from pymod.symbolize.symbolizer import Symbolizer
from pymod.tools import main as pymod_main
from tests.hostile.test_memory_bounds import run_bounded

MOD_BASE = 0xFFFFFFFFC0000000
CORE_BASE = 0xFFFFFFFF81000000


def _write_lines(path: Path, make, n: int, head: bytes = b"") -> Path:
    """``head`` then ``make(i)`` for i < n, written 10**5 lines at a time."""
    with open(path, "wb") as f:
        f.write(head)
        for lo in range(0, n, 100_000):
            f.write(b"".join(make(i) for i in range(lo, min(n, lo + 100_000))))
    return path


def _one_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = [ln for ln in stderr.splitlines() if ln]
    assert len(lines) == 1, stderr
    return lines[0]


# ------------------------------------------------- 1: the kernel's name bounds

def test_an_overlong_module_name_costs_nothing(tmp_path):
    # 100,000 lines and one module name of 32 KB: the old reader built a
    # lines x longest-name matrix and asked for 23.8 GiB
    path = _write_lines(tmp_path / "kallsyms", lambda i: b"ffffffffc0001000 t f\t[a]\n", 99_998,
                        b"ffffffff81000000 T _stext\nffffffffc0000000 t x\t[" + b"m" * 32000
                        + b"]\n")
    (tmp_path / "in").write_text("0xffffffffc0001000\n")
    p, rss = run_bounded("symbolize", "--kallsyms", str(path), str(tmp_path / "in"))
    assert p.returncode == 1 and p.stdout == ""
    line = _one_line(p.stderr)
    assert line.startswith("pymod symbolize: kallsyms: %s:2: a module name of 32000 bytes "
                           "(the kernel's are at most 55: MODULE_NAME_LEN)" % path), line
    assert rss < 40 * path.stat().st_size + (64 << 20)


def _names(table: SymbolTable) -> list[str]:
    return [table.name(i) for i in range(len(table))]


def test_names_the_kernel_could_print_and_those_it_could_not(tmp_path):
    ok_mod, long_mod = "m" * 55, "m" * 56
    ok_sym, long_sym = "s" * 511, "s" * 512
    good = "ffffffffc0000000 t %s\t[%s]\n" % (ok_sym, ok_mod)
    s = Symbolizer.from_kallsyms(good)
    assert str(s.symbolize(MOD_BASE + 1)) == "%s+0x1/0x1000 [%s]" % (ok_sym, ok_mod)
    path = tmp_path / "kallsyms"
    for bad, why in ((good.replace(ok_mod, long_mod), "a module name of 56 bytes"),
                     (good.replace(ok_sym, long_sym), "a symbol name of 512 bytes")):
        path.write_text("ffffffff81000000 T _stext\n" + bad)
        with pytest.raises(PymodError) as e:
            Symbolizer.from_kallsyms(path)
        assert e.value.errno == errno.EINVAL
        assert e.value.strerror.startswith("kallsyms: %s:2: %s" % (path, why))
    # System.map is nm's: scripts/kallsyms leaves such a symbol out of the table
    smap = ("ffffffff81000000 T _stext\nffffffff81000010 T %s\nffffffff81000010 T %s\n"
            "ffffffff81000100 T _etext\n" % (long_sym, ok_sym))
    core = Symbolizer.from_system_map(smap).maps.core
    assert core is not None and _names(core.symbols) == ["_stext", ok_sym, "_etext"]


# ------------------------------------------ 2: memory in proportion to the input

N_LINES = 10**6
SMALL = 10_000


def _kallsyms(i: int, n: int) -> bytes:
    """Nine lines in ten vmlinux (short names, the costliest per byte), then
    modules of 1000 symbols each, every module's lines together."""
    core = n * 9 // 10
    if i < core:
        name = b"_stext" if i == 0 else b"_etext" if i == core - 1 else b"%x" % (i % 4096)
        return b"%016x t %s\n" % (CORE_BASE + 16 * i, name)
    j = i - core
    return b"%016x t %x\t[m%d]\n" % (MOD_BASE + 0x10000 * (j // 1000) + 16 * (j % 1000),
                                     j % 4096, j // 1000)


def _interleaved(i: int, n: int) -> bytes:
    """Module lines only, the modules taking turns line by line."""
    return b"%016x t %x\t[mod%d]\n" % (MOD_BASE + 0x100000 * (i % 1000) + 16 * (i // 1000),
                                       i % 4096, i % 1000)


def _system_map(i: int, n: int) -> bytes:
    name = b"_stext" if i == 0 else b"_etext" if i == n - 1 else b"%x" % (i % 4096)
    return b"%016x t %s\n" % (CORE_BASE + 16 * i, name)


LAYOUTS = {"kallsyms": (_kallsyms, "--kallsyms", CORE_BASE + 16 * 5 + 3, "5+0x3/0x10"),
           "interleaved": (_interleaved, "--kallsyms", MOD_BASE + 0x100000 * 7 + 16 * 2,
                           "%x+0x0/0x10 [mod7]" % (2007 % 4096)),
           "system-map": (_system_map, "--system-map", CORE_BASE + 16 * 5 + 3, "5+0x3/0x10")}


@pytest.mark.slow
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_a_million_lines_cost_a_small_multiple_of_the_file(tmp_path, layout):
    make, option, addr, want = LAYOUTS[layout]
    (tmp_path / "in").write_text("%#x\n" % addr)
    rss = {}
    for n in (SMALL, N_LINES):
        path = _write_lines(tmp_path / ("%s.%d" % (layout, n)), lambda i, n=n: make(i, n), n)
        p, rss[n] = run_bounded("symbolize", option, str(path), str(tmp_path / "in"))
        assert p.returncode == 0 and p.stderr == "", p.stderr
        assert p.stdout == "%#x <- %s\n" % (addr, want)
    size = path.stat().st_size
    # before: 7.8x (kallsyms), 9.2x (interleaved), 13x (System.map); now
    # the text, ~25 bytes a line of offsets, and the tables built from them
    assert rss[N_LINES] - rss[SMALL] < 5 * size, (rss, size)


# ------------------------------------------------------------ 3: CRLF captures

FIX = Path(__file__).resolve().parent.parent / "tools" / "fixtures"


def test_crlf_captures_resolve_as_the_kernel_printed_them(tmp_path):
    kallsyms, modules = (FIX / "kallsyms").read_bytes(), (FIX / "modules").read_bytes()
    crlf = {name: tmp_path / name for name in ("kallsyms", "modules")}
    crlf["kallsyms"].write_bytes(kallsyms.replace(b"\n", b"\r\n"))
    crlf["modules"].write_bytes(modules.replace(b"\n", b"\r\n"))
    plain = Symbolizer.from_kallsyms(kallsyms, modules)
    windows = Symbolizer.from_kallsyms(crlf["kallsyms"], crlf["modules"])
    addrs = np.array([int(line[:16], 16) + 1 for line in kallsyms.splitlines()], np.uint64)
    want = plain.symbolize_many(addrs).format()
    assert sum(not w.startswith("0x") for w in want) > len(want) // 2    # most resolve
    assert windows.symbolize_many(addrs).format() == want
    assert [m.name for m in windows.maps.modules] == [m.name for m in plain.maps.modules]
    smap = b"ffffffff81000000 T _stext\r\nffffffff81000010 T f\r\nffffffff81000100 T _etext\r\n"
    assert str(Symbolizer.from_system_map(smap).symbolize(CORE_BASE + 0x11)) == "f+0x1/0xf0"


# ------------------------------------------ 4: building a symbolizer is linear

def _modules(n: int, offset: int) -> list[ModuleMap]:
    out = []
    for i in range(n):
        base = MOD_BASE + (offset + i) * 0x2000
        table = SymbolTable.build([base + 16], ["f%d" % i], "t")
        out.append(ModuleMap("m%d" % (offset + i), ((base, 0x1000),), (base, 0x1000), (0, 0),
                             table, None))
    return out


def _cpu_per_module(n: int) -> float:
    """CPU seconds per module to build a symbolizer of ``n`` modules and
    replace each one's table once (the follower's register and retire)."""
    mods = _modules(n, 0)
    start = time.process_time()
    s = Symbolizer(Maps(None, tuple(mods)))
    for m in mods:
        s.replace_module(m)
    return (time.process_time() - start) / n


@pytest.mark.slow
def test_building_a_symbolizer_is_near_linear():
    # copying the tag registry at every module made 6 * 10**4 modules take
    # 81 s; per module, 8 times as many cost 4-8 times more, now about the same
    small = min(_cpu_per_module(2_000) for _ in range(3))
    large = _cpu_per_module(16_000)
    assert large < 2.5 * small, (small, large)


# --------------------------------------------------------- 5: terminal safety

EVIL = "\x1b[2J\x07"           # clear the screen, ring the bell


def test_symbolize_spells_control_bytes_in_names(tmp_path):
    kallsyms = tmp_path / "kallsyms"
    kallsyms.write_bytes(("ffffffff81000000 T _stext\nffffffff81000010 T ev%sil\n"
                          "ffffffff81000100 T _etext\nffffffffc0000000 t f\t[m%s]\n"
                          % (EVIL, EVIL)).encode())
    (tmp_path / "in").write_text("ffffffff81000011 ffffffffc0000002\n")
    p = subprocess.run([sys.executable, "-m", "pymod", "symbolize", "--kallsyms", str(kallsyms),
                        str(tmp_path / "in")], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and p.stderr == ""
    assert p.stdout == ("ffffffff81000011 ffffffffc0000002 <- ev\\x1b[2J\\x07il+0x1/0xf0; "
                        "f+0x2/0x1000 [m\\x1b[2J\\x07]\n")
    p = subprocess.run([sys.executable, "-m", "pymod", "symbolize", "--json", "--kallsyms",
                        str(kallsyms), str(tmp_path / "in")], capture_output=True, text=True,
                       timeout=120)
    record = json.loads(p.stdout)               # JSON keeps the name, escaped its own way
    assert [a["name"] for a in record["addresses"]] == ["ev%sil" % EVIL, "f"]
    assert record["addresses"][1]["module"] == "m" + EVIL


def test_annotations_never_break_a_line():
    from pymod.symbolize.stackparse import StackScanner
    from pymod.tools.symbolize import Annotator, annotate_line

    table = SymbolTable.build([MOD_BASE], ["a\nforged line\r" + EVIL], "t")
    mod = ModuleMap("m\n", ((MOD_BASE, 0x1000),), (MOD_BASE, 0x1000), (0, 0), table, None)
    line = "%x\n" % (MOD_BASE + 4)
    hits = StackScanner().scan(line)
    out = annotate_line(line, Annotator(Symbolizer(Maps(None, (mod,)))).answers(hits))
    assert out == "%x <- a\\x0aforged line\\x0d\\x1b[2J\\x07+0x4/0x1000 [m\\x0a]\n" % (
        MOD_BASE + 4)


@pytest.mark.parametrize("fast", [False, True])
def test_debuginfo_decoding_spells_control_bytes(monkeypatch, capsys, tmp_path, fast):
    """--debuginfo: a name of the symbols and a file of the debug info are
    spelled as in the annotations, on the batch path as on the general one."""
    from pymod.symbolize.lines import DebugFile, Frame, StaticLines
    from pymod.tools import symbolize
    from tests.symbolize.support import core, maps, table

    rows = ((0x1000, "t", "kernel_init"), (0x2000, "t", "foo"), (0x3000, "t", "b\x1br"),
            (0x4000, "t", "ev" + EVIL))
    debug = DebugFile(StaticLines({0x1000: [Frame("kernel_init", "/b/init/main.c", 1, 1, False)],
                                   0x2004: [Frame("foo", "/b/x%s.c" % EVIL, 7, 1, False)],
                                   0x3004: [Frame("b\x1br", "/b/y.c", 8, 1, False)]}),
                      table(*rows[:3]))
    s = Symbolizer(maps(core(*((CORE_BASE + a, t, n) for a, t, n in rows), stext=CORE_BASE,
                             etext=CORE_BASE + 0x5000)))
    s.add_debuginfo(debug)
    monkeypatch.setattr(symbolize, "make_symbolizer", lambda args, warn: s)
    monkeypatch.setattr(symbolize, "fast_path", fast)
    trace = tmp_path / "in"
    trace.write_text("".join("%x\n" % (CORE_BASE + a) for a in (0x2004, 0x3004, 0x4001)))
    assert pymod_main(["symbolize", "--debuginfo", str(tmp_path), str(trace)]) == 0
    assert capsys.readouterr().out == ("foo (x\\x1b[2J\\x07.c:7) \n"
                                       "b\\x1br (y.c:8) \n"
                                       "ev\\x1b[2J\\x07+0x1/0x1000 \n")


@pytest.fixture(scope="module")
def evil_ko(tmp_path_factory) -> Path:
    """pm_hello needing a symbol named with ESC and BEL, its description
    holding ESC, newline and CR, in a file whose name holds ESC."""
    data = bytearray(prebuilt_path("pm_hello").read_bytes())
    at = data.rfind(b"\0_printk\0") + 1            # .strtab: the undefined symbol
    data[at:at + 7] = b"_\x1b[2J\x07k"
    at = data.find(b"description=pymod sample") + len("description=")
    data[at:at + 12] = b"pymod\x1b[2J\nx\r"
    path = tmp_path_factory.mktemp("evil") / "ev\x1b]0;owned\x07il.ko"
    path.write_bytes(bytes(data))
    return path


def _pymod(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "pymod", *args], capture_output=True,
                          timeout=300)


def test_load_and_check_summaries_spell_control_bytes(evil_ko):
    shown = str(evil_ko).replace("\x1b", "\\x1b").replace("\x07", "\\x07")
    p = _pymod("load", str(evil_ko))
    assert p.returncode == 1 and p.stdout == b""
    assert p.stderr.decode() == ("pymod load: %s: ENOENT (-2): pm_hello: Unknown symbol "
                                 "_\\x1b[2J\\x07k (err -2)\n" % shown)
    p = _pymod("check", "--default-kernel", str(evil_ko))
    out = p.stdout.decode()
    assert p.returncode == 1 and b"\x1b" not in p.stdout and b"\x07" not in p.stdout
    assert out.startswith("%s: REFUSED [ENOENT]\n" % shown)
    assert "    pm_hello: Unknown symbol _\\x1b[2J\\x07k (err -2)\n" in out


def test_info_keeps_modinfo_layout_and_spells_the_rest(evil_ko):
    p = _pymod("info", str(evil_ko))
    assert p.returncode == 0 and b"\x1b" not in p.stdout and b"\r" not in p.stdout
    lines = p.stdout.decode().splitlines()
    assert lines[0] == "filename:       " + str(evil_ko).replace("\x1b", "\\x1b").replace(
        "\x07", "\\x07")
    # kmod prints a value's newline as it is (real modules have them): kept
    assert "description:    pymod\\x1b[2J" in lines and "x\\x0d: hello world" in lines
    bad = evil_ko.parent / "not\x1b[31m.ko"
    bad.write_bytes(b"\x7fELF" + bytes(60))
    p = _pymod("info", str(bad))
    assert p.returncode == 1 and b"\x1b" not in p.stdout + p.stderr


# --------------------------------------------------- 6: malformed numbers

BAD_KALLSYMS = {
    "17 digits": "1ffffffff81000000 T x",
    "superscript digit": "ffffffff8100000\u00b2 T x",
    "arabic-indic digit": "ffffffff8100000\u0661 T x",
    "underscores": "ffff_ffff_8100_0000 T x",
    "sign": "+ffffffff81000000 T x",
    "a 5000-digit address": "1" * 5000 + " T x",
}
BAD_MODULES = {
    "26-digit size": "m 12345678901234567890123456 0 - Live 0xffffffffc0000000",
    "size past %u": "m 4294967296 0 - Live 0xffffffffc0000000",
    "superscript size": "m 4\u00b2 0 - Live 0xffffffffc0000000",
    "17-digit address": "m 4096 0 - Live 0x1ffffffffc0000000",
    "superscript address": "m 4096 0 - Live 0xffffffffc000000\u00b2",
}


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    rc = pymod_main(["symbolize", *args])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize("kind", sorted(BAD_KALLSYMS))
@pytest.mark.parametrize("option", ["--kallsyms", "--system-map"])
def test_a_malformed_address_is_one_line_naming_file_and_line(tmp_path, capsys, kind, option):
    path = tmp_path / "map"
    path.write_text("ffffffff81000000 T _stext\n\n%s\nffffffff81000100 T _etext\n"
                    % BAD_KALLSYMS[kind])
    (tmp_path / "in").write_text("ffffffff81000001\n")
    rc, out, err = _cli(capsys, option, str(path), str(tmp_path / "in"))
    assert (rc, out) == (1, "")
    what = "kallsyms" if option == "--kallsyms" else "System.map"
    assert re.fullmatch(r"pymod symbolize: %s: %s:3: the address .* is not 1 to 16 hex "
                        r"digits: .*" % (what, re.escape(str(path))), _one_line(err)), err


@pytest.mark.parametrize("kind", sorted(BAD_MODULES))
def test_a_malformed_proc_modules_number_is_one_line(tmp_path, capsys, kind):
    kallsyms, modules = tmp_path / "kallsyms", tmp_path / "modules"
    kallsyms.write_text("ffffffffc0000010 t f\t[m]\n")
    modules.write_text("a 4096 0 - Live 0xffffffffc0100000\n" + BAD_MODULES[kind] + "\n")
    (tmp_path / "in").write_text("ffffffffc0000011\n")
    rc, out, err = _cli(capsys, "--kallsyms", str(kallsyms), "--modules", str(modules),
                        str(tmp_path / "in"))
    assert (rc, out) == (1, "")
    assert re.fullmatch(r"pymod symbolize: modules: %s:2: the (size|address) .*"
                        % re.escape(str(modules)), _one_line(err)), err


def test_a_module_at_the_top_of_the_address_space_is_cut_at_2_64():
    s = Symbolizer.from_kallsyms("ffffffffffffe000 t top\t[m]\n",
                                 "m 4294967295 0 - Live 0xffffffffffffe000\n")
    assert str(s.symbolize(2**64 - 1)) == "top+0x1fff/0x2000 [m]"


def test_deps_and_verify_lines_spell_control_bytes(tmp_path):
    from pymod.samples import signing_cert

    bad = tmp_path / "kernel" / "ev\x1b[2J\nil.ko"
    bad.parent.mkdir()
    bad.write_bytes(b"garbage")
    p = _pymod("deps", "-o", "-", str(tmp_path))
    warning = [ln for ln in p.stderr.splitlines() if b"warning" in ln]
    assert warning and all(b"\x1b" not in ln for ln in warning), p.stderr
    assert b"ev\\x1b[2J\\x0ail.ko: " in p.stderr
    p = _pymod("verify", "--cert", str(signing_cert()), str(bad))
    assert p.returncode == 1 and b"\x1b" not in p.stdout + p.stderr
    assert p.stdout.decode().startswith(str(bad).replace("\x1b", "\\x1b").replace("\n", "\\x0a"))
