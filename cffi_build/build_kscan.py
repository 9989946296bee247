"""cffi out-of-line API build of the module scanner (pymod._kscan_cffi).

Like build_lookup.py (whose ``read_cdef`` and compiler flags it reuses):
the cdef is the ``cffi:begin``/``cffi:end`` block of csrc/pymod_kscan.h.
"""

from __future__ import annotations

import importlib.util
import os

from cffi import FFI

_HERE = os.path.dirname(os.path.abspath(__file__))
# Loaded by path: cffi runs build scripts with exec(), not as a package.
_spec = importlib.util.spec_from_file_location("_pymod_build_lookup",
                                               os.path.join(_HERE, "build_lookup.py"))
assert _spec is not None and _spec.loader is not None
_lookup = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_lookup)

HEADER = os.path.join(_lookup.CSRC, "pymod_kscan.h")
SOURCES = ["pm_kscan.c"]

ffi = FFI()
ffi.cdef(_lookup.read_cdef(HEADER))
ffi.set_source(
    "pymod._kscan_cffi",
    '#include "pymod_kscan.h"',
    sources=[os.path.relpath(os.path.join(_lookup.CSRC, s), _lookup.ROOT) for s in SOURCES],
    include_dirs=[os.path.relpath(_lookup.CSRC, _lookup.ROOT)],
    extra_compile_args=_lookup.CFLAGS,
)

if __name__ == "__main__":
    ffi.compile(verbose=True)
