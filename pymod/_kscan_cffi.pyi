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

ffi: Any
lib: _Lib
