"""Fault injection: an exception of any type, raised at any stage of a load,
unwinds it completely; arguments of the wrong type change nothing at all."""

from __future__ import annotations

import pytest

from pymod import Config, InvalidType, Kernel, ModuleLoadError, PymodError
from pymod.loader import checks, kernel, params, relocate, resolve
from pymod.samples import prebuilt_path
from tests.loader.support import assert_consistent, snapshot


class Injected(RuntimeError):
    """Not a PymodError: a bug or an interrupt somewhere in the pipeline."""


def _kernel() -> Kernel:
    k = Kernel(Config(MODULE_STATS=True))
    k.load_module(prebuilt_path("pm_exporter"))
    return k


# (where, attribute): stages of kernel.Kernel._load, each patched to raise
# after doing its work, so that what it acquired must be released.
MODULE_STAGES = [
    (checks, "early_mod_check"),
    (kernel, "move_module"),
    (kernel, "augment_kernel_taints"),
    (resolve, "find_module_sections"),
    (resolve, "simplify_symbols"),
    (relocate, "apply_relocations"),
    (params, "read_params"),
    (resolve, "complete_formation"),
    (params, "parse_args"),
]
FEATURE_STAGES = ["sig.module_sig_check", "percpu.percpu_modalloc", "kallsyms.layout_symtab",
                  "kallsyms.add_kallsyms", "sysfs.mod_sysfs_setup", "tree.mod_tree_remove_init",
                  "stats.mod_stat_module_live", "livepatch.copy_module_elf"]
# Where the kernel counts a failed load: before the module is allocated,
# "becoming"; after, an invalid load (do_init_module's own path counts none).
BECOMING = {"early_mod_check", "sig.module_sig_check", "kallsyms.layout_symtab"}


def _raising_after(original):
    def stage(*args, **kwargs):
        original(*args, **kwargs)
        raise Injected("injected after %s" % original.__name__)
    return stage


def _counted(k: Kernel, stage: str, stats_before: dict[str, int]) -> None:
    v = k.features.stats.values
    grew = {key: v[key] - stats_before.get(key, 0) for key in ("failed_becoming",
                                                               "failed_load_modules")}
    if stage in ("tree.mod_tree_remove_init", "stats.mod_stat_module_live"):
        return   # after the module went LIVE: see the note in test_any_exception_in_a_feature
    want = {"failed_becoming": 1, "failed_load_modules": 0} if stage in BECOMING \
        else {"failed_becoming": 0, "failed_load_modules": 1}
    assert grew == want, stage


@pytest.mark.parametrize("where,name", MODULE_STAGES, ids=[n for _, n in MODULE_STAGES])
def test_any_exception_in_a_stage_unwinds(monkeypatch, where, name):
    k = _kernel()
    before, stats = snapshot(k), dict(k.features.stats.values)
    monkeypatch.setattr(where, name, _raising_after(getattr(where, name)))
    with pytest.raises(Injected):
        k.load_module(prebuilt_path("pm_params"), params="count=4")
    assert snapshot(k) == before
    assert_consistent(k)
    assert k.features.percpu.chunk.used == {}
    _counted(k, name, stats)
    monkeypatch.undo()
    assert k.load_module(prebuilt_path("pm_params")).name == "pm_params"
    assert_consistent(k)


@pytest.mark.parametrize("stage", FEATURE_STAGES)
def test_any_exception_in_a_feature_unwinds(monkeypatch, stage):
    k = _kernel()
    before = snapshot(k)
    feature, method = stage.split(".")
    target = getattr(k.features, feature)
    monkeypatch.setattr(target, method, _raising_after(getattr(target, method)))
    sample = "pm_livepatch" if feature == "livepatch" else "pm_params"
    stats = dict(k.features.stats.values)
    with pytest.raises(Injected):
        k.load_module(prebuilt_path(sample))
    assert snapshot(k) == before
    assert_consistent(k)
    assert k.features.percpu.chunk.used == {}
    _counted(k, stage, stats)


def test_readers_never_see_a_half_loaded_module_live(monkeypatch):
    """A reader polling the module list while loads fail at every stage in
    turn never sees the failing module LIVE."""
    import threading

    from pymod.contract.internal import ModuleState

    k = _kernel()
    seen_live: list[str] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            for m in k.modules:
                if m.name == "pm_params" and m.state == ModuleState.LIVE:
                    seen_live.append(m.name)

    t = threading.Thread(target=reader)
    t.start()
    try:
        for where, name in MODULE_STAGES:
            with monkeypatch.context() as m:
                m.setattr(where, name, _raising_after(getattr(where, name)))
                for _ in range(5):
                    with pytest.raises(Injected):
                        k.load_module(prebuilt_path("pm_params"))
    finally:
        stop.set()
        t.join()
    assert seen_live == []


def test_keyboard_interrupt_unwinds(monkeypatch):
    k = _kernel()
    before = snapshot(k)

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(resolve, "simplify_symbols", interrupt)
    with pytest.raises(KeyboardInterrupt):
        k.load_module(prebuilt_path("pm_importer"))
    assert snapshot(k) == before


@pytest.mark.parametrize("kwargs", [
    {"init_result": None}, {"init_result": "0"}, {"init_result": True}, {"flags": None},
    {"flags": 1.0}, {"params": None}, {"params": b"x=1"},
])
def test_wrong_argument_types_change_nothing(kwargs):
    k = _kernel()
    before = snapshot(k)
    with pytest.raises(InvalidType) as info:
        k.load_module(prebuilt_path("pm_hello"), **kwargs)
    assert isinstance(info.value, TypeError) and isinstance(info.value, PymodError)
    assert snapshot(k) == before
    assert k.load_module(prebuilt_path("pm_hello")).name == "pm_hello"


def test_wrong_source_type_changes_nothing():
    k = _kernel()
    before = snapshot(k)
    with pytest.raises(InvalidType):
        k.load_module(12345)  # type: ignore[arg-type]
    assert snapshot(k) == before


def test_init_failure_then_reload():
    k = _kernel()
    before = snapshot(k)
    with pytest.raises(ModuleLoadError):
        k.load_module(prebuilt_path("pm_importer"), init_result=-12)
    assert snapshot(k) == before
    k.load_module(prebuilt_path("pm_importer"))
