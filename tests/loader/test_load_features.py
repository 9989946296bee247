"""Each optional feature's real implementation and its disabled stub."""

from __future__ import annotations

import errno

import pytest

from pymod import Config, Kernel, ModuleLoadError
from pymod.contract.internal import MemType
from pymod.features import debugfs, kallsyms, stats, sysfs, taint_tracking
from pymod.loader import queries
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
    d = queries.sysfs(k, "pm_exporter")
    assert d["initstate"] == "live" and d["taint"] == "E" and d["refcnt"] == "1"
    assert "holders/pm_importer" in d and d["initsize"] == "0"
    assert int(d["coresize"]) == mod.total_size
    k.delete_module("pm_importer")
    k.delete_module("pm_exporter")
    with pytest.raises(ModuleLoadError) as ei:
        queries.sysfs(k, "pm_exporter")
    assert ei.value.errno == errno.ENOENT
    with pytest.raises(ModuleLoadError):
        queries.sysfs(Kernel(Config(SYSFS=False)), "anything")


def test_stats_count_loads_and_failures():
    k = Kernel(Config(MODULE_STATS=True))
    k.load_module(prebuilt_path("pm_hello"))
    with pytest.raises(ModuleLoadError):
        k.load_module(prebuilt_path("pm_missing"))
    with pytest.raises(ModuleLoadError):
        k.load_module(prebuilt_path("pm_hello"))
    text = queries.debugfs(k, "modules/stats")
    assert "Mods ever loaded\t1\n" in text
    assert "Mods failed on load\t1\n" in text
    assert "Mods failed on becoming\t1\n" in text
    assert "pm_hello" in text.split("Duplicate failed modules:")[1]
    with pytest.raises(ModuleLoadError):
        queries.debugfs(Kernel(), "modules/stats")      # MODULE_STATS off: no such file


def test_unloaded_tainted_modules_are_remembered():
    k = Kernel(Config(MODULE_UNLOAD_TAINT_TRACKING=True))
    for _ in range(2):
        k.load_module(prebuilt_path("pm_outoftree"))
        k.delete_module("pm_outoftree")
    # debugfs has one "name (taints) count" line per entry; the oops report
    # (print_modules) has them on its own line, then the last unloaded module
    assert queries.debugfs(k, "modules/unloaded_tainted") == "pm_outoftree (OE) 2\n"
    k.load_module(prebuilt_path("pm_hello"))
    assert k.print_modules() == ("Modules linked in: pm_hello(E)\n"
                                 "Unloaded tainted modules: pm_outoftree(OE):2"
                                 " [last unloaded: pm_outoftree(OE)]\n")


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


def test_delete_module_name_rules_and_last_unloaded():
    k = Kernel()
    k.load_module(prebuilt_path("pm_hello"))
    for bad in ("", "x" * 56, "\0pm_hello"):
        with pytest.raises(ModuleLoadError) as ei:
            k.delete_module(bad)
        assert ei.value.errno == errno.ENOENT
    assert k.module("pm_hello") is not None
    k.delete_module("pm_hello\0trailing")                 # the name ends at the NUL
    assert k.last_unloaded == ("pm_hello", "(E)")
    assert k.print_modules() == "Modules linked in: [last unloaded: pm_hello(E)]\n"


def test_proc_modules_hides_addresses_from_unprivileged_readers():
    k = Kernel()
    k.load_module(prebuilt_path("pm_hello"))
    shown, hidden = k.proc_modules(), k.proc_modules(show_addresses=False)
    assert "0xffffffff" in shown and " 0x0000000000000000 " in hidden
    assert shown.split()[:5] == hidden.split()[:5]


def test_vermagic_ends_with_the_randstruct_hash():
    magic = Config(randstruct_hash="abc123").vermagic
    assert magic.endswith("modversions RANDSTRUCT_abc123")
    k = Kernel(Config(randstruct_hash="abc123"))
    with pytest.raises(ModuleLoadError) as ei:
        k.load_module(prebuilt_path("pm_hello"))
    assert ei.value.errno == errno.ENOEXEC and "version magic" in ei.value.strerror


def test_ctors_and_init_array_together_only_matter_with_constructors():
    from tests.loader.support import rename_sections, sample_bytes

    image = rename_sections(sample_bytes("pm_hello"),
                            {".init.data": ".ctors", ".exit.data": ".init_array"})
    assert Kernel().load_module(image).name == "pm_hello"         # Debian: no CONSTRUCTORS
    k = Kernel(Config(CONSTRUCTORS=True))
    with pytest.raises(ModuleLoadError) as ei:
        k.load_module(image)
    assert (ei.value.errno, ei.value.strerror) == (errno.EINVAL,
                                                   "pm_hello: has both .ctors and .init_array.")
    assert k.modules == [] and k.area.allocated == {}


def test_obsolete_parameters_are_ignored_with_a_warning():
    from tests.loader.support import rename_sections, sample_bytes

    k = Kernel()
    k.load_module(rename_sections(sample_bytes("pm_hello"), {"__mcount_loc": "__obsparm"}))
    assert ("warn", "pm_hello: Ignoring obsolete parameters") in k.log.lines
