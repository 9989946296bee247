"""pymod.kmod.depmod and ``pymod deps`` on tiny trees of synthetic modules,
checked against kmod's ``depmod`` when it is installed."""

from __future__ import annotations

import io
import subprocess
from contextlib import redirect_stdout

import pytest

from pymod.errors import PymodError
from pymod.kmod.depmod import build_deps, find_modules, format_modules_dep, load_order
from pymod.tools.deps import main
from tests.tools.depmod_support import (
    DEPMOD,
    RELEASE,
    depmod_reference,
    make_ko,
    sample_tree,
    write_tree,
)

# --------------------------------------------------------------------------
# Whole trees


def test_tree_dependencies_and_order(tmp_path):
    mods, order = sample_tree()
    top = write_tree(tmp_path, mods, order)
    deps = build_deps(top, jobs=1)
    # build/ and non-module files are skipped; updates/dup.ko replaces kernel/extra/dup.ko
    assert set(deps) == {"kernel/drivers/top.ko.xz", "kernel/drivers/mid.ko", "kernel/lib/lib.ko",
                         "kernel/lib/base.ko", "kernel/lib/side-car.ko",
                         "kernel/extra/unlisted.ko", "updates/dup.ko", "kernel/twice/first.ko",
                         "kernel/twice/second.ko", "kernel/twice/user.ko"}
    # the unlisted modules come last
    assert list(deps)[-2:] in (["kernel/extra/unlisted.ko", "updates/dup.ko"],
                               ["updates/dup.ko", "kernel/extra/unlisted.ko"])
    # a symbol exported twice belongs to the later module in line order
    assert deps["kernel/twice/user.ko"] == ["kernel/twice/second.ko"]
    assert list(deps)[:4] == ["kernel/lib/base.ko", "kernel/lib/lib.ko",
                              "kernel/drivers/mid.ko", "kernel/drivers/top.ko.xz"]
    assert deps["kernel/drivers/top.ko.xz"] == ["kernel/drivers/mid.ko", "kernel/lib/lib.ko",
                                                "kernel/lib/base.ko"]
    assert deps["kernel/lib/side-car.ko"] == ["updates/dup.ko", "kernel/lib/lib.ko",
                                              "kernel/lib/base.ko"]
    assert deps["kernel/lib/base.ko"] == []
    assert load_order(deps, "kernel/drivers/top.ko.xz") == [
        "kernel/lib/base.ko", "kernel/lib/lib.ko", "kernel/drivers/mid.ko",
        "kernel/drivers/top.ko.xz"]


