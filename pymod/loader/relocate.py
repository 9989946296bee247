"""Relocations (``apply_relocations`` and x86-64 ``apply_relocate_add``).

Every relocation section whose target is allocated is applied into the
module's memory, in section order, stopping at the first failure as the
kernel does.  ``.klp.rela.*`` sections (SHF_RELA_LIVEPATCH) are left to
livepatch; SHT_REL sections are refused, as x86-64 has no ``apply_relocate``.
The arithmetic runs in C (``csrc/kscan/pm_reloc.c``).  Not modelled:
``module_finalize``'s code patching (alternatives, paravirt, retpoline and
return thunks, IBT), which depends on the CPU the module runs on.
"""

from __future__ import annotations

import errno
import hashlib
import mmap

import numpy as np

from pymod._kscan_cffi import ffi, lib
from pymod.elf.constants import (
    ELF64_SYM_SIZE,
    SHF_ALLOC,
    SHF_RELA_LIVEPATCH,
    SHT_REL,
    SHT_RELA,
)
from pymod.errors import ModuleLoadError, PymodError, StatusKind, status_error
from pymod.loader.internal import LoadInfo, Module
from pymod.loader.klog import KernelLog
from pymod.loader.kver import RULES_6_12, KernelRules
from pymod.loader.memory import read_mem

RELA_SIZE = 24


def hashed_pointer(addr: int, key: bytes) -> str:
    """``%p``: the kernel prints a keyed hash of a pointer, never the
    pointer.  A stand-in with the same shape (32 bits, 16 hex digits)."""
    digest = hashlib.blake2b(addr.to_bytes(8, "little"), key=key, digest_size=4).digest()
    return "%016x" % int.from_bytes(digest, "little")


