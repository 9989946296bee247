"""ELF validity, decompression, signature trailer and config-dependent paths,
each on byte-level variants of a shipped sample."""

from __future__ import annotations

import errno
import struct

import numpy as np
import pytest

from pymod import (
    MODULE_INIT_IGNORE_MODVERSIONS,
    MODULE_INIT_IGNORE_VERMAGIC,
    Config,
    Kernel,
    ModuleLoadError,
)
from pymod.elf.image import ElfImage
from pymod.samples import prebuilt_path
from tests.loader.support import assert_consistent, sample_bytes, snapshot

HELLO = sample_bytes("pm_hello")
ELF = ElfImage(HELLO)
SHOFF, SHNUM, SHSTRNDX = ELF.e_shoff, ELF.e_shnum, ELF.e_shstrndx


def patch(data: bytes, offset: int, fmt: str, *values) -> bytes:
    buf = bytearray(data)
    struct.pack_into(fmt, buf, offset, *values)
    return bytes(buf)


def shdr_field(index: int, field_offset: int) -> int:
    return SHOFF + index * 64 + field_offset


def section_index(name: str) -> int:
    return ELF.section(name).index


SH_NAME, SH_TYPE, SH_FLAGS, SH_OFFSET, SH_SIZE, SH_LINK = 0, 4, 8, 24, 32, 40

CORRUPTIONS = [
    ("short", HELLO[:40], "Invalid ELF header len 40"),
    ("magic", patch(HELLO, 0, "4s", b"\x7fELG"), "Invalid ELF header magic: != \\x7fELF"),
    ("type", patch(HELLO, 16, "<H", 2), "Invalid ELF header type: 2 != 1"),
    ("machine", patch(HELLO, 18, "<H", 183), "Invalid architecture in ELF header: 183"),
    ("shentsize", patch(HELLO, 58, "<H", 40), "Invalid ELF section header size"),
    ("shoff", patch(HELLO, 40, "<Q", len(HELLO) - 10), "Invalid ELF section header overflow"),
    ("section0", patch(HELLO, shdr_field(0, SH_TYPE), "<I", 1),
     "ELF Spec violation: section 0 type(1)!=SH_NULL or non-zero len or addr"),
    ("secbounds", patch(HELLO, shdr_field(1, SH_SIZE), "<Q", 1 << 40), None),
    ("shstrndx", patch(HELLO, 62, "<H", SHNUM),
     "Invalid ELF section name index: %d || e_shstrndx (%d) >= e_shnum (%d)"
     % (SHNUM, SHNUM, SHNUM)),
    ("shstrtype", patch(HELLO, shdr_field(SHSTRNDX, SH_TYPE), "<I", 1),
     "Invalid ELF section name table type: 1"),
    ("shname", patch(HELLO, shdr_field(1, SH_NAME), "<I", 1 << 30), None),
    ("no_this_module", patch(HELLO, shdr_field(section_index(".gnu.linkonce.this_module"),
                                               SH_NAME), "<I", 0),
     "module pm_hello: Exactly one .gnu.linkonce.this_module section must exist."),
    ("this_module_noalloc", patch(HELLO, shdr_field(section_index(".gnu.linkonce.this_module"),
                                                    SH_FLAGS), "<Q", 0x1),
     "module pm_hello: .gnu.linkonce.this_module must occupy memory during process execution"),
    ("no_symtab", patch(HELLO, shdr_field(ELF.symtab_section.index, SH_TYPE), "<I", 1),
     "pm_hello: module has no symbols (stripped?)"),
    ("strtab_link", patch(HELLO, shdr_field(ELF.symtab_section.index, SH_LINK), "<I", 0),
     "Invalid ELF sh_link!=SHN_UNDEF(0) or (sh_link(0) >= hdr->e_shnum(%d)" % SHNUM),
]


@pytest.mark.parametrize("name,data,message", CORRUPTIONS, ids=[c[0] for c in CORRUPTIONS])
def test_elf_validity(name, data, message):
    k = Kernel()
    k.load_module(prebuilt_path("pm_weak"))
    before = snapshot(k)
    with pytest.raises(ModuleLoadError) as ei:
        k.load_module(data)
    assert (ei.value.errno, ei.value.stage) == (errno.ENOEXEC, "elf")
    if message is not None:
        assert ei.value.strerror == message
    else:
        assert ei.value.strerror.startswith("Invalid ELF section")
    assert snapshot(k) == before
    assert_consistent(k)


def test_original_loads():
    assert Kernel().load_module(HELLO).name == "pm_hello"


def test_duplicate_modinfo_section():
    info = section_index(".modinfo")
    other = section_index(".gnu.linkonce.this_module")
    name_off = struct.unpack_from("<I", HELLO, shdr_field(info, SH_NAME))[0]
    data = patch(HELLO, shdr_field(other, SH_NAME), "<I", name_off)
    with pytest.raises(ModuleLoadError) as ei:
        Kernel().load_module(data)
    assert ei.value.strerror == "Only one .modinfo section must exist."


MARKER = b"~Module signature appended~\n"


