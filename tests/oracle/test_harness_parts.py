"""The oracle's parts that need no kernel: the initramfs and case encoding,
the guest helper's build, the results parser, the judge, and reproducible
generation."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from devtools.oracle.compare import Table, judge
from devtools.oracle.replay import PymodAnswer
from pymod.oracle import guest, qemu
from pymod.oracle.model import Answer, Case, Image, Outcome, Step


def test_image_is_cut_extended_and_patched():
    img = Image(b"abcdef", 8, ((1, b"XY"), (7, b"Z")))
    assert img.data() == b"aXYdef\0Z"
    assert Image(b"abcdef", 3, ((2, b"QQQ"),)).data() == b"abQ"


def test_cases_encode_each_base_once():
    base = b"\x7fELF" + bytes(60)
    cases = [Case("t", "a", (Step("finit", Image(base, 64, ((4, b"\x01"),)), 4, "x=1"),)),
             Case("t", "b", (Step("init", Image.of(base)), Step("delete", name="m", flags=2048)))]
    text, blobs = guest.encode_cases(cases)
    assert blobs == [base]
    assert text.splitlines() == [
        "C 0", "S finit 0 4 %s 64 4:01" % b"x=1".hex(), "E",
        "C 1", "S init 0 0 - 64 -", "S delete %s 2048 - 0 -" % b"m".hex(), "E"]


def test_cpio_is_newc_that_cpio_reads(tmp_path):
    c = guest.Cpio()
    c.dir("d")
    c.file("d/f", b"hello")
    c.symlink("l", "d/f")
    data = c.data()
    assert data.startswith(b"070701") and len(data) % 4 == 0
    if shutil.which("cpio") is None:
        pytest.skip("cpio(1) not installed to cross-check")
    subprocess.run(["cpio", "-id", "--quiet"], input=data, cwd=tmp_path, check=True)
    assert (tmp_path / "d" / "f").read_bytes() == b"hello"


def test_guest_helper_builds_warning_free(tmp_path):
    if shutil.which("gcc") is None:
        pytest.skip("gcc missing")
    out = guest.build_helper(tmp_path)
    assert out.stat().st_size > 0 and out.read_bytes()[:4] == b"\x7fELF"


def test_results_stream_is_folded_per_case():
    run = qemu.GuestRun()
    text = ("B 0\nR 0 0 -1 8\nK 3 m: bad\nX 0 m 0 0\nT 0 0\n"
            "B 1\nR 1 0 0 0\nK 4 a\nK 6 b\nT 1 12288\nB 2\nR 2 0 -1 2\n")
    open_case, done = qemu._parse(text, run)
    assert open_case == 2 and not done
    assert run.outcomes[0].steps[0].errno == 8
    assert run.outcomes[0].steps[0].lines == [(3, "m: bad")]
    assert run.outcomes[0].cleanup[0][0] == "m"
    assert run.outcomes[1].steps[0].lines == [(4, "a"), (6, "b")]
    assert run.outcomes[1].taint == 12288


def _case() -> Case:
    return Case("t", "x", (Step("finit", Image.of(b"")),))


def test_judge_sets_module_output_apart_and_only_after_the_loader():
    theirs = Outcome(steps=[Answer(0, [(4, "m: loader line"), (6, "m: hello from init")])])
    ok = judge(0, _case(), theirs, [PymodAnswer(0, [(4, "m: loader line")], reached_init=True)])
    assert ok[0].kind == "agree" and ok[0].module_lines == [(6, "m: hello from init")]
    # pymod that did not reach init owns every line: an extra one is a disagreement
    bad = judge(0, _case(), theirs, [PymodAnswer(0, [(4, "m: loader line")])])
    assert bad[0].kind == "disagree" and not bad[0].text_ok


def test_judge_levels_pointer_hashes_and_module_decided():
    theirs = Outcome(steps=[Answer(8, [(3, "loc 00000000deadbeef, val 1")])])
    same = judge(0, _case(), theirs, [PymodAnswer(8, [(3, "loc 0000000012345678, val 1")])])
    assert same[0].kind == "agree"
    level = judge(0, _case(), theirs, [PymodAnswer(8, [(4, "loc 0000000012345678, val 1")])])
    assert level[0].text_ok and not level[0].level_ok and level[0].kind == "disagree"
    init = judge(0, _case(), Outcome(steps=[Answer(19, [])]),
                 [PymodAnswer(19, [], reached_init=True, stage="init")])
    assert init[0].kind == "module-code"
    t = Table()
    for v in same + level + init:
        t.add("t", v)
    row = t.rows["all"]
    assert (row["judged"], row["errno"], row["text"], row["level"]) == (2, 2, 2, 1)


def test_same_seed_same_cases():
    from hypothesis import strategies as st

    from devtools.oracle.cases import draw_many

    s = st.tuples(st.integers(0, 1 << 40), st.binary(max_size=8))
    assert draw_many(s, 30, 7) == draw_many(s, 30, 7)
    assert draw_many(s, 30, 7) != draw_many(s, 30, 8)


def test_a_splat_outside_init_is_not_module_code():
    loader = [(4, "m: loader line")]
    splat = [(4, "------------[ cut here ]------------"),
             (4, "WARNING: CPU: 0 PID: 1 at arch/x86/kernel/alternative.c:929 apply_retpolines"),
             (4, "Call Trace:"), (4, " <TASK>"), (4, " load_module+0x1/0x2"), (4, " </TASK>")]
    in_init = [(4, "WARNING: CPU: 0 PID: 1 at drivers/x.c:1 f"), (4, " <TASK>"),
               (4, " do_one_initcall+0x5b/0x320"), (4, " </TASK>")]
    ours = PymodAnswer(0, loader, reached_init=True)
    v = judge(0, _case(), Outcome(steps=[Answer(0, loader + in_init + [(6, "m: hi")])]),
              [ours])[0]
    assert v.kind == "agree" and len(v.module_lines) == 5
    v = judge(0, _case(), Outcome(steps=[Answer(0, loader + splat)]), [ours])[0]
    assert v.kind == "disagree" and v.module_lines == []
    v = judge(0, _case(), Outcome(steps=[Answer(0, loader + [
        (4, "sysfs: cannot create duplicate filename '/module/m/sections/.symtab'")])]),
        [ours])[0]
    assert v.kind == "disagree"


def test_a_name_with_separator_bytes_is_one_field():
    run = qemu.GuestRun()
    qemu._parse("B 0\nR 0 0 0 0\nX 0 a\x1cb\x1fc 0 0\nK 6 x\x1cy\nT 0 0\nZ\n", run)
    assert run.outcomes[0].cleanup[0][0] == "a\x1cb\x1fc"
    assert run.outcomes[0].cleanup[0][1].lines == [(6, "x\x1cy")]


def test_progress_trusts_only_complete_result_lines(tmp_path):
    """The guest writes while the host reads: a begun-case line cut before
    its number ('B ') must not stop the run (it once raised ValueError)."""
    from pymod.oracle.qemu import _last_case

    res = tmp_path / "res"
    res.write_bytes(b"B 7\nR 0 0\nB ")
    assert _last_case(res) == 7
    res.write_bytes(b"B 7\nR 0 0\nB 12")
    assert _last_case(res) == 7            # '12' may yet be '123'
    res.write_bytes(b"B 7\nR 0 0\nB 123\n")
    assert _last_case(res) == 123
    res.write_bytes(b"")
    assert _last_case(res) is None
