"""Rules per kernel version: a Config knows its kernel's version (release, or
the .config's header), and the loader follows that version's checks, order
and messages where Debian 12's 6.1 differs from 6.12 (kernel/module/main.c
of each)."""

from __future__ import annotations

import errno
import struct

import pytest

from pymod import Config, Kernel, ModuleLoadError
from pymod.config import kconfig_name
from pymod.contract.kver import RULES_6_1, RULES_6_12, rules_for, rules_for_version
from pymod.elf.image import ElfImage
from pymod.loader.elfcheck import NO_NAME
from pymod.samples import default_symvers
from tests.loader.support import rename_sections, sample_bytes, snapshot

HELLO = sample_bytes("pm_hello")
ELF = ElfImage(HELLO)
SH_NAME, SH_TYPE, SH_FLAGS, SH_OFFSET, SH_SIZE, SH_LINK = 0, 4, 8, 24, 32, 40
# The samples are built for the default 6.12 release; a release of the same
# length keeps their images' layout when their vermagic is rewritten for it.
R612 = "6.12.0-pymod-amd64"
R61 = "6.1.00-pymod-amd64"


def as61(image: bytes) -> bytes:
    old = b"vermagic=" + R612.encode()
    assert image.count(old) == 1
    return image.replace(old, b"vermagic=" + R61.encode())


def kernel(series: str, **config) -> Kernel:
    release = R61 if series == "6.1" else R612
    return Kernel(Config(release=release, **config), symvers=default_symvers())


def load(series: str, image: bytes, k: Kernel | None = None, **config):
    """``(kernel, module or the ModuleLoadError)`` of one load on ``series``."""
    k = k or kernel(series, **config)
    try:
        return k, k.load_module(as61(image) if series == "6.1" else image)
    except ModuleLoadError as e:
        return k, e


def patch(data: bytes, offset: int, fmt: str, *values) -> bytes:
    buf = bytearray(data)
    struct.pack_into(fmt, buf, offset, *values)
    return bytes(buf)


def shdr(name: str, field: int, image_elf: ElfImage = ELF) -> int:
    return image_elf.e_shoff + image_elf.section(name).index * 64 + field


# ---------------------------------------------------------------- the version

def test_version_from_the_release_else_the_kconfig_header():
    assert Config(release="6.1.0-57-cloud-amd64").version == (6, 1)
    assert Config(release="6.12.118+deb12-cloud-amd64").version == (6, 12)
    assert Config(release="custom", kernel_version="6.1.192").version == (6, 1)
    with pytest.raises(ValueError):
        _ = Config(release="custom").version


def _kconfig(tmp_path, header: str, *lines: str):
    path = tmp_path / "config"
    path.write_text("#\n# Automatically generated file; DO NOT EDIT.\n# Linux/x86 %s Kernel "
                    "Configuration\n#\n%s\n" % (header, "\n".join(lines)))
    return path


def test_kconfig_names_follow_the_files_version(tmp_path):
    old = _kconfig(tmp_path, "6.1.192", "CONFIG_RETPOLINE=y", "CONFIG_MODULES=y")
    config = Config.from_kconfig(old, release="custom-build")
    assert (config.version, config.kernel_version) == ((6, 1), "6.1.192")
    assert config.MITIGATION_RETPOLINE            # 6.1 spells it CONFIG_RETPOLINE
    new = _kconfig(tmp_path, "6.12.118", "CONFIG_RETPOLINE=y")
    assert not Config.from_kconfig(new, release="custom").MITIGATION_RETPOLINE
    new = _kconfig(tmp_path, "6.12.118", "CONFIG_MITIGATION_RETPOLINE=y")
    assert Config.from_kconfig(new, release="custom").MITIGATION_RETPOLINE
    with pytest.raises(ValueError, match="6.12.118 configuration"):
        Config.from_kconfig(new, release="6.1.0-57-cloud-amd64")
    with pytest.raises(ValueError):
        Kernel(Config(release="custom"))          # no version at all: no rules


