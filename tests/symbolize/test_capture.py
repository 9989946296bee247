"""Captured sections/ trees whose init sections are stale (freed after init).

``sections/`` is made at load and kept (6.1 and 6.12), so a Live module
still lists ``.init.*``, ``.symtab`` and ``.strtab`` at freed addresses; a
module loaded later may have been given that memory.  The captures here
come from a pymod Kernel, whose allocator reuses freed init memory as the
kernel's does; :func:`_as_61` then moves ``.symtab``/``.strtab`` where
6.1 puts them: 6.1 lays init out as one allocation, page-aligns it
(``strict_align``) and only then appends the symbol tables
(``layout_symtab``), so they start on a page of their own.
"""

from __future__ import annotations

import re

import pytest

from pymod import Kernel
from pymod.loader import queries
from pymod.samples import prebuilt_dir, prebuilt_path
from pymod.symbolize.capture import LIVE, NO_STATE, OVERLAP, init_is_held, place_sections
from pymod.symbolize.model import Maps
from pymod.symbolize.readers import module_map, place_ko, read_proc_modules, read_sections
from pymod.symbolize.reference import reference_lookup
from pymod.tools import main
from tests.symbolize.support import same_table

LOADED = ("pm_hello", "pm_exporter", "pm_outoftree", "pm_importer")
PAGE = 4096


def _sections(k: Kernel, name: str) -> dict[str, int]:
    return {key.split("/", 1)[1]: int(v, 16) for key, v in queries.sysfs(k, name).items()
            if key.startswith("sections/")}


def _as_61(secs: dict[str, int]) -> dict[str, int]:
    """The symbol tables at the next page boundary (6.1's init layout)."""
    out = dict(secs)
    delta = -secs[".symtab"] % PAGE
    for name in (".symtab", ".strtab"):
        out[name] += delta
    return out


@pytest.fixture(scope="module")
def kernel() -> Kernel:
    k = Kernel()
    for name in LOADED:
        k.load_module(prebuilt_path(name))
    return k


@pytest.fixture()
def capture(kernel, tmp_path):
    """The tree written as files (6.1 symbol-table addresses), and /proc/modules."""
    for mod in kernel.modules:
        d = tmp_path / "sys" / mod.name / "sections"
        d.mkdir(parents=True)
        for name, addr in _as_61(_sections(kernel, mod.name)).items():
            (d / name).write_text("0x%016x\n" % addr)
    (tmp_path / "modules").write_text(kernel.proc_modules())
    return tmp_path


def _files() -> dict[str, str]:
    return {n: str(prebuilt_path(n)) for n in LOADED}


def _owner_of_stale_init(kernel) -> tuple[str, str, int]:
    """(module, the module now at its freed .init.text, the address)."""
    for mod in kernel.modules:
        stale = _sections(kernel, mod.name).get(".init.text")
        for other in kernel.modules:
            if other is not mod and stale is not None and \
                    any(b <= stale < b + s for b, s in other.regions().values()):
                return mod.name, other.name, stale
    raise AssertionError("no stale init section overlaps a later module")


def test_the_61_symbol_tables_do_not_place_the_init_data_region(kernel, capture):
    stale, _, _ = _owner_of_stale_init(kernel)
    secs = read_sections(capture / "sys")
    assert secs[stale][".symtab"] % PAGE == 0 and \
        secs[stale][".symtab"] != _sections(kernel, stale)[".symtab"]
    placed = place_ko(prebuilt_path(stale), sections=secs[stale], init=True)
    init_data = next(b for b, s in placed.regions if b <= secs[stale][".init.data"] < b + s)
    assert init_data == secs[stale][".init.data"]     # the section's offset is 0 there
    assert placed.init_text[0] == secs[stale][".init.text"]
    # without init the init sections are not read at all
    assert place_ko(prebuilt_path(stale), sections=secs[stale]).init_text == (0, 0)


