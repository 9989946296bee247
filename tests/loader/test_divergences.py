"""Places where pymod used to differ from 6.12, each pinned: the licence
messages, the retpoline warning, do_init_module's warning and failure path,
the stats counters and file, __versions' first match and CRC width."""

from __future__ import annotations

import errno
import struct

import pytest

from pymod import MODULE_INIT_IGNORE_VERMAGIC, Config, Kernel, ModuleLoadError
from pymod.contract.internal import MemType
from pymod.loader import queries
from pymod.samples import prebuilt_path
from tests.loader.support import (
    OnComing,
    assert_consistent,
    rename_sections,
    sample_bytes,
    snapshot,
)
from tests.loader.test_params import refused as params_refused

HELLO = sample_bytes("pm_hello")


def _modinfo_replaced(image: bytes, old: bytes, new: bytes) -> bytes:
    assert len(old) == len(new) and image.count(old) == 1
    return image.replace(old, new)


def test_proprietary_licence_warns_twice_the_first_time_only():
    k = Kernel()
    k.load_module(prebuilt_path("pm_exporter"))
    k.load_module(prebuilt_path("pm_proprietary"))
    warns = [m for lv, m in k.log.lines if "licen" in m]
    assert warns == ["pm_proprietary: module license 'Proprietary' taints kernel.",
                     "pm_proprietary: module license taints kernel."]


def test_empty_licence_stays_empty():
    image = _modinfo_replaced(HELLO, b"license=GPL\0", b"license=\0\0\0\0")
    k = Kernel()
    mod = k.load_module(image)
    assert "P" in mod.taint_letters
    assert ("warn", "pm_hello: module license '' taints kernel.") in k.log.lines


def test_retpoline_warning_needs_the_mitigation():
    image = _modinfo_replaced(HELLO, b"retpoline=Y\0", b"xetpoline=Y\0")
    k = Kernel()
    k.load_module(image)
    i = k.log.lines.index(("err", "Spectre V2 : System may be vulnerable to spectre v2"))
    assert k.log.lines[i + 1] == ("warn", "pm_hello: loading module not compiled with "
                                          "retpoline compiler.")
    for config in (Config(MITIGATION_RETPOLINE=False), Config(spectre_v2_mitigation=False)):
        k = Kernel(config)
        k.load_module(image)
        assert not [m for _, m in k.log.lines if "retpoline" in m or "spectre" in m]


def test_suspicious_init_return_has_both_lines():
    k = Kernel()
    k.load_module(prebuilt_path("pm_hello"), init_result=5)
    assert k.log.text().endswith(
        "do_init_module: 'pm_hello'->init suspiciously returned 5, it should follow 0/-E "
        "convention\ndo_init_module: loading module anyway...\n")


def test_failed_init_goes_through_free_module():
    k = Kernel(Config(MODULE_STATS=True, MODULE_UNLOAD_TAINT_TRACKING=True))
    before = snapshot(k)
    with pytest.raises(ModuleLoadError) as ei:
        k.load_module(prebuilt_path("pm_outoftree"), init_result=-errno.ENODEV)
    assert (ei.value.errno, ei.value.stage) == (errno.ENODEV, "init")
    assert snapshot(k) == before
    assert_consistent(k)
    assert queries.debugfs(k, "modules/unloaded_tainted") == "pm_outoftree (OE) 1\n"
    stats = k.features.stats.values
    assert stats["failed_load_modules"] == 0 and stats["failed_becoming"] == 0


def test_stats_count_sizes_before_init_memory_goes():
    k = Kernel(Config(MODULE_STATS=True))
    mod = k.load_module(prebuilt_path("pm_hello"))      # its code is all init/exit text
    stats = k.features.stats.values
    assert stats["total_mod_size"] > mod.total_size
    assert stats["total_text_size"] > 0


