"""Relocations: module memory after a load holds what an independent
applier (pyelftools + plain Python, written from the x86-64 psABI) computes;
the kernel's refusals come out with its errno and messages; pymod's own
bounds say so; queries.read reads live memory only."""

from __future__ import annotations

import errno
import io
import re
import struct

import pytest
from elftools.elf.elffile import ELFFile
from elftools.elf.relocation import RelocationSection

from pymod import Kernel, ModuleLoadError, PymodError
from pymod.loader import queries
from pymod.samples import SAMPLES, prebuilt_path
from tests.loader.support import OnComing, assert_consistent, sample_bytes, snapshot

MASK = (1 << 64) - 1
SIZES = {1: 8, 2: 4, 4: 4, 10: 4, 11: 4, 24: 8}     # R_X86_64_* -> bytes written
PC_RELATIVE = {2, 4, 24}


class Coming:
    """Section addresses and memory as they are when the module becomes
    COMING (init sections still there)."""

    def __init__(self, k: Kernel):
        self.k = k
        self.sections: dict[str, int] = {}
        self.memory: dict[int, bytes] = {}
        k.watchers.add(self)

    def module_coming(self, mod) -> None:
        self.sections = dict(mod.section_addrs)
        self.memory = {b: queries.read(self.k, b, s) for b, s in mod.regions().values()}

    def module_live(self, mod) -> None:
        pass

    def module_gone(self, mod) -> None:
        pass

    def read(self, addr: int, size: int) -> bytes:
        for base, data in self.memory.items():
            if 0 <= addr - base < len(data):
                return data[addr - base:addr - base + size]
        raise KeyError(hex(addr))


def loaded(k: Kernel, name: str, watch: Coming | None = None):
    sample = next(s for s in SAMPLES if s.name == name)
    for dep in sample.requires:
        if k.module(dep) is None:
            loaded(k, dep)
    if watch is not None:
        k.watchers.add(watch)
    return k.load_module(prebuilt_path(name))


def expected_sections(k: Kernel, section_addrs: dict[str, int], image: bytes,
                      percpu: int = 0) -> dict[str, bytes]:
    """Every allocated, non-empty section's bytes after relocation, computed
    from the file alone plus the section addresses, the per-CPU copy's
    address and the exports."""
    elf = ELFFile(io.BytesIO(image))
    symtab = elf.get_section_by_name(".symtab")
    names = [s.name for s in elf.iter_sections()]
    addr = {name: section_addrs.get(name) for name in names}
    pcpu = {".data..percpu": percpu} if percpu else {}
    out = {n: bytearray(s.data()) if s["sh_type"] != "SHT_NOBITS" else bytearray(s["sh_size"])
           for n, s in zip(names, elf.iter_sections(), strict=True) if addr.get(n) is not None}
    for sec in elf.iter_sections():
        if not isinstance(sec, RelocationSection) or not sec.is_RELA():
            continue
        target = names[sec["sh_info"]]
        if target not in out:
            continue
        for r in sec.iter_relocations():
            sym = symtab.get_symbol(r["r_info_sym"])
            if sym["st_shndx"] == "SHN_UNDEF":
                found = k.symbols.find_symbol(sym.name)
                value = found.value if found is not None else 0
            elif sym["st_shndx"] == "SHN_ABS":
                value = sym["st_value"]
            else:
                name = names[sym["st_shndx"]]
                value = pcpu.get(name, addr[name]) + sym["st_value"]
            rtype = r["r_info_type"]
            if rtype == 0:
                continue
            loc = addr[target] + r["r_offset"]
            val = (value + r["r_addend"] - (loc if rtype in PC_RELATIVE else 0)) & MASK
            size = SIZES[rtype]
            out[target][r["r_offset"]:r["r_offset"] + size] = \
                (val & ((1 << 8 * size) - 1)).to_bytes(size, "little")
    return {n: bytes(b) for n, b in out.items()}


@pytest.mark.parametrize("name", [s.name for s in SAMPLES if s.loads])
def test_memory_matches_an_independent_relocator(name):
    k = Kernel()
    watch = Coming(k)
    mod = loaded(k, name, watch)
    want = expected_sections(k, watch.sections, sample_bytes(name), mod.percpu)
    assert len(want) >= 3
    for section, data in want.items():
        assert watch.read(watch.sections[section], len(data)) == data, section
        if mod.within(watch.sections[section]):          # still there after init
            assert queries.read(k, watch.sections[section], len(data)) == data, section


