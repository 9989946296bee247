"""pymod.kmod.depmod on synthetic data: the ordering/resolution rules and tiny trees.

The trees are made of minimal ELF64 relocatable images written here (a
symbol table with ``__crc_`` exports and undefined needs, optionally
``__versions`` and ``__ksymtab_strings``).  When kmod's ``depmod`` is
installed, the same trees are also checked against it.
"""

from __future__ import annotations

import errno
import gzip
import io
import lzma
import os
import shutil
import struct
import subprocess
from collections.abc import Sequence
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from pymod.errors import PymodError
from pymod.kmod.depmod import (
    ModuleSymbols,
    TreeModule,
    all_dependencies,
    build_deps,
    dependency_rank,
    find_modules,
    format_modules_dep,
    kmod_hash,
    line_order,
    load_order,
    modname_of,
    resolve,
    scan_module,
)
from pymod.tools.deps import main

DEPMOD = shutil.which("depmod") or next(
    (p for p in ("/sbin/depmod", "/usr/sbin/depmod") if os.path.exists(p)), None)
RELEASE = "6.12.0-pymod-test"


# --------------------------------------------------------------------------
# A minimal ELF64 relocatable image (test data, not a reader)
_Section = tuple[str, int, bytes, int, int, int]  # name, type, data, link, info, entsize


def make_ko(exports: Sequence[str] = (), needs: Sequence[str] = (), weak: Sequence[str] = (),
            versions: Sequence[str] | None = None,
            ksymtab_strings: Sequence[str] | None = None) -> bytes:
    """An ET_REL x86-64 image exporting ``exports`` (as ``__crc_`` symbols) and
    needing ``needs`` then ``weak`` (undefined, in that symbol-table order)."""
    sections: list[_Section] = []

    def add(name: str, typ: int, data: bytes, link: int = 0, info: int = 0,
            entsize: int = 0) -> int:
        sections.append((name, typ, data, link, info, entsize))
        return len(sections)  # index counting the null section

    text = add(".text", 1, b"\xc3" * 16)
    kcrc = add("__kcrctab", 1, b"".join(struct.pack("<I", 0x1000 + i) for i in range(len(exports))))
    if ksymtab_strings is not None:
        add("__ksymtab_strings", 1, b"".join(s.encode() + b"\0" for s in ksymtab_strings))
    if versions is not None:
        add("__versions", 1, b"".join(struct.pack("<Q56s", 0xABC, v.encode()) for v in versions))

    strtab = bytearray(b"\0")
    syms = [struct.pack("<IBBHQQ", 0, 0, 0, 0, 0, 0)]

    def sym(name: str, bind: int, typ: int, shndx: int, value: int = 0) -> None:
        syms.append(struct.pack("<IBBHQQ", len(strtab), bind << 4 | typ, 0, shndx, value, 0))
        strtab.extend(name.encode() + b"\0")

    for i, name in enumerate(exports):
        sym("__crc_" + name, 1, 0, kcrc, 4 * i)
        sym(name, 1, 2, text, 0)
    for name in needs:
        sym(name, 1, 0, 0)
    for name in weak:
        sym(name, 2, 0, 0)
    symtab_index = len(sections) + 1
    add(".symtab", 2, b"".join(syms), link=symtab_index + 1, info=1, entsize=24)
    add(".strtab", 3, bytes(strtab))
    shstr = bytearray(b"\0")
    name_offsets = []
    for s in sections + [(".shstrtab",)]:
        name_offsets.append(len(shstr))
        shstr.extend(s[0].encode() + b"\0")
    sections.append((".shstrtab", 3, bytes(shstr), 0, 0, 0))

    body = bytearray(64)
    headers = [b"\0" * 64]
    for (_, typ, data, link, info, entsize), noff in zip(sections, name_offsets, strict=True):
        while len(body) % 8:
            body.append(0)
        headers.append(struct.pack("<IIQQQQIIQQ", noff, typ, 0, 0, len(body), len(data),
                                   link, info, 8 if typ != 3 else 1, entsize))
        body.extend(data)
    while len(body) % 8:
        body.append(0)
    shoff = len(body)
    body.extend(b"".join(headers))
    ident = b"\x7fELF\x02\x01\x01" + b"\0" * 9
    body[:64] = struct.pack("<16sHHIQQQIHHHHHH", ident, 1, 62, 1, 0, 0, shoff, 0, 64, 0, 0,
                            64, len(headers), len(headers) - 1)
    return bytes(body)


def write_tree(root: Path, modules: dict[str, bytes], order: list[str] | None) -> Path:
    top = root / "lib" / "modules" / RELEASE
    for rel, data in modules.items():
        p = top / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith(".xz"):
            data = lzma.compress(data, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32)
        elif rel.endswith(".gz"):
            data = gzip.compress(data)
        p.write_bytes(data)
    top.mkdir(parents=True, exist_ok=True)
    if order is not None:
        (top / "modules.order").write_text("".join(o + "\n" for o in order))
    return top


