"""One ``Symbolizer(...)`` for every kind of source (pymod.symbolize.inputs):
each answers as its shorthand or reader does; several combine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pymod import Kernel
from pymod.errors import PymodError
from pymod.loader import queries
from pymod.samples import prebuilt_dir, prebuilt_path
from pymod.symbolize import DebugInfo, Kallsyms, KoDir, Symbolizer, SysModule, SystemMap
from pymod.symbolize.follow import KernelSymbolizer
from pymod.symbolize.readers import read_system_map

FIX = Path(__file__).resolve().parents[1] / "tools" / "fixtures"
KALLSYMS, MODULES, SYSTEM_MAP = FIX / "kallsyms", FIX / "modules", FIX / "vmlinux.map"


def _texts(s: Symbolizer, addrs) -> list[str]:
    return s.symbolize_many(np.array(addrs, dtype=np.uint64)).format()


def _addrs() -> list[int]:
    core = read_system_map(SYSTEM_MAP).core
    a = core.symbols.addrs[::7].tolist()[:200]
    return a + [x + 3 for x in a] + list(range(0xffffffffc0000000, 0xffffffffc0010000, 0x35))


def test_kallsyms_is_from_kallsyms():
    want = Symbolizer.from_kallsyms(KALLSYMS, MODULES)
    got = Symbolizer(Kallsyms(KALLSYMS, MODULES))
    assert _texts(got, _addrs()) == _texts(want, _addrs())


def test_system_map_moved_by_kaslr():
    plain = Symbolizer(SystemMap(SYSTEM_MAP))
    assert _texts(plain, _addrs()) == _texts(Symbolizer.from_system_map(SYSTEM_MAP), _addrs())
    slide = 0x2a00000
    moved = Symbolizer(SystemMap(SYSTEM_MAP, kaslr_offset=slide))
    a = [x for x in _addrs() if x < 0xffffffffc0000000]
    assert _texts(moved, [x + slide for x in a]) == _texts(plain, a)
    assert sum(t.startswith("0x") for t in _texts(moved, a)) > len(a) // 2


def test_ko_dir_and_sys_module_and_a_kernel_answer_alike(tmp_path):
    k = Kernel()
    for name in ("pm_hello", "pm_exporter", "pm_importer"):
        k.load_module(prebuilt_path(name))
    (tmp_path / "modules").write_text(k.proc_modules())
    for mod in k.modules:
        d = tmp_path / "sys" / mod.name / "sections"
        d.mkdir(parents=True)
        for key, value in queries.sysfs(k, mod.name).items():
            if key.startswith("sections/"):
                (d / key.split("/", 1)[1]).write_text(value + "\n")
    addrs = list(range(0xffffffffc0000000, 0xffffffffc0020000, 0x11))
    from_kernel = _texts(Symbolizer(k), addrs)
    assert from_kernel == _texts(KernelSymbolizer(k), addrs)
    sections = Symbolizer(SysModule(tmp_path / "sys", prebuilt_dir(), tmp_path / "modules"))
    assert _texts(sections, addrs) == from_kernel
    # placed by /proc/modules' bases: the text region only
    ko = _texts(Symbolizer(KoDir(prebuilt_dir(), tmp_path / "modules")), addrs)
    assert sum(a == b for a, b in zip(ko, from_kernel, strict=True)) > len(addrs) // 4
    # several sources: vmlinux from System.map, modules from the kernel
    both = Symbolizer(SystemMap(SYSTEM_MAP), k)
    assert _texts(both, addrs) == from_kernel
    core = [a for a in _addrs() if a < 0xffffffffc0000000]
    assert _texts(both, core) == _texts(Symbolizer(SystemMap(SYSTEM_MAP)), core)


def test_not_a_source():
    with pytest.raises(PymodError):
        Symbolizer("kallsyms")
    with pytest.raises(ValueError):
        DebugInfo()


@pytest.mark.slow
@pytest.mark.real_kernel
def test_debug_info_alone_and_with_system_map(debian_dbg_61):
    sym = Symbolizer(DebugInfo(debian_dbg_61.debug_dir))
    got = sym.symbolize_name("vfs_read", 0x50)
    assert got is not None and got.name == "vfs_read" and got.offset == 0x50
    assert got.source and got.source[-1].function == "vfs_read" and not got.source[-1].inlined
    assert all(f.inlined for f in got.source[:-1])
    # the link-time address of vfs_read+0x50 answers the same, lines included
    again = sym.symbolize_many([_link_address(sym, "vfs_read") + 0x50], lines=True)[0]
    assert again.source == got.source and str(again) == str(got)
    mod = debian_dbg_61.ko_files()[0]
    name = mod.name.removesuffix(".ko").replace("-", "_")
    from_file = Symbolizer.from_debuginfo(mod)
    assert name in from_file.debuginfo and None not in from_file.debuginfo


def _link_address(sym: Symbolizer, name: str) -> int:
    table = sym.debuginfo[None].symbols
    i = next(i for i in range(len(table)) if table.name(i) == name)
    return int(table.addrs[i])
