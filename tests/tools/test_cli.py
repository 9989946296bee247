"""The ``pymod`` command line: load, demo, dispatch and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

from pymod.samples import prebuilt_path
from pymod.tools import main
from tests.tools.load_json import by_record


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pymod", *args], capture_output=True,
                          text=True, timeout=120)


def test_load_prints_proc_modules_and_failures():
    p = run("load", str(prebuilt_path("pm_exporter")), str(prebuilt_path("pm_importer")),
            str(prebuilt_path("pm_missing")))
    assert p.returncode == 1
    lines = p.stdout.splitlines()
    assert [ln.split()[0] for ln in lines] == ["pm_importer", "pm_exporter"]
    assert "pm_exporter" in lines[1] and " 1 pm_importer, Live " in lines[1]
    assert p.stderr.strip().endswith(
        "ENOENT (-2): pm_missing: Unknown symbol pm_nobody_exports_this (err -2)")


def test_load_orders_dependencies_first(capsys):
    # importer named first: its depends= puts the exporter before it
    rc = main(["load", "--json", str(prebuilt_path("pm_importer")),
               str(prebuilt_path("pm_exporter"))])
    out = by_record(json.loads(capsys.readouterr().out))
    assert rc == 0 and out["failures"] == []
    assert [m["name"] for m in out["modules"]] == ["pm_importer", "pm_exporter"]
    assert out["modules"][1]["holders"] == ["pm_importer"]


def test_load_json_failure_fields(capsys):
    rc = main(["load", "--json", str(prebuilt_path("pm_wx"))])
    out = by_record(json.loads(capsys.readouterr().out))
    assert rc == 1
    (f,) = out["failures"]
    assert (f["errno"], f["errno_name"], f["stage"], f["module"]) == (8, "ENOEXEC", "strict_rwx",
                                                                       "pm_wx")


def test_missing_file_and_unknown_command(capsys):
    assert main(["load", "/nonexistent/x.ko"]) == 1
    assert "No such file" in capsys.readouterr().err
    assert main(["frobnicate"]) == 2
    assert main([]) == 2


def test_demo_runs_and_nothing_is_left_behind():
    p = run("demo")
    assert p.returncode == 0, p.stdout + p.stderr
    assert ("pm_exporter" in p.stdout
            and "Unknown symbol pm_nobody_exports_this (err -2)" in p.stdout)
    assert "unchanged: nothing was left behind" in p.stdout


def test_info_dispatches_to_modinfo():
    p = run("info", "-F", "license", str(prebuilt_path("pm_hello")))
    assert p.returncode == 0 and p.stdout.strip() == "GPL"


def test_load_resolves_missing_dependencies_from_the_tree(tmp_path, capsys):
    """Like modprobe: a given file's depends= not given on the command line
    are found in the modules tree the file sits in."""
    import shutil

    tree = tmp_path / "lib" / "modules" / "6.12.0-pymod-amd64"
    for sub, name in (("kernel/a", "pm_exporter"), ("kernel/b", "pm_importer")):
        (tree / sub).mkdir(parents=True)
        shutil.copy(prebuilt_path(name), tree / sub / (name + ".ko"))
    (tree / "modules.order").write_text("kernel/a/pm_exporter.ko\nkernel/b/pm_importer.ko\n")
    rc = main(["load", "--json", str(tree / "kernel/b/pm_importer.ko")])
    out = by_record(json.loads(capsys.readouterr().out))
    assert rc == 0 and out["failures"] == []
    assert [m["name"] for m in out["modules"]] == ["pm_importer", "pm_exporter"]
    # Outside any modules tree nothing is added: the dependency is missing.
    lone = tmp_path / "lone"
    lone.mkdir()
    shutil.copy(prebuilt_path("pm_importer"), lone / "pm_importer.ko")
    rc = main(["load", "--json", str(lone / "pm_importer.ko")])
    out = by_record(json.loads(capsys.readouterr().out))
    assert rc == 1 and [f["errno_name"] for f in out["failures"]] == ["ENOENT"]


def test_load_garbage_file_gets_the_kernels_message(tmp_path, capsys):
    bad = tmp_path / "bad.ko"
    bad.write_bytes(b"garbage\n")
    rc = main(["load", "--json", str(bad)])
    out = by_record(json.loads(capsys.readouterr().out))
    assert rc == 1 and out["modules"] == []
    (f,) = out["failures"]
    assert (f["errno_name"], f["stage"], f["message"]) == ("ENOEXEC", "elf",
                                                           "Invalid ELF header len 8")
