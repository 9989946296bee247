# The only build step.  setuptools compiles the C core through cffi's
# out-of-line API mode: the build scripts live outside the installed package
# (cffi_build/) and read their cdefs from the real headers in csrc/.  Two
# small CPython extensions are one-address fast paths that call the cffi
# core: pymod._symfast (csrc/symfast/, the symbolizer) and pymod._lookfast
# (csrc/lookfast/, ModTree.find and within).
import importlib.util
import os
import sys

from setuptools import setup

_spec = importlib.util.spec_from_file_location(
    "_common", os.path.join(os.path.dirname(os.path.abspath(__file__)), "cffi_build", "_common.py"))
_common = importlib.util.module_from_spec(_spec)
sys.modules["_common"] = _common   # dataclasses look their module up there
_spec.loader.exec_module(_common)

setup(cffi_modules=["cffi_build/build_lookup.py:ffi", "cffi_build/build_kscan.py:ffi",
                     "cffi_build/build_reloc.py:ffi", "cffi_build/build_dwarf.py:ffi"],
      ext_modules=[_common.cpython_extension(_common.SYMFAST),
                   _common.cpython_extension(_common.LOOKFAST)])
