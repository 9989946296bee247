"""``pymod symbolize`` on captured oopses, ``perf script`` and bpftrace output
and bare addresses.

The fixtures under ``fixtures/`` were written from the formats' documentation
with the addresses of the sample modules loaded into a pymod Kernel (see
:func:`_capture`; ``kallsyms`` is ``vmlinux.map``'s synthetic vmlinux lines
followed by ``queries.kallsyms(k)``, ``modules`` is ``Kernel.proc_modules()``).
Every annotation is checked against the plain-Python reference
(``reference_sprint``), with the return-address lines of each fixture
listed here by hand.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pymod import Kernel
from pymod.loader import queries
from pymod.samples import prebuilt_dir, prebuilt_path
from pymod.symbolize.fmt import Format
from pymod.symbolize.model import Maps
from pymod.symbolize.readers import place_ko, read_kallsyms, read_system_map
from pymod.symbolize.reference import reference_lookup, reference_sprint
from pymod.tools import main

FIX = Path(__file__).resolve().parent / "fixtures"
KALLSYMS, MODULES, SYSTEM_MAP = FIX / "kallsyms", FIX / "modules", FIX / "vmlinux.map"
LOADED = ("pm_hello", "pm_exporter", "pm_importer", "pm_noinit", "pm_ro_after_init")
SOURCES = ["--kallsyms", str(KALLSYMS), "--modules", str(MODULES)]

# fixture -> the lines (1-based) whose addresses are return addresses (%pB)
RETURN_LINES = {
    "oops.txt": set(range(22, 32)),        # the frames after Call Trace: / <TASK>
    "oops_old.txt": set(range(15, 19)),    # the [<...>] frames after Call Trace:
    "perf.txt": {3, 4, 5, 6, 7, 8, 12, 13, 17, 18},   # all but each chain's first
    "bpftrace.txt": {13, 14, 15, 16, 20, 21, 25, 26},
    "addresses.txt": set(),
}
_ANY_ADDR = re.compile(r"\b(?:0[xX])?([0-9a-fA-F]{16})\b")


def _capture() -> tuple[str, str]:
    k = Kernel()
    for name in LOADED:
        k.load_module(prebuilt_path(name))
    return SYSTEM_MAP.read_text() + queries.kallsyms(k), k.proc_modules()


@pytest.fixture(scope="module")
def maps() -> Maps:
    return read_kallsyms(KALLSYMS, MODULES)


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    rc = main(["symbolize", *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def _expected(text: str, maps: Maps, returns: set[int], fmt: str = "S") -> str:
    """Each line annotated from the reference lookup, independently of the CLI."""
    out = []
    for lineno, line in enumerate(text.splitlines(keepends=True), 1):
        addrs = [int(m.group(1), 16) for m in _ANY_ADDR.finditer(line)]
        addrs = [a for a in addrs if a >= 0xFFFF800000000000]
        bt = lineno in returns or fmt == "B"
        f = Format(bt, fmt != "s", fmt == "Sb")
        if not any(reference_lookup(maps, a, bt) is not None for a in addrs):
            out.append(line)
            continue
        texts = [reference_sprint(maps, a, f) for a in addrs]  # type: ignore[arg-type]
        out.append(line.rstrip("\n") + " <- " + "; ".join(texts) + "\n")
    return "".join(out)


def test_fixture_capture_is_current():
    kallsyms, modules = _capture()
    assert KALLSYMS.read_text() == kallsyms
    assert MODULES.read_text() == modules


@pytest.mark.parametrize("name", sorted(RETURN_LINES))
def test_annotates_every_address_exactly(capsys, maps, name):
    rc, out, err = _run(capsys, *SOURCES, str(FIX / name))
    if name == "oops_old.txt":
        # a 4.9 trace: its SyS_delete_module is __x64_sys_delete_module here
        said = " [warning: the trace names it SyS_delete_module+0x1a5/0x200]"
        assert out.count(said) == 1 and out.splitlines()[14].endswith(said)
        out = out.replace(said, "")
        assert err.startswith("pymod symbolize: warning: 1 of 7 named frames differ from the "
                              "symbols' names (%s:15)" % (FIX / name))
        assert "note: the trace is from 4.9.0-pymod; the symbols (--kallsyms) do not say" in err
        err = ""
    assert (rc, err) == (0, "")
    text = (FIX / name).read_text()
    assert out == _expected(text, maps, RETURN_LINES[name])
    assert len(out.splitlines()) == len(text.splitlines())
    assert out.count(" <- ") >= 5 or name == "oops_old.txt"


def test_return_addresses_use_the_backtrace_lookup(capsys):
    out = _run(capsys, *SOURCES, str(FIX / "oops.txt"), str(FIX / "addresses.txt"),
               str(FIX / "bpftrace.txt"), str(FIX / "perf.txt"))[1].splitlines()
    # a return address at a function's first byte belongs to the caller
    assert "[  123.456855]  ? 0xffffffff81001700 <- __die+0x80/0x80" in out
    assert "0xFFFFFFFF81001700 <- page_fault_oops+0x0/0x200" in out
    assert "[  123.456813] RIP: 0010:0xffffffffc0006015 <- pm_gpl_fn+0x5/0x10 [pm_exporter]" in out
    assert "ffffffffc0006020 <- pm_gpl_fn+0x10/0x10 [pm_exporter]" in out     # kstack(raw)
    assert "0xffffffffc0006020 <- pm_ns_fn+0x0/0x10 [pm_exporter]" in out     # bare
    assert ("\tffffffff81001d40 cpu_startup_entry+0x0 ([kernel.kallsyms]) "
            "<- default_idle+0x20/0x20") in out
    # registers: every kernel address of the line, in order
    assert out[11].endswith(" <- pm_gpl_fn+0x0/0x10 [pm_exporter]; "
                            "__this_module+0x0/0xfc0 [pm_importer]")
    # nothing named: the line is left alone
    assert "ffffffffc0050000" in out and "0xffffffff82a05000" in out


@pytest.mark.parametrize("fmt", ["s", "B", "S"])
def test_formats(capsys, maps, fmt):
    for name in ("oops.txt", "addresses.txt", "perf.txt"):
        rc, out, _ = _run(capsys, *SOURCES, "--format", fmt, str(FIX / name))
        assert rc == 0
        assert out == _expected((FIX / name).read_text(), maps, RETURN_LINES[name], fmt)


def test_exact_looks_everything_up_as_is(capsys, maps):
    rc, out, _ = _run(capsys, *SOURCES, "--exact", str(FIX / "oops.txt"))
    assert rc == 0 and out == _expected((FIX / "oops.txt").read_text(), maps, set())
    with pytest.raises(SystemExit) as e:
        main(["symbolize", *SOURCES, "--exact", "--format", "B"])
    assert e.value.code == 2


def _placed_maps(sections: dict[str, dict[str, int]] | None = None) -> Maps:
    from pymod.symbolize.readers import read_proc_modules

    procs = read_proc_modules(MODULES)
    mods = tuple(place_ko(prebuilt_path(n), sections=sections[n]) if sections else
                 place_ko(prebuilt_path(n), base=procs[n].base) for n in procs)
    return Maps(read_system_map(SYSTEM_MAP).core, mods)


def test_ko_dir_gives_the_kallsyms_answers(capsys):
    """.ko files placed at /proc/modules' bases answer as the captured
    kallsyms does (text regions: sizes run to the text page's end)."""
    inputs = [str(FIX / n) for n in sorted(RETURN_LINES)]
    rc, from_kallsyms, _ = _run(capsys, "--kallsyms", str(KALLSYMS), *inputs)
    assert rc == 0
    rc, from_ko, err = _run(capsys, "--system-map", str(SYSTEM_MAP), "--ko-dir",
                            str(prebuilt_dir()), "--modules", str(MODULES), *inputs)
    # only oops_old.txt's 4.9 name SyS_delete_module is warned about
    assert rc == 0 and err.startswith("pymod symbolize: warning: 1 of ")
    assert "oops_old.txt:15)" in err
    assert from_ko == from_kallsyms
    assert "pm_importer_exit+0xa/0x1000 [pm_importer]" in from_ko


def test_ko_dir_with_sections_and_build_ids(capsys, tmp_path):
    k = Kernel()
    for name in LOADED:
        k.load_module(prebuilt_path(name))
    sections: dict[str, dict[str, int]] = {}
    for mod in k.modules:
        d = tmp_path / mod.name / "sections"
        d.mkdir(parents=True)
        for key, value in queries.sysfs(k, mod.name).items():
            if key.startswith("sections/"):
                (d / key.split("/", 1)[1]).write_text(value + "\n")
                sections.setdefault(mod.name, {})[key.split("/", 1)[1]] = int(value, 16)
    maps = _placed_maps(sections)
    rc, out, err = _run(capsys, "--system-map", str(SYSTEM_MAP), "--ko-dir",
                        str(prebuilt_dir()), "--sections", str(tmp_path), "--format", "Sb",
                        str(FIX / "addresses.txt"), str(FIX / "oops.txt"))
    # no --modules: every module taken as Live, its init sections left out, and said
    assert rc == 0 and err == ("pymod symbolize: note: --sections: 5 modules (no --modules "
                               "given) taken as Live, the init sections left out: %s\n"
                               % ", ".join(sorted(LOADED)))
    text = (FIX / "addresses.txt").read_text() + (FIX / "oops.txt").read_text()
    returns = {n + 10 for n in RETURN_LINES["oops.txt"]}
    assert out == _expected(text, maps, returns, "Sb")
    # the data region is placed too, and the build id printed
    assert re.search(r"ffffffffc000e040 <- __this_module\+0x0/0x\w+ \[pm_importer [0-9a-f]{40}\]",
                     out)


def test_json_lines(capsys):
    rc, out, _ = _run(capsys, *SOURCES, "--json", str(FIX / "oops.txt"))
    text_out = _run(capsys, *SOURCES, str(FIX / "oops.txt"))[1].splitlines()
    records = [json.loads(line) for line in out.splitlines()]
    lines = (FIX / "oops.txt").read_text().splitlines()
    assert rc == 0 and len(records) == len(lines)
    for n, (rec, line, annotated) in enumerate(zip(records, lines, text_out, strict=True), 1):
        assert (rec["file"], rec["line"], rec["text"]) == (str(FIX / "oops.txt"), n, line)
        found = [a["symbol"] for a in rec["addresses"]]
        if any(a["found"] for a in rec["addresses"]):
            assert annotated == line + " <- " + "; ".join(found)
        for a in rec["addresses"]:
            at = line[a["column"]:].lower()
            assert at.removeprefix("0x").startswith(a["address"][2:])
            assert a["lookup"] == ("B" if n in RETURN_LINES["oops.txt"] else "S")
    rip = records[8]["addresses"][0]
    assert rip == {"address": "0xffffffffc0006015", "column": 25, "lookup": "S", "found": True,
                   "reason": "found", "symbol": "pm_gpl_fn+0x5/0x10 [pm_exporter]",
                   "name": "pm_gpl_fn", "offset": 5, "size": 16, "module": "pm_exporter"}
    unknown = records[16]["addresses"][0]
    assert (unknown["found"], unknown["reason"], unknown["name"]) == (False, "unknown address",
                                                                      None)


def test_bytes_kept_and_json_valid_utf8(tmp_path):
    src = tmp_path / "in.txt"
    src.write_bytes(b"caf\xe9 ffffffffc0006015 \xff\n")
    p = subprocess.run([sys.executable, "-m", "pymod", "symbolize", *SOURCES, str(src)],
                       capture_output=True, timeout=120)
    assert p.stdout == b"caf\xe9 ffffffffc0006015 \xff <- pm_gpl_fn+0x5/0x10 [pm_exporter]\n"
    p = subprocess.run([sys.executable, "-m", "pymod", "symbolize", "--json", *SOURCES],
                       input=src.read_bytes(), capture_output=True, timeout=120)
    rec = json.loads(p.stdout.decode("utf-8"))
    assert rec["text"] == "caf\\xe9 ffffffffc0006015 \\xff" and rec["file"] == "-"


def test_stdin_and_missing_file(tmp_path):
    p = subprocess.run([sys.executable, "-m", "pymod", "symbolize", *SOURCES, "-",
                        str(tmp_path / "nope.txt"), str(FIX / "addresses.txt")],
                       input="0xffffffffc0006010\n", capture_output=True, text=True, timeout=120)
    assert p.returncode == 1
    assert p.stdout.startswith("0xffffffffc0006010 <- pm_gpl_fn+0x0/0x10 [pm_exporter]\n")
    assert "ffffffffc0006015 <- pm_gpl_fn+0x5/0x10 [pm_exporter]" in p.stdout
    assert p.stderr == "pymod symbolize: %s: No such file or directory\n" % (tmp_path / "nope.txt")


def test_unreadable_or_zeroed_sources_give_one_line(capsys, tmp_path, monkeypatch):
    zeroed = tmp_path / "kallsyms"
    zeroed.write_text(re.sub(r"^[0-9a-f]{16}", "0" * 16, KALLSYMS.read_text(), flags=re.M))
    zero_mods = tmp_path / "modules"
    zero_mods.write_text(re.sub(r"0x[0-9a-f]{16}", "0x" + "0" * 16, MODULES.read_text()))
    cases = [
        (["--kallsyms", str(zeroed)], "kallsyms: every address reads as 0"),
        (["--kallsyms", str(KALLSYMS), "--modules", str(zero_mods)],
         "modules: every address reads as 0"),
        (["--kallsyms", str(tmp_path / "missing")], "No such file or directory"),
        (["--system-map", str(FIX / "oops.txt")], "System.map: %s:1: " % (FIX / "oops.txt")),
    ]
    import pymod.tools.symbolize_sources as srcs

    monkeypatch.setattr(srcs, "LIVE_KALLSYMS", str(zeroed))
    cases.append(([], "kallsyms: every address reads as 0: the kernel hides addresses"))
    for args, message in cases:
        rc, out, err = _run(capsys, *args, str(FIX / "addresses.txt"))
        assert (rc, out) == (1, ""), args
        assert err.count("\n") == 1 and err.startswith("pymod symbolize: ") and message in err
    monkeypatch.setattr(srcs, "LIVE_KALLSYMS", str(tmp_path / "absent"))
    rc, _, err = _run(capsys, str(FIX / "addresses.txt"))
    assert rc == 1 and err.count("\n") == 1
    assert "absent: No such file or directory" in err and "running system" in err


def test_usage_errors():
    for args in (["--ko-dir", "x"], ["--sections", "x"], ["--modules", "x"], ["--format", "X"]):
        with pytest.raises(SystemExit) as e:
            main(["symbolize", *args])
        assert e.value.code == 2


def test_help_and_command_list(capsys):
    with pytest.raises(SystemExit):
        main(["symbolize", "--help"])
    out = capsys.readouterr().out
    assert "%pB" in out and "Call Trace" in out and "perf script" in out
    assert main(["--help"]) == 0
    assert "symbolize" in capsys.readouterr().out


def test_one_batch_per_chunk_and_progress(capsys, monkeypatch, tmp_path):
    from pymod.symbolize.symbolizer import Symbolizer
    from pymod.tools import symbolize

    calls = []
    real = Symbolizer.symbolize_many

    def counting(self, addrs, backtrace=False):
        calls.append(len(addrs))
        return real(self, addrs, backtrace)

    monkeypatch.setattr(Symbolizer, "symbolize_many", counting)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    src = tmp_path / "many.txt"
    src.write_text("\tffffffffc0006015 x ([kernel.kallsyms])\n" * 10000)
    rc, out, err = _run(capsys, *SOURCES, str(src))
    assert rc == 0 and len(out.splitlines()) == 10000
    assert calls == [symbolize.CHUNK_LINES, symbolize.CHUNK_LINES,
                     10000 - 2 * symbolize.CHUNK_LINES]
    assert "\rpymod symbolize: 10000 lines" in err and err.endswith("\r\033[K")


# The peak RSS of this process image: VmHWM (ru_maxrss would include the
# parent's peak, which Linux carries over fork and execve).
_STREAM = """
import resource, sys
from pymod.tools import main
rc = main(sys.argv[1:])
try:
    with open("/proc/self/status") as f:
        peak = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
except (OSError, StopIteration):
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(peak, file=sys.stderr)
sys.exit(rc)
"""


def _stream_run(tmp_path: Path, lines: int) -> tuple[int, int]:
    """(output lines, peak RSS in KiB) of symbolizing ``lines`` perf frames."""
    src, dst = tmp_path / ("in%d" % lines), tmp_path / ("out%d" % lines)
    frames = ["\tffffffffc0006015 [unknown] ([pm_exporter])\n",
              "\tffffffff810013a5 __x64_sys_delete_module+0x1a5 ([kernel.kallsyms])\n",
              "\tffffffff81001d40 cpu_startup_entry+0x0 ([kernel.kallsyms])\n", "\n"]
    with open(src, "w") as f:
        for _ in range(lines // len(frames)):
            f.writelines(frames)
    with open(dst, "wb") as out:
        p = subprocess.run([sys.executable, "-c", _STREAM, "symbolize", *SOURCES, str(src)],
                           stdout=out, stderr=subprocess.PIPE, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    with open(dst) as f:
        head = [next(f) for _ in range(4)]
        count = 4 + sum(1 for _ in f)
    assert head[1].endswith("<- __x64_sys_delete_module+0x1a5/0x200\n")
    assert head[2].endswith("<- default_idle+0x20/0x20\n")
    return count, int(p.stderr.split()[-1])


@pytest.mark.slow
def test_streaming_keeps_memory_constant(tmp_path):
    small_lines, small_rss = _stream_run(tmp_path, 20_000)
    big_lines, big_rss = _stream_run(tmp_path, 200_000)
    assert (small_lines, big_lines) == (20_000, 200_000)
    assert big_rss < 300 * 1024
    assert big_rss - small_rss < 32 * 1024, (small_rss, big_rss)


@pytest.mark.slow
def test_running_system_by_default(capsys):
    modules = Path("/proc/modules")
    try:
        live = read_kallsyms(Path("/proc/kallsyms"), modules if modules.exists() else None)
    except OSError as e:
        pytest.skip("the running system's /proc/kallsyms cannot be used: %s" % e.strerror)
    assert live.core is not None
    t = live.core.symbols
    addrs = [int(t.addrs[i]) + 1 for i in range(0, len(t), max(1, len(t) // 50))]
    addrs = [a for a in addrs if a >= 0xFFFF800000000000]
    text = "".join("0x%016x\n" % a for a in addrs)
    p = subprocess.run([sys.executable, "-m", "pymod", "symbolize"], input=text,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout == _expected(text, live, set())
