"""The names behind the C tables: tag -> owner, kept while any batch may use it.

The C core answers with a table tag and an index; the names, module and
build id of a tag live here.  A writer registers a tag before the C core
publishes its table, and retires it only after the C core has unpublished
it (which waits out every C reader).  A retired tag is dropped once every
batch that started before it was retired has finished: each batch
registers the epoch it started in, an epoch-based reclamation in small.

The C one-address path (csrc/symfast) reads its own copy of each owner's
names, in a ``pymod._symfast.Names`` that Python code cannot change
but through ``put``/``drop``, which check what they are given: nothing a
caller does to these tables can make C read outside an object.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass

import numpy as np

from pymod._symfast import Names
from pymod.symbolize.model import SymbolTable

__all__ = ["Owner", "Tables"]


@dataclass(frozen=True)
class Owner:
    """A table's owner: ``module`` None for vmlinux."""

    module: str | None
    symbols: SymbolTable
    build_id: bytes | None = None
    regions: tuple[tuple[int, int], ...] = ()   # the module's, when this table was current


def _put(names: Names, tag: int, owner: Owner) -> None:
    """Copy what the C one-address path reads of ``owner`` into ``names``:
    the string table, the name offsets (as bytes), module and build id."""
    offsets = np.ascontiguousarray(owner.symbols.names, dtype=np.uint32).tobytes()
    names.put(tag, bytes(owner.symbols.strtab), offsets, owner.module, owner.build_id)


class Tables:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tags = itertools.count(1)
        self._owners: dict[int, Owner] = {}
        # The same tags for the C one-address path, in C (see the module's doc).
        self.names = Names()
        self._epoch = 0
        self._retired: list[tuple[int, int]] = []     # (epoch retired, tag)
        self._stale: set[int] = set()                 # dropped tags still in _owners
        self._active: dict[int, int] = {}             # batch token -> epoch at start
        self._tokens = itertools.count(1)

    def register(self, owner: Owner) -> int:
        """A new tag for ``owner`` (before its table is published)."""
        with self._lock:
            tag = next(self._tags)
            _put(self.names, tag, owner)
            self._owners[tag] = owner          # added in place: see owners
            return tag

    def retire(self, tag: int) -> None:
        """``tag``'s table is unpublished; drop it once no batch can hold it."""
        with self._lock:
            self._epoch += 1
            self._retired.append((self._epoch, tag))
            self._purge()

    def enter(self) -> int:
        """A batch starts: a token for :meth:`leave`."""
        with self._lock:
            token = next(self._tokens)
            self._active[token] = self._epoch
            return token

    def leave(self, token: int) -> None:
        with self._lock:
            del self._active[token]
            self._purge()

    @property
    def owners(self) -> dict[int, Owner]:
        """The tags registered now, in a dict a reader may keep: writers
        only add to it (a tag is never reused), and a removal makes a new
        dict, so every tag it held stays.  Copying it at every change made
        n registrations cost n**2; removals are now copied in bulk, once as
        many tags as half the live ones are dropped."""
        return self._owners

    def _purge(self) -> None:
        oldest = min(self._active.values(), default=self._epoch)
        gone = {tag for epoch, tag in self._retired if epoch <= oldest}
        if gone:   # retired before every running batch began
            self._stale |= gone
            if len(self._stale) * 2 >= len(self._owners):
                self._owners = {t: o for t, o in self._owners.items() if t not in self._stale}
                self._stale = set()
            for tag in gone:
                self.names.drop(tag)
            self._retired = [(e, t) for e, t in self._retired if e > oldest]

    def __len__(self) -> int:
        return len(self._owners) - len(self._stale)