def depmod_reference(base: Path) -> list[str]:
    """modules.dep as kmod's depmod prints it for ``base`` (``-n``: nothing written)."""
    out = subprocess.run([DEPMOD, "-n", "-b", str(base), RELEASE], check=True,
                         capture_output=True, text=True).stdout
    lines = []
    for line in out.splitlines():
        if line.startswith("#"):
            break
        lines.append(line)
    return lines


# --------------------------------------------------------------------------
# Rules on plain data

def syms(exports=(), needs=()) -> ModuleSymbols:
    return ModuleSymbols(tuple(exports), tuple((n, False) for n in needs))


def test_modname_normalises_like_kmod():
    assert modname_of("kernel/net/nf-nat.ko.xz") == "nf_nat"
    assert modname_of("a-b.c.ko") == "a_b"
    assert modname_of("x.ko") == "x"


def test_resolve_first_need_order_and_unknown_symbols():
    mods = [syms(needs=["printk", "c_fn", "b_fn", "c_other", "b_fn"]),
            syms(exports=["b_fn"]),
            syms(exports=["c_fn", "c_other"])]
    # printk belongs to vmlinux (no module): no dependency; repeats count once
    assert resolve(mods) == [[2, 1], [], []]


def test_resolve_later_exporter_wins():
    mods = [syms(exports=["dup"]), syms(needs=["dup"]), syms(exports=["dup"])]
    assert resolve(mods)[1] == [2]


def test_weak_needs_still_make_dependencies():
    mods = [ModuleSymbols((), (("opt", True),)), syms(exports=["opt"])]
    assert resolve(mods) == [[1], []]


def test_rank_takes_last_pushed_root_first():
    # 0 -> [1, 2]; 1 -> [3]; 2 -> [3].  Stack: pop 0, push 1, 2; pop 2 (3 still
    # used by 1); pop 1, push 3; pop 3.
    direct = [[1, 2], [3], [3], []]
    rank = dependency_rank(direct)
    assert rank == [0, 2, 1, 3]
    assert all_dependencies(direct, rank) == [[2, 1, 3], [3], [3], []]


def test_rank_two_roots():
    # Roots 0 and 1 are pushed in order; 1 is taken first.
    direct = [[2], [2], []]
    assert dependency_rank(direct) == [1, 0, 2]


def test_cycle_is_an_error_naming_the_modules():
    with pytest.raises(PymodError) as ei:
        dependency_rank([[1], [2], [1], []], ["a.ko", "b.ko", "c.ko", "d.ko"])
    assert ei.value.errno == errno.ELOOP
    assert "2 modules cannot be ordered" in ei.value.strerror
    assert "b.ko" in ei.value.strerror and "c.ko" in ei.value.strerror
    assert "a.ko" not in ei.value.strerror


def test_deep_chain_does_not_hit_recursion_limit():
    n = 5000
    direct = [[i + 1] for i in range(n - 1)] + [[]]
    deps = all_dependencies(direct, dependency_rank(direct))
    assert deps[0] == list(range(1, n))


def test_hash_is_32_bit_and_separates_every_tail_length():
    # Each tail length (0-3 bytes past the 4-byte blocks) takes its own path.
    values = {kmod_hash(k) for k in (b"", b"a", b"ab", b"abc", b"abcd", b"abce")}
    assert len(values) == 6
    assert all(0 <= v < 2 ** 32 for v in values)


# Names in the order Debian's depmod 30 listed them for a tree without
# modules.order (its hash order); a subset keeps depmod's relative order.
DEPMOD_HASH_ORDER = ["fat", "nic7018_wdt", "amplc_pci224", "aegis128_aesni", "nls_cp437", "kvm"]


def test_line_order_follows_modules_order_then_hash():
    mods = [TreeModule(n, "kernel/%s.ko" % n, "/x/kernel/%s.ko" % n)
            for n in reversed(DEPMOD_HASH_ORDER)]
    assert [m.name for m in line_order(mods, None)] == DEPMOD_HASH_ORDER
    order = "kernel/kvm.ko\nkernel/fat.ko\nkernel/absent.ko\n"
    got = [m.name for m in line_order(mods, order)]
    assert got[:2] == ["kvm", "fat"]
    assert got[2:] == [n for n in DEPMOD_HASH_ORDER if n not in ("kvm", "fat")]


def test_corrupt_modules_order_is_ignored():
    mods = [TreeModule(n, "kernel/%s.ko" % n, "") for n in DEPMOD_HASH_ORDER]
    assert [m.name for m in line_order(mods, "kernel/kvm.ko")] == DEPMOD_HASH_ORDER


