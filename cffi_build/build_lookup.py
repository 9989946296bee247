"""cffi out-of-line API build of the lookup core (pymod._lookup_cffi).

Lives outside the installed package; setup.py names it in ``cffi_modules``.
The cdef is not restated here: it is the text between the ``cffi:begin`` and
``cffi:end`` markers of the real header csrc/pymod_lookup.h, so the C API
and its Python binding cannot drift apart.
"""

from __future__ import annotations

import os
import re

from cffi import FFI

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CSRC = os.path.join(ROOT, "csrc")
HEADER = os.path.join(CSRC, "pymod_lookup.h")
SOURCES = ["pm_rcu.c", "pm_rbtree.c", "pm_latch.c", "pm_map.c", "pm_batch.c"]
CFLAGS = ["-O2", "-std=c11", "-Wall", "-Wextra", "-Werror", "-pthread"]


def read_cdef(path: str = HEADER) -> str:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"/\* cffi:begin \*/(.*?)/\* cffi:end \*/", text, re.S)
    if not m:
        raise RuntimeError("%s: no cffi:begin/cffi:end block" % path)
    return m.group(1)


ffi = FFI()
ffi.cdef(read_cdef())
ffi.set_source(
    "pymod._lookup_cffi",
    '#include "pymod_lookup.h"',
    sources=[os.path.relpath(os.path.join(CSRC, s), ROOT) for s in SOURCES],
    include_dirs=[os.path.relpath(CSRC, ROOT)],
    extra_compile_args=CFLAGS,
    extra_link_args=["-pthread"],
)

if __name__ == "__main__":
    ffi.compile(verbose=True)
