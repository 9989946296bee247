"""The architecture, checked: which layer may import which, and no import cycles.

Every ``import``/``from`` statement in the package counts, at module level,
under ``TYPE_CHECKING`` and inside functions alike.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pymod

PACKAGE = Path(pymod.__file__).resolve().parent

# layer -> the layers it may import (besides itself).  A module's layer is its
# first component under pymod/ ("loader" for pymod/loader/kernel.py, "lookup"
# for pymod/lookup.py).
ALLOWED = {
    "errors": set(),
    # fork() waits for every Python-level lock, in one order (stdlib only)
    "forklocks": set(),
    "_lookup_cffi": set(),
    "_kscan_cffi": set(),
    "_symfast": set(),
    "_dwarf_cffi": set(),
    "_reloc_cffi": set(),
    # writing files atomically (O_EXCL temporary + rename): tools and the DWARF cache
    "atomicio": set(),
    "lookup": {"errors", "_lookup_cffi"},
    "elf": {"errors", "_kscan_cffi"},
    "kmod": {"errors", "elf"},
    # debug files read, found, indexed (C) and the index cached
    "dwarf": {"errors", "elf", "atomicio", "_dwarf_cffi"},
    # the architecture seam: constants, hooks, the relocation library's statuses
    "arch": {"errors", "elf", "_reloc_cffi"},
    "config": {"elf", "arch"},
    "samples": set(),
    # the model types, log, taint, facades, per-version rules, section primitives
    "contract": {"errors", "elf", "config"},
    "features": {"errors", "elf", "contract", "lookup", "config"},
    "loader": {"errors", "elf", "kmod", "config", "contract", "features", "samples", "lookup",
               "forklocks", "arch", "_reloc_cffi"},
    # source lines: debug files and their index (pymod.symbolize.lines, debugfiles)
    "symbolize": {"errors", "elf", "contract", "loader", "lookup", "features", "config",
                  "samples", "_lookup_cffi", "_symfast", "forklocks", "dwarf"},
    # asking a real kernel in QEMU: image reading, and nothing of the model
    "oracle": {"errors", "elf"},
    # symbolize --debuginfo's batch path writes its lines through the DWARF index
    "tools": {"errors", "elf", "kmod", "contract", "loader", "config", "samples", "lookup",
              "features", "symbolize", "oracle", "atomicio", "dwarf"},
    # the public names: imported lazily, named for type checkers
    "__init__": {"errors", "lookup", "contract", "loader", "config", "symbolize"},
    "__main__": {"tools"},
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, name: str, modules: frozenset[str] = frozenset()) -> set[str]:
    """Absolute names of the pymod modules ``path`` imports (``from pkg
    import sub`` of a submodule ``sub`` in ``modules`` imports ``pkg.sub``,
    not ``pkg``'s own code)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            subs = {base + "." + a.name for a in node.names}
            found |= subs
            if not subs <= modules:
                found.add(base)
    return {m for m in found if m == "pymod" or m.startswith("pymod.")}


def _graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    # the compiled modules (cffi libraries, _symfast) have stubs beside them
    known = frozenset(files) | {_module_name(p) for p in PACKAGE.rglob("*.pyi")}
    return {name: {m for m in _imports(path, name, known) if m in files and m != name}
            for name, path in files.items()}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_layers_import_only_what_is_below_them():
    wrong = [(m, dep) for m, deps in _graph().items() for dep in deps
             if _layer(dep) != _layer(m) and _layer(dep) not in ALLOWED[_layer(m)]
             and dep != "pymod"]
    assert wrong == []


def test_the_lookup_core_imports_nothing_of_the_loader():
    assert _graph()["pymod.lookup"] <= {"pymod.errors", "pymod._lookup_cffi"}


def test_no_import_cycles():
    graph = _graph()
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycles.append(path[path.index(dep):] + [dep])
            elif dep not in state:
                visit(dep, path + [dep])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []
