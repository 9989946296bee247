"""A .ko placed at captured addresses gives the map of the same module loaded."""

from __future__ import annotations

import pytest
from elftools.elf.elffile import ELFFile

from pymod import Kernel
from pymod.contract.internal import MemType
from pymod.errors import InvalidArgument
from pymod.loader import queries
from pymod.samples import SAMPLES, prebuilt_path
from pymod.symbolize.model import Maps
from pymod.symbolize.readers import module_map, place_ko, read_sections
from pymod.symbolize.reference import reference_lookup
from tests.symbolize.support import same_table


@pytest.fixture(scope="module")
def kernel() -> Kernel:
    k = Kernel()
    for s in SAMPLES:
        if s.loads:
            k.load_module(prebuilt_path(s.name))
    return k


def _sections(k: Kernel, name: str) -> dict[str, int]:
    return {key.split("/", 1)[1]: int(v, 16) for key, v in queries.sysfs(k, name).items()
            if key.startswith("sections/")}


def _in_regions(m) -> list[tuple[int, str, int]]:
    t = m.symbols
    return [(int(t.addrs[i]), t.name(i), t.types[i]) for i in range(len(t))
            if any(b <= int(t.addrs[i]) < b + s for b, s in m.regions)]


def _build_id(path) -> bytes | None:
    with open(path, "rb") as f:
        for sec in ELFFile(f).iter_sections():
            if sec.header["sh_type"] == "SHT_NOTE":
                for note in sec.iter_notes():
                    if note["n_type"] == "NT_GNU_BUILD_ID":
                        return bytes.fromhex(note["n_desc"])
    return None


def test_placed_by_sections_equals_the_loaded_module(kernel, tmp_path):
    for mod in kernel.modules:
        secs = _sections(kernel, mod.name)
        d = tmp_path / mod.name / "sections"
        d.mkdir(parents=True)
        for name, addr in secs.items():
            (d / name).write_text("0x%016x\n" % addr)
    captured = read_sections(tmp_path)
    for mod in kernel.modules:
        loaded = module_map(mod)
        placed = place_ko(mod.source, sections=captured[mod.name])
        if mod.klp:
            # a livepatch module keeps every symbol, also those whose address
            # a capture cannot give (.modinfo's, freed init text's)
            assert _in_regions(placed) == _in_regions(loaded)
        else:
            assert same_table(placed.symbols, loaded.symbols), mod.name
        assert placed.regions == loaded.regions and placed.text == loaded.text
        assert placed.name == mod.name and placed.init_text == (0, 0)
        assert placed.build_id == loaded.build_id == _build_id(mod.source)
        assert placed.build_id is not None and len(placed.build_id) == 20


def test_placed_at_the_text_base(kernel):
    for mod in kernel.modules:
        text = mod.mem[MemType.TEXT]
        placed = place_ko(mod.source, base=text.base)
        loaded = module_map(mod)
        assert placed.regions == ((text.base, text.size),) == (placed.text,)
        for addr in range(text.base, text.base + text.size, 4):
            assert reference_lookup(Maps(None, (placed,)), addr) == \
                reference_lookup(Maps(None, (loaded,)), addr)
        data = mod.mem[MemType.DATA]
        assert reference_lookup(Maps(None, (placed,)), data.base + 0x40) is None


def test_needs_a_base_or_sections():
    with pytest.raises(InvalidArgument):
        place_ko(prebuilt_path("pm_hello"))


def test_disagreeing_sections_are_refused(kernel):
    mod = next(m for m in kernel.modules if m.name == "pm_exporter")
    secs = _sections(kernel, mod.name)
    data_secs = [n for n in secs if n in (".data", ".gnu.linkonce.this_module", ".exit.data")]
    assert data_secs
    secs[".gnu.linkonce.this_module"] += 0x1000
    with pytest.raises(Exception, match="does not fit"):
        place_ko(mod.source, sections=secs)
