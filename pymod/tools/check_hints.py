"""What ``pymod check`` says beside the kernel's verdict: the facts each
load was given (a module's name, ``depends`` and ``vermagic``, read off the
file the batch already read), the dependencies a module pulled from the
target's tree, and a hint a user can act on when a module was built for
another kernel.

The kernel's own lines stay exactly as the kernel prints them; a hint is
pymod's, in a line (and a JSON key) of its own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from pymod.tools.common import tap_console

# Refusals a module built for another kernel gets before anything else
# fails: an invalid format (vermagic, modversions' module_layout, 6.12's
# struct module size, relocations of another layout) or its symbols (an
# export renamed, or a CRC that "disagrees").
_STALE_STAGES = ("vermagic", "modversions", "symbols")


@dataclass(frozen=True)
class Facts:
    """What a module file's ``.modinfo`` says about where it belongs."""

    name: str
    depends: tuple[str, ...]
    vermagic: str | None


def facts_of(ko: Any) -> Facts | None:
    """``ko``'s (a :class:`~pymod.elf.kofile.KoFile`) name, ``depends`` and
    ``vermagic``; None when its ``.modinfo`` cannot be read (the kernel's
    load says why)."""
    from pymod.errors import PymodError
    from pymod.kmod.tree import modname_of

    try:
        info = ko.elf.modinfo()
    except PymodError:
        return None
    first: dict[str, str] = {}
    for key, value in info:
        first.setdefault(key, value)
    depends = tuple(d.replace("-", "_") for d in first.get("depends", "").split(",") if d)
    return Facts(first.get("name") or modname_of(ko.path or "?"), depends,
                 first.get("vermagic"))


class LoadWatch:
    """Every ``load_module`` of one kernel instance, watched: the lines the
    kernel prints during a load it refuses (by the error: what ``dmesg``
    would show for that ``insmod``), and each file's :class:`Facts` (by real
    path, in load order).  The lines are taken as they are printed (the
    console, tapped: the loader's own messages never come back from its
    log)."""

    def __init__(self, kernel: Any) -> None:
        from pymod.elf.kofile import KoFile

        self.logs: dict[BaseException, tuple[tuple[str, str], ...]] = {}
        self.files: dict[str, Facts] = {}
        self._by_name: dict[str, str] = {}
        self._indexed = -1
        printed = tap_console(kernel)
        load = kernel.load_module

        def watched(source: Any, *args: Any, **kw: Any) -> Any:
            if isinstance(source, KoFile) and source.path:
                facts = facts_of(source)
                if facts is not None:
                    self.files[os.path.realpath(source.path)] = facts
            start = len(printed)
            try:
                return load(source, *args, **kw)
            except Exception as e:
                self.logs[e] = tuple(printed[start:])
                raise

        kernel.load_module = watched           # this instance's loads, and only them

    def pulled_for(self, real: str, given: set[str]) -> list[str]:
        """The real paths of the files not among ``given`` (real paths) that
        the module at ``real`` needs, directly or through others, in load
        order (dependencies first): what the batch pulled from a tree."""
        facts = self.files.get(real)
        if facts is None:
            return []
        if self._indexed != len(self.files):     # once per batch, not once per file
            self._by_name = {f.name: p for p, f in self.files.items()}
            self._indexed = len(self.files)
        by_name = self._by_name
        needed: set[str] = set()
        todo = list(facts.depends)
        while todo:
            path = by_name.get(todo.pop())
            if path is not None and path not in needed:
                needed.add(path)
                todo += self.files[path].depends
        return [p for p in self.files if p in needed and p not in given]


def rebuild_hint(report: dict[str, Any], facts: Facts | None, release: str,
                 vermagic: str) -> str | None:
    """pymod's advice for a refusal of a module built for another kernel
    (its ``vermagic`` names another release, or the kernel refused the
    vermagic itself), else None."""
    if report["ok"] or facts is None or not facts.vermagic:
        return None
    theirs = facts.vermagic.strip()
    built_for = theirs.split()[0]
    if built_for != release and (report["errno"] == "ENOEXEC"
                                 or report["stage"] in _STALE_STAGES):
        return ("built for %s (vermagic '%s'); the target is %s: rebuild it against that "
                "kernel's headers" % (built_for, theirs, release))
    if report["stage"] == "vermagic":
        return ("built with vermagic '%s'; the target's is '%s': rebuild it against that "
                "kernel's headers and configuration" % (theirs, vermagic.strip()))
    return None