def test_live_modules_place_their_core_and_say_what_was_left_out(kernel, capture):
    procs = read_proc_modules(capture / "modules")
    placed = place_sections(_files(), read_sections(capture / "sys"),
                            {n: (p.state, p.size) for n, p in procs.items()})
    by_name = {m.name: m for m in placed.modules}
    assert sorted(by_name) == sorted(LOADED)
    for mod in kernel.modules:
        loaded = module_map(mod)
        assert by_name[mod.name].regions == loaded.regions, mod.name
        assert same_table(by_name[mod.name].symbols, loaded.symbols), mod.name
    assert {i.module for i in placed.ignored} == set(LOADED)
    for i in placed.ignored:
        assert i.reason == LIVE and {".init.text", ".symtab", ".strtab"} <= set(i.sections)
        assert not any(s in i.sections for s in (".text", ".data", ".gnu.linkonce.this_module"))
    maps = Maps(None, placed.modules)
    stale, owner, addr = _owner_of_stale_init(kernel)
    assert reference_lookup(maps, addr)[3] == owner


def test_without_proc_modules_every_module_is_taken_as_live(capture):
    placed = place_sections(_files(), read_sections(capture / "sys"))
    assert len(placed.modules) == len(LOADED)
    assert {i.reason for i in placed.ignored} == {NO_STATE}
    assert all(m.init_text == (0, 0) for m in placed.modules)


def _states(capture, **changes: str) -> dict[str, tuple[str, int]]:
    procs = read_proc_modules(capture / "modules")
    return {n: (changes.get(n, p.state), p.size) for n, p in procs.items()}


def test_a_loading_module_keeps_its_init_unless_another_module_has_that_memory(kernel, capture):
    stale, owner, addr = _owner_of_stale_init(kernel)
    secs = read_sections(capture / "sys")
    placed = place_sections(_files(), secs, _states(capture, **{stale: "Loading"}))
    [ignored] = [i for i in placed.ignored if i.module == stale]
    assert (ignored.reason, ignored.other) == (OVERLAP, owner)
    assert reference_lookup(Maps(None, placed.modules), addr)[3] == owner
    # without the module now on that memory, its init is placed
    del secs[owner]
    placed = place_sections(_files(), secs, _states(capture, **{stale: "Loading"}))
    assert stale not in {i.module for i in placed.ignored}
    mine = next(m for m in placed.modules if m.name == stale)
    assert mine.init_text[0] == addr and mine.init_text[1] > 0
    assert reference_lookup(Maps(None, placed.modules), addr)[3] == stale


def test_init_is_held_while_loading_or_unloading_with_init_memory():
    assert init_is_held("Loading", 0, 0x3000)
    assert not init_is_held("Live", 0x9000, 0x3000)
    assert init_is_held("Unloading", 0x4000, 0x3000)        # failed init: init still counted
    assert not init_is_held("Unloading", 0x3000, 0x3000)    # rmmod of a Live module
    assert not init_is_held(None, 0x9000, 0x3000)


def test_cli_places_the_capture_and_notes_what_it_left_out(kernel, capture, capsys):
    stale, owner, addr = _owner_of_stale_init(kernel)
    source = capture / "addr.txt"
    source.write_text("0x%016x\n" % addr)
    base = ["symbolize", "--ko-dir", str(prebuilt_dir()), "--sections", str(capture / "sys")]
    for extra, said in ((["--modules", str(capture / "modules")], "Live modules"),
                        ([], "(no --modules given)")):
        rc = main([*base, *extra, str(source)])
        out, err = capsys.readouterr()
        assert rc == 0 and re.search(r"<- \w+\+0x0/0x\w+ \[%s\]$" % owner, out.strip())
        [line] = err.splitlines()
        assert line.startswith("pymod symbolize: note: --sections: ") and said in line
        assert all(n in line for n in LOADED)
    (capture / "modules").write_text(_loading(capture, stale))
    rc = main([*base, "--modules", str(capture / "modules"), str(source)])
    out, err = capsys.readouterr()
    assert rc == 0 and out.strip().endswith("[%s]" % owner)
    assert "pymod symbolize: warning: --sections: %s is still initialising but its init " \
           "sections (" % stale in err and "overlap %s's memory" % owner in err


def _loading(capture, name: str) -> str:
    lines = (capture / "modules").read_text().splitlines(keepends=True)
    return "".join(line.replace(" Live ", " Loading ") if line.split()[0] == name else line
                   for line in lines)
