"""Hypothesis: any sequence of loads and unloads keeps every structure consistent."""

from __future__ import annotations

import errno

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from pymod import Config, Kernel, ModuleLoadError
from pymod.samples import SAMPLES, prebuilt_path
from tests.loader.support import assert_consistent, snapshot

IMAGES = {s.name: prebuilt_path(s.name).read_bytes() for s in SAMPLES}
BY_NAME = {s.name: s for s in SAMPLES}


class LoadUnload(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.k = Kernel(Config(MODULES_TREE_LOOKUP=True))
        self.model: dict[str, set[str]] = {}   # loaded module -> modules it uses

    @rule(name=st.sampled_from(sorted(IMAGES)), init_fails=st.booleans())
    def load(self, name, init_fails):
        sample = BY_NAME[name]
        before = snapshot(self.k)
        try:
            mod = self.k.load_module(IMAGES[name],
                                     init_result=-errno.ENODEV if init_fails else 0)
        except ModuleLoadError as e:
            assert snapshot(self.k) == before
            if name in self.model:
                assert e.errno == errno.EEXIST
                return
            assert not (self._should_load(name) and not init_fails), "unexpected refusal %s" % e
            if init_fails and self._should_load(name):
                assert (e.errno, e.stage) == (errno.ENODEV, "init")
            return
        assert not init_fails and name not in self.model
        sample = BY_NAME[name]
        if name == "pm_dup_export":
            # it uses nothing; it fails only while pm_exporter owns pm_shared_fn
            assert "pm_exporter" not in self.model
        elif sample.requires:
            # a dependent loads only on top of a loaded exporter of what it uses
            assert {u.name for u in mod.uses} & {"pm_exporter", "pm_dup_export"}
        else:
            assert self._should_load(name)
        self.model[name] = {u.name for u in mod.uses}

    def _should_load(self, name: str) -> bool:
        """Unambiguous only for samples that use no other sample's exports."""
        sample = BY_NAME[name]
        clash = name == "pm_exporter" and "pm_dup_export" in self.model
        return sample.loads and not sample.requires and not clash

    @rule(data=st.data(), force=st.booleans())
    def unload(self, data, force):
        if not self.model:
            return
        name = data.draw(st.sampled_from(sorted(self.model)))
        users = [m for m, uses in self.model.items() if name in uses]
        try:
            self.k.delete_module(name, force=force)
        except ModuleLoadError as e:
            assert users and e.errno == errno.EWOULDBLOCK
            return
        assert not users
        del self.model[name]

    @invariant()
    def consistent(self):
        assert_consistent(self.k)
        assert sorted(m.name for m in self.k.modules) == sorted(self.model)
        for m in self.k.modules:
            assert {u.name for u in m.uses} == self.model[m.name]


TestLoadUnload = LoadUnload.TestCase
TestLoadUnload.settings = settings(max_examples=40, stateful_step_count=25, deadline=None)