def test_stats_file_has_every_line():
    k = Kernel(Config(MODULE_STATS=True))
    k.load_module(prebuilt_path("pm_hello"))
    for _ in range(2):
        with pytest.raises(ModuleLoadError):
            k.load_module(prebuilt_path("pm_hello"))         # already loaded: EEXIST
    text = queries.debugfs(k, "modules/stats")
    lines = text.splitlines()
    labels = [line.split("\t")[0].strip() for line in lines]
    assert labels[:12] == ["Mods ever loaded", "Mods failed on kread",
                           "Mods failed on decompress", "Mods failed on becoming",
                           "Mods failed on load", "Total module size", "Total mod text size",
                           "Failed kread bytes", "Failed decompress bytes",
                           "Failed becoming bytes", "Failed kmod bytes",
                           "Virtual mem wasted bytes"]
    assert "Average mod size" in labels and "Avg fail becoming bytes" in labels
    assert lines[-3:] == ["Duplicate failed modules:",
                          "%25s\t%15s\t%25s" % ("Module-name", "How-many-times", "Reason"),
                          "%25s\t%15u\t%25s" % ("pm_hello", 2, "Becoming")]


def test_failed_move_module_counts_as_becoming():
    k = Kernel(Config(MODULE_STATS=True))
    k.area.end = k.area.start + 4096 * 3                    # room for almost nothing
    k.area._free_ends = [k.area.end]
    before = snapshot(k)
    with pytest.raises(ModuleLoadError) as ei:
        k.load_module(prebuilt_path("pm_params"))
    assert ei.value.errno == errno.ENOMEM and snapshot(k) == before
    stats = k.features.stats.values
    assert (stats["failed_becoming"], stats["failed_load_modules"]) == (1, 0)


def _with_versions(image: bytes, first: tuple[int, bytes]) -> bytes:
    """``image`` whose __versions gains ``first`` (crc, name) in front: the
    new table is appended to the file and the section header points at it."""
    import io

    from elftools.elf.elffile import ELFFile

    elf = ELFFile(io.BytesIO(image))
    index = elf.get_section_index("__versions")
    sec = elf.get_section(index)
    body = struct.pack("<Q56s", *first) + sec.data()
    shdr = elf["e_shoff"] + index * elf["e_shentsize"]
    out = bytearray(image)
    struct.pack_into("<QQ", out, shdr + 0x18, len(image), len(body))
    return bytes(out) + body


def _printk_crc(image: bytes) -> int:
    import io

    from elftools.elf.elffile import ELFFile

    data = ELFFile(io.BytesIO(image)).get_section_by_name("__versions").data()
    for o in range(0, len(data), 64):
        if data[o + 8:o + 16] == b"_printk\0":
            return struct.unpack_from("<Q", data, o)[0]
    raise AssertionError("no _printk entry")


def test_versions_first_match_wins_and_crcs_are_unsigned_long():
    right = _printk_crc(HELLO)
    with pytest.raises(ModuleLoadError) as ei:        # a wrong CRC first decides
        Kernel().load_module(_with_versions(HELLO, (right ^ 1, b"_printk")))
    assert ei.value.strerror == "pm_hello: disagrees about version of symbol _printk"
    with pytest.raises(ModuleLoadError) as ei:        # the upper half of an unsigned long
        Kernel().load_module(_with_versions(HELLO, (right | 1 << 32, b"_printk")))
    assert ei.value.strerror == "pm_hello: disagrees about version of symbol _printk"
    assert Kernel().load_module(_with_versions(HELLO, (right, b"_printk"))).name == "pm_hello"


def test_rename_helper_keeps_the_image_loadable():
    assert Kernel().load_module(rename_sections(HELLO, {})).name == "pm_hello"


def test_params_failure_after_coming_leaves_nothing():
    e, k = params_refused("count=x")
    assert e.stage == "params"


