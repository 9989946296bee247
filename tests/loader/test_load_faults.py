"""Fault injection: an exception of any type, raised at any stage of a load,
unwinds it completely; arguments of the wrong type change nothing at all."""

from __future__ import annotations

import pytest

from pymod import Config, InvalidType, Kernel, ModuleLoadError, PymodError
from pymod.loader import checks, kernel, resolve
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
    (resolve, "complete_formation"),
]
FEATURE_STAGES = ["kallsyms.add_kallsyms", "sysfs.mod_sysfs_setup", "tree.mod_tree_remove_init",
                  "stats.mod_stat_module_live", "livepatch.copy_module_elf"]


def _raising_after(original):
    def stage(*args, **kwargs):
        original(*args, **kwargs)
        raise Injected("injected after %s" % original.__name__)
    return stage


@pytest.mark.parametrize("where,name", MODULE_STAGES, ids=[n for _, n in MODULE_STAGES])
def test_any_exception_in_a_stage_unwinds(monkeypatch, where, name):
    k = _kernel()
    before = snapshot(k)
    monkeypatch.setattr(where, name, _raising_after(getattr(where, name)))
    with pytest.raises(Injected):
        k.load_module(prebuilt_path("pm_importer"))
    assert snapshot(k) == before
    assert_consistent(k)
    monkeypatch.undo()
    assert k.load_module(prebuilt_path("pm_importer")).name == "pm_importer"
    assert_consistent(k)


@pytest.mark.parametrize("stage", FEATURE_STAGES)
def test_any_exception_in_a_feature_unwinds(monkeypatch, stage):
    k = _kernel()
    before = snapshot(k)
    feature, method = stage.split(".")
    target = getattr(k.features, feature)
    monkeypatch.setattr(target, method, _raising_after(getattr(target, method)))
    sample = "pm_livepatch" if feature == "livepatch" else "pm_importer"
    with pytest.raises(Injected):
        k.load_module(prebuilt_path(sample))
    assert snapshot(k) == before
    assert_consistent(k)


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
