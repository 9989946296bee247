# Written by cffi_build/stubs.py from csrc/kscan/pymod_kscan.h's cdef: do not edit.
from typing import Any, SupportsIndex, final

@final
class _Lib:
    PM_KSCAN_EINVAL: int
    PM_KSCAN_ENOSPC: int
    PM_KSCAN_ESECTION: int
    PM_KSCAN_ESHDR: int
    PM_KSCAN_ESHORT: int
    PM_KSCAN_OK: int
    PM_RELOC_EINVAL: int
    PM_RELOC_ENONZERO: int
    PM_RELOC_EOVERFLOW: int
    PM_RELOC_ERANGE: int
    PM_RELOC_ESYMBOL: int
    PM_RELOC_EUNKNOWN: int
    PM_RELOC_OK: int
    def pm_kscan_strerror(self, a0: SupportsIndex, /) -> Any: ...
    def pm_kscan(
        self,
        a0: Any,
        a1: SupportsIndex,
        a2: Any,
        a3: SupportsIndex,
        a4: Any,
        a5: SupportsIndex,
        a6: Any,
        /,
    ) -> int: ...
    def pm_reloc_strerror(self, a0: SupportsIndex, /) -> Any: ...
    def pm_reloc_apply(
        self,
        a0: Any,
        a1: SupportsIndex,
        a2: SupportsIndex,
        a3: SupportsIndex,
        a4: Any,
        a5: SupportsIndex,
        a6: Any,
        a7: SupportsIndex,
        a8: Any,
        /,
    ) -> int: ...

ffi: Any
lib: _Lib