def test_sysfs_files_follow_the_config():
    def files(config: Config) -> dict[str, str]:
        k = Kernel(config)
        k.load_module(prebuilt_path("pm_params"), flags=MODULE_INIT_IGNORE_VERMAGIC)
        return queries.sysfs(k, "pm_params")

    full = files(Config())
    assert "refcnt" in full and "datasize" not in full
    assert {".init.text", ".symtab", ".strtab"} <= {n.split("/", 1)[1] for n in full
                                                    if n.startswith("sections/")}
    assert "refcnt" not in files(Config(MODULE_UNLOAD=False, MODULE_FORCE_UNLOAD=False))
    assert not [n for n in files(Config(KALLSYMS=False, KALLSYMS_ALL=False))
                if n.startswith("sections/")]
    apart = files(Config(ARCH_WANTS_MODULES_DATA_IN_VMALLOC=True))
    assert int(apart["coresize"]) + int(apart["datasize"]) == int(full["coresize"])


def test_lockdown_refuses_unsigned_modules_unless_enforcement_refuses_first():
    k = Kernel(lockdown=True)
    before = snapshot(k)
    with pytest.raises(ModuleLoadError) as ei:
        k.load_module(prebuilt_path("pm_hello"))
    assert ei.value.errno == errno.EPERM and snapshot(k) == before
    assert k.log.lines[-1] == ("notice", "Lockdown: insmod: unsigned module loading is "
                                         "restricted; see man kernel_lockdown.7")
    k = Kernel(lockdown=True, sig_enforce=True)
    with pytest.raises(ModuleLoadError) as ei:
        k.load_module(prebuilt_path("pm_hello"))
    assert ei.value.errno == errno.EKEYREJECTED
    # without MODULE_SIG there is no signature check, and so no lockdown check
    assert Kernel(Config(MODULE_SIG=False), lockdown=True).load_module(
        prebuilt_path("pm_hello")).name == "pm_hello"


def test_try_module_get_works_during_init():
    k = Kernel()
    got = {}
    watch = OnComing(k, lambda mod: got.update(coming=k.try_module_get(mod.name)))
    mod = k.load_module(prebuilt_path("pm_hello"))
    assert got["coming"] and mod.refcount == 1 and watch


def test_no_section_headers_takes_the_kernels_path():
    image = bytearray(HELLO)
    struct.pack_into("<H", image, 0x3C, 0)                  # e_shnum = 0
    with pytest.raises(ModuleLoadError) as ei:
        Kernel().load_module(bytes(image))
    assert ei.value.strerror.startswith("Invalid ELF section name index: ")
    assert ei.value.strerror.endswith(">= e_shnum (0)")


EXPORTER = sample_bytes("pm_exporter")


def _rela_entry_offset(image: bytes, section: str, index: int) -> int:
    import io

    from elftools.elf.elffile import ELFFile

    return ELFFile(io.BytesIO(image)).get_section_by_name(section)["sh_offset"] + 24 * index


def test_a_name_exported_twice_by_one_module_is_not_refused():
    """Entry 1 of __ksymtab renamed to entry 0's name (its name and namespace
    relocations point at entry 0's strings): the kernel checks duplicates
    against formed modules only, so this loads; the first entry answers."""
    image = bytearray(EXPORTER)
    first_name = EXPORTER[_rela_entry_offset(EXPORTER, ".rela__ksymtab", 1):][:24]
    first_ns = EXPORTER[_rela_entry_offset(EXPORTER, ".rela__ksymtab", 2):][:24]
    for index, src in ((4, first_name), (5, first_ns)):
        at = _rela_entry_offset(EXPORTER, ".rela__ksymtab", index)
        r_offset = struct.unpack_from("<Q", image, at)[0]
        image[at:at + 24] = struct.pack("<Q", r_offset) + src[8:24]
    k = Kernel()
    mod = k.load_module(bytes(image))
    names = [s.name for s in mod.syms]
    assert names.count("pm_ns_fn") == 2 and "pm_shared_fn" not in names
    assert k.symbols.find_symbol("pm_ns_fn") is mod.syms[names.index("pm_ns_fn")]


