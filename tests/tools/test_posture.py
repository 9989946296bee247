"""``queries.posture(kernel)`` and ``pymod posture``: read off the facades."""

from __future__ import annotations

import json

from pymod import Config, Kernel
from pymod.loader import queries
from pymod.tools import main


def test_posture_follows_the_config_and_run_time_switches():
    p = queries.posture(Kernel())
    assert p["signature checking"]["enforced"] and not p["signature enforcement"]["enforced"]
    assert p["signature enforcement"]["setting"] == ("CONFIG_MODULE_SIG_FORCE or "
                                                      "module.sig_enforce=1")
    strict = queries.posture(Kernel(Config(MODULE_FORCE_LOAD=False, MODULE_FORCE_UNLOAD=False,
                                           LIVEPATCH=False), sig_enforce=True, lockdown=True))
    assert all(strict[k]["enforced"] for k in ("signature enforcement", "lockdown",
                                               "forced loads refused",
                                               "forced unloads refused",
                                               "livepatch modules refused"))
    loose = queries.posture(Kernel(Config(MODULE_SIG=False, MODVERSIONS=False,
                                          STRICT_MODULE_RWX=False,
                                          MODULE_ALLOW_MISSING_NAMESPACE_IMPORTS=True)))
    for name in ("signature checking", "signature enforcement", "symbol versions (CRCs)",
                 "W^X sections", "namespace imports"):
        assert not loose[name]["enforced"] and loose[name]["otherwise"], name
    k = Kernel()
    k.set_module_sig_enforced()
    assert queries.posture(k)["signature enforcement"]["enforced"]


def test_posture_command(capsys, tmp_path):
    assert main(["posture", "--json", "--sig-enforce"]) == 0
    records = json.loads(capsys.readouterr().out)       # a list of records (docs/cli/json)
    d = {r["name"]: r for r in records}
    assert len(d) == len(records) and d["signature enforcement"]["enforced"] is True
    assert main(["posture"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:2] == ["property", "enforced"] and len(out) == len(d) + 1
    empty = tmp_path / "config-6.12.0"
    empty.write_text("# every option unset\n")
    assert main(["posture", "--config", str(empty)]) == 0
    capsys.readouterr()
    assert main(["posture", "--config", "/nonexistent"]) == 1
    assert capsys.readouterr().err.startswith("pymod posture: ")
