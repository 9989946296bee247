"""fork() while reader threads are inside the C core: the child must still be
able to complete a grace period (the parent's other threads' RCU records
are copied into the child, possibly marked busy, and no thread there will
ever clear them)."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

from pymod.lookup import ModTree

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")


@pytest.mark.slow
def test_child_can_synchronize_after_fork():
    t = ModTree()
    for i in range(200):
        t.insert(i, {"text": (0x100000 * (i + 1), 0x10000)})
    addrs = np.random.default_rng(0).integers(0, 0x100000 * 201, 2_000_000, dtype=np.uint64)
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            t.find_many(addrs)          # long read sections, GIL released

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for th in threads:
        th.start()
    try:
        results = []
        for _ in range(5):
            time.sleep(0.05)
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:                # child: remove + grace period, then report
                os.close(r)
                try:
                    t.remove(7)
                    t.reclaim()
                    ok = t.find(0x100000 * 8) is None
                    os.write(w, b"ok" if ok else b"bad")
                finally:
                    os._exit(0)
            os.close(w)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    break
                time.sleep(0.02)
            else:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
            results.append(os.read(r, 16))
            os.close(r)
    finally:
        stop.set()
        for th in threads:
            th.join()
    assert results == [b"ok"] * 5, results
    assert t.find(0x100000 * 8) == 7    # the parent is untouched