def test_relocated_ksymtab_points_at_the_exports():
    """struct kernel_symbol's value_offset, read back from module memory,
    lands on the address the directory publishes."""
    k = Kernel()
    watch = Coming(k)
    mod = loaded(k, "pm_exporter", watch)
    tables = 0
    for table in ("__ksymtab", "__ksymtab_gpl"):
        base = mod.section_addrs.get(table)
        if base is None:
            continue
        tables += 1
        size = len(expected_sections(k, watch.sections, sample_bytes("pm_exporter"))[table])
        data = queries.read(k, base, size)
        for off in range(0, size, 12):
            value_offset, name_offset, _ = struct.unpack_from("<iii", data, off)
            entry = base + off
            name_addr = entry + 4 + name_offset
            raw = queries.read(k, name_addr, 64)
            name = raw[:raw.index(b"\0")].decode()
            assert k.symbols.find_symbol(name).value == (entry + value_offset) & MASK
    assert tables == 2


def test_calls_to_vmlinux_land_on_its_exports():
    k = Kernel()
    watch = Coming(k)
    loaded(k, "pm_hello", watch)
    printk = k.symbols.find_symbol("_printk").value
    hits = 0
    for base, data in watch.memory.items():
        for m in re.finditer(rb"\xe8", data[:-4]):
            target = (base + m.start() + 5 + struct.unpack_from("<i", data, m.start() + 1)[0])
            hits += (target & MASK) == printk
    assert hits >= 1


# ---------------------------------------------------------------- refusals
def _rela(image: bytes, section: str = ".rela.text"):
    elf = ELFFile(io.BytesIO(image))
    sec = elf.get_section_by_name(section)
    return elf, sec


def _patched(image: bytes, offset: int, data: bytes) -> bytes:
    return image[:offset] + data + image[offset + len(data):]


def _first_rela(image: bytes, want_type: int | None = None):
    """(file offset of the entry, entry, the .rela section header offset)."""
    elf = ELFFile(io.BytesIO(image))
    for index, sec in enumerate(elf.iter_sections()):
        if isinstance(sec, RelocationSection) and sec.is_RELA() \
                and elf.get_section(sec["sh_info"])["sh_flags"] & 2:
            for i, r in enumerate(sec.iter_relocations()):
                if want_type is None or r["r_info_type"] == want_type:
                    shdr_off = elf["e_shoff"] + index * elf["e_shentsize"]
                    return sec["sh_offset"] + 24 * i, r, shdr_off, elf.get_section(
                        sec["sh_info"])
    raise AssertionError("no relocation of type %s" % want_type)


def refused(image: bytes) -> tuple[ModuleLoadError, Kernel]:
    k = Kernel()
    before = snapshot(k)
    with pytest.raises(ModuleLoadError) as ei:
        k.load_module(image)
    assert snapshot(k) == before
    assert_consistent(k)
    return ei.value, k


HELLO = sample_bytes("pm_hello")


def test_unknown_relocation_type():
    off, r, _, _ = _first_rela(HELLO)
    info = (r["r_info_sym"] << 32) | 40
    e, _ = refused(_patched(HELLO, off + 8, struct.pack("<Q", info)))
    assert (e.errno, e.strerror, e.stage) == (errno.ENOEXEC,
                                              "module: pm_hello: Unknown rela relocation: 40",
                                              "relocate")


def test_nonzero_target():
    off, r, _, target = _first_rela(HELLO, 4)          # a PLT32 call
    where = target["sh_offset"] + r["r_offset"]
    e, k = refused(_patched(HELLO, where, b"\x01"))
    # arch/x86/kernel/module.c's pr_fmt is "module: " (seen in the real kernel's log)
    m = re.fullmatch(r"module: x86/modules: Invalid relocation target, existing value is "
                     r"nonzero for type 4, loc ([0-9a-f]{16}), val ([0-9a-f]+)", e.strerror)
    assert m and e.errno == errno.ENOEXEC, e.strerror
    assert k.log.lines[-1] == ("err", e.strerror)


