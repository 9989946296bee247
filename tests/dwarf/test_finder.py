"""Finding debug files in /usr/lib/debug-like trees (pymod.dwarf.finder)."""

from __future__ import annotations

import pytest

from pymod.dwarf.finder import DebugDir, by_build_id, module_name

R_OLD, R_NEW = "6.1.0-9-cloud-amd64", "6.1.0-57-cloud-amd64"


def _touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x7fELF")
    return path


@pytest.fixture
def tree(tmp_path):
    debug = tmp_path / "x" / "usr" / "lib" / "debug"
    for r in (R_OLD, R_NEW):
        _touch(debug / "boot" / ("vmlinux-" + r))
        _touch(debug / "lib/modules" / r / "kernel/net/netfilter/nf_conntrack.ko")
        _touch(debug / "lib/modules" / r / "kernel/drivers/hid/hid-generic.ko")
    _touch(debug / "lib/modules" / R_NEW / "updates/dkms/nf_conntrack.ko")
    _touch(debug / "lib/modules" / R_NEW / "kernel/fs/shipped.ko.xz")
    _touch(debug / ".build-id/ab/cdef0123.debug")
    return tmp_path / "x"


def test_module_names_are_the_kernels():
    assert module_name("a/b/hid-generic.ko") == "hid_generic"
    assert module_name("nf_conntrack.ko.xz") == "nf_conntrack"
    assert module_name("foo.ko.debug") == "foo"


def test_an_extracted_package_counts_as_its_debug_dir(tree):
    assert DebugDir(tree).root == tree / "usr/lib/debug"
    assert DebugDir(tree / "usr/lib/debug").root == tree / "usr/lib/debug"


def test_vmlinux_by_release_and_newest(tree):
    d = DebugDir(tree)
    assert d.releases() == [R_OLD, R_NEW]          # 9 < 57 by number, not by text
    assert d.vmlinux() == d.root / "boot" / ("vmlinux-" + R_NEW)
    assert d.vmlinux(R_OLD) == d.root / "boot" / ("vmlinux-" + R_OLD)
    assert d.vmlinux("6.12.1") is None and d.vmlinux("../../etc") is None


def test_vmlinux_under_lib_modules(tmp_path):
    _touch(tmp_path / "lib/modules/6.12.5/vmlinux")
    assert DebugDir(tmp_path).vmlinux() == tmp_path / "lib/modules/6.12.5/vmlinux"


def test_modules_with_dash_or_underscore(tree):
    d = DebugDir(tree)
    assert d.module("hid_generic", R_OLD).name == "hid-generic.ko"
    assert d.module("hid-generic", R_NEW).parts[-5] == R_NEW
    # kernel/ first, then the others (updates/ here)
    assert [p.parts[-2] for p in d.modules(R_NEW)["nf_conntrack"]] == ["netfilter", "dkms"]
    assert d.module("shipped") is None                  # compressed: not a debug file
    assert d.module("missing") is None and d.module("x", "../..") is None


def test_by_build_id(tree):
    assert by_build_id("abcdef0123", [tree]) == tree / "usr/lib/debug/.build-id/ab/cdef0123.debug"
    assert by_build_id(bytes.fromhex("abcdef0123"), [tree / "nowhere", tree]) is not None
    assert by_build_id("ABCDEF0123", [tree]) is not None
    assert by_build_id("ab/../../x", [tree]) is None and by_build_id("ab", [tree]) is None


def test_links_loops_and_devices_in_a_debug_dir(tree):
    # A directory link loop is not walked; a file link counts when it leads to
    # a regular file, not when it loops or leads to a device.
    mods = tree / "usr/lib/debug/lib/modules" / R_NEW
    (mods / "kernel/net/up").symlink_to("../..")
    (mods / "kernel/aaa").mkdir()
    (mods / "kernel/aaa/nf_conntrack.ko").symlink_to("nf_conntrack.ko")      # a loop
    (mods / "kernel/aaa/hid-generic.ko").symlink_to("/dev/zero")
    (mods / "kernel/aaa/linked.ko").symlink_to(mods / "kernel/drivers/hid/hid-generic.ko")
    (tree / "usr/lib/debug/.build-id/cd").mkdir()
    (tree / "usr/lib/debug/.build-id/cd/ef01.debug").symlink_to("ef01.debug")
    d = DebugDir(tree)
    assert d.module("nf_conntrack", R_NEW).parts[-2] == "netfilter"
    assert d.module("hid_generic", R_NEW).parts[-2] == "hid"
    assert d.module("linked", R_NEW) == mods / "kernel/aaa/linked.ko"
    assert sorted(d.modules(R_NEW)) == ["hid_generic", "linked", "nf_conntrack"]
    assert by_build_id("cdef01", [tree]) is None


@pytest.mark.real_kernel
def test_the_debian_dbg_tree(debian_dbg_61):
    d = DebugDir(debian_dbg_61.root)
    assert d.vmlinux() == debian_dbg_61.vmlinux
    for ko in debian_dbg_61.ko_files():
        assert d.module(module_name(ko)) == ko
