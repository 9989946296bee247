"""The one exception tree of pymod.

Every error pymod raises on purpose derives from :class:`PymodError`, which is
an :class:`OSError`: it carries a kernel ``errno`` so callers can branch on
``e.errno`` exactly as they would on the kernel's return value.  Errors that
Python users expect as built-in kinds (``ValueError`` for bad arguments,
``KeyError`` for an unknown module id) subclass those too, so both
``except ValueError`` and ``except pymod.PymodError`` work.

The C libraries (the lookup core, the module scanner and its relocations, the
DWARF core) return negative status codes; :func:`status_error` is the one
place that turns such a status into an exception, for all of them.
"""

from __future__ import annotations

import errno as _errno
import os as _os
from collections.abc import Mapping
from typing import Any, Literal

__all__ = [
    "PymodError",
    "InvalidArgument",
    "InvalidType",
    "RegionOverlap",
    "DuplicateModule",
    "UnknownModule",
    "ModuleLoadError",
    "StatusKind",
    "errno_name",
    "status_error",
]


def strerror(code: int) -> str:
    """``os.strerror`` for any number: glibc's "Unknown error N" for one it
    does not know, and never an OverflowError (an init function may return
    -2**31, which no C int errno negates)."""
    try:
        return _os.strerror(code)
    except (OverflowError, ValueError):
        return "Unknown error %d" % code


def errno_name(code: int) -> str:
    """``2`` -> ``"ENOENT"`` (``"E?"`` for an unknown number)."""
    return _errno.errorcode.get(abs(code), "E%d" % abs(code))


class PymodError(OSError):
    """Root of every pymod error; ``errno`` is a positive kernel errno."""

    # Always set by __init__ (OSError types both as optional).
    errno: int
    strerror: str

    def __init__(self, code: int, message: str):
        super().__init__(abs(code), message)


class InvalidArgument(PymodError, ValueError):
    """An argument was rejected before any state changed (EINVAL)."""

    def __init__(self, message: str, code: int = _errno.EINVAL):
        super().__init__(code, message)


class InvalidType(PymodError, TypeError):
    """An argument of the wrong type was rejected before any state changed (EINVAL)."""

    def __init__(self, message: str):
        super().__init__(_errno.EINVAL, message)


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

    :errno: the kernel's errno (positive), e.g. ``errno.ENOEXEC``
    :strerror: the kernel-style message, e.g. ``"foo: Unknown symbol bar (err -2)"``
    :module: the module name when known, else ``None``
    :stage: the pipeline stage that failed (``"elf"``, ``"signature"``,
        ``"modinfo"``, ``"symbols"`` ...)
    :undecided: for a refusal by ``parse_args``, the parameters that the
        module's own ops parsed (:class:`pymod.contract.internal.Undecided`):
        their code could fail too and, when it runs last, change the errno
        and message
    """

    def __init__(self, code: int, message: str, module: str | None = None,
                 stage: str | None = None):
        super().__init__(code, message)
        self.module = module
        self.stage = stage
        # simplify_symbols: every symbol that failed, (name, errno, message),
        # not only the last one (which the kernel returns)
        self.unresolved: list[tuple[str, int, str]] = []
        # pymod.contract.internal.Undecided records (errors imports nothing of pymod)
        self.undecided: tuple[Any, ...] = ()

    def __str__(self) -> str:
        return "[%s] %s" % (errno_name(self.errno or 0), self.strerror)

    @property
    def errno_text(self) -> str:
        return strerror(self.errno or 0)


#: What a C library's failure status means to Python (each library keeps a
#: table status -> kind next to its binding).
StatusKind = Literal["overlap", "duplicate", "unknown", "invalid", "nomem", "noexec", "corrupt"]

# The errno of each kind.
_KIND_ERRNO: dict[str, int] = {
    "overlap": _errno.EEXIST,
    "duplicate": _errno.EEXIST,
    "unknown": _errno.ENOENT,
    "invalid": _errno.EINVAL,
    "nomem": _errno.ENOMEM,      # allocation failed, nothing changed
    "noexec": _errno.ENOEXEC,    # the input is not a readable module image
    "corrupt": _errno.EIO,       # a self-check found an invariant broken
}


def status_error(status: int, text: str, kinds: Mapping[int, StatusKind], *,
                 what: str | None, module: int = -1, other: int = -1,
                 stage: str | None = None, name: str | None = None) -> PymodError:
    """The exception for failure ``status`` of one of pymod's C libraries.

    ``text`` is the library's own text for the status (``pm_strerror``,
    ``pm_kscan_strerror``, ``pm_reloc_strerror``, ``pd_strerror``), or a
    phrase built around it, ``kinds`` the library's status -> kind table and
    ``what`` names what failed; the message is ``"<what>: <text>"`` (``text``
    alone when ``what`` is None: a kernel refusal's own printk line).

    * ``overlap``: RegionOverlap (EEXIST), the message naming ``other``;
      it carries ``module`` and ``other``;
    * ``duplicate``: DuplicateModule (EEXIST);
    * ``unknown``: UnknownModule (ENOENT);
    * ``invalid``: InvalidArgument (EINVAL);
    * ``nomem``, ``noexec``, ``corrupt``: PymodError (ENOMEM, ENOEXEC, EIO).

    A status missing from ``kinds`` gives PymodError (EIO) naming its number.
    With ``stage``, the failure refuses a load: a :class:`ModuleLoadError`
    of that stage for module ``name``, with the kind's errno.
    """
    message = text if what is None else "%s: %s" % (what, text)
    kind = kinds.get(status)
    if kind is None:
        code, message = _errno.EIO, "%s (unexpected status %d)" % (message, status)
    else:
        code = _KIND_ERRNO[kind]
    if stage is not None:
        return ModuleLoadError(code, message, module=name, stage=stage)
    if kind == "overlap":
        return RegionOverlap("%s (module %d)" % (message, other), module=module, other=other)
    if kind == "duplicate":
        return DuplicateModule(message)
    if kind == "unknown":
        return UnknownModule(message)
    if kind == "invalid":
        return InvalidArgument(message)
    return PymodError(code, message)
