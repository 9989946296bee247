"""Each optional feature's real implementation and its disabled stub."""

from __future__ import annotations

import errno

import pytest

from pymod import Config, Kernel, ModuleLoadError
from pymod.features import debugfs, kallsyms, stats, sysfs, taint_tracking
from pymod.loader.internal import MemType
from pymod.samples import prebuilt_path


def test_choice_is_made_once_from_config():
    on = Kernel(Config(MODULE_STATS=True, MODULE_UNLOAD_TAINT_TRACKING=True)).features
    off = Kernel(Config(SYSFS=False, DEBUG_FS=False, KALLSYMS=False)).features
    assert isinstance(on.stats, stats.Stats) and isinstance(off.stats, stats.Stub)
    assert isinstance(on.taint_tracking, taint_tracking.TaintTracking)
    assert isinstance(off.sysfs, sysfs.Stub) and isinstance(off.debugfs, debugfs.Stub)
    assert isinstance(off.kallsyms, kallsyms.Stub) and isinstance(on.kallsyms, kallsyms.Kallsyms)


def test_sysfs_directory_lives_with_the_module():
    k = Kernel()
    mod = k.load_module(prebuilt_path("pm_exporter"))
    k.load_module(prebuilt_path("pm_importer"))
    d = k.sysfs("pm_exporter")
    assert d["initstate"] == "live" and d["taint"] == "E" and d["refcnt"] == "1"
    assert "holders/pm_importer" in d and d["initsize"] == "0"
    assert int(d["coresize"]) == mod.total_size
    k.delete_module("pm_importer")
    k.delete_module("pm_exporter")
    with pytest.raises(ModuleLoadError) as ei:
        k.sysfs("pm_exporter")
    assert ei.value.errno == errno.ENOENT
    with pytest.raises(ModuleLoadError):
        Kernel(Config(SYSFS=False)).sysfs("anything")


def test_stats_count_loads_and_failures():
    k = Kernel(Config(MODULE_STATS=True))
    k.load_module(prebuilt_path("pm_hello"))
    with pytest.raises(ModuleLoadError):
        k.load_module(prebuilt_path("pm_missing"))
    with pytest.raises(ModuleLoadError):
        k.load_module(prebuilt_path("pm_hello"))
    text = k.debugfs("modules/stats")
    assert "Mods ever loaded\t1\n" in text
    assert "Mods failed on load\t1\n" in text
    assert "Mods failed on becoming\t1\n" in text
    assert "pm_hello" in text.split("Duplicate failed modules:")[1]
    with pytest.raises(ModuleLoadError):
        Kernel().debugfs("modules/stats")      # MODULE_STATS off: no such file


def test_unloaded_tainted_modules_are_remembered():
    k = Kernel(Config(MODULE_UNLOAD_TAINT_TRACKING=True))
    for _ in range(2):
        k.load_module(prebuilt_path("pm_outoftree"))
        k.delete_module("pm_outoftree")
    assert k.debugfs("modules/unloaded_tainted") == \
        "Unloaded tainted modules: pm_outoftree(OE):2"


def test_core_kallsyms_drop_init_symbols():
    k = Kernel()
    mod = k.load_module(prebuilt_path("pm_hello"))
    ks = mod.kallsyms
    core = {ks.name(i) for i in ks.core.tolist()}
    everything = {ks.name(i) for i in range(len(ks.st_name))}
    assert "init_module" in everything and "init_module" not in core
    assert "cleanup_module" in core          # .exit.text stays with MODULE_UNLOAD
    text = mod.mem[MemType.TEXT]
    for i in ks.core.tolist()[1:]:
        assert k.find(int(ks.addrs[i])) is mod or not ks.name(i)
    assert text.size and Kernel(Config(KALLSYMS=False)).load_module(
        prebuilt_path("pm_hello")).kallsyms is None


def test_livepatch_keeps_elf_until_unload():
    k = Kernel()
    mod = k.load_module(prebuilt_path("pm_livepatch"))
    assert mod.klp and mod.klp_info is not None and "K" in mod.taint_letters
    k.delete_module("pm_livepatch")
    assert mod.klp_info is None
