"""Wrong or silent answers, fixed: every option honoured or refused, every
file accounted for, one-line errors, and JSON that is valid UTF-8."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pymod.samples import prebuilt_path
from tests.tools.load_json import by_record

TOO_LONG = "x" * 300 + ".ko"     # one name component past NAME_MAX (255)


def run(*args: str | bytes, cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "pymod", *args], capture_output=True,
                          timeout=120, cwd=cwd)


def test_two_files_of_one_module_are_both_answered(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    shutil.copy(prebuilt_path("pm_hello"), a / "pm_hello.ko")
    shutil.copy(prebuilt_path("pm_hello"), b / "pm_hello.ko")
    p = run("load", "--json", str(a / "pm_hello.ko"), str(b / "pm_hello.ko"))
    out = by_record(json.loads(p.stdout))
    assert p.returncode == 1
    assert [m["name"] for m in out["modules"]] == ["pm_hello"]
    assert [(f["file"], f["errno_name"]) for f in out["failures"]] == [
        (str(b / "pm_hello.ko"), "EEXIST")]


def test_struct_module_size_is_honoured_without_release():
    p = run("load", "--struct-module-size", "1024", str(prebuilt_path("pm_hello")))
    assert p.returncode == 1
    assert b"struct module size" in p.stderr


@pytest.mark.parametrize("args", [("--struct-module-size", "-1"), ("--struct-module-size", "0"),
                                  ("-j", "0"), ("-j", "two")])
def test_bad_option_values_are_refused(args):
    p = run("load", *args, str(prebuilt_path("pm_hello")))
    assert p.returncode == 2
    assert b"error: argument" in p.stderr and b"Traceback" not in p.stderr


def test_deps_goes_on_when_modules_order_is_a_directory(tmp_path):
    (tmp_path / "kernel").mkdir()
    shutil.copy(prebuilt_path("pm_hello"), tmp_path / "kernel" / "pm_hello.ko")
    (tmp_path / "modules.order").mkdir()
    p = run("deps", "-o", "-", str(tmp_path))
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"kernel/pm_hello.ko:\n"
    assert p.stderr.count(b"\n") == 1 and b"modules.order" in p.stderr


@pytest.mark.parametrize("tool", ["load", "deps", "info"])
def test_a_name_too_long_says_so(tmp_path, tool):
    p = run(tool, str(tmp_path / TOO_LONG))
    assert p.returncode == 1
    assert b"Traceback" not in p.stderr and p.stderr.count(b"\n") == 1
    if tool != "info":    # kmod's modinfo says "not found" for any missing file
        assert b"File name too long" in p.stderr


def _non_utf8_copy(tmp_path: Path) -> bytes:
    name = os.fsencode(tmp_path) + b"/caf\xe9.ko"
    shutil.copy(prebuilt_path("pm_hello"), name)
    return name


def test_info_json_is_valid_utf8_for_a_non_utf8_name(tmp_path):
    name = _non_utf8_copy(tmp_path)
    p = run("info", "--json", name)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.decode("utf-8"))       # strict: valid UTF-8
    assert out[0]["filename"].endswith("/caf\\xe9.ko")


def test_load_json_is_valid_utf8_for_a_non_utf8_name(tmp_path):
    name = _non_utf8_copy(tmp_path)
    bad = os.fsencode(tmp_path) + b"/\xff.ko"
    Path(os.fsdecode(bad)).write_bytes(b"not an elf")
    p = run("load", "--json", name, bad)
    text = p.stdout.decode("utf-8")
    assert "\\udc" not in text                      # no lone surrogate escapes
    out = by_record(json.loads(text))
    assert [f["file"] for f in out["failures"]] == [os.fsdecode(tmp_path) + "/\\xff.ko"]


def test_load_text_keeps_a_non_utf8_name_as_bytes(tmp_path):
    bad = os.fsencode(tmp_path) + b"/\xff.ko"
    Path(os.fsdecode(bad)).write_bytes(b"not an elf")
    p = run("load", bad)
    assert p.returncode == 1 and b"Traceback" not in p.stderr
    assert bad in p.stderr
