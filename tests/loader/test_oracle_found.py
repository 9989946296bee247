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
