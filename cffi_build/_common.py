"""What the cffi builds, the C tests and the benchmarks share about the C code.

Nothing here runs at import: it names the C libraries (their folders,
headers and sources), the compiler flags every build uses, and reads a cdef
from between the ``cffi:begin``/``cffi:end`` markers of a real header, so the
C API and its Python binding cannot drift apart.  Importable as
``cffi_build._common`` (tests, bench) and by path (cffi runs build scripts
with ``exec``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CSRC = os.path.join(ROOT, "csrc")

# -Werror: a warning in the C core is a bug, in every build (cffi, tests, bench).
WARN_FLAGS = ["-std=c11", "-Wall", "-Wextra", "-Werror"]
CFLAGS = ["-O2", *WARN_FLAGS, "-pthread"]
LDFLAGS = ["-pthread"]


@dataclass(frozen=True)
class CLibrary:
    """One C library of pymod: its folder under csrc/, public header, sources."""

    name: str
    module: str                  # the cffi extension it becomes
    header: str                  # file name inside the folder
    sources: tuple[str, ...]     # file names inside the folder
    # Other folders under csrc/ built into the same library: (folder, sources).
    parts: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def folder(self) -> str:
        return os.path.join(CSRC, self.name)

    @property
    def folders(self) -> list[str]:
        """Its folder, then its parts' (each one an include directory)."""
        return [self.folder, *(os.path.join(CSRC, name) for name, _ in self.parts)]

    @property
    def header_path(self) -> str:
        return os.path.join(self.folder, self.header)

    def source_paths(self) -> list[str]:
        """Absolute paths of the sources (for gcc command lines)."""
        own = [os.path.join(self.folder, s) for s in self.sources]
        return own + [os.path.join(CSRC, name, s) for name, files in self.parts for s in files]

    def include_flags(self) -> list[str]:
        return [flag for folder in self.folders for flag in ("-I", folder)]


LOOKUP = CLibrary("lookup", "pymod._lookup_cffi", "pymod_lookup.h",
                  ("pm_rcu.c", "pm_rbtree.c", "pm_latch.c", "pm_idtab.c", "pm_map.c",
                   "pm_map_write.c", "pm_map_query.c", "pm_batch.c", "pm_status.c"),
                  # the symbolizer's tables: their nodes live in the map's tree
                  parts=(("symbols", ("pm_sym.c", "pm_symlookup.c", "pm_symreg.c")),))
KSCAN = CLibrary("kscan", "pymod._kscan_cffi", "pymod_kscan.h",
                 ("pm_kscan.c", "pm_kscan_status.c"))
# apply_relocate_add: the common loop and one file per architecture
# (pm_reloc_arch.h; docs/arch.rst says how to add one).
RELOC = CLibrary("reloc", "pymod._reloc_cffi", "pymod_reloc.h",
                 ("pm_reloc.c", "pm_reloc_x86_64.c"))
DWARF = CLibrary("dwarf", "pymod._dwarf_cffi", "pymod_dwarf.h",
                 ("pd_read.c", "pd_form.c", "pd_abbrev.c", "pd_unit.c", "pd_line.c",
                  "pd_lineprog.c", "pd_ranges.c", "pd_names.c", "pd_info.c", "pd_clip.c",
                  "pd_blob.c", "pd_index.c", "pd_namemap.c", "pd_text.c", "pd_sort.c",
                  "pd_build.c"))
# Not a cffi library: a plain CPython extension (one-address symbolization)
# that calls LOOKUP's pm_symmap_lookup1 through a pointer it finds with
# dlsym in the loaded cffi library; it includes LOOKUP's header for the
# types only.
SYMFAST = CLibrary("symfast", "pymod._symfast", "pm_symfast.h",
                   ("pm_symfast.c", "pm_names.c", "pm_symobj.c"),
                   parts=(("pyext", ("pm_corelib.c",)),))

# The same kind of extension for ModTree.find/within (one-address lookups):
# its Map type owns a pm_map and calls LOOKUP's pm_map_find_on/pm_map_within_on
# (pm_map_find for a list scan, which releases the GIL) through pointers
# found with dlsym.
LOOKFAST = CLibrary("lookfast", "pymod._lookfast", "pm_lookfast.h",
                    ("pm_lookfast.c", "pm_probe.c"),
                    parts=(("pyext", ("pm_corelib.c",)),))


def cpython_extension(lib: CLibrary) -> Any:  # a setuptools.Extension (build-time import only)
    """``lib`` (SYMFAST or LOOKFAST) as a plain CPython extension: its folders
    plus LOOKUP's (for the core's types), linked with libdl for dlopen/dlsym
    (in libc itself from glibc 2.34)."""
    from setuptools import Extension

    return Extension(lib.module,
                     sources=[os.path.relpath(p, ROOT) for p in lib.source_paths()],
                     include_dirs=[os.path.relpath(f, ROOT) for f in [*lib.folders, LOOKUP.folder]],
                     libraries=["dl"],
                     extra_compile_args=CFLAGS, extra_link_args=LDFLAGS)


def read_cdef(path: str) -> str:
    """The text between the ``cffi:begin`` and ``cffi:end`` markers of ``path``."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"/\* cffi:begin \*/(.*?)/\* cffi:end \*/", text, re.S)
    if not m:
        raise RuntimeError("%s: no cffi:begin/cffi:end block" % path)
    return m.group(1)


def make_ffi(lib: CLibrary) -> Any:  # a cffi.FFI (cffi is a build-time import only)
    """The out-of-line API ``FFI`` of ``lib``; paths relative to the repo root,
    as setuptools wants them."""
    from cffi import FFI

    ffi = FFI()
    ffi.cdef(read_cdef(lib.header_path))
    ffi.set_source(
        lib.module,
        '#include "%s"' % lib.header,
        sources=[os.path.relpath(p, ROOT) for p in lib.source_paths()],
        include_dirs=[os.path.relpath(folder, ROOT) for folder in lib.folders],
        extra_compile_args=CFLAGS,
        extra_link_args=LDFLAGS,
    )
    return ffi
