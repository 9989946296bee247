"""What the kernel reads where no bound stops it, and the file reader's
refusal of an empty file; each in 6.12 and in 6.1 (pymod.loader.kbuf)."""

from __future__ import annotations

import errno
import struct

import pytest

from pymod import MODULE_INIT_COMPRESSED_FILE, Config, Kernel, ModuleLoadError
from pymod.contract.internal import PAGE_SIZE
from pymod.elf.image import ElfImage
from pymod.loader import queries
from tests.loader.support import OnComing, sample_bytes, snapshot
from tests.loader.test_kver import (
    HELLO,
    R61,
    R612,
    SH_OFFSET,
    SH_SIZE,
    SH_TYPE,
    kernel,
    load,
    patch,
    shdr,
)

SERIES = ("6.12", "6.1")
ELF = ElfImage(HELLO)
SYMTAB, STRTAB = ELF.symtab_section, ELF.sections[ELF.symtab_section.link]
OWN_CHECK = "(pymod's own check: the kernel would fault)"


# ------------------------------------------------------------ .modinfo

@pytest.mark.parametrize("series", SERIES)
def test_nobits_modinfo_is_read_at_its_offset(series):
    image = patch(HELLO, shdr(".modinfo", SH_TYPE), "<I", 8)          # SHT_NOBITS
    k, mod = load(series, image)
    assert mod.name == "pm_hello" and mod.taint_letters == "E"       # licence, intree read
    assert mod.version == "1.0"


