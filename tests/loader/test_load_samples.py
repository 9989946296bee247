"""Every shipped sample against the built-in default kernel, and every error path."""

from __future__ import annotations

import errno

import pytest

from pymod import Config, Kernel, ModuleLoadError
from pymod.contract.internal import MemType, ModuleState
from pymod.samples import SAMPLES, prebuilt_path
from tests.loader.support import assert_consistent, snapshot

GOOD = [s for s in SAMPLES if s.loads]
BAD = [s for s in SAMPLES if not s.loads]

# (sample, errno, stage, exact kernel message) for each refusal kind
REFUSALS = [
    ("pm_ns_noimport", errno.EINVAL, "symbols",
     "pm_ns_noimport: module uses symbol (pm_ns_fn) from namespace PYMOD_TEST, "
     "but does not import it."),
    ("pm_proprietary_gpl", errno.ENOENT, "symbols",
     "pm_proprietary_gpl: Unknown symbol pm_gpl_fn (err -2)"),
    ("pm_wx", errno.ENOEXEC, "strict_rwx", None),
    ("pm_missing", errno.ENOENT, "symbols",
     "pm_missing: Unknown symbol pm_nobody_exports_this (err -2)"),
    ("pm_crc_bad", errno.EINVAL, "symbols",
     "pm_crc_bad: disagrees about version of symbol _printk"),
    ("pm_common", errno.ENOEXEC, "symbols", "pm_common: please compile with -fno-common"),
    ("pm_dup_export", errno.ENOEXEC, "exports",
     "pm_dup_export: exports duplicate symbol pm_shared_fn (owned by pm_exporter)"),
    ("pm_badmagic", errno.ENOEXEC, "vermagic",
     "pm_badmagic: version magic '6.12.0-pymod-amd64 SMP preempt_rt mod_unload modversions ' "
     "should be '6.12.0-pymod-amd64 SMP preempt mod_unload modversions '"),
    ("pm_badstruct", errno.ENOEXEC, "elf",
     "module pm_badstruct: .gnu.linkonce.this_module section size must match the kernel's "
     "built struct module size at run time"),
    ("pm_oldlayout", errno.ENOEXEC, "modversions",
     "pm_oldlayout: disagrees about version of symbol module_layout"),
]


def _with_requires(k: Kernel, name: str) -> None:
    for dep in next(s for s in SAMPLES if s.name == name).requires:
        if k.module(dep) is None:
            k.load_module(prebuilt_path(dep))


def test_every_refusal_kind_is_listed():
    assert sorted(r[0] for r in REFUSALS) == sorted(s.name for s in BAD)


@pytest.mark.parametrize("sample", GOOD, ids=lambda s: s.name)
def test_good_samples_load_and_unload(sample):
    k = Kernel()
    _with_requires(k, sample.name)
    before = snapshot(k)
    mod = k.load_module(prebuilt_path(sample.name))
    assert mod.state == ModuleState.LIVE
    assert set(sample.taint) <= set(mod.taint_letters)
    assert "E" in mod.taint_letters          # unsigned: MODULE_SIG on, not enforced
    assert all(mod.mem[t].size == 0 for t in MemType if t.is_init)
    assert mod.mem[MemType.TEXT].size % 4096 == 0
    assert_consistent(k)
    k.delete_module(mod.name)
    assert snapshot(k) == before
    assert_consistent(k)


