"""``pymod symbolize --debuginfo``: decode_stacktrace.sh's output.

The rules of the script's line handling are checked with a fake debug file
(frames chosen here); the real test decodes random frames of Debian's 6.1
``-dbg`` vmlinux and modules and compares with binutils (``nm`` for the
symbol, ``addr2line -i`` for the lines, as the script calls them) and, when
the kernel tree's script is at hand, with the script itself.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from pymod.symbolize.lines import DebugFile, Frame, StaticLines
from pymod.tools import main
from pymod.tools.symbolize_decode import Decoder, parse, read_line
from tests.symbolize.support import table

SCRIPT = Path("/work/ksrc/x/usr/src/linux-source-6.12/scripts/decode_stacktrace.sh")
B = "/build/linux"
VMLINUX = DebugFile(StaticLines({
    0x1000: [Frame("kernel_init", B + "/init/main.c", 1479, 1, False)],
    0x2015: [Frame("inl", B + "/include/x.h", 9, 2, True, 3),
             Frame("foo", B + "/kernel/foo.c", 40, 1, False)],
}), table((0x1000, "T", "kernel_init"), (0x2000, "t", "foo"), (0x3000, "t", "bar")))
MOD = DebugFile(StaticLines({0x45: [Frame("m_fn", "/elsewhere/m.c", 7, 1, False)]}),
                table((0x40, "t", "m_fn")))


def _decode(line: str, debugs=None) -> str:
    d = Decoder(debugs or {None: VMLINUX, "mod": MOD})
    req = parse(read_line(line))
    if req is None:
        return read_line(line)
    return d.text(req, d.chains([req])[0])


@pytest.mark.parametrize("line, want", [
    # timestamps become [%13s; the innermost frame's discriminator on every line
    ("[    1.000000]  foo+0x15/0x40", "[    1.000000] foo (include/x.h:9 (discriminator 3) "
     "kernel/foo.c:40 (discriminator 3)) "),
    ("[12345.000000] ? m_fn+0x5/0x10 [mod]", "[12345.000000] ? m_fn (/elsewhere/m.c:7) mod"),
    ("  m_fn+0x5/0x10 [mod %s]" % ("ab" * 20), "m_fn (/elsewhere/m.c:7) mod"),
    ("RIP: 0010:foo+0x15/0x40", "RIP: 0010:foo (include/x.h:9 (discriminator 3) "
     "kernel/foo.c:40 (discriminator 3)) "),
    ("(foo+0x15/0x40)", "foo (include/x.h:9 (discriminator 3) kernel/foo.c:40 "
     "(discriminator 3)) "),
    ("[<ffffffff81002015>] foo+0x15/0x40", "foo (include/x.h:9 (discriminator 3) "
     "kernel/foo.c:40 (discriminator 3)) "),
    # not found: the frame's text kept, the module's brackets dropped
    ("bar+0x1/0x10", "bar (??:?) "),     # in the symbol table, no line: addr2line's ??:?
    ("nosuch+0x1/0x10 [mod]", "nosuch+0x1/0x10 mod"),
    ("x+0x1/0x10 [other]", "x+0x1/0x10 other"),
    ("  plain   text  ", "plain   text"),
])
def test_script_rules(line, want):
    assert _decode(line) == want


def test_basepath_is_where_kernel_init_is():
    assert Decoder({None: VMLINUX}).basepath == B
    assert Decoder({"mod": MOD}).basepath is None


def test_cli_decodes_raw_and_named_frames_with_json(capsys, tmp_path, monkeypatch):
    from pymod.symbolize import Symbolizer
    from tests.symbolize.support import core, maps

    s = Symbolizer(maps(core((0xffffffff81001000, "T", "kernel_init"),
                             (0xffffffff81002000, "t", "foo"),
                             (0xffffffff81003000, "t", "bar"), stext=0xffffffff81000000,
                             etext=0xffffffff81004000)))
    s.add_debuginfo(VMLINUX)
    monkeypatch.setattr("pymod.tools.symbolize.make_symbolizer", lambda args, warn: s)
    f = tmp_path / "t.txt"
    f.write_text("[    1.0] RIP: 0010:0xffffffff81002015\n[    1.1] Call Trace:\n"
                 "[    1.2]  foo+0x15/0x40\n[    1.3]  ? 0xffffffff81002015\n"
                 "[    1.4] Code: 00 11\n")
    assert main(["symbolize", "--debuginfo", str(tmp_path), str(f)]) == 0
    out = capsys.readouterr().out.splitlines()
    chain = "(include/x.h:9 (discriminator 3) kernel/foo.c:40 (discriminator 3)) "
    assert out == ["[         1.0] RIP: 0010:foo " + chain, "[    1.1] Call Trace:",
                   "[         1.2] foo " + chain, "[         1.3] ? foo " + chain,
                   "[    1.4] Code: 00 11"]
    assert main(["symbolize", "--json", "--debuginfo", str(tmp_path), str(f)]) == 0
    recs = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert recs[2]["frame"]["source"] == [
        {"function": "inl", "file": B + "/include/x.h", "line": 9, "column": 2, "inlined": True},
        {"function": "foo", "file": B + "/kernel/foo.c", "line": 40, "column": 1,
         "inlined": False}]
    assert recs[2]["decoded"] == out[2] and "frame" not in recs[1]


def _nm(path: Path, text_only: bool = False) -> dict[str, tuple[int, int]]:
    """Unique t/T names -> (address, size), from binutils nm; with
    ``text_only``, those in ``.text`` only (objdump -t)."""
    seen: dict[str, list[tuple[int, int]]] = {}
    text = subprocess.run(["nm", "-S", str(path)], capture_output=True, text=True,
                          check=True).stdout
    for line in text.splitlines():
        f = line.split()
        if len(f) == 4 and f[2] in "tT":
            seen.setdefault(f[3], []).append((int(f[0], 16), int(f[1], 16)))
    keep = None
    if text_only:
        table = subprocess.run(["objdump", "-t", str(path)], capture_output=True, text=True,
                               check=True).stdout
        keep = {f[-1] for f in map(str.split, table.splitlines()) if ".text" in f}
    return {n: v[0] for n, v in seen.items() if len(v) == 1 and v[0][1] > 1
            and (keep is None or n in keep)}


def _addr2line(path: Path, addrs: list[int]) -> list[list[str]]:
    text = subprocess.run(["addr2line", "-a", "-i", "-e", str(path)] + ["%x" % a for a in addrs],
                          capture_output=True, text=True, check=True).stdout
    out: list[list[str]] = []
    for line in text.splitlines():
        if line.startswith("0x"):
            out.append([])
        else:
            out[-1].append(line)
    return out


@pytest.mark.slow
@pytest.mark.real_kernel
def test_real_frames_match_binutils_and_the_script(debian_dbg_61, tmp_path):
    rng = random.Random(16)
    files = {"": debian_dbg_61.vmlinux}
    files.update({p.name.removesuffix(".ko").replace("-", "_"): p
                  for p in debian_dbg_61.ko_files()[:3]})
    lines, expect = [], []
    init = _addr2line(files[""], [_nm(files[""])["kernel_init"][0]])[0][0]
    base = init.split("/init/main.c:")[0]
    for module, path in files.items():
        # a .ko's sections all start at 0: the script's addr2line answers an
        # offset into .exit.text from .text (the first section holding it),
        # pymod from the symbol's own section; so .text frames only here
        syms = _nm(path, text_only=bool(module))
        picks = rng.sample(sorted(syms), 40 if not module else 10)
        addrs = [syms[n][0] + rng.randrange(syms[n][1]) for n in picks]
        for name, addr, code in zip(picks, addrs, _addr2line(path, addrs), strict=True):
            off, size = addr - syms[name][0], syms[name][1]
            lines.append("[    2.000000]  %s+%#x/%#x%s" % (name, off, size,
                                                          " [%s]" % module if module else ""))
            code = [c.removeprefix(base + "/") for c in code]
            shown = "%s+%#x/%#x" % (name, off, size) if code == ["??:0"] else \
                "%s (%s)" % (name, " ".join(code))
            expect.append("[    2.000000] %s %s" % (shown, module))
    trace = tmp_path / "trace.txt"
    trace.write_text("\n".join(lines) + "\n")
    p = subprocess.run(["pymod", "symbolize", "--debuginfo", str(debian_dbg_61.debug_dir),
                        str(trace)], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    got = p.stdout.splitlines()
    bad = ["binutils: %s\npymod:    %s" % (e, g) for e, g in zip(expect, got, strict=True)
           if e != g]
    assert not bad, "\n".join(bad)
    if SCRIPT.is_file() and shutil.which("bash"):
        mods = debian_dbg_61.debug_dir / "lib" / "modules" / debian_dbg_61.release
        s = subprocess.run(["bash", str(SCRIPT), str(files[""]), "auto", str(mods)],
                           input=trace.read_text(), capture_output=True, text=True, timeout=900)
        assert s.stdout.splitlines() == got


@pytest.mark.real_kernel
def test_a_trace_of_another_release_is_said_and_strict_fails(debian_dbg_61, tmp_path):
    trace = tmp_path / "rhel.txt"
    trace.write_text("[    1.000000] CPU: 0 PID: 1 Comm: swapper/0 Not tainted "
                     "4.18.0-425.el8.x86_64 #1\n[    1.000001]  vfs_read+0x50/0x310\n")
    args = ["pymod", "symbolize", "--debuginfo", str(debian_dbg_61.debug_dir), str(trace)]
    p = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0
    first = p.stdout.splitlines()[0]
    assert first.endswith("[warning: the trace is from 4.18.0-425.el8.x86_64, the symbols "
                          "(--debuginfo %s) from %s]" % (debian_dbg_61.vmlinux,
                                                         debian_dbg_61.release))
    assert p.stdout.splitlines()[1].startswith("[    1.000001] vfs_read (")
    assert "warning: the trace is from 4.18.0-425.el8.x86_64" in p.stderr
    strict = subprocess.run(args[:2] + ["--strict"] + args[2:], capture_output=True,
                            text=True, timeout=600)
    assert strict.returncode == 3 and strict.stdout == p.stdout
    same = tmp_path / "same.txt"
    same.write_text(trace.read_text().replace("4.18.0-425.el8.x86_64", debian_dbg_61.release))
    ok = subprocess.run(args[:2] + ["--strict"] + args[2:-1] + [str(same)],
                        capture_output=True, text=True, timeout=600)
    assert (ok.returncode, ok.stderr) == (0, "")
