"""The text readers: /proc/kallsyms, /proc/modules, System.map, sysfs sections."""

from __future__ import annotations

import errno

import pytest

from pymod.errors import PymodError
from pymod.symbolize.readers import (
    read_kallsyms,
    read_proc_modules,
    read_sections,
    read_system_map,
)
from pymod.symbolize.reference import reference_sprint
from tests.symbolize.support import same_maps

KALLSYMS = """\
ffffffff81000000 T _stext
ffffffff81000000 T _text
ffffffff81000010 t helper
ffffffff81000100 T _etext
ffffffff82000000 T _sinittext
ffffffff82000040 T _einittext
ffffffffc0001000 t mod_a_fn\t[mod_a]
ffffffffc0001020 T mod_a_export\t[mod_a]
ffffffffc0001020 t .Lmapping\t[mod_a]
ffffffffc0002000 d mod_a_data\t[mod_a]
ffffffff81000010 u printk\t[mod_a]
0000000000000000 w weak_unresolved\t[mod_a]
ffffffffc0005000 t nft_fn\t[nf_tables]
ffffffffc0005100 t nft_other\t[nf_tables]
ffffffffc0009000 t bpf_prog_123_x\t[bpf]
ffffffffc0201000 t ftrace_trampoline\t[__builtin__ftrace]
"""
MODULES = """\
nf_tables 16384 0 - Live 0xffffffffc0005000
mod_a 12288 1 nf_tables, Live 0xffffffffc0001000 (OE)
"""


def test_kallsyms_core_and_bounds():
    m = read_kallsyms(KALLSYMS)
    c = m.core
    assert c is not None and [c.symbols.name(i) for i in range(len(c.symbols))] == \
        ["_stext", "_text", "helper", "_etext", "_sinittext", "_einittext"]
    assert (c.stext, c.etext, c.sinittext, c.einittext, c.end) == (
        0xffffffff81000000, 0xffffffff81000100, 0xffffffff82000000, 0xffffffff82000040, None)
    assert c.symbols.types == b"TTtTTT"
    assert reference_sprint(m, 0xffffffff81000005) == "_stext+0x5/0x10"
    assert reference_sprint(m, 0xffffffff810000ff) == "helper+0xef/0xf0"


def test_kallsyms_modules_without_proc_modules():
    m = read_kallsyms(KALLSYMS)
    assert [x.name for x in m.modules] == ["mod_a", "nf_tables"]     # no bpf, no ftrace
    a = m.modules[0]
    names = [a.symbols.name(i) for i in range(len(a.symbols))]
    assert names == ["mod_a_fn", "mod_a_export", "mod_a_data"]        # no u, w@0, .L
    assert a.symbols.types == b"tTd"
    # the span: pages of the text symbols
    assert a.regions == ((0xffffffffc0001000, 0x1000),) and a.text == a.regions[0]
    assert reference_sprint(m, 0xffffffffc0001025) == "mod_a_export+0x5/0xfe0 [mod_a]"
    assert reference_sprint(m, 0xffffffffc0005100) == "nft_other+0x0/0xf00 [nf_tables]"
    assert reference_sprint(m, 0xffffffffc0009000) == "0xffffffffc0009000"


def test_kallsyms_with_proc_modules():
    m = read_kallsyms(KALLSYMS, MODULES)
    spans = {x.name: x.regions for x in m.modules}
    # mod_a's 12288 bytes would run into nf_tables: cut at its base
    assert spans == {"mod_a": ((0xffffffffc0001000, 0x3000),),
                     "nf_tables": ((0xffffffffc0005000, 0x4000),)}
    assert reference_sprint(m, 0xffffffffc0002fff) == "mod_a_data+0xfff/0x2000 [mod_a]"
    assert reference_sprint(m, 0xffffffffc0008fff) == "nft_other+0x3eff/0x3f00 [nf_tables]"


def test_kallsyms_from_a_file_and_bytes(tmp_path):
    p = tmp_path / "kallsyms"
    p.write_text(KALLSYMS)
    assert same_maps(read_kallsyms(p), read_kallsyms(str(p)))
    assert same_maps(read_kallsyms(p), read_kallsyms(KALLSYMS.encode()))


def test_zeroed_addresses_are_refused():
    hidden = "".join("0000000000000000" + line[16:] + "\n" for line in KALLSYMS.splitlines())
    with pytest.raises(PymodError) as e:
        read_kallsyms(hidden)
    assert e.value.errno == errno.EPERM and "kptr_restrict" in str(e.value)
    assert "root" in str(e.value)
    with pytest.raises(PymodError) as e:
        read_proc_modules("mod_a 12288 0 - Live 0x0000000000000000\n")
    assert e.value.errno == errno.EPERM


def test_short_addresses_and_bad_lines():
    m = read_kallsyms("c1000000 T _stext\nc1000010 t f\nc1000100 T _etext\n")
    assert m.core is not None and reference_sprint(m, 0xc1000011) == "f+0x1/0xf0"
    for bad in ("zzzz T x\n", "ffffffff81000000 T\n", "ffffffff81000000 T x\t(mod)\n"):
        with pytest.raises(PymodError) as e:
            read_kallsyms(bad)
        assert e.value.errno == errno.EINVAL


