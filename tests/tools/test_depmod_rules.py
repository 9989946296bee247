"""pymod.kmod.depmod's rules on synthetic data: resolution, ranking, hashing,
line order, and reading minimal modules (plain, compressed, truncated)."""

from __future__ import annotations

import errno
import gzip
import lzma
import struct

import pytest

from pymod.errors import PymodError
from pymod.kmod.depmod import (
    ModuleSymbols,
    TreeModule,
    all_dependencies,
    dependency_rank,
    kmod_hash,
    line_order,
    modname_of,
    resolve,
    scan_module,
)
from tests.tools.depmod_support import make_ko

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


@pytest.mark.slow
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

