"""The configuration matrix: the loader under all features on, all off,
Hypothesis-drawn flag combinations (and, in tests/real, the Debian
configs); and every stub's documented meaning, asserted."""

from __future__ import annotations

import copy
import dataclasses
import errno
import importlib
import pkgutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pymod.features
from pymod import MODULE_INIT_IGNORE_VERMAGIC, Config, Kernel, ModuleLoadError, PymodError
from pymod.contract.internal import OK, LoadInfo, Module
from pymod.samples import SAMPLES, prebuilt_path
from tests.loader.support import assert_consistent, sample_bytes, snapshot

FLAGS = [f.name for f in dataclasses.fields(Config) if f.name.isupper()]
IMAGES = [(s.name, prebuilt_path(s.name).read_bytes()) for s in SAMPLES]


def _valid(flags: dict[str, bool]) -> Config:
    flags = dict(flags)
    if flags.get("PREEMPT") and flags.get("PREEMPT_RT"):
        flags["PREEMPT_RT"] = False
    if flags.get("KALLSYMS_ALL") and not flags.get("KALLSYMS"):
        flags["KALLSYMS_ALL"] = False
    # The matrix is over a kernel with modules: without CONFIG_MODULES no
    # syscall gets as far as any feature (tests/loader/test_no_modules.py).
    flags["MODULES"] = True
    return Config(**flags, module_compression="xz" if flags.get("MODULE_DECOMPRESS") else None)


ALL_ON = _valid(dict.fromkeys(FLAGS, True))
ALL_OFF = _valid(dict.fromkeys(FLAGS, False))


def exercise(config: Config) -> dict[str, int]:
    """Every sample loaded in catalog order, then everything unloaded: each
    refusal leaves nothing behind, the kernel stays consistent throughout."""
    k = Kernel(config)
    outcome: dict[str, int] = {}
    for name, image in IMAGES:
        before = snapshot(k)
        try:
            k.load_module(image)
            outcome[name] = 0
        except ModuleLoadError as e:
            assert e.errno > 0 and e.strerror
            assert snapshot(k) == before, name
            outcome[name] = e.errno
        assert_consistent(k)
    if config.MODULE_UNLOAD:
        for mod in reversed(k.modules):
            if mod.holders:
                continue
            try:
                k.delete_module(mod.name, force=True)
            except ModuleLoadError as e:
                assert e.errno in (errno.EBUSY, errno.EWOULDBLOCK), e
        assert_consistent(k)
    return outcome


def test_all_on():
    got = exercise(ALL_ON)
    # MODULE_SIG_FORCE is on: no sample is signed, so none loads
    assert set(got.values()) <= {errno.EKEYREJECTED}


def test_all_off():
    got = exercise(ALL_OFF)
    # vermagic without SMP/preempt/mod_unload/modversions: every sample differs
    assert got["pm_hello"] == errno.ENOEXEC


def test_the_default_config_loads_what_the_catalog_says():
    got = exercise(Config())
    for sample in SAMPLES:
        if not sample.requires:
            assert (got[sample.name] == 0) == sample.loads, sample.name


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.fixed_dictionaries({f: st.booleans() for f in FLAGS}))
def test_drawn_flag_combinations(flags):
    exercise(_valid(flags))


# ------------------------------------------------------------------ stub meanings
def _info() -> LoadInfo:
    data = sample_bytes("pm_hello")
    return LoadInfo(raw=data, payload=data, len=len(data))


def _state(obj: object) -> dict:
    """Every attribute of ``obj`` (slots or __dict__), arrays as bytes."""
    slots = getattr(type(obj), "__slots__", ())
    attrs = {n: getattr(obj, n) for n in slots} if slots else dict(vars(obj))
    return {k: (v.tobytes() if hasattr(v, "tobytes") else copy.copy(v))
            for k, v in attrs.items()}


def _unchanged(call, *objs) -> object:
    before = [repr(_state(o)) for o in objs]
    result = call()
    assert [repr(_state(o)) for o in objs] == before
    return result


def _stubs(config: Config = ALL_OFF):
    return Kernel(config).features


def test_unsupported_decompression_leaves_load_info_untouched():
    info = _info()
    with pytest.raises(ModuleLoadError) as ei:
        _unchanged(lambda: _stubs().decompress.module_decompress(info), info)
    assert ei.value.errno == errno.EOPNOTSUPP


