"""Objects compiled here with ``gcc -g -c``: relocatable, like a ``.ko``."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

SOURCE = r"""
static inline int sq(int x) { return x * x; }
int counter;
static int helper(int a) { for (int i = 0; i < a; i++) counter += sq(i); return counter; }
int f(int a) { return helper(a) + sq(a); }
__attribute__((section(".init.text"))) int g(int b) { return sq(b) + 1; }
"""


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=True, capture_output=True, text=True)


@pytest.fixture(scope="session")
def objects(tmp_path_factory) -> dict[str, Path]:
    """``{"dwarf5": t5.o, "dwarf4": t4.o}`` and their compressed copies
    (``zlib``, ``zstd`` when this objcopy can, ``zlib-gnu``)."""
    for tool in ("gcc", "objcopy"):
        if shutil.which(tool) is None:
            pytest.skip("%s not found" % tool)
    d = tmp_path_factory.mktemp("dwarfobj")
    (d / "t.c").write_text(SOURCE)
    out = {"dwarf5": d / "t5.o", "dwarf4": d / "t4.o"}
    _run("gcc", "-gdwarf-5", "-O2", "-c", str(d / "t.c"), "-o", str(out["dwarf5"]))
    _run("gcc", "-gdwarf-4", "-O2", "-c", str(d / "t.c"), "-o", str(out["dwarf4"]))
    for kind in ("zlib", "zstd", "zlib-gnu"):
        target = d / ("t5-%s.o" % kind)
        try:
            _run("objcopy", "--compress-debug-sections=" + kind, str(out["dwarf5"]), str(target))
        except subprocess.CalledProcessError:
            continue          # an objcopy without zstd
        out[kind] = target
    return out
