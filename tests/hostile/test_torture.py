"""The torture run (devtools/torture.py): a short run here, a long one with
``python -m devtools.torture --seconds 600``."""

from __future__ import annotations

import os

import pytest

from devtools import torture
from pymod.loader import kernel

pytestmark = pytest.mark.slow   # timed torture runs: loads and unloads racing lookups

SECONDS = float(os.environ.get("PYMOD_TORTURE_SECONDS", "3"))


def test_short_torture_run_finds_nothing():
    r = torture.torture(SECONDS)
    assert r.violations == [] and not r.kinds
    c = r.counts
    # It really raced: both kinds of writes and every kind of read happened.
    assert c["loads"] > 10 and c["unloads"] > 10 and sum(
        n for k, n in c.items() if k.startswith("refused:")) > 10
    assert c["stable_reads"] > 1000 and c["random_reads"] > 1000
    assert c["proc_reads"] > 10 and c["full_checks"] > 10
    assert c["symbolize_reads"] > 1000 and c["symbolizer_writes"] > 100
    assert c["modules_left"] == len(torture.STABLE)


def test_the_torture_run_catches_a_half_loaded_module(monkeypatch):
    # A kernel that forgets to free init memory: LIVE modules keep it.
    real = kernel.free_mem

    def keep_init(area, mod, init_only=False):
        if not init_only:
            real(area, mod)

    monkeypatch.setattr(kernel, "free_mem", keep_init)
    r = torture.torture(1.0)
    # Counted per kind: the readers' own reports of the same fault cannot
    # crowd the checker's out.
    assert r.kinds["live-with-init"] > 0
    assert any("LIVE with init memory" in v for v in r.examples["live-with-init"])


def test_the_torture_run_catches_a_symbolizer_that_misses_a_load(monkeypatch):
    from pymod.symbolize.follow import KernelSymbolizer

    coming, live = KernelSymbolizer.module_coming, KernelSymbolizer.module_live

    # The symbolizer never hears of pm_hello (its other hooks skip it too).
    def forget_hello(hook):
        return lambda self, mod: None if mod.name == "pm_hello" else hook(self, mod)

    monkeypatch.setattr(KernelSymbolizer, "module_coming", forget_hello(coming))
    monkeypatch.setattr(KernelSymbolizer, "module_live", forget_hello(live))
    r = torture.torture(1.5)
    assert r.kinds["live-unsymbolized"] > 0
    assert any("pm_hello is LIVE" in v for v in r.examples["live-unsymbolized"])
