"""cffi out-of-line API build of the lookup core (``pymod._lookup_cffi``).

Lives outside the installed package; setup.py names it in ``cffi_modules``.
The cdef is the ``cffi:begin``/``cffi:end`` block of csrc/lookup/pymod_lookup.h.
"""

from __future__ import annotations

import importlib.util
import os
import sys

# Loaded by path: cffi runs build scripts with exec(), not as a package.
_spec = importlib.util.spec_from_file_location(
    "_pymod_cffi_common", os.path.join(os.path.dirname(os.path.abspath(__file__)), "_common.py"))
assert _spec is not None and _spec.loader is not None
_common = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _common  # dataclasses look their module up there
_spec.loader.exec_module(_common)

ffi = _common.make_ffi(_common.LOOKUP)

if __name__ == "__main__":
    ffi.compile(verbose=True)
