# The only build step: setuptools compiles the C core through cffi's
# out-of-line API mode.  The build scripts live outside the installed package
# (cffi_build/) and read their cdefs from the real headers in csrc/.
from setuptools import setup

setup(cffi_modules=["cffi_build/build_lookup.py:ffi", "cffi_build/build_kscan.py:ffi"])
