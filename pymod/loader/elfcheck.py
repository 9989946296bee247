"""Filling the dossier: ELF validity checks, section indices, modinfo, layout.

The checks run in the kernel's order (``elf_validity_cache_copy`` in
``kernel/module/main.c``) on the raw header fields, each with the kernel's
message and errno; this module reads only headers and small tables, the
symbol-level reading is :mod:`pymod.elf.kofile`'s.
"""

from __future__ import annotations

import errno
import struct

import numpy as np

from pymod.errors import ModuleLoadError
from pymod.loader.internal import (MODULE_INIT_IGNORE_MODVERSIONS, MODULE_NAME_LEN,
                       SHF_RO_AFTER_INIT, Ehdr, LoadInfo, MemType)
from pymod.loader.klog import KernelLog
from pymod.elf.kofile import string_reader

ET_REL = 1
EM_X86_64 = 62
ELFMAG = b"\x7fELF"
SHT_NULL, SHT_SYMTAB, SHT_STRTAB, SHT_NOBITS = 0, 2, 3, 8
SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR = 0x1, 0x2, 0x4
EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
SHDR_DTYPE = np.dtype([
    ("sh_name", "<u4"), ("sh_type", "<u4"), ("sh_flags", "<u8"), ("sh_addr", "<u8"),
    ("sh_offset", "<u8"), ("sh_size", "<u8"), ("sh_link", "<u4"), ("sh_info", "<u4"),
    ("sh_addralign", "<u8"), ("sh_entsize", "<u8"),
])
NO_NAME = "(missing .modinfo section or name field)"
# offsetof(struct module, name) on 64-bit: enum state (padded to 8) + list_head
STRUCT_MODULE_NAME_OFFSET = 24

# layout_sections(): (required flags, forbidden flags) -> core / init type.
# ARCH_SHF_SMALL is 0 on x86, so its rows collapse into the ones above.
_LAYOUT_MASKS = (
    (SHF_EXECINSTR | SHF_ALLOC, 0, MemType.TEXT, MemType.INIT_TEXT),
    (SHF_ALLOC, SHF_WRITE, MemType.RODATA, MemType.INIT_RODATA),
    (SHF_RO_AFTER_INIT | SHF_ALLOC, 0, MemType.RO_AFTER_INIT, None),
    (SHF_WRITE | SHF_ALLOC, 0, MemType.DATA, MemType.INIT_DATA),
)


def _fail(log: KernelLog, message: str, name: str | None = None, *,
          code: int = errno.ENOEXEC, level: str = "err", stage: str = "elf") -> ModuleLoadError:
    log.pr(level, message)
    return ModuleLoadError(code, message, module=name, stage=stage)


def _cstr(buf: bytes, offset: int) -> str:
    end = buf.find(b"\0", offset)
    return buf[offset:end if end >= 0 else len(buf)].decode("utf-8", "surrogateescape")


def parse_modinfo(data: bytes) -> list[tuple[str, str]]:
    """``tag=value`` strings of ``.modinfo`` in file order (NUL runs are padding)."""
    out = []
    for raw in data.split(b"\0"):
        key, eq, value = raw.partition(b"=")
        if eq:
            out.append((key.decode("utf-8", "surrogateescape"),
                        value.decode("utf-8", "surrogateescape")))
    return out