@pytest.mark.parametrize("name,code,stage,message", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_refusals_leave_nothing_behind(name, code, stage, message):
    k = Kernel()
    _with_requires(k, name)
    before = snapshot(k)
    with pytest.raises(ModuleLoadError) as ei:
        k.load_module(prebuilt_path(name))
    e = ei.value
    assert (e.errno, e.stage) == (code, stage)
    assert e.module == name
    if message is not None:
        assert e.strerror == message
        assert message in k.log.text()
    assert snapshot(k) == before
    assert_consistent(k)


def test_wx_message_names_section_and_index():
    k = Kernel()
    with pytest.raises(ModuleLoadError) as ei:
        k.load_module(prebuilt_path("pm_wx"))
    from pymod.elf.kofile import read_ko
    elf = read_ko(prebuilt_path("pm_wx")).elf
    wx = [s for s in elf.sections if s.flags & 0x5 == 0x5]
    assert ei.value.strerror == ("pm_wx: section %s (index %d) has invalid WRITE|EXEC flags"
                                 % (wx[0].name, wx[0].index))


def test_duplicate_load_is_eexist_and_changes_nothing():
    k = Kernel()
    k.load_module(prebuilt_path("pm_hello"))
    before = snapshot(k)
    with pytest.raises(ModuleLoadError) as ei:
        k.load_module(prebuilt_path("pm_hello"))
    assert ei.value.errno == errno.EEXIST and ei.value.stage == "duplicate"
    assert snapshot(k) == before


def test_failing_init_unwinds_holders_and_exports():
    k = Kernel()
    k.load_module(prebuilt_path("pm_exporter"))
    before = snapshot(k)
    with pytest.raises(ModuleLoadError) as ei:
        k.load_module(prebuilt_path("pm_importer"), init_result=-errno.ENODEV)
    assert (ei.value.errno, ei.value.stage) == (errno.ENODEV, "init")
    assert snapshot(k) == before
    assert k.module("pm_exporter").refcount == 0
    assert_consistent(k)


def test_holders_block_unload_until_user_goes():
    k = Kernel()
    k.load_module(prebuilt_path("pm_exporter"))
    k.load_module(prebuilt_path("pm_importer"))
    assert "pm_exporter 12288 1 pm_importer, Live" in k.proc_modules() or \
        " 1 pm_importer, Live " in k.proc_modules()
    with pytest.raises(ModuleLoadError) as ei:
        k.delete_module("pm_exporter")
    assert ei.value.errno == errno.EWOULDBLOCK
    with pytest.raises(ModuleLoadError) as ei:
        k.delete_module("pm_exporter", force=True)   # holders win even over force
    assert ei.value.errno == errno.EWOULDBLOCK
    k.delete_module("pm_importer")
    k.delete_module("pm_exporter")
    assert k.modules == [] and k.area.allocated == {} and len(k.features.tree) == 0


def test_unload_errors():
    k = Kernel()
    with pytest.raises(ModuleLoadError) as ei:
        k.delete_module("nope")
    assert ei.value.errno == errno.ENOENT
    k.load_module(prebuilt_path("pm_hello"))
    assert k.try_module_get("pm_hello")
    with pytest.raises(ModuleLoadError) as ei:
        k.delete_module("pm_hello")
    assert ei.value.errno == errno.EWOULDBLOCK
    assert "R" not in k.tainted
    k.delete_module("pm_hello", force=True)
    assert "R" in k.tainted and k.module("pm_hello") is None


def test_unload_needs_force_unload_config():
    k = Kernel(Config(MODULE_FORCE_UNLOAD=False))
    k.load_module(prebuilt_path("pm_hello"))
    k.try_module_get("pm_hello")
    with pytest.raises(ModuleLoadError) as ei:
        k.delete_module("pm_hello", force=True)
    assert ei.value.errno == errno.EWOULDBLOCK


def test_addresses_are_reused_after_unload():
    k = Kernel()
    first = k.load_module(prebuilt_path("pm_hello")).mem[MemType.TEXT].base
    k.delete_module("pm_hello")
    again = k.load_module(prebuilt_path("pm_hello")).mem[MemType.TEXT].base
    assert again == first == 0xFFFFFFFFC0000000


def test_find_and_within_module():
    k = Kernel()
    a = k.load_module(prebuilt_path("pm_hello"))
    b = k.load_module(prebuilt_path("pm_weak"))
    for mod in (a, b):
        for base, size in mod.regions().values():
            assert k.find(base) is mod and k.within_module(base + size - 1, mod)
    text_a = a.mem[MemType.TEXT]
    assert k.find(text_a.base + text_a.size) is not a   # the guard page belongs to nobody
    assert k.find(0x1000) is None
    assert not k.within_module(b.mem[MemType.TEXT].base, a)


@pytest.mark.parametrize("strategy_flag", [True, False])
def test_tree_and_list_lookup_agree(strategy_flag):
    k = Kernel(Config(MODULES_TREE_LOOKUP=strategy_flag))
    assert k.features.tree.strategy == ("tree" if strategy_flag else "list")
    mods = [k.load_module(prebuilt_path(n)) for n in ("pm_hello", "pm_weak", "pm_noinit")]
    for m in mods:
        assert k.find(m.mem[MemType.TEXT].base) is m


def test_proc_modules_format():
    k = Kernel()
    k.load_module(prebuilt_path("pm_exporter"))
    k.load_module(prebuilt_path("pm_importer"))
    k.load_module(prebuilt_path("pm_proprietary"))
    lines = k.proc_modules().splitlines()
    assert [ln.split()[0] for ln in lines] == ["pm_proprietary", "pm_importer", "pm_exporter"]
    exp = lines[2].split(" ")
    m = k.module("pm_exporter")
    assert exp == ["pm_exporter", str(m.total_size), "2", "pm_proprietary,pm_importer,", "Live",
                   "0x%016x" % m.mem[MemType.TEXT].base, "(E)"]
    assert lines[0].endswith(" (PE)")


def test_kernel_taint_letters_in_order():
    k = Kernel()
    for n in ("pm_outoftree", "pm_nomagic", "pm_livepatch", "pm_exporter", "pm_proprietary"):
        k.load_module(prebuilt_path(n))
    assert k.tainted == "PFOEK"

