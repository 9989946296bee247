"""Small hand-made maps for the symbolize tests."""

from __future__ import annotations

from pymod.symbolize.model import CoreMap, Maps, ModuleMap, SymbolTable


def table(*rows: tuple[int, str, str]) -> SymbolTable:
    """``(addr, type, name)`` rows, in table order."""
    return SymbolTable.build([r[0] for r in rows], [r[2] for r in rows],
                             "".join(r[1] for r in rows))


def core(*rows: tuple[int, str, str], stext: int = 0x1000, etext: int = 0x1080,
         sinittext: int = 0x3000, einittext: int = 0x3100, end: int | None = None) -> CoreMap:
    return CoreMap(table(*rows), stext, etext, sinittext, einittext, end)


def maps(core_map: CoreMap | None, *modules: ModuleMap) -> Maps:
    return Maps(core_map, tuple(modules))


def same_table(a: SymbolTable, b: SymbolTable) -> bool:
    """Equal symbols: addresses, names and letters, in the same order."""
    return (a.addrs.tolist() == b.addrs.tolist() and a.types == b.types
            and [a.name(i) for i in range(len(a))] == [b.name(i) for i in range(len(b))])


def same_maps(a: Maps, b: Maps) -> bool:
    if (a.core is None) != (b.core is None) or len(a.modules) != len(b.modules):
        return False
    if a.core is not None and b.core is not None:
        ca, cb = a.core, b.core
        if not same_table(ca.symbols, cb.symbols) or \
                (ca.stext, ca.etext, ca.sinittext, ca.einittext, ca.end) != \
                (cb.stext, cb.etext, cb.sinittext, cb.einittext, cb.end):
            return False
    return all(same_table(x.symbols, y.symbols) and
               (x.name, x.regions, x.text, x.init_text, x.build_id) ==
               (y.name, y.regions, y.text, y.init_text, y.build_id)
               for x, y in zip(a.modules, b.modules, strict=True))