def elf_validity_cache_copy(info: LoadInfo, flags: int, struct_module_size: int | None,
                            log: KernelLog) -> None:
    """Every ELF validity check, then the section indices (kernel order)."""
    data = info.payload
    length = info.len
    # elf_validity_ehdr
    if length < EHDR.size:
        raise _fail(log, "Invalid ELF header len %d" % length)
    hdr = Ehdr(*EHDR.unpack_from(data))
    info.hdr = hdr
    if hdr.e_ident[:4] != ELFMAG:
        raise _fail(log, "Invalid ELF header magic: != \\x7fELF")
    if hdr.e_type != ET_REL:
        raise _fail(log, "Invalid ELF header type: %u != %u" % (hdr.e_type, ET_REL))
    if hdr.e_machine != EM_X86_64:
        raise _fail(log, "Invalid architecture in ELF header: %u" % hdr.e_machine)
    # elf_validity_cache_sechdrs
    if hdr.e_shentsize != SHDR_DTYPE.itemsize:
        raise _fail(log, "Invalid ELF section header size")
    if hdr.e_shoff >= length or hdr.e_shnum * SHDR_DTYPE.itemsize > length - hdr.e_shoff:
        raise _fail(log, "Invalid ELF section header overflow")
    # A private, writable copy: later stages edit flags and entsize in place.
    sechdrs = np.frombuffer(data, dtype=SHDR_DTYPE, count=hdr.e_shnum, offset=hdr.e_shoff).copy()
    info.sechdrs = sechdrs
    if hdr.e_shnum == 0 or (sechdrs[0]["sh_type"] != SHT_NULL or sechdrs[0]["sh_size"] != 0
                            or sechdrs[0]["sh_addr"] != 0):
        # e_shnum == 0 leaves no section 0: the kernel reads past the table and
        # finds garbage there, we report the same violation.
        t = int(sechdrs[0]["sh_type"]) if hdr.e_shnum else 0
        raise _fail(log, "ELF Spec violation: section 0 type(%d)!=SH_NULL or non-zero len or addr" % t)
    types = sechdrs["sh_type"]
    offs = sechdrs["sh_offset"]
    ends = offs + sechdrs["sh_size"]  # wraps like the kernel's u64 sum
    bad = (types != SHT_NULL) & (types != SHT_NOBITS) & ((ends < offs) | (ends > length))
    bad[0] = False
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise _fail(log, "Invalid ELF section in module (section %u type %u)" % (i, types[i]))
    # elf_validity_cache_secstrings
    if hdr.e_shstrndx == 0 or hdr.e_shstrndx >= hdr.e_shnum:
        raise _fail(log, "Invalid ELF section name index: %d || e_shstrndx (%d) >= e_shnum (%d)"
                    % (hdr.e_shstrndx, hdr.e_shstrndx, hdr.e_shnum))
    strhdr = sechdrs[hdr.e_shstrndx]
    if strhdr["sh_type"] != SHT_STRTAB:
        raise _fail(log, "Invalid ELF section name table type: %u" % strhdr["sh_type"])
    if strhdr["sh_size"] == 0:
        raise _fail(log, "empty section name table")
    secstrings = data[int(strhdr["sh_offset"]):int(strhdr["sh_offset"] + strhdr["sh_size"])]
    if secstrings[-1] != 0:
        raise _fail(log, "ELF Spec violation: section name table isn't null terminated")
    badname = (types != SHT_NULL) & (sechdrs["sh_name"] >= strhdr["sh_size"])
    if badname.any():
        i = int(np.flatnonzero(badname)[0])
        raise _fail(log, "Invalid ELF section name in module (section %u type %u)" % (i, types[i]))
    info.secstrings = secstrings
    name_at = string_reader(secstrings)
    info.secnames = names = [name_at(n) for n in sechdrs["sh_name"].tolist()]
    # elf_validity_cache_index_info
    modinfo_idx = [i for i in range(1, hdr.e_shnum) if names[i] == ".modinfo"]
    if len(modinfo_idx) > 1:
        raise _fail(log, "Only one .modinfo section must exist.")
    if modinfo_idx:
        i = modinfo_idx[0]
        info.index.info = i
        if types[i] != SHT_NOBITS:
            info.modinfo = parse_modinfo(data[int(offs[i]):int(ends[i])])
        info.name = info.get_modinfo("name")
    # elf_validity_cache_index_mod
    shown = info.name or NO_NAME
    mod_idx = [i for i in range(1, hdr.e_shnum) if names[i] == ".gnu.linkonce.this_module"]
    if len(mod_idx) != 1:
        raise _fail(log, "module %s: Exactly one .gnu.linkonce.this_module section must exist."
                    % shown, info.name)
    m = mod_idx[0]
    if types[m] == SHT_NOBITS:
        raise _fail(log, "module %s: .gnu.linkonce.this_module section must have a size set"
                    % shown, info.name)
    if not sechdrs[m]["sh_flags"] & SHF_ALLOC:
        raise _fail(log, "module %s: .gnu.linkonce.this_module must occupy memory during "
                    "process execution" % shown, info.name)
    if struct_module_size is not None and sechdrs[m]["sh_size"] != struct_module_size:
        raise _fail(log, "module %s: .gnu.linkonce.this_module section size must match the "
                    "kernel's built struct module size at run time" % shown, info.name)
    info.index.mod = m
    # elf_validity_cache_index_sym
    symtabs = np.flatnonzero(types[1:] == SHT_SYMTAB) + 1
    if len(symtabs) != 1:
        raise _fail(log, "%s: module has no symbols (stripped?)" % shown, info.name,
                    level="warn")
    info.index.sym = sym = int(symtabs[0])
    # elf_validity_cache_index_str
    str_idx = int(sechdrs[sym]["sh_link"])
    if str_idx == 0 or str_idx >= hdr.e_shnum:
        raise _fail(log, "Invalid ELF sh_link!=SHN_UNDEF(%d) or (sh_link(%d) >= hdr->e_shnum(%d)"
                    % (str_idx, str_idx, hdr.e_shnum), info.name)
    if types[str_idx] != SHT_STRTAB:
        raise _fail(log, "Invalid ELF symbol string table type: %u" % types[str_idx], info.name)
    info.index.str = str_idx
    info.strtab = data[int(offs[str_idx]):int(ends[str_idx])]
    if not info.name:
        # Fall back to the name modpost wrote into struct module.
        base = int(offs[m]) + STRUCT_MODULE_NAME_OFFSET
        info.name = _cstr(data[base:base + MODULE_NAME_LEN], 0)
    info.index.vers = 0 if flags & MODULE_INIT_IGNORE_MODVERSIONS else find_sec(info, "__versions")
    info.index.pcpu = find_sec(info, ".data..percpu")


