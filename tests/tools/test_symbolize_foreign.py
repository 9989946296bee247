"""``pymod symbolize`` on a trace from another kernel: names that differ from
pymod's, a release or build id that is not the symbols', ``--strict``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pymod.symbolize.tracenames import named_frames, pair, trace_identity
from pymod.tools import main
from pymod.tools.symbolize_report import STRICT_EXIT, Identity, Report

FIX = Path(__file__).resolve().parent / "fixtures"
SOURCES = ["--kallsyms", str(FIX / "kallsyms"), "--modules", str(FIX / "modules")]

# addresses of the fixture capture: pm_gpl_fn+0x5/0x10 [pm_exporter], and a vmlinux frame
FOREIGN = """\
[  1.000000] CPU: 0 PID: 1 Comm: swapper/0 Tainted: G        W  OE     4.18.0-425.el8.x86_64 #1
[  1.000001] Call Trace:
[  1.000002]  [<ffffffff8100155d>] do_syscall_64+0x5d/0x100
[  1.000003]  [<ffffffff810013a5>] _raw_spin_unlock_irqrestore+0x36/0x60
[  1.000004]  [<ffffffffc000c00a>] pm_importer_exit+0xa/0x1000 [pm_importer]
[  1.000005]  [<ffffffffc000c00a>] pm_importer_exit+0xb/0x1000 [pm_importer]
[  1.000006]  [<ffffffffc000c00a>] other_fn+0xa/0x1000 [pm_other]
[  1.000007]  ffffffffc0ffffff
"""


def _run(capsys, tmp_path: Path, text: str, *args: str) -> tuple[int, list[str], str]:
    f = tmp_path / "trace.txt"
    f.write_text(text)
    rc = main(["symbolize", *SOURCES, *args, str(f)])
    out = capsys.readouterr()
    return rc, out.out.splitlines(), out.err


def test_differing_names_are_warned_on_their_line_and_in_a_summary(capsys, tmp_path):
    rc, out, err = _run(capsys, tmp_path, FOREIGN)
    assert rc == 0
    assert not any("warning" in line for line in out[:3])
    assert out[3].endswith("<- __x64_sys_delete_module+0x1a5/0x200 "
                           "[warning: the trace names it _raw_spin_unlock_irqrestore+0x36/0x60]")
    assert "warning" not in out[4]
    assert out[5].endswith("[warning: the trace names it pm_importer_exit+0xb/0x1000 "
                           "[pm_importer]]")
    assert out[6].endswith("[warning: the trace names it other_fn+0xa/0x1000 [pm_other]]")
    lines = err.splitlines()
    f = tmp_path / "trace.txt"
    assert lines[0] == ("pymod symbolize: warning: 3 of 5 named frames differ from the "
                        "symbols' names (%s:4, %s:6, %s:7): the trace is from another kernel "
                        "or build than the symbols (--kallsyms)" % (f, f, f))
    assert lines[1] == ("pymod symbolize: note: the trace is from 4.18.0-425.el8.x86_64; the "
                        "symbols (--kallsyms) do not say their release")
    # the unresolved address of the last line is counted
    assert lines[2] == "pymod symbolize: note: 1 of 6 addresses unresolved"


def test_strict_fails_the_run(capsys, tmp_path):
    assert _run(capsys, tmp_path, FOREIGN, "--strict")[0] == STRICT_EXIT
    same = "\n".join(FOREIGN.splitlines()[:3] + [FOREIGN.splitlines()[4]]) + "\n"
    rc, out, err = _run(capsys, tmp_path, same, "--strict")
    assert (rc, err) == (0, "") and len(out) == 4


def test_json_records_the_trace_name_and_warnings(capsys, tmp_path):
    rc, out, _ = _run(capsys, tmp_path, FOREIGN, "--json")
    recs = [json.loads(line) for line in out]
    a = recs[3]["addresses"][0]
    assert a["trace_name"] == "_raw_spin_unlock_irqrestore+0x36/0x60"
    assert a["name"] == "__x64_sys_delete_module"
    assert recs[3]["warnings"] == ["warning: the trace names it "
                                   "_raw_spin_unlock_irqrestore+0x36/0x60"]
    assert "warnings" not in recs[2] and recs[2]["addresses"][0]["trace_name"] == \
        "do_syscall_64+0x5d/0x100"


def test_release_and_build_id_are_compared_when_known():
    line = "CPU: 0 PID: 1 Comm: x Tainted: G   E  6.1.0-57-cloud-amd64 #1 Debian 6.1.192-1"
    ident = trace_identity(line)
    assert ident is not None and ident.release == "6.1.0-57-cloud-amd64"
    r = Report(Identity("debug info", "6.12.118-cloud-amd64"))
    assert r.release_line(ident) == ("warning: the trace is from 6.1.0-57-cloud-amd64, the "
                                     "symbols (debug info) from 6.12.118-cloud-amd64")
    assert Report(Identity("x", "6.1.0-57-cloud-amd64")).release_line(ident) is None
    with_id = trace_identity(line + " " + "ab" * 20)
    assert with_id is not None and with_id.build_id == "ab" * 20
    r = Report(Identity("vmlinux", None, "cd" * 20))
    assert "vmlinux build id is " + "ab" * 20 in r.release_line(with_id)
    assert r.warnings == 1 and r.summary()[-1] == "note: 0 of 0 addresses unresolved"


def test_module_build_id_from_pSb_is_compared():
    from pymod.symbolize import Symbol

    named = named_frames("foo+0x1a/0x30 [mod %s]" % ("11" * 20))[0]
    r = Report(Identity("--ko-dir"))
    assert r.frame("f", 1, named, Symbol("foo", 0x1a, 0x30, "mod", b"\x11" * 20)) is None
    said = r.frame("f", 2, named, Symbol("foo", 0x1a, 0x30, "mod", b"\x22" * 20))
    assert said is not None and "build id of mod is " + "11" * 20 in said
    # no build id known: nothing to compare
    assert r.frame("f", 3, named, Symbol("foo", 0x1a, 0x30, "mod")) is None


@pytest.mark.parametrize("line, want", [
    ("RIP: 0010:[<ffffffffc0006015>]  [<ffffffffc0006015>] pm_gpl_fn+0x5/0x10 [pm_exporter]",
     {1: "pm_gpl_fn+0x5/0x10 [pm_exporter]"}),
    ("\tffffffff81234567 sym+0x5 ([kernel.kallsyms])", {0: "sym+0x5"}),
    (" ? foo+0x1/0x2", {}),
])
def test_pairing_raw_addresses_with_names(line, want):
    starts = [i for i in range(len(line)) if line.startswith("ffffffff", i)
              and (i == 0 or line[i - 1] in "<\t ")]
    got = pair(starts, named_frames(line))
    assert {k: v.text() for k, v in got.items()} == want
