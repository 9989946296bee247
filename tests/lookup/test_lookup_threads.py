"""Python threads racing inside C: readers call find/find_many/within while
a writer inserts and removes modules.  Every answer is checked."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from pymod.lookup import REGION_KINDS, ModTree

AREA = 0xFFFFFFFFC0000000
SLOT = 0x100000
STABLE = 64
WINDOW = 16
CHURN_ID0 = 1000


def regions(slot):
    base = AREA + slot * SLOT
    return {k: (base + i * 0x20000, 0x1000) for i, k in enumerate(REGION_KINDS)}


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["tree", "list"])
def test_readers_race_a_writer(strategy):
    t = ModTree(strategy)
    for s in range(STABLE):
        t.insert(s, regions(s))
    stop = threading.Event()
    removed_upto = [-1]          # churn k whose remove() has returned
    errors: list[str] = []
    counts = [0] * 3

    def reader(idx):
        rng = np.random.default_rng(idx)
        n = 0
        while not stop.is_set():
            r0 = removed_upto[0]
            s = int(rng.integers(STABLE))
            addr = AREA + s * SLOT + int(rng.integers(7)) * 0x20000 + int(rng.integers(0x1000))
            if t.find(addr) != s or not t.within(addr, s):
                errors.append("stable %d lost at %#x" % (s, addr))
            slot = int(rng.integers(WINDOW))
            caddr = AREA + (STABLE + slot) * SLOT + int(rng.integers(0x1000))
            got = t.find(caddr)
            if got is not None and ((got - CHURN_ID0) % WINDOW != slot or got - CHURN_ID0 <= r0):
                errors.append("churn address %#x answered by %r (removed_upto %d)"
                              % (caddr, got, r0))
            batch = np.array([addr, caddr] * 64, dtype=np.uint64)
            out = t.find_many(batch)
            if (out[0::2] != s).any():
                errors.append("find_many lost stable module %d" % s)
            n += 1
        counts[idx] = n

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(2)]
    for th in threads:
        th.start()
    try:
        for k in range(3000 if strategy == "tree" else 1500):
            if k >= WINDOW:
                t.remove(CHURN_ID0 + k - WINDOW)
                removed_upto[0] = k - WINDOW
            t.insert(CHURN_ID0 + k, regions(STABLE + k % WINDOW))
    finally:
        stop.set()
        for th in threads:
            th.join()
    assert not errors, errors[:5]
    assert min(counts[:2]) > 10          # the readers really ran during the churn
    t.validate()
