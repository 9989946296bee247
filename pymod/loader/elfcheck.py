"""ELF validity: the kernel's checks of the header tables, and the section
indices they leave in the dossier.

Each kernel version checks in its own order, with its own messages
(:mod:`pymod.contract.kver` picks one of :data:`VALIDITY`): 6.12's
``elf_validity_cache_copy`` and 6.1's ``elf_validity_check`` then
``setup_load_info`` (``kernel/module/main.c``), on the raw header fields,
each refusal with the kernel's message, level and errno.  Where a kernel
reads past a table (a name, ``.modinfo``), :mod:`pymod.loader.kbuf` reads
what its copy of the module holds there.  The records themselves are read
by :mod:`pymod.elf.headers`, which judges nothing but bounds: every check
here runs before the read it guards, so the kernel's rules decide.
Symbol-level reading is :mod:`pymod.elf`'s.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from pymod.arch import DEFAULT_ARCH
from pymod.arch import get as get_arch
from pymod.contract.internal import MODULE_INIT_IGNORE_MODVERSIONS, LoadInfo
from pymod.contract.klog import KernelLog
from pymod.contract.sections import find_sec, smp_pcpusec
from pymod.elf.constants import (
    ELFMAG,
    ET_REL,
    MODULE_NAME_LEN,
    SHF_ALLOC,
    SHT_NOBITS,
    SHT_NULL,
    SHT_STRTAB,
    SHT_SYMTAB,
    STRUCT_MODULE_NAME_OFFSET,
)
from pymod.elf.headers import EHDR, SHDR, read_ehdr, section_header_array, symbol_array
from pymod.elf.strings import string_reader
from pymod.errors import ModuleLoadError
from pymod.loader import kbuf

if TYPE_CHECKING:
    from pymod.contract.kver import KernelRules

NO_NAME = "(missing .modinfo section or name field)"



def _int(u32: int) -> int:
    """A u32 field printed with ``%d``: the kernel shows 0xffffffff as -1."""
    v = int(u32)
    return v - (1 << 32) if v >= 1 << 31 else v

def _fail(log: KernelLog, message: str, name: str | None = None, *,
          code: int = errno.ENOEXEC, level: str = "err", stage: str = "elf") -> ModuleLoadError:
    log.pr(level, message)
    return ModuleLoadError(code, message, module=name, stage=stage)


def _shown(info: LoadInfo) -> str:
    # `info->name ?: "(missing ...)"`: an empty name= is a name
    return info.name if info.name is not None else NO_NAME


def elf_validity_cache_copy(info: LoadInfo, flags: int, struct_module_size: int | None,
                            log: KernelLog,
                            find_pcpusec: Callable[[LoadInfo], int] = smp_pcpusec,
                            rules: KernelRules | None = None,
                            machine: int | None = None) -> None:
    """Every ELF validity check, then the section indices, in the order of
    ``rules``' kernel (6.12's by default); ``find_pcpusec`` is the percpu
    facade's (0 on a UP kernel); ``machine`` the architecture's e_machine
    (the default architecture's when None)."""
    if machine is None:
        machine = get_arch(DEFAULT_ARCH).e_machine
    VALIDITY[rules.elf_validity if rules is not None else "6.12"](
        info, struct_module_size, log, machine)
    if info.name is None:
        info.name = struct_module_name(info)   # the name modpost wrote into struct module
    info.index.vers = 0 if flags & MODULE_INIT_IGNORE_MODVERSIONS else find_sec(info, "__versions")
    info.index.pcpu = find_pcpusec(info)


def _validity_ehdr(info: LoadInfo, log: KernelLog, machine: int) -> None:
    """``elf_validity_ehdr``: length, magic, type, machine (elf_check_arch)."""
    if info.len < EHDR.size:
        raise _fail(log, "Invalid ELF header len %d" % info.len)
    hdr = info.hdr = read_ehdr(info.payload)
    if hdr.e_ident[:4] != ELFMAG:
        raise _fail(log, "Invalid ELF header magic: != \\x7fELF")
    if hdr.e_type != ET_REL:
        raise _fail(log, "Invalid ELF header type: %u != %u" % (hdr.e_type, ET_REL))
    if hdr.e_machine != machine:
        raise _fail(log, "Invalid architecture in ELF header: %u" % hdr.e_machine)


def _section_zero_past_table(info: LoadInfo, log: KernelLog) -> Any:
    """With e_shnum == 0 the kernel still reads a section 0 at e_shoff (and
    then refuses e_shstrndx); past the end of the file that read would be
    out of bounds, which pymod refuses itself."""
    assert info.hdr is not None
    if info.hdr.e_shoff + SHDR.size > info.len:
        raise _fail(log, "e_shnum is 0 and no section header fits at e_shoff "
                    "(pymod's own check)")
    return section_header_array(info.payload, info.hdr.e_shoff, 1, end=info.len)[0]


def _validity_6_12(info: LoadInfo, struct_module_size: int | None, log: KernelLog,
                   machine: int) -> None:
    """6.12's ``elf_validity_cache_copy``."""
    _validity_ehdr(info, log, machine)
    _validity_sechdrs(info, log)
    _validity_secstrings(info, log)
    _index_info(info, log)
    _index_mod(info, struct_module_size, log)
    _index_sym_str(info, log)


def _read_sechdrs(info: LoadInfo, log: KernelLog) -> Any:
    """The section header table's size and place, then a private, writable
    copy of it (later stages edit flags and entsize in place)."""
    hdr, length = info.hdr, info.len
    assert hdr is not None
    if hdr.e_shentsize != SHDR.size:
        raise _fail(log, "Invalid ELF section header size")
    if hdr.e_shoff >= length or hdr.e_shnum * SHDR.size > length - hdr.e_shoff:
        raise _fail(log, "Invalid ELF section header overflow")
    info.sechdrs = section_header_array(info.payload, hdr.e_shoff, hdr.e_shnum, end=length)
    return info.sechdrs


def _section_zero(log: KernelLog, first: Any) -> None:
    if first["sh_type"] != SHT_NULL or first["sh_size"] != 0 or first["sh_addr"] != 0:
        raise _fail(log, "ELF Spec violation: section 0 type(%d)!=SH_NULL or non-zero len "
                    "or addr" % int(first["sh_type"]))


def _out_of_bounds(sechdrs: Any, length: int) -> Any:
    """``validate_section_offset`` of every section: the end wraps like the
    kernel's u64 sum."""
    offs = sechdrs["sh_offset"]
    ends = offs + sechdrs["sh_size"]
    return (ends < offs) | (ends > length)


def _validity_sechdrs(info: LoadInfo, log: KernelLog) -> None:
    """``elf_validity_cache_sechdrs``: the table, section 0, every section's bounds."""
    hdr = info.hdr
    assert hdr is not None
    sechdrs = _read_sechdrs(info, log)
    first = sechdrs[0] if hdr.e_shnum else _section_zero_past_table(info, log)
    _section_zero(log, first)
    types = sechdrs["sh_type"]
    bad = (types != SHT_NULL) & (types != SHT_NOBITS) & _out_of_bounds(sechdrs, info.len)
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
    _cache_secnames(info, secstrings, start)


def _cache_secnames(info: LoadInfo, secstrings: bytes, start: int) -> None:
    """Every section's name.  A name the kernel did not check (SHT_NULL
    sections; in 6.1 those not SHF_ALLOC) is read past the table, as the
    kernel would read it; one it could only read by faulting reads "" (it
    reads such names for a few sections only)."""
    assert info.sechdrs is not None
    info.secstrings = secstrings
    name_at = string_reader(secstrings)
    names = []
    for n in info.sechdrs["sh_name"].tolist():
        if n < len(secstrings):
            names.append(name_at(n))
            continue
        try:
            names.append(kbuf.c_string(info, start + n, "a section name"))
        except kbuf.KernelWouldFault:
            names.append("")
    info.secnames = names


def _named(info: LoadInfo, name: str) -> list[int]:
    return [i for i in range(1, len(info.secnames)) if info.secnames[i] == name]


def _index_info(info: LoadInfo, log: KernelLog) -> None:
    """``elf_validity_cache_index_info``: at most one ``.modinfo``, and the name in it."""
    assert info.sechdrs is not None
    found = _named(info, ".modinfo")
    if len(found) > 1:
        raise _fail(log, "Only one .modinfo section must exist.")
    if found:
        _read_modinfo(info, found[0])


def _read_modinfo(info: LoadInfo, index: int) -> None:
    """``get_modinfo``'s view of section ``index``, and the name in it: read
    at ``sh_offset`` whatever the section's type (SHT_NOBITS too)."""
    assert info.sechdrs is not None
    info.index.info = index
    shdr = info.sechdrs[index]
    info.modinfo = kbuf.kernel_modinfo(info, int(shdr["sh_offset"]), int(shdr["sh_size"]))
    info.name = info.get_modinfo("name")


def _index_mod(info: LoadInfo, struct_module_size: int | None, log: KernelLog) -> None:
    """``elf_validity_cache_index_mod``: exactly one well-formed struct module section."""
    assert info.sechdrs is not None
    shown = _shown(info)
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
        raise _fail(log, "%s: module has no symbols (stripped?)" % _shown(info),
                    info.name, level="warn")
    info.index.sym = sym = int(symtabs[0])
    str_idx = int(info.sechdrs[sym]["sh_link"])
    shnum = info.hdr.e_shnum
    if str_idx == 0 or str_idx >= shnum:
        raise _fail(log, "Invalid ELF sh_link!=SHN_UNDEF(%d) or (sh_link(%d) >= hdr->e_shnum(%d)"
                    % (_int(str_idx), _int(str_idx), shnum), info.name)
    if types[str_idx] != SHT_STRTAB:
        raise _fail(log, "Invalid ELF symbol string table type: %u" % types[str_idx], info.name)
    info.index.str = str_idx
    _cache_strtab(info)


def _cache_strtab(info: LoadInfo) -> None:
    """``info->strtab``: the symbol names as the kernel reads them, from the
    string table's offset on (:func:`pymod.loader.kbuf.kernel_strtab`).  The
    kernel counts sh_size / sizeof(Elf_Sym) symbols: a partial last entry
    is none."""
    shdrs = info.shdrs
    sym, strx = shdrs[info.index.sym], shdrs[info.index.str]
    names = symbol_array(info.payload, int(sym["sh_offset"]), int(sym["sh_size"]))["st_name"]
    info.strtab = kbuf.kernel_strtab(info, int(strx["sh_offset"]), int(strx["sh_size"]), names)


def _validity_6_1(info: LoadInfo, struct_module_size: int | None, log: KernelLog,
                  machine: int) -> None:
    """6.1's ``elf_validity_check``: the header, the section name table
    (bounded, not typed), section 0, then each section in order: a symbol
    table's link, its bounds, an SHF_ALLOC section's name.  Then
    ``setup_load_info``.  6.1 has no struct module size check."""
    _validity_ehdr(info, log, machine)
    sechdrs = _read_sechdrs(info, log)
    hdr = info.hdr
    assert hdr is not None
    if hdr.e_shstrndx == 0 or hdr.e_shstrndx >= hdr.e_shnum:
        raise _fail(log, "Invalid ELF section name index: %d || e_shstrndx (%d) >= e_shnum (%d)"
                    % (hdr.e_shstrndx, hdr.e_shstrndx, hdr.e_shnum))
    strhdr = sechdrs[hdr.e_shstrndx]
    if _out_of_bounds(sechdrs[hdr.e_shstrndx:hdr.e_shstrndx + 1], info.len)[0]:
        raise _fail(log, "Invalid ELF section hdr(type %u)" % strhdr["sh_type"])
    start, size = int(strhdr["sh_offset"]), int(strhdr["sh_size"])
    if size == 0:
        raise _fail(log, "empty section name table")
    secstrings = info.payload[start:start + size]
    if secstrings[-1] != 0:
        raise _fail(log, "ELF Spec violation: section name table isn't null terminated")
    _section_zero(log, sechdrs[0])
    _sections_6_1(info, size, log)
    _cache_secnames(info, secstrings, start)
    _setup_load_info_6_1(info, log)


def _sections_6_1(info: LoadInfo, names_size: int, log: KernelLog) -> None:
    """The loop of 6.1's ``elf_validity_check`` over sections 1...: the first
    section with a fault decides, its checks in the kernel's order."""
    sechdrs, shnum = info.shdrs, len(info.shdrs)
    types, links = sechdrs["sh_type"], sechdrs["sh_link"]
    checked = (types != SHT_NULL) & (types != SHT_NOBITS)
    bad_link = (types == SHT_SYMTAB) & ((links == 0) | (links >= shnum))
    bad_bounds = checked & _out_of_bounds(sechdrs, info.len)
    bad_name = checked & (sechdrs["sh_flags"] & SHF_ALLOC != 0) & (sechdrs["sh_name"]
                                                                  >= names_size)
    bad = bad_link | bad_bounds | bad_name
    bad[:1] = False
    if not bad.any():
        return
    i = int(np.flatnonzero(bad)[0])
    if bad_link[i]:
        raise _fail(log, "Invalid ELF sh_link!=SHN_UNDEF(%d) or (sh_link(%d) >= "
                    "hdr->e_shnum(%d)" % (_int(links[i]), _int(links[i]), shnum))
    what = "section in module" if bad_bounds[i] else "section name in module"
    raise _fail(log, "Invalid ELF %s (section %u type %u)" % (what, i, types[i]))


def _setup_load_info_6_1(info: LoadInfo, log: KernelLog) -> None:
    """6.1's ``setup_load_info``: ``.modinfo`` and ``.gnu.linkonce.this_module``
    are the first SHF_ALLOC sections of those names (``find_sec``; a renamed
    or non-ALLOC one is not there), the symbol table the first SHT_SYMTAB
    section and its string table whatever its link names."""
    modinfo = find_sec(info, ".modinfo")
    if modinfo:
        _read_modinfo(info, modinfo)
    symtabs = np.flatnonzero(info.shdrs["sh_type"][1:] == SHT_SYMTAB) + 1
    if not len(symtabs):
        raise _fail(log, "%s: module has no symbols (stripped?)" % _shown(info), info.name,
                    level="warn")
    info.index.sym = int(symtabs[0])
    info.index.str = int(info.shdrs[info.index.sym]["sh_link"])
    info.index.mod = find_sec(info, ".gnu.linkonce.this_module")
    if not info.index.mod:
        raise _fail(log, "%s: No module found in object" % _shown(info), info.name,
                    level="warn")
    _cache_strtab(info)


#: Each kernel version's validity check, by the name
#: :mod:`pymod.contract.kver`'s rules give it.
VALIDITY: dict[str, Callable[[LoadInfo, int | None, KernelLog, int], None]] = {
    "6.12": _validity_6_12,
    "6.1": _validity_6_1,
}


def struct_module_name(info: LoadInfo) -> str:
    """``mod->name``: the name modpost wrote into ``.gnu.linkonce.this_module``
    (read at its ``sh_offset``, which 6.1 does not bound when it is SHT_NOBITS)."""
    base = int(info.shdrs[info.index.mod]["sh_offset"]) + STRUCT_MODULE_NAME_OFFSET
    return kbuf.c_string(info, base, "struct module's name", MODULE_NAME_LEN)


def rewrite_section_headers(info: LoadInfo) -> None:
    """Track but don't keep ``.modinfo`` and ``__versions``."""
    flags = info.shdrs["sh_flags"]
    flags[info.index.vers] &= ~np.uint64(SHF_ALLOC)
    flags[info.index.info] &= ~np.uint64(SHF_ALLOC)