def test_modules_order_matches_compressed_files_by_ko_path():
    mods = [TreeModule("kvm", "kernel/kvm.ko.xz", ""), TreeModule("fat", "kernel/fat.ko.zst", "")]
    assert [m.name for m in line_order(mods, "kernel/kvm.ko\nkernel/fat.ko\n")] == ["kvm", "fat"]


# --------------------------------------------------------------------------
# Reading modules

def test_scan_reads_crc_exports_and_needs_in_symtab_order(tmp_path):
    p = tmp_path / "m.ko"
    p.write_bytes(make_ko(exports=["e1", "e2"], needs=["zeta", "alpha"], weak=["maybe"],
                          versions=["module_layout", "alpha", "zeta", "alpha"]))
    s = scan_module(str(p))
    assert sorted(s.exports) == ["e1", "e2"]
    # undefined symbols in table order, then unclaimed __versions entries
    assert s.needs == (("zeta", False), ("alpha", False), ("maybe", True),
                       ("module_layout", False), ("alpha", False))


def test_scan_finds_crc_names_sharing_a_string_tail(tmp_path):
    # strtab "\0__crc__crc_x\0_crc_x\0": point the "_crc_x" symbol 5 bytes
    # into the first string, so that it reads "__crc_x", an overlapping match.
    image = bytearray(make_ko(exports=["_crc_x"]))
    entry = struct.pack("<IB", len("\0__crc__crc_x\0"), 1 << 4 | 2)
    at = image.find(entry)
    assert at > 0 and image.find(entry, at + 1) < 0
    image[at:at + 4] = struct.pack("<I", 1 + 5)
    p = tmp_path / "m.ko"
    p.write_bytes(bytes(image))
    assert sorted(scan_module(str(p)).exports) == ["_crc_x", "x"]


def test_scan_falls_back_to_ksymtab_strings(tmp_path):
    p = tmp_path / "m.ko"
    p.write_bytes(make_ko(needs=["x"], ksymtab_strings=["s1", "NS", "s2"]))
    assert scan_module(str(p)).exports == ("s1", "NS", "s2")


def test_scan_of_compressed_module_equals_plain(tmp_path):
    data = make_ko(exports=["e"], needs=["n"])
    (tmp_path / "a.ko").write_bytes(data)
    (tmp_path / "a.ko.xz").write_bytes(lzma.compress(data))
    (tmp_path / "a.ko.gz").write_bytes(gzip.compress(data))
    plain = scan_module(str(tmp_path / "a.ko"))
    assert plain.exports == ("e",)
    assert scan_module(str(tmp_path / "a.ko.xz")) == plain
    assert scan_module(str(tmp_path / "a.ko.gz")) == plain


# --------------------------------------------------------------------------
# Whole trees

def sample_tree() -> tuple[dict[str, bytes], list[str]]:
    mods = {
        "kernel/drivers/top.ko.xz": make_ko(needs=["mid_fn", "lib_fn", "printk"]),
        "kernel/drivers/mid.ko": make_ko(exports=["mid_fn"], needs=["lib_fn", "base_fn"]),
        "kernel/lib/lib.ko": make_ko(exports=["lib_fn"], needs=["base_fn"]),
        "kernel/lib/base.ko": make_ko(exports=["base_fn"]),
        "kernel/lib/side-car.ko": make_ko(needs=["opt_fn"], weak=["base_fn"]),
        "kernel/extra/unlisted.ko": make_ko(needs=["mid_fn"]),
        "kernel/extra/dup.ko": make_ko(exports=["opt_fn"]),
        "updates/dup.ko": make_ko(exports=["opt_fn"], needs=["lib_fn"]),
        "kernel/twice/first.ko": make_ko(exports=["shared_fn"]),
        "kernel/twice/second.ko": make_ko(exports=["shared_fn"]),
        "kernel/twice/user.ko": make_ko(needs=["shared_fn"]),
        "build/ignored.ko": make_ko(),
        "kernel/lib/readme.txt": b"not a module",
    }
    order = ["kernel/lib/base.ko", "kernel/lib/lib.ko", "kernel/drivers/mid.ko",
             "kernel/drivers/top.ko", "kernel/lib/side-car.ko", "kernel/extra/dup.ko",
             "kernel/twice/first.ko", "kernel/twice/second.ko", "kernel/twice/user.ko"]
    return mods, order


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


def test_truncated_modules_fail_cleanly(tmp_path):
    data = make_ko(exports=["e"], needs=["n"], versions=["module_layout", "n"])
    p = tmp_path / "t.ko"
    outcomes = set()
    for cut in range(0, len(data), 5):
        p.write_bytes(data[:cut])
        try:
            scan_module(str(p))
            outcomes.add("read")
        except PymodError:
            outcomes.add("error")
    # nothing but PymodError escaped; the cut header table makes every cut fail
    assert outcomes == {"error"}


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
