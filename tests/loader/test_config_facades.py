"""Configuration only behind facades: no code outside the facade selection
reads a Kconfig flag of :class:`pymod.config.Config`, and no failure message
is read back from the kernel log (the function that decides returns it)."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pymod
from pymod.config import Config

PACKAGE = Path(pymod.__file__).resolve().parent
# The selection (and Config itself, which derives vermagic from its flags).
ALLOWED = {PACKAGE / "config.py", PACKAGE / "features" / "__init__.py"}
FLAGS = frozenset(f.name for f in dataclasses.fields(Config) if f.name.isupper())
# Enums whose members share a name with a flag (Taint.LIVEPATCH is a taint bit).
ENUMS = {"Taint"}


def _attribute_reads(names: frozenset[str], skip: set[Path]) -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path in skip:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (isinstance(node, ast.Attribute) and node.attr in names
                    and not (isinstance(node.value, ast.Name) and node.value.id in ENUMS)):
                found.append("%s:%d: .%s" % (path.relative_to(PACKAGE), node.lineno, node.attr))
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                  and node.func.id == "getattr" and len(node.args) > 1
                  and isinstance(node.args[1], ast.Constant) and node.args[1].value in names):
                found.append("%s:%d: getattr %s" % (path.relative_to(PACKAGE), node.lineno,
                                                     node.args[1].value))
    return found


def test_the_scan_sees_flags():
    # The rule is only worth something if the scan finds the reads it allows.
    assert FLAGS >= {"MODULE_UNLOAD", "MODULE_FORCE_LOAD", "MODULE_FORCE_UNLOAD",
                     "MODVERSIONS", "MODULE_ALLOW_MISSING_NAMESPACE_IMPORTS"}
    assert _attribute_reads(FLAGS, set()), "the selection itself must show up"


def test_no_kconfig_flag_is_read_outside_the_facade_selection():
    assert _attribute_reads(FLAGS, ALLOWED) == []


def _log_line_reads() -> list[str]:
    """``<...>.log.lines`` or ``log.lines``: reading the kernel log back."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (isinstance(node, ast.Attribute) and node.attr == "lines"):
                continue
            base = node.value
            if (isinstance(base, ast.Attribute) and base.attr == "log") or \
                    (isinstance(base, ast.Name) and base.id == "log"):
                found.append("%s:%d" % (path.relative_to(PACKAGE), node.lineno))
    return found


def test_no_failure_message_is_read_back_from_the_log():
    assert _log_line_reads() == []