def test_parallel_scan_equals_serial(tmp_path, monkeypatch):
    import pymod.kmod.depmod as dm

    mods = {"kernel/m%03d.ko" % i: make_ko(exports=["f%d" % i],
                                           needs=["f%d" % (i // 2)] if i else [])
            for i in range(80)}
    top = write_tree(tmp_path, mods, sorted(mods))
    serial = build_deps(top, jobs=1)
    monkeypatch.setattr(dm, "_PARALLEL_MIN", 1)
    assert build_deps(top, jobs=2) == serial
    assert serial["kernel/m007.ko"] == ["kernel/m003.ko", "kernel/m001.ko", "kernel/m000.ko"]


def test_unreadable_module_is_listed_without_dependencies(tmp_path):
    top = write_tree(tmp_path, {"kernel/bad.ko": b"\x7fELF garbage", "kernel/ok.ko": make_ko()},
                     ["kernel/bad.ko", "kernel/ok.ko"])
    warnings: list[str] = []
    assert build_deps(top, jobs=1, warn=warnings.append) == {"kernel/bad.ko": [],
                                                             "kernel/ok.ko": []}
    assert len(warnings) == 1 and "bad.ko" in warnings[0]


@pytest.mark.skipif(DEPMOD is None, reason="kmod's depmod is not installed")
@pytest.mark.parametrize("with_order", [True, False])
def test_tree_equals_kmod_depmod(tmp_path, with_order):
    mods, order = sample_tree()
    mods.pop("kernel/lib/readme.txt")
    top = write_tree(tmp_path, mods, order if with_order else None)
    assert format_modules_dep(build_deps(top, jobs=1)).splitlines() == depmod_reference(tmp_path)


# --------------------------------------------------------------------------
# Command line

def test_main_writes_modules_dep_into_the_tree(tmp_path, capsys):
    mods, order = sample_tree()
    top = write_tree(tmp_path, mods, order)
    assert main([str(top)]) == 0
    text = (top / "modules.dep").read_text()
    assert text == format_modules_dep(build_deps(top, jobs=1))
    assert capsys.readouterr().err == ""  # no progress when stderr is not a terminal
    assert not [p for p in top.iterdir() if p.name.endswith(".tmp")]


def test_main_basedir_and_stdout(tmp_path):
    mods, order = sample_tree()
    top = write_tree(tmp_path, mods, order)
    buf = io.StringIO()
    with redirect_stdout(buf):
        assert main(["-b", str(tmp_path), "-o", "-", RELEASE]) == 0
    assert buf.getvalue() == format_modules_dep(build_deps(top, jobs=1))
    assert not (top / "modules.dep").exists()


def test_main_missing_dir_fails_cleanly(tmp_path, capsys):
    assert main([str(tmp_path / "nope")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("pymod deps: error:") and "nope" in err


def test_main_unwritable_output_fails_cleanly(tmp_path, capsys):
    top = write_tree(tmp_path, {"kernel/a.ko": make_ko()}, None)
    assert main(["-o", str(tmp_path / "no" / "such" / "dir" / "f"), str(top)]) == 1
    assert "cannot write" in capsys.readouterr().err


def test_find_modules_reads_modules_order_file(tmp_path):
    top = write_tree(tmp_path, {"kernel/kvm.ko": make_ko(), "kernel/fat.ko": make_ko()},
                     ["kernel/kvm.ko", "kernel/fat.ko"])
    assert [m.relpath for m in find_modules(top)] == ["kernel/kvm.ko", "kernel/fat.ko"]
    (top / "modules.order").unlink()
    assert [m.relpath for m in find_modules(top)] == ["kernel/fat.ko", "kernel/kvm.ko"]


def test_progress_is_shown_on_a_terminal(tmp_path, monkeypatch):
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    top = write_tree(tmp_path, {"kernel/a.ko": make_ko(), "kernel/b.ko": make_ko()}, None)
    err = Tty()
    monkeypatch.setattr("sys.stderr", err)
    assert main([str(top)]) == 0
    assert err.getvalue().endswith("pymod deps: 2/2 modules\n")
    assert "1/2" in err.getvalue()



def test_main_reports_a_cycle(tmp_path, capsys):
    top = write_tree(tmp_path, {"kernel/a.ko": make_ko(exports=["fa"], needs=["fb"]),
                                "kernel/b.ko": make_ko(exports=["fb"], needs=["fa"])}, None)
    assert main([str(top)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("pymod deps: error: dependency cycle")
    assert "kernel/a.ko" in err and "kernel/b.ko" in err
    assert not (top / "modules.dep").exists()


@pytest.mark.skipif(DEPMOD is None, reason="kmod's depmod is not installed")
def test_kmod_depmod_also_refuses_a_cycle(tmp_path):
    top = write_tree(tmp_path, {"kernel/a.ko": make_ko(exports=["fa"], needs=["fb"]),
                                "kernel/b.ko": make_ko(exports=["fb"], needs=["fa"])}, None)
    kmod = subprocess.run([DEPMOD, "-n", "-b", str(tmp_path), RELEASE],
                          capture_output=True, text=True)
    assert kmod.returncode != 0 and "cycle" in kmod.stderr
    with pytest.raises(PymodError):
        build_deps(top, jobs=1)


def test_links_to_dot_are_walked_once(tmp_path, monkeypatch):
    """Two directory links to "." made every walk exponential (depmod itself
    loops until it runs out of descriptors); each directory is entered once,
    and a linked directory elsewhere is still found."""
    import os as _os

    from pymod.kmod import tree
    from pymod.samples import prebuilt_path

    kernel = tmp_path / "lib" / "modules" / "9.9.9" / "kernel"
    (kernel / "sub").mkdir(parents=True)
    (kernel / "sub" / "pm_hello.ko").write_bytes(prebuilt_path("pm_hello").read_bytes())
    (kernel / "a").symlink_to(".")
    (kernel / "b").symlink_to(".")
    (kernel / "sub" / "up").symlink_to("..")
    other = tmp_path / "other"
    other.mkdir()
    (other / "pm_exporter.ko").write_bytes(prebuilt_path("pm_exporter").read_bytes())
    (kernel / "ext").symlink_to(other)
    opened = []
    real_scandir = _os.scandir

    def counting(path):
        opened.append(path)
        assert len(opened) < 50, "the walk does not end"
        return real_scandir(path)

    monkeypatch.setattr(tree.os, "scandir", counting)
    found = tree.module_files(kernel.parent)
    assert sorted(p.rsplit("/", 1)[-1] for p in found) == ["pm_exporter.ko", "pm_hello.ko"]
    assert len(opened) == 4             # 9.9.9, kernel, sub, other: once each