def test_overflow_names_the_code_model():
    off, r, _, _ = _first_rela(HELLO, 11)              # R_X86_64_32S -> R_X86_64_32
    info = (r["r_info_sym"] << 32) | 10
    e, k = refused(_patched(HELLO, off + 8, struct.pack("<Q", info)))
    assert e.strerror == "module: `pm_hello' likely not compiled with -mcmodel=kernel"
    assert re.fullmatch(r"module: overflow in relocation type 10 val ffffffff[0-9a-f]{8}",
                        k.log.lines[-2][1])


def test_nonzero_target_6_1_words_it_before_subtracting_p():
    """6.1 checks the target before computing S+A-P and says "Skipping"."""
    from pymod import Config, Kernel, ModuleLoadError
    from pymod.samples import default_symvers

    off, r, _, target = _first_rela(HELLO, 4)          # a PLT32 call
    where = target["sh_offset"] + r["r_offset"]
    old, new = (Kernel(Config(release="%s.0-pymod-amd64" % v, struct_module_size=None),
                       symvers=default_symvers()) for v in ("6.1", "6.12"))
    vals = []
    for k in (old, new):
        with pytest.raises(ModuleLoadError) as e:
            k.finit_module(_patched(HELLO, where, b"\x01"))
        m = re.fullmatch(r"module: x86/modules: (Skipping invalid|Invalid) relocation target, "
                         r"existing value is nonzero for type 4, loc [0-9a-f]{16}, "
                         r"val ([0-9a-f]+)", e.value.strerror)
        assert m, e.value.strerror
        vals.append((m.group(1), int(m.group(2), 16)))
    assert vals[0][0] == "Skipping invalid" and vals[1][0] == "Invalid"
    assert vals[0][1] != vals[1][1]           # S+A on 6.1, S+A-P on 6.12


def test_rel_sections_are_refused():
    _, _, shdr, _ = _first_rela(HELLO)
    e, _ = refused(_patched(HELLO, shdr + 4, struct.pack("<I", 9)))   # sh_type = SHT_REL
    assert e.strerror == "module pm_hello: REL relocation unsupported"


def test_pymods_own_bounds_say_so():
    off, r, _, _ = _first_rela(HELLO)
    e, _ = refused(_patched(HELLO, off + 8, struct.pack("<Q", (10**6 << 32) | 4)))
    assert "past the symbol table (pymod's own check" in e.strerror
    e, _ = refused(_patched(HELLO, off, struct.pack("<Q", 1 << 40)))
    assert "outside the module's memory (pymod's own check" in e.strerror


def test_livepatch_relocation_sections_are_left_to_livepatch():
    """SHF_RELA_LIVEPATCH: the section is not applied, so its targets stay 0."""
    off, r, shdr, target = _first_rela(HELLO, 4)
    flags = struct.unpack_from("<Q", HELLO, shdr + 8)[0] | 0x00100000
    k = Kernel()
    mod = k.load_module(_patched(HELLO, shdr + 8, struct.pack("<Q", flags)))
    name = ELFFile(io.BytesIO(HELLO)).get_section(
        ELFFile(io.BytesIO(HELLO)).get_section_index(target.name)).name
    if name in mod.section_addrs:
        assert queries.read(k, mod.section_addrs[name] + r["r_offset"], 4) == b"\0\0\0\0"


# --------------------------------------------------------------- queries.read
def test_read_refuses_what_no_live_region_holds():
    k = Kernel()
    mod = loaded(k, "pm_hello")
    base, size = mod.regions()["text"]
    assert len(queries.read(k, base, size)) == size and queries.read(k, base, 0) == b""
    for addr, n in ((base + size, 1), (base - 1, 1), (base + size - 4, 8), (0, 1)):
        with pytest.raises(PymodError) as ei:
            queries.read(k, addr, n)
        assert ei.value.errno == errno.EFAULT
    with pytest.raises(TypeError):
        queries.read(k, str(base), 1)
    with pytest.raises(ValueError):
        queries.read(k, base, -1)
    k.delete_module("pm_hello")
    with pytest.raises(PymodError):
        queries.read(k, base, 1)


def test_init_memory_is_gone_after_init():
    k = Kernel()
    seen = {}
    watch = OnComing(k, lambda mod: seen.update(mod.regions()))
    mod = loaded(k, "pm_hello")
    assert watch and "init_text" in seen and "init_text" not in mod.regions()
    with pytest.raises(PymodError):
        queries.read(k, seen["init_text"][0], 1)
