"""Modules loaded in a pymod Kernel: their maps, their /proc/kallsyms lines, and
lookups checked against the .ko files read by an independent ELF reader."""

from __future__ import annotations

import io

import pytest
from elftools.elf.elffile import ELFFile

from pymod import Config, Kernel
from pymod.contract.internal import MemType, ModuleState
from pymod.loader.kallsyms_text import kallsyms_text
from pymod.loader.kernel import Kernel as KernelClass
from pymod.samples import SAMPLES, prebuilt_path
from pymod.symbolize.model import Maps
from pymod.symbolize.readers import module_map, read_kallsyms
from pymod.symbolize.reference import reference_lookup, reference_sprint
from tests.symbolize.support import same_table

LOADABLE = [s.name for s in SAMPLES if s.loads]


def _kernel(config: Config | None = None) -> Kernel:
    k = Kernel(config)
    for name in LOADABLE:
        k.load_module(prebuilt_path(name))
    return k


@pytest.fixture(scope="module")
def kernel() -> Kernel:
    return _kernel()


def _maps(k: Kernel) -> Maps:
    return Maps(None, tuple(module_map(m) for m in k.modules))


def _elf_functions(path, section_addrs, include_init=False):
    """``(address, first name at that address in symtab order, st_size)``
    of every named function, placed with the section addresses sysfs shows."""
    with open(path, "rb") if not isinstance(path, bytes) else io.BytesIO(path) as f:
        elf = ELFFile(f)
        symtab = elf.get_section_by_name(".symtab")
        first: dict[int, str] = {}
        funcs = []
        for sym in symtab.iter_symbols():
            shndx = sym["st_shndx"]
            if not sym.name or not isinstance(shndx, int) or shndx == 0:
                continue
            secname = elf.get_section(shndx).name
            if secname not in section_addrs:
                continue
            if secname.startswith(".init") and not include_init:
                continue
            addr = section_addrs[secname] + sym["st_value"]
            first.setdefault(addr, sym.name)
            if sym["st_info"]["type"] == "STT_FUNC":
                funcs.append((addr, sym["st_size"]))
    return [(a, first[a], size) for a, size in funcs]


def _region_of(mod, addr):
    for t, r in mod.mem.items():
        if r.size and r.base <= addr < r.base + r.size:
            return t, r
    raise AssertionError("%#x is in no region of %s" % (addr, mod.name))


def test_every_function_resolves_to_itself(kernel):
    maps = _maps(kernel)
    checked = 0
    for mod in kernel.modules:
        table = module_map(mod).symbols
        addrs = sorted(set(int(a) for a in table.addrs))
        for start, name, st_size in _elf_functions(mod.source, mod.section_addrs):
            _, region = _region_of(mod, start)
            end = min([a for a in addrs if start < a < region.base + region.size],
                      default=region.base + region.size)
            for off in sorted({0, st_size // 2, max(st_size - 1, 0), end - start - 1}):
                assert reference_lookup(maps, start + off) == (name, off, end - start, mod.name)
            assert reference_sprint(maps, start) == "%s+0x0/%#x [%s]" % (name, end - start,
                                                                         mod.name)
            checked += 1
    assert checked >= 2 * len(LOADABLE)


def test_gaps_and_region_ends(kernel):
    maps = _maps(kernel)
    for mod in kernel.modules:
        text = mod.mem[MemType.TEXT]
        after = text.base + text.size            # the guard page after the region
        assert reference_lookup(maps, after) is None
        assert reference_lookup(maps, text.base + text.size - 1)[3] == mod.name


def test_init_symbols_vanish_after_init(monkeypatch):
    seen = {}
    original = KernelClass._do_init_module

    def spy(self, mod, init_result, *rest):
        assert mod.state == ModuleState.COMING
        seen["map"] = module_map(mod)
        seen["text"] = kallsyms_text(self)
        seen["init"] = mod.mem[MemType.INIT_TEXT].base, mod.mem[MemType.INIT_TEXT].size
        return original(self, mod, init_result, *rest)

    monkeypatch.setattr(KernelClass, "_do_init_module", spy)
    k = Kernel()
    mod = k.load_module(prebuilt_path("pm_hello"))
    base, size = seen["init"]
    assert size and seen["map"].init_text == (base, size)
    init_fn = _elf_functions(mod.source, {".init.text": base}, include_init=True)
    assert {n for _, n, _ in init_fn} == {"pm_hello_init"}     # init_module is its alias
    during = Maps(None, (seen["map"],))
    assert reference_sprint(during, base + 1) == "pm_hello_init+0x1/%#x [pm_hello]" % size
    assert "pm_hello_init\t[pm_hello]" in seen["text"]
    assert "init_module\t[pm_hello]" in seen["text"]
    # COMING: the full table, round trip included
    back = read_kallsyms(seen["text"]).modules[0]
    assert same_table(back.symbols, seen["map"].symbols)
    after = module_map(mod)
    assert after.init_text == (0, 0) and all(b != base for b, _ in after.regions)
    assert reference_lookup(Maps(None, (after,)), base + 1) is None
    assert "pm_hello_init" not in kallsyms_text(k)
    names = {after.symbols.name(i) for i in range(len(after.symbols))}
    assert "pm_hello_init" not in names and "pm_hello_exit" in names


def test_unloaded_modules_stop_resolving():
    k = _kernel()
    hello = next(m for m in k.modules if m.name == "pm_hello")
    addr = hello.mem[MemType.TEXT].base
    assert reference_lookup(_maps(k), addr)[3] == "pm_hello"
    k.delete_module("pm_hello")
    assert reference_lookup(_maps(k), addr) is None
    assert "[pm_hello]" not in kallsyms_text(k)


def test_kallsyms_text_round_trips(kernel):
    text = kallsyms_text(kernel)
    newest_first = [m.name for m in reversed(kernel.modules)]
    for modules in (None, kernel.proc_modules()):
        back = read_kallsyms(text, modules)
        assert back.core is None
        assert [m.name for m in back.modules] == newest_first
        for m, mod in zip(back.modules, reversed(kernel.modules), strict=True):
            assert same_table(m.symbols, module_map(mod).symbols), mod.name
    spans = {m.name: m.regions for m in read_kallsyms(text, kernel.proc_modules()).modules}
    for mod in kernel.modules:
        (base, size), = spans[mod.name]
        assert base == mod.mem[MemType.TEXT].base and size <= mod.total_size


def test_type_letters(kernel):
    lines = {tuple(line.split("\t")[0].split(" ")[1:]) + (line.split("\t")[1],)
             for line in kallsyms_text(kernel).splitlines()}
    assert ("T", "pm_shared_fn", "[pm_exporter]") in lines      # exported: upper case
    assert ("T", "pm_ns_fn", "[pm_exporter]") in lines
    assert ("t", "pm_exporter_exit", "[pm_exporter]") in lines
    assert ("t", "cleanup_module", "[pm_hello]") in lines       # global, not exported
    assert ("d", "__this_module", "[pm_hello]") in lines
    assert ("r", "__ksymtab_pm_shared_fn", "[pm_exporter]") in lines


def test_without_kallsyms_all_only_text_resolves():
    k = Kernel(Config().replace(KALLSYMS_ALL=False))
    mod = k.load_module(prebuilt_path("pm_ro_after_init"))
    m = module_map(mod)
    assert m.regions == (m.text,)
    letters = set(m.symbols.types)
    assert letters <= set(b"tT")
    data = mod.mem[MemType.DATA]
    assert reference_lookup(Maps(None, (m,)), data.base) is None
