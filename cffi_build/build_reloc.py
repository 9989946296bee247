"""cffi out-of-line API build of the relocation library (``pymod._reloc_cffi``).

Lives outside the installed package; setup.py names it in ``cffi_modules``.
The cdef is the ``cffi:begin``/``cffi:end`` block of csrc/reloc/pymod_reloc.h.
"""

from __future__ import annotations

import os
import sys

# cffi runs build scripts with exec(), not as a package: import _common by path.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402

ffi = _common.make_ffi(_common.RELOC)

if __name__ == "__main__":
    ffi.compile(verbose=True)
