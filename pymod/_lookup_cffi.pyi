# Written by cffi_build/stubs.py from csrc/lookup/pymod_lookup.h's cdef: do not edit.
from typing import Any, SupportsIndex, final

@final
class _Lib:
    PM_BATCH_AUTO: int
    PM_BATCH_SORTED: int
    PM_BATCH_WALK: int
    PM_EBADREGION: int
    PM_ECOUNT: int
    PM_EDUPID: int
    PM_EIDINDEX: int
    PM_EINVAL: int
    PM_ELIST: int
    PM_ENODES: int
    PM_ENOENT: int
    PM_ENOMEM: int
    PM_EOVERLAP: int
    PM_ESELFOVERLAP: int
    PM_ETREE0: int
    PM_ETREE1: int
    PM_MEM_DATA: int
    PM_MEM_INIT_DATA: int
    PM_MEM_INIT_RODATA: int
    PM_MEM_INIT_TEXT: int
    PM_MEM_NTYPES: int
    PM_MEM_RODATA: int
    PM_MEM_RO_AFTER_INIT: int
    PM_MEM_TEXT: int
    PM_OK: int
    PM_STRATEGY_LIST: int
    PM_STRATEGY_TREE: int
    PM_SYM_FOUND: int
    PM_SYM_NO_SYMBOL: int
    PM_SYM_NO_SYMBOLS: int
    PM_SYM_OWNER_CORE: int
    PM_SYM_OWNER_NONE: int
    PM_SYM_UNKNOWN: int
    def pm_strerror(self, a0: SupportsIndex, /) -> Any: ...
    def pm_map_new(self, a0: SupportsIndex, /) -> Any: ...
    def pm_map_free(self, a0: Any, /) -> None: ...
    def pm_map_strategy(self, a0: Any, /) -> int: ...
    def pm_map_insert(self, a0: Any, a1: SupportsIndex, a2: Any, a3: Any, a4: Any, /) -> int: ...
    def pm_map_remove(self, a0: Any, a1: SupportsIndex, /) -> int: ...
    def pm_map_remove_init(self, a0: Any, a1: SupportsIndex, /) -> int: ...
    def pm_map_reclaim(self, a0: Any, /) -> None: ...
    def pm_map_find(self, a0: Any, a1: SupportsIndex, /) -> int: ...
    def pm_map_find_many(
        self,
        a0: Any,
        a1: Any,
        a2: Any,
        a3: SupportsIndex,
        a4: SupportsIndex,
        /,
    ) -> int: ...
    def pm_map_within(self, a0: Any, a1: SupportsIndex, a2: SupportsIndex, /) -> int: ...
    def pm_map_addr_min(self, a0: Any, /) -> int: ...
    def pm_map_addr_max(self, a0: Any, /) -> int: ...
    def pm_map_count(self, a0: Any, /) -> int: ...
    def pm_map_regions(self, a0: Any, a1: SupportsIndex, a2: Any, a3: Any, /) -> int: ...
    def pm_map_ids(self, a0: Any, a1: Any, a2: SupportsIndex, /) -> int: ...
    def pm_map_validate(self, a0: Any, /) -> int: ...
    def pm_symmap_new(self) -> Any: ...
    def pm_symmap_free(self, a0: Any, /) -> None: ...
    def pm_symmap_handle(self, a0: Any, /) -> int: ...
    def pm_symmap_get(self, a0: SupportsIndex, /) -> Any: ...
    def pm_symmap_put(self, a0: Any, /) -> None: ...
    def pm_symmap_set_core(
        self,
        a0: Any,
        a1: SupportsIndex,
        a2: Any,
        a3: SupportsIndex,
        a4: Any,
        a5: SupportsIndex,
        /,
    ) -> int: ...
    def pm_symmap_add(
        self,
        a0: Any,
        a1: SupportsIndex,
        a2: Any,
        a3: Any,
        a4: SupportsIndex,
        a5: Any,
        a6: SupportsIndex,
        a7: Any,
        /,
    ) -> int: ...
    def pm_symmap_replace(
        self,
        a0: Any,
        a1: SupportsIndex,
        a2: SupportsIndex,
        a3: Any,
        a4: SupportsIndex,
        a5: SupportsIndex,
        /,
    ) -> int: ...
    def pm_symmap_remove(self, a0: Any, a1: SupportsIndex, /) -> int: ...
    def pm_symmap_generation(self, a0: Any, /) -> int: ...
    def pm_symmap_lookup(
        self,
        a0: Any,
        a1: Any,
        a2: SupportsIndex,
        a3: SupportsIndex,
        a4: Any,
        a5: Any,
        a6: Any,
        a7: Any,
        a8: Any,
        a9: Any,
        a10: Any,
        /,
    ) -> int: ...
    def pm_symmap_lookup1(
        self,
        a0: Any,
        a1: SupportsIndex,
        a2: SupportsIndex,
        a3: Any,
        /,
    ) -> int: ...

ffi: Any
lib: _Lib
