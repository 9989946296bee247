"""fork() while other threads load and unload: the child gets a kernel in a
consistent state (no load half done) that it can go on using."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

import pytest

from pymod import Kernel, ModuleLoadError
from pymod.samples import prebuilt_path
from tests.loader.support import assert_consistent

FORKS = 20
CHILD_TIMEOUT = 30.0


def fork_children(threads: list[Callable[[threading.Event], None]],
                  child: Callable[[], None]) -> None:
    """Run ``threads`` until FORKS children, each running ``child`` (exit 0
    unless it raises), have all exited; fail at the first that hangs."""
    stop = threading.Event()
    running = [threading.Thread(target=t, args=(stop,)) for t in threads]
    for t in running:
        t.start()
    statuses = []
    try:
        for _ in range(FORKS):
            time.sleep(0.005)
            pid = os.fork()
            if pid == 0:
                try:
                    child()
                    code = 0
                except BaseException:  # noqa: BLE001 - the status is the test's answer
                    code = 3
                os._exit(code)
            deadline = time.monotonic() + CHILD_TIMEOUT
            while (done := os.waitpid(pid, os.WNOHANG)) == (0, 0):
                if time.monotonic() > deadline:
                    os.kill(pid, 9)
                    os.waitpid(pid, 0)
                    pytest.fail("child %d of %d deadlocked" % (len(statuses) + 1, FORKS))
                time.sleep(0.01)
            statuses.append(os.waitstatus_to_exitcode(done[1]))
    finally:
        stop.set()
        for t in running:
            t.join()
    assert statuses == [0] * FORKS


def _churn(k: Kernel, images: list[bytes], stop: threading.Event) -> None:
    while not stop.is_set():
        for image in images:
            try:
                k.load_module(image)
            except ModuleLoadError:
                pass
        for name in ("pm_importer", "pm_hello", "pm_ro_after_init"):
            try:
                k.delete_module(name)
            except ModuleLoadError:
                pass


def _child(k: Kernel, hello: bytes) -> None:
    assert_consistent(k)
    for mod in k.modules:
        assert mod.state.name in ("LIVE",), mod
    if k.module("pm_hello") is not None:
        k.delete_module("pm_hello")
    k.load_module(hello)
    k.delete_module("pm_hello")
    assert_consistent(k)


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_fork_while_loads_run():
    k = Kernel()
    k.load_module(prebuilt_path("pm_exporter"))
    images = [prebuilt_path(n).read_bytes() for n in ("pm_hello", "pm_importer",
                                                       "pm_ro_after_init", "pm_missing")]
    fork_children([lambda stop: _churn(k, images, stop)], lambda: _child(k, images[0]))