def test_proc_modules_columns():
    mods = read_proc_modules(MODULES + "nounload 4096 - - Loading 0xffffffffc0010000 (O+)\n")
    assert list(mods) == ["nf_tables", "mod_a", "nounload"]
    a = mods["mod_a"]
    assert (a.size, a.refcnt, a.users, a.state, a.base, a.taints) == (
        12288, "1", "nf_tables,", "Live", 0xffffffffc0001000, "(OE)")
    assert mods["nounload"].state == "Loading" and mods["nounload"].refcnt == "-"


SYSTEM_MAP = """\
0000000000000000 D __per_cpu_start
0000000000001000 D pcpu_var
0000000000002000 D __per_cpu_end
0000000000000005 A some_abs
ffffffff81000000 T _stext
ffffffff81000000 T __pfx_f
ffffffff81000000 W weak_first
ffffffff81000000 T _text
ffffffff81000000 T __start_thing
ffffffff81000010 T f
ffffffff81000100 T _etext
ffffffff81000100 R __start_rodata_x
ffffffff81000100 R other_at_etext
ffffffff81000200 D data
ffffffff81000300 u unique_sym
ffffffff82000000 B _end
"""


def test_system_map_as_scripts_kallsyms_builds_it():
    m = read_system_map(SYSTEM_MAP)
    c = m.core
    assert c is not None
    names = [c.symbols.name(i) for i in range(len(c.symbols))]
    # A and u dropped; ties: non-weak first, linker-script names later, fewer
    # leading underscores first, then file order
    assert names[:3] == ["__per_cpu_start", "pcpu_var", "__per_cpu_end"]
    assert names[3:8] == ["_stext", "_text", "__pfx_f", "__start_thing", "weak_first"]
    assert "some_abs" not in names and "unique_sym" not in names
    assert c.symbols.types[:3] == b"AAA"          # per-cpu symbols made absolute
    assert c.end == 0xffffffff82000000
    assert reference_sprint(m, 0xffffffff81000000) == "_stext+0x0/0x10"
    assert reference_sprint(m, 0xffffffff81000250) == "data+0x50/0xfffe00"


def test_system_map_without_kallsyms_all():
    m = read_system_map(SYSTEM_MAP, all_symbols=False)
    c = m.core
    assert c is not None and c.end is None
    names = {c.symbols.name(i) for i in range(len(c.symbols))}
    # outside the text ranges only __start_/__stop_ stay; at _etext only _etext
    assert "data" not in names and "pcpu_var" not in names and "other_at_etext" not in names
    assert {"_etext", "__start_rodata_x", "f"} <= names
    assert reference_sprint(m, 0xffffffff81000200) == "0xffffffff81000200"


def test_debian_placeholder_system_map():
    stub = "ffffffffffffffff B The real System.map is in the linux-image-<version>-dbg package\n"
    with pytest.raises(PymodError, match="-dbg package"):
        read_system_map(stub)


def test_sections_tree(tmp_path):
    for mod, secs in {"mod_a": {".text": 0xffffffffc0001000, ".data": 0xffffffffc0002000},
                      "nf_tables": {".text": 0xffffffffc0005000}}.items():
        d = tmp_path / mod / "sections"
        d.mkdir(parents=True)
        for name, addr in secs.items():
            (d / name).write_text("0x%016x\n" % addr)
    (tmp_path / "no_sections_here").mkdir()
    got = read_sections(tmp_path)
    assert got == {"mod_a": {".data": 0xffffffffc0002000, ".text": 0xffffffffc0001000},
                   "nf_tables": {".text": 0xffffffffc0005000}}
    assert read_sections(tmp_path / "mod_a") == {"mod_a": got["mod_a"]}
    for f in (tmp_path / "mod_a" / "sections").iterdir():
        f.write_text("0x0000000000000000\n")
    with pytest.raises(PymodError) as e:
        read_sections(tmp_path / "mod_a")
    assert e.value.errno == errno.EPERM


def test_any_digit_count_and_slice_size_parse_alike(monkeypatch):
    import re

    from pymod.symbolize import textparse

    def rows(data: bytes) -> list[tuple[int, bytes, str, str | None]]:
        p = textparse.parse_nm(data, "kallsyms")
        return [(int(p.addrs[i]), p.types[i:i + 1], p.name(i),
                 p.module_name(i) if p.mod_off[i] >= 0 else None) for i in range(len(p))]

    data = KALLSYMS.encode()
    want = rows(data)
    assert len(want) == len(KALLSYMS.splitlines())
    short = re.sub(rb"(?m)^0+(?=[0-9a-f])", b"", data)       # as few digits as the value needs
    assert short != data and rows(short) == want
    monkeypatch.setattr(textparse, "SLICE", 7)                 # a slice of a line or two
    assert rows(data) == want and rows(data.rstrip(b"\n")) == want
