# The only build step: setuptools compiles the C core through cffi's
# out-of-line API mode.  The build script lives outside the installed package
# (cffi_build/) and reads its cdef from the real header in csrc/.
from setuptools import setup

setup(cffi_modules=["cffi_build/build_lookup.py:ffi"])