def signed(payload: bytes, id_type: int = 2, algo: int = 0, sig: bytes = b"\x30\x00") -> bytes:
    return payload + sig + struct.pack(">BBBBB3xI", algo, 0, id_type, 0, 0, len(sig)) + MARKER


def test_signature_trailer_rules():
    k = Kernel()
    with pytest.raises(ModuleLoadError) as ei:                 # not PKCS#7 at all
        k.load_module(signed(HELLO))
    assert (ei.value.errno, ei.value.stage) == (errno.EBADMSG, "signature")
    for data, code in ((signed(HELLO, algo=1), errno.EBADMSG),
                       (HELLO + struct.pack(">BBBBB3xI", 0, 0, 2, 0, 0, 1 << 30) + MARKER,
                        errno.EBADMSG)):
        with pytest.raises(ModuleLoadError) as ei:
            Kernel().load_module(data)
        assert (ei.value.errno, ei.value.stage) == (code, "signature")
    # unsupported id_type is soft unless enforcing
    assert Kernel().load_module(signed(HELLO, id_type=1)).name == "pm_hello"
    with pytest.raises(ModuleLoadError) as ei:
        Kernel(sig_enforce=True).load_module(signed(HELLO, id_type=1))
    assert (ei.value.errno, ei.value.strerror) == (
        errno.EKEYREJECTED, "Loading of module with unsupported crypto is rejected")
    with pytest.raises(ModuleLoadError) as ei:
        Kernel(Config(MODULE_SIG_FORCE=True)).load_module(HELLO)
    assert ei.value.strerror == "Loading of unsigned module is rejected"


def test_no_module_sig_means_no_taint_e():
    mod = Kernel(Config(MODULE_SIG=False)).load_module(HELLO)
    assert "E" not in mod.taint_letters


def test_config_switches_change_outcomes():
    # Without MODVERSIONS the vermagic differs too ("modversions " is part of it)
    with pytest.raises(ModuleLoadError) as ei:
        Kernel(Config(MODVERSIONS=False)).load_module(prebuilt_path("pm_crc_bad"))
    assert ei.value.stage == "vermagic"
    mod = Kernel(Config(MODVERSIONS=False)).load_module(prebuilt_path("pm_crc_bad"),
                                                         flags=MODULE_INIT_IGNORE_VERMAGIC)
    assert "F" in mod.taint_letters
    assert Kernel(Config(STRICT_MODULE_RWX=False)).load_module(prebuilt_path("pm_wx"))
    with pytest.raises(ModuleLoadError) as ei:
        Kernel(Config(LIVEPATCH=False)).load_module(prebuilt_path("pm_livepatch"))
    assert ei.value.strerror == ("pm_livepatch: module is marked as livepatch module, but "
                                 "livepatch support is disabled")
    with pytest.raises(ModuleLoadError) as ei:
        Kernel(Config(MODULE_FORCE_LOAD=False)).load_module(prebuilt_path("pm_nomagic"))
    assert (ei.value.errno, ei.value.stage) == (errno.ENOEXEC, "vermagic")
    # 6.1 does not check sizeof(struct module); an unknown size skips it visibly
    assert Kernel(Config(release="6.12.0-pymod-amd64", struct_module_size=None)).notices
    k = Kernel(Config(struct_module_size=None))
    assert k.load_module(prebuilt_path("pm_badstruct")).name == "pm_badstruct"


def test_flags():
    with pytest.raises(ModuleLoadError) as ei:
        Kernel().load_module(HELLO, flags=8)
    assert ei.value.errno == errno.EINVAL
    mod = Kernel().load_module(prebuilt_path("pm_badmagic"), flags=MODULE_INIT_IGNORE_VERMAGIC)
    assert "F" in mod.taint_letters
    mod = Kernel().load_module(HELLO, flags=MODULE_INIT_IGNORE_MODVERSIONS)
    assert "F" in mod.taint_letters   # check_version without __versions forces the load


def test_blacklist():
    with pytest.raises(ModuleLoadError) as ei:
        Kernel(Config(module_blacklist=("pm_hello",))).load_module(HELLO)
    assert (ei.value.errno, ei.value.strerror) == (errno.EPERM, "Module pm_hello is blacklisted")


def test_layout_places_init_and_ro_after_init():
    k = Kernel()
    mod = k.load_module(prebuilt_path("pm_ro_after_init"))
    from pymod.contract.internal import MemType
    assert mod.mem[MemType.RO_AFTER_INIT].size == 4096
    assert np.all([mod.mem[t].size == 0 for t in MemType if t.is_init])


def test_init_module_takes_an_image_and_refuses_a_short_one_silently():
    """init_module(2): copy_module_from_user refuses fewer bytes than an ELF
    header with ENOEXEC before load_module() prints anything."""
    import errno as _errno

    from pymod import Kernel, ModuleLoadError
    from pymod.samples import prebuilt_path

    k = Kernel()
    with pytest.raises(ModuleLoadError) as e:
        k.init_module(b"\x7fELF" * 15)
    assert e.value.errno == _errno.ENOEXEC and k.log.lines == [] and not k.modules
    mod = k.init_module(prebuilt_path("pm_hello").read_bytes(), "")
    assert mod.name == "pm_hello" and k.module("pm_hello") is mod
