"""The real Debian kernel: its System.map, and its whole module tree loaded."""

from __future__ import annotations

import bisect
import random

import pytest

from pymod import Config, Kernel
from pymod.elf.kofile import read_ko
from pymod.errors import InvalidArgument
from pymod.loader import queries
from pymod.loader.batch import load_all
from pymod.loader.kallsyms_text import kallsyms_text
from pymod.symbolize.model import Maps
from pymod.symbolize.readers import module_map, place_ko, read_kallsyms, read_system_map
from pymod.symbolize.reference import reference_lookup
from tests.symbolize.support import same_table
from tests.symbolize.test_modules import _elf_functions, _region_of

pytestmark = [pytest.mark.real_kernel, pytest.mark.slow]   # symbolizers of whole kernels


def test_system_map(debian_kernel):
    data = debian_kernel.system_map.read_bytes()
    if b"The real System.map is in" in data:
        # Debian's linux-image ships a one-line placeholder: it must be
        # refused by name, never read as a one-symbol kernel.
        with pytest.raises(InvalidArgument, match="-dbg package"):
            read_system_map(debian_kernel.system_map)
        return
    maps = read_system_map(debian_kernel.system_map)
    core = maps.core
    assert core is not None and core.stext < core.etext and core.end is not None
    rng = random.Random(5)
    for _ in range(500):
        addr = rng.randrange(core.stext, core.etext)
        name, off, size, module = reference_lookup(maps, addr)
        assert module is None and off < size


@pytest.fixture(scope="module")
def tree(debian_kernel) -> Kernel:
    files = debian_kernel.ko_files()
    config = Config.from_kconfig(debian_kernel.config, release=debian_kernel.release)
    k = Kernel(config.replace(struct_module_size=Config.struct_module_size_of(files[0])),
               symvers=debian_kernel.symvers)
    assert load_all(k, [debian_kernel.modules_dir]).failures == []
    return k


def test_kallsyms_round_trip(tree):
    text = kallsyms_text(tree)
    for modules in (None, tree.proc_modules()):
        back = read_kallsyms(text, modules)
        assert [m.name for m in back.modules] == [m.name for m in reversed(tree.modules)]
        for m, mod in zip(back.modules, reversed(tree.modules), strict=True):
            assert same_table(m.symbols, module_map(mod).symbols), mod.name


def test_exports_print_upper_case(tree):
    seen: dict[tuple[str, str], set[str]] = {}
    for line in kallsyms_text(tree).splitlines():
        head, mod = line.split("\t")
        _, letter, name = head.split(" ")
        seen.setdefault((mod[1:-1], name), set()).add(letter)
    exports = [(m.name, s.name) for m in tree.modules for s in m.syms]
    assert len(exports) > 1000
    for key in exports:
        assert any(letter.isupper() for letter in seen[key]), key


def _sample(tree, n=25):
    mods = sorted(tree.modules, key=lambda m: m.name)
    return random.Random(12).sample(mods, n)


def test_functions_resolve_to_themselves(tree):
    maps = Maps(None, tuple(module_map(m) for m in tree.modules))
    checked = 0
    for mod in _sample(tree):
        addrs = sorted(set(int(a) for a in module_map(mod).symbols.addrs))
        funcs = _elf_functions(bytes(read_ko(mod.source).payload), mod.section_addrs)
        for start, name, _ in funcs[:60]:
            _, region = _region_of(mod, start)
            end = min([a for a in addrs if start < a < region.base + region.size],
                      default=region.base + region.size)
            for off in sorted({0, (end - start) // 2, end - start - 1}):
                assert reference_lookup(maps, start + off) == (name, off, end - start,
                                                               mod.name), (mod.name, name)
            checked += 1
    assert checked > 200


def test_placed_files_equal_loaded_modules(tree):
    for mod in _sample(tree, 10):
        secs = {k.split("/", 1)[1]: int(v, 16) for k, v in queries.sysfs(tree, mod.name).items()
                if k.startswith("sections/")}
        placed, loaded = place_ko(mod.source, sections=secs), module_map(mod)
        assert same_table(placed.symbols, loaded.symbols), mod.name
        assert placed.regions == loaded.regions and placed.build_id == loaded.build_id


def test_captured_sections_with_stale_init_place_every_module(tree):
    """sections/ keeps init sections after init (6.1 and 6.12): in a whole
    tree many now lie in later modules' memory; each module's core is
    placed and every Live module's init sections are left out, and said."""
    from pymod.symbolize.capture import LIVE, place_sections
    from pymod.symbolize.readers import read_proc_modules

    secs = {m.name: {k.split("/", 1)[1]: int(v, 16) for k, v in queries.sysfs(tree, m.name).items()
                     if k.startswith("sections/")} for m in tree.modules}
    cores = sorted((r.base, r.base + r.size) for m in tree.modules
                   for t, r in m.mem.items() if r.size and not t.is_init)
    starts = [a for a, _ in cores]
    stale = [(m, a) for m, s in secs.items() for n, a in s.items() if n.startswith(".init.")]
    overlapping = [x for x in stale if (k := bisect.bisect_right(starts, x[1]) - 1) >= 0
                   and x[1] < cores[k][1]]
    assert len(overlapping) > 10
    procs = read_proc_modules(tree.proc_modules())
    placed = place_sections({m.name: m.source for m in tree.modules}, secs,
                            {n: (p.state, p.size) for n, p in procs.items()})
    assert len(placed.modules) == len(tree.modules)
    assert {i.reason for i in placed.ignored} == {LIVE}
    assert {i.module for i in placed.ignored} >= {m for m, _ in overlapping}
    by_name = {m.name: m for m in placed.modules}
    for mod in _sample(tree, 10):
        loaded = module_map(mod)
        assert same_table(by_name[mod.name].symbols, loaded.symbols), mod.name
        assert by_name[mod.name].regions == loaded.regions
