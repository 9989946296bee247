"""Many modules (issue 7, B): 200 000 modules inserted and removed, with the
map's invariants checked at checkpoints, for both strategies.

This is not a speed test: with O(log n) updates a run takes a few seconds,
and the deadline below is only a hang guard, tens of times that.  (With the
old per-update copy of the id index and the list walk on remove, the same
run needed minutes.)  The work runs in a child process so a stuck run is
killed cleanly.  Run alone: ``python tests/lookup/test_lookup_scale.py N STRATEGY``.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

N = 200_000
HANG_GUARD = 120             # seconds; not a performance bound
AREA = 0x1000_0000_0000
SLOT = 0x100000
KINDS = ("text", "data", "rodata", "ro_after_init", "init_text", "init_data", "init_rodata")


def regions(slot: int) -> dict[str, tuple[int, int]]:
    base = AREA + slot * SLOT
    return {k: (base + i * 0x20000, 0x1000 * (i + 1)) for i, k in enumerate(KINDS)}


def churn(n: int, strategy: str) -> None:
    """Insert n modules in random address order, drop some init regions,
    remove them in three orders (oldest first, newest first, random),
    reinsert into freed ranges; validate at every checkpoint."""
    from pymod.lookup import ModTree

    rng = np.random.default_rng(12)
    slots = [int(s) for s in rng.permutation(n)]
    t = ModTree(strategy)
    step = max(1, n // 8)
    for i, s in enumerate(slots):
        t.insert(i, regions(s))
        if i % step == step - 1:
            assert t.validate() == 7 * (i + 1)
    assert len(t) == n and t.ids()[:3] == [n - 1, n - 2, n - 3]
    for i in range(0, n, 2):
        t.remove_init(i)
    live_regions = 7 * n - 3 * (n // 2 + n % 2)
    assert t.validate() == live_regions
    probe = rng.integers(0, n, 200)
    for i in probe.tolist():
        b = AREA + slots[i] * SLOT
        assert t.find(b) == i and t.within(b + 0x20000, i)
        assert t.find(b + 4 * 0x20000) == (None if i % 2 == 0 else i)
    third = n // 3
    order = (list(range(third))                              # oldest first
             + list(range(2 * third - 1, third - 1, -1))     # newest first
             + [int(x) for x in rng.permutation(np.arange(2 * third, n))])
    for k, i in enumerate(order):
        t.remove(i)
        if k % step == step - 1:
            assert t.validate() >= 0 and len(t) == n - k - 1
    assert len(t) == 0 and t.ids() == [] and t.validate() == 0
    for i in probe.tolist():                                 # ranges free at once
        assert t.find(AREA + slots[i] * SLOT) is None
    for j, i in enumerate(dict.fromkeys(probe.tolist())):
        t.insert(n + j, regions(slots[i]))
    t.reclaim()
    assert t.validate() == 7 * len(t)


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["tree", "list"])
def test_200k_modules_insert_and_remove(strategy):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        run = subprocess.run([sys.executable, os.path.abspath(__file__), str(N), strategy],
                             capture_output=True, text=True, timeout=HANG_GUARD, cwd=root)
    except subprocess.TimeoutExpired:
        pytest.fail("%d modules (%s) did not finish within the %ds hang guard"
                    % (N, strategy, HANG_GUARD))
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip() == "ok %d %s" % (N, strategy)


if __name__ == "__main__":
    churn(int(sys.argv[1]), sys.argv[2])
    print("ok %s %s" % (sys.argv[1], sys.argv[2]))
