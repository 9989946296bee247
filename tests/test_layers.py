"""The architecture, checked: which layer imports which (a DAG), and no import cycles.

Every ``import``/``from`` statement in the package counts, at module level,
under ``TYPE_CHECKING`` and inside functions alike.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pymod

PACKAGE = Path(pymod.__file__).resolve().parent

# layer -> the layers it imports (besides itself).  A module's layer is its
# first component under pymod/ ("loader" for pymod/loader/kernel.py, "lookup"
# for pymod/lookup.py; the compiled modules count, by their stubs).  The
# table is exact (an edge nobody uses is an error too) and a DAG, with no
# exception: README's layer table lists the same order.
ALLOWED = {
    "errors": set(),
    # fork() waits for every Python-level lock, in one order (stdlib only)
    "forklocks": set(),
    "_lookup_cffi": set(),
    "_lookfast": set(),
    "_kscan_cffi": set(),
    "_symfast": set(),
    "_dwarf_cffi": set(),
    "_reloc_cffi": set(),
    # writing files atomically (O_EXCL temporary + rename): tools and the DWARF cache
    "atomicio": set(),
    "lookup": {"errors", "_lookup_cffi", "_lookfast"},
    "elf": {"errors", "_kscan_cffi"},
    "kmod": {"errors", "elf"},
    # debug files read, found, indexed (C) and the index cached
    "dwarf": {"errors", "elf", "atomicio", "_dwarf_cffi"},
    # the architecture seam: constants, hooks, the relocation library's statuses
    "arch": {"elf", "_reloc_cffi"},
    "config": {"elf", "arch"},
    "samples": set(),
    # the model types, log, taint, facades, per-version rules, section primitives
    "contract": {"errors", "elf", "config"},
    "features": {"errors", "elf", "contract", "lookup", "config"},
    "loader": {"errors", "elf", "kmod", "config", "contract", "features", "samples",
               "forklocks", "arch", "_reloc_cffi"},
    # source lines: debug files and their index (pymod.symbolize.lines, debugfiles)
    "symbolize": {"errors", "elf", "contract", "loader", "lookup", "features", "forklocks",
                  "dwarf", "_lookup_cffi", "_symfast"},
    # asking a real kernel in QEMU: image reading, and nothing of the model
    "oracle": {"errors", "elf"},
    # symbolize --debuginfo's batch path writes its lines through the DWARF index;
    # --version reads the package's own __version__
    "tools": {"errors", "elf", "kmod", "contract", "loader", "config", "samples",
              "symbolize", "oracle", "atomicio", "dwarf", "__init__"},
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


def _graph(compiled: bool = False) -> dict[str, set[str]]:
    """Module -> the pymod modules it imports; with ``compiled``, the
    compiled modules (cffi libraries, _symfast, _lookfast: stubs beside
    them) are nodes too."""
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    stubs = {_module_name(p) for p in PACKAGE.rglob("*.pyi")}
    known = frozenset(files) | stubs
    nodes = known if compiled else frozenset(files)
    graph = {name: {m for m in _imports(path, name, known) if m in nodes and m != name}
             for name, path in files.items()}
    for name in nodes - graph.keys():
        graph[name] = set()
    return graph


def _layer_graph() -> dict[str, set[str]]:
    layers: dict[str, set[str]] = {}
    for m, deps in _graph(compiled=True).items():
        layers.setdefault(_layer(m), set()).update(
            _layer(d) for d in deps if _layer(d) != _layer(m))
    return layers


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_layers_import_only_what_is_below_them():
    wrong = [(m, dep) for m, deps in _graph(compiled=True).items() for dep in deps
             if _layer(dep) != _layer(m) and _layer(dep) not in ALLOWED[_layer(m)]]
    assert wrong == []


def test_the_table_is_exact():
    """Every layer is in the table, and every edge it allows is used."""
    assert _layer_graph() == ALLOWED


def test_the_layers_form_a_dag():
    """A bottom-up order exists in which every layer imports only layers
    before it (Kahn's algorithm: what is left over is a cycle)."""
    left = {layer: set(deps) for layer, deps in ALLOWED.items()}
    order: list[str] = []
    while ready := sorted(layer for layer, deps in left.items() if not deps):
        order += ready
        left = {layer: deps - set(ready) for layer, deps in left.items() if layer not in ready}
    assert left == {}
    assert len(order) == len(ALLOWED)


def test_the_lookup_core_imports_nothing_of_the_loader():
    assert _graph(compiled=True)["pymod.lookup"] <= {"pymod.errors", "pymod._lookup_cffi",
                                                     "pymod._lookfast"}


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


def _readme_rows() -> list[tuple[str, str]]:
    """README's layout table: (path, what) per row, in order."""
    text = (PACKAGE.parent / "README.md").read_text()
    table = text[text.index("## Layout"):]
    rows = []
    for line in table[:table.index("\n\n", table.index("| path"))].splitlines():
        cells = line.split(" | ")
        if line.startswith("| `") and len(cells) >= 2:
            rows.append((cells[0][3:-1], " | ".join(cells[1:])))
    return rows


def _row_layer(path: str) -> str | None:
    if not path.startswith("pymod/"):
        return None
    return path[len("pymod/"):].rstrip("/").removesuffix(".py")


def test_the_readme_table_names_every_module():
    rows = dict(_readme_rows())
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent)
        if len(rel.parts) == 2:
            if str(rel) not in rows:
                missing.append(str(rel))
        elif path.stem != "__init__":
            row = rows.get("pymod/%s/" % rel.parts[1], "")
            if "`%s`" % path.stem not in row:
                missing.append(str(rel))
    assert missing == []


def test_the_readme_table_lists_the_layers_bottom_up():
    """Each layer's row comes after the rows of every layer it imports."""
    order = [layer for path, _ in _readme_rows() if (layer := _row_layer(path))]
    assert set(order) == {layer for layer in ALLOWED if not layer.startswith("_")} \
        | {"__init__", "__main__"}
    late = [(layer, dep) for i, layer in enumerate(order) for dep in ALLOWED[layer]
            if dep in order and order.index(dep) > i]
    assert late == []
