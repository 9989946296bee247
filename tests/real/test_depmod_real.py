"""``pymod deps`` against kmod's ``depmod`` on a real Debian kernel tree.

The cached tree is never written: both tools read a base directory whose
``lib/modules/<release>`` holds a symlink to the tree's ``kernel/`` and a
``modules.order`` of the test's choosing, and depmod runs with ``-n``
(print instead of write).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pymod.kmod.depmod import build_deps, format_modules_dep

pytestmark = [pytest.mark.real_kernel, pytest.mark.slow]   # whole trees, each test

DEPMOD = shutil.which("depmod") or next(
    (p for p in ("/sbin/depmod", "/usr/sbin/depmod") if os.path.exists(p)), None)


def make_base(modules_dir: Path, release: str, base: Path, order: str | None) -> Path:
    top = base / "lib" / "modules" / release
    top.mkdir(parents=True)
    (top / "kernel").symlink_to((Path(modules_dir) / "kernel").resolve(), target_is_directory=True)
    if order is not None:
        (top / "modules.order").write_text(order)
    return top


def depmod_lines(base: Path, release: str) -> list[str]:
    out = subprocess.run([DEPMOD, "-n", "-b", str(base), release], check=True,
                         capture_output=True, text=True, timeout=600).stdout
    lines = []
    for line in out.splitlines():
        if line.startswith("#"):  # the next file (modules.alias) begins
            break
        lines.append(line)
    return lines


def parity(mine: list[str], ref: list[str]) -> str:
    deps_mine = {line.split(":", 1)[0]: line for line in mine}
    deps_ref = {line.split(":", 1)[0]: line for line in ref}
    same_lines = sum(1 for m, line in deps_ref.items() if deps_mine.get(m) == line)
    same_sets = sum(1 for m, line in deps_ref.items() if m in deps_mine and
                    set(deps_mine[m].split()[1:]) == set(line.split()[1:]))
    order = [ln.split(":")[0] for ln in mine] == [ln.split(":")[0] for ln in ref]
    return ("lines identical %d/%d, dependency sets equal %d/%d, line order %s"
            % (same_lines, len(ref), same_sets, len(ref), "matches" if order else "differs"))


def order_variant(modules_dir: Path, variant: str) -> str | None:
    lines = (Path(modules_dir) / "modules.order").read_text().splitlines(keepends=True)
    if variant == "modules.order":
        return "".join(lines)
    if variant == "none":
        return None
    # every other entry, reversed: the rest fall back to depmod's hash order
    return "".join(reversed(lines[::2]))


@pytest.mark.skipif(DEPMOD is None, reason="kmod's depmod is not installed")
@pytest.mark.parametrize("variant", ["modules.order", "none", "partial-reversed"])
def test_modules_dep_equals_depmod(debian_kernel, tmp_path, variant):
    top = make_base(debian_kernel.modules_dir, debian_kernel.release, tmp_path,
                    order_variant(debian_kernel.modules_dir, variant))
    ref = depmod_lines(tmp_path, debian_kernel.release)
    mine = format_modules_dep(build_deps(top)).splitlines()
    report = parity(mine, ref)
    print("\npymod deps vs depmod (%s): %s" % (variant, report))
    assert len(ref) > 100, "depmod listed only %d modules" % len(ref)
    assert mine == ref, report


def test_depmod_view_agrees_with_ksymtab(debian_kernel):
    """The libkmod-style reading (``__crc_`` symbols, undefined symbols) and
    pymod.elf.ksymtab's (``__ksymtab*`` entries through their relocations) are
    independent; on a real modversions kernel they must name the same symbols."""
    from pymod.elf.kofile import read_ko
    from pymod.elf.ksymtab import exports, undefined_symbols
    from pymod.kmod.depmod import find_modules, scan_module

    differ = []
    n_exports = 0
    for m in find_modules(debian_kernel.modules_dir):
        mine = scan_module(m.path)
        elf = read_ko(m.path).elf
        theirs = sorted(e.name for e in exports(elf))
        needs = [(n, w) for n, w in undefined_symbols(elf) if n]
        n_exports += len(theirs)
        if sorted(mine.exports) != theirs or list(mine.needs[:len(needs)]) != needs:
            differ.append(m.relpath)
    assert n_exports > 1000
    assert differ == []


def test_scanner_agrees_with_ksymtab(debian_kernel):
    """The C scanner (pymod.elf.kscan) against pymod.elf.ksymtab on every module:
    exports, undefined symbols with their weak flags, __versions names."""
    from pymod.elf.kofile import read_ko
    from pymod.kmod.depmod import find_modules
    from tests.elf.test_kscan import ksymtab_view, scanner_view

    differ = []
    n_modules = n_versions = 0
    for m in find_modules(debian_kernel.modules_dir):
        ko = read_ko(m.path)
        mine = scanner_view(ko.image)
        if mine != ksymtab_view(ko.elf):
            differ.append(m.relpath)
        n_modules += 1
        n_versions += len(mine[2])
    assert n_modules > 1000 and n_versions > n_modules
    assert differ == []


@pytest.mark.skipif(DEPMOD is None, reason="kmod's depmod is not installed")
def test_uncompressed_tree_equals_depmod(debian_kernel_612, tmp_path):
    """The same tree with every module decompressed: the files are mapped
    and scanned in place instead of decompressed (6.12's tree is xz; 6.1's
    is uncompressed already and runs through the other tests as it is)."""
    debian_kernel = debian_kernel_612
    import lzma

    src = Path(debian_kernel.modules_dir)
    top = tmp_path / "lib" / "modules" / debian_kernel.release
    for f in (src / "kernel").rglob("*.ko.xz"):
        dst = top / f.relative_to(src).with_suffix("")
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(lzma.decompress(f.read_bytes()))
    (top / "modules.order").write_text((src / "modules.order").read_text())
    ref = depmod_lines(tmp_path, debian_kernel.release)
    mine = format_modules_dep(build_deps(top)).splitlines()
    assert len(ref) > 1000 and all(line.split(":")[0].endswith(".ko") for line in ref)
    assert mine == ref, parity(mine, ref)