def test_rules_per_version():
    assert rules_for(Config(release=R61)) is RULES_6_1
    assert rules_for(Config(release=R612)) is RULES_6_12
    assert rules_for_version((6, 13)) is RULES_6_12
    assert rules_for_version((6, 5)) is RULES_6_1          # the nearest below
    assert rules_for_version((5, 10)) is RULES_6_1
    # the Kconfig rename, by the version that made it
    assert kconfig_name("MITIGATION_RETPOLINE", (6, 8)) == "RETPOLINE"
    assert kconfig_name("MITIGATION_RETPOLINE", (6, 9)) == "MITIGATION_RETPOLINE"
    assert kconfig_name("MITIGATION_RETPOLINE", None) == "MITIGATION_RETPOLINE"
    assert kconfig_name("MODULE_SIG", (6, 1)) == "MODULE_SIG"
    assert not Config(release=R61).checks_struct_module_size
    assert Config(release=R612).checks_struct_module_size


@pytest.mark.real_kernel
def test_debian_61_config_has_retpoline(debian_kernel_61):
    config = Config.from_kconfig(debian_kernel_61.config, release=debian_kernel_61.release)
    assert config.version == (6, 1) and config.MITIGATION_RETPOLINE
    assert config.kernel_version is not None and config.kernel_version.startswith("6.1.")
    assert rules_for(config) is RULES_6_1


# ------------------------------------------------------------ ELF validity

def _shoff_zero() -> tuple[bytes, str]:
    """e_shoff = 0: the header table is read from the file's start, so the
    name table's header is whatever lies at e_shstrndx * 64; there, an
    offset past the file (as in most real modules; planted here)."""
    image = patch(HELLO, 0x28, "<Q", 0)
    strhdr = ELF.e_shstrndx * 64
    image = patch(image, strhdr + SH_OFFSET, "<Q", 1 << 40)
    sh_type, = struct.unpack_from("<I", image, strhdr + SH_TYPE)
    return image, "Invalid ELF section hdr(type %u)" % sh_type


SHOFF_ZERO, SHOFF_ZERO_61 = _shoff_zero()
SYMTAB = ELF.symtab_section.index
NAMES_PAST = patch(HELLO, shdr(".comment", SH_NAME), "<I", 1 << 20)   # a non-ALLOC section

# (what, image, 6.12's line, 6.1's line and level; None: it loads)
ELF_CASES = [
    ("shoff_zero", SHOFF_ZERO,
     "ELF Spec violation: section 0 type(%d)!=SH_NULL or non-zero len or addr"
     % struct.unpack_from("<I", HELLO, 4)[0], (SHOFF_ZERO_61, "err")),
    ("shstrndx_symtab", patch(HELLO, 0x3E, "<H", SYMTAB),
     "Invalid ELF section name table type: 2",
     ("%s: No module found in object" % NO_NAME, "warn")),
    ("this_module_noalloc", patch(HELLO, shdr(".gnu.linkonce.this_module", SH_FLAGS), "<Q", 0),
     "module pm_hello: .gnu.linkonce.this_module must occupy memory during process execution",
     ("pm_hello: No module found in object", "warn")),
    ("this_module_renamed", rename_sections(HELLO, {".gnu.linkonce.this_module": ".gnu.other"}),
     "module pm_hello: Exactly one .gnu.linkonce.this_module section must exist.",
     ("pm_hello: No module found in object", "warn")),
    ("shstrtab_bounds", patch(HELLO, shdr(".shstrtab", SH_SIZE), "<Q", 1 << 40),
     "Invalid ELF section in module (section %d type 3)" % ELF.e_shstrndx,
     ("Invalid ELF section hdr(type 3)", "err")),
    ("shstrtab_progbits", patch(HELLO, shdr(".shstrtab", SH_TYPE), "<I", 1),
     "Invalid ELF section name table type: 1", None),
    ("name_past_table", NAMES_PAST,
     "Invalid ELF section name in module (section %d type 1)" % ELF.section(".comment").index,
     None),
    ("second_modinfo_noalloc", rename_sections(HELLO, {".comment": ".modinfo"}),
     "Only one .modinfo section must exist.", None),
    # 6.1 checks each section in turn, a symbol table's link first; 6.12
    # bounds every section before it looks at links
    ("link_before_bounds", patch(patch(HELLO, shdr(".symtab", SH_LINK), "<I", 0),
                                 shdr(".strtab", SH_SIZE), "<Q", 1 << 40),
     "Invalid ELF section in module (section %d type 3)" % ELF.section(".strtab").index,
     ("Invalid ELF sh_link!=SHN_UNDEF(0) or (sh_link(0) >= hdr->e_shnum(%d)" % ELF.e_shnum,
      "err")),
]


