"""The stack-trace symbolizer: kernel addresses -> ``%pS`` text.

:class:`Symbolizer` (also ``pymod.Symbolizer``) answers single addresses and
numpy batches; :mod:`~pymod.symbolize.readers` reads ``/proc/kallsyms``,
``/proc/modules``, ``System.map``, ``sections/`` and ``.ko`` files.
"""

from __future__ import annotations

from pymod.symbolize.inputs import DebugInfo, Kallsyms, KoDir, SysModule, SystemMap
from pymod.symbolize.lines import Frame
from pymod.symbolize.symbolizer import Symbol, Symbolizer, SymbolizeResult

__all__ = ["Symbol", "SymbolizeResult", "Symbolizer", "Frame", "Kallsyms", "SystemMap",
           "SysModule", "KoDir", "DebugInfo"]