def test_missing_crcs_are_decided_per_table():
    # no __kcrctab_gpl: the GPL table lacks versions -> forced load, taint F
    k = Kernel()
    mod = k.load_module(rename_sections(EXPORTER, {"__kcrctab_gpl": "__kcrctab_xyz"}))
    assert "F" in mod.taint_letters
    assert any("no versions for exported symbols" in m for _, m in k.log.lines)
    # one export without its __crc_ symbol, the table still there: no force
    image = EXPORTER.replace(b"__crc_pm_shared_fn\0", b"__crX_pm_shared_fn\0")
    assert image != EXPORTER
    mod = Kernel().load_module(image)
    assert "F" not in mod.taint_letters


def test_reader_refusals_say_they_are_pymods():
    image = bytearray(EXPORTER)
    at = _rela_entry_offset(EXPORTER, ".rela__ksymtab", 1)     # entry 0's name relocation
    struct.pack_into("<Q", image, at, 0x44)                     # now it relocates nothing
    with pytest.raises(ModuleLoadError) as ei:
        Kernel().load_module(bytes(image))
    assert ei.value.errno == errno.ENOEXEC and ei.value.strerror.endswith("(pymod's own check)")


def test_module_hash_blacklist():
    """mod_is_hash_blacklisted: sha256 of the whole signed file; the kernel
    asks only after a signature verified (verification: issue 10)."""
    import hashlib

    whole = sample_bytes("pm_hello")
    k = Kernel(blacklisted_hashes=frozenset({hashlib.sha256(whole).digest()}))
    assert k.features.sig.mod_is_hash_blacklisted(whole) == errno.EKEYREJECTED
    assert k.log.lines[-1] == ("err", "Module hash %s is blacklisted"
                               % hashlib.sha256(whole).hexdigest())
    assert k.features.sig.mod_is_hash_blacklisted(whole + b"x") == 0


def _signed(image: bytes, struct_bytes: bytes, sig: bytes = b"\x30\x00") -> bytes:
    return image + sig + struct_bytes + b"~Module signature appended~\n"


def test_nonzero_signature_params_are_logged_with_ebadmsg():
    bad = _signed(HELLO, struct.pack(">BBBBB3xI", 1, 0, 2, 0, 0, 2))       # algo != 0
    k = Kernel()
    with pytest.raises(ModuleLoadError) as ei:
        k.load_module(bad)
    assert ei.value.errno == errno.EBADMSG
    assert k.log.lines[-1] == ("err", "module: PKCS#7 signature info has unexpected "
                                      "non-zero params")
    pad = _signed(HELLO, struct.pack(">BBBBB3sI", 0, 0, 2, 0, 0, b"\0\1\0", 2))
    with pytest.raises(ModuleLoadError) as ei:
        Kernel().load_module(pad)
    assert ei.value.errno == errno.EBADMSG


def test_modstruct_refusal_without_message_borrows_none():
    """No __versions and no forced loading: check_modstruct_version refuses
    silently, and the error does not quote an earlier log line."""
    image = rename_sections(HELLO, {"__versions": "__versionz"})
    k = Kernel(Config(MODULE_FORCE_LOAD=False))
    k.log.pr_warn("an unrelated earlier line")
    with pytest.raises(ModuleLoadError) as ei:
        k.load_module(image)
    assert ei.value.errno == errno.ENOEXEC
    assert "earlier" not in ei.value.strerror and "the kernel logs nothing" in ei.value.strerror
    assert [m for _, m in k.log.lines if "module_layout" in m] == []


def test_livepatch_keeps_every_symbol_in_core_kallsyms():
    k = Kernel()
    lp = k.load_module(prebuilt_path("pm_livepatch"))
    k2 = Kernel()
    plain = k2.load_module(prebuilt_path("pm_hello"))
    assert len(lp.kallsyms.core) > len(plain.kallsyms.core)
    assert len(lp.kallsyms.core) == len(lp.kallsyms.addrs)
    assert lp.mem[MemType.DATA].size >= plain.mem[MemType.DATA].size