@pytest.mark.real_kernel
def test_61_checks_the_name_table_before_section_zero(debian_kernel_61):
    """Real 6.1 modules with e_shoff = 0: the name table's header decides
    (6.12 would refuse section 0 first)."""
    from pymod.elf.kofile import read_ko

    config = Config.from_kconfig(debian_kernel_61.config, release=debian_kernel_61.release)
    k = Kernel(config, symvers=debian_kernel_61.symvers)
    seen = set()
    for path in debian_kernel_61.ko_files()[::80]:
        with pytest.raises(ModuleLoadError) as ei:
            k.load_module(patch(bytes(read_ko(path).payload), 0x28, "<Q", 0))
        seen.add(ei.value.strerror.split("(")[0])
    assert "Invalid ELF section hdr" in seen
    assert seen <= {"Invalid ELF section hdr", "empty section name table"}


@pytest.mark.parametrize("what,image,line612,line61", ELF_CASES, ids=[c[0] for c in ELF_CASES])
def test_elf_validity_per_version(what, image, line612, line61):
    k, e = load("6.12", image)
    assert isinstance(e, ModuleLoadError) and (e.errno, e.stage) == (errno.ENOEXEC, "elf")
    assert k.log.lines[-1] == ("err", line612) and e.strerror == line612
    k = kernel("6.1")
    before = snapshot(k)
    k, got = load("6.1", image, k)
    if line61 is None:
        assert got.name == "pm_hello"
        return
    assert isinstance(got, ModuleLoadError) and (got.errno, got.stage) == (errno.ENOEXEC, "elf")
    assert k.log.lines == [(line61[1], line61[0])] and got.strerror == line61[0]
    assert snapshot(k) == before


def test_61_has_no_string_table_type_check_for_symbol_names():
    """.symtab linked to .shstrtab (a string table, in both) loads nowhere:
    the names are section names; linked to .modinfo only 6.12 refuses the type."""
    image = patch(HELLO, shdr(".symtab", SH_LINK), "<I", ELF.section(".modinfo").index)
    k, e = load("6.12", image)
    assert e.strerror == "Invalid ELF symbol string table type: 1"
    k, e = load("6.1", image)
    assert isinstance(e, ModuleLoadError) and e.stage == "symbols"   # names from .modinfo
    assert not [m for _, m in k.log.lines if "string table" in m]


def test_modinfo_without_alloc_is_ignored_by_61():
    image = patch(HELLO, shdr(".modinfo", SH_FLAGS), "<Q", 0)
    k, mod = load("6.12", image)              # find_any_unique_sec: the flag is not asked
    assert mod.name == "pm_hello" and mod.taint_letters == "E"
    k, mod = load("6.1", image)               # find_sec: no .modinfo at all
    assert mod.name == "pm_hello" and "F" in mod.taint_letters and "P" in mod.taint_letters
    lines = [m for _, m in k.log.lines]
    assert "pm_hello: bad vermagic: kernel tainted." in lines
    assert "pm_hello: module license 'unspecified' taints kernel." in lines
    assert "pm_hello: loading out-of-tree module taints kernel." in lines
    assert ("err", "Spectre V2 : System may be vulnerable to spectre v2") in k.log.lines


