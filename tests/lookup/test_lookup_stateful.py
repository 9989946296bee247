"""Hypothesis state machine: tree and list agree with a plain-Python model
after every insert / remove / remove_init / find / find_many / within."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from pymod.errors import PymodError
from pymod.lookup import INIT_KINDS, REGION_KINDS, ModTree

# A small address space so random regions collide often.
SPACE = 1 << 16
regions_st = st.dictionaries(
    st.sampled_from(REGION_KINDS),
    st.tuples(st.integers(0, SPACE - 1), st.integers(0, 0x800)),
    max_size=len(REGION_KINDS),
)
addr_st = st.integers(0, SPACE + 0x1000)


def overlaps(a, b):
    (ab, asz), (bb, bsz) = a, b
    return asz and bsz and ab < bb + bsz and bb < ab + asz


class Model:
    def __init__(self):
        self.mods: dict[int, dict[str, tuple[int, int]]] = {}
        self.order: list[int] = []
        self.lo, self.hi = (1 << 64) - 1, 0

    def owner(self, addr):
        if not self.lo <= addr <= self.hi:
            return None
        for mid, regs in self.mods.items():
            if any(b <= addr < b + s for b, s in regs.values() if s):
                return mid
        return None

    def insert_error(self, mid, regs):
        if mid in self.mods:
            return "dup"
        live = [r for r in regs.values() if r[1]]
        for i, r in enumerate(live):
            if any(overlaps(r, q) for q in live[:i]):
                return "self"
        for other in self.mods.values():
            if any(overlaps(r, q) for r in live for q in other.values()):
                return "overlap"
        return None


class LookupMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.model = Model()
        self.maps = [ModTree("tree"), ModTree("list")]

    @rule(mid=st.integers(0, 12), regs=regions_st)
    def insert(self, mid, regs):
        err = self.model.insert_error(mid, regs)
        for m in self.maps:
            try:
                m.insert(mid, regs)
                ok = True
            except PymodError as e:
                ok = False
                assert isinstance(e, ValueError)
            assert ok == (err is None), (err, mid, regs)
        if err is None:
            self.model.mods[mid] = {k: v for k, v in regs.items() if v[1]}
            self.model.order.insert(0, mid)
            for b, s in self.model.mods[mid].values():
                self.model.lo = min(self.model.lo, b)
                self.model.hi = max(self.model.hi, b + s - 1)

    @precondition(lambda self: self.model.mods)
    @rule(data=st.data())
    def remove(self, data):
        mid = data.draw(st.sampled_from(sorted(self.model.mods)))
        for m in self.maps:
            m.remove(mid)
        del self.model.mods[mid]
        self.model.order.remove(mid)

    @precondition(lambda self: self.model.mods)
    @rule(data=st.data())
    def remove_init(self, data):
        mid = data.draw(st.sampled_from(sorted(self.model.mods)))
        for m in self.maps:
            m.remove_init(mid)
        self.model.mods[mid] = {k: v for k, v in self.model.mods[mid].items()
                                if k not in INIT_KINDS}

    @rule()
    def reclaim(self):
        # Erases dead nodes and frees removed modules: answers must not change.
        for m in self.maps:
            m.reclaim()

    @rule(mid=st.integers(13, 20))
    def remove_unknown(self, mid):
        for m in self.maps:
            try:
                m.remove(mid)
                raise AssertionError("removing an unknown id succeeded")
            except KeyError:
                pass

    @rule(addr=addr_st)
    def find(self, addr):
        expect = self.model.owner(addr)
        for m in self.maps:
            assert m.find(addr) == expect

    @rule(addrs=st.lists(addr_st, max_size=300), method=st.sampled_from(["auto", "walk", "sorted"]))
    def find_many(self, addrs, method):
        expect = [-1 if (o := self.model.owner(a)) is None else o for a in addrs]
        for m in self.maps:
            assert m.find_many(np.array(addrs, dtype=np.uint64), method=method).tolist() == expect

    @precondition(lambda self: self.model.mods)
    @rule(data=st.data(), addr=addr_st)
    def within(self, data, addr):
        mid = data.draw(st.sampled_from(sorted(self.model.mods)))
        expect = any(b <= addr < b + s for b, s in self.model.mods[mid].values())
        for m in self.maps:
            assert m.within(addr, mid) is expect

    @invariant()
    def consistent(self):
        for m in self.maps:
            assert len(m) == len(self.model.mods)
            assert m.ids() == self.model.order
            assert (m.addr_min, m.addr_max) == (self.model.lo, self.model.hi)
            nodes = m.validate()
            if m.strategy == "tree":
                assert nodes == sum(len(r) for r in self.model.mods.values())


LookupMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=60,
                                           deadline=None)
TestLookupMachine = pytest.mark.slow(LookupMachine.TestCase)
