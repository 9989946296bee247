# Written by cffi_build/stubs.py from csrc/dwarf/pymod_dwarf.h's cdef: do not edit.
from typing import Any, SupportsIndex, final

@final
class _Lib:
    PD_ABBREV: int
    PD_ADDR: int
    PD_ARANGES: int
    PD_EABBREV: int
    PD_EBADINDEX: int
    PD_ECORRUPT: int
    PD_EDEPTH: int
    PD_EFORM: int
    PD_EINVAL: int
    PD_ELINE: int
    PD_ENOMEM: int
    PD_ERANGE: int
    PD_ETOOBIG: int
    PD_ETRUNC: int
    PD_EVERSION: int
    PD_INFO: int
    PD_LINE: int
    PD_LINE_STR: int
    PD_NSECTIONS: int
    PD_OK: int
    PD_RANGES: int
    PD_RNGLISTS: int
    PD_STR: int
    PD_STR_OFFSETS: int
    def pd_strerror(self, a0: SupportsIndex, /) -> Any: ...
    def pd_build(self, a0: Any, a1: Any, a2: Any, /) -> int: ...
    def pd_free(self, a0: Any, /) -> None: ...
    def pd_index_open(self, a0: Any, a1: SupportsIndex, a2: Any, /) -> int: ...
    def pd_index_close(self, a0: Any, /) -> None: ...
    def pd_index_nrows(self, a0: Any, /) -> int: ...
    def pd_index_nfuncs(self, a0: Any, /) -> int: ...
    def pd_index_string(self, a0: Any, a1: SupportsIndex, /) -> Any: ...
    def pd_index_count(
        self,
        a0: Any,
        a1: Any,
        a2: SupportsIndex,
        a3: Any,
        a4: Any,
        a5: Any,
        a6: Any,
        /,
    ) -> int: ...
    def pd_index_fill(self, a0: Any, a1: SupportsIndex, a2: Any, a3: Any, a4: Any, /) -> int: ...
    def pd_index_chain_text(
        self,
        a0: Any,
        a1: Any,
        a2: SupportsIndex,
        a3: Any,
        a4: SupportsIndex,
        a5: Any,
        a6: SupportsIndex,
        a7: Any,
        a8: Any,
        a9: Any,
        /,
    ) -> int: ...
    def pd_namemap_new(
        self,
        a0: Any,
        a1: SupportsIndex,
        a2: Any,
        a3: Any,
        a4: Any,
        a5: SupportsIndex,
        a6: Any,
        /,
    ) -> int: ...
    def pd_namemap_free(self, a0: Any, /) -> None: ...
    def pd_decode_bare(
        self,
        a0: Any,
        a1: Any,
        a2: Any,
        a3: SupportsIndex,
        a4: Any,
        a5: Any,
        a6: SupportsIndex,
        a7: Any,
        a8: SupportsIndex,
        a9: Any,
        a10: SupportsIndex,
        a11: Any,
        a12: Any,
        a13: Any,
        /,
    ) -> int: ...

ffi: Any
lib: _Lib