# ------------------------------------------------------- taints and order

def test_licence_taint_lines():
    k = kernel("6.1")
    k.load_module(as61(sample_bytes("pm_exporter")))
    k.load_module(as61(sample_bytes("pm_proprietary")))
    assert [m for _, m in k.log.lines if "licen" in m] == [
        "pm_proprietary: module license 'Proprietary' taints kernel."]
    assert "P" in k.tainted


def test_61_taints_in_check_modinfo_before_layout():
    """pm_wx made out-of-tree: refused by W^X in both, but 6.1 tainted first."""
    image = sample_bytes("pm_wx").replace(b"intree=Y\0", b"intrez=Y\0")
    for series, tainted, lines in (("6.12", "", 1), ("6.1", "O", 2)):
        k, e = load(series, image)
        assert isinstance(e, ModuleLoadError) and e.errno == errno.ENOEXEC
        assert "invalid WRITE|EXEC flags" in e.strerror
        assert k.tainted == tainted and len(k.log.lines) == lines
    assert k.log.lines[0] == ("warn", "pm_wx: loading out-of-tree module taints kernel.")


def test_61_refuses_a_livepatch_module_after_tainting():
    image = sample_bytes("pm_livepatch").replace(b"intree=Y\0", b"intrez=Y\0")
    k, e = load("6.12", image, LIVEPATCH=False)
    assert e.stage == "livepatch" and k.tainted == "" and len(k.log.lines) == 1
    k, e = load("6.1", image, LIVEPATCH=False)
    assert e.stage == "livepatch" and k.tainted == "O"
    assert [m for _, m in k.log.lines] == [
        "pm_livepatch: loading out-of-tree module taints kernel.",
        "pm_livepatch: module is marked as livepatch module, but livepatch support is "
        "disabled"]
    k, mod = load("6.1", image)
    assert "K" in mod.taint_letters
    assert ("notice", "pm_livepatch: tainting kernel with TAINT_LIVEPATCH") in k.log.lines


def test_61_finds_a_duplicate_only_when_listing():
    """A second pm_hello with no room left: 6.12 says EEXIST before layout,
    6.1 runs out of memory first (add_unformed_module comes after it)."""
    for series, code in (("6.12", errno.EEXIST), ("6.1", errno.ENOMEM)):
        k, first = load(series, HELLO)
        k.area.end = k.area.start + 4096 * 3
        k.area._free_ends = [k.area.end]
        k, e = load(series, HELLO, k)
        assert isinstance(e, ModuleLoadError) and e.errno == code


def _named(image: bytes, name: bytes) -> bytes:
    """``image`` whose struct module says ``name`` (modinfo keeps its own)."""
    elf = ElfImage(image)
    at = elf.section(".gnu.linkonce.this_module").offset + 24
    return patch(image, at, "56s", name)


def test_61_taints_named_modules_after_find_module_sections():
    """lve claims GPL: both taint P and say "module license taints kernel.",
    6.12 before per-CPU memory, 6.1 after find_module_sections: a per-CPU
    allocation failure comes between them."""
    image = _named(sample_bytes("pm_params"), b"lve")
    for series, tainted in (("6.12", True), ("6.1", False)):
        k, e = load(series, image, percpu_reserve=0)
        assert isinstance(e, ModuleLoadError) and e.stage == "percpu"
        assert ("P" in k.tainted) is tainted
        assert (("warn", "lve: module license taints kernel.") in k.log.lines) is tainted
        k, mod = load(series, image)
        assert "P" in mod.taint_letters
        assert k.log.lines.count(("warn", "lve: module license taints kernel.")) == 1


def test_signature_notice_after_the_modinfo_taints_in_both():
    image = HELLO.replace(b"intree=Y\0", b"intrez=Y\0")
    for series in ("6.12", "6.1"):
        k, mod = load(series, image)
        assert [m.split(": ", 1)[1][:20] for _, m in k.log.lines] == [
            "loading out-of-tree ", "module verification "]
