"""Relocations (``apply_relocations`` and the architecture's ``apply_relocate_add``).

Every relocation section whose target is allocated is applied into the
module's memory, in section order, stopping at the first failure as the
kernel does.  ``.klp.rela.*`` sections (SHF_RELA_LIVEPATCH) are left to
livepatch; SHT_REL sections are refused by the kernel's weak
``apply_relocate`` (no modelled architecture has its own).  The arithmetic
runs in C, one hook per architecture (``csrc/reloc/``, chosen by the
architecture's e_machine); the kernel's lines for a refusal are the
architecture's (:mod:`pymod.arch`).  Not modelled:
``module_finalize``'s code patching (alternatives, paravirt, retpoline and
return thunks, IBT), which depends on the CPU the module runs on.
"""

from __future__ import annotations

import errno
import hashlib
import mmap

import numpy as np

from pymod._reloc_cffi import ffi, lib
from pymod.arch import DEFAULT_ARCH, Arch, RelocFault
from pymod.arch import get as get_arch
from pymod.contract.internal import LoadInfo, Module
from pymod.contract.klog import KernelLog
from pymod.contract.kver import RULES_6_12, KernelRules
from pymod.elf.constants import (
    ELF64_SYM_SIZE,
    SHF_ALLOC,
    SHF_RELA_LIVEPATCH,
    SHT_REL,
    SHT_RELA,
)
from pymod.errors import ModuleLoadError, PymodError, StatusKind, status_error
from pymod.loader.memory import read_mem

RELA_SIZE = 24


def hashed_pointer(addr: int, key: bytes) -> str:
    """``%p``: the kernel prints a keyed hash of a pointer, never the
    pointer.  A stand-in with the same shape (32 bits, 16 hex digits)."""
    digest = hashlib.blake2b(addr.to_bytes(8, "little"), key=key, digest_size=4).digest()
    return "%016x" % int.from_bytes(digest, "little")


def apply_relocations(mod: Module, info: LoadInfo, log: KernelLog, ptr_key: bytes,
                      rules: KernelRules = RULES_6_12, arch: Arch | None = None) -> None:
    arch = arch or get_arch(DEFAULT_ARCH)
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
        status = lib.pm_reloc_apply(arch.e_machine, ffi.from_buffer("unsigned char[]", region),
                                    room,
                                    base, int(info.sec_addr[target]), image + start,
                                    size // RELA_SIZE, syms_c, len(symvals), fault)
        if status != lib.PM_RELOC_OK:
            raise _refusal(mod, info, log, status, fault, i, ptr_key, rules, arch)


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


# What each failure of pm_reloc_apply means (texts: pm_reloc_strerror): the
# kernel's refusals and pymod's own bounds all refuse the load, ENOEXEC.
_STATUS_KINDS: dict[int, StatusKind] = {
    lib.PM_RELOC_EUNKNOWN: "noexec",
    lib.PM_RELOC_ENONZERO: "noexec",
    lib.PM_RELOC_EOVERFLOW: "noexec",
    lib.PM_RELOC_ESYMBOL: "noexec",
    lib.PM_RELOC_ERANGE: "noexec",
    lib.PM_RELOC_EINVAL: "invalid",
    lib.PM_RELOC_EMACHINE: "invalid",
}


def _refusal(mod: Module, info: LoadInfo, log: KernelLog, status: int, fault: object, sec: int,
             ptr_key: bytes, rules: KernelRules, arch: Arch) -> PymodError:
    """The architecture's lines for one of the kernel's own refusals (the
    last is the error's message), else pymod's own text for its bounds."""
    f = fault
    rtype, loc, val = int(f.type), int(f.loc), int(f.val)  # type: ignore[attr-defined]
    lines = arch.reloc_refusal(RelocFault(status, rtype, loc, val, hashed_pointer(loc, ptr_key)),
                               mod.name, rules.reloc_check_before_pc)
    for line in lines:
        log.pr_err(line)
    if lines:
        return status_error(status, lines[-1], _STATUS_KINDS, what=None, stage="relocate",
                            name=mod.name)
    index = int(f.index)  # type: ignore[attr-defined]
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
