"""The one exception tree of pymod.

Every error pymod raises on purpose derives from :class:`PymodError`, which is
an :class:`OSError`: it carries a kernel ``errno`` so callers can branch on
``e.errno`` exactly as they would on the kernel's return value.  Errors that
Python users expect as built-in kinds (``ValueError`` for bad arguments,
``KeyError`` for an unknown module id) subclass those too, so both
``except ValueError`` and ``except pymod.PymodError`` work.
"""

from __future__ import annotations

import errno as _errno
import os as _os

__all__ = [
    "PymodError",
    "InvalidArgument",
    "RegionOverlap",
    "DuplicateModule",
    "UnknownModule",
    "ModuleLoadError",
    "errno_name",
]


def errno_name(code: int) -> str:
    """``2`` -> ``"ENOENT"`` (``"E?"`` for an unknown number)."""
    return _errno.errorcode.get(abs(code), "E%d" % abs(code))


class PymodError(OSError):
    """Root of every pymod error; ``errno`` is a positive kernel errno."""

    def __init__(self, code: int, message: str):
        super().__init__(abs(code), message)


class InvalidArgument(PymodError, ValueError):
    """An argument was rejected before any state changed (EINVAL)."""

    def __init__(self, message: str, code: int = _errno.EINVAL):
        super().__init__(code, message)


class RegionOverlap(InvalidArgument):
    """A region would overlap a region already in the map (EEXIST)."""

    def __init__(self, message: str, module: int, other: int):
        super().__init__(message, _errno.EEXIST)
        self.module = module
        self.other = other


class DuplicateModule(InvalidArgument):
    """A module id is already present (EEXIST)."""

    def __init__(self, message: str):
        super().__init__(message, _errno.EEXIST)


class UnknownModule(PymodError, KeyError):
    """No module with that id or name (ENOENT)."""

    def __init__(self, message: str):
        super().__init__(_errno.ENOENT, message)

    def __str__(self) -> str:  # KeyError would repr() the args
        return self.strerror or ""


class ModuleLoadError(PymodError):
    """A simulated ``load_module``/``delete_module`` failed.

    ``errno``     the kernel's errno (positive), e.g. ``errno.ENOEXEC``
    ``strerror``  the kernel-style message, e.g. ``"foo: Unknown symbol bar (err -2)"``
    ``module``    the module name when known, else ``None``
    ``stage``     the pipeline stage that failed (``"elf"``, ``"signature"``,
                  ``"modinfo"``, ``"symbols"`` ...)
    """

    def __init__(self, code: int, message: str, module: str | None = None,
                 stage: str | None = None):
        super().__init__(code, message)
        self.module = module
        self.stage = stage

    def __str__(self) -> str:
        return "[%s] %s" % (errno_name(self.errno), self.strerror)

    @property
    def errno_text(self) -> str:
        return _os.strerror(self.errno)