@pytest.mark.parametrize("series", SERIES)
def test_nobits_modinfo_past_the_file(series):
    """No bound covers a SHT_NOBITS .modinfo: in the zeroed rest of the
    buffer's last page it reads as empty; a page further the kernel would
    fault, which pymod refuses."""
    image = patch(HELLO, shdr(".modinfo", SH_TYPE), "<I", 8)
    tail = -(-len(image) // PAGE_SIZE) * PAGE_SIZE - 16
    assert tail > len(image)
    k, mod = load(series, patch(image, shdr(".modinfo", SH_OFFSET), "<QQ", tail, 16))
    assert mod.name == "pm_hello" and "P" in mod.taint_letters      # no licence now
    k, e = load(series, patch(image, shdr(".modinfo", SH_OFFSET), "<QQ", tail, 17))
    assert isinstance(e, ModuleLoadError) and e.strerror.endswith(OWN_CHECK)
    k, e = load(series, patch(image, shdr(".modinfo", SH_OFFSET), "<QQ", tail + 64, 1))
    assert isinstance(e, ModuleLoadError) and (e.errno, e.stage) == (errno.ENOEXEC, "elf")
    assert e.strerror.endswith(OWN_CHECK) and k.log.lines == []


@pytest.mark.parametrize("series", SERIES)
def test_modinfo_last_string_runs_past_its_section(series):
    """get_next_modinfo reads a string to its NUL, past sh_size."""
    sec = ELF.section(".modinfo")
    data = ELF.bytes_of(sec)
    assert data.endswith(b"modversions \0")
    image = patch(HELLO, shdr(".modinfo", SH_SIZE), "<Q", sec.size - 3)
    k, mod = load(series, image)
    assert mod.name == "pm_hello" and "F" not in mod.taint_letters  # the whole vermagic


# ------------------------------------------------------------- .strtab

def _resolved_printk(series: str, image: bytes) -> int:
    k, mod = load(series, image)
    assert not isinstance(mod, ModuleLoadError), mod
    assert not [m for _, m in k.log.lines if "Unknown symbol" in m]
    return len(mod.kallsyms.core)


@pytest.mark.parametrize("series", SERIES)
def test_strtab_names_are_read_past_its_size(series):
    image = patch(HELLO, shdr(".strtab", SH_SIZE), "<Q", 1)
    assert _resolved_printk(series, image) == _resolved_printk(series, HELLO)


def _strtab_at_the_end(pad: int) -> bytes:
    """HELLO with a copy of .strtab at the very end of the file, cut before
    the NUL of its last name (the one at the highest offset), after ``pad``
    bytes of padding."""
    names = ELF.symbols()["st_name"]
    last = int(names.max())
    table = ELF.strtab[:ELF.strtab.index(b"\0", last)]
    start = len(HELLO) + pad
    image = patch(HELLO, shdr(".strtab", SH_OFFSET), "<QQ", start, len(table))
    return image + b"\xff" * pad + table


@pytest.mark.parametrize("series", SERIES)
def test_a_name_running_into_the_files_end(series):
    """The rest of the buffer's last page is zero (init_on_alloc): a name
    cut by the file's end ends there.  When the file fills its last page,
    the kernel would read its guard page: pymod refuses."""
    image = _strtab_at_the_end(0)
    assert len(image) % PAGE_SIZE
    assert _resolved_printk(series, image) == _resolved_printk(series, HELLO)
    base = len(_strtab_at_the_end(0))
    filled = _strtab_at_the_end(-base % PAGE_SIZE)
    assert len(filled) % PAGE_SIZE == 0
    k = kernel(series)
    before = snapshot(k)
    k, e = load(series, filled, k)
    assert isinstance(e, ModuleLoadError) and (e.errno, e.stage) == (errno.ENOEXEC, "elf")
    assert e.strerror.endswith(OWN_CHECK) and snapshot(k) == before


# ------------------------------------------------------------- .symtab

def _symtab_cut(by: int) -> bytes:
    return patch(HELLO, shdr(".symtab", SH_SIZE), "<Q", SYMTAB.size - by)


def _thunk_relocation() -> tuple[int, int]:
    """(offset in .init.text, addend) of the relocation naming the last symbol."""
    import io

    from elftools.elf.elffile import ELFFile

    last = len(ELF.symbols()) - 1
    rela = ELFFile(io.BytesIO(HELLO)).get_section_by_name(".rela.init.text")
    found = [(r["r_offset"], r["r_addend"]) for r in rela.iter_relocations()
             if r["r_info_sym"] == last]
    assert found and ELF.symbol_name(last) == "__x86_return_thunk"
    return found[0]


def _coming_value(series: str, image: bytes, at: int) -> tuple[int, int]:
    """(the 32 bits relocated at .init.text+at, their address) while COMING."""
    seen = {}
    k = kernel(series)

    def grab(mod):
        addr = mod.section_addrs[".init.text"] + at
        seen["v"] = (struct.unpack("<i", queries.read(k, addr, 4))[0], addr)
    watch = OnComing(k, grab)
    load(series, image, k)
    assert watch and "v" in seen
    return seen["v"]


@pytest.mark.parametrize("series", SERIES)
@pytest.mark.parametrize("by", [1, 8, 16, 23])
def test_partial_last_symbol_is_read_from_module_memory(series, by):
    """sh_size / sizeof(Elf_Sym) whole symbols; the partial last one
    (__x86_return_thunk, named by a relocation) is never resolved, and its
    st_value is what lies at its place in the symbol table's copy: its own
    bytes, then the string table's copy right after it."""
    at, addend = _thunk_relocation()
    value, loc = _coming_value(series, _symtab_cut(by), at)
    entry = ELF.bytes_of(SYMTAB)[-24:-by] + ELF.strtab[:by]   # as laid out in module memory
    st_value = int.from_bytes(entry[8:16], "little")
    assert value == ((st_value + addend - loc + (1 << 31)) % (1 << 32)) - (1 << 31)
    whole, _ = _coming_value(series, HELLO, at)
    assert whole != value                                      # resolved when whole


@pytest.mark.parametrize("series", SERIES)
def test_symtab_size_past_a_multiple_loads(series):
    image = patch(HELLO, shdr(".symtab", SH_SIZE), "<Q", SYMTAB.size + 8)
    k, mod = load(series, image)
    assert mod.name == "pm_hello"


# ---------------------------------------------------------- an empty file

@pytest.mark.parametrize("series", SERIES)
def test_empty_file_is_einval_from_the_file_reader(series, tmp_path):
    empty = tmp_path / "empty.ko"
    empty.write_bytes(b"")
    release = R61 if series == "6.1" else R612
    calls = [lambda k: k.finit_module(b""), lambda k: k.finit_module(empty),
             lambda k: k.finit_module(empty, flags=MODULE_INIT_COMPRESSED_FILE),
             lambda k: k.load_module(empty)]
    for config in (Config(release=release), Config(release=release, MODULE_SIG_FORCE=True)):
        for call in calls:
            k = Kernel(config, sig_enforce=True)
            with pytest.raises(ModuleLoadError) as ei:
                call(k)
            assert (ei.value.errno, ei.value.stage) == (errno.EINVAL, "read")
            assert k.log.lines == []
    # one byte is the kernel's to refuse, after the signature check
    with pytest.raises(ModuleLoadError) as ei:
        Kernel(Config(release=release), sig_enforce=True).finit_module(b"\x7f")
    assert ei.value.errno == errno.EKEYREJECTED
    with pytest.raises(ModuleLoadError) as ei:
        Kernel(Config(release=release)).finit_module(b"\x7f")
    assert ei.value.strerror == "Invalid ELF header len 1"


def test_init_module_of_nothing_is_enoexec():
    """copy_module_from_user: len < sizeof(Elf_Ehdr) -> ENOEXEC, silently,
    in both kernels (no file reader on this path)."""
    for release in (R61, R612):
        k = Kernel(Config(release=release), sig_enforce=True)
        with pytest.raises(ModuleLoadError) as ei:
            k.init_module(b"")
        assert ei.value.errno == errno.ENOEXEC and k.log.lines == []


def test_exporter_loads_with_a_strtab_cut_short():
    """Exported CRCs are found by their __crc_ names, read past sh_size too."""
    exporter = sample_bytes("pm_exporter")
    elf = ElfImage(exporter)
    image = patch(exporter, shdr(".strtab", SH_SIZE, elf), "<Q", 1)
    k, mod = load("6.12", image)
    assert "F" not in mod.taint_letters
    assert [s.crc for s in mod.syms] == [s.crc for s in load("6.12", exporter)[1].syms]
