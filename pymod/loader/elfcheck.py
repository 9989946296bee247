"""ELF validity: ``elf_validity_cache_copy`` and what reads the header tables.

The checks run in the kernel's order (``kernel/module/main.c``, 6.12) on the
raw header fields, each with the kernel's message and errno, and fill the
dossier's section indices, names and ``.modinfo``.  Symbol-level reading is
:mod:`pymod.elf`'s.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from typing import Any

import numpy as np

from pymod.elf.constants import (
    ELFMAG,
    EM_X86_64,
    ET_REL,
    MODULE_NAME_LEN,
    SHF_ALLOC,
    SHT_NOBITS,
    SHT_NULL,
    SHT_STRTAB,
    SHT_SYMTAB,
    STRUCT_MODULE_NAME_OFFSET,
)
from pymod.elf.image import EHDR, shdr_dtype
from pymod.elf.modinfo import kernel_modinfo
from pymod.elf.strings import c_string, string_reader
from pymod.errors import ModuleLoadError
from pymod.loader.internal import MODULE_INIT_IGNORE_MODVERSIONS, Ehdr, LoadInfo
from pymod.loader.klog import KernelLog

NO_NAME = "(missing .modinfo section or name field)"


def _fail(log: KernelLog, message: str, name: str | None = None, *,
          code: int = errno.ENOEXEC, level: str = "err", stage: str = "elf") -> ModuleLoadError:
    log.pr(level, message)
    return ModuleLoadError(code, message, module=name, stage=stage)


def smp_pcpusec(info: LoadInfo) -> int:
    """``find_pcpusec`` of an SMP kernel (the percpu facade's real form)."""
    return find_sec(info, ".data..percpu")


def elf_validity_cache_copy(info: LoadInfo, flags: int, struct_module_size: int | None,
                            log: KernelLog,
                            find_pcpusec: Callable[[LoadInfo], int] = smp_pcpusec) -> None:
    """Every ELF validity check, then the section indices, in the kernel's
    order; ``find_pcpusec`` is the percpu facade's (0 on a UP kernel)."""
    _validity_ehdr(info, log)
    _validity_sechdrs(info, log)
    _validity_secstrings(info, log)
    _index_info(info, log)
    _index_mod(info, struct_module_size, log)
    _index_sym_str(info, log)
    if not info.name:
        info.name = struct_module_name(info)   # the name modpost wrote into struct module
    info.index.vers = 0 if flags & MODULE_INIT_IGNORE_MODVERSIONS else find_sec(info, "__versions")
    info.index.pcpu = find_pcpusec(info)


def _validity_ehdr(info: LoadInfo, log: KernelLog) -> None:
    """``elf_validity_ehdr``: length, magic, type, machine."""
    if info.len < EHDR.size:
        raise _fail(log, "Invalid ELF header len %d" % info.len)
    hdr = info.hdr = Ehdr(*EHDR.unpack_from(info.payload))
    if hdr.e_ident[:4] != ELFMAG:
        raise _fail(log, "Invalid ELF header magic: != \\x7fELF")
    if hdr.e_type != ET_REL:
        raise _fail(log, "Invalid ELF header type: %u != %u" % (hdr.e_type, ET_REL))
    if hdr.e_machine != EM_X86_64:
        raise _fail(log, "Invalid architecture in ELF header: %u" % hdr.e_machine)


def _section_zero_past_table(info: LoadInfo, log: KernelLog) -> Any:
    """With e_shnum == 0 the kernel still reads a section 0 at e_shoff (and
    then refuses e_shstrndx); past the end of the file that read would be
    out of bounds, which pymod refuses itself."""
    assert info.hdr is not None
    size = shdr_dtype().itemsize
    if info.hdr.e_shoff + size > info.len:
        raise _fail(log, "e_shnum is 0 and no section header fits at e_shoff "
                    "(pymod's own check)")
    table = np.frombuffer(info.payload, dtype=shdr_dtype(), count=1, offset=info.hdr.e_shoff)
    return table[0]


def _validity_sechdrs(info: LoadInfo, log: KernelLog) -> None:
    """``elf_validity_cache_sechdrs``: the table, section 0, every section's bounds."""
    hdr, length = info.hdr, info.len
    assert hdr is not None
    if hdr.e_shentsize != shdr_dtype().itemsize:
        raise _fail(log, "Invalid ELF section header size")
    if hdr.e_shoff >= length or hdr.e_shnum * shdr_dtype().itemsize > length - hdr.e_shoff:
        raise _fail(log, "Invalid ELF section header overflow")
    # A private, writable copy: later stages edit flags and entsize in place.
    sechdrs = np.frombuffer(info.payload, dtype=shdr_dtype(), count=hdr.e_shnum,
                            offset=hdr.e_shoff).copy()
    info.sechdrs = sechdrs
    first = sechdrs[0] if hdr.e_shnum else _section_zero_past_table(info, log)
    if first["sh_type"] != SHT_NULL or first["sh_size"] != 0 or first["sh_addr"] != 0:
        raise _fail(log, "ELF Spec violation: section 0 type(%d)!=SH_NULL or non-zero len "
                    "or addr" % int(first["sh_type"]))
    types, offs = sechdrs["sh_type"], sechdrs["sh_offset"]
    ends = offs + sechdrs["sh_size"]  # wraps like the kernel's u64 sum
    bad = (types != SHT_NULL) & (types != SHT_NOBITS) & ((ends < offs) | (ends > length))
    bad[:1] = False                   # section 0 was checked above (none when e_shnum is 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise _fail(log, "Invalid ELF section in module (section %u type %u)" % (i, types[i]))


def _validity_secstrings(info: LoadInfo, log: KernelLog) -> None:
    """``elf_validity_cache_secstrings``: the section name table and every name."""
    hdr, sechdrs = info.hdr, info.sechdrs
    assert hdr is not None and sechdrs is not None
    if hdr.e_shstrndx == 0 or hdr.e_shstrndx >= hdr.e_shnum:
        raise _fail(log, "Invalid ELF section name index: %d || e_shstrndx (%d) >= e_shnum (%d)"
                    % (hdr.e_shstrndx, hdr.e_shstrndx, hdr.e_shnum))
    strhdr = sechdrs[hdr.e_shstrndx]
    if strhdr["sh_type"] != SHT_STRTAB:
        raise _fail(log, "Invalid ELF section name table type: %u" % strhdr["sh_type"])
    if strhdr["sh_size"] == 0:
        raise _fail(log, "empty section name table")
    start = int(strhdr["sh_offset"])
    secstrings = info.payload[start:start + int(strhdr["sh_size"])]
    if secstrings[-1] != 0:
        raise _fail(log, "ELF Spec violation: section name table isn't null terminated")
    types = sechdrs["sh_type"]
    badname = (types != SHT_NULL) & (sechdrs["sh_name"] >= strhdr["sh_size"])
    if badname.any():
        i = int(np.flatnonzero(badname)[0])
        raise _fail(log, "Invalid ELF section name in module (section %u type %u)" % (i, types[i]))
    info.secstrings = secstrings
    name_at = string_reader(secstrings)
    info.secnames = [name_at(n) for n in sechdrs["sh_name"].tolist()]


def _section_bytes(info: LoadInfo, i: int) -> bytes:
    assert info.sechdrs is not None
    start = int(info.sechdrs[i]["sh_offset"])
    return info.payload[start:start + int(info.sechdrs[i]["sh_size"])]


def _named(info: LoadInfo, name: str) -> list[int]:
    return [i for i in range(1, len(info.secnames)) if info.secnames[i] == name]


def _index_info(info: LoadInfo, log: KernelLog) -> None:
    """``elf_validity_cache_index_info``: at most one ``.modinfo``, and the name in it."""
    assert info.sechdrs is not None
    found = _named(info, ".modinfo")
    if len(found) > 1:
        raise _fail(log, "Only one .modinfo section must exist.")
    if found:
        i = info.index.info = found[0]
        if info.sechdrs[i]["sh_type"] != SHT_NOBITS:
            info.modinfo = kernel_modinfo(_section_bytes(info, i))
        info.name = info.get_modinfo("name")


def _index_mod(info: LoadInfo, struct_module_size: int | None, log: KernelLog) -> None:
    """``elf_validity_cache_index_mod``: exactly one well-formed struct module section."""
    assert info.sechdrs is not None
    shown = info.name or NO_NAME
    found = _named(info, ".gnu.linkonce.this_module")
    if len(found) != 1:
        raise _fail(log, "module %s: Exactly one .gnu.linkonce.this_module section must exist."
                    % shown, info.name)
    m = info.sechdrs[found[0]]
    if m["sh_type"] == SHT_NOBITS:
        raise _fail(log, "module %s: .gnu.linkonce.this_module section must have a size set"
                    % shown, info.name)
    if not m["sh_flags"] & SHF_ALLOC:
        raise _fail(log, "module %s: .gnu.linkonce.this_module must occupy memory during "
                    "process execution" % shown, info.name)
    if struct_module_size is not None and m["sh_size"] != struct_module_size:
        raise _fail(log, "module %s: .gnu.linkonce.this_module section size must match the "
                    "kernel's built struct module size at run time" % shown, info.name)
    info.index.mod = found[0]


def _index_sym_str(info: LoadInfo, log: KernelLog) -> None:
    """``elf_validity_cache_index_sym`` and ``_str``: one symbol table, linked to a
    string table."""
    assert info.sechdrs is not None and info.hdr is not None
    types = info.shdrs["sh_type"]
    symtabs = np.flatnonzero(types[1:] == SHT_SYMTAB) + 1
    if len(symtabs) != 1:
        raise _fail(log, "%s: module has no symbols (stripped?)" % (info.name or NO_NAME),
                    info.name, level="warn")
    info.index.sym = sym = int(symtabs[0])
    str_idx = int(info.sechdrs[sym]["sh_link"])
    shnum = info.hdr.e_shnum
    if str_idx == 0 or str_idx >= shnum:
        raise _fail(log, "Invalid ELF sh_link!=SHN_UNDEF(%d) or (sh_link(%d) >= hdr->e_shnum(%d)"
                    % (str_idx, str_idx, shnum), info.name)
    if types[str_idx] != SHT_STRTAB:
        raise _fail(log, "Invalid ELF symbol string table type: %u" % types[str_idx], info.name)
    info.index.str = str_idx
    info.strtab = _section_bytes(info, str_idx)


def find_sec(info: LoadInfo, name: str) -> int:
    """First SHF_ALLOC section called ``name`` (cleared ALLOC means "ignore it"), or 0."""
    flags = info.shdrs["sh_flags"]
    for i, n in enumerate(info.secnames):
        if i and n == name and flags[i] & SHF_ALLOC:
            return i
    return 0


def struct_module_name(info: LoadInfo) -> str:
    """``mod->name``: the name modpost wrote into ``.gnu.linkonce.this_module``."""
    base = int(info.shdrs[info.index.mod]["sh_offset"]) + STRUCT_MODULE_NAME_OFFSET
    return c_string(info.payload[base:base + MODULE_NAME_LEN], 0)


def rewrite_section_headers(info: LoadInfo) -> None:
    """Track but don't keep ``.modinfo`` and ``__versions``."""
    flags = info.shdrs["sh_flags"]
    flags[info.index.vers] &= ~np.uint64(SHF_ALLOC)
    flags[info.index.info] &= ~np.uint64(SHF_ALLOC)
