"""fork() while another thread is writing to the map (issue 7, A).

A child forked while a writer thread held the map's writer lock used to
inherit the lock held by a thread that does not exist in the child, and hung
on its first insert; a child forked in the middle of an update could also
see a half-done map.  Every child here must get a usable map in a consistent
state: it inserts, finds, removes, reclaims (a grace period) and validates,
and reports by exit status.  The parent fails the test for any child that
exits non-zero or is still running at the deadline (then it is killed).
"""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from pymod.lookup import REGION_KINDS, ModTree

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()"),
    # Python 3.12+ warns about fork() in a multi-threaded process: that is
    # exactly the situation under test.
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.slow,
]

AREA = 0xFFFF_A000_0000_0000
SLOT = 0x100000
STABLE = 4000                # never removed: validate() takes a while
WINDOW = 256                 # churned modules alive at once
CHILD_ID = 10**12            # outside every id the writer uses
CHILD_BASE = 0x7000_0000_0000
FORKS = 40
DEADLINE = 30.0              # seconds for all children together (hang guard)


def regions(slot: int) -> dict[str, tuple[int, int]]:
    base = AREA + slot * SLOT
    return {k: (base + i * 0x20000, 0x1000) for i, k in enumerate(REGION_KINDS)}


def child_checks(t: ModTree) -> int:
    """What a child does with the inherited map; returns its exit status."""
    t.validate()                                   # consistent as inherited
    ids = t.ids()
    if len(ids) != len(t) or len(t) < STABLE:
        return 3
    for mid in ids[:WINDOW] + ids[-50:]:           # churned and stable modules whole
        regs = t.regions(mid)
        if any(t.find(b) != mid or t.find(b + s - 1) != mid for b, s in regs.values()):
            return 3
    victims = t.ids()[:3]                          # remove some of the writer's too
    t.insert(CHILD_ID, {"text": (CHILD_BASE, 0x2000), "init_data": (CHILD_BASE + 0x4000, 0x1000)})
    if t.find(CHILD_BASE + 0x10) != CHILD_ID or not t.within(CHILD_BASE + 0x4000, CHILD_ID):
        return 4
    for mid in victims:
        t.remove(mid)
    t.remove_init(CHILD_ID)
    t.remove(CHILD_ID)
    t.reclaim()                                    # a grace period completes
    if t.find(CHILD_BASE + 0x10) is not None or any(m in t for m in victims):
        return 5
    t.insert(CHILD_ID + 1, {"text": (CHILD_BASE, 0x2000)})   # range reusable
    t.validate()
    return 0 if t.find(CHILD_BASE) == CHILD_ID + 1 else 6


def fork_child(t: ModTree) -> int:
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            status = child_checks(t)
        except BaseException:
            status = 2
        finally:
            os._exit(status)
    return pid


def reap(pids: list[int]) -> dict[int, object]:
    """Exit status of each child; ``"hung"`` for the ones killed at the deadline."""
    results: dict[int, object] = {}
    deadline = time.monotonic() + DEADLINE
    while len(results) < len(pids) and time.monotonic() < deadline:
        for pid in pids:
            if pid not in results:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    results[pid] = os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    for pid in pids:
        if pid not in results:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            results[pid] = "hung"
    return results


@pytest.mark.parametrize("strategy", ["tree", "list"])
def test_fork_while_a_writer_runs(strategy):
    t = ModTree(strategy)
    for s in range(STABLE):
        t.insert(10**9 + s, regions(WINDOW + s))
    stop = threading.Event()
    steps = [0]

    def writer():
        k = 0
        while not stop.is_set():
            if k >= WINDOW:
                t.remove(k - WINDOW)
            t.insert(k, regions(k % WINDOW))
            if k >= WINDOW // 2:
                t.remove_init(k - WINDOW // 2)
            # validate() takes the writer lock for O(n) time, with the GIL
            # released: forks then often land while the lock is held.
            t.validate()
            k += 1
            steps[0] = k

    th = threading.Thread(target=writer)
    th.start()
    pids: list[int] = []
    try:
        while steps[0] < 2 * WINDOW:                # the map is full and churning
            time.sleep(0.01)
        for i in range(FORKS):
            before = steps[0]
            while steps[0] == before:               # the writer is really running
                time.sleep(0.001)
            pids.append(fork_child(t))
            time.sleep(0.002 * (i % 5))
    finally:
        stop.set()
        th.join()
        results = reap(pids)
    bad = {pid: r for pid, r in results.items() if r != 0}
    assert not bad, "%d of %d children failed: %s" % (len(bad), len(pids),
                                                      sorted(bad.values(), key=str))
    assert steps[0] > 2 * WINDOW + FORKS
    t.validate()                                    # the parent is unharmed
