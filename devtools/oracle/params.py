"""The ``params`` list: parameter strings for real modules, drawn by type
from each module's own ``parmtype`` entries, plus the parser's corners
(unknown names, ``--``, ``name.param``, quoting, too many array values)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from devtools.oracle.targets import Target
from pymod.oracle.model import Case

VALUES = {
    "int": ("0", "-1", "2147483647", "2147483648", "0x10", "abc", "", "1e3", "-2147483649"),
    "uint": ("0", "-1", "4294967295", "4294967296", "010", "x"),
    "long": ("-9223372036854775808", "9223372036854775808", "7", "z"),
    "ulong": ("18446744073709551615", "18446744073709551616", "1"),
    "short": ("32767", "32768", "-32769"),
    "ushort": ("65535", "65536"),
    "byte": ("255", "256", "-1"),
    "bool": ("y", "n", "Y", "N", "1", "0", "on", "off", "yes", "maybe", ""),
    "invbool": ("y", "n", "2", ""),
    "charp": ("hello", '"two words"', "", "x" * 300),
    "string": ("hi", "x" * 1100, ""),
    "hexint": ("0x10", "16", "0xffffffff", "0x100000000", "g"),
}
CORNERS = ("--", "bogus=1", "{m}.{p}=1", '{p}="a b"', "{p}", "{p}=", "dyndbg=+p",
           "{p}=1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30")


def param_types(target: Target, name: str) -> dict[str, str]:
    from pymod.elf.kofile import read_ko

    out = {}
    for key, value in read_ko(target.modules[name]).elf.modinfo():
        if key == "parmtype" and ":" in value:
            p, _, t = value.partition(":")
            out[p] = t
    return out


def _value_for(kind: str) -> st.SearchStrategy[str]:
    if kind.startswith("array of "):
        one = _value_for(kind[len("array of "):])
        return st.lists(one, min_size=1, max_size=40).map(",".join)
    known = VALUES.get(kind, ("1", "x"))
    return st.one_of(st.sampled_from(known), st.integers(-(1 << 65), 1 << 65).map(str))


def params(target: Target, n: int, at: int) -> list[Case]:
    from devtools.oracle.cases import PARAM_MODULES, _file_step, distinct

    modules = {m: param_types(target, m) for m in PARAM_MODULES if m in target.modules}
    modules = {m: t for m, t in modules.items() if t}

    @st.composite
    def entry(draw: Any, name: str, types: dict[str, str]) -> str:
        p = draw(st.sampled_from(sorted(types)))
        if draw(st.integers(0, 4)) == 0:
            corner: str = draw(st.sampled_from(CORNERS))
            return corner.format(m=name, p=p)
        return "%s=%s" % (p, draw(_value_for(types[p])))

    @st.composite
    def one(draw: Any) -> Case:
        name = draw(st.sampled_from(sorted(modules)))
        entries = draw(st.lists(entry(name, modules[name]), min_size=1, max_size=3))
        text = " ".join(entries)
        steps = [_file_step(target, d) for d in target.deps.get(name, [])]
        steps.append(_file_step(target, name, text))
        return Case("params", "%s %r" % (name, text[:120]), tuple(steps))
    return distinct(one(), n, at)