def find_sec(info: LoadInfo, name: str) -> int:
    """First SHF_ALLOC section called ``name`` (cleared ALLOC means "ignore it"), or 0."""
    flags = info.sechdrs["sh_flags"]
    for i, n in enumerate(info.secnames):
        if i and n == name and flags[i] & SHF_ALLOC:
            return i
    return 0


def struct_module_name(info: LoadInfo) -> str:
    """``mod->name``: the name modpost wrote into ``.gnu.linkonce.this_module``."""
    base = int(info.sechdrs[info.index.mod]["sh_offset"]) + STRUCT_MODULE_NAME_OFFSET
    return _cstr(info.payload[base:base + MODULE_NAME_LEN], 0)


def rewrite_section_headers(info: LoadInfo) -> None:
    """Track but don't keep ``.modinfo`` and ``__versions``."""
    flags = info.sechdrs["sh_flags"]
    flags[info.index.vers] &= ~np.uint64(SHF_ALLOC)
    flags[info.index.info] &= ~np.uint64(SHF_ALLOC)


def prepare_layout_flags(info: LoadInfo) -> None:
    """Per-cpu data is allocated separately; ro_after_init sections are marked."""
    flags = info.sechdrs["sh_flags"]
    flags[info.index.pcpu] &= ~np.uint64(SHF_ALLOC)
    for name in (".data..ro_after_init", "__jump_table"):
        ndx = find_sec(info, name)
        if ndx:
            flags[ndx] |= np.uint64(SHF_RO_AFTER_INIT)


def get_offset_and_type(info: LoadInfo, mem: MemType, index: int) -> None:
    """``module_get_offset_and_type``: place section ``index`` at the end of ``mem``."""
    _place(info, mem, index, int(info.sechdrs[index]["sh_addralign"]),
           int(info.sechdrs[index]["sh_size"]))


def _place(info: LoadInfo, mem: MemType, index: int, align: int, size: int) -> None:
    align = align or 1
    end = info.mem_size.get(mem, 0)
    offset = -(-end // align) * align
    info.mem_size[mem] = offset + size
    info.placement[index] = (mem, offset)


def layout_sections(info: LoadInfo, module_unload: bool) -> None:
    """Core pass, then init pass; first matching mask wins (``layout_sections``)."""
    flags = info.sechdrs["sh_flags"].tolist()
    aligns = info.sechdrs["sh_addralign"].tolist()
    sizes = info.sechdrs["sh_size"].tolist()
    names = info.secnames
    is_init = [n.startswith(".init") or (not module_unload and n.startswith(".exit"))
               for n in names]
    placement = info.placement
    for init_pass in (False, True):
        for need, forbid, core_type, init_type in _LAYOUT_MASKS:
            mem = init_type if init_pass else core_type
            for i, f in enumerate(flags):
                if (f & need) != need or f & forbid or is_init[i] != init_pass \
                        or i in placement:
                    continue
                if mem is None:
                    continue  # the kernel WARNs: an init section cannot be ro_after_init
                _place(info, mem, i, aligns[i], sizes[i])
