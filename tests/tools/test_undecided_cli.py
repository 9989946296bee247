"""``pymod load --json`` names what module code decided (pymod runs none)."""

from __future__ import annotations

import json

from pymod.samples import prebuilt_path
from pymod.tools import main
from tests.tools.load_json import by_record


def test_load_json_lists_undecided_per_module(capsys):
    rc = main(["load", "--json", str(prebuilt_path("pm_hello")),
               str(prebuilt_path("pm_noinit")), str(prebuilt_path("pm_wx"))])
    out = by_record(json.loads(capsys.readouterr().out))
    assert rc == 1
    undecided = {m["name"]: m["undecided"] for m in out["modules"]}
    assert undecided == {"pm_noinit": [], "pm_hello": [
        {"what": "init", "name": "init_module", "ops": None,
         "detail": "init_module runs the module's own code"}]}
    assert [f["undecided"] for f in out["failures"]] == [[]]


def test_load_text_says_which_lives_module_code_decides(capsys):
    rc = main(["load", str(prebuilt_path("pm_hello")), str(prebuilt_path("pm_noinit"))])
    out, err = capsys.readouterr()
    assert rc == 0 and [ln.split()[0] for ln in out.splitlines()] == ["pm_noinit", "pm_hello"]
    # pm_hello has an init function, pm_noinit none: one of two is undecided
    assert err == ("pymod load: note: 1 of 2 modules are Live only if their own code agrees "
                   "(init, parameters), which pymod does not run; --json names it\n")
