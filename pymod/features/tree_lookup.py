"""CONFIG_MODULES_TREE_LOOKUP: see :class:`pymod.contract.facades.TreeLookup`.

Both variants sit on the lead's C core, :class:`pymod.lookup.ModTree`: the
latch tree when the option is on, its O(n) RCU-list path when it is off (the
kernel's ``list_for_each_entry_rcu`` fallback).  Callers see one API.
"""

from __future__ import annotations


class TreeLookup:
    def __init__(self, strategy: str):
        from pymod.lookup import ModTree

        self.strategy = strategy
        self.map = ModTree(strategy=strategy)

    def mod_tree_insert(self, mod_id: int, regions: dict[str, tuple[int, int]]) -> None:
        self.map.insert(mod_id, regions)

    def mod_tree_remove_init(self, mod_id: int) -> None:
        self.map.remove_init(mod_id)

    def mod_tree_remove(self, mod_id: int) -> None:
        self.map.remove(mod_id)

    def mod_find(self, addr: int) -> int | None:
        return self.map.find(addr)

    def within(self, addr: int, mod_id: int) -> bool:
        return self.map.within(addr, mod_id)

    @property
    def addr_min(self) -> int:
        return self.map.addr_min

    @property
    def addr_max(self) -> int:
        return self.map.addr_max

    def __len__(self) -> int:
        return len(self.map)
