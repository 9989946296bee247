"""Modules of one Debian kernel checked against the other: each target gives
its own verdict (6.1 has no struct module size check; 6.12 does), and a
6.12 .ko.xz reaches the 6.1 kernel decompressed by kmod, as the 6.1 kernel
has no MODULE_DECOMPRESS."""

from __future__ import annotations

import errno
from collections import Counter

import pytest

from pymod import Config, Kernel, ModuleLoadError
from tests.loader.support import snapshot

pytestmark = pytest.mark.real_kernel


def _kernel(dk) -> Kernel:
    config = Config.from_kconfig(dk.config, release=dk.release)
    if config.version >= (6, 12):
        config = config.replace(struct_module_size=Config.struct_module_size_of(dk.ko_files()[0]))
    return Kernel(config, symvers=dk.symvers)


def _verdicts(target: Kernel, files) -> Counter:
    before = snapshot(target)
    out: Counter = Counter()
    for f in files:
        with pytest.raises(ModuleLoadError) as ei:
            target.load_module(f)
        out[(ei.value.errno, ei.value.strerror.split(": ", 1)[1])] += 1
    assert snapshot(target) == before
    return out


def test_612_modules_on_the_61_kernel(debian_kernel_612, debian_kernel_61):
    k = _kernel(debian_kernel_61)
    assert not k.config.MODULE_DECOMPRESS and not k.config.checks_struct_module_size
    files = debian_kernel_612.ko_files()[::25]
    assert all(f.suffix == ".xz" for f in files)
    assert _verdicts(k, files) == {
        (errno.ENOEXEC, "disagrees about version of symbol module_layout"): len(files)}


def test_61_modules_on_the_612_kernel(debian_kernel_612, debian_kernel_61):
    k = _kernel(debian_kernel_612)
    files = debian_kernel_61.ko_files()[::25]
    want = ".gnu.linkonce.this_module section size must match the kernel's built struct " \
           "module size at run time"
    got = _verdicts(k, files)
    assert list(got) == [(errno.ENOEXEC, want)] and sum(got.values()) == len(files)


def test_pymod_check_answers_before_the_reboot(debian_kernel_612, debian_kernel_61, capsys):
    """``pymod check --kernel-dir`` on real modules: 6.12's modules against
    the 6.1 tree are refused for module_layout; against their own tree
    (signatures verified with its vmlinuz's key, under enforcement) they load."""
    import json

    from pymod.tools import main

    files = [str(f) for f in debian_kernel_612.ko_files() if f.name.startswith(("8021q.",
                                                                                "dummy."))]
    assert main(["check", "--json", "--kernel-dir", str(debian_kernel_61.modules_dir)]
                + files) == 1
    reports = json.loads(capsys.readouterr().out)
    assert {(r["errno"], r["message"].split(": ", 1)[1]) for r in reports} == {
        ("ENOEXEC", "disagrees about version of symbol module_layout")}
    assert main(["check", "--json", "--sig-enforce", "--kernel-dir",
                 str(debian_kernel_612.modules_dir)] + files) == 0
    reports = json.loads(capsys.readouterr().out)
    assert all(r["ok"] and r["taints"] == "" and r["signature"] == "verified" for r in reports)
