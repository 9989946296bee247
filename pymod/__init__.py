"""pymod: the Linux kernel's module subsystem contract in user space.

``pymod.lookup`` (the address -> module map) imports on its own; the loader
names below are imported lazily so that ``import pymod.lookup`` pulls in
nothing else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pymod.errors import (  # noqa: F401  (re-exported)
    DuplicateModule,
    InvalidArgument,
    InvalidType,
    ModuleLoadError,
    PymodError,
    RegionOverlap,
    UnknownModule,
)

__version__ = "0.1.0"

__all__ = [
    "Config", "Kernel", "ModTree", "Symbolizer",
    "PymodError", "ModuleLoadError", "InvalidArgument", "InvalidType", "RegionOverlap",
    "DuplicateModule", "UnknownModule",
    "MODULE_INIT_IGNORE_MODVERSIONS", "MODULE_INIT_IGNORE_VERMAGIC", "MODULE_INIT_COMPRESSED_FILE",
]

if TYPE_CHECKING:
    # What the lazy names below are, for type checkers (a misspelt
    # ``k.load_modul()`` fails mypy); at run time __getattr__ imports them.
    from pymod.config import Config
    from pymod.contract.internal import (
        MODULE_INIT_COMPRESSED_FILE,
        MODULE_INIT_IGNORE_MODVERSIONS,
        MODULE_INIT_IGNORE_VERMAGIC,
    )
    from pymod.loader.kernel import Kernel
    from pymod.lookup import ModTree
    from pymod.symbolize import Symbolizer

# Imported on first use: ``import pymod`` (every CLI run) stays cheap, and
# ``import pymod.lookup`` pulls in nothing else.
_LAZY = {
    "MODULE_INIT_IGNORE_MODVERSIONS": ("pymod.contract.internal", "MODULE_INIT_IGNORE_MODVERSIONS"),
    "MODULE_INIT_IGNORE_VERMAGIC": ("pymod.contract.internal", "MODULE_INIT_IGNORE_VERMAGIC"),
    "MODULE_INIT_COMPRESSED_FILE": ("pymod.contract.internal", "MODULE_INIT_COMPRESSED_FILE"),
    "Kernel": ("pymod.loader.kernel", "Kernel"),
    "Config": ("pymod.config", "Config"),
    "ModTree": ("pymod.lookup", "ModTree"),
    "Symbolizer": ("pymod.symbolize", "Symbolizer"),
}


def __getattr__(name: str) -> Any:
    try:
        modname, attr = _LAZY[name]
    except KeyError:
        raise AttributeError("module 'pymod' has no attribute %r" % name) from None
    import importlib

    value = getattr(importlib.import_module(modname), attr)
    globals()[name] = value
    return value
