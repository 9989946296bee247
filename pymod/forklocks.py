"""fork() waits for every Python-level lock of pymod, in one global order.

A child process has only the thread that forked.  A lock another thread
held at that moment stays held in the child forever, and the state it
guarded may be half changed.  So, as the C core's ``pthread_atfork``
handlers do for its own mutexes, one ``os.register_at_fork`` hook takes
every tracked lock before the fork and releases it after, in the parent
and in the child alike: the child inherits a state between two operations.

The order is global, by rank, because hooks registered separately run in
the reverse of their registration order, which depends on what was
imported first: a kernel's ``module_mutex`` (rank :data:`KERNEL`) comes
before any symbolizer's locks (rank :data:`SYMBOLIZER`), since a load calls
a following symbolizer's writers while it holds the mutex.  Within a rank,
objects are taken in a fixed order (by id) and each object's locks in the
order its own code takes them.  A lock may be an ``RLock``: the forking
thread may already hold it.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any, Protocol

__all__ = ["KERNEL", "SYMBOLIZER", "track"]

KERNEL = 0         #: pymod.loader.registry.Registry.module_mutex
SYMBOLIZER = 1     #: pymod.symbolize.Symbolizer's writer lock, then its tables' lock


class _Lock(Protocol):
    """What :func:`track` needs of a lock: ``threading.Lock``'s two methods."""

    def acquire(self, blocking: bool = ..., timeout: float = ...) -> bool: ...
    def release(self) -> None: ...


# rank -> {object: the function giving its locks in acquisition order}
_TRACKED: dict[int, weakref.WeakKeyDictionary[Any, Callable[[], Sequence[_Lock]]]] = {
    KERNEL: weakref.WeakKeyDictionary(), SYMBOLIZER: weakref.WeakKeyDictionary()}
_guard = threading.Lock()       # tracking vs. a fork in another thread
_held: list[_Lock] = []


def track(obj: Any, rank: int, locks: Callable[[], Sequence[_Lock]]) -> None:
    """From now until ``obj`` is garbage, fork() waits for ``locks()``.

    ``locks`` must not keep ``obj`` alive (a function of the object's
    class, or a closure over the locks themselves)."""
    with _guard:
        _TRACKED[rank][obj] = locks


def _before() -> None:
    _guard.acquire()
    for rank in sorted(_TRACKED):
        for _obj, locks in sorted(_TRACKED[rank].items(), key=lambda kv: id(kv[0])):
            for lock in locks():
                lock.acquire()
                _held.append(lock)


def _after() -> None:
    while _held:
        _held.pop().release()
    _guard.release()


os.register_at_fork(before=_before, after_in_parent=_after, after_in_child=_after)
