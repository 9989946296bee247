"""Divergences the oracle (devtools/oracle, real kernels in QEMU) found,
each pinned here on the samples so the default suite keeps them closed."""

from __future__ import annotations

import errno
import io
import struct

import pytest
from elftools.elf.elffile import ELFFile

from pymod import Kernel, ModuleLoadError
from pymod.samples import prebuilt_path


def test_an_import_named_like_a_crc_symbol_is_an_unknown_symbol():
    """6.1, a mutated tun: an undefined symbol renamed to ``__crc_<export>``
    is looked up like any import (Unknown symbol, ENOENT); it is not the
    export's CRC, and pymod's reader must not trip over it."""
    data = bytearray(prebuilt_path("pm_exporter").read_bytes())
    elf = ELFFile(io.BytesIO(bytes(data)))
    symtab = elf.get_section_by_name(".symtab")
    syms = list(symtab.iter_symbols())
    crc = next(s for s in syms if s.name.startswith("__crc_"))
    undef = next(i for i, s in enumerate(syms) if s["st_shndx"] == "SHN_UNDEF" and s.name)
    struct.pack_into("<I", data, symtab["sh_offset"] + 24 * undef, crc["st_name"])
    k = Kernel()
    with pytest.raises(ModuleLoadError) as e:
        k.finit_module(bytes(data))
    assert e.value.errno == errno.ENOENT
    assert ("warn", "pm_exporter: Unknown symbol %s (err -2)" % crc.name) in k.log.lines


def test_the_kernel_finds_init_and_exit_at_its_own_struct_module_offsets():
    """6.12's nls_cp737 forced into 6.1 loaded, then refused to unload
    (EBUSY): 6.1 reads mod->exit at 848, where a 6.12 module has nothing (its
    exit pointer is relocated at 1200).  The samples are built for 6.12."""
    from pymod import Config
    from pymod.samples import default_symvers

    hello = prebuilt_path("pm_hello").read_bytes()
    k612 = Kernel()
    k612.finit_module(hello)
    k612.delete_module("pm_hello")
    k61 = Kernel(Config(release="6.1.0-pymod-amd64", struct_module_size=None),
                 symvers=default_symvers())
    mod = k61.finit_module(hello)
    assert mod.has_init and not mod.has_exit
    with pytest.raises(ModuleLoadError) as e:
        k61.delete_module("pm_hello")
    assert e.value.errno == errno.EBUSY


@pytest.mark.parametrize("release", ["6.12.0-pymod-amd64", "6.1.0-pymod-amd64"])
def test_a_u32_printed_with_percent_d_is_signed(release):
    """The kernel's "%d" of .symtab's sh_link 0xffffffff is -1."""
    from pymod import Config
    from pymod.samples import default_symvers

    data = bytearray(prebuilt_path("pm_hello").read_bytes())
    elf = ELFFile(io.BytesIO(bytes(data)))
    index = next(i for i, s in enumerate(elf.iter_sections()) if s.name == ".symtab")
    struct.pack_into("<I", data, elf["e_shoff"] + 64 * index + 40, 0xFFFFFFFF)
    k = Kernel(Config(release=release, struct_module_size=None), symvers=default_symvers())
    with pytest.raises(ModuleLoadError):
        k.finit_module(bytes(data))
    assert k.log.lines[-1] == ("err", "Invalid ELF sh_link!=SHN_UNDEF(-1) or (sh_link(-1) >= "
                                      "hdr->e_shnum(%d)" % elf["e_shnum"])


def test_a_signer_info_with_data_after_its_signature_is_a_bad_message():
    """6.12's dummy with its signature's OCTET STRING length cut: the bytes
    left over stay inside SignerInfo, where the grammar allows only [1]
    unsignedAttrs: EBADMSG (pymod verified the shorter signature and said
    EKEYREJECTED)."""
    from pymod.elf.kofile import read_ko
    from pymod.elf.pkcs7 import parse_pkcs7
    from pymod.samples import signed_path, signing_cert

    path = signed_path("pm_hello_signed")
    data = bytearray(path.read_bytes())
    ko = read_ko(path)
    der = bytes(ko.image[len(ko.payload):len(ko.image) - 40])
    signature = parse_pkcs7(der).signers[0].signature
    at = bytes(data).rfind(signature)
    assert len(signature) == 256 and data[at - 3:at] == b"\x82\x01\x00"   # RSA-2048
    # the signature shortened to 200 bytes; its last 56 become a second
    # OCTET STRING, a well-formed element where only [1] may stand
    data[at - 3:at] = b"\x82\x00\xc8"
    data[at + 200:at + 202] = b"\x04\x36"
    k = Kernel(trusted_keys=(signing_cert(),))
    with pytest.raises(ModuleLoadError) as e:
        k.finit_module(bytes(data))
    assert e.value.errno == errno.EBADMSG
