"""A map that churns stays at its high-water mark: every removed module's
memory (and every retired id table) is freed after its grace period, so
cycles of inserting and removing thousands of modules do not grow the
process.  Measured in a fresh process (resident pages from
/proc/self/statm), so no other test's allocations blur it."""

from __future__ import annotations

import subprocess
import sys

CHURN = r"""
import os
from pymod.lookup import ModTree

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

def cycle(t, n, first_id):
    for i in range(n):
        t.insert(first_id + i, {"text": (0x1000_0000 + i * 0x4000, 0x1000),
                                "data": (0x1000_2000 + i * 0x4000, 0x1000)})
    for i in range(n):
        t.remove(first_id + i)
    t.reclaim()

t = ModTree("tree")
cycle(t, 20000, 0)
after_one = rss()
for c in range(1, 6):
    cycle(t, 20000, c * 20000)
print(after_one, rss())
"""


def test_churn_reuses_module_memory():
    out = subprocess.run([sys.executable, "-c", CHURN], capture_output=True, text=True,
                         check=True, timeout=300).stdout.split()
    after_one, after_six = int(out[0]), int(out[1])
    # Five more cycles of 20,000 modules (about 15 MiB each if nothing were
    # freed) may cost a few pages of slack, not a cycle's worth.
    assert after_six - after_one < 4 << 20, (after_one, after_six)
