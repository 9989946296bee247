"""Type stubs for the cffi libraries, written from the same cdef the build
reads: ``python -m cffi_build.stubs`` writes ``pymod/<module>.pyi`` for each
library; ``--check`` only says whether they are current (a test runs it).

cffi builds ``lib`` at install time, so without stubs every call into C is
``Any`` to mypy: a misspelt function or a missing argument passes.  The
stubs give each function its arity and its integer arguments and results;
pointers stay ``Any`` (cffi takes cdata, buffers and bytes for them).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from cffi_build import _common

LIBRARIES = (_common.LOOKUP, _common.KSCAN, _common.RELOC, _common.DWARF)
_INTEGERS = {"char", "short", "int", "long", "long long", "unsigned char", "unsigned short",
             "unsigned int", "unsigned long", "unsigned long long", "signed char", "_Bool",
             "size_t", "ssize_t", "int8_t", "int16_t", "int32_t", "int64_t", "uint8_t",
             "uint16_t", "uint32_t", "uint64_t", "intptr_t", "uintptr_t"}


def _arg(t: Any) -> str:
    name = t._get_c_name()
    if name in _INTEGERS or type(t).__name__ == "EnumType":
        return "SupportsIndex"
    if name in ("float", "double"):
        return "float"
    return "Any"


def _result(t: Any) -> str:
    name = t._get_c_name()
    if name == "void":
        return "None"
    if name in _INTEGERS or type(t).__name__ == "EnumType":
        return "int"
    if name in ("float", "double"):
        return "float"
    return "Any"


def _function(name: str, model: Any) -> str:
    """One method of ``_Lib``, its arguments positional-only; wrapped one
    argument a line when it would pass 100 columns."""
    args = ["self", *("a%d: %s" % (i, _arg(a)) for i, a in enumerate(model.args)), "/"]
    if len(args) == 2:
        args.pop()
    tail = ") -> %s: ..." % _result(model.result)
    line = "    def %s(%s%s" % (name, ", ".join(args), tail)
    if len(line) <= 100:
        return line
    return "\n".join(["    def %s(" % name, *("        %s," % a for a in args), "    " + tail])


def stub_text(lib: _common.CLibrary) -> str:
    """The ``.pyi`` of ``lib``: its constants and functions."""
    ffi = _common.make_ffi(lib)
    constants: list[str] = []
    functions: list[str] = []
    for key, (model, _) in ffi._parser._declarations.items():
        kind, _, name = key.partition(" ")
        if kind == "function":
            functions.append(_function(name, model))
        elif kind == "enum":
            constants += ["    %s: int" % e for e in model.enumerators]
        elif kind in ("constant", "macro"):
            constants.append("    %s: int" % name)
    header = os.path.relpath(lib.header_path, _common.ROOT)
    return "\n".join([
        "# Written by cffi_build/stubs.py from %s's cdef: do not edit." % header,
        "from typing import Any, SupportsIndex, final", "",
        "@final", "class _Lib:", *sorted(constants), *functions, "",
        "ffi: Any", "lib: _Lib", ""])


def stub_path(lib: _common.CLibrary) -> str:
    package, module = lib.module.rsplit(".", 1)
    return os.path.join(_common.ROOT, *package.split("."), module + ".pyi")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cffi_build.stubs", description=__doc__)
    ap.add_argument("--check", action="store_true", help="only say which stubs are stale")
    args = ap.parse_args(argv)
    stale = []
    for lib in LIBRARIES:
        path, text = stub_path(lib), stub_text(lib)
        try:
            with open(path, encoding="utf-8") as f:
                current = f.read() == text
        except FileNotFoundError:
            current = False
        if current:
            continue
        stale.append(os.path.relpath(path, _common.ROOT))
        if not args.check:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
    if stale:
        print("%s: %s" % ("stale" if args.check else "written", ", ".join(stale)))
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