def apply_relocations(mod: Module, info: LoadInfo, log: KernelLog, ptr_key: bytes,
                      rules: KernelRules = RULES_6_12) -> None:
    assert info.hdr is not None and info.symvals is not None and info.sec_addr is not None
    shdrs = info.shdrs
    shnum = info.hdr.e_shnum
    flags, types, targets = shdrs["sh_flags"], shdrs["sh_type"], shdrs["sh_info"]
    symvals = _with_entries_past_table(mod, info)
    syms_c = ffi.from_buffer("uint64_t[]", symvals)
    fault = ffi.new("struct pm_reloc_fault *")
    # A pointer into the image itself: no memoryview to export a buffer
    # (one caught in a traceback's reference cycle cannot be cleared).
    image = ffi.from_buffer("unsigned char[]", info.payload)
    for i in range(1, shnum):
        target = int(targets[i])
        if target >= shnum or not flags[target] & SHF_ALLOC:
            continue
        if flags[i] & SHF_RELA_LIVEPATCH:
            continue                       # klp_apply_section_relocs: livepatch's
        if types[i] == SHT_REL:
            raise _fail(mod, log.pr_err("module %s: REL relocation unsupported" % mod.name))
        if types[i] != SHT_RELA:
            continue
        region, base, room = _region_of(mod, int(info.sec_addr[target]))
        start, size = int(shdrs[i]["sh_offset"]), int(shdrs[i]["sh_size"])
        status = lib.pm_reloc_apply(ffi.from_buffer("unsigned char[]", region), room,
                                    base, int(info.sec_addr[target]), image + start,
                                    size // RELA_SIZE, syms_c, len(symvals), fault)
        if status != lib.PM_RELOC_OK:
            raise _refusal(mod, info, log, status, fault, i, ptr_key, rules)


def _with_entries_past_table(mod: Module, info: LoadInfo) -> np.ndarray:
    """``info.symvals`` and, for a relocation naming a symbol at or past
    sh_size / sizeof(Elf_Sym) (a partial last entry), what the kernel reads
    there: apply_relocate_add indexes the symbol table's copy in module
    memory, where that entry was never resolved by simplify_symbols (it
    stops at the whole entries), so its st_value is whatever bytes lie
    there: the partial entry's own, then the memory after it (the string
    table's copy).  Read before any relocation is applied; past the module's
    memory pymod's own check refuses."""
    assert info.symvals is not None and info.sec_addr is not None
    symvals, shdrs = info.symvals, info.shdrs
    top = -1
    for i in np.flatnonzero(shdrs["sh_type"] == SHT_RELA).tolist():
        count = int(shdrs[i]["sh_size"]) // RELA_SIZE
        if i and count:
            rela = np.frombuffer(info.payload, dtype="<u8", count=3 * count,
                                 offset=int(shdrs[i]["sh_offset"]))
            top = max(top, int((rela[1::3] >> np.uint64(32)).max()))
    if top < len(symvals):
        return symvals
    table = int(info.sec_addr[info.index.sym])
    extra = []
    for index in range(len(symvals), top + 1):
        raw = read_mem(mod, table + index * ELF64_SYM_SIZE + 8, 8)
        if raw is None:
            break
        extra.append(int.from_bytes(raw, "little"))
    return np.concatenate([symvals, np.array(extra, dtype=np.uint64)])


def struct_module_functions(mod: Module, info: LoadInfo, rules: KernelRules) -> None:
    """``mod->init`` and ``mod->exit`` as the kernel sees them: the pointers
    at its own struct module's offsets in the relocated
    ``.gnu.linkonce.this_module`` (a foreign module's may be elsewhere, or
    the section too short: bytes outside the module's memory read as 0)."""
    assert info.sec_addr is not None
    base = int(info.sec_addr[info.index.mod]) if info.index.mod else 0

    def pointer(offset: int) -> int:
        for region in mod.mem.values():
            off = base + offset - region.base
            if base and region.data is not None and 0 <= off <= region.size - 8:
                return int.from_bytes(region.data[off:off + 8], "little")
        return 0

    mod.has_init = pointer(rules.init_offset) != 0
    mod.has_exit = pointer(rules.exit_offset) != 0


def _region_of(mod: Module, addr: int) -> tuple[bytearray | mmap.mmap, int, int]:
    """(bytes, base, size) of the region holding a target section's
    address.  An empty section may hold none: one alone in its memory type
    sits at NULL + offset (move_module allocates no region of size 0), one
    at the end of a page-filled region at its end.  The kernel applies its
    relocations there all the same (apply_relocate_add checks no bounds);
    against no bytes, every entry is refused by pymod's own check, and a
    table of none is applied as the kernel applies it: nothing happens."""
    for region in mod.mem.values():
        if region.size and region.data is not None and 0 <= addr - region.base < region.size:
            return region.data, region.base, region.size
    return _NO_BYTES, addr, 0


_NO_BYTES = bytearray(1)     # a buffer to point at; its size is passed as 0


def _fail(mod: Module, message: str) -> ModuleLoadError:
    return ModuleLoadError(errno.ENOEXEC, message, module=mod.name, stage="relocate")


# arch/x86/kernel/module.c prints through pr_fmt "module: ".
PC_RELATIVE = (2, 4, 24)            # R_X86_64_PC32, PLT32, PC64


def _nonzero_line(rules: KernelRules, rtype: int, loc: str, val: int, addr: int) -> str:
    if rules.reloc_check_before_pc:     # 6.1: val is still S+A
        if rtype in PC_RELATIVE:
            val = (val + addr) & (1 << 64) - 1
        return ("module: x86/modules: Skipping invalid relocation target, existing value is "
                "nonzero for type %d, loc %s, val %x" % (rtype, loc, val))
    return ("module: x86/modules: Invalid relocation target, existing value is nonzero for "
            "type %d, loc %s, val %x" % (rtype, loc, val))


# What each failure of pm_reloc_apply means (texts: pm_reloc_strerror): the
# kernel's refusals and pymod's own bounds all refuse the load, ENOEXEC.
_STATUS_KINDS: dict[int, StatusKind] = {
    lib.PM_RELOC_EUNKNOWN: "noexec",
    lib.PM_RELOC_ENONZERO: "noexec",
    lib.PM_RELOC_EOVERFLOW: "noexec",
    lib.PM_RELOC_ESYMBOL: "noexec",
    lib.PM_RELOC_ERANGE: "noexec",
    lib.PM_RELOC_EINVAL: "invalid",
}


def _kernel_refusal(mod: Module, log: KernelLog, status: int, fault: object, ptr_key: bytes,
                    rules: KernelRules) -> str | None:
    """Print the kernel's lines for one of its own refusals and return the
    last (the error's message); None for a status the kernel has not."""
    f = fault
    rtype, loc, val = int(f.type), int(f.loc), int(f.val)  # type: ignore[attr-defined]
    if status == lib.PM_RELOC_EUNKNOWN:
        return log.pr_err("module: %s: Unknown rela relocation: %d" % (mod.name, rtype))
    if status == lib.PM_RELOC_ENONZERO:
        return log.pr_err(_nonzero_line(rules, rtype, hashed_pointer(loc, ptr_key), val, loc))
    if status == lib.PM_RELOC_EOVERFLOW:
        log.pr_err("module: overflow in relocation type %d val %x" % (rtype, val))
        return log.pr_err("module: `%s' likely not compiled with -mcmodel=kernel" % mod.name)
    return None


def _refusal(mod: Module, info: LoadInfo, log: KernelLog, status: int, fault: object, sec: int,
             ptr_key: bytes, rules: KernelRules) -> PymodError:
    line = _kernel_refusal(mod, log, status, fault, ptr_key, rules)
    if line is not None:
        return status_error(status, line, _STATUS_KINDS, what=None, stage="relocate",
                            name=mod.name)
    f = fault
    index, loc, val = int(f.index), int(f.loc), int(f.val)  # type: ignore[attr-defined]
    if status == lib.PM_RELOC_ESYMBOL:
        detail = " names symbol %d," % val
    elif status == lib.PM_RELOC_ERANGE:
        detail = " writes at %#x," % loc
    else:
        detail = ":"
    text = "relocation %d of %s%s %s" % (index, info.secnames[sec], detail,
                                         ffi.string(lib.pm_reloc_strerror(status)).decode())
    return status_error(status, text, _STATUS_KINDS, what=mod.name, stage="relocate",
                        name=mod.name)
