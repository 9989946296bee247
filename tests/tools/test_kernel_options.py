"""One rule for choosing the target kernel (pymod.tools.kernelopts), in
load, check, info, posture and verify; gzipped configs; modinfo's -k/-b."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pymod.config import Config
from pymod.samples import prebuilt_path
from pymod.tools import main

HELLO = str(prebuilt_path("pm_hello"))
PYMOD = Path(__file__).resolve().parents[2] / "pymod"


def _lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln]


@pytest.mark.parametrize("command", ["load", "check", "posture"])
@pytest.mark.parametrize("option", [("--kernel-dir", "/"), ("--config", "x")])
def test_default_kernel_refuses_what_names_another(command, option, capsys):
    with pytest.raises(SystemExit) as e:
        main([command, "--default-kernel", *option] + ([HELLO] if command != "posture" else []))
    err = capsys.readouterr().err
    assert e.value.code == 2
    assert "error: argument %s: not allowed with argument --default-kernel" % option[0] in err


def test_info_basedir_and_kernel_dir_conflict(capsys):
    with pytest.raises(SystemExit) as e:
        main(["info", "-b", "/", "--kernel-dir", "/", "x"])
    assert e.value.code == 2
    assert "argument -b/--basedir: not allowed with argument --kernel-dir" in \
        capsys.readouterr().err


def test_every_command_spells_the_kernel_options_alike(capsys):
    """Each command's --help lists the target-kernel group with the same words."""
    helps = {}
    for command in ("load", "check", "posture", "verify", "info"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        helps[command] = capsys.readouterr().out
    want = "the target's /lib/modules/<release> tree"
    assert all(want in " ".join(h.split()) for h in helps.values()), helps


def test_no_message_asks_in_api_words():
    hits = subprocess.run(["grep", "-rn", "pass release=", str(PYMOD), "--include=*.py"],
                          capture_output=True, text=True).stdout
    assert hits == ""


# ------------------------------------------------------------------ configs

def _header_config(tmp_path: Path, name: str = ".config") -> Path:
    path = tmp_path / name
    path.write_text("#\n# Linux/x86 6.1.192 Kernel Configuration\n#\nCONFIG_MODULES=y\n"
                    "CONFIG_MODULE_SIG=y\nCONFIG_MODVERSIONS=y\n")
    return path


def test_gzipped_config_reads_as_the_plain_one(tmp_path):
    plain = _header_config(tmp_path, "config-6.1.0-test")
    packed = tmp_path / "config-6.1.0-test.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert Config.from_kconfig(packed) == Config.from_kconfig(plain)
    assert Config.from_kconfig(packed).release == "6.1.0-test"


def test_gzip_bomb_config_is_one_line_naming_the_file(tmp_path, capsys):
    bomb = tmp_path / "config.gz"
    with gzip.open(bomb, "wb") as f:        # 64 MiB of zeros: 64 KiB packed
        for _ in range(64):
            f.write(bytes(1 << 20))
    assert main(["posture", "--config", str(bomb)]) == 1
    err = capsys.readouterr().err
    assert _lines(err) == [err.strip()] and str(bomb) in err and "cap" in err


def test_posture_needs_no_release_but_load_does(tmp_path, capsys):
    config = _header_config(tmp_path)
    assert main(["posture", "--config", str(config)]) == 0
    capsys.readouterr()
    assert main(["load", "--config", str(config), HELLO]) == 1
    err = capsys.readouterr().err
    assert "give --release" in err and "release=" not in err
    # A build tree's include/config/kernel.release names it: no --release needed.
    (tmp_path / "include" / "config").mkdir(parents=True)
    (tmp_path / "include" / "config" / "kernel.release").write_text("6.1.0-built\n")
    assert main(["load", "--config", str(config), HELLO]) == 1     # built for another kernel
    assert "version magic" in capsys.readouterr().err


@pytest.mark.real_kernel
def test_gzipped_real_config_everywhere(debian_kernel, tmp_path, capsys):
    packed = tmp_path / "config.gz"          # the name of /proc/config.gz: no release in it
    packed.write_bytes(gzip.compress(debian_kernel.config.read_bytes()))
    plain = Config.from_kconfig(debian_kernel.config)
    assert Config.from_kconfig(packed, release=debian_kernel.release) == plain
    assert main(["posture", "--config", str(debian_kernel.config)]) == 0
    want = capsys.readouterr().out
    assert main(["posture", "--config", str(packed)]) == 0
    assert capsys.readouterr().out == want
    ko = str(debian_kernel.ko_files()[0])
    rc = main(["check", "--kernel-dir", str(debian_kernel.modules_dir), "--config", str(packed),
               ko])
    out = capsys.readouterr().out
    assert rc == 0 and out.startswith(ko + ": ") and "REFUSED" not in out, out


# ------------------------------------------------------------------ load <tree>

_FEW = ("8021q", "garp", "mrp", "stp", "llc", "loop")


def _few_modules_tree(kernel, top: Path, *, config: bool = True,
                      symvers: bool = True) -> Path:
    """``top/lib/modules/<release>``: links to a few of ``kernel``'s modules,
    with its config and Module.symvers linked where a system has them."""
    tree = top / "lib" / "modules" / kernel.release
    for ko in kernel.ko_files():
        if ko.name.split(".")[0] in _FEW:
            link = tree / ko.relative_to(kernel.modules_dir)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(ko)
    (tree / "modules.order").write_text("")
    if config:
        (top / "boot").mkdir()
        (top / "boot" / ("config-" + kernel.release)).symlink_to(kernel.config)
    if symvers:
        headers = top / "usr" / "src" / ("linux-headers-" + kernel.release)
        headers.mkdir(parents=True)
        (headers / "Module.symvers").symlink_to(kernel.symvers)
    return tree


@pytest.mark.real_kernel
def test_load_of_a_tree_uses_its_own_kernel(debian_kernel, tmp_path, capsys):
    tree = _few_modules_tree(debian_kernel, tmp_path)
    assert main(["load", str(tree)]) == 0
    out, err = capsys.readouterr()
    assert sorted(ln.split()[0] for ln in _lines(out)) == sorted(_FEW)
    assert "Unknown symbol" not in err
    # The same tree in the built-in kernel: what `pymod load` used to do silently.
    # (6.12's modules: "Unknown symbol"; 6.1's: struct module's size first.)
    assert main(["load", "--default-kernel", str(tree)]) == 1
    assert len(_lines(capsys.readouterr().err)) >= len(_FEW) - 1
    # As check --kernel-dir: the same kernel, named explicitly.
    assert main(["load", "--kernel-dir", str(tree), str(tree)]) == 0
    assert sorted(ln.split()[0] for ln in _lines(capsys.readouterr().out)) == sorted(_FEW)


@pytest.mark.real_kernel
def test_load_of_a_tree_without_symvers_refuses_clearly(debian_kernel_612, tmp_path, capsys):
    tree = _few_modules_tree(debian_kernel_612, tmp_path, symvers=False)
    assert main(["load", str(tree)]) == 2
    err = capsys.readouterr().err
    assert _lines(err) == [err.strip()]
    assert str(tree) in err and "--symvers" in err and "--default-kernel" in err


def test_load_of_a_tree_with_no_kernel_beside_it_says_so(tmp_path, capsys):
    tree = tmp_path / "lib" / "modules" / "9.9.9"
    tree.mkdir(parents=True)
    shutil.copy(HELLO, tree / "pm_hello.ko")
    assert main(["load", str(tree)]) == 0
    out, err = capsys.readouterr()
    assert out.split()[0] == "pm_hello" and "built-in kernel" in err and str(tree) in err


# ------------------------------------------------------------------ info NAME -k -b

def _sample_tree(top: Path, release: str = "6.12.0-test") -> Path:
    tree = top / "lib" / "modules" / release
    (tree / "kernel" / "misc").mkdir(parents=True)
    for name in ("pm_hello", "pm_exporter"):
        shutil.copy(prebuilt_path(name), tree / "kernel" / "misc" / (name + ".ko"))
    (tree / "modules.builtin").write_text("kernel/fs/pm_built/pm_built.ko\n")
    (tree / "modules.builtin.modinfo").write_bytes(
        b"pm_built.license=GPL\0pm_built.description=built in\0pm_built.alias=pm-b\0"
        b"other.license=MIT\0")
    return tree


@pytest.mark.parametrize("with_dep", [False, True])
def test_info_looks_a_name_up_in_the_release_tree(tmp_path, capsys, with_dep):
    tree = _sample_tree(tmp_path)
    if with_dep:
        assert main(["deps", str(tree)]) == 0
        capsys.readouterr()
    base = ["info", "-b", str(tmp_path), "-k", tree.name]
    assert main(base + ["-F", "filename", "pm-hello", "pm_exporter"]) == 0
    assert _lines(capsys.readouterr().out) == [
        str(tree / "kernel" / "misc" / "pm_hello.ko"),
        str(tree / "kernel" / "misc" / "pm_exporter.ko")]
    assert main(base + ["pm_built"]) == 0
    assert _lines(capsys.readouterr().out) == [
        "name:           pm_built", "filename:       (builtin)", "license:        GPL",
        "description:    built in", "alias:          pm-b"]
    assert main(["info", "--kernel-dir", str(tree), "-F", "license", "pm_hello"]) == 0
    assert capsys.readouterr().out == "GPL\n"
    assert main(base + ["nosuch"]) == 1
    assert capsys.readouterr().err == "pymod info: ERROR: Module nosuch not found.\n"


@pytest.mark.skipif(not (shutil.which("modinfo") and shutil.which("depmod")),
                    reason="kmod's modinfo and depmod are not installed")
def test_info_name_lookup_matches_modinfo(tmp_path):
    tree = _sample_tree(tmp_path)
    subprocess.run(["depmod", "-b", str(tmp_path), tree.name], check=True,
                   capture_output=True)
    for args in (["pm_hello"], ["-F", "filename", "pm-exporter"], ["pm_built"],
                 ["-F", "name", "pm_built"], ["-0", "pm_built"], ["nosuch"]):
        cmd = ["-b", str(tmp_path), "-k", tree.name, *args]
        want = subprocess.run(["modinfo", *cmd], capture_output=True,
                              env=dict(os.environ, LC_ALL="C"))
        got = subprocess.run(["python", "-m", "pymod", "info", *cmd], capture_output=True)
        assert (got.returncode, got.stdout) == (want.returncode, want.stdout), args
        assert got.stderr == want.stderr.replace(b"modinfo:", b"pymod info:"), args


@pytest.mark.real_kernel
def test_verify_takes_the_trees_vmlinuz(debian_kernel_612, capsys):
    """verify --kernel-dir trusts the keys of the vmlinuz beside the tree,
    as check --kernel-dir does."""
    ko = str(debian_kernel_612.ko_files()[0])
    assert main(["verify", "--kernel-dir", str(debian_kernel_612.modules_dir), ko]) == 0
    assert "verified by" in capsys.readouterr().out
    assert main(["verify", "--release", "0.0-nowhere", ko]) == 2
    assert "no vmlinuz for 0.0-nowhere: give --vmlinuz" in capsys.readouterr().err