NOOPS = [
    ("decompress", "module_decompress_cleanup", "info"),
    ("sysfs", "mod_sysfs_setup", "mod,info"), ("sysfs", "mod_sysfs_teardown", "mod"),
    ("stats", "mod_stat_bump_invalid", "info,0"), ("stats", "mod_stat_bump_becoming", "info,0"),
    ("stats", "mod_stat_failed_decompress", "info"), ("stats", "mod_stat_module_live", "1,2"),
    ("stats", "try_add_failed_module", "'x','load'"),
    ("taint_tracking", "try_add_tainted_module", "mod"),
    ("percpu", "percpu_modalloc", "mod,info"), ("percpu", "percpu_modfree", "mod"),
    ("livepatch", "copy_module_elf", "mod,info"), ("livepatch", "free_module_elf", "mod"),
    ("kallsyms", "layout_symtab", "mod,info"), ("kallsyms", "add_kallsyms", "mod,info"),
    ("sig", "set_module_sig_enforced", ""), ("sig", "module_sig_check", "info,0"),
    ("constructors", "check_ctors", "mod,info"), ("debugfs", "debugfs_create", "'a',str"),
    ("trace_events", "module_coming", "mod,info"),
    ("strict_rwx", "module_enforce_rwx_sections", "info,'m'"),
]


@pytest.mark.parametrize("feature,method,args", NOOPS, ids=[f"{f}.{m}" for f, m, _ in NOOPS])
def test_no_op_stubs_change_nothing(feature, method, args):
    info, mod = _info(), Module(name="m", id=1)
    stub = getattr(_stubs(), feature)
    assert type(stub).__name__ in ("Stub", "AllowMissing"), type(stub)
    call = eval("lambda: stub.%s(%s)" % (method, args), {"stub": stub, "info": info,
                                                         "mod": mod, "str": str})
    _unchanged(call, info, mod, stub)


def test_no_module_support_stub_is_enosys_and_changes_nothing():
    stub = _stubs(dataclasses.replace(ALL_ON, MODULES=False)).modules
    assert type(stub).__name__ == "Stub"
    for call in ("init_module", "finit_module", "delete_module"):
        with pytest.raises(ModuleLoadError) as ei:
            _unchanged(lambda call=call: stub.syscall(call, "m"), stub)
        assert ei.value.errno == errno.ENOSYS and ei.value.module == "m"
    assert [p.enforced for p in stub.posture()] == [True]
    _stubs(ALL_ON).modules.syscall("delete_module", "m")     # the real gate lets it by


def test_always_ok_stubs_accept():
    f, info, mod = _stubs(), _info(), Module(name="m", id=1)
    assert f.versioning.check_version(info, "x", mod, 0x1234) == OK     # any CRC
    assert f.versioning.check_modstruct_version(info, mod) == OK
    assert f.sig.module_sig_ok(info) is True
    assert f.retpoline.retpoline_module_ok(False) is True
    assert f.versioning.exports_lack_crcs(mod, info) is False


def test_always_ok_modversions_loads_a_mismatched_crc():
    with pytest.raises(ModuleLoadError):
        Kernel().load_module(prebuilt_path("pm_crc_bad"))
    mod = Kernel(Config(MODVERSIONS=False)).load_module(prebuilt_path("pm_crc_bad"),
                                                         flags=MODULE_INIT_IGNORE_VERMAGIC)
    assert mod.name == "pm_crc_bad" and "F" in mod.taint_letters


def test_without_strict_rwx_a_wx_section_loads():
    assert Kernel(Config(STRICT_MODULE_RWX=False)).load_module(
        prebuilt_path("pm_wx")).name == "pm_wx"


def test_every_stub_is_covered():
    covered = {f for f, _, _ in NOOPS} | {"decompress", "versioning", "sig", "retpoline",
                                          "strict_rwx", "dynamic_debug", "unload",
                                          "force_load", "namespaces", "tree", "lockdown",
                                          "modules"}
    stubbed = set()
    for info in pkgutil.iter_modules(pymod.features.__path__):
        module = importlib.import_module("pymod.features." + info.name)
        if hasattr(module, "Stub"):
            stubbed.add(info.name)
    field_of = {"signature": "sig", "versioning": "versioning", "taint_tracking":
                "taint_tracking", "tree_lookup": "tree", "module_unload": "unload",
                "module_support": "modules"}
    missing = {n for n in stubbed if field_of.get(n, n) not in covered}
    assert missing == set(), missing


def test_other_stubs_by_their_meaning():
    f = _stubs()
    assert f.dynamic_debug.module_param_cb("x.y", None, "m") == (-22, "x.y")  # warned, whole
    assert f.unload.try_force_unload(1) is False
    assert f.force_load.try_to_force_load(Module(name="m", id=1), "why") is False
    assert f.lockdown.at_boot(True) is False          # no LSM: lockdown= does not exist
    with pytest.raises(PymodError):
        f.unload.check_delete_module("m")                                 # unsupported
