# Written by cffi_build/stubs.py from csrc/reloc/pymod_reloc.h's cdef: do not edit.
from typing import Any, SupportsIndex, final

@final
class _Lib:
    PM_RELOC_EINVAL: int
    PM_RELOC_EMACHINE: int
    PM_RELOC_ENONZERO: int
    PM_RELOC_EOVERFLOW: int
    PM_RELOC_ERANGE: int
    PM_RELOC_ESYMBOL: int
    PM_RELOC_EUNKNOWN: int
    PM_RELOC_OK: int
    def pm_reloc_strerror(self, a0: SupportsIndex, /) -> Any: ...
    def pm_reloc_supported(self, a0: SupportsIndex, /) -> int: ...
    def pm_reloc_apply(
        self,
        a0: SupportsIndex,
        a1: Any,
        a2: SupportsIndex,
        a3: SupportsIndex,
        a4: SupportsIndex,
        a5: Any,
        a6: SupportsIndex,
        a7: Any,
        a8: SupportsIndex,
        a9: Any,
        /,
    ) -> int: ...

ffi: Any
lib: _Lib
